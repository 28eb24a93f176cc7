import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import TaskAPI from '../dist/index.mjs'
import { clock, FakeSocket, flush, rng, server, task, useFakes } from './helpers.mjs'

useFakes()

const WS = 'wss://example.test/ws/tasks/'

/** Starts `countdown` and opens the socket it asks for. */
async function started(options = {}) {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  const seen = []
  const promise = TaskAPI.run('countdown', { count: 3 }, { onProgress: (t) => seen.push(t), ...options })
  await flush()
  return { promise, seen, ws: FakeSocket.last }
}

describe('run over the WebSocket', () => {
  test('snapshot, updates and a terminal snapshot', async () => {
    const { promise, seen, ws } = await started()
    assert.equal(ws.url, WS)
    ws.open()
    assert.deepEqual(ws.sent, [{ type: 'subscribe', uuid: 'u1' }])
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ status: 'running', seq: 2 }) })
    ws.receive({
      type: 'update',
      uuid: 'u1',
      seq: 3,
      set: { progress: 1, target: 3 },
      append: [{ value: 'Started', level: 'info', time: 't' }],
    })
    ws.receive({ type: 'update', uuid: 'u1', seq: 3, set: { progress: 99 } }) // duplicate: ignored
    ws.receive({ type: 'update', uuid: 'other', seq: 9, set: { progress: 99 } }) // another task
    assert.deepEqual(
      seen.map((t) => [t.status, t.seq, t.progress]),
      [
        ['pending', 1, null],
        ['running', 2, null],
        ['running', 3, 1],
      ],
    )
    assert.deepEqual(seen[2].messages, ['Started'])
    assert.deepEqual(seen[2].message_log, [{ value: 'Started', level: 'info', time: 't' }])
    const final = task({ status: 'succeeded', seq: 6, progress: 3, target: 3, outputs: { done: true } })
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 6, task: final })
    assert.deepEqual(await promise, final)
    assert.equal(seen.length, 4)
    assert.equal(server.count('GET', '/tasks/u1/'), 0)
    assert.deepEqual(ws.frames('unsubscribe'), [{ type: 'unsubscribe', uuid: 'u1' }])
  })

  test('a gap in seq asks for a fresh snapshot, once', async () => {
    const { promise, seen, ws } = await started()
    ws.open()
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ status: 'running', seq: 2 }) })
    ws.receive({ type: 'update', uuid: 'u1', seq: 4, set: { progress: 2 } })
    ws.receive({ type: 'update', uuid: 'u1', seq: 5, set: { progress: 3 } })
    assert.equal(ws.frames('subscribe').length, 2)
    assert.equal(seen.at(-1).seq, 2)
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 5, task: task({ status: 'running', seq: 5, progress: 3 }) })
    ws.receive({ type: 'update', uuid: 'u1', seq: 6, set: { status: 'succeeded', outputs: { n: 1 } } })
    const final = await promise
    assert.equal(final.seq, 6)
    assert.deepEqual(final.outputs, { n: 1 })
    assert.deepEqual(
      seen.map((t) => t.seq),
      [1, 2, 5, 6],
    )
  })

  test('an update ahead of its row is kept over the older snapshot that follows', async () => {
    const { promise, seen, ws } = await started()
    ws.open()
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ status: 'running', seq: 2 }) })
    // Event 3 goes out while its row is written; a snapshot read meanwhile says seq 2.
    ws.receive({ type: 'update', uuid: 'u1', seq: 3, set: { progress: 1 } })
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ status: 'running', seq: 2 }) })
    assert.deepEqual([seen.at(-1).seq, seen.at(-1).progress], [3, 1])
    ws.receive({ type: 'update', uuid: 'u1', seq: 4, set: { progress: 2 } })
    assert.deepEqual([seen.at(-1).seq, seen.at(-1).progress], [4, 2])
    assert.equal(ws.frames('subscribe').length, 1) // no gap, no resync
    const final = task({ status: 'succeeded', seq: 6, progress: 3, target: 3 })
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 6, task: final })
    assert.deepEqual(await promise, final)
  })

  test('a task already final in the POST answer opens no socket', async () => {
    server.route('POST', '/tasks/', { status: 201, body: task({ status: 'succeeded', outputs: { sum: 3 } }) })
    assert.equal((await TaskAPI.run('sum', { numbers: [1, 2] })).outputs.sum, 3)
    assert.equal(FakeSocket.all.length, 0)
  })

  test('two tasks share one socket, closed once both are done', async () => {
    let n = 0
    server.route('POST', '/tasks/', () => ({ status: 201, body: task({ uuid: 'u' + ++n }) }))
    const a = TaskAPI.run('countdown', {})
    const b = TaskAPI.run('countdown', {})
    await flush()
    assert.equal(FakeSocket.all.length, 1)
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.frames('subscribe').map((f) => f.uuid).sort(), ['u1', 'u2'])
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ uuid: 'u1', seq: 2, status: 'succeeded' }) })
    assert.equal((await a).uuid, 'u1')
    await clock.tick(10000)
    assert.equal(ws.closed, false, 'still used by the second task')
    ws.receive({ type: 'snapshot', uuid: 'u2', seq: 2, task: task({ uuid: 'u2', seq: 2, status: 'failed', error: { type: 'ValueError', message: 'bad' } }) })
    await assert.rejects(b, { code: 'failed', message: 'ValueError: bad', status: 'failed', uuid: 'u2' })
    assert.equal(ws.closed, false, 'kept open for a short while')
    await clock.tick(2000)
    assert.equal(ws.closed, true)
    // The next task opens a new socket.
    const c = TaskAPI.run('countdown', {})
    await flush()
    assert.equal(FakeSocket.all.length, 2)
    FakeSocket.last.open()
    FakeSocket.last.receive({ type: 'snapshot', uuid: 'u3', seq: 2, task: task({ uuid: 'u3', seq: 2, status: 'succeeded' }) })
    assert.equal((await c).uuid, 'u3')
  })

  test('falls back to polling when the socket cannot open, and back to the socket when it reconnects', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'running', seq: 2 }) })
    const { promise, seen, ws } = await started()
    assert.equal(server.count('GET', '/tasks/u1/'), 0, 'no polling while the socket is opening')
    ws.fail()
    await flush()
    assert.equal(server.count('GET', '/tasks/u1/'), 1, 'polls at once')
    await clock.tick(1000)
    assert.equal(server.count('GET', '/tasks/u1/'), 2)
    assert.equal(FakeSocket.all.length, 2, 'reconnects after 1 s')
    FakeSocket.last.fail()
    await clock.tick(1999)
    assert.equal(FakeSocket.all.length, 2)
    await clock.tick(1)
    assert.equal(FakeSocket.all.length, 3, 'then after 2 s')
    const polls = server.count('GET', '/tasks/u1/')
    const again = FakeSocket.last
    again.open()
    assert.deepEqual(again.sent, [{ type: 'subscribe', uuid: 'u1' }])
    await clock.tick(5000)
    assert.equal(server.count('GET', '/tasks/u1/'), polls, 'polling stopped')
    again.receive({ type: 'snapshot', uuid: 'u1', seq: 3, task: task({ status: 'succeeded', seq: 3 }) })
    assert.equal((await promise).status, 'succeeded')
    assert.deepEqual(
      seen.map((t) => t.seq),
      [1, 2, 3],
    )
  })

  test('a dropped socket falls back to polling and resubscribes on reconnect', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'running', seq: 4 }) })
    const { promise, seen, ws } = await started()
    ws.open()
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 3, task: task({ status: 'running', seq: 3 }) })
    ws.fail()
    await flush()
    assert.equal(server.count('GET', '/tasks/u1/'), 1)
    assert.equal(seen.at(-1).seq, 4)
    await clock.tick(1000)
    FakeSocket.last.open()
    assert.deepEqual(FakeSocket.last.sent, [{ type: 'subscribe', uuid: 'u1' }])
    FakeSocket.last.receive({ type: 'snapshot', uuid: 'u1', seq: 5, task: task({ status: 'cancelled', seq: 5 }) })
    await assert.rejects(promise, { code: 'cancelled', status: 'cancelled' })
  })

  test('a socket silent past the heartbeat is dropped', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'running' }) })
    const { promise, ws } = await started()
    ws.open()
    await clock.tick(25000)
    assert.deepEqual(ws.frames('ping'), [{ type: 'ping' }])
    ws.receive({ type: 'pong' })
    await clock.tick(25000)
    assert.equal(ws.closed, false)
    await clock.tick(25000)
    assert.equal(ws.closed, true)
    assert.ok(server.count('GET', '/tasks/u1/') >= 1, 'polls after the drop')
    promise.cancel()
    server.route('POST', '/tasks/u1/cancel/', { status: 202, body: task({ status: 'cancelled', seq: 2 }) })
    await assert.rejects(promise, { code: 'cancelled' })
  })

  test('a not_found error frame hands the task to REST, whose 404 rejects', async () => {
    const promise = TaskAPI.watch('gone')
    await flush()
    const ws = FakeSocket.last
    ws.open()
    ws.receive({ type: 'error', uuid: 'gone', code: 'not_found', detail: 'Not found.' })
    await assert.rejects(promise, { code: 'http_error', httpStatus: 404, message: 'Not found.', body: { detail: 'Not found.' } })
    assert.equal(server.count('GET', '/tasks/gone/'), 1)
    await assert.rejects(promise.started, { code: 'http_error' })
  })

  test('a socket stuck connecting counts as down after connectTimeout: polls, then retries the socket', async () => {
    const answers = [task({ status: 'running', seq: 2 }), task({ status: 'succeeded', seq: 3 })]
    server.route('GET', '/tasks/u1/', () => ({ status: 200, body: answers.length > 1 ? answers.shift() : answers[0] }))
    const { promise, ws } = await started()
    await clock.tick(4999)
    assert.equal(server.count('GET', '/tasks/u1/'), 0, 'still waiting for the socket')
    await clock.tick(1)
    assert.equal(ws.closed, true, 'the stuck socket is given up')
    assert.equal(server.count('GET', '/tasks/u1/'), 1, 'polls at once')
    await clock.tick(1000)
    assert.equal(FakeSocket.all.length, 2, 'and tries the socket again')
    assert.equal((await promise).status, 'succeeded')
  })

  test('reconnects are jittered: 50 to 100 % of the backoff', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'running', seq: 2 }) })
    const { promise } = await started()
    rng.value = 0.999
    FakeSocket.last.open()
    FakeSocket.last.fail()
    await clock.tick(1000)
    FakeSocket.last.fail()
    await clock.tick(999)
    assert.equal(FakeSocket.all.length, 2)
    await clock.tick(2)
    assert.equal(FakeSocket.all.length, 3, 'after about 1 s instead of 2 s')
    FakeSocket.last.open()
    FakeSocket.last.receive({ type: 'snapshot', uuid: 'u1', seq: 3, task: task({ status: 'succeeded', seq: 3 }) })
    assert.equal((await promise).status, 'succeeded')
  })

  test("transport 'websocket' never polls and rejects once the socket keeps failing", async () => {
    const { promise } = await started({ transport: 'websocket', maxRetries: 2 })
    FakeSocket.last.fail()
    await clock.tick(1000)
    FakeSocket.last.fail()
    await clock.tick(2000)
    FakeSocket.last.fail()
    await assert.rejects(promise, { code: 'network', status: 'pending' })
    assert.equal(server.count('GET', '/tasks/u1/'), 0)
  })

  test("transport 'websocket' rejects a not_found frame without REST", async () => {
    const promise = TaskAPI.watch('gone', { transport: 'websocket' })
    await flush()
    FakeSocket.last.open()
    FakeSocket.last.receive({ type: 'error', uuid: 'gone', code: 'not_found', detail: 'Not found.' })
    await assert.rejects(promise, { code: 'http_error', httpStatus: 404 })
    assert.equal(server.requests.length, 0)
  })

  test('ws URL: relative resolved against location, http -> ws, absolute kept', async () => {
    globalThis.location = { href: 'http://site.test/a/b' }
    const x = TaskAPI.watch('x', { wsURL: 'live/', transport: 'websocket', maxRetries: 0 })
    const y = TaskAPI.watch('y', { wsURL: 'wss://push.test/ws/', transport: 'websocket', maxRetries: 0 })
    await flush()
    assert.deepEqual(
      FakeSocket.all.map((s) => s.url),
      ['ws://site.test/a/live/', 'wss://push.test/ws/'],
    )
    for (const s of FakeSocket.all) s.fail()
    await assert.rejects(x, { code: 'network' })
    await assert.rejects(y, { code: 'network' })
  })
})

describe('without a usable WebSocket', () => {
  test('no WebSocket global: polls', async () => {
    delete globalThis.WebSocket
    server.route('POST', '/tasks/', { status: 201, body: task() })
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 2 }) })
    assert.equal((await TaskAPI.run('countdown', {})).status, 'succeeded')
  })

  test('no WebSocket global and transport websocket: rejects', async () => {
    delete globalThis.WebSocket
    await assert.rejects(TaskAPI.watch('u1', { transport: 'websocket' }), { code: 'network' })
  })

  test("transport 'polling' opens no socket", async () => {
    server.route('POST', '/tasks/', { status: 201, body: task() })
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 2 }) })
    const promise = TaskAPI.run('countdown', {}, { transport: 'polling' })
    await clock.tick(0)
    assert.equal((await promise).status, 'succeeded')
    assert.equal(FakeSocket.all.length, 0)
  })

  test('a throwing WebSocket constructor counts as a failed socket', async () => {
    globalThis.WebSocket = class {
      constructor() {
        throw new SyntaxError('bad url')
      }
    }
    server.route('POST', '/tasks/', { status: 201, body: task() })
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 2 }) })
    assert.equal((await TaskAPI.run('countdown', {})).status, 'succeeded')
  })
})
