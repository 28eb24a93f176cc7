/**
 * The API of the classic script `django-task-api.min.js`: the core, starts
 * over the open socket, batches and share links (streams are in index.ts).
 */
import { cancelBatch, getBatch, runAll, startBatch, watchBatch } from './batch'
import { cancel, get, options, run, start, TaskAPIError, watch } from './core'
import { revokeBatchShares, revokeShares, share, shareBatch } from './share'
import { startFrame } from './start-frame'
import { extras } from './task'

extras.startFrame = startFrame

/** The API object of the classic script: the `TaskAPI` global. */
const TaskAPI = {
  options,
  run,
  watch,
  start,
  cancel,
  get,
  TaskAPIError,
  runAll,
  watchBatch,
  startBatch,
  getBatch,
  cancelBatch,
  share,
  shareBatch,
  revokeShares,
  revokeBatchShares,
}
export { options, run, watch, start, cancel, get, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch }
export { share, shareBatch, revokeShares, revokeBatchShares }
export default TaskAPI
