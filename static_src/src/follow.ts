import type { Options } from '../types'
import { TaskAPIError } from './errors'
import { request } from './http'
import { backoff, retryable } from './options'
import { connection, socketURL, type Conn, type Frame, type Sub } from './socket'

/** A state that grows `seq` with every change: a task or a batch JSON. */
export interface State {
  uuid: string
  seq: number
}

/**
 * What can be followed (a task, a batch): everything the follow loop and the
 * promise around it need to know of it. The loop itself is the same for all.
 */
export interface Kind<S extends State, R> {
  /** The frame field naming what is followed, in `subscribe`, `unsubscribe` and every frame about it. */
  key: Sub['key']
  /** The REST path, under `baseURL`, polled for the state of `id`. */
  path(id: string): string
  /**
   * The state after frame `f`, or undefined when the frame changes nothing.
   * `resync()` asks the server for a fresh snapshot, after a missed update.
   */
  merge(state: S | null, f: Frame, resync: () => void): S | undefined | void
  /** True once the state can no longer change. */
  final(s: S): boolean
  /** What the promise resolves with once `s` is final; a rejection is its error. */
  outcome(s: S, o: Options): R | Promise<R>
  /** Asks the server to cancel `id`; resolves with its answer. */
  cancel(id: string, o: Options): Promise<S>
  /** The error that ends following when a cancel request failed, if any. */
  cancelFailed?(e: TaskAPIError): TaskAPIError | undefined
  /** Adds the last known state to an error, if the kind does that. */
  describe?(e: TaskAPIError, s: S | null): TaskAPIError
}

/** Controls one follow. */
export interface Follower<S> {
  /** Offers a state from elsewhere (e.g. a cancel answer); stale ones are ignored. */
  push(s: S): void
  stop(): void
}

/**
 * Follows `id` over the shared WebSocket, polling `GET <baseURL><path>` while
 * the socket is down (or always, with `transport: 'polling'`) and until it is
 * back. A failed poll that may pass (see `retryable`) is retried with backoff
 * for as long as it takes: only another 4xx ends following, or, with
 * `transport: 'websocket'`, more than `maxRetries` socket failures in a row.
 * `update` gets each new state; `fail` the error that ends following.
 * `known` is a state already reported, if any.
 */
export function follow<S extends State>(
  kind: Kind<S, unknown>,
  id: string,
  o: Options,
  known: S | null,
  update: (s: S) => void,
  fail: (e: TaskAPIError) => void,
): Follower<S> {
  let state = known
  let conn: Conn | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  /** Generation of the polling loop; bumping it ends the current loop. */
  let gen = 0
  let polling = false
  let resyncing = false
  const socketOnly = o.transport == 'websocket'

  function push(s: S) {
    if (state && s.seq < state.seq) return
    resyncing = false
    if (JSON.stringify(s) != JSON.stringify(state)) update((state = s))
  }

  async function poll(g: number, failures = 0) {
    let delay = o.pollInterval
    try {
      const s = await request(o, 'GET', kind.path(id))
      if (g == gen) push(s)
    } catch (e) {
      if (g != gen) return
      if (!retryable(e as TaskAPIError)) return fail(e as TaskAPIError)
      delay = backoff(delay, ++failures)
    }
    if (g == gen) timer = setTimeout(() => poll(g, failures), delay)
  }

  function setPolling(on: boolean) {
    if (on == polling) return
    polling = on
    clearTimeout(timer)
    if (on) poll(++gen)
    else gen++
  }

  function detach() {
    conn?.remove(sub)
    conn = undefined
  }

  /** The socket cannot serve: poll instead, or, socket-only, end with `err`. */
  const unavailable = (err: TaskAPIError) => (socketOnly ? fail(err) : setPolling(true))
  const noSocket = () => new TaskAPIError('network', 'WebSocket unavailable')

  const sub: Sub = {
    key: kind.key,
    id,
    frame(f: Frame) {
      if (f.type == 'error') {
        // Refused: REST has the last word (or, socket-only, the refusal).
        detach()
        unavailable(new TaskAPIError('http_error', f.detail || f.code!, null, f.code == 'not_found' ? 404 : null, f))
      } else {
        const s = kind.merge(state, f, () => void (resyncing || ((resyncing = true), conn?.subscribe(sub))))
        if (s) push(s)
      }
    },
    down(failures) {
      resyncing = false
      if (!socketOnly) setPolling(failures > 0)
      else if (failures > o.maxRetries) fail(noSocket())
    },
  }

  let url = ''
  try {
    url = o.transport != 'polling' && typeof WebSocket == 'function' ? socketURL(o.wsURL) : ''
  } catch {}
  if (url) (conn = connection(url)).add(sub)
  else unavailable(noSocket())

  return {
    push,
    stop() {
      setPolling(false)
      detach()
    },
  }
}
