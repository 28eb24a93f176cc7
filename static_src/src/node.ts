/** CommonJS entry: `require('django-task-api')` is the API object, also as `.default`. */
import TaskAPI from './index'

declare const module: { exports: unknown }

module.exports = Object.assign(TaskAPI, { default: TaskAPI })
