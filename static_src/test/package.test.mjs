import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import vm from 'node:vm'
import { gzipSync } from 'node:zlib'

const require = createRequire(import.meta.url)
const root = new URL('..', import.meta.url)
const read = (path) => readFileSync(new URL(path, root), 'utf8')
const pkg = JSON.parse(read('package.json'))
const API = ['options', 'run', 'watch', 'start', 'cancel', 'get', 'stream', 'TaskAPIError', 'runAll', 'watchBatch', 'startBatch', 'getBatch', 'cancelBatch', 'share', 'shareBatch', 'revokeShares', 'revokeBatchShares']
/** The API of the classic script `django-task-api.min.js`: all but streams. */
const CLASSIC_API = API.filter((name) => name != 'stream')

test('require() returns the API object, also as .default', () => {
  const api = require('../dist/index.cjs')
  for (const name of API) assert.ok(name in api, name)
  assert.equal(api.default, api)
  assert.equal(api.options.csrfHeaderName, 'X-CSRFToken')
})

test('import: default export and named exports', async () => {
  const mod = await import('../dist/index.mjs')
  for (const name of API) {
    assert.ok(name in mod.default, name)
    assert.equal(mod[name], mod.default[name], name)
  }
})

test('package.json points at files that exist', () => {
  assert.equal(pkg.name, 'django-task-api')
  assert.equal(pkg.license, 'BSD-3-Clause')
  assert.equal(pkg.sideEffects, false)
  assert.deepEqual(pkg.dependencies, undefined, 'no runtime dependencies')
  const entry = pkg.exports['.']
  assert.deepEqual(Object.keys(entry), ['import', 'require'])
  assert.deepEqual(entry.import, { types: './dist/index.d.mts', default: './dist/index.mjs' })
  assert.deepEqual(entry.require, { types: './dist/index.d.cts', default: './dist/index.cjs' })
  for (const path of [pkg.main, pkg.module, pkg.types, ...Object.values(entry).flatMap(Object.values)]) read(path)
  assert.equal(pkg.types, entry.require.types)
  assert.match(read(entry.import.types), /export declare function run</)
  assert.match(read(entry.require.types), /export = TaskAPI\n$/)
  assert.equal(pkg.scripts.prepack, undefined, 'npm pack works before npm ci: the builds are committed')
  for (const key of ['homepage', 'bugs']) assert.ok(pkg[key], key)
  assert.equal(pkg.repository.url, 'git+https://github.com/django-task-api/django-task-api.git')
})

const classic = read('../task_api/static/django-task-api.min.js')

test('the classic script defines only the TaskAPI global', async () => {
  const answer = { uuid: 'u1', status: 'succeeded', seq: 1, outputs: { sum: 3 } }
  const context = vm.createContext({
    fetch: async () => ({ ok: true, status: 201, text: async () => JSON.stringify(answer) }),
    setTimeout,
    clearTimeout,
  })
  vm.runInContext(classic, context)
  assert.deepEqual(Object.keys(context), ['fetch', 'setTimeout', 'clearTimeout', 'TaskAPI'])
  const { TaskAPI } = context
  assert.deepEqual(Object.keys(TaskAPI).sort(), [...CLASSIC_API].sort())
  assert.deepEqual({ ...TaskAPI.options }, {
    baseURL: '/tasks/',
    wsURL: '/ws/tasks/',
    csrfCookieName: 'csrftoken',
    csrfHeaderName: 'X-CSRFToken',
    pollInterval: 1000,
    transport: 'auto',
    maxRetries: 5,
    credentials: 'same-origin',
    timeout: 15000,
    connectTimeout: 5000,
    startFrame: true,
  })
  const sum = await TaskAPI.run('sum', { numbers: [1, 2] }).then((json) => json.outputs.sum)
  assert.equal(sum, 3)
})

test('the classic script is at most 4 KB gzipped, under the 4.2 KB of 1.x', () => {
  const size = gzipSync(classic, { level: 9 }).length
  assert.ok(size <= 4096, `${size} bytes`)
  assert.match(read('README.md'), new RegExp(`${Buffer.byteLength(classic)} bytes minified, ${size} bytes gzipped`))
})

const BATCH = ['runAll', 'watchBatch', 'startBatch', 'getBatch', 'cancelBatch']
const SHARE = ['share', 'shareBatch', 'revokeShares', 'revokeBatchShares']
const CORE_API = CLASSIC_API.filter((name) => !BATCH.includes(name) && !SHARE.includes(name))

