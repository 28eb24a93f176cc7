import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import TaskAPI from '../dist/index.mjs'
import { clock, FakeSocket, flush, server, task, useFakes } from './helpers.mjs'

useFakes()

/** A first task started by POST, so that the shared socket is open; returns the socket. */
async function openSocket() {
  server.route('POST', '/tasks/', { status: 201, body: task({ uuid: 'first' }) })
  const first = TaskAPI.run('countdown', { count: 1 })
  await flush()
  const ws = FakeSocket.last
  ws.open()
  server.requests = []
  const finish = async () => {
    ws.receive({ type: 'snapshot', uuid: 'first', seq: 9, task: task({ uuid: 'first', status: 'succeeded', seq: 9 }) })
    await first
  }
  return { ws, finish }
}

describe('start frame on an open socket', () => {
  test('run starts with one frame, no POST, and follows the task on the same socket', async () => {
    const { ws, finish } = await openSocket()
    const seen = []
    const promise = TaskAPI.run('countdown', { count: 2 }, { onProgress: (t) => seen.push(t.seq) })
    await flush()
    const [frame] = ws.frames('start')
    assert.deepEqual(Object.keys(frame), ['type', 'ref', 'task', 'inputs', 'idempotency_key'])
    assert.deepEqual([frame.task, frame.inputs], ['countdown', { count: 2 }])
    assert.ok(frame.idempotency_key.length >= 8)
    ws.receive({ type: 'started', ref: frame.ref, created: true, uuid: 'u2', seq: 1, task: task({ uuid: 'u2' }) })
    await flush() // each message is a task of its own in a browser
    ws.receive({ type: 'update', uuid: 'u2', seq: 2, set: { progress: 1, target: 2 }, append: [] })
    ws.receive({ type: 'snapshot', uuid: 'u2', seq: 3, task: task({ uuid: 'u2', status: 'succeeded', seq: 3 }) })
    assert.equal((await promise).status, 'succeeded')
    assert.deepEqual(seen, [1, 2, 3])
    assert.equal(server.requests.length, 0)
    await finish()
  })

  test('a refusal rejects exactly as the REST answer would', async () => {
    const { ws, finish } = await openSocket()
    const errors = { inputs: { count: ['This input is required.'] } }
    const promise = TaskAPI.start('countdown', {})
    await flush()
    const ref = ws.frames('start')[0].ref
    ws.receive({ type: 'error', ref, code: 'invalid', status: 400, detail: 'The start frame has errors; see errors.', errors })
    const byFrame = await promise.catch((e) => e)
    server.route('POST', '/tasks/', { status: 400, body: errors })
    const byPost = await TaskAPI.start('countdown', {}, { startFrame: false }).catch((e) => e)
    for (const err of [byFrame, byPost]) {
      assert.equal(err.code, 'bad_request')
      assert.equal(err.httpStatus, 400)
      assert.deepEqual(err.body, errors)
      assert.equal(err.message, 'inputs.count: This input is required.')
    }
    const limited = TaskAPI.start('countdown', { count: 1 })
    await flush()
    const detail = 'You already have 5 unfinished tasks; wait for one to finish.'
    ws.receive({ type: 'error', ref: ws.frames('start')[1].ref, code: 'too_many_tasks', status: 429, detail })
    const err = await limited.catch((e) => e)
    assert.deepEqual([err.code, err.httpStatus, err.message, err.body], ['http_error', 429, detail, { detail }])
    await finish()
  })

  test('a socket that closes before the answer: POST with the same key, the task starts once', async () => {
    const { ws } = await openSocket()
    server.route('GET', '/tasks/first/', { status: 200, body: task({ uuid: 'first', status: 'succeeded', seq: 9 }) })
    server.route('POST', '/tasks/', { status: 200, body: task({ uuid: 'u2' }) })
    const promise = TaskAPI.start('countdown', { count: 1 })
    await flush()
    const key = ws.frames('start')[0].idempotency_key
    ws.fail()
    assert.equal((await promise).uuid, 'u2')
    assert.equal(server.count('POST', '/tasks/'), 1)
    assert.equal(server.requests.find((r) => r.method == 'POST').headers['Idempotency-Key'], key)
  })

  test('no answer within timeout, or the connection full: POST with the same key', async () => {
    const { ws, finish } = await openSocket()
    server.route('POST', '/tasks/', { status: 201, body: task({ uuid: 'u2' }) })
    const silent = TaskAPI.start('countdown', { count: 1 }, { idempotencyKey: 'k-1', timeout: 3000 })
    await clock.tick(3000)
    assert.equal((await silent).uuid, 'u2')
    assert.equal(server.requests[0].headers['Idempotency-Key'], 'k-1')
    const full = TaskAPI.start('countdown', { count: 1 }, { idempotencyKey: 'k-2' })
    await flush()
    ws.receive({ type: 'error', ref: ws.frames('start')[1].ref, code: 'too_many', status: 429, detail: 'At most 100 tasks per connection.' })
    assert.equal((await full).uuid, 'u2')
    assert.equal(server.requests[1].headers['Idempotency-Key'], 'k-2')
    await finish()
  })

  test('startFrame: false, or no open socket: POST, always with a key', async () => {
    server.route('POST', '/tasks/', { status: 201, body: task({ uuid: 'u2' }) })
    await TaskAPI.start('countdown', { count: 1 })
    assert.equal(FakeSocket.all.length, 0)
    const firstKey = server.requests[0].headers['Idempotency-Key']
    const { ws, finish } = await openSocket()
    server.route('POST', '/tasks/', { status: 201, body: task({ uuid: 'u3' }) })
    assert.equal((await TaskAPI.start('countdown', { count: 1 }, { startFrame: false })).uuid, 'u3')
    assert.equal(ws.frames('start').length, 0)
    const keys = [firstKey, server.requests[0].headers['Idempotency-Key']]
    // A frame the server would refuse as too large goes by POST too.
    await TaskAPI.start('countdown', { text: 'é'.repeat(2100) })
    assert.equal(ws.frames('start').length, 0)
    assert.equal(server.count('POST', '/tasks/'), 2)
    assert.ok(keys.every((k) => k && k.length >= 8))
    assert.equal(new Set(keys).size, 2)
    await finish()
  })
})
