// The signed-in person's account: storage usage, profile, password, API keys, deletion.
import { get, post, patch, del } from '../api.js';
import { currentUser, reloadUser, signOut } from '../session.js';
import { h, mount, toast, dialog, formatBytes, formatDate, progress, message } from '../ui.js';
import { input, checkbox, showErrors, clearErrors, busy, submitting, value, raw, fieldError } from '../forms.js';

/** @typedef {{id: string, name: string, prefix: string, created_at: string, expires_at: string | null}} ApiKey */
/** @typedef {{used_bytes: number, reserved_bytes: number, quota_bytes: number | null, file_count: number,
 *   file_limit?: number | null}} Storage */

/** @param {HTMLElement} main */
export default async function account(main) {
  document.title = 'Account · VertexCloud';
  const here = location.pathname;
  mount(main, h('h1', null, 'Account'), h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  /** @type {any} */
  let info;
  /** @type {ApiKey[]} */
  let keys;
  try {
    [info, keys] = await Promise.all([get('/auth/user-info'), get('/auth/keys')]);
  } catch (e) {
    if (location.pathname !== here || !currentUser()) return;
    mount(main, h('h1', null, 'Account'), h('p', { class: 'error', role: 'alert' }, message(e)),
      h('button', { type: 'button', onclick: () => account(main) }, 'Try again'));
    return;
  }
  if (location.pathname !== here) return;

  const storageBox = h('div', { class: 'usage' });
  storageBox.append(...usage(info.storage));
  const keyList = h('div');
  const fresh = h('div', { class: 'new-key', hidden: true });

  const refreshKeys = async () => {
    try {
      keys = await get('/auth/keys');
      mount(keyList, keyTable(keys, refreshKeys));
    } catch (e) {
      toast(message(e), 'error');
    }
  };
  const refreshStorage = async () => {
    try {
      const i = await get('/auth/user-info');
      mount(storageBox, ...usage(i.storage));
    } catch (e) {
      toast(message(e), 'error');
    }
  };

  mount(keyList, keyTable(keys, refreshKeys));
  mount(main,
    h('h1', null, 'Account'),
    h('div', { class: 'account-grid' },
      section('Storage', storageBox,
        h('p', null, h('button', { type: 'button', class: 'link',
          onclick: (/** @type {Event} */ ev) => busy(/** @type {Element} */ (ev.currentTarget), refreshStorage) }, 'Refresh'))),
      section('Profile', profileForm(info)),
      section('Password', passwordForm(refreshKeys)),
      wide(section('API keys', h('p', { class: 'muted' },
        'Keys let scripts and tools use your files and shares (not change your account). ',
        'Send one as ', h('code', null, 'Authorization: Bearer <key>'), '.'),
      keyForm(fresh, refreshKeys), fresh, keyList)),
      section('Delete account', h('p', null,
        'Deleting your account removes your files, share links and API keys. It cannot be undone.'),
      h('button', { type: 'button', class: 'danger', onclick: deleteAccount }, 'Delete my account…'))));
}

/** A titled card. @param {string} title @param {...any} children */
function section(title, ...children) {
  const id = 'sec-' + title.toLowerCase().replace(/\W+/g, '-');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, tabindex: -1 }, title), ...children);
}

/** @param {HTMLElement} el */
function wide(el) {
  el.classList.add('wide');
  return el;
}

