import assert from 'node:assert/strict'
import { test } from 'node:test'
import TaskAPI from '../dist/index.mjs'
import { clock, flush, server, task, useFakes } from './helpers.mjs'

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

test('rejects with code network after maxRetries failures in a row', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  server.route('GET', '/tasks/u1/', new TypeError('Failed to fetch'))
  let errback
  const promise = TaskAPI.run('countdown', {}, { maxRetries: 3, onError: (e) => (errback = e) })
  await clock.tick(2000 + 4000 + 8000)
  const err = await promise.catch((e) => e)
  assert.equal(polls(), 4)
  assert.ok(err instanceof TaskAPI.TaskAPIError)
  assert.equal(err.code, 'network')
  assert.match(err.message, /Failed to fetch/)
  assert.equal(err.json.uuid, 'u1')
  assert.equal(err.status, 'pending', 'task fields are copied onto the error')
  assert.equal(errback, err)
})

test('backoff is capped at 30 s', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  server.route('GET', '/tasks/u1/', new TypeError('offline'))
  const promise = TaskAPI.run('countdown', {}, { maxRetries: 7 }).catch((e) => e)
  await clock.tick(2000 + 4000 + 8000 + 16000)
  assert.equal(polls(), 5)
  await clock.tick(29999)
  assert.equal(polls(), 5)
  await clock.tick(1)
  assert.equal(polls(), 6)
  await clock.tick(60000)
  assert.equal((await promise).code, 'network')
})

test('a 404 while polling rejects at once with http_error', async () => {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  await assert.rejects(TaskAPI.run('countdown', {}), { code: 'http_error', httpStatus: 404, message: 'Not found.', status: 'pending' })
  assert.equal(polls(), 1)
})
