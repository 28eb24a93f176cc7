import assert from 'node:assert/strict'
import { test } from 'node:test'
import TaskAPI from '../dist/index.mjs'
import { clock, flush, hang, rng, server, task, useFakes } from './helpers.mjs'

useFakes({ socket: false })

const polls = () => server.count('GET', '/tasks/u1/')

test('polls every pollInterval until the task is final', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  const states = [task({ status: 'running', seq: 2, progress: 1, target: 2 }), task({ status: 'running', seq: 2, progress: 1, target: 2 }), task({ status: 'succeeded', seq: 3, progress: 2, target: 2, outputs: { n: 2 } })]
  server.route('GET', '/tasks/u1/', () => ({ status: 200, body: states.shift() }))
  const seen = []
  const promise = TaskAPI.run('countdown', { count: 2 }, { onProgress: (t) => seen.push(t.seq), pollInterval: 500 })
  await flush()
  assert.equal(polls(), 1)
  await clock.tick(499)
  assert.equal(polls(), 1)
  await clock.tick(1)
  assert.equal(polls(), 2)
  await clock.tick(500)
  assert.deepEqual((await promise).outputs, { n: 2 })
  assert.deepEqual(seen, [1, 2, 3], 'an unchanged state is not reported twice')
  await clock.tick(5000)
  assert.equal(polls(), 3, 'stops polling once final')
})

test('a network error is retried with backoff', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  const answers = [new TypeError('Failed to fetch'), { status: 503, body: { detail: 'Broker down.' } }, { status: 200, body: task({ status: 'succeeded', seq: 2 }) }]
  server.route('GET', '/tasks/u1/', () => answers.shift())
  const promise = TaskAPI.run('countdown', {})
  await flush()
  assert.equal(polls(), 1)
  await clock.tick(1999)
  assert.equal(polls(), 1, 'waits 2 s after one failure')
  await clock.tick(1)
  assert.equal(polls(), 2)
  await clock.tick(4000)
  assert.equal(polls(), 3, 'then 4 s')
  assert.equal((await promise).status, 'succeeded')
})

test('a minute of failed polls never rejects a task that then succeeds', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  const failures = [new TypeError('Failed to fetch'), { status: 502, body: '<html>Bad Gateway</html>' }, { status: 503, body: { detail: 'Down.' } }, { status: 500, body: '' }, { status: 429, body: {} }, hang]
  let failing = true
  server.route('GET', '/tasks/u1/', (req) => {
    if (!failing) return { status: 200, body: task({ status: 'succeeded', seq: 2 }) }
    const answer = failures.shift() || new TypeError('offline')
    return typeof answer == 'function' ? answer(req) : answer
  })
  let errback
  const promise = TaskAPI.run('countdown', {}, { maxRetries: 0, onError: (e) => (errback = e) })
  await clock.tick(10 * 60000)
  assert.equal(errback, undefined, 'ten minutes of failures: still waiting')
  assert.ok(polls() >= 20, `${polls()} polls`)
  failing = false
  await clock.tick(30000)
  assert.equal((await promise).status, 'succeeded')
})

test('backoff is capped at 30 s', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  server.route('GET', '/tasks/u1/', new TypeError('offline'))
  const controller = new AbortController()
  const promise = TaskAPI.run('countdown', {}, { signal: controller.signal }).catch((e) => e)
  await clock.tick(2000 + 4000 + 8000 + 16000)
  assert.equal(polls(), 5)
  await clock.tick(29999)
  assert.equal(polls(), 5)
  await clock.tick(1)
  assert.equal(polls(), 6)
  await clock.tick(30000)
  assert.equal(polls(), 7)
  server.route('POST', '/tasks/u1/cancel/', { status: 202, body: task({ status: 'cancelled', seq: 2 }) })
  controller.abort()
  assert.equal((await promise).code, 'cancelled')
})

test('backoff has jitter: 50 to 100 % of the doubled interval', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  const answers = [new TypeError('offline'), { status: 200, body: task({ status: 'succeeded', seq: 2 }) }]
  server.route('GET', '/tasks/u1/', () => answers.shift())
  rng.value = 0.999
  const promise = TaskAPI.run('countdown', {})
  await clock.tick(999)
  assert.equal(polls(), 1)
  await clock.tick(2)
  assert.equal(polls(), 2, 'about 1 s instead of 2 s')
  assert.equal((await promise).status, 'succeeded')
})

test('a request without an answer fails after timeout ms as a network error, and is retried', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  const answers = [hang, { status: 200, body: task({ status: 'succeeded', seq: 2 }) }]
  server.route('GET', '/tasks/u1/', (req) => {
    const answer = answers.shift()
    return typeof answer == 'function' ? answer(req) : answer
  })
  const promise = TaskAPI.run('countdown', {}, { timeout: 3000 })
  await clock.tick(2999)
  assert.equal(polls(), 1)
  assert.equal(server.requests.at(-1).init.signal.aborted, false)
  await clock.tick(1)
  assert.equal(server.requests.at(-1).init.signal.aborted, true)
  await clock.tick(2000)
  assert.equal(polls(), 2)
  assert.equal((await promise).status, 'succeeded')
  server.route('GET', '/tasks/u2/', hang)
  const get = TaskAPI.get('u2', { timeout: 1000 }).catch((e) => e)
  await clock.tick(1000)
  assert.deepEqual([(await get).code, (await get).message], ['network', 'Network error: no answer in 1000 ms'])
})

test('a 4xx other than 408 and 429 while polling settles at once', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  server.route('GET', '/tasks/u1/', { status: 403, body: { detail: 'Forbidden.' } })
  await assert.rejects(TaskAPI.run('countdown', {}), { code: 'http_error', httpStatus: 403, message: 'Forbidden.' })
  assert.equal(polls(), 1)
})

test('a 404 while polling rejects at once with http_error', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  await assert.rejects(TaskAPI.run('countdown', {}), { code: 'http_error', httpStatus: 404, message: 'Not found.', status: 'pending' })
  assert.equal(polls(), 1)
})
