/** Type declarations of the Django Task API browser client. */

/** `pending` and `running` change; the other three are final. */
export type Status = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** One entry of a task's `message_log`. */
export interface LogEntry {
  value: unknown
  level: string
  time: string
}

/** The task JSON sent by the REST API and the WebSocket alike. */
export interface Task {
  uuid: string
  task: string
  status: Status
  progress: number | null
  target: number | null
  outputs: Record<string, any>
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
}

/** `auto` uses the WebSocket and polls while it is unavailable. */
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
}

export type ErrorCode =
  | 'failed'
  | 'cancelled'
  | 'bad_request'
  | 'http_error'
  | 'network'
  | 'aborted'
  | 'callback_error'

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

/** Per-call options: any of {@link Options} plus callbacks and controls. */
export interface CallOptions extends Partial<Options> {
  /** Called with the task JSON on every change, the first known state included. */
  onProgress?: ((task: Task) => void) | null
  /** Called with the final task JSON once it `succeeded`. */
  onSuccess?: ((task: Task) => void) | null
  /** Called with the {@link TaskAPIError} the promise rejects with. */
  onError?: ((error: TaskAPIError) => void) | null
  /** Told of an exception thrown by a callback (code `callback_error`); default `console.error`. */
  onCallbackError?: ((error: TaskAPIError) => void) | null
  /** Aborting it cancels the task, like `promise.cancel()`. */
  signal?: AbortSignal | null
  /** Sent as the `Idempotency-Key` header when the task is created. */
  idempotencyKey?: string | null
}

/** Settles once the task is final: resolves on `succeeded`, rejects otherwise. */
export interface TaskPromise extends Promise<Task> {
  /** The first task JSON: the answer to the POST for `run`, the first state seen for `watch`. */
  started: Promise<Task>
  /**
   * Asks the server to cancel the task. Resolves with the server's answer, or
   * null when there was nothing to cancel. This promise then rejects with code
   * `cancelled` once the server reports it (or `aborted` if the cancel request failed).
   */
  cancel(): Promise<Task | null>
}

export type Inputs = Record<string, unknown>
export type ProgressCallback = ((task: Task) => void) | null | undefined
export type SuccessCallback = ((task: Task) => void) | null | undefined
export type ErrorCallback = ((error: TaskAPIError) => void) | null | undefined

/** Defaults for every call; change them in place. */
export declare const options: Options

/** Starts task `name` and follows it to its end. */
export declare function run(name: string, inputs?: Inputs, options?: CallOptions): TaskPromise
export declare function run(
  name: string,
  inputs?: Inputs,
  progressCallback?: ProgressCallback,
  callback?: SuccessCallback,
  errback?: ErrorCallback,
): TaskPromise

/** Follows an existing task, e.g. after a page reload. */
export declare function watch(uuid: string, options?: CallOptions): TaskPromise
export declare function watch(
  uuid: string,
  progressCallback?: ProgressCallback,
  callback?: SuccessCallback,
  errback?: ErrorCallback,
): TaskPromise

/** Creates a task (`POST baseURL`) and resolves with its JSON. */
export declare function start(name: string, inputs?: Inputs, options?: Partial<Options> & { idempotencyKey?: string | null }): Promise<Task>

/** Asks the server to cancel a task (`POST baseURL<uuid>/cancel/`); resolves with its answer. */
export declare function cancel(uuid: string, options?: Partial<Options>): Promise<Task>

/** Fetches a task's current JSON (`GET baseURL<uuid>/`). */
export declare function get(uuid: string, options?: Partial<Options>): Promise<Task>

declare const TaskAPI: {
  options: Options
  run: typeof run
  watch: typeof watch
  start: typeof start
  cancel: typeof cancel
  get: typeof get
  TaskAPIError: typeof TaskAPIError
}
export default TaskAPI