/** The usage bar and its words. @param {Storage} s */
export function usage(s) {
  const taken = s.used_bytes + s.reserved_bytes;
  const parts = [];
  if (s.quota_bytes !== null && s.quota_bytes !== undefined) {
    const bar = progress('Storage used');
    bar.set(taken, s.quota_bytes);
    const pct = s.quota_bytes ? Math.min(100, Math.round((100 * taken) / s.quota_bytes)) : 100;
    if (pct >= 90) bar.el.classList.add('nearly-full');
    parts.push(bar.el, h('p', null,
      h('strong', null, formatBytes(s.used_bytes)), ` of ${formatBytes(s.quota_bytes)} used (${pct}%)`,
      s.reserved_bytes ? `, ${formatBytes(s.reserved_bytes)} held for uploads and archives in progress` : '',
      '.'));
  } else {
    parts.push(h('p', null, h('strong', null, formatBytes(s.used_bytes)), ' used',
      s.reserved_bytes ? `, ${formatBytes(s.reserved_bytes)} held for uploads and archives in progress` : '',
      '. No storage quota.'));
  }
  const limit = s.file_limit ?? null;
  parts.push(h('p', { class: 'muted' }, `${s.file_count.toLocaleString()} ${s.file_count === 1 ? 'file' : 'files'}`,
    limit !== null ? ` of ${limit.toLocaleString()} allowed` : '', '.'));
  return parts;
}

/** @param {any} user */
function profileForm(user) {
  const summary = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Save profile');
  const form = /** @type {HTMLFormElement} */ (h('form', { novalidate: true },
    h('p', null, 'Username ', h('strong', null, user.username), ' · role ', h('span', { class: 'badge' }, user.user_type)),
    h('div', { class: 'pair' },
      input('First name', { name: 'first_name', autocomplete: 'given-name', maxlength: 150, value: user.first_name }),
      input('Last name', { name: 'last_name', autocomplete: 'family-name', maxlength: 150, value: user.last_name })),
    input('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, value: user.email }),
    summary,
    button));
  let saved = { first_name: user.first_name, last_name: user.last_name, email: user.email };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, summary);
    /** @type {Record<string, string>} */
    const body = {};
    for (const k of /** @type {const} */ (['first_name', 'last_name', 'email'])) {
      if (value(form, k) !== saved[k]) body[k] = value(form, k);
    }
    if (!Object.keys(body).length) {
      toast('Nothing to save: the profile is unchanged.');
      return;
    }
    await busy(button, async () => {
      try {
        const u = await patch('/auth/profile', body);
        saved = { first_name: u.first_name, last_name: u.last_name, email: u.email };
        toast('Profile saved.');
        await reloadUser().catch(() => {});
      } catch (e) {
        showErrors(form, e, summary);
      }
    });
  });
  return form;
}

/** @param {() => Promise<void>} refreshKeys */
function passwordForm(refreshKeys) {
  const summary = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = /** @type {HTMLFormElement} */ (h('form', { novalidate: true },
    input('Current password', { name: 'old_password', type: 'password', autocomplete: 'current-password', required: true }),
    input('New password', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true },
      'At least 8 characters, not all digits, not a common password.'),
    input('Repeat the new password', { name: 'new_password2', type: 'password', autocomplete: 'new-password', required: true }),
    checkbox('Also revoke all my API keys (if one may have leaked)', { name: 'revoke_api_keys' }),
    h('p', { class: 'muted' }, 'Your other sessions (other browsers and devices) are signed out.'),
    summary,
    button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, summary);
    const revoke = /** @type {HTMLInputElement} */ (form.elements.namedItem('revoke_api_keys')).checked;
    await busy(button, async () => {
      try {
        const r = await post('/auth/change-password', {
          old_password: raw(form, 'old_password'),
          new_password: raw(form, 'new_password'),
          new_password2: raw(form, 'new_password2'),
          revoke_api_keys: revoke,
        });
        form.reset();
        const n = r?.api_keys_revoked || 0;
        toast(`Password changed; your other sessions were signed out.${n ? ` ${n} API ${n === 1 ? 'key' : 'keys'} revoked.` : ''}`);
        if (revoke) await refreshKeys();
      } catch (e) {
        showErrors(form, e, summary);
      }
    });
  });
  return form;
}

