/** The core API: start, follow and cancel tasks. */
import { TaskAPIError } from './errors'
import { options } from './options'
import { cancel, get, run, start, watch } from './task'

/** The core API object: the `TaskAPI` global of the core classic script. */
const TaskAPI = { options, run, watch, start, cancel, get, TaskAPIError }
export { options, run, watch, start, cancel, get, TaskAPIError }
export default TaskAPI
