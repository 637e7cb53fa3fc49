// User administration for managers and superusers, within the role table the API enforces:
// a manager sees only what they may do (users of role `user`, no higher role to grant), and
// whatever the API still refuses (403/409) is shown as it says.
import { get, post, patch, del } from '../api.js';
import { currentUser, signOut } from '../session.js';
import { h, mount, toast, dialog, formatBytes, formatDate, message } from '../ui.js';
import { input, checkbox, showErrors, clearErrors, busy, submitting, value, raw, toBytes, fromBytes, fieldError } from '../forms.js';
import { usage } from './account.js';

const PAGE = 50;

/** @typedef {import('../session.js').User & {user_type: string, created_at: string, file_limit?: number | null,
 *   full_name: string, storage?: any}} Account */
/** @typedef {{id: string, name: string, prefix: string, created_at: string, expires_at: string | null}} ApiKey */
/** @typedef {{id: string, url: string, path: string, name: string, kind: string, is_folder: boolean,
 *   expires_at: string, uses: number, max_uses: number | null, has_password: boolean, status: string}} Share */

const ROLES = ['user', 'manager', 'superuser'];

/** What the signed-in administrator may do to `target`. @param {Account} target */
function mayManage(target) {
  const me = currentUser();
  if (!me) return false;
  return me.is_superuser || (me.is_manager && target.user_type === 'user');
}

/** The roles the signed-in administrator may grant. */
function grantable() {
  return currentUser()?.is_superuser ? ROLES : ['user'];
}

/** @param {string} role */
const roleOptions = (role) => (grantable().includes(role) ? grantable() : [role]).map((r) => ({ value: r, label: r }));

