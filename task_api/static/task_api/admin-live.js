/*
 * Live progress in the Django Task API admin: each unfinished task or batch on the page
 * (a `.task-api-progress` element rendered by task_api/admin/live.py) is followed with
 * the JS client, `TaskAPI.watch` or `TaskAPI.watchBatch`, over one shared WebSocket
 * that falls back to polling. Its bar, label and status follow until it ends.
 */
;(function () {
  'use strict'
  var FINAL = { succeeded: true, failed: true, cancelled: true }
  var ORDER = ['pending', 'running', 'succeeded', 'failed', 'cancelled']
  var LABELS = {
    pending: 'Pending',
    running: 'Running',
    succeeded: 'Succeeded',
    failed: 'Failed',
    cancelled: 'Cancelled',
  }

  function percent(progress, target) {
    if (!target || target < 0) return null
    return Math.max(0, Math.min(100, Math.floor(((progress || 0) * 100) / target)))
  }

  /** Sets the text of the elements that show `what` of `uuid`. */
  function show(what, uuid, text) {
    var els = document.querySelectorAll('[data-' + what + '-of="' + uuid + '"]')
    for (var i = 0; i < els.length; i++) els[i].textContent = text
  }

  /** Shows `state` (a task or batch JSON) as live.py renders it. */
  function render(el, state) {
    var uuid = el.getAttribute('data-uuid')
    var bar = el.querySelector('progress')
    var label = el.querySelector('.task-api-label')
    var done = percent(state.progress, state.target)
    if (done !== null) {
      bar.max = state.target
      bar.value = Math.max(0, Math.min(state.progress || 0, state.target))
      bar.title = (state.progress || 0) + ' of ' + state.target
    } else if (state.status === 'succeeded') {
      bar.max = 1
      bar.value = 1
    } else if (state.status === 'running') {
      bar.removeAttribute('value')
    } else {
      bar.max = 1
      bar.value = 0
    }
    var text = done !== null ? done + ' %' : state.progress == null ? '' : String(state.progress)
    bar.textContent = label.textContent = text
    el.setAttribute('data-status', state.status)
    var status = LABELS[state.status] || state.status
    if (state.cancel_requested && !FINAL[state.status]) status += ', cancel requested'
    show('status', uuid, status)
    if (state.counts) {
      var counts = []
      for (var i = 0; i < ORDER.length; i++) {
        if (state.counts[ORDER[i]]) counts.push(state.counts[ORDER[i]] + ' ' + ORDER[i])
      }
      show('counts', uuid, counts.join(', '))
    }
  }

  function follow(el) {
    var uuid = el.getAttribute('data-uuid')
    var batch = el.getAttribute('data-kind') === 'batch'
    var options = { onProgress: function (state) { render(el, state) } }
    var done = batch ? TaskAPI.watchBatch(uuid, options) : TaskAPI.watch(uuid, options)
    done.then(
      function (result) { render(el, batch ? result.batch : result) },
      function (err) {
        // A failed or cancelled task rejects with its final JSON; anything else
        // (the task was removed, access was refused) leaves the stored state shown.
        if (err && err.json) render(el, err.json)
        else el.setAttribute('data-live-error', (err && err.code) || 'error')
      },
    )
  }

  function start() {
    if (!window.TaskAPI) return
    var els = document.querySelectorAll('.task-api-progress[data-base-url]')
    if (!els.length) return
    TaskAPI.options.baseURL = els[0].getAttribute('data-base-url')
    TaskAPI.options.wsURL = els[0].getAttribute('data-ws-url')
    var room = Number(els[0].getAttribute('data-max-watched')) || 100
    for (var i = 0; i < els.length && room > 0; i++) {
      if (FINAL[els[i].getAttribute('data-status')]) continue
      follow(els[i])
      room--
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
  else start()
})()
