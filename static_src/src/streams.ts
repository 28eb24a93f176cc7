/** Streams: the chunks a task writes, each taken once and in order, from any position. */
import type { CallOptions, ChunkStream, Options, StreamCallOptions, Task, TaskPromise } from '../types'
import type { ChunksFrame } from '../types/protocol'
import { shareCode, TaskAPIError } from './errors'
import { events } from './events'
import { follow } from './follow'
import { request } from './http'
import { backoff, retryable, settings } from './options'
import { connection, socketOf, type Frame, type Sub } from './socket'
import { callSettings, start, taskKind } from './task'

/** What a `chunks` frame, an SSE `chunks` event and a REST read all say. */
type Chunks = Pick<ChunksFrame, 'offset' | 'next' | 'done' | 'chunks'>

/** One stream being read: where it is, and what takes its chunks. */
export interface Reader {
  name: string
  /** The position of the next chunk to take. */
  next: number
  /** Takes chunks in order, each once: `chunks[0]` is at `offset`. */
  take(chunks: unknown[], offset: number): void
}

/** One stream's state while it is read. */
interface Track {
  reader: Reader
  /** Whether the stream is done: every chunk taken, and the task ended. */
  over?: boolean
  /** Whether the stream is polled to its end (the socket or SSE refused it). */
  refused?: boolean
  /** Takes a run of chunks; `resync()` reads again from `next` after a gap. */
  feed(f: Chunks, resync: () => void): void
  poll(on: boolean): void
  /** Starts watching on the socket, if there is one. */
  begin(): void
  stop(): void
}

/**
 * Reads the streams of task `id` from the readers' positions until each is done;
 * `done` resolves then, or rejects with a definitive error (a 404, a 400 for a
 * bad name or offset, or, with `transport: 'websocket'`, more than `maxRetries`
 * socket failures in a row). `stop()` ends reading.
 *
 * Each stream is watched on the shared WebSocket (`subscribe` with its `stream`
 * and `offset`). While the socket is unavailable, one `EventSource` serves them
 * all; if it cannot connect, each is polled at `GET
 * <baseURL><uuid>/streams/<name>/?offset=<next>`, with the retries of a task's
 * polls. Whatever delivers a run of chunks, what was taken is cut off; a gap
 * reads again from the position.
 */
export function read(o: Options, id: string | Promise<string>, readers: Reader[]) {
  const socketOnly = o.transport == 'websocket'
  const url = socketOf(o)
  let tracks: Track[] = []
  let over = false
  /** True while the socket is unavailable. */
  let down = false
  /** Closes the `EventSource` serving while the socket is down. */
  let close: (() => void) | undefined
  let settle!: (e?: TaskAPIError) => void
  const done = new Promise<void>(
    (y, n) => (settle = (e) => over || ((over = true), tracks.forEach((t) => t.stop()), close?.(), e ? n(e) : y())),
  )

  /**
   * Serves the streams not done (nor refused) as the socket's state says: while
   * it is down, over SSE, else (or once SSE failed) by polling. Called again
   * after a gap in what SSE sent, it reopens SSE from the positions reached.
   */
  const serve = (uuid: string) => {
    close?.()
    const open = tracks.filter((t) => !t.over && !t.refused)
    const poll = (on: boolean) => open.forEach((t) => t.poll(on))
    const frame = (f: Frame) => {
      for (const t of open)
        if (!f.stream || f.stream == t.reader.name)
          if (f.type == 'chunks') t.feed(chunksOf(f), () => serve(uuid))
          else if (f.type == 'error') (t.refused = true), t.poll(true)
    }
    const pairs = open.map((t): [string, number] => [t.reader.name, t.reader.next])
    close = down && o.transport != 'polling' ? events(o, uuid, pairs, frame, () => ((close = undefined), poll(true))) : undefined
    poll(down && !close)
  }
  const setDown = (on: boolean, uuid: string) => on != down && ((down = on), serve(uuid))

  const track = (uuid: string, reader: Reader): Track => {
    const { name } = reader
    const conn = url && connection(url)
    let gen = 0
    let polling = false
    let resyncing = false
    let timer: ReturnType<typeof setTimeout> | undefined

    async function poll(g: number, failures = 0) {
      let delay = o.pollInterval
      try {
        const f: Chunks = await request(o, 'GET', uuid + '/streams/' + name + '/?offset=' + reader.next)
        if (g == gen) t.feed(f, () => {})
      } catch (e) {
        if (g != gen) return
        if (!retryable(e as TaskAPIError)) return settle(e as TaskAPIError)
        delay = backoff(delay, ++failures)
      }
      if (g == gen) timer = setTimeout(() => poll(g, failures), delay)
    }

    const sub: Sub = {
      key: 'uuid',
      id: uuid,
      stream: name,
      // Read again on every reconnect, from the position reached.
      get hello() {
        return { type: 'subscribe', uuid, stream: name, offset: reader.next, share: o.share }
      },
      bye: { type: 'unsubscribe', uuid, stream: name },
      frame(f) {
        if (f.type == 'chunks') t.feed(chunksOf(f), () => conn && conn.hello(sub))
        else if (f.type == 'error') {
          // Refused: REST has the last word (socket-only: the refusal has).
          conn && conn.remove(sub)
          t.refused = true
          if (socketOnly) settle(new TaskAPIError(shareCode(f) || 'http_error', f.detail || f.code!, null, f.code == 'not_found' ? 404 : null, f))
          else t.poll(true)
        }
      },
      down(failures) {
        if (!socketOnly) setDown(failures > 0, uuid)
        else if (failures > o.maxRetries) settle(noSocket())
      },
    }

    const t: Track = {
      reader,
      feed(f, resync) {
        if (t.over) return
        if (f.offset > reader.next) return void (resyncing || ((resyncing = true), resync()))
        resyncing = false
        const fresh = f.chunks.slice(reader.next - f.offset)
        const at = reader.next
        reader.next += fresh.length
        if (fresh.length) reader.take(fresh, at)
        if (f.done && reader.next >= f.next) {
          t.over = true
          t.stop()
          if (tracks.every((x) => x.over)) settle()
        }
      },
      poll(on) {
        if (on == polling) return
        polling = on
        clearTimeout(timer)
        if (on) poll(++gen)
        else gen++
      },
      begin: () => conn && conn.add(sub),
      stop() {
        conn && conn.remove(sub)
        t.poll(false)
      },
    }
    return t
  }

  Promise.resolve(id).then((uuid) => {
    if (over) return
    tracks = readers.map((r) => track(uuid, r))
    tracks.forEach((t) => t.begin())
    if (!tracks.length) settle()
    else if (!url) socketOnly ? settle(noSocket()) : setDown(true, uuid)
  })
  return { done, stop: () => settle() }
}

