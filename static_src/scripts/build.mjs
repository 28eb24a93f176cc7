// Builds the client. `node scripts/build.mjs` writes every output;
// `node scripts/build.mjs --check` rebuilds in memory and fails when the
// built files, as committed (git HEAD) or on disk, differ from it.
import { execFileSync } from 'node:child_process'
import { readFile, writeFile, mkdir, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')
const repo = join(here, '..')
const pkg = JSON.parse(await readFile(join(here, 'package.json'), 'utf8'))
const banner = `/*! ${pkg.name} ${pkg.version} | ${pkg.license} */`

/**
 * Committed classic-script builds, relative to the repository root: the API
 * without streams, the core alone, and the whole API with streams.
 */
const STATIC = ['task_api/static/django-task-api.min.js']
const CORE = STATIC.map((path) => path.replace(/\.min\.js$/, '.core.min.js'))
const STREAMS = STATIC.map((path) => path.replace(/\.min\.js$/, '.streams.min.js'))
/** The most the core classic script may weigh, gzipped: 3 KB. */
const CORE_LIMIT = 3072
/** What `django-task-api/batch` exports: the main entry's batch calls and types. */
const BATCH = ['runAll', 'watchBatch', 'startBatch', 'getBatch', 'cancelBatch']
const BATCH_TYPES = ['Batch', 'BatchResult', 'BatchCallOptions', 'BatchPromise']
/**
 * Members of the internal interfaces (`Kind`, `Sub`, `Conn`, `Reader`, `Track` in src/), which
 * the classic scripts shorten. None may name a property of the public API or
 * of a web API the client uses; `build()` checks the public declarations.
 */
const INTERNAL = [
  ...['key', 'id', 'hello', 'bye', 'live', 'frame', 'down', 'remove', 'path', 'merge', 'final', 'outcome', 'cancelFailed', 'describe'],
  ...['reader', 'take', 'over', 'refused', 'feed', 'poll', 'begin', 'stop'],
]

async function bundle(entry, format, minify) {
  const result = await esbuild.build({
    entryPoints: [join(here, 'src', entry)],
    bundle: true,
    format,
    minify,
    // `CORE` (src/env.d.ts): the core leaves out what is behind `!CORE`, e.g. share links.
    define: { CORE: String(entry == 'browser-core.ts') },
    mangleProps: minify ? new RegExp(`^(${INTERNAL.join('|')})$`) : undefined,
    target: 'es2020',
    charset: 'utf8',
    legalComments: 'none',
    banner: { js: banner },
    write: false,
    logLevel: 'warning',
  })
  return result.outputFiles[0].text
}

/**
 * The declarations of the CommonJS build: `require()` returns the API object
 * itself (`module.exports =`), which TypeScript spells `export =` of a namespace.
 */
function commonJSTypes(types) {
  const cut = types.indexOf('\ndeclare const TaskAPI:')
  if (cut < 0) throw new Error('types/index.d.ts: no `declare const TaskAPI:` to end with')
  const [doc, ...rest] = types.slice(0, cut).trimEnd().split('\n')
  const body = rest.map((line) => (line ? '  ' + line.replace(/^export declare /, 'export ') : line))
  return [doc, 'declare namespace TaskAPI {', ...body, '}', 'export = TaskAPI', ''].join('\n')
}

/** Every output, keyed by path relative to the repository root. */
async function build() {
  const types = await readFile(join(here, 'types/index.d.ts'), 'utf8')
  const declared = types.replace(/\/\*[\s\S]*?\*\//g, '')
  const clash = INTERNAL.filter((name) => new RegExp(`\\b${name}\\??[:(]`).test(declared))
  if (clash.length) throw new Error(`types/index.d.ts: public names the classic scripts would shorten: ${clash.join(', ')}`)
  const iife = await bundle('browser.ts', 'iife', true)
  const core = await bundle('browser-core.ts', 'iife', true)
  const streams = await bundle('browser-streams.ts', 'iife', true)
  const names = BATCH.join(', ')
  const batchTypes = (from) =>
    `/** Batches of the Django Task API browser client: the main entry's, re-exported. */\n` +
    `export { ${names}, type ${BATCH_TYPES.join(', type ')} } from '${from}'\n`
  return {
    ...Object.fromEntries(STATIC.map((path) => [path, iife])),
    ...Object.fromEntries(CORE.map((path) => [path, core])),
    ...Object.fromEntries(STREAMS.map((path) => [path, streams])),
    'static_src/dist/index.mjs': await bundle('index.ts', 'esm', false),
    'static_src/dist/index.cjs': await bundle('node.ts', 'cjs', false),
    // One declaration file per module format, so that TypeScript reads the
    // ES module as ESM and the CommonJS build as CommonJS.
    'static_src/dist/index.d.mts': types,
    'static_src/dist/index.d.cts': commonJSTypes(types),
    // `django-task-api/batch` re-exports the main entry's batch calls: one
    // module instance, so one `options` and one shared socket.
    'static_src/dist/batch.mjs': `${banner}\nexport { ${names} } from './index.mjs'\n`,
    'static_src/dist/batch.cjs': `${banner}\n'use strict'\nconst { ${names} } = require('./index.cjs')\nmodule.exports = { ${names} }\n`,
    'static_src/dist/batch.d.mts': batchTypes('./index.mjs'),
    'static_src/dist/batch.d.cts': batchTypes('./index.cjs'),
  }
}

/** The file as in git HEAD: null when missing, the build itself outside a git work tree. */
function committed(path) {
  try {
    execFileSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: repo, stdio: 'ignore' })
  } catch {
    return outputs[path]
  }
  try {
    return execFileSync('git', ['show', `HEAD:${path}`], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return null
  }
}

/**
 * Write `text` to `file` unless it holds that already, through a temporary file and a
 * rename: tests that read the built files while `npm test` rebuilds never see half of one.
 */
async function update(file, text) {
  if ((await readFile(file, 'utf8').catch(() => null)) === text) return
  await mkdir(dirname(file), { recursive: true })
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, text)
  await rename(temporary, file)
}

