// The live list of runs: one card per task, kept in step with its task JSON.
import { clock, duration, formatValue, h, humanize, icon } from './dom.js'

const STORAGE_KEY = 'task-api-demo.runs'
const KEEP = 20
const FINAL = new Set(['succeeded', 'failed', 'cancelled'])
const LABELS = {
  loading: 'Loading',
  pending: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
}

/** The runs kept in this browser, newest first: `[{uuid, task, inputs}]`. */
export function storedRuns() {
  try {
    const runs = JSON.parse(localStorage.getItem(STORAGE_KEY) || '[]')
    return Array.isArray(runs) ? runs.filter((run) => run && typeof run.uuid === 'string') : []
  } catch {
    return []
  }
}

function saveRuns(runs) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(runs.slice(0, KEEP)))
  } catch {
    // Private mode or full storage: runs are then not kept across reloads.
  }
}

/** The percentage a task has reached, 0 to 100. */
function percentOf(task) {
  if (task.status === 'succeeded') return 100
  if (!task.target || task.progress == null) return 0
  return Math.max(0, Math.min(100, Math.floor((task.progress / task.target) * 100)))
}

/** A short, readable version of an input value. */
function shortValue(value) {
  const text = formatValue(value)
  return text.length > 28 ? text.slice(0, 27) + '…' : text
}

/** One output's value: a dict or list as chips, anything else as text. */
function outputValue(value) {
  if (Array.isArray(value)) return h('span', { class: 'chips' }, value.map((item) => h('span', { class: 'chip', text: formatValue(item) })))
  if (value && typeof value === 'object') {
    return h(
      'span',
      { class: 'chips' },
      Object.entries(value).map(([key, item]) => h('span', { class: 'chip' }, h('b', { text: key }), ' ', formatValue(item))),
    )
  }
  return formatValue(value)
}

export class RunList {
  /**
   * `root` is the `<ol>` of runs; `catalog` maps task names to catalog entries;
   * `onCancel(uuid)` is called by a run's Cancel button, `onShare(uuid)` by its Share button.
   */
  constructor(root, { catalog, onCancel, onShare }) {
    this.root = root
    this.catalog = catalog
    this.onCancel = onCancel
    this.onShare = onShare
    this.cards = new Map()
    this.empty = document.getElementById('runs-empty')
    this.count = document.getElementById('runs-count')
    this.clearButton = document.getElementById('clear-finished')
    this.clearButton.addEventListener('click', () => this.clearFinished())
    setInterval(() => this.tick(), 250)
  }

  /** Shows a card for a run known from storage until its first state arrives. */
  placeholder(saved) {
    if (!this.cards.has(saved.uuid)) this.create(saved.uuid, saved.task, saved.inputs, false)
  }

  /** Applies a task JSON to its card (created, at the top, if new); older states are ignored. */
  update(task, inputs) {
    let card = this.cards.get(task.uuid)
    if (!card) card = this.create(task.uuid, task.task, inputs, true)
    if (card.task && task.seq < card.task.seq) return
    card.task = task
    this.render(card)
    this.persist()
  }

  /**
   * Shows the text a run's task has written to its stream so far; `resumedAt` is
   * the position it was read on from after a reload (0: read from the start).
   */
  answer(uuid, { text, next, resumedAt }) {
    const card = this.cards.get(uuid)
    if (!card) return
    const { answer, answerNote } = card.parts
    answer.textContent = text
    answer.dataset.next = String(next)
    answer.hidden = !text
    answerNote.hidden = !resumedAt
    answerNote.textContent = `After the reload: words 1 to ${resumedAt} from this tab's storage, the rest read on from there.`
  }

  /** Shows a notice on a run, e.g. when it can no longer be followed. */
  notice(uuid, text) {
    const card = this.cards.get(uuid)
    if (!card) return
    card.parts.notice.textContent = text
    card.parts.notice.hidden = !text
  }

