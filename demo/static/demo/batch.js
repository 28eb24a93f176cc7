// One bar for many tasks: a batch of countdowns, followed with TaskAPI.runAll.
import { h } from './dom.js'

const STORAGE_KEY = 'task-api-demo.batch'
/** The batch the button starts: countdowns of 1 to 4 seconds and one flaky task. */
const STARTS = [1, 2, 3, 4].map((seconds) => ({ task: 'countdown', inputs: { seconds } }))
STARTS.push({ task: 'flaky', inputs: { fail_at: 50 } })

/** The percentage of the summed progress over the summed targets. */
const percentOf = (b) =>
  b.status === 'succeeded' ? 100 : b.target ? Math.min(100, Math.floor((100 * (b.progress || 0)) / b.target)) : 0

function summary(b) {
  const c = b.counts
  const done = c.succeeded + c.failed + c.cancelled
  const parts = [`${done} of ${b.total} done`]
  if (c.running) parts.push(`${c.running} running`)
  if (c.failed) parts.push(`${c.failed} failed`)
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`)
  return parts.join(' · ')
}

/** The batch panel: a Run button, one bar, the counts, and Cancel while it runs. */
export function batchPanel(TaskAPI) {
  const bar = h('div', { class: 'progress-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-label': 'Batch progress' })
  const label = h('span', { class: 'progress-label', text: '0%' })
  const counts = h('p', { class: 'muted batch-counts', text: `${STARTS.length} tasks, one bar.` })
  const results = h('p', { class: 'batch-results' })
  const cancel = h('button', { class: 'button small danger-ghost', type: 'button', hidden: true, dataset: { action: 'cancel-batch' }, text: 'Cancel' })
  const run = h('button', { class: 'button primary', type: 'button', dataset: { action: 'run-batch' }, text: 'Run batch' })
  const panel = h(
    'div',
    { class: 'batch-card', id: 'batch', dataset: { status: 'idle' } },
    h('div', { class: 'run-head' }, h('strong', { class: 'run-title', text: 'Four countdowns and a flaky task, as one batch' }), run, cancel),
    h('div', { class: 'progress' }, h('div', { class: 'progress-track' }, bar), label),
    counts,
    results,
  )
  let current = null

  function show(b) {
    const percent = percentOf(b)
    panel.dataset.status = b.status
    panel.dataset.uuid = b.uuid
    bar.style.width = percent + '%'
    bar.setAttribute('aria-valuenow', String(percent))
    label.textContent = percent + '%'
    counts.textContent = summary(b)
  }

  function follow(promise) {
    current = promise
    run.disabled = true
    cancel.hidden = false
    results.textContent = ''
    promise.started.then((b) => localStorage.setItem(STORAGE_KEY, b.uuid), () => {})
    promise
      .then(
        ({ batch, tasks }) => {
          show(batch)
          const failed = tasks.filter((t) => t.status === 'failed')
          results.textContent = failed.length
            ? `Ended ${batch.status}: ${failed.map((t) => `${t.task} (${t.error.type})`).join(', ')}`
            : `Ended ${batch.status}.`
        },
        (error) => {
          if (error.httpStatus === 404) localStorage.removeItem(STORAGE_KEY)
          results.textContent = 'Could not follow the batch: ' + error.message
        },
      )
      .finally(() => {
        current = null
        run.disabled = false
        cancel.hidden = true
      })
  }

  run.addEventListener('click', () => follow(TaskAPI.runAll(STARTS, { onProgress: show })))
  cancel.addEventListener('click', () => current && current.cancel())
  const saved = localStorage.getItem(STORAGE_KEY)
  if (saved) follow(TaskAPI.watchBatch(saved, { onProgress: show }))
  return panel
}
