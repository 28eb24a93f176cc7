import type { Options, Task } from '../types'
import { TaskAPIError, withTask } from './errors'
import { request } from './http'
import { backoff } from './options'
import { connection, socketURL, type Conn, type Frame, type Sub } from './socket'

/** Controls one followed task. */
export interface Follower {
  /** Offers a task JSON from elsewhere (e.g. a cancel answer); stale ones are ignored. */
  push(t: Task): void
  stop(): void
}

/**
 * Follows task `uuid` over the shared WebSocket, polling `GET <baseURL><uuid>/`
 * while the socket is down (or always, with `transport: 'polling'`). A failed
 * poll that may pass (network error, timeout, 5xx, 408, 429) is retried with
 * backoff for as long as it takes: only the task's end or another 4xx settles.
 * `update` gets each new state; `fail` gets the error that ends following.
 * `known` is a state already reported, if any.
 */
export function follow(
  uuid: string,
  o: Options,
  known: Task | null,
  update: (t: Task) => void,
  fail: (e: TaskAPIError) => void,
): Follower {
  let task = known
  let conn: Conn | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  /** Generation of the polling loop; bumping it ends the current loop. */
  let gen = 0
  let polling = false
  let resyncing = false

  function push(t: Task) {
    if (task && t.seq < task.seq) return
    resyncing = false
    if (JSON.stringify(t) != JSON.stringify(task)) update((task = t))
  }

  async function poll(g: number, failures = 0) {
    let delay = o.pollInterval
    try {
      const t = await request(o, 'GET', uuid + '/')
      if (g == gen) push(t)
    } catch (e) {
      const err = e as TaskAPIError
      if (g != gen) return
      if (!(err.code == 'network' || err.httpStatus! >= 500 || err.httpStatus == 429 || err.httpStatus == 408))
        return fail(withTask(err, task))
      delay = backoff(delay, ++failures)
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

  function detach() {
    conn?.remove(sub)
    conn = undefined
  }

  const sub: Sub = {
    uuid,
    frame(f: Frame) {
      if (f.type == 'snapshot') push(f.task)
      else if (f.type == 'update' && task && f.seq > task.seq) {
        if ((f.base ?? f.seq - 1) == task.seq) {
          const append = f.append || []
          push({
            ...task,
            ...f.set,
            seq: f.seq,
            messages: task.messages.concat(append.map((e) => e.value)),
            message_log: task.message_log.concat(append),
          })
        } else if (!resyncing) {
          resyncing = true
          conn!.subscribe(sub)
        }
      } else if (f.type == 'error') {
        detach()
        if (o.transport != 'websocket') setPolling(true)
        else fail(new TaskAPIError('http_error', f.detail || f.code!, task, f.code == 'not_found' ? 404 : null, f))
      }
    },
    down(failures) {
      resyncing = false
      if (o.transport != 'websocket') setPolling(failures > 0)
      else if (failures > o.maxRetries) fail(new TaskAPIError('network', 'WebSocket unavailable', task))
    },
  }

  let url = ''
  try {
    url = o.transport != 'polling' && typeof WebSocket == 'function' ? socketURL(o.wsURL) : ''
  } catch {}
  if (url) (conn = connection(url)).add(sub)
  else if (o.transport != 'websocket') setPolling(true)
  else fail(new TaskAPIError('network', 'WebSocket unavailable', task))

  return {
    push,
    stop() {
      setPolling(false)
      detach()
    },
  }
}
