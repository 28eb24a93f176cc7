// Type-level tests, run by `npm run typecheck`: the sources implement the
// published declarations, and typical calls type-check against them.
import type * as Declared from '../types'
import TaskAPI, { TaskAPIError, type Task } from '../types'
import * as source from '../src/index'

const api: typeof Declared.default = source.default
const named: Omit<typeof Declared, 'default'> = source
void [api, named]

TaskAPI.options.csrfHeaderName = 'X-CSRF'
const sum: Promise<number> = TaskAPI.run('sum', { numbers: [1, 2] }).then((json) => json.outputs.sum)
TaskAPI.run('wait', { seconds: 3 }, (json: Task) => json.progress, null, (err) => err.status)
const promise = TaskAPI.run('wait', {}, { onProgress: (t) => t.messages, signal: new AbortController().signal, transport: 'polling' })
promise.started.then((t) => t.uuid)
promise.cancel().then((t) => t?.status)
promise.catch((err: TaskAPIError) => [err.code, err.httpStatus, err.body, err.json?.uuid, err.task, err.outputs])
TaskAPI.watch('6f1c3a52', { onSuccess: (t) => t.finished })
void sum
