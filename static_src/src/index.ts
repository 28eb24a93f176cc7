/** The whole API: the classic script's (api.ts), with streams. */
import { cancel, cancelBatch, get, getBatch, options, runAll, start, startBatch, TaskAPIError, watchBatch } from './api'
import { revokeBatchShares, revokeShares, share, shareBatch } from './api'
import { run, stream, watch } from './streams'

/** The API object: the npm default export, the CommonJS module and the `TaskAPI` global of `django-task-api.streams.min.js`. */
const TaskAPI = {
  options,
  run,
  watch,
  start,
  cancel,
  get,
  stream,
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
export { options, run, watch, start, cancel, get, stream, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch }
export { share, shareBatch, revokeShares, revokeBatchShares }
export default TaskAPI
