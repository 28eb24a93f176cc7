import type { Options, Task } from '../types'
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
  /** The stream of a `chunks` frame, or of an `error` about a stream subscription. */
  stream?: string
}

/**
 * What a shared socket serves: a followed task or batch, or a `start` frame
 * waiting for its answer.
 */
export interface Sub {
  /** The frame field that marks the frames about it (`uuid`, `batch`, `ref`), and its value. */
  key: 'uuid' | 'batch' | 'ref'
  id: string
  /** The stream of task `id` it reads; frames about another stream (or none) are not its own. */
  stream?: string
  /** The frame that asks for it: sent when it is added to an open socket, and again on every reconnect. */
  hello: object
  /** The frame that ends it, sent once no other sub has the same key and id. */
  bye?: object
  /** Handles a frame about it. */
  frame(f: Frame): void
  /** The socket went down for the `failures`-th time in a row, or is back up (0). */
  down(failures: number): void
}

/** One WebSocket shared by everything followed through the same URL. */
export interface Conn {
  /** True while the socket is open. */
  live: boolean
  add(s: Sub): void
  remove(s: Sub): void
  /** Sends `s.hello` again, e.g. to get a fresh snapshot. */
  hello(s: Sub): void
}

const conns = new Map<string, Conn>()

/** Resolves `url` against `location`, switching http(s) to ws(s). */
export const socketURL = (url: string) => new URL(url, globalThis.location?.href).href.replace(/^http/, 'ws')

/** The resolved socket URL of these options, or nothing when they do without a socket (or have no WebSocket). */
export function socketOf(o: Options): string | undefined {
  try {
    if (o.transport != 'polling' && typeof WebSocket == 'function') return socketURL(o.wsURL)
  } catch {}
}

/** The shared connection for a resolved socket URL, opened on first use. */
export const connection = (url: string) => conns.get(url) || open(url)

/** The shared connection for a resolved socket URL, if there is one. */
export const existing = (url: string) => conns.get(url)

/** Time a connection stays open after its last task is done. */
const IDLE = 2000
/** Heartbeat period: a ping is sent, and a socket silent for a whole period is dropped. */
const BEAT = 25000

function open(url: string): Conn {
  const subs = new Set<Sub>()
  let ws: WebSocket | null = null
  let failures = 0
  let quiet = false
  /** While connecting: the connect timeout; while down: the reconnect. */
  let timer: ReturnType<typeof setTimeout> | undefined
  let idle: ReturnType<typeof setTimeout> | undefined
  let beat: ReturnType<typeof setInterval> | undefined

  const send = (frame?: object) => conn.live && frame && ws!.send(JSON.stringify(frame))

  const connect = () => {
    let s: WebSocket
    try {
      s = ws = new WebSocket(url)
    } catch {
      return lost((ws = null))
    }
    // A socket stuck connecting (a proxy that never upgrades) counts as down.
    timer = setTimeout(() => lost(s), options.connectTimeout)
    s.onopen = () => {
      clearTimeout(timer)
      conn.live = true
      quiet = false
      beat = setInterval(() => (quiet ? lost(s) : ((quiet = true), send({ type: 'ping' }))), BEAT)
      for (const sub of subs) sub.down(0), send(sub.hello)
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
      for (const sub of subs) if (f[sub.key] == sub.id && f.stream == sub.stream) sub.frame(f)
    }
    s.onerror = s.onclose = () => lost(s)
  }

  /**
   * Drops socket `s` if it is still the current one, and schedules a
   * reconnect (which closing an idle connection cancels).
   */
  const lost = (s: WebSocket | null) => {
    if (s != ws) return
    close()
    failures++
    for (const sub of subs) sub.down(failures)
    timer = setTimeout(connect, backoff(1000, failures - 1))
  }

  const close = () => {
    const s = ws
    ws = null
    conn.live = false
    clearInterval(beat)
    clearTimeout(timer)
    if (s) (s.onopen = s.onmessage = s.onerror = s.onclose = null), s.close()
  }

  const conn: Conn = {
    live: false,
    add(sub) {
      clearTimeout(idle)
      subs.add(sub)
      if (conn.live) send(sub.hello)
      else if (failures) sub.down(failures)
    },
    remove(sub) {
      if (!subs.delete(sub)) return
      if (![...subs].some((x) => x.key == sub.key && x.id == sub.id && x.stream == sub.stream)) send(sub.bye)
      if (!subs.size) idle = setTimeout(() => (close(), conns.delete(url)), IDLE)
    },
    hello: (sub) => send(sub.hello),
  }
  conns.set(url, conn)
  connect()
  return conn
}
