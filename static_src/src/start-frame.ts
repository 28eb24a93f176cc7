/** Starting a task with a `start` frame over the shared socket, when it is open. */
import type { Inputs, Options, Task } from '../types'
import { apiError } from './http'
import { existing, socketOf, type Frame, type Sub } from './socket'

let refs = 0

/**
 * Starts a task with one `start` frame if the shared socket is open (and
 * `startFrame` is on) and the frame is at most 4096 bytes (over the server's
 * default `TASK_API_MAX_FRAME_BYTES` it would be refused); nothing otherwise.
 * A refusal rejects as the `POST` would; no answer (the socket went down, or
 * `timeout` passed) or a full connection (`too_many`) calls `post`, which
 * sends the same start with the same idempotency key.
 */
export function startFrame(
  o: Options,
  body: { task: string; inputs: Inputs; idempotency_key: string },
  post: () => Promise<Task>,
): Promise<Task> | undefined {
  const url = o.startFrame && socketOf(o)
  const conn = url && existing(url)
  const ref = '' + ++refs
  const hello = { type: 'start', ref, ...body }
  if (conn && conn.live && new TextEncoder().encode(JSON.stringify(hello)).length <= 4096)
    return new Promise<Frame | null>((answer) => {
      const done = (f: Frame | null) => (clearTimeout(timer), conn.remove(sub), answer(f))
      const sub: Sub = { key: 'ref', id: ref, hello, frame: done, down: () => done(null) }
      const timer = setTimeout(done, o.timeout, null)
      conn.add(sub)
    }).then((f) =>
      !f || f.code == 'too_many' ? post() : f.type == 'started' ? f.task : Promise.reject(apiError(f.status!, f.errors || { detail: f.detail })),
    )
}
