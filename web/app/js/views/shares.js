// "Share links": every link of the signed-in user, paged, with Copy, Edit and Revoke.
import { get, patch, del } from '../api.js';
import { h, mount, dialog, confirmDialog, toast, message, formatDate } from '../ui.js';
import { input as field, busy } from '../forms.js';
import { filesHref } from '../router.js';
import { copyLink, numberOrNone, selectField, showLink } from '../share-dialog.js';

/** @typedef {import('../share-dialog.js').ShareView} ShareView */

const STATUS = { active: 'Active', expired: 'Expired', used_up: 'Used up' };

/** @param {HTMLElement} main */
export default async function shares(main) {
  document.title = 'Share links · VertexCloud';
  const body = h('tbody');
  const table = h('table', { class: 'shares' },
    h('caption', { class: 'sr-only' }, 'Your share links'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Shared item'),
      h('th', { scope: 'col' }, 'Kind'),
      h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col', class: 'num' }, 'Uses'),
      h('th', { scope: 'col' }, 'Expires'),
      h('th', { scope: 'col' }, 'Password'),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    body);
  const empty = h('p', { class: 'muted', hidden: true },
    'You have no share links yet. Share a file or folder from ', h('a', { href: '/files/' }, 'Files'), '.');
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const more = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', hidden: true }, 'Load more'));
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  // Focus lands here when the last link shown is revoked.
  const title = h('h1', { tabindex: -1 }, 'Share links');
  mount(main,
    title,
    h('p', { class: 'muted' }, 'Links you made to files and folders. Anyone holding a link can use it until it expires, is used up or is revoked.'),
    error, table, empty, h('div', { class: 'toolbar' }, more, count));

  /** @type {string | null} */
  let cursor = null;
  let shown = 0;

  /** @param {ShareView} s */
  const row = (s) => {
    const tr = h('tr', { 'data-id': s.id });
    const fill = () => {
      const folder = s.path.includes('/') ? s.path.slice(0, s.path.lastIndexOf('/')) : '';
      mount(tr,
        h('td', null,
          h('div', { class: 'share-name' }, s.name, s.is_folder ? h('span', { class: 'badge' }, 'folder') : null),
          h('div', { class: 'muted small' }, h('a', { href: filesHref(folder) }, '/' + s.path)),
          s.note ? h('div', { class: 'muted small' }, s.note) : null),
        h('td', null, s.kind === 'upload' ? 'Upload' : 'Download'),
        h('td', null, h('span', { class: `badge status-${s.status}` }, STATUS[s.status] || s.status)),
        h('td', { class: 'num' }, s.max_uses ? `${s.uses} / ${s.max_uses}` : `${s.uses}`),
        h('td', null, formatDate(s.expires_at)),
        h('td', null, s.has_password ? 'Yes' : 'No'),
        h('td', { class: 'actions' }, h('div', { class: 'row' },
          h('button', { type: 'button', 'aria-label': `Copy link to ${s.name}`, onclick: async () => (await copyLink(s.url)) || showLink(s, 'Share link') }, 'Copy link'),
          h('button', { type: 'button', 'aria-label': `Show link to ${s.name}`, class: 'link', onclick: () => showLink(s, 'Share link') }, 'Show'),
          h('button', { type: 'button', 'aria-label': `Edit link to ${s.name}`, 'data-action': 'edit', onclick: () => edit(s) }, 'Edit'),
          h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke link to ${s.name}`, onclick: (/** @type {Event} */ ev) => revoke(s, /** @type {HTMLButtonElement} */ (ev.currentTarget)) }, 'Revoke'))));
    };
    /** @param {ShareView} s2 */
    const update = (s2) => {
      s = s2;
      fill();
    };
    /** @param {ShareView} s */
    const edit = async (s) => {
      const changed = await editDialog(s);
      if (changed && changed !== s) {
        update(changed);
        // The row was drawn anew: the focus goes back to its Edit button.
        /** @type {HTMLButtonElement | null} */ (tr.querySelector('button[data-action=edit]'))?.focus();
        toast('Link updated.');
      }
    };
    /** @param {ShareView} s @param {HTMLButtonElement} button */
    const revoke = async (s, button) => {
      const ok = await confirmDialog('Revoke this link?', `Nobody will be able to use the link to “${s.name}” any more. This cannot be undone.`, 'Revoke');
      if (!ok) return;
      try {
        await busy(button, () => del(`/shares/${encodeURIComponent(s.id)}`));
        // The focus goes to the next link's first button (or the one before, or the title).
        const near = /** @type {HTMLElement | null} */ (tr.nextElementSibling || tr.previousElementSibling);
        tr.remove();
        (/** @type {HTMLElement | null} */ (near?.querySelector('button')) || title).focus();
        shown--;
        status();
        toast('Link revoked.');
      } catch (e) {
        toast(message(e), 'error');
      }
    };
    fill();
    return tr;
  };

  const status = () => {
    empty.hidden = shown > 0 || !!cursor;
    table.hidden = shown === 0;
    count.textContent = shown ? `${shown} link${shown === 1 ? '' : 's'}${cursor ? ' loaded' : ''}` : '';
  };

  const load = async () => {
    more.disabled = true;
    error.hidden = true;
    try {
      /** @type {{items: ShareView[], next_cursor: string | null}} */
      const page = await get('/shares', { query: { limit: 100, cursor } });
      body.append(...page.items.map(row));
      shown += page.items.length;
      cursor = page.next_cursor;
    } catch (e) {
      error.textContent = message(e);
      error.hidden = false;
    } finally {
      more.disabled = false;
      more.hidden = !cursor;
      status();
    }
  };
  more.addEventListener('click', load);
  await load();
}

/**
 * Changes a link: expiry (days from now), use limit, password (keep, set, remove), note.
 * Resolves with the link as changed, `s` itself when nothing changed, or null when cancelled.
 * @param {ShareView} s
 * @returns {Promise<ShareView | null>}
 */
function editDialog(s) {
  const newPassword = field('New password', { name: 'password', type: 'password', autocomplete: 'new-password' });
  newPassword.hidden = true;
  const passwordChoice = selectField('Password', 'password_action', [
    ['keep', s.has_password ? 'Keep the current password' : 'No password'],
    ['set', s.has_password ? 'Set a new password' : 'Set a password'],
    ...(s.has_password ? /** @type {[string, string][]} */ ([['clear', 'Remove the password']]) : []),
  ], 'keep');
  passwordChoice.querySelector('select')?.addEventListener('change', (ev) => {
    newPassword.hidden = /** @type {HTMLSelectElement} */ (ev.target).value !== 'set';
  });
  const content = h('div', null,
    h('p', { class: 'muted' }, `Expires ${formatDate(s.expires_at)}; used ${s.uses} ${s.uses === 1 ? 'time' : 'times'}.`),
    field('New expiry (days from now)', { name: 'expires_in_days', type: 'number', min: 1, inputmode: 'numeric', placeholder: 'unchanged' }),
    field('Maximum uses', { name: 'max_uses', type: 'number', min: 1, inputmode: 'numeric', placeholder: 'unlimited', value: s.max_uses ?? '' }),
    passwordChoice,
    newPassword,
    field('Note for yourself', { name: 'note', maxlength: 500, value: s.note ?? '' }));
  return dialog({
    title: `Edit link to “${s.name}”`,
    content,
    ok: 'Save',
    onsubmit: async (form) => {
      const data = new FormData(form);
      /** @type {Record<string, any>} */
      const changes = {};
      const days = numberOrNone(data.get('expires_in_days'));
      if (days !== undefined) changes.expires_in_days = days;
      const max = numberOrNone(data.get('max_uses')) ?? null;
      if (max !== (s.max_uses ?? null)) changes.max_uses = max;
      const action = data.get('password_action');
      if (action === 'set') {
        const pw = String(data.get('password') || '');
        if (!pw) throw new Error('Type the new password, or keep the current one.');
        changes.password = pw;
      } else if (action === 'clear') changes.password = null;
      const note = String(data.get('note') || '').trim() || null;
      if (note !== (s.note ?? null)) changes.note = note;
      if (!Object.keys(changes).length) return s;
      return patch(`/shares/${encodeURIComponent(s.id)}`, changes);
    },
  });
}
