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

// Streams: chunks typed by the caller, text by default unknown.
import { stream, type ChunkStream, type StreamOptions } from '../types'
interface Row {
  name: string
  count: number
}
async function readStreams(uuid: string) {
  let text = ''
  const answer: ChunkStream<string> = TaskAPI.stream<string>(uuid, 'answer', { offset: 3, transport: 'polling' })
  for await (const word of answer) text += word.toUpperCase()
  const kept: number = answer.position
  for await (const row of stream<Row>(uuid, 'rows')) row.count.toFixed()
  for await (const chunk of stream(uuid, 'any')) text += chunk
  // @ts-expect-error: Row has no `missing`
  for await (const row of stream<Row>(uuid, 'rows')) void row.missing
  // @ts-expect-error: read-only
  answer.position = 0
  return [text, kept]
}
const rows: StreamOptions<Row> = { offset: 2, onChunks: (chunks, offset) => chunks[0].count + offset }
TaskAPI.watch('6f1c3a52', {
  streams: { answer: { onChunks: (words: string[], offset: number) => words.join('') + offset }, rows },
  onSuccess: (t) => t.streams.answer,
})
TaskAPI.run('write', {}, { streams: { answer: {} } }).then((t) => t.streams)
void readStreams
