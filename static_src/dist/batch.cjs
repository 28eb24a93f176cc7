/*! django-task-api 2.0.0 | BSD-3-Clause */
'use strict'
const { runAll, watchBatch, startBatch, getBatch, cancelBatch } = require('./index.cjs')
module.exports = { runAll, watchBatch, startBatch, getBatch, cancelBatch }
