import type { Options } from '../types'
import type { TaskAPIError } from './errors'

/** Defaults for every call; change them in place, e.g. `TaskAPI.options.baseURL = '/api/tasks/'`. */
export const options: Options = {
  baseURL: '/tasks/',
  wsURL: '/ws/tasks/',
  csrfCookieName: 'csrftoken',
  csrfHeaderName: 'X-CSRFToken',
  pollInterval: 1000,
  transport: 'auto',
  maxRetries: 5,
  credentials: 'same-origin',
  timeout: 15000,
  connectTimeout: 5000,
  startFrame: true,
}

/** `options` overridden by a call's own options. */
export const settings = <T>(o?: T | null): Options & T => ({ ...options, ...o }) as Options & T

/**
 * Exponential backoff with jitter: `base` doubled `n` times, capped at 30 s,
 * then 50 to 100 % of that, so that clients cut off together do not return together.
 */
export const backoff = (base: number, n: number) => Math.min(base * 2 ** n, 3e4) * (1 - Math.random() / 2)

/**
 * The retry policy of every follow: a failure that may pass (a network error,
 * a timeout, a 5xx, 408 or 429) is retried with backoff, for as long as it
 * takes; any other answer is definitive.
 */
export const retryable = (e: TaskAPIError) =>
  e.code == 'network' || e.httpStatus! >= 500 || e.httpStatus == 408 || e.httpStatus == 429
