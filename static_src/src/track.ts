import type { Options } from '../types'
import { TaskAPIError } from './errors'
import { follow, type Follower, type Kind, type State } from './follow'

type Callback<T> = ((v: T) => unknown) | null | undefined

/** The options of one followed call: settings, callbacks and controls. */
export interface Tracked<S, R> extends Options {
  onProgress?: Callback<S>
  onSuccess?: Callback<R>
  onError?: Callback<TaskAPIError>
  onCallbackError?: Callback<TaskAPIError>
  signal?: AbortSignal | null
}

/** A promise of `R` that also offers the first state and a way to cancel. */
export type Tracking<S, R> = Promise<R> & { started: Promise<S>; cancel(): Promise<S | null> }

/**
 * Follows what `create()` makes (or the existing `id`) until it is final, and
 * settles once: resolves with the kind's outcome, rejects with the error that
 * ended it. Callbacks run guarded: an exception in one is reported to
 * `onCallbackError` (else `console.error`) as a `callback_error` and changes nothing.
 */
export function track<S extends State, R>(
  kind: Kind<S, R>,
  o: Tracked<S, R>,
  id: string | null,
  create?: () => Promise<S>,
): Tracking<S, R> {
  const { signal } = o
  /** True once no more state is taken: the promise settled or is about to. */
  let over = false
  let settled = false
  let last: S | null = null
  let follower: Follower<S> | undefined
  let resolve!: (r: R) => void
  let reject!: (e: TaskAPIError) => void
  let ready!: (s: S) => void
  let unready!: (e: TaskAPIError) => void
  const started = new Promise<S>((y, n) => ((ready = y), (unready = n)))
  const promise = new Promise<R>((y, n) => ((resolve = y), (reject = n)))
  const describe = (e: TaskAPIError) => (kind.describe ? kind.describe(e, last) : e)

  function guard<T>(fn: Callback<T>, arg: T) {
    try {
      fn && fn(arg)
    } catch (e) {
      const err = Object.assign(describe(new TaskAPIError('callback_error', 'Callback failed: ' + e)), { cause: e })
      try {
        ;(o.onCallbackError || console.error)(err)
      } catch (x) {
        console.error(x)
      }
    }
  }

  function end() {
    over = true
    follower?.stop()
    signal?.removeEventListener('abort', abort)
  }

  function settle(err: TaskAPIError | null, r?: R) {
    if (settled) return
    settled = true
    end()
    if (err) unready((err = describe(err))), guard(o.onError, err), reject(err)
    else guard(o.onSuccess, r!), resolve(r!)
  }

  function update(s: S) {
    if (over) return
    ready((last = s))
    guard(o.onProgress, s)
    if (!kind.final(s)) return
    end()
    Promise.resolve()
      .then(() => kind.outcome(s, o))
      .then((r) => settle(null, r), settle)
  }

  function begin(uuid: string, known: S | null) {
    id = uuid
    if (known) update(known)
    if (!over) follower = follow(kind, uuid, o, known, update, settle)
    if (over) follower?.stop()
  }

  function cancel(): Promise<S | null> {
    return (id ? Promise.resolve(id) : started.then((s) => s.uuid)).then(
      (uuid) =>
        over
          ? null
          : kind.cancel(uuid, o).then(
              (s) => (follower?.push(s), s),
              (e: TaskAPIError) => {
                const err = kind.cancelFailed?.(e)
                if (err) settle(err)
                return null
              },
            ),
      () => null,
    )
  }
  const abort = () => void cancel()

  started.catch(() => {})
  if (o.onError) promise.catch(() => {})
  if (signal?.aborted) settle(new TaskAPIError('aborted', 'Aborted before start'))
  else {
    signal?.addEventListener('abort', abort)
    if (create) create().then((s) => begin(s.uuid, s), settle)
    else begin(id!, null)
  }
  return Object.assign(promise, { started, cancel })
}