  /** Shows the URL of a run's share page, or why there is none. */
  shared(uuid, url, error) {
    const card = this.cards.get(uuid)
    if (!card) return
    const { share, shareLink } = card.parts
    share.disabled = false
    shareLink.hidden = false
    shareLink.replaceChildren(
      error
        ? h('span', { class: 'error-text', text: 'Could not share: ' + error })
        : h('a', { href: url, target: '_blank', rel: 'noopener', text: url, title: 'Follows this run live, without a login, for an hour' }),
    )
  }

  /** Removes a run from the page and from storage. */
  remove(uuid) {
    const card = this.cards.get(uuid)
    if (!card) return
    card.el.remove()
    this.cards.delete(uuid)
    this.persist()
    this.summary()
  }

  clearFinished() {
    for (const [uuid, card] of this.cards) if (card.task && FINAL.has(card.task.status)) this.remove(uuid)
  }

  create(uuid, name, inputs, atTop) {
    const entry = this.catalog.get(name)
    const parts = {
      badge: h('span', { class: 'badge status' }),
      elapsed: h('span', { class: 'elapsed' }),
      bar: h('div', { class: 'progress-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-label': 'Progress' }),
      label: h('span', { class: 'progress-label', text: '0%' }),
      answer: h('p', { class: 'answer', hidden: true, 'aria-label': 'Answer', dataset: { next: '0' } }),
      answerNote: h('p', { class: 'muted answer-note', hidden: true }),
      messages: h('ol', { class: 'messages', hidden: true, 'aria-label': 'Messages' }),
      outputs: h('dl', { class: 'outputs', hidden: true }),
      error: h('div', { class: 'error', role: 'alert', hidden: true }),
      notice: h('p', { class: 'notice', hidden: true }),
      shareLink: h('p', { class: 'share-link', hidden: true }),
      share: h('button', { type: 'button', class: 'button small ghost', dataset: { action: 'share' }, title: 'A link that follows this run without a login' }, icon('link', 14), h('span', { text: 'Share' })),
      cancel: h('button', { type: 'button', class: 'button small danger-ghost', dataset: { action: 'cancel' } }, icon('stop', 14), h('span', { text: 'Cancel' })),
      dismiss: h('button', { type: 'button', class: 'icon-button', dataset: { action: 'dismiss' }, title: 'Remove from the list', 'aria-label': 'Remove from the list' }, icon('close', 16)),
    }
    parts.cancel.addEventListener('click', () => {
      parts.cancel.disabled = true
      parts.cancel.lastChild.textContent = 'Cancelling…'
      this.onCancel(uuid)
    })
    parts.share.addEventListener('click', () => {
      parts.share.disabled = true
      this.onShare(uuid)
    })
    parts.dismiss.addEventListener('click', () => this.remove(uuid))
    const chips = Object.entries(inputs || {}).map(([key, value]) => {
      const title = entry?.inputs?.properties?.[key]?.title || humanize(key)
      return h('span', { class: 'chip', title: `${title}: ${formatValue(value)}` }, h('b', { text: title }), ' ', shortValue(value))
    })
    const el = h(
      'li',
      { class: 'run', dataset: { uuid, task: name, status: 'loading' } },
      h(
        'div',
        { class: 'run-head' },
        h('span', { class: 'task-icon small', dataset: { task: name } }, icon(name, 16)),
        h(
          'div',
          { class: 'run-title' },
          h('strong', { text: entry?.title || humanize(name) }),
          h('span', { class: 'run-meta' }, h('code', { title: uuid, text: uuid.slice(0, 8) }), ' · ', parts.elapsed),
        ),
        parts.badge,
        parts.dismiss,
      ),
      chips.length ? h('div', { class: 'run-inputs chips' }, chips) : null,
      h('div', { class: 'progress' }, h('div', { class: 'progress-track' }, parts.bar), parts.label),
      parts.answer,
      parts.answerNote,
      parts.messages,
      parts.outputs,
      parts.error,
      parts.notice,
      parts.shareLink,
      h('div', { class: 'run-actions' }, parts.share, parts.cancel),
    )
    const card = { uuid, name, inputs: inputs || {}, el, parts, task: null, shownMessages: 0 }
    this.cards.set(uuid, card)
    if (atTop) this.root.prepend(el)
    else this.root.append(el)
    this.render(card)
    return card
  }

