import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import TaskAPI from '../dist/index.mjs'
import { clock, FakeSocket, flush, server, task, useFakes } from './helpers.mjs'

useFakes()

const counts = (fields = {}) => ({ pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, ...fields })

function batch(fields = {}) {
  return {
    uuid: 'b1',
    status: 'pending',
    total: 2,
    counts: counts({ pending: 2 }),
    progress: null,
    target: null,
    created: '2026-11-22T10:00:00Z',
    finished: null,
    seq: 2,
    tasks: ['t1', 't2'],
    ...fields,
  }
}

const FINAL = {
  status: 'failed',
  counts: counts({ succeeded: 1, failed: 1 }),
  progress: 3,
  target: 3,
  finished: '2026-11-22T10:00:01Z',
  seq: 9,
}

function routeResults() {
  server.route('GET', '/tasks/?batch=b1&page_size=200&page=1', {
    status: 200,
    body: {
      next: null,
      results: [
        task({ uuid: 't2', status: 'failed', error: { type: 'ValueError', message: 'no' } }),
        task({ uuid: 't1', status: 'succeeded', outputs: { counted: 3 } }),
      ],
    },
  })
}

describe('runAll', () => {
  test('posts the batch, follows aggregate frames and resolves with every task', async () => {
    server.route('POST', '/tasks/batches/', { status: 201, body: batch() })
    routeResults()
    const seen = []
    const promise = TaskAPI.runAll(
      [{ task: 'countdown', inputs: { count: 3 } }, { task: 'fail' }],
      { onProgress: (b) => seen.push([b.status, b.progress, b.seq]) },
    )
    await flush()
    assert.deepEqual(server.requests[0].body, {
      tasks: [
        { task: 'countdown', inputs: { count: 3 } },
        { task: 'fail', inputs: {} },
      ],
    })
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.sent, [{ type: 'subscribe', batch: 'b1' }])
    ws.receive({ type: 'batch_snapshot', batch: 'b1', seq: 2, data: batch() })
    const running = { ...batch(), status: 'running', progress: 1, target: 3, seq: 5 }
    delete running.tasks
    ws.receive({ type: 'batch_update', batch: 'b1', seq: 5, set: running })
    ws.receive({ type: 'batch_update', batch: 'b1', seq: 4, set: { ...running, progress: 0, seq: 4 } }) // stale
    ws.receive({ type: 'batch_update', batch: 'other', seq: 99, set: { ...running, seq: 99 } }) // another batch
    ws.receive({ type: 'update', uuid: 'b1', seq: 99, set: {} }) // a task frame with the same id
    ws.receive({ type: 'batch_update', batch: 'b1', seq: 9, set: { ...running, ...FINAL } })
    const result = await promise
    assert.deepEqual(seen, [
      ['pending', null, 2],
      ['running', 1, 5],
      ['failed', 3, 9],
    ])
    assert.deepEqual(result.batch.tasks, ['t1', 't2'], 'task list kept from the snapshot')
    assert.deepEqual(
      result.tasks.map((t) => [t.uuid, t.status, t.outputs, t.error]),
      [
        ['t1', 'succeeded', { counted: 3 }, null],
        ['t2', 'failed', {}, { type: 'ValueError', message: 'no' }],
      ],
    )
  })

  test('a bad item rejects with bad_request naming it', async () => {
    server.route('POST', '/tasks/batches/', { status: 400, body: { tasks: { 1: { task: ['Unknown task.'] } } } })
    const err = await TaskAPI.runAll([{ task: 'add' }, { task: 'nope' }]).catch((e) => e)
    assert.equal(err.code, 'bad_request')
    assert.equal(err.message, 'tasks.1.task: Unknown task.')
    assert.equal(FakeSocket.all.length, 0)
  })
})

describe('watchBatch', () => {
  test('polls while the WebSocket is down, then stops once final', async () => {
    let answer = batch({ status: 'running', seq: 4 })
    server.route('GET', '/tasks/batches/b1/', () => ({ status: 200, body: answer }))
    routeResults()
    const promise = TaskAPI.watchBatch('b1')
    await flush()
    FakeSocket.last.fail()
    await clock.tick(10)
    assert.equal(server.count('GET', '/tasks/batches/b1/'), 1)
    answer = batch({ ...FINAL })
    await clock.tick(1000)
    const result = await promise
    assert.equal(result.batch.status, 'failed')
    assert.equal(result.tasks.length, 2)
    await clock.tick(5000)
    assert.equal(server.count('GET', '/tasks/batches/b1/'), 2, 'stops polling once final')
  })

  test('polling only, and a 404 rejects', async () => {
    const err = await TaskAPI.watchBatch('b1', { transport: 'polling' }).catch((e) => e)
    assert.equal(err.httpStatus, 404)
    assert.equal(FakeSocket.all.length, 0)
  })

  test('cancel posts to the batch and reports its answer', async () => {
    server.route('GET', '/tasks/batches/b1/', { status: 200, body: batch({ status: 'running', seq: 4 }) })
    server.route('POST', '/tasks/batches/b1/cancel/', {
      status: 202,
      body: batch({ status: 'running', seq: 6, counts: counts({ running: 1, cancelled: 1 }) }),
    })
    const seen = []
    const promise = TaskAPI.watchBatch('b1', { transport: 'polling', onProgress: (b) => seen.push(b.seq) })
    await clock.tick(10)
    const answer = await promise.cancel()
    assert.equal(answer.counts.cancelled, 1)
    assert.deepEqual(seen, [4, 6])
    server.route('GET', '/tasks/batches/b1/', { status: 200, body: batch({ ...FINAL, status: 'cancelled' }) })
    routeResults()
    const result = await clock.run(promise)
    assert.equal(result.batch.status, 'cancelled')
  })
})

