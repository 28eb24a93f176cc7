import type { Batch, BatchCallOptions, BatchPromise, BatchResult, Inputs, Options, Task } from '../types'
import { TaskAPIError } from './errors'
import { request } from './http'
import { backoff, options } from './options'
import { connection, socketURL, type Frame, type Sub } from './socket'

type Settings = Options & BatchCallOptions

const settings = (o?: Partial<Settings> | null): Settings => ({ ...options, ...o })

/** True once every task of the batch is final. */
const isFinal = (b: Batch) => b.total > 0 && b.status != 'pending' && b.status != 'running'

/** Starts several tasks as one batch (`POST baseURL + 'batches/'`); resolves with the batch JSON. */
export const startBatch = (starts: { task: string; inputs?: Inputs }[], o?: Partial<Options>): Promise<Batch> =>
  request(settings(o), 'POST', 'batches/', { tasks: starts.map((s) => ({ task: s.task, inputs: s.inputs || {} })) })

/** Fetches a batch's current JSON. */
export const getBatch = (uuid: string, o?: Partial<Options>): Promise<Batch> =>
  request(settings(o), 'GET', 'batches/' + uuid + '/')

/** Asks the server to cancel every unfinished task of a batch. */
export const cancelBatch = (uuid: string, o?: Partial<Options>): Promise<Batch> =>
  request(settings(o), 'POST', 'batches/' + uuid + '/cancel/')

/** Every task JSON of a finished batch, in the batch's order (`GET baseURL?batch=`, 200 a page). */
async function results(o: Settings, b: Batch): Promise<Task[]> {
  const found = new Map<string, Task>()
  for (let page = 1; ; page++) {
    const data = await request(o, 'GET', `?batch=${b.uuid}&page_size=200&page=${page}`)
    for (const t of data.results as Task[]) found.set(t.uuid, t)
    if (!data.next) break
  }
  const order = b.tasks || [...found.keys()]
  return order.map((uuid) => found.get(uuid)!).filter(Boolean)
}

/** Starts several tasks as one batch and follows it until every task ended. */
export const runAll = (starts: { task: string; inputs?: Inputs }[], o?: BatchCallOptions): BatchPromise =>
  track(settings(o), null, () => startBatch(starts, o))

/** Follows an existing batch, e.g. after a page reload. */
export const watchBatch = (uuid: string, o?: BatchCallOptions): BatchPromise => track(settings(o), uuid)

function call<T>(fn: ((v: T) => unknown) | null | undefined, arg: T) {
  try {
    fn && fn(arg)
  } catch (e) {
    console.error(e)
  }
}

function track(o: Settings, uuid: string | null, create?: () => Promise<Batch>): BatchPromise {
  let done = false
  let last: Batch | null = null
  let stopFollowing = () => {}
  let resolve!: (r: BatchResult) => void
  let reject!: (e: TaskAPIError) => void
  let ready!: (b: Batch) => void
  let unready!: (e: TaskAPIError) => void
  const started = new Promise<Batch>((y, n) => ((ready = y), (unready = n)))
  const promise = new Promise<BatchResult>((y, n) => ((resolve = y), (reject = n)))
  started.catch(() => {})
  if (o.onError) promise.catch(() => {})

  function fail(err: TaskAPIError) {
    if (done) return
    done = true
    stopFollowing()
    unready(err)
    call(o.onError, err)
    reject(err)
  }

  function update(b: Batch) {
    if (done || (last && b.seq <= last.seq)) return
    last = { ...b, tasks: b.tasks || last?.tasks }
    ready(last)
    call(o.onProgress, last)
    if (!isFinal(last)) return
    done = true
    stopFollowing()
    const final = last
    results(o, final).then(
      (tasks) => {
        const result = { batch: final, tasks }
        call(o.onSuccess, result)
        resolve(result)
      },
      (e: TaskAPIError) => ((done = false), fail(e)),
    )
  }

  function begin(id: string, known: Batch | null) {
    uuid = id
    if (known) update(known)
    if (!done) stopFollowing = follow(id, o, update, fail)
  }

  const cancel = (): Promise<Batch | null> =>
    (uuid ? Promise.resolve(uuid) : started.then((b) => b.uuid)).then(
      (id) => (done ? null : cancelBatch(id, o).then((b) => (update(b), b), () => null)),
      () => null,
    )

  if (create) create().then((b) => begin(b.uuid, b), fail)
  else begin(uuid!, null)
  return Object.assign(promise, { started, cancel })
}

/** Follows batch `uuid` over the shared WebSocket, polling while it is down; returns `stop`. */
function follow(uuid: string, o: Settings, update: (b: Batch) => void, fail: (e: TaskAPIError) => void) {
  let timer: ReturnType<typeof setTimeout> | undefined
  let gen = 0
  let polling = false
  let conn: ReturnType<typeof connection> | undefined

  async function poll(g: number, failures = 0) {
    let delay = o.pollInterval
    try {
      const b = await getBatch(uuid, o)
      if (g == gen) update(b)
    } catch (e) {
      const err = e as TaskAPIError
      if (g != gen) return
      if (!(err.code == 'network' || err.httpStatus! >= 500 || err.httpStatus == 429) || ++failures > o.maxRetries)
        return fail(err)
      delay = backoff(delay, failures)
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

  const sub: Sub = {
    uuid,
    batch: true,
    frame(f: Frame) {
      const data = f as unknown as { data?: Batch; set?: Batch }
      if (f.type == 'batch_snapshot' && data.data) update(data.data)
      else if (f.type == 'batch_update' && data.set) update(data.set)
      else if (f.type == 'error') {
        conn?.remove(sub)
        conn = undefined
        if (o.transport != 'websocket') setPolling(true)
        else fail(new TaskAPIError('http_error', f.detail || f.code!, null, f.code == 'not_found' ? 404 : null, f))
      }
    },
    down(failures) {
      if (o.transport != 'websocket') setPolling(failures > 0)
      else if (failures > o.maxRetries) fail(new TaskAPIError('network', 'WebSocket unavailable'))
    },
  }

  let url = ''
  try {
    url = o.transport != 'polling' && typeof WebSocket == 'function' ? socketURL(o.wsURL) : ''
  } catch {}
  if (url) (conn = connection(url)).add(sub)
  else if (o.transport != 'websocket') setPolling(true)
  else fail(new TaskAPIError('network', 'WebSocket unavailable'))
  return () => {
    setPolling(false)
    conn?.remove(sub)
    conn = undefined
  }
}
