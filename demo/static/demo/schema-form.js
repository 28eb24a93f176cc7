// A task's form, built from the JSON Schema of its inputs (GET /tasks/catalog/).
import { h, humanize, icon } from './dom.js'

/** Whether one input box can hold a value of this schema: a number or a string. */
const scalar = (schema) => !Array.isArray(schema?.enum) && ['integer', 'number', 'string'].includes(schema?.type)

/** The schema of one row of a list or dict control ({} for any JSON value). */
const rowSchema = (schema) =>
  schema.type === 'array' ? schema.items : schema.additionalProperties === true ? {} : schema.additionalProperties

/** The kind of control for one input's schema: JSON text for the shapes no other fits. */
function kindOf(schema) {
  if (Array.isArray(schema.enum)) return 'select'
  if (schema.type === 'boolean') return 'checkbox'
  if (schema.type === 'integer' || schema.type === 'number') return 'number'
  if (schema.type === 'string') {
    const long = (schema.maxLength ?? Infinity) > 200 && String(schema.default ?? '').length > 60
    return long ? 'textarea' : 'text'
  }
  if (schema.type === 'array' && scalar(schema.items)) return 'list'
  const values = schema.additionalProperties
  if (schema.type === 'object' && !schema.properties && (values === true || scalar(values))) return 'dict'
  return 'json'
}

/** An input for one number or string (any JSON value when the schema is {}). */
function box(schema, attrs) {
  if (schema.type === 'integer' || schema.type === 'number') {
    const integer = schema.type === 'integer'
    return h('input', { ...attrs, type: 'number', inputmode: integer ? 'numeric' : 'decimal', step: integer ? '1' : 'any', min: schema.minimum, max: schema.maximum })
  }
  return h('input', { ...attrs, type: 'text', maxlength: schema.maxLength })
}

/** The rows of a list (one input each) or a dict (key and value), with Add and Remove. */
function rowsControl(common, label, kind, schema) {
  const item = rowSchema(schema)
  const rows = h('ol', { class: 'rows' })
  const changed = () => rows.dispatchEvent(new Event('input', { bubbles: true }))
  const addRow = (key, value) => {
    const shown = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value)
    const remove = h('button', { type: 'button', class: 'icon-button', title: 'Remove', 'aria-label': 'Remove', dataset: { action: 'remove-row' } }, icon('close', 14))
    const row = h(
      'li',
      { class: 'row' },
      kind === 'dict' ? h('input', { type: 'text', class: 'row-key', value: key ?? '', placeholder: 'key', 'aria-label': `${label}: key` }) : null,
      box(item, { class: 'row-value', value: shown, placeholder: kind === 'dict' ? 'value' : null, 'aria-label': `${label}: ${kind === 'dict' ? 'value' : 'item'}` }),
      remove,
    )
    remove.addEventListener('click', () => {
      row.remove()
      changed()
    })
    rows.append(row)
    return row
  }
  const initial = kind === 'list' ? (schema.default ?? []).map((value) => [null, value]) : Object.entries(schema.default ?? {})
  for (const [key, value] of initial) addRow(key, value)
  if (!rows.children.length && common.required) addRow()
  const add = () => {
    addRow().querySelector('input').focus()
    changed()
  }
  const text = kind === 'list' ? 'Add item' : 'Add entry'
  return h('fieldset', { ...common, required: null, class: 'rows-control' }, rows, h('button', { type: 'button', class: 'link-button', dataset: { action: 'add-row' }, onclick: add, text: `+ ${text}` }))
}

/** A list or dict control's value; undefined when it is empty and optional. Blank rows are left out. */
function readRows(control, schema, required) {
  const item = rowSchema(schema)
  const list = []
  const dict = {}
  for (const [index, row] of [...control.querySelectorAll('.row')].entries()) {
    const input = row.querySelector('.row-value')
    const key = row.querySelector('.row-key')?.value.trim()
    const text = input.value.trim()
    if (input.validity.badInput) return { problem: `Row ${index + 1}: enter a number.` }
    if (text === '' && !key) continue
    let value = input.value
    if (input.type === 'number') value = Number.isFinite(Number(text)) && text !== '' ? Number(text) : text
    else if (!item.type) {
      try {
        value = JSON.parse(text)
      } catch {}
    }
    if (key === undefined) list.push(value)
    else if (key in dict) return { problem: `The key "${key}" is given twice.` }
    else dict[key] = value
  }
  const value = schema.type === 'array' ? list : dict
  return { value: Object.keys(value).length || required ? value : undefined }
}

/** One input's control, with its label, description and error slot. */
function field(task, name, schema, required) {
  const id = `${task}-${name}`
  const kind = kindOf(schema)
  const label = schema.title || humanize(name)
  const help = schema.description ? h('p', { class: 'help', id: `${id}-help`, text: schema.description }) : null
  const error = h('p', { class: 'field-error', id: `${id}-error`, dataset: { field: name }, role: 'alert', hidden: true })
  const described = [help && help.id, error.id].filter(Boolean).join(' ')
  const common = { id, name, 'aria-describedby': described, dataset: { kind } }
  let control
  if (kind === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: schema.default === true })
    return h(
      'div',
      { class: 'field field-checkbox', dataset: { field: name } },
      h('label', { class: 'switch', for: id }, control, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', { class: 'label-text', text: label })),
      help,
      error,
    )
  }
  if (kind === 'select') {
    control = h(
      'select',
      common,
      schema.enum.map((value, index) =>
        h('option', { value: String(index), selected: value === schema.default, text: humanize(String(value)) }),
      ),
    )
  } else if (kind === 'number' || kind === 'text') {
    control = box(schema, { ...common, value: schema.default ?? '', required })
  } else if (kind === 'textarea') {
    control = h('textarea', { ...common, rows: 4, maxlength: schema.maxLength, text: schema.default ?? '' })
  } else if (kind === 'list' || kind === 'dict') {
    control = rowsControl({ ...common, required, 'aria-labelledby': `${id}-label` }, label, kind, schema)
  } else {
    const value = schema.default === undefined ? '' : JSON.stringify(schema.default)
    control = h('textarea', { ...common, rows: 3, class: 'mono', placeholder: 'JSON', text: value })
  }
  const wide = kind === 'textarea' || kind === 'json' || kind === 'dict'
  return h(
    'div',
    { class: `field${wide ? ' field-wide' : ''}`, dataset: { field: name } },
    h('label', { for: kind === 'list' || kind === 'dict' ? null : id, id: `${id}-label` }, label, required ? h('span', { class: 'required', title: 'required', text: ' *' }) : null),
    control,
    help,
    error,
  )
}

