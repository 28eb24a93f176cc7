// Small DOM and formatting helpers shared by the demo's modules.

/** Creates an element: h('p', {class: 'x', dataset: {a: 1}}, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue
    if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key === 'text') el.textContent = value
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else if (key in el && typeof el[key] !== 'string') el[key] = value
    else el.setAttribute(key, value === true ? '' : value)
  }
  el.append(...children.flat().filter((c) => c != null && c !== false))
  return el
}

/** An inline SVG icon from `ICONS`, or a generic one. */
export function icon(name, size = 20) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('width', size)
  svg.setAttribute('height', size)
  svg.setAttribute('aria-hidden', 'true')
  svg.innerHTML = ICONS[name] || ICONS.task
  return svg
}

const stroke = 'fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"'

/** Icons of the demo's tasks, by task name. */
const ICONS = {
  countdown: `<circle cx="12" cy="13" r="8" ${stroke}/><path d="M12 9v4l2.5 2.5M9.5 2.5h5" ${stroke}/>`,
  primes: `<path d="M4 9h16M4 15h16M10 3 8 21M16 3l-2 18" ${stroke}/>`,
  'word-stats': `<path d="M4 6h16M4 12h10M4 18h13" ${stroke}/>`,
  'write-answer': `<path d="M4 5h16v11H9l-5 4V5z" ${stroke}/><path d="M8 9h8M8 12.5h5" ${stroke}/>`,
  report: `<path d="M7 4h10l3 3v13H4V4h3z" ${stroke}/><path d="M8 10h8M8 14h8M8 18h5" ${stroke}/>`,
  flaky: `<path d="M12 3 2 20h20L12 3z" ${stroke}/><path d="M12 10v4M12 17.5v.01" ${stroke}/>`,
  'demo.functions.convert_temperatures': `<path d="M14 14.8V5a2 2 0 0 0-4 0v9.8a4 4 0 1 0 4 0z" ${stroke}/><path d="M12 17.5v-6" ${stroke}/>`,
  'long-job': `<path d="M6 3h12M6 21h12M7 3c0 5 10 6 10 9s-10 4-10 9M17 3c0 5-10 6-10 9" ${stroke}/>`,
  run: `<path d="M7 4.5v15l12-7.5-12-7.5z" fill="currentColor"/>`,
  close: `<path d="M6 6l12 12M18 6 6 18" ${stroke}/>`,
  link: `<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1" ${stroke}/>`,
  stop: `<rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor"/>`,
  task: `<rect x="4" y="4" width="16" height="16" rx="3" ${stroke}/><path d="M8 12l3 3 5-6" ${stroke}/>`,
}

/** "word-stats" or "ignore_case" as "Word stats", "Ignore case". */
export const humanize = (name) => {
  const words = String(name).replace(/[-_]+/g, ' ').trim()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** A JSON value for display: numbers grouped, booleans as Yes/No. */
export function formatValue(value) {
  if (typeof value === 'number') return value.toLocaleString('en-US', { maximumFractionDigits: 3 })
  if (typeof value === 'boolean') return value ? 'Yes' : 'No'
  if (typeof value === 'string') return value
  return JSON.stringify(value)
}

/** Seconds between two ISO times (or until now), as "3.4 s" or "2 min 05 s". */
export function duration(from, to) {
  if (!from) return ''
  const seconds = Math.max(0, ((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000)
  if (seconds < 60) return seconds.toFixed(1) + ' s'
  const minutes = Math.floor(seconds / 60)
  return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`
}

/** An ISO time as the local "HH:MM:SS". */
export const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false })