/** @param {HTMLElement} main */
export default async function admin(main) {
  document.title = 'Users · VertexCloud';
  const me = /** @type {import('../session.js').User} */ (currentUser());

  /** @type {Map<string, HTMLTableRowElement>} */
  const rows = new Map();
  let cursor = /** @type {string | null} */ (null);
  let search = '';
  let generation = 0;
  let shown = 0;
  /** @type {string | null} */
  let openId = null;

  const listError = h('p', { class: 'error', role: 'alert', hidden: true });
  const tbody = h('tbody');
  const count = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load(false) }, 'Load more');
  const detail = h('section', { class: 'card user-detail', 'aria-labelledby': 'user-detail-title', hidden: true });
  const searchInput = h('input', { type: 'search', name: 'search', id: 'user-search', maxlength: 150, autocomplete: 'off' });
  const searchButton = h('button', { type: 'submit' }, 'Search');
  const searchForm = h('form', { role: 'search', class: 'row', 'aria-label': 'Users' },
    h('label', { for: 'user-search' }, 'Search users'), searchInput, searchButton);
  searchForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    search = /** @type {HTMLInputElement} */ (searchInput).value.trim();
    void load(true);
  });
  searchInput.addEventListener('search', () => {
    // The field's own clear button: show everyone again.
    if (!(/** @type {HTMLInputElement} */ (searchInput).value) && search) {
      search = '';
      void load(true);
    }
  });

  mount(main,
    h('h1', null, 'Users'),
    h('p', { class: 'muted' }, me.is_superuser
      ? 'As a superuser you can manage every account, including managers and superusers.'
      : 'As a manager you can create and manage accounts of role user; managers and superusers are shown but cannot be changed.'),
    h('div', { class: 'toolbar' }, searchForm, h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'primary', onclick: createUser }, 'New user…')),
    detail,
    listError,
    h('table', { class: 'users' },
      h('caption', { class: 'sr-only' }, 'Users'),
      h('thead', null, h('tr', null,
        ['Username', 'Name', 'Email', 'Role', 'Status', 'Quota', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody),
    h('div', { class: 'row list-end' }, more, count));

  await load(true);

  /** Loads the first page (`fresh`) or the next one. @param {boolean} fresh */
  async function load(fresh) {
    const gen = fresh ? ++generation : generation;
    listError.hidden = true;
    const button = fresh ? searchButton : more;
    await busy(button, async () => {
      try {
        const page = await get('/users', { query: { search, limit: PAGE, cursor: fresh ? null : cursor } });
        if (gen !== generation) return;
        if (fresh) {
          tbody.replaceChildren();
          rows.clear();
          shown = 0;
        }
        for (const u of page.items) addRow(u, false);
        cursor = page.next_cursor ?? null;
        more.hidden = !cursor;
        counted();
      } catch (e) {
        if (gen !== generation || !currentUser()) return;
        listError.textContent = message(e);
        listError.hidden = false;
      }
    });
  }

  function counted() {
    count.textContent = !shown
      ? (search ? `No user matches “${search}”.` : 'No users.')
      : `${shown} ${shown === 1 ? 'user' : 'users'}${search ? ` matching “${search}”` : ''}${cursor ? ' shown; more to load' : ''}.`;
  }

  /** @param {Account} u @param {boolean} first at the top (a new user) */
  function addRow(u, first) {
    const tr = row(u);
    if (rows.has(u.id)) {
      /** @type {HTMLTableRowElement} */ (rows.get(u.id)).replaceWith(tr);
    } else {
      if (first) tbody.prepend(tr);
      else tbody.append(tr);
      shown++;
    }
    rows.set(u.id, tr);
  }

  /** @param {Account} u */
  function row(u) {
    return /** @type {HTMLTableRowElement} */ (h('tr', { 'aria-current': openId === u.id ? 'true' : null, 'data-id': u.id },
      h('td', null, h('button', { type: 'button', class: 'link', onclick: () => open(u.id) }, u.username),
        u.id === me.id ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', null, u.full_name || ''),
      h('td', null, u.email),
      h('td', null, h('span', { class: 'badge' }, u.user_type)),
      h('td', null, u.is_active ? 'Active' : h('strong', { class: 'error' }, 'Disabled')),
      h('td', { class: 'num' }, u.quota_bytes === null || u.quota_bytes === undefined ? 'No quota' : formatBytes(u.quota_bytes)),
      h('td', null, formatDate(u.created_at))));
  }

  /** The detail of one user: settings, password, deletion, keys and share links. @param {string} id */
  async function open(id) {
    openId = id;
    for (const [rid, tr] of rows) {
      if (rid === id) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
    }
    detail.hidden = false;
    mount(detail, h('h2', { id: 'user-detail-title', tabindex: -1 }, 'Loading…'));
    /** @type {Account} */
    let u;
    try {
      u = await get(`/users/${encodeURIComponent(id)}`);
    } catch (e) {
      if (openId !== id) return;
      mount(detail, h('h2', { id: 'user-detail-title', tabindex: -1 }, 'User'),
        h('p', { class: 'error', role: 'alert' }, message(e)), closeButton());
      return;
    }
    if (openId !== id) return;
    showDetail(u);
  }

  function closeButton() {
    return h('button', { type: 'button', class: 'close', onclick: close }, 'Close');
  }

  function close() {
    const id = openId;
    openId = null;
    detail.hidden = true;
    detail.replaceChildren();
    for (const tr of rows.values()) tr.removeAttribute('aria-current');
    const back = id ? rows.get(id)?.querySelector('button') : null;
    /** @type {HTMLElement} */ (back || searchInput).focus();
  }

  /** @param {Account} u */
  function showDetail(u) {
    const allowed = mayManage(u);
    const title = h('h2', { id: 'user-detail-title', tabindex: -1 }, `${u.username}`,
      ' ', h('span', { class: 'badge' }, u.user_type), u.is_active ? null : h('span', { class: 'badge' }, 'disabled'));
    const note = allowed ? null
      : h('p', { class: 'note', id: 'detail-note' }, `Managers cannot change a ${u.user_type}'s account: only a superuser can.`);
    const keys = h('div');
    const shares = h('div');
    mount(detail,
      h('div', { class: 'detail-head' }, title, closeButton()),
      h('div', { class: 'detail-body' },
        h('div', null,
          h('dl', { class: 'facts' },
            h('dt', null, 'Email'), h('dd', null, u.email),
            h('dt', null, 'Name'), h('dd', null, u.full_name || '—'),
            h('dt', null, 'Status'), h('dd', null, u.is_active ? 'Active' : 'Disabled: cannot sign in'),
            h('dt', null, 'Created'), h('dd', null, formatDate(u.created_at)),
            h('dt', null, 'ID'), h('dd', null, h('code', null, u.id))),
          u.storage ? h('div', { class: 'usage' }, h('h3', null, 'Storage'), ...usage(u.storage)) : null,
          note,
          h('div', { class: 'row actions' },
            h('button', { type: 'button', disabled: !allowed, 'aria-describedby': note ? 'detail-note' : null,
              onclick: () => resetPassword(u) }, 'Reset password…'),
            h('button', { type: 'button', class: 'danger', disabled: !allowed, 'aria-describedby': note ? 'detail-note' : null,
              onclick: () => deleteUser(u) }, 'Delete user…'))),
        settingsForm(u, allowed)),
      h('h3', null, 'API keys'), keys,
      h('h3', null, 'Share links'), shares);
    title.focus();
    title.scrollIntoView({ block: 'nearest' });
    if (allowed) {
      void loadKeys(u, keys);
      void loadShares(u, shares, null);
    } else {
      mount(keys, h('p', { class: 'muted' }, 'Not available: only a superuser manages this account.'));
      mount(shares, h('p', { class: 'muted' }, 'Not available: only a superuser manages this account.'));
    }
  }

  /** Role, active, quota, file limit, names and email, saved with one PATCH of what changed. @param {Account} u @param {boolean} allowed */
  function settingsForm(u, allowed) {
    const q = fromBytes(u.quota_bytes ?? null);
    const summary = h('p', { class: 'error', role: 'alert', hidden: true });
    const button = h('button', { type: 'submit', class: 'primary', disabled: !allowed }, 'Save changes');
    const form = /** @type {HTMLFormElement} */ (h('form', { novalidate: true, class: 'settings' },
      h('fieldset', { disabled: !allowed },
        h('legend', null, 'Settings'),
        h('div', { class: 'pair' },
          input('Role', { name: 'role', value: u.user_type }, null, roleOptions(u.user_type)),
          h('div', { class: 'field' }, checkbox('Active (may sign in)', { name: 'is_active', checked: u.is_active }))),
        h('div', { class: 'pair' },
          input('Quota', { name: 'quota', type: 'number', min: 0, step: 'any', value: q.amount }, 'Empty: no quota.'),
          input('Unit', { name: 'quota_unit', value: q.unit }, null, ['MiB', 'GiB', 'TiB'].map((x) => ({ value: x, label: x })))),
        input('File limit', { name: 'file_limit', type: 'number', min: 0, step: 1, value: u.file_limit ?? '' }, 'Empty: no limit.'),
        h('div', { class: 'pair' },
          input('First name', { name: 'first_name', maxlength: 150, value: u.first_name }),
          input('Last name', { name: 'last_name', maxlength: 150, value: u.last_name })),
        input('Email', { name: 'email', type: 'email', value: u.email })),
      summary,
      button));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form, summary);
      await busy(button, async () => {
        try {
          /** @type {Record<string, any>} */
          const body = {};
          const role = value(form, 'role');
          if (role !== u.user_type) body.role = role;
          const active = /** @type {HTMLInputElement} */ (form.elements.namedItem('is_active')).checked;
          if (active !== u.is_active) body.is_active = active;
          const quota = toBytes(value(form, 'quota'), value(form, 'quota_unit'), 'quota');
          if (quota !== (u.quota_bytes ?? null)) body.quota_bytes = quota;
          const limitText = value(form, 'file_limit');
          if (limitText && !/^\d+$/.test(limitText)) throw fieldError('file_limit', 'A whole number, or empty for no limit.');
          const limit = limitText ? Number(limitText) : null;
          if (limit !== (u.file_limit ?? null)) body.file_limit = limit;
          for (const k of /** @type {const} */ (['first_name', 'last_name', 'email'])) {
            if (value(form, k) !== u[k]) body[k] = value(form, k);
          }
          if (!Object.keys(body).length) {
            toast('Nothing to save: no setting changed.');
            return;
          }
          const saved = await patch(`/users/${encodeURIComponent(u.id)}`, body);
          toast(`Saved ${saved.username}'s settings.`);
          addRow(saved, false);
          if (openId === saved.id) showDetail(saved);
        } catch (e) {
          showErrors(form, e, summary);
        }
      });
    });
    return form;
  }

  /** @param {Account} u */
  async function resetPassword(u) {
    const r = await dialog({
      title: `Reset ${u.username}'s password`,
      content: [
        h('p', null, 'They are signed out everywhere and their API keys are revoked. Tell them the new password safely.'),
        input('New password', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true },
          'At least 8 characters, not all digits, not a common password.'),
        input('Repeat the new password', { name: 'new_password2', type: 'password', autocomplete: 'new-password', required: true }),
      ],
      ok: 'Reset password',
      onsubmit: (form) => submitting(form, async () => {
        if (raw(form, 'new_password') !== raw(form, 'new_password2')) throw fieldError('new_password2', 'The passwords do not match.');
        return post(`/users/${encodeURIComponent(u.id)}/reset-password`, { new_password: raw(form, 'new_password') });
      }),
    });
    if (!r) return;
    const n = r.api_keys_revoked || 0;
    toast(`Password of ${u.username} reset; their sessions ended${n ? ` and ${n} API ${n === 1 ? 'key was' : 'keys were'} revoked` : ''}.`);
    if (openId === u.id) void open(u.id);
  }

  /** @param {Account} u */
  async function deleteUser(u) {
    const done = await dialog({
      title: `Delete ${u.username}?`,
      content: h('p', null, `The account of ${u.username} (${u.email}) is deleted with all their files, share links, API keys and sessions. This cannot be undone.`),
      ok: 'Delete user',
      danger: true,
      onsubmit: (form) => submitting(form, () => del(`/users/${encodeURIComponent(u.id)}`).then(() => true)),
    });
    if (!done) return;
    toast(`${u.username} was deleted.`);
    rows.get(u.id)?.remove();
    if (rows.delete(u.id)) shown--;
    counted();
    if (openId === u.id) close();
    if (u.id === me.id) await signOut(false);
  }

  async function createUser() {
    const roles = grantable();
    const u = await dialog({
      title: 'New user',
      content: [
        input('Username', { name: 'username', required: true, maxlength: 150, autocomplete: 'off' }),
        input('Email', { name: 'email', type: 'email', required: true, autocomplete: 'off' }),
        input('Password', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' },
          'At least 8 characters, not all digits, not a common password.'),
        roles.length > 1 ? input('Role', { name: 'role', value: 'user' }, null, roles.map((r) => ({ value: r, label: r }))) : null,
        h('div', { class: 'pair' },
          input('First name', { name: 'first_name', maxlength: 150 }),
          input('Last name', { name: 'last_name', maxlength: 150 })),
        h('div', { class: 'pair' },
          input('Quota', { name: 'quota', type: 'number', min: 0, step: 'any' }, 'Empty: the default quota.'),
          input('Unit', { name: 'quota_unit', value: 'GiB' }, null, ['MiB', 'GiB', 'TiB'].map((x) => ({ value: x, label: x })))),
      ],
      ok: 'Create user',
      onsubmit: (form) => submitting(form, async () => {
        /** @type {Record<string, any>} */
        const body = { username: value(form, 'username'), email: value(form, 'email'), password: raw(form, 'password') };
        if (roles.length > 1) body.role = value(form, 'role');
        for (const k of ['first_name', 'last_name']) if (value(form, k)) body[k] = value(form, k);
        const quota = toBytes(value(form, 'quota'), value(form, 'quota_unit'), 'quota');
        if (quota !== null) body.quota_bytes = quota;
        return post('/users', body);
      }),
    });
    if (!u) return;
    toast(`User ${u.username} created.`);
    addRow(u, true);
    counted();
    await open(u.id);
  }

  /** @param {Account} u @param {HTMLElement} box */
  async function loadKeys(u, box) {
    mount(box, h('p', { class: 'muted' }, 'Loading…'));
    try {
      /** @type {ApiKey[]} */
      const keys = await get(`/users/${encodeURIComponent(u.id)}/keys`);
      if (!keys.length) {
        mount(box, h('p', { class: 'muted' }, 'No API keys.'));
        return;
      }
      mount(box, h('table', null,
        h('caption', { class: 'sr-only' }, `API keys of ${u.username}`),
        h('thead', null, h('tr', null, ['Name', 'Prefix', 'Created', 'Expires'].map((t) => h('th', { scope: 'col' }, t)),
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', null, keys.map((k) => h('tr', null,
          h('td', null, k.name), h('td', null, h('code', null, k.prefix)), h('td', null, formatDate(k.created_at)),
          h('td', null, k.expires_at ? formatDate(k.expires_at) : 'Never'),
          h('td', null, h('button', { type: 'button', 'aria-label': `Revoke key ${k.name}`, onclick: async () => {
            const done = await dialog({
              title: 'Revoke this API key?',
              content: h('p', null, `Scripts of ${u.username} using “${k.name}” (${k.prefix}…) stop working at once.`),
              ok: 'Revoke', danger: true,
              onsubmit: (form) => submitting(form, () => del(`/users/${encodeURIComponent(u.id)}/keys/${encodeURIComponent(k.id)}`).then(() => true)),
            });
            if (!done) return;
            toast(`Key “${k.name}” revoked.`);
            void loadKeys(u, box);
          } }, 'Revoke')))))));
    } catch (e) {
      mount(box, h('p', { class: 'error', role: 'alert' }, message(e)));
    }
  }

  /** @param {Account} u @param {HTMLElement} box @param {string | null} after the cursor of the next page */
  async function loadShares(u, box, after) {
    /** @type {HTMLElement | null} */
    let body = box.querySelector('tbody');
    const moreButton = box.querySelector('button.more');
    if (!after) mount(box, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const page = await busy(moreButton, () => get(`/users/${encodeURIComponent(u.id)}/shares`, { query: { limit: PAGE, cursor: after } }));
      /** @type {Share[]} */
      const items = page.items;
      if (!after && !items.length) {
        mount(box, h('p', { class: 'muted' }, 'No share links.'));
        return;
      }
      if (!after || !body) {
        body = h('tbody');
        mount(box, h('table', null,
          h('caption', { class: 'sr-only' }, `Share links of ${u.username}`),
          h('thead', null, h('tr', null, ['Shared', 'Kind', 'Status', 'Uses', 'Expires', 'Password'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
          body));
      }
      for (const s of items) body.append(shareRow(u, s));
      box.querySelector('button.more')?.remove();
      if (page.next_cursor) {
        box.append(h('button', { type: 'button', class: 'more', onclick: () => loadShares(u, box, page.next_cursor) }, 'Load more links'));
      }
    } catch (e) {
      box.querySelector('p.error')?.remove();
      if (!after) mount(box);
      box.append(h('p', { class: 'error', role: 'alert' }, message(e)));
    }
  }

  /** @param {Account} u @param {Share} s */
  function shareRow(u, s) {
    const tr = h('tr', null,
      h('td', null, s.name, h('br'), h('span', { class: 'muted' }, s.path || '(home)')),
      h('td', null, s.kind),
      h('td', null, s.status.replace('_', ' ')),
      h('td', { class: 'num' }, `${s.uses} / ${s.max_uses ?? '∞'}`),
      h('td', null, formatDate(s.expires_at)),
      h('td', null, s.has_password ? 'Yes' : 'No'),
      h('td', null, h('button', { type: 'button', 'aria-label': `Revoke link to ${s.name}`, onclick: async () => {
        const done = await dialog({
          title: 'Revoke this share link?',
          content: h('p', null, `Visitors of the link to “${s.name}” get “not found” from now on.`),
          ok: 'Revoke', danger: true,
          onsubmit: (form) => submitting(form, () => del(`/users/${encodeURIComponent(u.id)}/shares/${encodeURIComponent(s.id)}`).then(() => true)),
        });
        if (!done) return;
        toast(`Link to “${s.name}” revoked.`);
        tr.remove();
      } }, 'Revoke')));
    return tr;
  }
}
