import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import TaskAPI, { stream, watch } from '../dist/index.mjs'
import { clock, FakeEventSource, FakeSocket, flush, server, task, useFakes } from './helpers.mjs'

useFakes({ events: true })

const WS = 'wss://example.test/ws/tasks/'
const READ = '/tasks/u1/streams/answer/?offset='
const EVENTS = '/tasks/u1/events/?streams='

/** A `chunks` frame of stream `name` of task u1: `list` from position `offset`. */
const chunks = (offset, list, done = false, name = 'answer') => ({
  type: 'chunks',
  uuid: 'u1',
  stream: name,
  offset,
  next: offset + list.length,
  seq: offset + list.length + (done ? 1 : 0),
  done,
  chunks: list,
})

/** The REST answer for stream `name` of u1 from `offset`. */
const read = (offset, list, done = false, name = 'answer') => {
  const { type, seq, ...rest } = chunks(offset, list, done, name)
  return { status: 200, body: rest }
}

/** Iterates `it` in the background: `got` fills as chunks come, `done` settles at the end. */
function consume(it) {
  const got = []
  const done = (async () => {
    for await (const chunk of it) got.push(chunk)
  })()
  done.catch(() => {})
  return { got, done }
}

describe('stream() over the WebSocket', () => {
  test('subscribes from the offset, yields each chunk in order and ends when done', async () => {
    const it = stream('u1', 'answer')
    const { got, done } = consume(it)
    await flush()
    const ws = FakeSocket.last
    assert.equal(ws.url, WS)
    ws.open()
    assert.deepEqual(ws.sent, [{ type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 0 }])
    ws.receive(chunks(0, []))
    ws.receive(chunks(0, ['The', ' answer']))
    await flush()
    assert.deepEqual(got, ['The', ' answer'])
    assert.equal(it.position, 2)
    ws.receive(chunks(2, [' is', ' 42.']))
    ws.receive(chunks(4, [], true))
    await done
    assert.deepEqual(got, ['The', ' answer', ' is', ' 42.'])
    assert.equal(it.position, 4)
    assert.deepEqual(ws.frames('unsubscribe'), [{ type: 'unsubscribe', uuid: 'u1', stream: 'answer' }])
    assert.equal(server.requests.length, 0)
  })

  test('resumes from an offset: position counts on from it', async () => {
    const it = stream('u1', 'answer', { offset: 3 })
    assert.equal(it.position, 3)
    const { got, done } = consume(it)
    await flush()
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.frames('subscribe'), [{ type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 3 }])
    ws.receive(chunks(3, ['d', 'e'], true))
    await done
    assert.deepEqual(got, ['d', 'e'])
    assert.equal(it.position, 5)
  })

  test('overlaps are cut, repeats ignored, a gap resubscribes from the position once', async () => {
    const { got, done } = consume(stream('u1', 'answer'))
    await flush()
    const ws = FakeSocket.last
    ws.open()
    ws.receive(chunks(0, ['a', 'b', 'c']))
    ws.receive(chunks(1, ['b', 'c', 'd'])) // overlap: only d is new
    ws.receive(chunks(0, ['a', 'b'])) // all seen
    ws.receive(chunks(6, ['g'])) // gap: e and f are missing
    ws.receive(chunks(7, ['h'])) // still a gap: no second subscribe
    assert.deepEqual(ws.frames('subscribe').map((f) => f.offset), [0, 4])
    ws.receive(chunks(4, ['e', 'f', 'g', 'h']))
    ws.receive(chunks(8, [], true))
    await done
    assert.deepEqual(got, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
  })

  test('frames of another stream or task are not its own; a done frame ends it before the last gap', async () => {
    const { got, done } = consume(stream('u1', 'answer'))
    await flush()
    const ws = FakeSocket.last
    ws.open()
    ws.receive(chunks(0, ['x'], false, 'rows'))
    ws.receive({ ...chunks(0, ['y']), uuid: 'u2' })
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task() })
    ws.receive(chunks(0, ['a'], true))
    await done
    assert.deepEqual(got, ['a'])
  })

  test('JSON chunks are yielded as they are', async () => {
    const { got, done } = consume(stream('u1', 'rows'))
    await flush()
    FakeSocket.last.open()
    FakeSocket.last.receive(chunks(0, [{ n: 1 }, [2], null, 3], true, 'rows'))
    await done
    assert.deepEqual(got, [{ n: 1 }, [2], null, 3])
  })

  test('a dropped socket: SSE from the position; back on the socket, resubscribed from where SSE left it', async () => {
    const { got, done } = consume(stream('u1', 'answer'))
    await flush()
    let ws = FakeSocket.last
    ws.open()
    ws.receive(chunks(0, ['a', 'b']))
    ws.fail()
    await flush()
    const es = FakeEventSource.last
    assert.equal(es.url, EVENTS + 'answer:2')
    assert.deepEqual(es.init, { withCredentials: false })
    es.emit('snapshot', { type: 'snapshot', uuid: 'u1', seq: 3, task: task() })
    es.emit('chunks', chunks(2, ['c']))
    await clock.tick(1000) // the socket reconnects
    ws = FakeSocket.last
    assert.notEqual(ws, FakeSocket.all[0])
    ws.open()
    assert.ok(es.closed)
    assert.deepEqual(ws.frames('subscribe'), [{ type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 3 }])
    ws.receive(chunks(2, ['c', 'd'], true))
    await done
    assert.deepEqual(got, ['a', 'b', 'c', 'd'])
    assert.equal(server.requests.length, 0)
  })

  test('a not_found error frame hands the stream to REST, whose 404 ends the loop with http_error', async () => {
    server.route('GET', READ + '0', { status: 404, body: { detail: 'Not found.' } })
    const { done } = consume(stream('u1', 'answer'))
    await flush()
    FakeSocket.last.open()
    FakeSocket.last.receive({ type: 'error', uuid: 'u1', stream: 'answer', code: 'not_found', detail: "No task 'u1'." })
    const err = await done.catch((e) => e)
    assert.equal(err.code, 'http_error')
    assert.equal(err.httpStatus, 404)
  })

  test('a refusal of another stream of the task is not its own', async () => {
    const { got, done } = consume(stream('u1', 'answer'))
    await flush()
    const ws = FakeSocket.last
    ws.open()
    ws.receive({ type: 'error', uuid: 'u1', stream: 'rows', code: 'invalid', detail: 'Bad.' })
    ws.receive(chunks(0, ['a'], true))
    await done
    assert.deepEqual(got, ['a'])
    assert.equal(server.requests.length, 0)
  })

  test('breaking out of the loop unsubscribes', async () => {
    const it = stream('u1', 'answer')
    const got = []
    const loop = (async () => {
      for await (const chunk of it) {
        got.push(chunk)
        if (got.length == 2) break
      }
    })()
    await flush()
    const ws = FakeSocket.last
    ws.open()
    ws.receive(chunks(0, ['a', 'b', 'c']))
    await loop
    assert.deepEqual(got, ['a', 'b'])
    assert.equal(it.position, 2)
    assert.deepEqual(ws.frames('unsubscribe'), [{ type: 'unsubscribe', uuid: 'u1', stream: 'answer' }])
    assert.deepEqual(await it.next(), { value: undefined, done: true })
  })

  test('nothing is read until the loop asks, nor after return()', async () => {
    const it = stream('u1', 'answer')
    await clock.tick(5000)
    await it.return()
    assert.deepEqual(await it.next(), { value: undefined, done: true })
    assert.equal(FakeSocket.all.length, 0)
    assert.equal(server.requests.length, 0)
  })

  test("transport 'websocket': a refusal ends with http_error, repeated socket failures with network", async () => {
    const refused = consume(stream('u1', 'answer', { transport: 'websocket' }))
    await flush()
    FakeSocket.last.open()
    FakeSocket.last.receive({ type: 'error', uuid: 'u1', stream: 'answer', code: 'invalid', detail: 'offset: past the end.' })
    const err = await refused.done.catch((e) => e)
    assert.equal(err.code, 'http_error')
    assert.equal(err.message, 'offset: past the end.')

    await clock.tick(5000)
    const failing = consume(stream('u1', 'answer', { transport: 'websocket', maxRetries: 1 }))
    await flush()
    FakeSocket.last.fail()
    await clock.tick(1000)
    FakeSocket.last.fail()
    const lost = await failing.done.catch((e) => e)
    assert.equal(lost.code, 'network')
    assert.equal(FakeEventSource.all.length, 0)
    assert.equal(server.requests.length, 0)
  })
})

