/** Classic-script entry: defines the `TaskAPI` global. */
import TaskAPI from './index'

;(globalThis as any).TaskAPI = TaskAPI