const outputs = await build()
const gzipped = (text) => gzipSync(text, { level: 9 }).length
const weight = (text) => `${Buffer.byteLength(text)} bytes minified, ${gzipped(text)} bytes gzipped`
const size = weight(outputs[STATIC[0]])
const coreSize = weight(outputs[CORE[0]])
const streamsSize = weight(outputs[STREAMS[0]])
const sizes = `TaskAPI: ${size}; core: ${coreSize}; with streams: ${streamsSize}`

if (process.argv.includes('--check')) {
  const stale = []
  for (const path of Object.keys(outputs)) {
    const onDisk = await readFile(join(repo, path), 'utf8').catch(() => null)
    if (onDisk !== outputs[path] || committed(path) !== outputs[path]) stale.push(path)
  }
  if (stale.length) {
    console.error(`Out of date (run \`npm run build\` and commit): ${stale.join(', ')}`)
    process.exit(1)
  }
  console.log(`Built files are up to date (${sizes}).`)
} else {
  for (const [path, text] of Object.entries(outputs)) await update(join(repo, path), text)
  const readme = join(here, 'README.md')
  const doc = await readFile(readme, 'utf8')
  await update(
    readme,
    doc
      .replace(/(<!-- size -->).*(<!-- \/size -->)/, `$1${size}$2`)
      .replace(/(<!-- core-size -->).*(<!-- \/core-size -->)/, `$1${coreSize}$2`)
      .replace(/(<!-- streams-size -->).*(<!-- \/streams-size -->)/, `$1${streamsSize}$2`),
  )
  console.log(sizes)
}
if (gzipped(outputs[CORE[0]]) > CORE_LIMIT) {
  console.error(`The core is over ${CORE_LIMIT} bytes gzipped: ${coreSize}.`)
  process.exit(1)
}
