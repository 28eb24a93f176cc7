import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import TaskAPI, { TaskAPIError, cancel, get, run, start, watch } from '../dist/index.mjs'
import { clock, FakeSocket, flush, server, task, useFakes } from './helpers.mjs'

useFakes({ socket: false })

/** POST answers a pending task; each poll answers the next of `states`. */
function serve(...states) {
  server.route('POST', '/tasks/', { status: 201, body: task() })
  server.route('GET', '/tasks/u1/', () => ({ status: 200, body: states.length > 1 ? states.shift() : states[0] }))
}

const succeeded = task({ status: 'succeeded', seq: 3, outputs: { sum: 6 } })

describe('predecessor usage', () => {
  test('TaskAPI.run(name, inputs).then(json => json.outputs.sum)', async () => {
    serve(task({ status: 'running', seq: 2 }), succeeded)
    const promise = TaskAPI.run('sum', { numbers: [1, 2, 3] }).then((json) => json.outputs.sum)
    await clock.tick(1000)
    assert.equal(await promise, 6)
    const post = server.requests[0]
    assert.equal(post.url, '/tasks/')
    assert.deepEqual(post.body, { task: 'sum', inputs: { numbers: [1, 2, 3] } })
    assert.equal(post.headers['Content-Type'], 'application/json')
    assert.equal(post.headers.Accept, 'application/json')
    assert.equal(post.init.credentials, 'same-origin')
  })

  test('progressCallback, callback and errback', async () => {
    serve(task({ status: 'running', seq: 2, progress: 1, target: 3 }), succeeded)
    const progress = []
    let done
    await clock.run(TaskAPI.run('sum', {}, (json) => progress.push(json.status), (json) => (done = json), assert.fail))
    assert.deepEqual(progress, ['pending', 'running', 'succeeded'])
    assert.deepEqual(done, succeeded)
  })

  test('callbacks with a null progressCallback', async () => {
    const failed = task({ status: 'failed', seq: 2, error: { type: 'ValueError', message: 'no' } })
    serve(failed)
    let caught
    const promise = TaskAPI.run('sum', {}, null, assert.fail, (err) => (caught = err))
    const err = await promise.catch((e) => e)
    assert.equal(caught, err)
    assert.ok(err instanceof TaskAPIError && err instanceof Error)
    assert.equal(err.code, 'failed')
    assert.equal(err.message, 'ValueError: no')
    // The predecessor rejected with the task JSON: its fields are on the error.
    assert.equal(err.status, 'failed')
    assert.equal(err.uuid, 'u1')
    assert.deepEqual(err.outputs, {})
    assert.deepEqual(err.error, { type: 'ValueError', message: 'no' })
    assert.deepEqual(err.json, failed)
    assert.equal(err.task, failed.task)
  })

  test('TaskAPI.options are read at call time', async () => {
    TaskAPI.options.baseURL = '/task-api/tasks'
    TaskAPI.options.transport = 'polling'
    try {
      server.route('POST', '/task-api/tasks/', { status: 201, body: succeeded })
      assert.equal((await run('sum', {})).status, 'succeeded')
    } finally {
      TaskAPI.options.baseURL = '/tasks/'
      TaskAPI.options.transport = 'auto'
    }
  })
})

