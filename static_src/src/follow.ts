import type { Options } from '../types'
import { shareCode, TaskAPIError } from './errors'
import { request } from './http'
import { backoff, retryable } from './options'
import { connection, socketOf, type Conn, type Frame, type Sub } from './socket'

/** A state that grows `seq` with every change: a task or a batch JSON. */
export interface State {
  uuid: string
  seq: number
}

/**
 * What can be followed (a task, a batch): all that the follow loop and the
 * promise around it need to know of it. The loop is the same for every kind.
 */
export interface Kind<S extends State, R> {
  /** The frame field naming what is followed, in `subscribe`, `unsubscribe` and every frame about it. */
  key: 'uuid' | 'batch'
  /** The REST path, under `baseURL`, polled for the state of `id`. */
  path(id: string): string
  /**
   * The state after frame `f`, or nothing when the frame changes nothing.
   * `resync()` asks the server for a fresh snapshot, after a missed update.
   */
  merge(state: S | null, f: Frame, resync: () => void): S | undefined | void
  /** True once the state can no longer change. */
  final(s: S): boolean
  /** What the promise resolves with once `s` is final; a rejection (not a throw) is its error. */
  outcome(s: S, o: Options): R | Promise<R>
  /** Asks the server to cancel `id`; resolves with its answer. */
  cancel(id: string, o: Options): Promise<S>
  /** The error to reject with when a cancel request failed; none keeps following. */
  cancelFailed(e: TaskAPIError): TaskAPIError | undefined
  /** The error to reject with, knowing the last state. */
  describe(e: TaskAPIError, s: S | null): TaskAPIError
}

type Callback<T> = ((v: T) => unknown) | null | undefined

/** The options of one follow: settings, callbacks and controls. */
export interface FollowOptions<S, R> extends Options {
  onProgress?: Callback<S>
  onSuccess?: Callback<R>
  onError?: Callback<TaskAPIError>
  onCallbackError?: Callback<TaskAPIError>
  signal?: AbortSignal | null
}

/** A promise of the outcome that also offers the first state and a way to cancel. */
export type Following<S, R> = Promise<R> & { started: Promise<S>; cancel(): Promise<S | null> }

/**
 * Follows what `create()` makes (or the existing `id`) until it is final, and
 * settles once: with the kind's outcome, or with the error that ended it.
 *
 * The state comes over the shared WebSocket; while the socket is down (or
 * always, with `transport: 'polling'`) `GET <baseURL><path>` is polled until
 * it is back. A failed poll that may pass (see `retryable`) is retried with
 * backoff for as long as it takes: only another 4xx ends following, or, with
 * `transport: 'websocket'`, more than `maxRetries` socket failures in a row.
 *
 * Callbacks run guarded: an exception in one is reported to `onCallbackError`
 * (else `console.error`) as a `callback_error` and changes nothing.
 */
