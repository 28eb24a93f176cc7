import type { Task } from '../types'
import { backoff, options } from './options'

/** A server frame (see docs/protocol.md). */
export interface Frame {
  type: string
  uuid?: string | null
  /** The batch of a batch frame (`batch_snapshot`, `batch_update`, `error`). */
  batch?: string | null
  seq: number
  /** On a merged update: the seq it applies on (otherwise seq - 1). */
  base?: number
  task: Task
  /** The fields an `update` or `batch_update` changes. */
  set?: object
  append?: Task['message_log']
  /** The batch JSON of a `batch_snapshot`. */
  data?: object
  code?: string
  detail?: string
  /** The `ref` of the `start` a `started` or `error` frame answers. */
  ref?: string
  /** The REST status of a refused `start`, and its field errors for a 400. */
  status?: number
  errors?: object
}

/** A task or batch followed over a shared socket. */
export interface Sub {
  /** The frame field that names what is followed: `uuid` for a task, `batch` for a batch. */
  key: 'uuid' | 'batch'
  id: string
  /** Handles a frame about it (one whose `key` field is `id`). */
  frame(f: Frame): void
  /** The socket went down for the `failures`-th time in a row, or is back up (0). */
  down(failures: number): void
}

/** One WebSocket shared by every task followed through the same URL. */
export interface Conn {
  add(s: Sub): void
  remove(s: Sub): void
  /** Sends `subscribe`, which the server answers with a snapshot. */
  subscribe(s: Sub): void
  /**
   * Sends a `start` frame if the socket is open and the frame is at most 4096
   * bytes: resolves with the answer
   * (`started` or `error`), or null if the socket closed or `ms` passed first.
   */
  start(body: object, ms: number): Promise<Frame | null> | undefined
}

const conns = new Map<string, Conn>()

/** Resolves `url` against `location`, switching http(s) to ws(s). */
export function socketURL(url: string): string {
  const u = new URL(url, globalThis.location?.href)
  u.protocol = u.protocol.replace('http', 'ws')
  return u.href
}

/** The shared connection for a resolved socket URL, opened on first use. */
export const connection = (url: string) => conns.get(url) || open(url)

/** The shared connection for a socket URL, if there is one. */
export const existing = (url: string) => conns.get(socketURL(url))

/** Time a connection stays open after its last task is done. */
const IDLE = 2000
/** Heartbeat period: a ping is sent, and a socket silent for a whole period is dropped. */
const BEAT = 25000

function open(url: string): Conn {
  const subs = new Set<Sub>()
  let ws: WebSocket | null = null
  let live = false
  let failures = 0
  let quiet = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let opening: ReturnType<typeof setTimeout> | undefined
  let idle: ReturnType<typeof setTimeout> | undefined
  let beat: ReturnType<typeof setInterval> | undefined
  /** The unanswered `start` frames by `ref`. */
  const asks = new Map<string, (f: Frame | null) => void>()
  let refs = 0

  const send = (type: string, sub?: Sub) => live && ws!.send(JSON.stringify(sub ? { type, [sub.key]: sub.id } : { type }))

  function connect() {
    retry = undefined
    let s: WebSocket
    try {
      s = ws = new WebSocket(url)
    } catch {
      return lost((ws = null))
    }
    // A socket stuck connecting (a proxy that never upgrades) counts as down.
    opening = setTimeout(() => lost(s), options.connectTimeout)
    s.onopen = () => {
      clearTimeout(opening)
      live = true
      quiet = false
      beat = setInterval(() => (quiet ? lost(s) : ((quiet = true), send('ping'))), BEAT)
      for (const sub of subs) sub.down(0), conn.subscribe(sub)
    }
    s.onmessage = (e) => {
      let f: Frame
      quiet = false
      failures = 0
      try {
        f = JSON.parse(e.data)
      } catch {
        return
      }
      asks.get(f.ref!)?.(f)
      for (const sub of subs) if (f[sub.key] == sub.id) sub.frame(f)
    }
    s.onerror = s.onclose = () => lost(s)
  }

  /** Drops socket `s` if it is still the current one, and schedules a reconnect. */
  function lost(s: WebSocket | null) {
    if (s != ws) return
    close()
    failures++
    for (const sub of subs) sub.down(failures)
    if (subs.size) retry = setTimeout(connect, backoff(1000, failures - 1))
  }

  function close() {
    const s = ws
    ws = null
    live = false
    clearInterval(beat)
    clearTimeout(retry)
    clearTimeout(opening)
    for (const answer of asks.values()) answer(null)
    if (s) (s.onopen = s.onmessage = s.onerror = s.onclose = null), s.close()
  }

  const conn: Conn = {
    add(sub) {
      clearTimeout(idle)
      subs.add(sub)
      if (live) conn.subscribe(sub)
      else {
        if (failures) sub.down(failures)
        if (!ws && !retry) connect()
      }
    },
    remove(sub) {
      if (!subs.delete(sub)) return
      if (![...subs].some((x) => x.key == sub.key && x.id == sub.id)) send('unsubscribe', sub)
      if (!subs.size) idle = setTimeout(() => (close(), conns.delete(url)), IDLE)
    },
    subscribe: (sub) => send('subscribe', sub),
    start(body, ms) {
      const ref = '' + ++refs
      const text = JSON.stringify({ type: 'start', ref, ...body })
      // Over the server's default TASK_API_MAX_FRAME_BYTES the frame would be refused.
      if (live && new TextEncoder().encode(text).length <= 4096)
        return new Promise((y) => {
          const timer = setTimeout(() => answer(null), ms)
          const answer = (f: Frame | null) => (asks.delete(ref), clearTimeout(timer), y(f))
          asks.set(ref, answer)
          ws!.send(text)
        })
    },
  }
  conns.set(url, conn)
  return conn
}
