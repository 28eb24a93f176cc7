import type { CallOptions, Inputs, Options, Task, TaskPromise } from '../types'
import { cancelBatch, getBatch, runAll, startBatch, watchBatch } from './batch'
import { TaskAPIError, taskError, withTask } from './errors'
import { apiError, request } from './http'
import { isTerminal, options } from './options'
import { existing } from './socket'
import { follow, type Follower } from './watcher'

type Callback<T> = ((v: T) => unknown) | null | undefined
type Settings = Options & CallOptions

/** `TaskAPI.options` overridden by a call's own options. */
const settings = (o?: Partial<Settings> | null): Settings => ({ ...TaskAPI.options, ...o })

/** Reads the callbacks form `(progressCallback, callback, errback)` or an options object. */
const callSettings = (a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>) =>
  settings(a && typeof a == 'object' ? a : { onProgress: a, onSuccess: b, onError: c } as CallOptions)

/**
 * Creates a task and resolves with its JSON: by a `start` frame when the
 * shared socket is open (and `startFrame` is on), else by `POST baseURL`. Every
 * start has an idempotency key, so a frame that got no answer is posted again
 * and the task starts once.
 */
export const start = (name: string, inputs: Inputs = {}, o?: Partial<Settings>): Promise<Task> => {
  const s = settings(o)
  const body = { task: name, inputs }
  const key = s.idempotencyKey || globalThis.crypto?.randomUUID?.() || Math.random() + '-' + Date.now()
  const post = () => request(s, 'POST', '', body, key)
  let sent
  try {
    sent = s.startFrame && s.transport != 'polling' && existing(s.wsURL)?.start({ ...body, idempotency_key: key }, s.timeout)
  } catch {}
  return sent
    ? sent.then((f) =>
        !f || f.code == 'too_many' ? post() : f.type == 'started' ? f.task : Promise.reject(apiError(f.status!, f.errors || { detail: f.detail })),
      )
    : post()
}

/** Asks the server to cancel a task; resolves with its answer. */
export const cancel = (uuid: string, o?: Partial<Options>): Promise<Task> => request(settings(o), 'POST', uuid + '/cancel/')

/** Fetches a task's current JSON. */
export const get = (uuid: string, o?: Partial<Options>): Promise<Task> => request(settings(o), 'GET', uuid + '/')

/** Starts task `name` and follows it to its end. */
export const run = (name: string, inputs?: Inputs, a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>) => {
  const o = callSettings(a, b, c)
  return track(o, null, () => start(name, inputs, o))
}

/** Follows an existing task, e.g. after a page reload. */
export const watch = (uuid: string, a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>) =>
  track(callSettings(a, b, c), uuid)

/**
 * Calls user code; an exception is reported to `onCallbackError` (else
 * `console.error`) as a `callback_error` and does not change the outcome.
 */
function guard<T>(o: Settings, fn: Callback<T>, arg: T, task: Task | null) {
  try {
    fn && fn(arg)
  } catch (e) {
    const err = Object.assign(new TaskAPIError('callback_error', 'Callback failed: ' + e, task), { cause: e })
    try {
      ;(o.onCallbackError || console.error)(err)
    } catch (x) {
      console.error(x)
    }
  }
}

/** Follows a task created by `create()` (or the existing `uuid`) and settles once it is final. */
function track(o: Settings, uuid: string | null, create?: () => Promise<Task>): TaskPromise {
  const { signal } = o
  let done = false
  let last: Task | null = null
  let follower: Follower | undefined
  let resolve!: (t: Task) => void
  let reject!: (e: TaskAPIError) => void
  let ready!: (t: Task) => void
  let unready!: (e: TaskAPIError) => void
  const started = new Promise<Task>((y, n) => ((ready = y), (unready = n)))
  const promise = new Promise<Task>((y, n) => ((resolve = y), (reject = n)))

  function settle(err: TaskAPIError | null, t?: Task) {
    if (done) return
    done = true
    follower?.stop()
    signal?.removeEventListener('abort', abort)
    if (err) unready(err), guard(o, o.onError, err, last), reject(err)
    else guard(o, o.onSuccess, t!, t!), resolve(t!)
  }

  function update(t: Task) {
    if (done) return
    ready((last = t))
    guard(o, o.onProgress, t, t)
    if (isTerminal(t)) settle(t.status == 'succeeded' ? null : taskError(t), t)
  }

  function begin(uuid: string, known: Task | null) {
    if (known) update(known)
    if (!done) follower = follow(uuid, o, known, update, settle)
    if (done) follower?.stop()
  }

  function stop(): Promise<Task | null> {
    return (uuid ? Promise.resolve(uuid) : started.then((t) => t.uuid)).then(
      (uuid) =>
        done
          ? null
          : cancel(uuid, o).then(
              (t) => (follower?.push(t), t),
              (e: TaskAPIError) => {
                if (e.httpStatus != 409) {
                  const err = new TaskAPIError('aborted', 'Cancel failed: ' + e.message, null, e.httpStatus, e.body)
                  settle(withTask(Object.assign(err, { cause: e }), last))
                }
                return null
              },
            ),
      () => null,
    )
  }
  const abort = () => void stop()

  started.catch(() => {})
  if (o.onError) promise.catch(() => {})
  if (signal?.aborted) settle(new TaskAPIError('aborted', 'Aborted before start'))
  else {
    signal?.addEventListener('abort', abort)
    if (create) create().then((t) => begin(t.uuid, t), settle)
    else begin(uuid!, null)
  }
  return Object.assign(promise, { started, cancel: stop })
}

/** The API object: the `TaskAPI` global, the default export and the CommonJS module. */
const TaskAPI = { options, run, watch, start, cancel, get, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch }
export { options, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch }
export default TaskAPI
