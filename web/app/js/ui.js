// Small DOM helpers shared by every view: element building, dialogs, toasts, formatting.

/**
 * An element: `h('button', {class: 'primary', onclick: fn}, 'Save')`. Props starting with `on`
 * are listeners; `class`, `for`, `aria-*`, `data-*` and the rest are attributes; `false`/`null`
 * props are left out; children are strings, nodes, arrays or null.
 * @param {string} tag @param {Record<string, any> | null} [props] @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) /** @type {any} */ (el).value = v;
    else if (k === 'checked' || k === 'indeterminate') /** @type {any} */ (el)[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {any[]} children */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces `el`'s content. @param {Element} el @param {...any} children */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Shows a message for a few seconds. @param {string} text @param {'info'|'error'} [kind] */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** An error as a person reads it (ApiError's message, field errors joined). @param {any} e */
export function message(e) {
  if (e && e.fields && Object.keys(e.fields).length) {
    const f = Object.entries(e.fields).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : v}`);
    return `${e.message} (${f.join('; ')})`;
  }
  return e?.message || String(e);
}

let ids = 0;

/** An id no other element of the page has. @param {string} prefix */
export function uid(prefix) {
  return `${prefix}-${++ids}`;
}

/**
 * A modal `<dialog>` with `content` and buttons. Resolves with null when dismissed (Cancel,
 * Escape), and otherwise with what `onsubmit(form)` returned — `true` when that is nothing
 * (undefined or null, e.g. a DELETE's 204), so a submitted dialog is always truthy. `onsubmit`
 * may throw to keep the dialog open (its message is shown); while it runs, the dialog's buttons
 * are disabled and Escape does nothing (the request's answer must not be lost).
 * @param {{title: string, content?: any, ok?: string, cancel?: string, danger?: boolean,
 *   onsubmit?: (form: HTMLFormElement) => Promise<any> | any}} o
 * @returns {Promise<any>}
 */
export function dialog(o) {
  return new Promise((resolve) => {
    const titleId = uid('dialog-title');
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const cancel = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', value: 'cancel', onclick: () => close(null) }, o.cancel || 'Cancel'));
    const submit = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: o.danger ? 'danger' : 'primary' }, o.ok || 'OK'));
    const form = h('form', { method: 'dialog' },
      h('h2', { id: titleId }, o.title),
      o.content ?? null,
      error,
      h('div', { class: 'buttons' }, cancel, submit));
    const dlg = /** @type {HTMLDialogElement} */ (h('dialog', { 'aria-labelledby': titleId }, form));
    let done = false;
    let pending = false;
    /** @param {any} v */
    const close = (v) => {
      if (done || pending) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (pending) return;
      pending = true;
      cancel.disabled = true;
      submit.disabled = true;
      dlg.setAttribute('aria-busy', 'true');
      /** @type {any} */
      let v;
      let ok = false;
      try {
        v = o.onsubmit ? await o.onsubmit(/** @type {HTMLFormElement} */ (form)) : true;
        ok = true;
      } catch (e) {
        error.textContent = message(e);
        error.hidden = false;
      } finally {
        pending = false;
        cancel.disabled = false;
        submit.disabled = false;
        dlg.removeAttribute('aria-busy');
      }
      if (ok) close(v === undefined || v === null ? true : v);
      else if (!dlg.open) close(null);
    });
    dlg.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      close(null);
    });
    // The browser may close a modal without a cancelable `cancel` (repeated Escape): dismissed.
    dlg.addEventListener('close', () => close(null));
    document.body.append(dlg);
    dlg.showModal();
    /** @type {HTMLElement | null} */ (form.querySelector('input, select, textarea, button[type=submit]'))?.focus();
  });
}

/** Asks before something irreversible; true when confirmed. @param {string} title @param {string} text @param {string} [ok] */
export function confirmDialog(title, text, ok = 'Delete') {
  return dialog({ title, content: h('p', null, text), ok, danger: true });
}

/** The shapes of `icon()`. */
const ICONS = { dir: 'M1.5 3.5h4l1.5 1.5h7.5v8.5h-13z', file: 'M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3' };

/** A small decorative icon (class `icon icon-<kind>`, hidden from screen readers). @param {'dir' | 'file'} kind */
export function icon(kind) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${kind}`);
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICONS[kind]);
  svg.append(p);
  return svg;
}

/** @param {number} n */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

/** @param {string | number} t RFC 3339 or Unix seconds */
export function formatDate(t) {
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return isNaN(d.getTime()) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A progress bar with an accessible label. @param {string} label */
export function progress(label) {
  const bar = /** @type {HTMLProgressElement} */ (h('progress', { max: 100, value: 0, 'aria-label': label }));
  return {
    el: bar,
    /** @param {number} done @param {number} total */
    set(done, total) {
      bar.value = total ? Math.min(100, (100 * done) / total) : 0;
    },
  };
}

/** Starts a download of `href` in the browser (the server answers with `attachment`). @param {string} href */
export function saveAs(href) {
  const a = h('a', { href, download: '', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}