describe('stream() over Server-Sent Events', () => {
  /** A stream whose socket cannot open: it goes to SSE. */
  async function blocked(offset = 0) {
    const it = stream('u1', 'answer', { offset })
    const reading = consume(it)
    await flush()
    FakeSocket.last.fail()
    await flush()
    return { it, ...reading, es: FakeEventSource.last }
  }

  test('one EventSource from the position, closed once the stream is done', async () => {
    const { got, done, es } = await blocked(2)
    assert.equal(es.url, EVENTS + 'answer:2')
    es.emit('snapshot', { type: 'snapshot', uuid: 'u1', seq: 3, task: task() })
    es.emit('chunks', chunks(2, ['c']))
    es.emit('update', { type: 'update', uuid: 'u1', seq: 4, set: {} })
    es.emit('chunks', chunks(2, ['c', 'd']))
    es.emit('chunks', chunks(4, [], true))
    await done
    assert.deepEqual(got, ['c', 'd'])
    assert.ok(es.closed)
    assert.equal(server.requests.length, 0)
  })

  test('an endpoint that fails before any event (a 404, no such endpoint): polling', async () => {
    server.route('GET', READ + '0', read(0, ['a']))
    server.route('GET', READ + '1', read(1, ['b'], true))
    const { got, done, es } = await blocked()
    es.fail()
    await clock.tick(1000)
    await done
    assert.deepEqual(got, ['a', 'b'])
    assert.equal(FakeEventSource.all.length, 1)
  })

  test('no event within connectTimeout (a buffering proxy): closed, polling', async () => {
    server.route('GET', READ + '0', read(0, ['a'], true))
    const { got, done, es } = await blocked()
    await clock.tick(4999)
    assert.equal(server.requests.length, 0)
    await clock.tick(1)
    assert.ok(es.closed)
    await done
    assert.deepEqual(got, ['a'])
  })

  test('a drop after it worked is left to the browser to reconnect; its giving up: polling from the position', async () => {
    server.route('GET', READ + '1', read(1, ['b'], true))
    const { got, done, es } = await blocked()
    es.emit('chunks', chunks(0, ['a']))
    es.fail(false)
    await clock.tick(3000)
    assert.equal(server.requests.length, 0)
    assert.ok(!es.closed)
    es.fail(true)
    await flush()
    await done
    assert.deepEqual(got, ['a', 'b'])
  })

  test('a gap reopens the EventSource from the position', async () => {
    const { got, done, es } = await blocked()
    es.emit('chunks', chunks(0, ['a']))
    es.emit('chunks', chunks(3, ['d']))
    assert.ok(es.closed)
    const again = FakeEventSource.last
    assert.equal(again.url, EVENTS + 'answer:1')
    again.emit('chunks', chunks(1, ['b', 'c', 'd'], true))
    await done
    assert.deepEqual(got, ['a', 'b', 'c', 'd'])
  })

  test('an error event about the stream hands it to REST', async () => {
    server.route('GET', READ + '1', { status: 400, body: { offset: ['Past the end.'] } })
    const { done, es } = await blocked()
    es.emit('chunks', chunks(0, ['a']))
    es.emit('error', { type: 'error', uuid: 'u1', stream: 'answer', code: 'invalid', detail: 'Bad.' })
    const err = await done.catch((e) => e)
    assert.equal(err.code, 'bad_request')
    assert.equal(err.message, 'offset: Past the end.')
    assert.ok(es.closed)
  })

  test('without WebSocket: SSE at once', async () => {
    delete globalThis.WebSocket
    const { got, done } = consume(stream('u1', 'answer'))
    await flush()
    FakeEventSource.last.emit('chunks', chunks(0, ['a'], true))
    await done
    assert.deepEqual(got, ['a'])
  })
})

