/** Classic-script entry of the core (tasks only): defines the `TaskAPI` global. */
import TaskAPI from './core'

;(globalThis as any).TaskAPI = TaskAPI