const noSocket = () => new TaskAPIError('network', 'WebSocket unavailable')

/** The chunks of a `chunks` frame. */
const chunksOf = (f: Frame) => f as unknown as ChunksFrame

/**
 * Reads stream `name` of task `uuid` from `offset` (default 0), one chunk at a
 * time, until the stream is done: `for await (const chunk of stream(uuid, 'answer'))`.
 * `position` is the position after the last chunk handed out; breaking out of
 * the loop stops reading.
 */
export function stream<C = unknown>(uuid: string, name: string, so?: StreamCallOptions): ChunkStream<C> {
  let chunks: unknown[] = []
  let at = 0
  let error: TaskAPIError | undefined
  let ended = false
  let wake!: () => void
  let changed: Promise<void>
  const renew = () => (changed = new Promise((y) => (wake = y)))
  let reading: ReturnType<typeof read> | undefined
  renew()
  const reader: Reader = {
    name,
    next: so?.offset || 0,
    take: (more) => ((chunks = chunks.slice(at).concat(more)), (at = 0), wake(), renew()),
  }
  const it: ChunkStream<C> & { position: number } = {
    position: reader.next,
    async next() {
      if (!reading && !ended) {
        reading = read(settings(so), uuid, [reader])
        reading.done.then(
          () => (ended = true),
          (e) => (error = e),
        ).then(() => wake())
      }
      while (at == chunks.length && !ended && !error) await changed
      if (at < chunks.length) return it.position++, { value: chunks[at++] as C, done: false }
      if (error) throw error
      return { value: undefined, done: true }
    },
    async return() {
      reading?.stop()
      ended = true
      chunks = []
      at = 0
      wake()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]: () => it,
  }
  return it
}

/** Calls `fn` guarded: an exception in it is reported as a `callback_error`, and changes nothing. */
const guarded =
  (o: CallOptions, fn: ((chunks: any[], offset: number) => unknown) | null | undefined) =>
  (chunks: unknown[], offset: number) => {
    try {
      fn?.(chunks, offset)
    } catch (e) {
      const err = Object.assign(new TaskAPIError('callback_error', 'Callback failed: ' + e), { cause: e })
      try {
        ;(o.onCallbackError || console.error)(err)
      } catch (x) {
        console.error(x)
      }
    }
  }

/**
 * Follows a task, and reads the streams its options name (`streams: {answer:
 * {offset, onChunks}}`) until each is done; the promise settles once the task
 * is final and every stream has ended. A stream that cannot be read rejects it
 * then.
 */
function following(o: Options & CallOptions, id: string | null, create?: () => Promise<Task>): TaskPromise {
  const streams = o.streams
  if (!streams) return follow(taskKind, o, id, create)
  let known!: (uuid: string) => void
  const readers = Object.entries(streams).map(([name, s]) => ({ name, next: s.offset || 0, take: guarded(o, s.onChunks) }))
  const reading = read(o, id || new Promise<string>((y) => (known = y)), readers)
  reading.done.catch(() => {})
  const kind = { ...taskKind, outcome: (t: Task, x: Options) => reading.done.then(() => taskKind.outcome(t, x)) }
  const promise = follow(kind, o, id, create && (() => create().then((t) => (known(t.uuid), t))))
  promise.catch(reading.stop)
  return promise
}

type Callback<T> = ((v: T) => unknown) | null | undefined

/** Starts task `name` and follows it (and the streams its options name) to its end. */
export const run = (name: string, inputs?: Record<string, unknown>, a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>): TaskPromise => {
  const o = callSettings(a, b, c)
  return following(o, null, () => start(name, inputs, o))
}

/** Follows an existing task (and the streams its options name), e.g. after a page reload. */
export const watch = (uuid: string, a?: Callback<Task> | CallOptions, b?: Callback<Task>, c?: Callback<TaskAPIError>): TaskPromise =>
  following(callSettings(a, b, c), uuid)