describe('stream() by polling', () => {
  test("transport 'polling': reads from next every pollInterval, retries outages, ends when done", async () => {
    const answers = [read(0, ['a', 'b']), { status: 503, body: { detail: 'Busy.' } }, read(2, []), read(2, ['c'], true)]
    server.route('GET', READ + '0', () => answers.shift())
    server.route('GET', READ + '2', () => answers.shift())
    const it = stream('u1', 'answer', { transport: 'polling', pollInterval: 500 })
    const { got, done } = consume(it)
    await flush()
    assert.deepEqual(got, ['a', 'b'])
    await clock.tick(500)
    assert.equal(server.requests.length, 2)
    await clock.tick(999)
    assert.equal(server.requests.length, 2, 'waits 1 s after a failure')
    await clock.tick(1)
    await clock.tick(500)
    await done
    assert.deepEqual(got, ['a', 'b', 'c'])
    assert.deepEqual(
      server.requests.map((r) => r.url),
      [READ + '0', READ + '2', READ + '2', READ + '2'],
    )
    assert.equal(FakeSocket.all.length + FakeEventSource.all.length, 0)
    await clock.tick(5000)
    assert.equal(server.requests.length, 4, 'no poll after done')
  })

  test('a bad offset (400) ends the loop with bad_request', async () => {
    server.route('GET', READ + '9', { status: 400, body: { offset: ['9 is past the end of the stream (4).'] } })
    const err = await consume(stream('u1', 'answer', { transport: 'polling', offset: 9 })).done.catch((e) => e)
    assert.equal(err.code, 'bad_request')
    assert.equal(err.httpStatus, 400)
  })

  test('baseURL is read at call time', async () => {
    server.route('GET', '/api/tasks/u1/streams/answer/?offset=0', read(0, ['a'], true))
    const { got, done } = consume(TaskAPI.stream('u1', 'answer', { transport: 'polling', baseURL: '/api/tasks' }))
    await done
    assert.deepEqual(got, ['a'])
  })
})