  render(card) {
    const { el, parts, task } = card
    const status = task ? task.status : 'loading'
    const final = FINAL.has(status)
    el.dataset.status = status
    parts.badge.dataset.status = status
    parts.badge.textContent = task?.cancel_requested && !final ? 'Cancelling' : LABELS[status] || status
    if (!task) return this.summary()

    const percent = percentOf(task)
    parts.bar.style.width = percent + '%'
    parts.bar.setAttribute('aria-valuenow', String(percent))
    parts.label.textContent = percent + '%'
    el.classList.toggle('indeterminate', status === 'running' && !task.target)
    parts.answer.classList.toggle('live', !final)

    this.renderMessages(card)
    if (status === 'succeeded' && parts.outputs.hidden) this.renderOutputs(card)
    if (task.error) {
      parts.error.replaceChildren(h('strong', { text: task.error.type }), h('span', { text: task.error.message }))
      parts.error.hidden = false
    }
    parts.cancel.hidden = final
    if (task.cancel_requested && !final) {
      parts.cancel.disabled = true
      parts.cancel.lastChild.textContent = 'Cancelling…'
    }
    parts.dismiss.hidden = !final
    this.tickCard(card)
    this.summary()
  }

  renderMessages(card) {
    const log = card.task.message_log || []
    const list = card.parts.messages
    if (log.length < card.shownMessages) {
      list.replaceChildren()
      card.shownMessages = 0
    }
    for (const entry of log.slice(card.shownMessages)) {
      const text = typeof entry.value === 'string' ? entry.value : JSON.stringify(entry.value)
      list.append(
        h('li', { class: 'message', dataset: { level: entry.level } }, h('time', { datetime: entry.time, text: clock(entry.time) }), h('span', { class: 'level', text: entry.level }), h('span', { class: 'text', text })),
      )
    }
    list.hidden = log.length === 0
    if (log.length > card.shownMessages) list.scrollTop = list.scrollHeight
    card.shownMessages = log.length
  }

  renderOutputs(card) {
    const properties = this.catalog.get(card.name)?.outputs?.properties || {}
    const values = card.task.outputs || {}
    // In the order the task declares its outputs; any others after them.
    const keys = [...new Set([...Object.keys(properties), ...Object.keys(values)])]
    const outputs = keys.filter((key) => key in values).map((key) => [key, values[key]])
    card.parts.outputs.replaceChildren(
      ...outputs.map(([key, value]) =>
        h('div', { class: 'output', dataset: { output: key } }, h('dt', { text: properties[key]?.title || humanize(key) }), h('dd', {}, outputValue(value))),
      ),
    )
    card.parts.outputs.hidden = outputs.length === 0
  }

  /** Keeps the elapsed times of unfinished runs current. */
  tick() {
    for (const card of this.cards.values()) if (card.task && !FINAL.has(card.task.status)) this.tickCard(card)
  }

  tickCard(card) {
    const task = card.task
    let text
    if (task.status === 'pending') {
      const waited = (Date.now() - Date.parse(task.created)) / 1000
      text = waited > 3 ? 'waiting for a worker…' : 'queued'
    } else if (task.status === 'running') text = duration(task.started)
    else text = task.started ? 'took ' + duration(task.started, task.finished) : 'never started'
    card.parts.elapsed.textContent = text
  }

  summary() {
    const cards = [...this.cards.values()]
    const active = cards.filter((card) => !card.task || !FINAL.has(card.task.status)).length
    this.empty.hidden = cards.length > 0
    this.count.hidden = active === 0
    this.count.textContent = `${active} active`
    this.clearButton.hidden = active === cards.length
  }

  persist() {
    const runs = [...this.root.children].map((el) => this.cards.get(el.dataset.uuid)).filter(Boolean)
    saveRuns(runs.map(({ uuid, name, inputs }) => ({ uuid, task: name, inputs })))
  }
}
