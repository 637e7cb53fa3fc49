// The owner's share dialog: a download (or, for a folder, upload) link with expiry, password,
// use limit and note; then the link itself with a Copy button. Used by the file browser
// (openShareDialog) and by the share list (showLink, copyLink).
import { post } from './api.js';
import { h, dialog, toast, formatDate, uid } from './ui.js';
import { input as field, busy } from './forms.js';

/** @typedef {{path: string, name: string, is_directory: boolean}} Shareable */

/**
 * @typedef {object} ShareView
 * @property {string} id
 * @property {string} url
 * @property {string} path
 * @property {string} name
 * @property {'download' | 'upload'} kind
 * @property {boolean} is_folder
 * @property {string} expires_at
 * @property {number | null} max_uses
 * @property {number} uses
 * @property {boolean} has_password
 * @property {string | null} note
 * @property {'active' | 'expired' | 'used_up'} status
 */

/** Digits of a number input as a number, or undefined when empty. @param {FormDataEntryValue | null} v */
export function numberOrNone(v) {
  const s = String(v ?? '').trim();
  return s === '' ? undefined : Number(s);
}

/** A labelled `<select>` (forms.js's). @param {string} label @param {string} name @param {[string, string][]} options @param {string} [value] */
export function selectField(label, name, options, value) {
  return field(label, { name, value }, null, options.map(([v, text]) => ({ value: v, label: text })));
}

/**
 * Copies `text` to the clipboard; where the browser refuses, selects it in `input` so the
 * person can copy it themselves.
 * @param {string} text @param {HTMLInputElement | null} [input]
 */
export async function copyLink(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Link copied.');
    return true;
  } catch {
    if (!input) return false;
    input.focus();
    input.select();
    toast('Copying is not allowed here: the link is selected, press Ctrl+C (⌘C) to copy it.');
    return false;
  }
}

/** What a link allows, in words. @param {ShareView} s */
export function describe(s) {
  const parts = [
    s.kind === 'upload' ? 'Visitors can upload files into this folder' : `Visitors can download this ${s.is_folder ? 'folder' : 'file'}`,
    `until ${formatDate(s.expires_at)}`,
    s.max_uses ? `at most ${s.max_uses} ${s.max_uses === 1 ? 'time' : 'times'}` : 'any number of times',
  ];
  return parts.join(', ') + (s.has_password ? '; a password is needed.' : '; no password.');
}

/** Shows a link with a Copy button and its settings. @param {ShareView} s @param {string} [title] */
export function showLink(s, title = 'Share link created') {
  const id = uid('share-link-url');
  const input = /** @type {HTMLInputElement} */ (h('input', { id, readonly: true, value: s.url, class: 'link-url' }));
  const content = h('div', { class: 'share-result' },
    h('div', { class: 'field' },
      h('label', { for: id }, `Link to “${s.name}”`),
      h('div', { class: 'row' }, input,
        h('button', { type: 'button', onclick: (/** @type {Event} */ ev) => busy(/** @type {Element} */ (ev.currentTarget), () => copyLink(s.url, input)) }, 'Copy link'))),
    h('p', { class: 'muted' }, describe(s)),
    s.note ? h('p', null, 'Note (only you see it): ', s.note) : null);
  input.addEventListener('focus', () => input.select());
  return dialog({ title, content, ok: 'Done', cancel: 'Close' });
}

/**
 * The share dialog for a file or folder of the home: creates the link, then shows it.
 * Resolves with the new link, or null when cancelled.
 * @param {Shareable} item
 * @returns {Promise<ShareView | null>}
 */
export async function openShareDialog(item) {
  const kinds = /** @type {[string, string][]} */ ([['download', 'Download: visitors get the ' + (item.is_directory ? 'folder' : 'file')]]);
  if (item.is_directory) kinds.push(['upload', 'Upload: visitors add files to the folder']);
  const content = h('div', null,
    h('p', { class: 'muted' }, 'Anyone with the link can use it, no account needed.'),
    selectField('Kind', 'kind', kinds, 'download'),
    field('Expires after (days)', { name: 'expires_in_days', type: 'number', min: 1, inputmode: 'numeric', placeholder: 'server default' }, 'Leave empty for the default.'),
    field('Password (optional)', { name: 'password', type: 'password', autocomplete: 'new-password' }),
    field('Maximum uses (optional)', { name: 'max_uses', type: 'number', min: 1, inputmode: 'numeric', placeholder: 'unlimited' }),
    field('Note for yourself (optional)', { name: 'note', maxlength: 500 }));
  /** @type {ShareView | null} */
  const created = await dialog({
    title: `Share “${item.name}”`,
    content,
    ok: 'Create link',
    // dialog() keeps the buttons disabled and ignores Escape while the link is being created.
    onsubmit: (form) => {
      const data = new FormData(form);
      const note = String(data.get('note') || '').trim();
      return post('/shares', {
        path: item.path,
        kind: data.get('kind'),
        expires_in_days: numberOrNone(data.get('expires_in_days')),
        password: String(data.get('password') || '') || undefined,
        max_uses: numberOrNone(data.get('max_uses')),
        note: note || undefined,
      });
    },
  });
  if (!created) return null;
  await showLink(created);
  return created;
}
