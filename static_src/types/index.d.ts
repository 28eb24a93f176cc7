/** Type declarations of the Django Task API browser client. */

/** `pending` and `running` change; the other three are final. */
export type Status = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** One entry of a task's `message_log`. */
export interface LogEntry {
  value: unknown
  level: string
  time: string
}

/**
 * The registered tasks, `{name: {inputs: {...}; outputs: {...}}}`: empty here,
 * filled in by the declarations `python manage.py task_api_types` writes
 * (`declare module 'django-task-api' { interface TaskTypes { ... } }`). While it
 * is empty any task name and inputs are accepted.
 */
export interface TaskTypes {}

type Registered = keyof TaskTypes & string
/** A registered task's name; any string while no task declarations are loaded. */
export type TaskName = [Registered] extends [never] ? string : Registered
/** The inputs of task `N`. */
export type InputsOf<N extends string> = N extends Registered
  ? TaskTypes[N] extends { inputs: infer I } ? I : Inputs
  : Inputs
/** The outputs of task `N` once it succeeded. */
export type OutputsOf<N extends string> = N extends Registered
  ? TaskTypes[N] extends { outputs: infer O } ? O : Record<string, any>
  : Record<string, any>
/** The chunk types of the streams task `N` declares, by name (none while no declarations are loaded). */
export type StreamsOf<N extends string> = N extends Registered
  ? TaskTypes[N] extends { streams: infer S } ? S : {}
  : {}
/** The inputs argument, optional when every input is, followed by `Rest`. */
export type InputArgs<N extends string, Rest extends unknown[]> = {} extends InputsOf<N>
  ? [inputs?: InputsOf<N>, ...Rest]
  : [inputs: InputsOf<N>, ...Rest]

/** The task JSON sent by the REST API and the WebSocket alike; `O` types `outputs`. */
export interface Task<O = Record<string, any>> {
  uuid: string
  task: string
  status: Status
  progress: number | null
  target: number | null
  /** `{}` until the task succeeds. */
  outputs: O
  messages: unknown[]
  message_log: LogEntry[]
  error: { type: string; message: string } | null
  created: string
  started: string | null
  finished: string | null
  /** Grows by one with every published change. */
  seq: number
  attempt: number
  cancel_requested: boolean
  /** How many chunks each stream of the task holds, e.g. `{answer: 120}`. */
  streams: Record<string, number>
}

/** `auto` uses the WebSocket and, while it is unavailable, polls (streams: Server-Sent Events first). */
export type Transport = 'auto' | 'websocket' | 'polling'

export interface Options {
  /** REST base URL; default `/tasks/`. */
  baseURL: string
  /** WebSocket URL, relative ones resolved against `location` (http -> ws, https -> wss); default `/ws/tasks/`. */
  wsURL: string
  /** Default `csrftoken`. */
  csrfCookieName: string
  /** Default `X-CSRFToken`. */
  csrfHeaderName: string
  /** Milliseconds between polls; default 1000. */
  pollInterval: number
  /** Default `auto`. */
  transport: Transport
  /**
   * With `transport: 'websocket'`, failed connections in a row before the promise
   * rejects; default 5. Polling retries failures that may pass until the task ends.
   */
  maxRetries: number
  /** `fetch` credentials mode; default `same-origin`. */
  credentials: RequestCredentials
  /** Milliseconds a request may take before it fails as a network error; default 15000. */
  timeout: number
  /** Milliseconds a WebSocket may take to open before it counts as down; default 5000. */
  connectTimeout: number
  /**
   * Start tasks with a `start` frame when the shared WebSocket is already open
   * (one round trip, the task watched at once), else by `POST`; default true.
   */
  startFrame: boolean
  /**
   * A share link's token: sent as the `X-Share-Token` header of every request,
   * in `subscribe` frames and as `?share=` on Server-Sent Events, so that a
   * page without a login reads and follows the task or batch it opens.
   */
  share?: string | null
}

export type ErrorCode =
  | 'failed'
  | 'cancelled'
  | 'bad_request'
  | 'http_error'
  | 'network'
  | 'aborted'
  | 'callback_error'
  | 'share_invalid'
  | 'share_expired'
  | 'share_revoked'

/**
 * The error every rejection carries. When a task JSON is known its fields are
 * copied onto the error too (`err.status`, `err.uuid`, `err.task`, `err.outputs`,
 * ...), as the 1.x client rejected with the task JSON itself; `json` holds it whole.
 */
export declare class TaskAPIError extends Error {
  constructor(code: ErrorCode, message: string, task?: Task | null, httpStatus?: number | null, body?: unknown)
  code: ErrorCode
  /** The last task JSON seen, or null. */
  json: Task | null
  /** HTTP status of a failed request, or null. */
  httpStatus: number | null
  /** Parsed body of a failed request, e.g. `{"inputs": {"count": ["..."]}}`. */
  body: unknown
  /** The underlying error (network failure, exception thrown by a callback). */
  cause?: unknown
}
export interface TaskAPIError extends Partial<Task> {}

