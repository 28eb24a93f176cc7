// A task's form, built from the JSON Schema of its inputs (GET /tasks/catalog/).
import { h, humanize, icon } from './dom.js'

/** The kind of control for one input's schema. */
function kindOf(schema) {
  if (Array.isArray(schema.enum)) return 'select'
  if (schema.type === 'boolean') return 'checkbox'
  if (schema.type === 'integer' || schema.type === 'number') return 'number'
  if (schema.type === 'string') {
    const long = (schema.maxLength ?? Infinity) > 200 && String(schema.default ?? '').length > 60
    return long ? 'textarea' : 'text'
  }
  return 'json'
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
  } else if (kind === 'number') {
    control = h('input', {
      ...common,
      type: 'number',
      inputmode: schema.type === 'integer' ? 'numeric' : 'decimal',
      step: schema.type === 'integer' ? '1' : 'any',
      min: schema.minimum,
      max: schema.maximum,
      value: schema.default ?? '',
      required,
    })
  } else if (kind === 'textarea') {
    control = h('textarea', { ...common, rows: 4, maxlength: schema.maxLength, text: schema.default ?? '' })
  } else if (kind === 'text') {
    control = h('input', { ...common, type: 'text', maxlength: schema.maxLength, value: schema.default ?? '', required })
  } else {
    const value = schema.default === undefined ? '' : JSON.stringify(schema.default)
    control = h('textarea', { ...common, rows: 3, class: 'mono', placeholder: 'JSON', text: value })
  }
  const wide = kind === 'textarea' || kind === 'json'
  return h(
    'div',
    { class: `field${wide ? ' field-wide' : ''}`, dataset: { field: name } },
    h('label', { for: id }, label, required ? h('span', { class: 'required', title: 'required', text: ' *' }) : null),
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
      h('div', {}, h('h3', { id: `${entry.name}-title`, text: humanize(entry.name) }), h('p', { class: 'task-desc', text: entry.description })),
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
    const name = event.target.name
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
