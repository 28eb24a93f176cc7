import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import TaskAPI, { revokeBatchShares, revokeShares, share, shareBatch, stream, watch } from '../dist/index.mjs'
import { clock, FakeEventSource, FakeSocket, flush, server, task, useFakes } from './helpers.mjs'

useFakes({ events: true })

const TOKEN = 'share_abc-_123'
const LINK = { token: TOKEN, expires: '2026-11-22T11:00:00Z', can_cancel: false }
const refusal = (status, code, detail) => ({ status, body: { detail, code } })

describe('making and revoking links', () => {
  test('share() posts the terms and resolves with the link in camelCase', async () => {
    server.route('POST', '/tasks/u1/share/', { status: 201, body: { ...LINK, can_cancel: true } })
    const link = await share('u1', { expiresIn: 3600, canCancel: true })
    assert.deepEqual(link, { token: TOKEN, expires: LINK.expires, canCancel: true })
    const post = server.requests[0]
    assert.deepEqual(post.body, { expires_in: 3600, can_cancel: true })
    assert.equal(post.headers['X-CSRFToken'], 'tok=1')
  })

  test('the terms are optional: the server default expiry, no cancel', async () => {
    server.route('POST', '/tasks/u1/share/', { status: 201, body: LINK })
    await TaskAPI.share('u1')
    assert.deepEqual(server.requests[0].body, { can_cancel: false })
  })

  test('a bad expiry rejects with bad_request naming it', async () => {
    server.route('POST', '/tasks/u1/share/', { status: 400, body: { expires_in: ['Too long.'] } })
    const err = await share('u1', { expiresIn: 1e9 }).catch((e) => e)
    assert.equal(err.code, 'bad_request')
    assert.equal(err.message, 'expires_in: Too long.')
  })

  test('shareBatch() posts to the batch', async () => {
    server.route('POST', '/tasks/batches/b1/share/', { status: 201, body: LINK })
    assert.equal((await shareBatch('b1', { expiresIn: 60 })).token, TOKEN)
    assert.deepEqual(server.requests[0].body, { expires_in: 60, can_cancel: false })
  })

  test('revokeShares() revokes one token, or every link; resolves with the count', async () => {
    server.route('POST', '/tasks/u1/share/revoke/', (req) => ({ status: 200, body: { revoked: req.body.token ? 1 : 3 } }))
    assert.equal(await revokeShares('u1', TOKEN), 1)
    assert.equal(await revokeShares('u1'), 3)
    assert.deepEqual(
      server.requests.map((r) => r.body),
      [{ token: TOKEN }, {}],
    )
    server.route('POST', '/tasks/batches/b1/share/revoke/', { status: 200, body: { revoked: 0 } })
    assert.equal(await revokeBatchShares('b1'), 0)
  })
})