/**
 * Per-call options: any of {@link Options} plus callbacks and controls. `O` types
 * the outputs, `S` the chunks of the streams the task declares.
 */
export interface CallOptions<O = Record<string, any>, S = {}> extends Partial<Options> {
  /** Called with the task JSON on every change, the first known state included. */
  onProgress?: ((task: Task<Partial<O>>) => void) | null
  /** Called with the final task JSON once it `succeeded`. */
  onSuccess?: ((task: Task<O>) => void) | null
  /** Called with the {@link TaskAPIError} the promise rejects with. */
  onError?: ((error: TaskAPIError) => void) | null
  /** Told of an exception thrown by a callback (code `callback_error`); default `console.error`. */
  onCallbackError?: ((error: TaskAPIError) => void) | null
  /** Aborting it cancels the task, like `promise.cancel()`. */
  signal?: AbortSignal | null
  /** The key that makes a repeated start return the same task; default a new random one per start. */
  idempotencyKey?: string | null
  /**
   * Streams of the task to read while following it, by name (typed as the task
   * declares them); the promise then settles once the task is final and each of
   * them has ended.
   */
  streams?: ({ [K in keyof S as string extends K ? never : K]?: StreamOptions<S[K]> } & { [name: string]: StreamOptions<any> }) | null
}

/** How one stream is read along with its task: from where, and what takes its chunks. */
export interface StreamOptions<C = unknown> {
  /** The position to read from: 0 (the default) for the whole stream, or a `next` kept from an earlier read. */
  offset?: number
  /**
   * Called with new chunks, in order, each once: `chunks[0]` is at position
   * `offset`, so `offset + chunks.length` is where to read on from after a reload.
   */
  onChunks?: ((chunks: C[], offset: number) => void) | null
}

/** Options of {@link stream}: any of {@link Options}, and the position to read from. */
export interface StreamCallOptions extends Partial<Options> {
  /** The position to read from: 0 (the default), or a `position` kept from an earlier read. */
  offset?: number
}

/** The chunks of one stream, one at a time (`for await`), until the stream is done. */
export interface ChunkStream<C = unknown> extends AsyncIterableIterator<C> {
  /** The position after the last chunk handed out: read on from there after a reload. */
  readonly position: number
}

/** Settles once the task is final: resolves on `succeeded`, rejects otherwise. */
export interface TaskPromise<O = Record<string, any>> extends Promise<Task<O>> {
  /** The first task JSON: the answer to the POST for `run`, the first state seen for `watch`. */
  started: Promise<Task<Partial<O>>>
  /**
   * Asks the server to cancel the task. Resolves with the server's answer, or
   * null when there was nothing to cancel. This promise then rejects with code
   * `cancelled` once the server reports it (or `aborted` if the cancel request failed).
   */
  cancel(): Promise<Task | null>
}

export type Inputs = Record<string, unknown>
export type ProgressCallback<O = Record<string, any>> = ((task: Task<Partial<O>>) => void) | null | undefined
export type SuccessCallback<O = Record<string, any>> = ((task: Task<O>) => void) | null | undefined
export type ErrorCallback = ((error: TaskAPIError) => void) | null | undefined

/** Defaults for every call; change them in place. */
export declare const options: Options

/** Starts task `name` and follows it to its end. */
export declare function run<N extends TaskName>(
  name: N,
  ...args: InputArgs<N, [options?: CallOptions<OutputsOf<N>, StreamsOf<N>>]>
): TaskPromise<OutputsOf<N>>
export declare function run<N extends TaskName>(
  name: N,
  ...args: InputArgs<
    N,
    [progressCallback?: ProgressCallback<OutputsOf<N>>, callback?: SuccessCallback<OutputsOf<N>>, errback?: ErrorCallback]
  >
): TaskPromise<OutputsOf<N>>

/** Follows an existing task, e.g. after a page reload. */
export declare function watch(uuid: string, options?: CallOptions): TaskPromise
export declare function watch(
  uuid: string,
  progressCallback?: ProgressCallback,
  callback?: SuccessCallback,
  errback?: ErrorCallback,
): TaskPromise

/**
 * Reads stream `name` of task `uuid` from `offset` (default 0), each chunk once
 * and in order, until the task has ended and every chunk was handed out. `C`
 * types the chunks (text, or the JSON values the task writes).
 */
export declare function stream<C = unknown>(uuid: string, name: string, options?: StreamCallOptions): ChunkStream<C>

/** Creates a task (`POST baseURL`) and resolves with its JSON. */
export declare function start<N extends TaskName>(
  name: N,
  ...args: InputArgs<N, [options?: Partial<Options> & { idempotencyKey?: string | null }]>
): Promise<Task<Partial<OutputsOf<N>>>>

/** Asks the server to cancel a task (`POST baseURL<uuid>/cancel/`); resolves with its answer. */
export declare function cancel(uuid: string, options?: Partial<Options>): Promise<Task>

/** Fetches a task's current JSON (`GET baseURL<uuid>/`). */
export declare function get(uuid: string, options?: Partial<Options>): Promise<Task>

