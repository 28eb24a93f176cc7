/*! django-task-api 2.0.0 | BSD-3-Clause */
export { runAll, watchBatch, startBatch, getBatch, cancelBatch } from './index.mjs'
