// The share page: one run, followed with the share link's token from the URL's
// fragment (`#share=<token>&task=<uuid>`), which browsers never send to a server.
import { h } from './dom.js'

const FINAL = new Set(['succeeded', 'failed', 'cancelled'])
const el = (id) => document.getElementById(id)

function show(task) {
  const percent = task.status === 'succeeded' ? 100 : task.target ? Math.floor((100 * (task.progress || 0)) / task.target) : 0
  el('shared').dataset.status = task.status
  el('shared-status').dataset.status = task.status
  el('shared-status').textContent = task.status
  el('shared-task').textContent = task.task
  el('shared-bar').style.width = percent + '%'
  el('shared-bar').setAttribute('aria-valuenow', String(percent))
  el('shared-percent').textContent = percent + '%'
  const messages = (task.message_log || []).slice(-5)
  el('shared-messages').replaceChildren(...messages.map((m) => h('li', { class: 'message', text: String(m.value) })))
  el('shared-messages').hidden = !messages.length
  if (FINAL.has(task.status) && task.status === 'succeeded') {
    el('shared-outputs').textContent = JSON.stringify(task.outputs, null, 2)
    el('shared-outputs').hidden = false
  }
}

/** A refusal: its code (`share_expired`, `share_revoked`, `share_invalid`, ...) and message. */
function refused(error) {
  const box = el('shared-error')
  box.dataset.code = error.code
  box.replaceChildren(h('strong', { text: error.code }), h('span', { text: ' ' + error.message }))
  box.hidden = false
  el('shared').dataset.status = error.code === 'failed' || error.code === 'cancelled' ? error.code : 'refused'
}

const hash = new URLSearchParams(location.hash.slice(1))
const uuid = hash.get('task') || ''
const token = hash.get('share') || ''
el('shared-uuid').textContent = uuid.slice(0, 8)
if (!window.TaskAPI) refused({ code: 'no_client', message: 'The Task API client did not load.' })
else if (!uuid || !token) refused({ code: 'share_invalid', message: 'This link has no task or no token.' })
else TaskAPI.watch(uuid, { share: token, onProgress: show }).catch(refused)
