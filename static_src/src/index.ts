/** The whole API: the core, starts over the open socket, and batches. */
import { cancelBatch, getBatch, runAll, startBatch, watchBatch } from './batch'
import { cancel, get, options, run, start, TaskAPIError, watch } from './core'
import { startFrame } from './start-frame'
import { extras } from './task'

extras.startFrame = startFrame

/** The API object: the `TaskAPI` global, the default export and the CommonJS module. */
const TaskAPI = { options, run, watch, start, cancel, get, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch }
export { options, run, watch, start, cancel, get, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch }
export default TaskAPI
