/** Batches: start several tasks as one and follow them with one aggregate. */
import type { Batch, BatchCallOptions, BatchPromise, BatchResult, Inputs, Options, Task } from '../types'
import type { TaskAPIError } from './errors'
import { follow, type Kind } from './follow'
import { request } from './http'
import { backoff, retryable, settings } from './options'

type Starts = { task: string; inputs?: Inputs }[]

/** Starts several tasks as one batch (`POST baseURL + 'batches/'`); resolves with the batch JSON. */
export const startBatch = (starts: Starts, o?: Partial<Options>): Promise<Batch> =>
  request(settings(o), 'POST', 'batches/', { tasks: starts.map((s) => ({ task: s.task, inputs: s.inputs || {} })) })

/** Fetches a batch's current JSON. */
export const getBatch = (uuid: string, o?: Partial<Options>): Promise<Batch> => request(settings(o), 'GET', 'batches/' + uuid + '/')

/** Asks the server to cancel every unfinished task of a batch. */
export const cancelBatch = (uuid: string, o?: Partial<Options>): Promise<Batch> =>
  request(settings(o), 'POST', 'batches/' + uuid + '/cancel/')

/** Starts several tasks as one batch and follows it until every task ended. */
export const runAll = (starts: Starts, o?: BatchCallOptions): BatchPromise =>
  follow(batchKind, settings(o), null, () => startBatch(starts, o))

/** Follows an existing batch, e.g. after a page reload. */
export const watchBatch = (uuid: string, o?: BatchCallOptions): BatchPromise => follow(batchKind, settings(o), uuid)

/** A GET under `baseURL`, retried as a follow's polls are while it fails in a way that may pass. */
async function read(o: Options, path: string, failures = 0): Promise<any> {
  try {
    return await request(o, 'GET', path)
  } catch (e) {
    if (!retryable(e as TaskAPIError)) throw e
    await new Promise((y) => setTimeout(y, backoff(o.pollInterval, ++failures)))
    return read(o, path, failures)
  }
}

/**
 * Every task JSON of a finished batch, in the batch's order (`GET baseURL?batch=`,
 * 200 a page). A share link opens no list: with `share`, each task is read by itself.
 */
async function results(o: Options, b: Batch): Promise<Task[]> {
  if (o.share) return Promise.all((b.tasks || []).map((uuid) => read(o, uuid + '/')))
  const found = new Map<string, Task>()
  for (let page = 1; ; page++) {
    const data = await read(o, `?batch=${b.uuid}&page_size=200&page=${page}`)
    for (const t of data.results as Task[]) found.set(t.uuid, t)
    if (!data.next) break
  }
  const order = b.tasks || [...found.keys()]
  return order.map((uuid) => found.get(uuid)!).filter(Boolean)
}

type BatchFrame = { data?: Batch; set?: Partial<Batch> }

/**
 * A batch: `subscribe` by `batch`; a `batch_snapshot` replaces the state and a
 * `batch_update` (the whole aggregate without `tasks`) replaces all but the
 * task list, unless its seq is not above the last; polled at
 * `GET <baseURL>batches/<uuid>/`; final once every task is, then resolves
 * with every task's final JSON. A failed cancel request changes nothing.
 */
const batchKind: Kind<Batch, BatchResult> = {
  key: 'batch',
  path: (uuid) => 'batches/' + uuid + '/',
  merge(b, f) {
    const { data, set } = f as BatchFrame
    if (f.type == 'batch_snapshot') return data
    if (f.type == 'batch_update' && set && !(b && f.seq <= b.seq)) return { ...b!, ...set }
  },
  final: (b) => b.total > 0 && b.status != 'pending' && b.status != 'running',
  outcome: (batch, o) => results(o, batch).then((tasks) => ({ batch, tasks })),
  cancel: cancelBatch,
  cancelFailed: () => undefined,
  describe: (e) => e,
}