export function follow<S extends State, R>(
  kind: Kind<S, R>,
  o: FollowOptions<S, R>,
  id: string | null,
  create?: () => Promise<S>,
): Following<S, R> {
  const { signal } = o
  const socketOnly = o.transport == 'websocket'
  let ready!: (s: S) => void
  let unready!: (e: TaskAPIError) => void
  let resolve!: (r: R) => void
  let reject!: (e: TaskAPIError) => void
  const started = new Promise<S>((y, n) => ((ready = y), (unready = n)))
  const promise = new Promise<R>((y, n) => ((resolve = y), (reject = n)))
  let state: S | null = null
  /** True once no more state is taken: the promise settled or is about to. */
  let over = false
  let conn: Conn | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  /** Generation of the polling loop; bumping it ends the current loop. */
  let gen = 0
  let polling = false
  let resyncing = false

  const guard = <T>(fn: Callback<T>, arg: T) => {
    try {
      fn?.(arg)
    } catch (e) {
      const err = Object.assign(kind.describe(new TaskAPIError('callback_error', 'Callback failed: ' + e), state), { cause: e })
      try {
        ;(o.onCallbackError || console.error)(err)
      } catch (x) {
        console.error(x)
      }
    }
  }

  /** Stops following, and settles once `outcome` does. */
  const end = (outcome: Promise<R>) => {
    over = true
    setPolling(false)
    conn?.remove(sub)
    signal?.removeEventListener('abort', cancel)
    outcome.then(
      (r) => (guard(o.onSuccess, r), resolve(r)),
      (err: TaskAPIError) => (unready((err = kind.describe(err, state))), guard(o.onError, err), reject(err)),
    )
  }

  /** Ends with `err`, unless it already ended. */
  const settle = (err: TaskAPIError) => over || end(Promise.reject(err))

  /** Takes a state from anywhere (a frame, a poll, a cancel answer); stale and unchanged ones are ignored. */
  const push = (s: S) => {
    if (over || (state && s.seq < state.seq)) return
    resyncing = false
    if (JSON.stringify(s) == JSON.stringify(state)) return
    ready((state = s))
    guard(o.onProgress, s)
    if (kind.final(s)) end(Promise.resolve(kind.outcome(s, o)))
  }

  async function poll(g: number, failures = 0) {
    let delay = o.pollInterval
    try {
      const s = await request(o, 'GET', kind.path(id!))
      if (g == gen) push(s)
    } catch (e) {
      if (g != gen) return
      if (!retryable(e as TaskAPIError)) return settle(e as TaskAPIError)
      delay = backoff(delay, ++failures)
    }
    if (g == gen) timer = setTimeout(() => poll(g, failures), delay)
  }

  const setPolling = (on: boolean) => {
    if (on == polling) return
    polling = on
    clearTimeout(timer)
    if (on) poll(++gen)
    else gen++
  }

  /** The socket cannot serve: poll instead, or, socket-only, end with `err`. */
  const unavailable = (err: TaskAPIError) => (socketOnly ? settle(err) : setPolling(true))
  const noSocket = () => new TaskAPIError('network', 'WebSocket unavailable')

  const sub: Sub = {
    key: kind.key,
    id: '',
    hello: {},
    frame(f: Frame) {
      if (f.type != 'error') {
        const s = kind.merge(state, f, () => void (resyncing || ((resyncing = true), conn!.hello(sub))))
        if (s) push(s)
      } else {
        // Refused: REST has the last word (socket-only: the refusal has).
        conn!.remove(sub)
        conn = undefined
        unavailable(new TaskAPIError((!CORE && shareCode(f)) || 'http_error', f.detail || f.code!, null, f.code == 'not_found' ? 404 : null, f))
      }
    },
    down(failures) {
      resyncing = false
      if (!socketOnly) setPolling(failures > 0)
      else if (failures > o.maxRetries) settle(noSocket())
    },
  }

  /** Follows `uuid`, whose state `known` may already be. */
  function begin(uuid: string, known: S | null) {
    sub.id = id = uuid
    sub.hello = { type: 'subscribe', [kind.key]: uuid, ...(!CORE && { share: o.share }) }
    sub.bye = { type: 'unsubscribe', [kind.key]: uuid }
    if (known) push(known)
    if (over) return
    const url = socketOf(o)
    if (url) (conn = connection(url)).add(sub)
    else unavailable(noSocket())
  }

  /** Asks the server to cancel; also what aborting `signal` does. */
  function cancel(): Promise<S | null> {
    return Promise.resolve(id || started.then((s) => s.uuid)).then(
      (uuid) =>
        over
          ? null
          : kind.cancel(uuid, o).then(
              (s) => (push(s), s),
              (e: TaskAPIError) => {
                const err = kind.cancelFailed(e)
                if (err) settle(err)
                return null
              },
            ),
      () => null,
    )
  }

  started.catch(() => {})
  if (o.onError) promise.catch(() => {})
  if (signal?.aborted) settle(new TaskAPIError('aborted', 'Aborted before start'))
  else {
    signal?.addEventListener('abort', cancel)
    if (create) create().then((s) => begin(s.uuid, s), settle)
    else begin(id!, null)
  }
  return Object.assign(promise, { started, cancel })
}
