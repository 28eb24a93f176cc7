import type { CallOptions, Inputs, Options, Task, TaskPromise } from '../types'
import { TaskAPIError, taskError, withTask } from './errors'
import { follow, type Kind } from './follow'
import { request } from './http'
import { settings } from './options'

type Callback<T> = ((v: T) => unknown) | null | undefined

/** Reads the callbacks form `(progressCallback, callback, errback)` or an options object. */
export const callSettings = (a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>) =>
  settings<CallOptions>(a && typeof a == 'object' ? a : ({ onProgress: a, onSuccess: b, onError: c } as CallOptions))

/** What the whole API adds to the core's ways (the core alone has none). */
export const extras: {
  /**
   * Starts a task with a `start` frame over the open socket (see
   * start-frame.ts); nothing when no frame can be sent. `post` is the same
   * start by `POST`, with the same idempotency key.
   */
  startFrame?: (o: Options, body: { task: string; inputs: Inputs; idempotency_key: string }, post: () => Promise<Task>) => Promise<Task> | undefined
} = {}

/**
 * Creates a task and resolves with its JSON: by a `start` frame when the
 * shared socket is open (`startFrame`, in the whole API), else by `POST
 * baseURL`. Every start has an idempotency key, so a frame that got no answer
 * is posted again and the task starts once.
 */
export const start = (name: string, inputs: Inputs = {}, o?: Partial<CallOptions>): Promise<Task> => {
  const s = settings(o)
  const key = s.idempotencyKey || globalThis.crypto?.randomUUID?.() || Math.random() + '-' + Date.now()
  const post = () => request(s, 'POST', '', { task: name, inputs }, key)
  return extras.startFrame?.(s, { task: name, inputs, idempotency_key: key }, post) || post()
}

/** Asks the server to cancel a task; resolves with its answer. */
export const cancel = (uuid: string, o?: Partial<Options>): Promise<Task> => request(settings(o), 'POST', uuid + '/cancel/')

/** Fetches a task's current JSON. */
export const get = (uuid: string, o?: Partial<Options>): Promise<Task> => request(settings(o), 'GET', uuid + '/')

/** Starts task `name` and follows it to its end. */
export const run = (name: string, inputs?: Inputs, a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>): TaskPromise => {
  const o = callSettings(a, b, c)
  return follow(taskKind, o, null, () => start(name, inputs, o))
}

/** Follows an existing task, e.g. after a page reload. */
export const watch = (uuid: string, a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>): TaskPromise =>
  follow(taskKind, callSettings(a, b, c), uuid)

/**
 * A task: `subscribe` by `uuid`, a `snapshot` replaces the state and an
 * `update` applies on the seq it names (a gap asks for a fresh snapshot);
 * polled at `GET <baseURL><uuid>/`; resolves with the final JSON once it
 * `succeeded`, rejects otherwise. Every error carries the last task JSON.
 */
export const taskKind: Kind<Task, Task> = {
  key: 'uuid',
  path: (uuid) => uuid + '/',
  merge(t, f, resync) {
    if (f.type == 'snapshot') return f.task
    if (f.type != 'update' || !t || f.seq <= t.seq) return
    if ((f.base ?? f.seq - 1) != t.seq) return resync()
    const append = f.append || []
    return {
      ...t,
      ...f.set,
      seq: f.seq,
      messages: t.messages.concat(append.map((e) => e.value)),
      message_log: t.message_log.concat(append),
    }
  },
  final: (t) => /^(succeeded|failed|cancelled)$/.test(t.status),
  outcome: (t) => (t.status == 'succeeded' ? t : Promise.reject(taskError(t))),
  cancel,
  // A finished task cannot be cancelled (409): it settles as it ended.
  cancelFailed: (e) =>
    e.httpStatus == 409
      ? undefined
      : Object.assign(new TaskAPIError('aborted', 'Cancel failed: ' + e.message, null, e.httpStatus, e.body), { cause: e }),
  describe: withTask,
}
