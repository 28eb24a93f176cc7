import type { Options, Task } from '../types'

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

/** True once a task can no longer change. */
export const isTerminal = (t: Task) => /^(succeeded|failed|cancelled)$/.test(t.status)

/**
 * Exponential backoff with jitter: `base` doubled `n` times, capped at 30 s,
 * then 50 to 100 % of that, so that clients cut off together do not return together.
 */
export const backoff = (base: number, n: number) => Math.min(base * 2 ** n, 3e4) * (1 - Math.random() / 2)