/** @param {HTMLElement} fresh where the new key is shown @param {() => Promise<void>} refreshKeys */
function keyForm(fresh, refreshKeys) {
  const summary = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create key');
  const form = /** @type {HTMLFormElement} */ (h('form', { novalidate: true, class: 'key-form' },
    h('div', { class: 'pair' },
      input('Key name', { name: 'name', required: true, maxlength: 100, autocomplete: 'off' }, 'What uses it, e.g. “backup script”.'),
      input('Expires after (days)', { name: 'expires_in_days', type: 'number', min: 1, max: 3650, inputmode: 'numeric' },
        'Empty: never expires.')),
    summary,
    button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, summary);
    const days = value(form, 'expires_in_days');
    await busy(button, async () => {
      try {
        if (days && !/^\d+$/.test(days)) throw fieldError('expires_in_days', 'A whole number of days, 1 to 3650.');
        const k = await post('/auth/keys', { name: value(form, 'name'), ...(days ? { expires_in_days: Number(days) } : {}) });
        form.reset();
        showKey(fresh, k);
        await refreshKeys();
      } catch (e) {
        showErrors(form, e, summary);
      }
    });
  });
  return form;
}

/** Shows a new key's secret, this once. @param {HTMLElement} box @param {ApiKey & {key: string}} k */
function showKey(box, k) {
  const code = h('code', { class: 'secret', id: 'new-key-secret' }, k.key);
  const title = h('h3', { id: 'new-key-title', tabindex: -1 }, `New key “${k.name}”`);
  mount(box,
    h('div', { class: 'card', role: 'region', 'aria-labelledby': 'new-key-title' },
      title,
      h('p', null, h('strong', null, 'Copy it now: it is shown only this once.'), ' Only its hash is stored.'),
      code,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: () => copy(k.key, code) }, 'Copy'),
        h('button', { type: 'button', onclick: () => { box.hidden = true; box.replaceChildren(); } }, 'Done'))));
  box.hidden = false;
  title.focus();
}

/** Copies `text` (or selects it for Ctrl+C when the clipboard is not available). @param {string} text @param {Element} el */
async function copy(text, el) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard.');
  } catch {
    getSelection()?.selectAllChildren(el);
    toast('Selected: press Ctrl+C (⌘C) to copy.');
  }
}

/** @param {ApiKey[]} keys @param {() => Promise<void>} refresh */
function keyTable(keys, refresh) {
  if (!keys.length) return h('p', { class: 'muted' }, 'No API keys yet.');
  return h('table', { class: 'keys' },
    h('caption', { class: 'sr-only' }, 'Your API keys'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Prefix'), h('th', { scope: 'col' }, 'Created'),
      h('th', { scope: 'col' }, 'Expires'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    h('tbody', null, keys.map((k) => h('tr', null,
      h('td', null, k.name),
      h('td', null, h('code', null, k.prefix)),
      h('td', null, formatDate(k.created_at)),
      h('td', null, k.expires_at ? formatDate(k.expires_at) : 'Never'),
      h('td', null, h('button', { type: 'button', 'aria-label': `Revoke key ${k.name}`, onclick: () => revokeKey(k, refresh) }, 'Revoke'))))));
}

/** @param {ApiKey} k @param {() => Promise<void>} refresh */
async function revokeKey(k, refresh) {
  const done = await dialog({
    title: 'Revoke this API key?',
    content: h('p', null, `Scripts using “${k.name}” (${k.prefix}…) stop working at once.`),
    ok: 'Revoke',
    danger: true,
    onsubmit: (form) => submitting(form, () => del(`/auth/keys/${encodeURIComponent(k.id)}`).then(() => true)),
  });
  if (!done) return;
  toast(`Key “${k.name}” revoked.`);
  await refresh();
  document.getElementById('sec-api-keys')?.focus();
}

async function deleteAccount() {
  const done = await dialog({
    title: 'Delete your account?',
    content: [
      h('p', null, 'Your files, share links and API keys are deleted with it, and you are signed out everywhere. This cannot be undone.'),
      input('Your password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    ],
    ok: 'Delete my account',
    danger: true,
    onsubmit: (form) => submitting(form, () => post('/auth/delete-account', { password: raw(form, 'password') })),
  });
  if (!done) return;
  toast('Your account was deleted.');
  await signOut(false);
}
