// Form helpers for the sign-in, account and administration pages (package A): inputs with a
// hint and an error line of their own (tied to the input by aria-describedby), the API's field
// errors (400 `details`) and conflicts (409 `username_taken`/`email_taken`) shown beside their
// field, and buttons disabled while their request runs.
import { h, message } from './ui.js';

let seq = 0;

/** @param {string} name */
const nextId = (name) => `in-${name.replace(/[^\w-]/g, '')}-${++seq}`;

/**
 * A labelled `<input>` (or `<select>` when `options` are given) with an optional hint and an
 * error line that `showErrors` fills.
 * @param {string} label @param {Record<string, any>} props @param {string | null} [hint]
 * @param {{value: string, label: string}[]} [options]
 */
export function input(label, props, hint, options) {
  const id = props.id || nextId(props.name || 'x');
  const control = options
    ? h('select', { ...props, id, 'aria-describedby': hint ? `${id}-hint` : null },
        options.map((o) => h('option', { value: o.value, selected: o.value === props.value }, o.label)))
    : h('input', { ...props, id, 'aria-describedby': hint ? `${id}-hint` : null });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint muted', id: `${id}-hint` }, hint) : null,
    h('p', { class: 'error field-error', id: `${id}-err`, hidden: true }));
}

/** A checkbox with its label after it. @param {string} label @param {Record<string, any>} props */
export function checkbox(label, props) {
  const id = props.id || nextId(props.name || 'check');
  return h('div', { class: 'check' }, h('input', { ...props, id, type: 'checkbox' }), h('label', { for: id }, label));
}

/** The conflict codes that belong to one field. */
const CONFLICTS = /** @type {Record<string, string>} */ ({ username_taken: 'username', email_taken: 'email' });

/** Hides every error `showErrors` showed in `form`. @param {Element} form @param {HTMLElement | null} [summary] */
export function clearErrors(form, summary) {
  for (const el of form.querySelectorAll('.field-error')) {
    /** @type {HTMLElement} */ (el).hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.endsWith('-err'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  if (summary) {
    summary.hidden = true;
    summary.textContent = '';
  }
}

/**
 * Shows `e` (an ApiError or any error): each field error beside its input (by `name`), the
 * rest and the message in `summary` (a role=alert element). Returns the summary's text.
 * @param {Element} form @param {any} e @param {HTMLElement | null} [summary]
 */
export function showErrors(form, e, summary) {
  clearErrors(form, summary);
  /** @type {Record<string, any>} */
  const fields = { ...(e?.fields || {}) };
  const conflict = CONFLICTS[e?.code];
  if (conflict) fields[conflict] = e.message;
  /** @type {string[]} */
  const rest = [];
  /** @type {HTMLElement | null} */
  let first = null;
  for (const [name, v] of Object.entries(fields)) {
    const text = Array.isArray(v) ? v.join(' ') : String(v);
    const control = /** @type {HTMLElement | null} */ (form.querySelector(`[name="${CSS.escape(name)}"]`));
    const line = control && document.getElementById(`${control.id}-err`);
    if (!control || !line) {
      rest.push(`${name}: ${text}`);
      continue;
    }
    line.textContent = text;
    line.hidden = false;
    control.setAttribute('aria-invalid', 'true');
    const ids = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    control.setAttribute('aria-describedby', [...ids, line.id].join(' '));
    first ??= control;
  }
  const base = Object.keys(e?.fields || {}).length ? e.message || 'Invalid input.' : message(e);
  const text = [base, ...rest].join(' ');
  if (summary) {
    summary.textContent = text;
    summary.hidden = false;
  }
  first?.focus();
  return text;
}

/**
 * Runs `fn` with `button` disabled (and `aria-busy` on it) until it settles.
 * @template T @param {Element | null} button @param {() => Promise<T>} fn @returns {Promise<T>}
 */
export async function busy(button, fn) {
  button?.setAttribute('disabled', '');
  button?.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button?.removeAttribute('disabled');
    button?.removeAttribute('aria-busy');
  }
}

/**
 * For `dialog({onsubmit})`: runs `fn` with the dialog's submit button disabled, shows field
 * errors beside their inputs and rethrows (so the dialog stays open with the message).
 * @template T @param {HTMLFormElement} form @param {() => Promise<T>} fn @returns {Promise<T>}
 */
export async function submitting(form, fn) {
  clearErrors(form);
  try {
    return await busy(form.querySelector('button[type=submit]'), fn);
  } catch (e) {
    const text = showErrors(form, e);
    const err = /** @type {any} */ (new Error(text));
    err.status = /** @type {any} */ (e).status;
    throw err;
  }
}

/** A form's value as a string, trimmed. @param {HTMLFormElement} form @param {string} name */
export function value(form, name) {
  const v = new FormData(form).get(name);
  return typeof v === 'string' ? v.trim() : '';
}

/** A form's value exactly as typed (passwords). @param {HTMLFormElement} form @param {string} name */
export function raw(form, name) {
  const v = new FormData(form).get(name);
  return typeof v === 'string' ? v : '';
}

/** "in 15 minutes" for a Retry-After in seconds. @param {number} secs */
export function waitText(secs) {
  if (!secs) return 'later';
  if (secs < 60) return `in ${secs} second${secs === 1 ? '' : 's'}`;
  const min = Math.ceil(secs / 60);
  if (min < 60) return `in ${min} minute${min === 1 ? '' : 's'}`;
  const hours = Math.ceil(min / 60);
  return `in ${hours} hour${hours === 1 ? '' : 's'}`;
}

/** Bytes from a number and a unit (`MiB`, `GiB`, `TiB`); '' → null (unlimited). */
export const UNITS = /** @type {Record<string, number>} */ ({ MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 });

/** An error shown like the API's 400: `message` and one field's text. @param {string} name @param {string} text */
export function fieldError(name, text) {
  return Object.assign(new Error('Invalid input.'), { fields: { [name]: text } });
}

/**
 * Bytes from an amount in `unit`; '' → null (unlimited). Throws a field error for `name`.
 * @param {string} amount @param {string} unit @param {string} name @returns {number | null}
 */
export function toBytes(amount, unit, name) {
  if (amount.trim() === '') return null;
  const n = Number(amount);
  if (!Number.isFinite(n) || n < 0) throw fieldError(name, 'Enter a number of at least 0, or leave it empty for no limit.');
  return Math.round(n * (UNITS[unit] || 1));
}

/** The best unit for showing `bytes` in a quota input. @param {number | null} bytes */
export function fromBytes(bytes) {
  if (bytes === null || bytes === undefined) return { amount: '', unit: 'GiB' };
  for (const unit of ['TiB', 'GiB', 'MiB']) {
    const n = bytes / UNITS[unit];
    if (n >= 1 && Number.isInteger(n)) return { amount: String(n), unit };
  }
  return { amount: String(Number((bytes / UNITS.MiB).toFixed(3))), unit: 'MiB' };
}
