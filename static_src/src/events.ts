/** Server-Sent Events: a task's frames over plain HTTP, where a WebSocket cannot go. */
import type { Options } from '../types'
import type { Frame } from './socket'

/**
 * Opens `GET <baseURL><uuid>/events/?streams=name:offset,...` (and `&share=`
 * the `share` option's token: an `EventSource` sends no headers) and hands `frame`
 * the data of each of its events (`snapshot`, `update`, `chunks`, `error`: the
 * WebSocket's frames). If no event comes within `connectTimeout` (no such
 * endpoint, a refusal, a proxy that buffers), or the browser gives up
 * reconnecting, it closes and calls `failed`. A connection that drops after it
 * worked is reopened by the browser, with the `Last-Event-ID` the server reads
 * on from. Returns what closes it; nothing when there is no `EventSource`.
 */
export function events(o: Options, uuid: string, streams: [string, number][], frame: (f: Frame) => void, failed: () => void) {
  if (typeof EventSource != 'function') return
  const url =
    o.baseURL.replace(/\/?$/, '/') +
    uuid +
    '/events/?streams=' +
    streams.map((s) => s.join(':')) +
    (o.share ? '&share=' + encodeURIComponent(o.share) : '')
  const source = new EventSource(url, { withCredentials: o.credentials == 'include' })
  let live = false
  const close = () => (clearTimeout(timer), source.close())
  const fail = () => (close(), failed())
  const timer = setTimeout(fail, o.connectTimeout)
  const take = (e: MessageEvent) => {
    let f: Frame
    live = true
    clearTimeout(timer)
    try {
      f = JSON.parse(e.data)
    } catch {
      return
    }
    frame(f)
  }
  for (const type of ['snapshot', 'update', 'chunks']) source.addEventListener(type, take)
  // An `error` event from the server carries data; one from the browser, none.
  source.onerror = (e) => ('data' in e ? take(e as MessageEvent) : (!live || source.readyState == 2) && fail())
  return close
}