describe('watch() and run() with streams', () => {
  test('onChunks gets every run in order; the promise waits for the done frame after the final snapshot', async () => {
    const seen = []
    let success
    const promise = watch('u1', {
      streams: { answer: { onChunks: (list, offset) => seen.push([offset, list]) } },
      onSuccess: (t) => (success = [t.status, seen.length]),
    })
    await flush()
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.sent, [
      { type: 'subscribe', uuid: 'u1' },
      { type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 0 },
    ])
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ status: 'running', seq: 2 }) })
    ws.receive(chunks(0, ['a', 'b']))
    ws.receive(chunks(2, ['c']))
    const final = task({ status: 'succeeded', seq: 5, streams: { answer: 4 } })
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 5, task: final })
    let settled = false
    promise.then(() => (settled = true))
    await flush()
    assert.equal(settled, false, 'the last chunk is still to come')
    ws.receive(chunks(3, ['d']))
    ws.receive(chunks(4, [], true))
    assert.deepEqual(await promise, final)
    assert.deepEqual(seen, [
      [0, ['a', 'b']],
      [2, ['c']],
      [3, ['d']],
    ])
    assert.deepEqual(success, ['succeeded', 3])
  })

  test('run() reads from the new task; a failed task rejects once its streams ended', async () => {
    server.route('POST', '/tasks/', { status: 201, body: task() })
    const text = []
    const promise = TaskAPI.run('answer', {}, { streams: { answer: { onChunks: (list) => text.push(...list) } } })
    await flush()
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.frames('subscribe'), [
      { type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 0 },
      { type: 'subscribe', uuid: 'u1' },
    ])
    ws.receive(chunks(0, ['a']))
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 3, task: task({ status: 'failed', seq: 3, error: { type: 'ValueError', message: 'no' } }) })
    ws.receive(chunks(1, [], true))
    const err = await promise.catch((e) => e)
    assert.equal(err.code, 'failed')
    assert.deepEqual(text, ['a'])
  })

  test('resumes each stream from its offset; a throwing onChunks is reported and delivery goes on', async () => {
    const reported = []
    const rows = []
    const promise = watch('u1', {
      streams: {
        answer: {
          offset: 2,
          onChunks: () => {
            throw new Error('boom')
          },
        },
        rows: { offset: 1, onChunks: (list) => rows.push(...list) },
      },
      onCallbackError: (e) => reported.push([e.code, e.cause.message]),
    })
    await flush()
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.frames('subscribe').slice(1), [
      { type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 2 },
      { type: 'subscribe', uuid: 'u1', stream: 'rows', offset: 1 },
    ])
    ws.receive(chunks(2, ['c'], false))
    ws.receive(chunks(1, [{ n: 2 }], false, 'rows'))
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 5, task: task({ status: 'succeeded', seq: 5 }) })
    ws.receive(chunks(3, [], true))
    ws.receive(chunks(2, [{ n: 3 }], true, 'rows'))
    assert.equal((await promise).status, 'succeeded')
    assert.deepEqual(reported, [['callback_error', 'boom']])
    assert.deepEqual(rows, [{ n: 2 }, { n: 3 }])
  })

  test('with the socket blocked and no SSE: the task and the stream are polled', async () => {
    delete globalThis.EventSource
    const states = [task({ status: 'running', seq: 2 }), task({ status: 'succeeded', seq: 3 })]
    server.route('GET', '/tasks/u1/', () => ({ status: 200, body: states.length > 1 ? states.shift() : states[0] }))
    server.route('GET', READ + '0', read(0, ['a']))
    server.route('GET', READ + '1', read(1, ['b'], true))
    const text = []
    const promise = watch('u1', { streams: { answer: { onChunks: (list) => text.push(...list) } } })
    await flush()
    FakeSocket.last.fail()
    assert.equal((await clock.run(promise)).status, 'succeeded')
    assert.deepEqual(text, ['a', 'b'])
  })

  test('a follow that ends in an error stops reading its streams', async () => {
    server.route('GET', '/tasks/u1/', { status: 403, body: { detail: 'Forbidden.' } })
    server.route('GET', READ + '0', read(0, []))
    const err = await watch('u1', { transport: 'polling', streams: { answer: {} } }).catch((e) => e)
    assert.equal(err.httpStatus, 403)
    const polls = server.count('GET', READ + '0')
    await clock.tick(5000)
    assert.equal(server.count('GET', READ + '0'), polls, 'no more polls of the stream')
  })

  test('without streams (or with none) it is the plain follow', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 2 }) })
    assert.equal((await watch('u1', { transport: 'polling', streams: {} })).status, 'succeeded')
    assert.equal((await watch('u1', { transport: 'polling' })).status, 'succeeded')
  })
})
