// The demo page: a form per task from the catalog, and the runs, followed live.
import { buildForm, clearErrors, readInputs, showBadRequest, showFieldError, showFormError } from './schema-form.js'
import { RunList, storedRuns } from './runs.js'
import { batchPanel } from './batch.js'
import { answerOf, forgetAnswers } from './answers.js'

const TaskAPI = window.TaskAPI
/** The demo's tasks in the order that tells the story; other tasks follow by name. */
const ORDER = ['countdown', 'write-answer', 'primes', 'word-stats', 'report', 'flaky', 'long-job']
const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length)
/** The promise of each run followed on this page, by uuid (for Cancel). */
const followed = new Map()

async function loadCatalog() {
  const response = await fetch(TaskAPI.options.baseURL + 'catalog/', {
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  })
  if (!response.ok) throw new Error(`GET ${TaskAPI.options.baseURL}catalog/ answered ${response.status}`)
  return response.json()
}

/** Starts the task of a submitted form and follows it in the run list. */
function submit(form, entry, runs) {
  clearErrors(form)
  const { inputs, problems } = readInputs(form, entry.inputs || {})
  if (Object.keys(problems).length) {
    for (const [name, message] of Object.entries(problems)) showFieldError(form, name, message)
    return
  }
  const button = form.querySelector('button[type=submit]')
  button.disabled = true
  const answer = answerOf(entry.name, runs)
  const run = TaskAPI.run(entry.name, inputs, { onProgress: (task) => runs.update(task, inputs), ...answer.options })
  run.started
    .then((task) => {
      answer.started(task)
      followed.set(task.uuid, run)
      // On narrow screens the runs are below the forms: bring the new one into view.
      if (window.matchMedia('(max-width: 1020px)').matches) {
        document.querySelector(`.run[data-uuid="${task.uuid}"]`)?.scrollIntoView({ behavior: 'smooth', block: 'center' })
      }
    }, () => {})
    .finally(() => {
      button.disabled = false
    })
  run.then(
    (task) => followed.delete(task.uuid),
    (error) => {
      if (error.json) {
        followed.delete(error.json.uuid)
        runs.update(error.json, inputs)
        if (error.code !== 'failed' && error.code !== 'cancelled') runs.notice(error.json.uuid, error.message)
      } else if (!(error.code === 'bad_request' && showBadRequest(form, error.body))) {
        showFormError(form, error.message)
      }
    },
  )
}

/** Follows again the runs kept from an earlier visit. */
function reattach(runs) {
  const kept = storedRuns()
  forgetAnswers(kept.map((saved) => saved.uuid))
  for (const saved of kept) {
    runs.placeholder(saved)
    // A task that writes an answer: shown from this tab's storage, read on from there.
    const answer = answerOf(saved.task, runs, saved.uuid)
    const watch = TaskAPI.watch(saved.uuid, { onProgress: (task) => runs.update(task, saved.inputs), ...answer.options })
    followed.set(saved.uuid, watch)
    watch.then(
      () => followed.delete(saved.uuid),
      (error) => {
        followed.delete(saved.uuid)
        if (error.httpStatus === 404) return runs.remove(saved.uuid)
        if (error.json) runs.update(error.json)
        if (error.code !== 'failed' && error.code !== 'cancelled') runs.notice(saved.uuid, error.message)
      },
    )
  }
}

function cancel(runs, uuid) {
  const run = followed.get(uuid)
  const answer = run ? run.cancel() : TaskAPI.cancel(uuid)
  answer.then(
    (task) => task && runs.update(task),
    (error) => runs.notice(uuid, 'Could not cancel: ' + error.message),
  )
}

/** Makes a share link to a run, for an hour, and shows the URL of its share page. */
function share(runs, uuid) {
  TaskAPI.share(uuid, { expiresIn: 3600 }).then(
    (link) => runs.shared(uuid, `${location.origin}/share/#share=${link.token}&task=${uuid}`),
    (error) => runs.shared(uuid, null, error.message),
  )
}

async function main() {
  const grid = document.getElementById('catalog')
  const failure = document.getElementById('catalog-error')
  if (!TaskAPI) {
    failure.textContent = 'The Task API client (django-task-api.streams.min.js) did not load.'
    failure.hidden = false
    return
  }
  let catalog
  try {
    catalog = (await loadCatalog()).sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name))
  } catch (error) {
    failure.textContent = 'Could not load the task catalog: ' + error.message
    failure.hidden = false
    grid.replaceChildren()
    return
  }
  const runs = new RunList(document.getElementById('runs'), {
    catalog: new Map(catalog.map((entry) => [entry.name, entry])),
    onCancel: (uuid) => cancel(runs, uuid),
    onShare: (uuid) => share(runs, uuid),
  })
  grid.replaceChildren(
    ...catalog.map((entry) => {
      const form = buildForm(entry)
      form.addEventListener('submit', (event) => {
        event.preventDefault()
        submit(form, entry, runs)
      })
      return form
    }),
  )
  grid.removeAttribute('aria-busy')
  reattach(runs)
  document.getElementById('batch-slot').replaceChildren(batchPanel(TaskAPI))
  document.body.dataset.ready = 'true'
}

main()
