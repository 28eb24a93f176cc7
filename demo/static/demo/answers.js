// The text a task writes to a stream, shown on its run card as it comes. This tab keeps
// it in sessionStorage with the position reached (`next`), by task uuid: after a reload
// the card shows the kept text at once and the stream is read on from `next`.
const STORAGE_KEY = 'task-api-demo.answers'
/** The stream each streaming task of the demo writes, by task name. */
const STREAMS = { 'write-answer': 'answer' }

function load() {
  try {
    const all = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || '{}')
    return all && typeof all === 'object' ? all : {}
  } catch {
    return {}
  }
}

function save(all) {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(all))
  } catch {
    // Private mode or full storage: after a reload the stream is read from the start.
  }
}

/** Forgets the kept text of runs no longer in the list. */
export function forgetAnswers(uuids) {
  const all = load()
  for (const uuid of Object.keys(all)) if (!uuids.includes(uuid)) delete all[uuid]
  save(all)
}

/**
 * What following task `name` needs to show its stream on its card: `options` (the
 * `streams` option of `TaskAPI.run` or `TaskAPI.watch`, from the position kept for
 * `uuid`, else from 0) and `started(task)`, to call once the task's uuid is known.
 * Tasks without a stream get `{options: {}}`.
 */
export function answerOf(name, runs, uuid = null) {
  const stream = STREAMS[name]
  if (!stream) return { options: {}, started() {} }
  const kept = (uuid && load()[uuid]) || { next: 0, text: '' }
  const state = { uuid, text: kept.text, next: kept.next, resumedAt: kept.next }
  const show = () => {
    if (!state.uuid) return
    save({ ...load(), [state.uuid]: { next: state.next, text: state.text } })
    runs.answer(state.uuid, state)
  }
  const onChunks = (chunks, offset) => {
    state.text += chunks.join('')
    state.next = offset + chunks.length
    show()
  }
  if (uuid && kept.next) show()
  return {
    options: { streams: { [stream]: { offset: kept.next, onChunks } } },
    started(task) {
      state.uuid = task.uuid
      show()
    },
  }
}
