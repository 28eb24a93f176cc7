/** Classic-script entry: defines the `TaskAPI` global (without streams). */
import TaskAPI from './api'

;(globalThis as any).TaskAPI = TaskAPI
