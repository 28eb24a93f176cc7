// Builds the client. `node scripts/build.mjs` writes every output;
// `node scripts/build.mjs --check` rebuilds in memory and fails when the
// built files, as committed (git HEAD) or on disk, differ from it.
import { execFileSync } from 'node:child_process'
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')
const repo = join(here, '..')
const pkg = JSON.parse(await readFile(join(here, 'package.json'), 'utf8'))
const banner = `/*! ${pkg.name} ${pkg.version} | ${pkg.license} */`

/** Committed classic-script builds, relative to the repository root. */
const STATIC = ['task_api/static/django-task-api.min.js', 'task_api/static/task_api/django-task-api.min.js']

async function bundle(entry, format, minify) {
  const result = await esbuild.build({
    entryPoints: [join(here, 'src', entry)],
    bundle: true,
    format,
    minify,
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
  const iife = await bundle('browser.ts', 'iife', true)
  return {
    ...Object.fromEntries(STATIC.map((path) => [path, iife])),
    'static_src/dist/index.mjs': await bundle('index.ts', 'esm', false),
    'static_src/dist/index.cjs': await bundle('node.ts', 'cjs', false),
    // One declaration file per module format, so that TypeScript reads the
    // ES module as ESM and the CommonJS build as CommonJS.
    'static_src/dist/index.d.mts': types,
    'static_src/dist/index.d.cts': commonJSTypes(types),
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

const outputs = await build()
const min = outputs[STATIC[0]]
const size = `${Buffer.byteLength(min)} bytes minified, ${gzipSync(min, { level: 9 }).length} bytes gzipped`

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
  console.log(`Built files are up to date (${size}).`)
} else {
  for (const [path, text] of Object.entries(outputs)) {
    await mkdir(dirname(join(repo, path)), { recursive: true })
    await writeFile(join(repo, path), text)
  }
  const readme = join(here, 'README.md')
  const doc = await readFile(readme, 'utf8')
  await writeFile(readme, doc.replace(/(<!-- size -->).*(<!-- \/size -->)/, `$1${size}$2`))
  console.log(`TaskAPI: ${size}`)
}