describe('errors', () => {
  test('a 400 body reaches the errback and the rejection', async () => {
    const body = { inputs: { count: ["A valid integer is required; got 'ten'."], name: ['This input is required.'] } }
    server.route('POST', '/tasks/', { status: 400, body })
    let caught
    const promise = run('countdown', { count: 'ten' }, null, null, (e) => (caught = e))
    await assert.rejects(promise, {
      name: 'TaskAPIError',
      code: 'bad_request',
      httpStatus: 400,
      body,
      json: null,
      message: "inputs.count: A valid integer is required; got 'ten'.; inputs.name: This input is required.",
    })
    assert.deepEqual(caught.body, body)
    await assert.rejects(promise.started, { code: 'bad_request' })
  })

  test('other statuses reject with http_error and the detail', async () => {
    server.route('POST', '/tasks/', { status: 429, body: { detail: 'Too many running tasks.' } })
    await assert.rejects(run('countdown', {}), { code: 'http_error', httpStatus: 429, message: 'Too many running tasks.' })
    server.route('POST', '/tasks/', { status: 502, body: '<html>Bad gateway</html>' })
    await assert.rejects(start('countdown', {}), {
      code: 'http_error',
      httpStatus: 502,
      body: null,
      message: /^POST \S*\/tasks\/: HTTP 502, not the task API's JSON$/,
    })
  })

  test('answers that are not the API say what is likely wrong', async () => {
    server.route('POST', '/tasks/', { status: 404, body: '<html>Not Found</html>' })
    await assert.rejects(start('countdown', {}), { message: /HTTP 404, .*is task_api\.urls included/ })
    server.route('POST', '/tasks/', { status: 403, body: '<html>CSRF verification failed</html>' })
    await assert.rejects(start('countdown', {}), { message: /HTTP 403, .*is there a csrftoken cookie\? ensure_csrf_cookie on the page's view/ })
  })

  test('a network error on POST rejects with code network', async () => {
    server.route('POST', '/tasks/', new TypeError('Failed to fetch'))
    const err = await run('countdown', {}).catch((e) => e)
    assert.equal(err.code, 'network')
    assert.equal(err.httpStatus, null)
    assert.ok(err.cause instanceof TypeError)
  })

  test('a cancelled task rejects with code cancelled', async () => {
    serve(task({ status: 'cancelled', seq: 2, error: { type: 'Cancelled', message: 'Cancelled by the user.' } }))
    await assert.rejects(run('countdown', {}), { code: 'cancelled', message: 'Cancelled: Cancelled by the user.' })
  })
})

describe('callback exceptions', () => {
  test('are reported to console.error without changing the outcome', async () => {
    serve(succeeded)
    const logged = []
    const original = console.error
    console.error = (e) => logged.push(e)
    try {
      const json = await clock.run(run(
        'sum',
        {},
        () => {
          throw new Error('progress bug')
        },
        () => {
          throw new Error('success bug')
        },
      ))
      assert.equal(json.status, 'succeeded')
    } finally {
      console.error = original
    }
    assert.deepEqual(
      logged.map((e) => [e.code, e.cause.message, e.json.seq]),
      [
        ['callback_error', 'progress bug', 1],
        ['callback_error', 'progress bug', 3],
        ['callback_error', 'success bug', 3],
      ],
    )
  })

  test('go to onCallbackError when given; a throwing errback still rejects', async () => {
    server.route('POST', '/tasks/', { status: 400, body: { task: ['Unknown task.'] } })
    const reported = []
    const promise = run('nope', {}, {
      onError() {
        throw new Error('errback bug')
      },
      onCallbackError: (e) => reported.push(e),
    })
    await assert.rejects(promise, { code: 'bad_request', message: 'task: Unknown task.' })
    assert.equal(reported.length, 1)
    assert.equal(reported[0].code, 'callback_error')
    assert.equal(reported[0].cause.message, 'errback bug')
  })
})

describe('cancel', () => {
  test('promise.cancel() asks the server, then rejects with cancelled', async () => {
    serve(task({ status: 'running', seq: 2 }))
    const cancelled = task({ status: 'cancelled', seq: 3, error: { type: 'Cancelled', message: 'Cancelled.' } })
    server.route('POST', '/tasks/u1/cancel/', { status: 202, body: cancelled })
    const promise = run('countdown', {})
    const rejected = assert.rejects(promise, { code: 'cancelled', status: 'cancelled' })
    assert.equal((await promise.started).uuid, 'u1')
    assert.deepEqual(await promise.cancel(), cancelled)
    await rejected
    const req = server.requests.find((r) => r.url == '/tasks/u1/cancel/')
    assert.equal(req.method, 'POST')
    assert.equal(req.headers['X-CSRFToken'], 'tok=1')
  })

  test('a cancel the task has not reached yet waits for the final state', async () => {
    serve(task({ status: 'running', seq: 2 }), task({ status: 'running', seq: 3, cancel_requested: true }), task({ status: 'cancelled', seq: 4 }))
    server.route('POST', '/tasks/u1/cancel/', { status: 202, body: task({ status: 'running', seq: 3, cancel_requested: true }) })
    const promise = run('countdown', {})
    await flush()
    assert.equal((await promise.cancel()).cancel_requested, true)
    await assert.rejects(clock.run(promise), { code: 'cancelled' })
  })

  test('cancel() of a task that just finished resolves null and the task settles as it ended', async () => {
    serve(task({ status: 'running', seq: 2 }), succeeded)
    server.route('POST', '/tasks/u1/cancel/', { status: 409, body: { detail: 'Task already finished.' } })
    const promise = run('sum', {})
    await flush()
    assert.equal(await promise.cancel(), null)
    await clock.tick(2000)
    assert.equal((await promise).status, 'succeeded')
    assert.equal(await promise.cancel(), null, 'nothing left to cancel')
  })

  test('a failed cancel request rejects with aborted', async () => {
    serve(task({ status: 'running', seq: 2 }))
    server.route('POST', '/tasks/u1/cancel/', { status: 403, body: { detail: 'Forbidden.' } })
    const promise = run('countdown', {})
    const rejected = assert.rejects(promise, { code: 'aborted', httpStatus: 403, message: 'Cancel failed: Forbidden.', status: 'running' })
    await flush()
    assert.equal(await promise.cancel(), null)
    await rejected
  })

  test('an AbortSignal aborted before the POST completes cancels right after creation', async () => {
    let answer
    server.route('POST', '/tasks/', () => new Promise((r) => (answer = r)))
    server.route('GET', '/tasks/u1/', { status: 200, body: task() })
    server.route('POST', '/tasks/u1/cancel/', { status: 202, body: task({ status: 'cancelled', seq: 2 }) })
    const controller = new AbortController()
    const promise = run('countdown', {}, { signal: controller.signal })
    await flush()
    controller.abort()
    await flush()
    assert.equal(server.count('POST', '/tasks/u1/cancel/'), 0)
    answer({ status: 201, body: task() })
    await assert.rejects(promise, { code: 'cancelled' })
    assert.equal(server.count('POST', '/tasks/u1/cancel/'), 1)
  })

  test('an AbortSignal aborted later cancels the task', async () => {
    serve(task({ status: 'running', seq: 2 }))
    server.route('POST', '/tasks/u1/cancel/', { status: 202, body: task({ status: 'cancelled', seq: 3 }) })
    const controller = new AbortController()
    const promise = watch('u1', { signal: controller.signal })
    await flush()
    controller.abort()
    await assert.rejects(promise, { code: 'cancelled' })
  })

  test('an AbortSignal already aborted sends nothing and rejects with aborted', async () => {
    await assert.rejects(run('countdown', {}, { signal: AbortSignal.abort() }), { code: 'aborted' })
    assert.equal(server.requests.length, 0)
  })

  test('TaskAPI.cancel(uuid) answers the server JSON, 409 rejects', async () => {
    server.route('POST', '/tasks/u1/cancel/', { status: 202, body: task({ status: 'cancelled' }) })
    assert.equal((await cancel('u1')).status, 'cancelled')
    server.route('POST', '/tasks/u1/cancel/', { status: 409, body: { detail: 'Task already finished.' } })
    await assert.rejects(cancel('u1'), { code: 'http_error', httpStatus: 409 })
  })
})

describe('watch, start, get', () => {
  test('watch(uuid) follows an existing task; started is its first state', async () => {
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'running', seq: 7 }) })
    const seen = []
    const promise = watch('u1', (t) => seen.push(t.seq))
    assert.equal((await promise.started).seq, 7)
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ status: 'succeeded', seq: 8 }) })
    await clock.tick(1000)
    assert.equal((await promise).seq, 8)
    assert.deepEqual(seen, [7, 8])
    assert.equal(server.count('POST', '/tasks/'), 0)
  })

  test('start() posts with an Idempotency-Key; get() fetches', async () => {
    server.route('POST', '/tasks/', { status: 201, body: task() })
    server.route('GET', '/tasks/u1/', { status: 200, body: task({ seq: 2 }) })
    assert.equal((await start('countdown', { count: 1 }, { idempotencyKey: 'k-1' })).uuid, 'u1')
    assert.equal(server.requests[0].headers['Idempotency-Key'], 'k-1')
    assert.equal((await get('u1')).seq, 2)
    assert.equal(server.requests[1].headers['X-CSRFToken'], undefined, 'no CSRF header on GET')
  })

  test('run() passes idempotencyKey on', async () => {
    serve(succeeded)
    await clock.run(run('sum', {}, { idempotencyKey: 'abc' }))
    assert.equal(server.requests[0].headers['Idempotency-Key'], 'abc')
  })
})

