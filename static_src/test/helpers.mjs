// Fakes for the browser globals the client looks up at call time:
// fetch, WebSocket, EventSource, timers, document.cookie and location.
import assert from 'node:assert/strict'
import { afterEach, beforeEach } from 'node:test'

const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  random: Math.random,
}

/** The value the fake `Math.random` returns: 0 makes every backoff its full length. */
export const rng = { value: 0 }

/** A fetch answer that never comes, until the request is aborted. */
export const hang = (req) =>
  new Promise((_, reject) => req.init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))

/** Lets pending promise callbacks (and fake requests) run. */
export const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => real.setImmediate(r))
}

/** A task JSON as the server sends it. */
export function task(fields = {}) {
  return {
    uuid: 'u1',
    task: 'countdown',
    status: 'pending',
    progress: null,
    target: null,
    outputs: {},
    messages: [],
    message_log: [],
    error: null,
    created: '2026-11-22T10:00:00.100000Z',
    started: null,
    finished: null,
    seq: 1,
    attempt: 1,
    cancel_requested: false,
    ...fields,
  }
}

/** Fake timers; `clock.tick(ms)` runs what falls due, in order. */
export const clock = {
  now: 0,
  timers: new Map(),
  nextId: 1,
  install() {
    this.now = 0
    this.timers.clear()
    const add = (fn, ms, every) => {
      const id = this.nextId++
      this.timers.set(id, { at: this.now + (ms || 0), fn, every })
      return id
    }
    const remove = (id) => this.timers.delete(id)
    Object.assign(globalThis, {
      setTimeout: (fn, ms) => add(fn, ms),
      setInterval: (fn, ms) => add(fn, ms, ms),
      clearTimeout: remove,
      clearInterval: remove,
    })
  },
  uninstall() {
    Object.assign(globalThis, { ...real, setImmediate: real.setImmediate })
  },
  async tick(ms) {
    const end = this.now + ms
    for (;;) {
      await flush()
      let next
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t]
      if (!next) break
      const [id, t] = next
      this.now = t.at
      if (t.every) t.at += t.every
      else this.timers.delete(id)
      t.fn()
    }
    this.now = end
    await flush()
  },
  /** Advances time until `promise` settles (at most 10 minutes), and returns it. */
  async run(promise) {
    let settled = false
    promise.then(
      () => (settled = true),
      () => (settled = true),
    )
    for (let i = 0; i < 600 && !settled; i++) await this.tick(1000)
    return promise
  },
}

/**
 * Fake fetch: `server.route(method, path, answer)` where answer is
 * `{status, body}`, a function of the request returning one, or an Error
 * to throw (a network failure). Unrouted requests answer 404.
 */
export const server = {
  requests: [],
  routes: [],
  route(method, path, answer) {
    this.routes.unshift({ method, path, answer })
  },
  install() {
    this.requests = []
    this.routes = []
    globalThis.fetch = async (url, init = {}) => {
      const req = { url, method: init.method || 'GET', headers: init.headers || {}, body: init.body && JSON.parse(init.body), init }
      this.requests.push(req)
      const route = this.routes.find((r) => r.method == req.method && r.path == url)
      let answer = route ? route.answer : { status: 404, body: { detail: 'Not found.' } }
      if (typeof answer == 'function') answer = await answer(req)
      if (answer instanceof Error) throw answer
      const text = typeof answer.body == 'string' ? answer.body : JSON.stringify(answer.body)
      return { ok: answer.status >= 200 && answer.status < 300, status: answer.status, text: async () => text }
    }
  },
  /** Requests made so far with this method and URL. */
  count(method, url) {
    return this.requests.filter((r) => r.method == method && r.url == url).length
  },
}

/** Fake WebSocket class; every instance is kept in `FakeSocket.all`. */
export class FakeSocket {
  static all = []
  constructor(url) {
    this.url = url
    this.sent = []
    this.closed = false
    FakeSocket.all.push(this)
  }
  static get last() {
    return FakeSocket.all[FakeSocket.all.length - 1]
  }
  send(data) {
    this.sent.push(JSON.parse(data))
  }
  close() {
    this.closed = true
  }
  /** Server side: accept the connection. */
  open() {
    this.onopen?.({})
  }
  /** Server side: the connection fails or drops. */
  fail() {
    this.failed = true
    this.onerror?.({})
    this.onclose?.({})
  }
  /** Server side: send a frame. */
  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  /** Frames of `type` sent by the client. */
  frames(type) {
    return this.sent.filter((f) => f.type == type)
  }
}

/** Fake EventSource class; every instance is kept in `FakeEventSource.all`. */
export class FakeEventSource {
  static all = []
  constructor(url, init) {
    this.url = url
    this.init = init
    this.readyState = 0
    this.closed = false
    this.listeners = {}
    FakeEventSource.all.push(this)
  }
  static get last() {
    return FakeEventSource.all[FakeEventSource.all.length - 1]
  }
  addEventListener(type, fn) {
    ;(this.listeners[type] ||= []).push(fn)
  }
  close() {
    this.readyState = 2
    this.closed = true
  }
  /** Server side: an event named `type` whose data is `frame`. */
  emit(type, frame) {
    this.readyState = 1
    const event = { type, data: JSON.stringify(frame), lastEventId: '' }
    for (const fn of this.listeners[type] || []) fn(event)
    if (type == 'error') this.onerror?.(event)
  }
  /**
   * The connection failed or dropped: the browser reconnects (readyState
   * CONNECTING), or with `giveUp` (an HTTP error, say) stops (CLOSED).
   */
  fail(giveUp = true) {
    this.readyState = giveUp ? 2 : 0
    this.onerror?.({ type: 'error' })
  }
}

/** Installs every fake before each test of the file and removes them after. */
export function useFakes({ socket = true, events = false } = {}) {
  beforeEach(() => {
    clock.install()
    server.install()
    FakeSocket.all = []
    FakeEventSource.all = []
    if (socket) globalThis.WebSocket = FakeSocket
    if (events) globalThis.EventSource = FakeEventSource
    rng.value = 0
    Math.random = () => rng.value
    globalThis.location = { href: 'https://example.test/app/page' }
    globalThis.document = { cookie: 'csrftoken=tok%3D1; sessionid=abc' }
  })
  afterEach(async () => {
    // Let idle connections close so no state leaks into the next test.
    await clock.tick(60000)
    for (const ws of FakeSocket.all) assert.ok(ws.closed || ws.failed, `socket to ${ws.url} left open`)
    for (const es of FakeEventSource.all) assert.ok(es.readyState == 2, `event source ${es.url} left open`)
    clock.uninstall()
    Math.random = real.random
    delete globalThis.fetch
    delete globalThis.WebSocket
    delete globalThis.EventSource
    delete globalThis.location
    delete globalThis.document
  })
}