/** The batch JSON: counts and sums over its tasks (`GET baseURL + 'batches/<uuid>/'`). */
export interface Batch {
  uuid: string
  /** `pending`/`running` until every task is final; then `failed` if any failed, else `cancelled` if any was, else `succeeded`. */
  status: Status
  total: number
  counts: Record<Status, number>
  /** Sum of the tasks' progress, over tasks that report one; null if none does. */
  progress: number | null
  /** Sum of the tasks' targets, over tasks that set one; null if none does. */
  target: number | null
  created: string
  finished: string | null
  /** Grows with every change of any of its tasks. */
  seq: number
  /** The tasks' uuids in start order (in snapshots and REST answers; updates omit them). */
  tasks?: string[]
}

/** What a batch promise resolves with once every task ended, whatever their outcomes. */
export interface BatchResult {
  batch: Batch
  /** Each task's final JSON, in the batch's order: `outputs` if it succeeded, `error` otherwise. */
  tasks: Task[]
}

export interface BatchCallOptions extends Partial<Options> {
  /** Called with the batch JSON on every change of its aggregate. */
  onProgress?: ((batch: Batch) => void) | null
  /** Called with the result once every task ended. */
  onSuccess?: ((result: BatchResult) => void) | null
  /** Called with the error the promise rejects with (a bad request, a network failure). */
  onError?: ((error: TaskAPIError) => void) | null
  /** Told of an exception thrown by a callback (code `callback_error`); default `console.error`. */
  onCallbackError?: ((error: TaskAPIError) => void) | null
  /** Aborting it cancels the batch, like `promise.cancel()`; one already aborted rejects with `aborted`. */
  signal?: AbortSignal | null
}

/**
 * Resolves once every task of the batch ended; rejects only if the batch
 * cannot be started or read (or `signal` was aborted before it started).
 */
export interface BatchPromise extends Promise<BatchResult> {
  /** The first batch JSON: the answer to the POST for `runAll`, the first state seen for `watchBatch`. */
  started: Promise<Batch>
  /** Cancels every unfinished task; resolves with the server's answer, or null. */
  cancel(): Promise<Batch | null>
}

/** Starts several tasks as one batch and follows its aggregate until every task ended. */
export declare function runAll(starts: { task: string; inputs?: Inputs }[], options?: BatchCallOptions): BatchPromise
/** Follows an existing batch, e.g. after a page reload. */
export declare function watchBatch(uuid: string, options?: BatchCallOptions): BatchPromise
/** Creates a batch (`POST baseURL + 'batches/'`) and resolves with its JSON. */
export declare function startBatch(starts: { task: string; inputs?: Inputs }[], options?: Partial<Options>): Promise<Batch>
/** Fetches a batch's current JSON. */
export declare function getBatch(uuid: string, options?: Partial<Options>): Promise<Batch>
/** Cancels every unfinished task of a batch; resolves with the batch JSON. */
export declare function cancelBatch(uuid: string, options?: Partial<Options>): Promise<Batch>

/** What {@link share} and {@link shareBatch} take: any of {@link Options}, and the link's terms. */
export interface ShareOptions extends Partial<Options> {
  /** Seconds the link lasts; default the server's `TASK_API_SHARE_EXPIRY`, at most `TASK_API_SHARE_MAX_EXPIRY`. */
  expiresIn?: number | null
  /** Whether its holder may cancel the task or batch; default false. */
  canCancel?: boolean | null
}

/** A new share link: its token is shown this once (the server keeps only its hash). */
export interface ShareLink {
  /** What its holder passes as the `share` option. */
  token: string
  /** When it expires (ISO 8601). */
  expires: string
  canCancel: boolean
}

/**
 * Makes a share link to task `uuid` (`POST baseURL<uuid>/share/`): whoever holds
 * its token reads and follows the task without logging in (the `share` option),
 * until it expires or is revoked. Only whoever may cancel the task can make one.
 */
export declare function share(uuid: string, options?: ShareOptions): Promise<ShareLink>
/** Makes a share link to batch `uuid` and its tasks (`POST baseURL + 'batches/<uuid>/share/'`). */
export declare function shareBatch(uuid: string, options?: ShareOptions): Promise<ShareLink>
/** Revokes the share link `token` of task `uuid`, or every one of them; resolves with how many were live. */
export declare function revokeShares(uuid: string, token?: string | null, options?: Partial<Options>): Promise<number>
/** Revokes the share link `token` of batch `uuid`, or every one of them; resolves with how many were live. */
export declare function revokeBatchShares(uuid: string, token?: string | null, options?: Partial<Options>): Promise<number>

declare const TaskAPI: {
  options: Options
  run: typeof run
  watch: typeof watch
  start: typeof start
  cancel: typeof cancel
  get: typeof get
  stream: typeof stream
  TaskAPIError: typeof TaskAPIError
  runAll: typeof runAll
  watchBatch: typeof watchBatch
  startBatch: typeof startBatch
  getBatch: typeof getBatch
  cancelBatch: typeof cancelBatch
  share: typeof share
  shareBatch: typeof shareBatch
  revokeShares: typeof revokeShares
  revokeBatchShares: typeof revokeBatchShares
}
export default TaskAPI