describe('following with a token', () => {
  test('the token goes in the subscribe frame, again on reconnect', async () => {
    const promise = watch('u1', { share: TOKEN })
    await flush()
    let ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.sent, [{ type: 'subscribe', uuid: 'u1', share: TOKEN }])
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'running', seq: 2 }) })
    ws.fail()
    await clock.tick(1000)
    ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.frames('subscribe'), [{ type: 'subscribe', uuid: 'u1', share: TOKEN }])
    ws.receive({ type: 'snapshot', uuid: 'u1', seq: 3, task: task({ status: 'succeeded', seq: 3 }) })
    assert.equal((await promise).status, 'succeeded')
  })

  test('polls send the X-Share-Token header, and no CSRF token', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 2 }) })
    await clock.run(watch('u1', { share: TOKEN, transport: 'polling' }))
    const poll = server.requests[0]
    assert.equal(poll.headers['X-Share-Token'], TOKEN)
    assert.equal(poll.headers['X-CSRFToken'], undefined)
  })

  test('no share option: no header, no share in frames', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 2 }) })
    await clock.run(watch('u1', { transport: 'polling' }))
    assert.equal('X-Share-Token' in server.requests[0].headers, false)
    const promise = watch('u1')
    await flush()
    FakeSocket.last.open()
    assert.deepEqual(FakeSocket.last.sent, [{ type: 'subscribe', uuid: 'u1' }])
    promise.catch(() => {})
    FakeSocket.last.receive({ type: 'snapshot', uuid: 'u1', seq: 2, task: task({ status: 'succeeded', seq: 2 }) })
    await promise
  })

  test('TaskAPI.options.share serves every call of the page', async () => {
    TaskAPI.options.share = TOKEN
    try {
      server.route('GET', '/tasks/u1/', { status: 200, body: task() })
      await TaskAPI.get('u1')
      assert.equal(server.requests[0].headers['X-Share-Token'], TOKEN)
    } finally {
      delete TaskAPI.options.share
    }
  })

  for (const [status, code] of [
    [401, 'share_invalid'],
    [401, 'share_expired'],
    [403, 'share_revoked'],
  ])
    test(`a ${code} refusal over the socket, then REST, rejects with code ${code}`, async () => {
      server.route('GET', '/tasks/u1/', refusal(status, code, 'No.'))
      const promise = watch('u1', { share: TOKEN })
      promise.catch(() => {})
      await flush()
      const ws = FakeSocket.last
      ws.open()
      ws.receive({ type: 'error', uuid: 'u1', code, detail: 'No.' })
      const err = await clock.run(promise).catch((e) => e)
      assert.equal(err.code, code)
      assert.equal(err.httpStatus, status)
      assert.deepEqual(err.body, { detail: 'No.', code })
      assert.equal(err.message, 'No.')
    })

  test("transport 'websocket': the error frame's share code rejects", async () => {
    const promise = watch('u1', { share: TOKEN, transport: 'websocket' })
    promise.catch(() => {})
    await flush()
    FakeSocket.last.open()
    FakeSocket.last.receive({ type: 'error', uuid: 'u1', code: 'share_expired', detail: 'The share link expired.' })
    const err = await promise.catch((e) => e)
    assert.equal(err.code, 'share_expired')
    assert.equal(err.message, 'The share link expired.')
    assert.equal(server.requests.length, 0)
  })

  test('a token for another task: not_found, a 404 http_error', async () => {
    server.route('GET', '/tasks/u1/', { status: 404, body: { detail: "No task 'u1'." } })
    const promise = watch('u1', { share: TOKEN, transport: 'polling' })
    const err = await clock.run(promise).catch((e) => e)
    assert.equal(err.code, 'http_error')
    assert.equal(err.httpStatus, 404)
  })

  test('a stream: share in its subscribe frame, the header on its polls, ?share= on SSE', async () => {
    const it = stream('u1', 'answer', { share: 'share_a/b+c' })
    const got = []
    const done = (async () => {
      for await (const chunk of it) got.push(chunk)
    })()
    await flush()
    const ws = FakeSocket.last
    ws.open()
    assert.deepEqual(ws.sent, [{ type: 'subscribe', uuid: 'u1', stream: 'answer', offset: 0, share: 'share_a/b+c' }])
    ws.fail()
    await flush()
    const es = FakeEventSource.last
    assert.equal(es.url, '/tasks/u1/events/?streams=answer:0&share=share_a%2Fb%2Bc')
    server.route('GET', '/tasks/u1/streams/answer/?offset=0', { status: 200, body: { offset: 0, next: 1, done: true, chunks: ['x'] } })
    es.fail()
    await clock.tick(1000)
    await done
    assert.deepEqual(got, ['x'])
    assert.equal(server.requests[0].headers['X-Share-Token'], 'share_a/b+c')
  })

  test('a shared batch: its tasks are read one by one, with the token (a link opens no list)', async () => {
    const batch = { uuid: 'b1', status: 'succeeded', total: 2, counts: {}, progress: null, target: null, seq: 5, tasks: ['t1', 't2'] }
    server.route('GET', '/tasks/batches/b1/', { status: 200, body: batch })
    server.route('GET', '/tasks/t1/', { status: 200, body: task({ uuid: 't1', status: 'succeeded' }) })
    server.route('GET', '/tasks/t2/', { status: 200, body: task({ uuid: 't2', status: 'failed' }) })
    const result = await clock.run(TaskAPI.watchBatch('b1', { share: TOKEN, transport: 'polling' }))
    assert.deepEqual(
      result.tasks.map((t) => [t.uuid, t.status]),
      [
        ['t1', 'succeeded'],
        ['t2', 'failed'],
      ],
    )
    assert.deepEqual(
      server.requests.map((r) => [r.url, r.headers['X-Share-Token']]),
      [
        ['/tasks/batches/b1/', TOKEN],
        ['/tasks/t1/', TOKEN],
        ['/tasks/t2/', TOKEN],
      ],
    )
  })

  test('watchBatch: the token in its subscribe frame', async () => {
    const promise = TaskAPI.watchBatch('b1', { share: TOKEN })
    await flush()
    FakeSocket.last.open()
    assert.deepEqual(FakeSocket.last.sent, [{ type: 'subscribe', batch: 'b1', share: TOKEN }])
    promise.catch(() => {})
    server.route('GET', '/tasks/batches/b1/', refusal(403, 'share_revoked', 'Revoked.'))
    FakeSocket.last.receive({ type: 'error', batch: 'b1', code: 'share_revoked', detail: 'Revoked.' })
    assert.equal((await clock.run(promise).catch((e) => e)).code, 'share_revoked')
  })
})

test('the core script leaves share links out', () => {
  const core = readFileSync(new URL('../../task_api/static/django-task-api.core.min.js', import.meta.url), 'utf8')
  assert.doesNotMatch(core, /share/i)
  const classic = readFileSync(new URL('../../task_api/static/django-task-api.min.js', import.meta.url), 'utf8')
  assert.match(classic, /X-Share-Token/)
})