describe('batch polling retries outages as task polling does', () => {
  const polls = () => server.count('GET', '/tasks/batches/b1/')

  /** Answers each poll with the next of `answers` (an Error is a network failure), then the final batch. */
  function serve(answers) {
    server.route('GET', '/tasks/batches/b1/', () => answers.shift() || { status: 200, body: batch({ ...FINAL }) })
    routeResults()
  }

  test('a 408 is retried with backoff', async () => {
    serve([{ status: 408, body: { detail: 'Request timeout.' } }])
    let errback
    const promise = TaskAPI.watchBatch('b1', { onError: (e) => (errback = e) })
    await flush()
    FakeSocket.last.fail()
    await flush()
    assert.equal(polls(), 1)
    await clock.tick(1999)
    assert.equal(polls(), 1, 'waits 2 s after one failure')
    await clock.tick(1)
    assert.equal(polls(), 2)
    assert.equal((await promise).batch.status, 'failed')
    assert.equal(errback, undefined)
  })

  test('more than maxRetries 5xx answers in auto mode never reject a batch that then ends', async () => {
    const failures = [
      { status: 503, body: { detail: 'Down.' } },
      { status: 502, body: '<html>Bad Gateway</html>' },
      { status: 500, body: '' },
      { status: 504, body: '' },
      { status: 429, body: {} },
      new TypeError('Failed to fetch'),
      { status: 503, body: { detail: 'Still down.' } },
    ]
    serve(failures)
    const promise = TaskAPI.watchBatch('b1', { maxRetries: 2 })
    await flush()
    FakeSocket.last.fail()
    const result = await clock.run(promise)
    assert.equal(result.batch.status, 'failed')
    assert.equal(polls(), 8, 'seven failed polls, then the final state')
  })

  test("transport 'polling': a 5xx past maxRetries is retried too", async () => {
    serve([{ status: 503, body: {} }, { status: 503, body: {} }])
    const result = await clock.run(TaskAPI.watchBatch('b1', { transport: 'polling', maxRetries: 0 }))
    assert.equal(result.tasks.length, 2)
    assert.equal(FakeSocket.all.length, 0)
  })

  test('a 4xx other than 408 and 429 rejects at once', async () => {
    serve([{ status: 403, body: { detail: 'Forbidden.' } }])
    await assert.rejects(TaskAPI.watchBatch('b1', { transport: 'polling' }), { code: 'http_error', httpStatus: 403 })
    assert.equal(polls(), 1)
  })

  test('reading the tasks of a final batch retries an outage', async () => {
    server.route('GET', '/tasks/batches/b1/', { status: 200, body: batch({ ...FINAL }) })
    const answers = [{ status: 503, body: {} }, new TypeError('Failed to fetch')]
    server.route('GET', '/tasks/?batch=b1&page_size=200&page=1', () => answers.shift() || { status: 200, body: { next: null, results: [task({ uuid: 't1' })] } })
    const result = await clock.run(TaskAPI.watchBatch('b1', { transport: 'polling' }))
    assert.deepEqual(result.tasks.map((t) => t.uuid), ['t1'])
    assert.equal(server.count('GET', '/tasks/?batch=b1&page_size=200&page=1'), 3)
  })

  test("transport 'websocket' rejects once the socket failed more than maxRetries times", async () => {
    const promise = TaskAPI.watchBatch('b1', { transport: 'websocket', maxRetries: 1 })
    await flush()
    FakeSocket.last.fail()
    await clock.tick(1000)
    FakeSocket.last.fail()
    await assert.rejects(promise, { code: 'network' })
    assert.equal(polls(), 0)
  })
})

describe('batch options shared with tasks', () => {
  test('an AbortSignal cancels the batch; one already aborted sends nothing', async () => {
    server.route('GET', '/tasks/batches/b1/', { status: 200, body: batch({ status: 'running', seq: 4 }) })
    server.route('POST', '/tasks/batches/b1/cancel/', { status: 202, body: batch({ ...FINAL, status: 'cancelled' }) })
    routeResults()
    const controller = new AbortController()
    const promise = TaskAPI.watchBatch('b1', { transport: 'polling', signal: controller.signal })
    await flush()
    controller.abort()
    assert.equal((await promise).batch.status, 'cancelled')
    assert.equal(server.count('POST', '/tasks/batches/b1/cancel/'), 1)
    const requests = server.requests.length
    await assert.rejects(TaskAPI.runAll([{ task: 'add' }], { signal: AbortSignal.abort() }), { code: 'aborted' })
    assert.equal(server.requests.length, requests)
  })

  test('an exception in a callback goes to onCallbackError and changes nothing', async () => {
    server.route('GET', '/tasks/batches/b1/', { status: 200, body: batch({ ...FINAL }) })
    routeResults()
    const reported = []
    const result = await TaskAPI.watchBatch('b1', {
      transport: 'polling',
      onProgress() {
        throw new Error('progress bug')
      },
      onCallbackError: (e) => reported.push(e),
    })
    assert.equal(result.batch.status, 'failed')
    assert.deepEqual(reported.map((e) => [e.code, e.cause.message]), [['callback_error', 'progress bug']])
  })
})
