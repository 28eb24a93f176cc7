import type { Options } from '../types'
import { shareCode, TaskAPIError } from './errors'

/** Reads a cookie from `document.cookie`, if there is a document. */
function cookie(name: string): string | undefined {
  for (const part of (globalThis.document?.cookie || '').split(/; */))
    if (part.startsWith(name + '=')) return decodeURIComponent(part.slice(name.length + 1))
}

/** Flattens DRF errors: `{"inputs": {"count": ["Bad."]}}` -> `["inputs.count: Bad."]`. */
const flatten = (v: unknown, path: string): string[] =>
  v && typeof v == 'object'
    ? Object.entries(v).flatMap(([k, x]) => flatten(x, Array.isArray(v) ? path : path ? path + '.' + k : k))
    : [(path && path != 'detail' ? path + ': ' : '') + v]

/**
 * The rejection for an API error answer: `bad_request` (400), a share link's
 * refusal (its `code`, e.g. `share_expired`, and its `detail`) or `http_error`,
 * the message from `data`.
 */
export const apiError = (status: number, data: any, fallback = '') => {
  const share = !CORE && shareCode(data)
  const message = share ? data.detail : data && flatten(data, '').join('; ')
  return new TaskAPIError(status == 400 ? 'bad_request' : share || 'http_error', message || fallback, null, status, data)
}

/**
 * Sends a JSON request to `baseURL + path` and resolves with the parsed answer.
 * Rejects with code `network` (also when no answer came within `timeout` ms),
 * `bad_request` (400) or `http_error`.
 */
export async function request(o: Options, method: string, path: string, body?: object, key?: string): Promise<any> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = method != 'GET' && cookie(o.csrfCookieName)
  if (token) headers[o.csrfHeaderName] = token
  if (body) headers['Content-Type'] = 'application/json'
  if (key) headers['Idempotency-Key'] = key
  if (!CORE && o.share) headers['X-Share-Token'] = o.share
  let res: Response, text: string
  const url = o.baseURL.replace(/\/?$/, '/') + path
  const ctl = globalThis.AbortController && new AbortController()
  const timer = setTimeout(() => ctl?.abort(), o.timeout)
  try {
    res = await fetch(url, { method, headers, credentials: o.credentials, body: body && JSON.stringify(body), signal: ctl?.signal })
    text = await res.text()
  } catch (e) {
    const why = ctl?.signal.aborted ? 'no answer in ' + o.timeout + ' ms' : (e as Error).message
    throw Object.assign(new TaskAPIError('network', 'Network error: ' + why), { cause: e })
  } finally {
    clearTimeout(timer)
  }
  let data = null
  try {
    data = JSON.parse(text)
  } catch {}
  if (res.ok && data) return data
  throw apiError(
    res.status,
    data,
    // Not the API's JSON: say where it went wrong, loudly.
    `${method} ${url}: HTTP ${res.status}, not the task API's JSON` +
      (res.status == 404 ? ' (is task_api.urls included, and options.baseURL right?)' : '') +
      (res.status == 403 ? ` (Django's CSRF check: is there a ${o.csrfCookieName} cookie? ensure_csrf_cookie on the page's view sets it)` : ''),
  )
}