/** The form of one catalog entry: `<form class="task-card" data-task=name>`. */
export function buildForm(entry) {
  const schema = entry.inputs || {}
  const required = new Set(schema.required || [])
  const properties = Object.entries(schema.properties || {})
  const form = h(
    'form',
    { class: 'task-card', dataset: { task: entry.name }, novalidate: true, 'aria-labelledby': `${entry.name}-title` },
    h(
      'div',
      { class: 'task-head' },
      h('span', { class: 'task-icon', dataset: { task: entry.name } }, icon(entry.name)),
      h('div', {}, h('h3', { id: `${entry.name}-title`, text: entry.title || humanize(entry.name) }), h('p', { class: 'task-desc', text: entry.description })),
    ),
    properties.length
      ? h('div', { class: 'fields' }, properties.map(([name, prop]) => field(entry.name, name, prop, required.has(name))))
      : h('p', { class: 'muted', text: 'No inputs.' }),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h(
      'div',
      { class: 'task-foot' },
      h('code', { class: 'call', title: 'The call this form makes' }),
      h('button', { type: 'submit', class: 'button primary' }, icon('run', 16), h('span', { text: 'Run' })),
    ),
  )
  const preview = () => {
    const { inputs } = readInputs(form, schema)
    form.querySelector('.call').textContent = `TaskAPI.run('${entry.name}', ${JSON.stringify(inputs)})`
  }
  form.addEventListener('input', (event) => {
    const name = event.target.closest('.field')?.dataset.field
    if (name) showFieldError(form, name, null)
    preview()
  })
  preview()
  return form
}

/**
 * The inputs a form holds, as JSON values, and the problems found before sending.
 * An empty optional number is left out, so the task's default applies.
 */
export function readInputs(form, schema) {
  const inputs = {}
  const problems = {}
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const control = form.elements.namedItem(name)
    if (!control) continue
    const kind = control.dataset.kind
    if (kind === 'checkbox') inputs[name] = control.checked
    else if (kind === 'select') inputs[name] = prop.enum[Number(control.value)]
    else if (kind === 'number') {
      const text = control.value.trim()
      if (control.validity.badInput) problems[name] = 'Enter a number.'
      else if (text !== '') inputs[name] = Number.isFinite(Number(text)) ? Number(text) : text
      else if ((schema.required || []).includes(name)) inputs[name] = text
    } else if (kind === 'list' || kind === 'dict') {
      const { value, problem } = readRows(control, prop, (schema.required || []).includes(name))
      if (problem) problems[name] = problem
      else if (value !== undefined) inputs[name] = value
    } else if (kind === 'json') {
      if (control.value.trim() === '') continue
      try {
        inputs[name] = JSON.parse(control.value)
      } catch {
        problems[name] = 'Enter valid JSON.'
      }
    } else inputs[name] = control.value
  }
  return { inputs, problems }
}

/** Shows (or, with null, hides) the error under one field. */
export function showFieldError(form, name, message) {
  const slot = form.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`)
  const control = form.elements.namedItem(name)
  if (control && control.setAttribute) {
    if (message) control.setAttribute('aria-invalid', 'true')
    else control.removeAttribute('aria-invalid')
  }
  if (!slot) return false
  slot.textContent = message || ''
  slot.hidden = !message
  slot.closest('.field')?.classList.toggle('invalid', Boolean(message))
  return true
}

/** Shows an error for the whole form, or hides it with null. */
export function showFormError(form, message) {
  const slot = form.querySelector('.form-error')
  slot.textContent = message || ''
  slot.hidden = !message
}

/** Hides every error of the form. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll('.field-error')) showFieldError(form, slot.dataset.field, null)
  showFormError(form, null)
}

/** DRF error detail (a list of messages, or nested) as one line. */
export const messageOf = (detail) =>
  Array.isArray(detail)
    ? detail.map(messageOf).join(' ')
    : detail && typeof detail === 'object'
      ? Object.entries(detail).map(([key, value]) => `${key}: ${messageOf(value)}`).join(' ')
      : String(detail)

/**
 * Shows the field errors of a 400 answer next to their fields; returns false
 * when the answer carried none.
 */
export function showBadRequest(form, body) {
  if (!body || typeof body !== 'object') return false
  const rest = []
  for (const [name, detail] of Object.entries(body.inputs || {})) {
    if (!showFieldError(form, name, messageOf(detail))) rest.push(`${name}: ${messageOf(detail)}`)
  }
  for (const [key, detail] of Object.entries(body)) if (key !== 'inputs') rest.push(messageOf(detail))
  if (rest.length) showFormError(form, rest.join(' '))
  return true
}