describe('CSRF', () => {
  test('default cookie and header names', async () => {
    await start('countdown').catch(() => {})
    assert.equal(server.requests[0].headers['X-CSRFToken'], 'tok=1')
    assert.equal(server.requests[0].headers['X-CSRF-Token'], undefined)
  })

  test('custom names, globally and per call', async () => {
    globalThis.document.cookie = 'csrftoken=a; csrf-tok=b'
    TaskAPI.options.csrfCookieName = 'csrf-tok'
    TaskAPI.options.csrfHeaderName = 'X-CSRF'
    try {
      await start('countdown').catch(() => {})
      await start('countdown', {}, { csrfCookieName: 'csrftoken', csrfHeaderName: 'X-Token' }).catch(() => {})
    } finally {
      TaskAPI.options.csrfCookieName = 'csrftoken'
      TaskAPI.options.csrfHeaderName = 'X-CSRFToken'
    }
    assert.equal(server.requests[0].headers['X-CSRF'], 'b')
    assert.equal(server.requests[1].headers['X-Token'], 'a')
  })

  test('no cookie or no document: no header', async () => {
    globalThis.document.cookie = 'sessionid=1'
    await start('countdown').catch(() => {})
    delete globalThis.document
    await start('countdown').catch(() => {})
    for (const req of server.requests) assert.equal(req.headers['X-CSRFToken'], undefined)
  })
})

test('every path settles: no socket is opened in polling-only files', () => {
  assert.equal(FakeSocket.all.length, 0)
})