test("'django-task-api/batch': the main entry's batch calls, for import and require", async () => {
  const entry = pkg.exports['./batch']
  assert.deepEqual(entry.import, { types: './dist/batch.d.mts', default: './dist/batch.mjs' })
  assert.deepEqual(entry.require, { types: './dist/batch.d.cts', default: './dist/batch.cjs' })
  assert.deepEqual(pkg.typesVersions, { '*': { batch: [entry.require.types] } }, 'TypeScript without exports support')
  for (const path of Object.values(entry).flatMap(Object.values)) read(path)
  const [esm, main] = await Promise.all([import('django-task-api/batch'), import('django-task-api')])
  const cjs = require('django-task-api/batch')
  assert.deepEqual(Object.keys(esm).sort(), [...BATCH].sort())
  assert.deepEqual(Object.keys(cjs).sort(), [...BATCH].sort())
  for (const name of BATCH) {
    assert.equal(esm[name], main[name], `${name}: one module, one options object and one socket`)
    assert.equal(cjs[name], require('django-task-api')[name], name)
  }
  for (const types of [entry.import.types, entry.require.types])
    assert.match(read(types), /export \{ runAll, watchBatch, startBatch, getBatch, cancelBatch, type Batch\b/)
})

test('named imports of the main entry tree-shake: the core leaves batches out', async () => {
  const { build } = await import('esbuild')
  const bundle = async (names) => {
    const result = await build({
      stdin: { contents: `import { ${names} } from './dist/index.mjs'; globalThis.api = { ${names} }`, resolveDir: new URL('.', root).pathname },
      bundle: true,
      minify: true,
      write: false,
      format: 'esm',
    })
    return result.outputFiles[0].text
  }
  const core = await bundle(CORE_API.join(', '))
  assert.doesNotMatch(core, /batches\//)
  assert.match(core, /too_many/, 'starts by frame, as the main entry does')
  assert.match(core, /\/streams\//, "run and watch read the streams their options name")
  assert.match(await bundle('runAll'), /batches\//)
  assert.match(await bundle('share'), /share\//)
  assert.doesNotMatch(core, /share\//)
  assert.doesNotMatch(await bundle('get, cancel'), /\/streams\/|batches\//)
})

const core = read('../task_api/static/django-task-api.core.min.js')

test('the core classic script defines the TaskAPI global without batches', async () => {
  const answer = { uuid: 'u1', status: 'succeeded', seq: 1, outputs: { sum: 3 } }
  const posts = []
  const context = vm.createContext({
    fetch: async (url, init) => (posts.push([init.method, url]), { ok: true, status: 201, text: async () => JSON.stringify(answer) }),
    setTimeout,
    clearTimeout,
  })
  vm.runInContext(core, context)
  assert.deepEqual(Object.keys(context), ['fetch', 'setTimeout', 'clearTimeout', 'TaskAPI'])
  const { TaskAPI } = context
  assert.deepEqual(Object.keys(TaskAPI).sort(), [...CORE_API].sort())
  assert.equal(TaskAPI.options.startFrame, true)
  assert.equal(await TaskAPI.run('sum', { numbers: [1, 2] }).then((json) => json.outputs.sum), 3)
  assert.deepEqual(posts, [['POST', '/tasks/']])
  await assert.rejects(TaskAPI.watch('u2', { transport: 'websocket' }), { name: 'TaskAPIError', code: 'network' })
})

test('the core classic script is at most 3 KB gzipped', () => {
  const size = gzipSync(core, { level: 9 }).length
  assert.ok(size <= 3072, `${size} bytes`)
  assert.match(read('README.md'), new RegExp(`<!-- core-size -->${Buffer.byteLength(core)} bytes minified, ${size} bytes gzipped<`))
})

const streams = read('../task_api/static/django-task-api.streams.min.js')

test('the classic script with streams defines the TaskAPI global of the whole API', async () => {
  const answers = {
    'POST /tasks/': { uuid: 'u1', status: 'pending', seq: 1 },
    'GET /tasks/u1/': { uuid: 'u1', status: 'succeeded', seq: 2, outputs: { n: 2 } },
    'GET /tasks/u1/streams/answer/?offset=0': { offset: 0, next: 2, done: true, chunks: ['4', '2'] },
  }
  const context = vm.createContext({
    fetch: async (url, init) => ({ ok: true, status: 200, text: async () => JSON.stringify(answers[`${init.method} ${url}`]) }),
    setTimeout,
    clearTimeout,
  })
  vm.runInContext(streams, context)
  assert.deepEqual(Object.keys(context), ['fetch', 'setTimeout', 'clearTimeout', 'TaskAPI'])
  const { TaskAPI } = context
  assert.deepEqual(Object.keys(TaskAPI).sort(), [...API].sort())
  const text = []
  const task = await TaskAPI.run('count', {}, { streams: { answer: { onChunks: (chunks) => text.push(...chunks) } } })
  assert.deepEqual([task.outputs.n, text.join('')], [2, '42'])
  const chunks = []
  for await (const chunk of TaskAPI.stream('u1', 'answer')) chunks.push(chunk)
  assert.deepEqual(chunks, ['4', '2'])
  assert.match(read('README.md'), new RegExp(`<!-- streams-size -->${Buffer.byteLength(streams)} bytes minified, ${gzipSync(streams, { level: 9 }).length} bytes gzipped<`))
})
