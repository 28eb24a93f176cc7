/** Classic-script entry of the whole API, streams included: defines the `TaskAPI` global. */
import TaskAPI from './index'

;(globalThis as any).TaskAPI = TaskAPI
