/** Batches of the Django Task API browser client: the main entry's, re-exported. */
export { runAll, watchBatch, startBatch, getBatch, cancelBatch, type Batch, type BatchResult, type BatchCallOptions, type BatchPromise } from './index.mjs'
