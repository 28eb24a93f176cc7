// Type-level tests, run by `npm run typecheck`: the sources implement the
// published declarations, and typical calls type-check against them.
import type * as Declared from '../types'
import TaskAPI, { TaskAPIError, type Task } from '../types'
import * as source from '../src/index'

type Generic = 'default' | 'run' | 'start'
const api: Omit<typeof Declared.default, 'run' | 'start'> = source.default
const named: Omit<typeof Declared, Generic> = source
// run and start are generic over the task name; with any name (N = string) the
// declared signatures are the implementation's.
type N = string
type Args<Rest extends unknown[]> = Declared.InputArgs<N, Rest>
type O = Declared.OutputsOf<N>
const runWithOptions: (name: N, ...args: Args<[options?: Declared.CallOptions<O>]>) => Declared.TaskPromise<O> = source.run
const runWithCallbacks: (
  name: N,
  ...args: Args<[p?: Declared.ProgressCallback<O>, s?: Declared.SuccessCallback<O>, e?: Declared.ErrorCallback]>
) => Declared.TaskPromise<O> = source.run
const startAny: (name: N, ...args: Args<[options?: Partial<Declared.Options>]>) => Promise<Declared.Task<Partial<O>>> = source.start
void [api, named, runWithOptions, runWithCallbacks, startAny, source.default.run === source.run, source.default.start === source.start]

TaskAPI.options.csrfHeaderName = 'X-CSRF'
const sum: Promise<number> = TaskAPI.run('sum', { numbers: [1, 2] }).then((json) => json.outputs.sum)
TaskAPI.run('wait', { seconds: 3 }, (json: Task) => json.progress, null, (err) => err.status)
const promise = TaskAPI.run('wait', {}, { onProgress: (t) => t.messages, signal: new AbortController().signal, transport: 'polling' })
promise.started.then((t) => t.uuid)
promise.cancel().then((t) => t?.status)
promise.catch((err: TaskAPIError) => [err.code, err.httpStatus, err.body, err.json?.uuid, err.task, err.outputs])
TaskAPI.watch('6f1c3a52', { onSuccess: (t) => t.finished })
void sum

// The batch entry point, by the package's own name: the same declarations.
import { runAll, watchBatch, type Batch, type BatchPromise } from 'django-task-api/batch'
const batch: BatchPromise = runAll([{ task: 'wait', inputs: { seconds: 1 } }], { onProgress: (b: Batch) => b.counts.running })
batch.then(({ tasks }) => tasks.map((t) => t.outputs))
const sameCalls: typeof Declared.watchBatch = watchBatch
void sameCalls
