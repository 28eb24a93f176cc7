import type { ErrorCode, Task } from '../types'

/**
 * Every rejection of this library. When a task JSON is known its fields are
 * also copied onto the error (`err.status`, `err.outputs`, ...), as the
 * predecessor rejected with the task JSON itself.
 */
export class TaskAPIError extends Error {
  declare code: ErrorCode
  declare json: Task | null
  declare httpStatus: number | null
  declare body: unknown
  declare cause?: unknown

  constructor(code: ErrorCode, message: string, task: Task | null = null, httpStatus: number | null = null, body: unknown = null) {
    super(message)
    withTask(Object.assign(this, { name: 'TaskAPIError', code, httpStatus, body }), task)
  }
}

/** Records the last known task JSON on `err` as `json`, its fields included. */
export const withTask = (err: TaskAPIError, task: Task | null) => Object.assign(err, task, { json: task })

/** The rejection for a task that ended `failed` or `cancelled`. */
export const taskError = (t: Task) =>
  new TaskAPIError(
    t.status == 'cancelled' ? 'cancelled' : 'failed',
    t.error ? t.error.type + ': ' + t.error.message : 'Task ' + t.status,
    t,
  )

/** The code of a share link's refusal (`share_invalid`, `share_expired`, `share_revoked`) in an error body or frame. */
export const shareCode = (body: any): ErrorCode | false => /^share_/.test(body?.code) && body.code
