// The visitor's page of a share link (`/s/<id>`, no account): the password form when the link
// has one, then a file to download, a folder to browse and download (files, ZIP), or a folder
// to upload into. Every call is anonymous: the link's token travels as X-Share-Token.
import { call, ApiError } from '../api.js';
import { h, mount, message, toast, formatBytes, formatDate, progress, saveAs, icon } from '../ui.js';
import { input as field, busy, waitText } from '../forms.js';
import { directUpload } from '../parts.js';
import { dropFiles } from '../uploads.js';
import { pollZip, whileShown } from '../jobs.js';

/**
 * @typedef {object} ShareInfo
 * @property {string} id
 * @property {'download' | 'upload'} kind
 * @property {boolean} password_required
 * @property {string} expires_at
 * @property {boolean} unlocked
 * @property {string} [name]
 * @property {boolean} [is_folder]
 * @property {number} [size]
 * @property {number} [file_count]
 */

/** @param {string} id */
const tokenKey = (id) => `vertex-share-token:${id}`;

/** The link's token headers (none before the password is given). @param {string} id @returns {Record<string, string>} */
function credentials(id) {
  const token = sessionStorage.getItem(tokenKey(id));
  return token ? { 'x-share-token': token } : {};
}

/**
 * A visitor's API call: no account's Authorization, the link's token instead.
 * @param {string} id @param {string} method @param {string} path @param {import('../api.js').CallOptions} [opts]
 */
async function visit(id, method, path, opts = {}) {
  const sent = credentials(id);
  try {
    return await call(method, `/s/${encodeURIComponent(id)}${path}`, {
      ...opts,
      anonymous: true,
      headers: { ...sent, ...(opts.headers || {}) },
    });
  } catch (e) {
    // The token expired (or the password changed) while the page was open: ask again. The
    // page is drawn anew, so the caller must not report this error too.
    if (e instanceof ApiError && e.status === 401 && sent['x-share-token'] && path !== '') {
      sessionStorage.removeItem(tokenKey(id));
      void again();
      throw Object.assign(e, { handled: true });
    }
    throw e;
  }
}

/** True for an error {@link visit} has already dealt with (by drawing the page again). @param {any} e */
const handled = (e) => !!e?.handled;

/** Draws the current link's page again (after its token ended). */
let again = async () => {};

/** @param {HTMLElement} main @param {{query: URLSearchParams, match: RegExpMatchArray}} params */
export default async function visitor(main, { query, match }) {
  const id = match[1];
  again = async () => {
    if (location.pathname === `/s/${id}`) await visitor(main, { query: new URLSearchParams(location.search), match });
  };
  document.title = 'Shared link · VertexCloud';
  mount(main, h('p', { class: 'muted' }, 'Opening the link…'));
  /** @type {ShareInfo} */
  let info;
  try {
    info = await visit(id, 'GET', '');
  } catch (e) {
    // A token that expired or whose password changed: ask again.
    if (e instanceof ApiError && e.status === 401 && sessionStorage.getItem(tokenKey(id))) {
      sessionStorage.removeItem(tokenKey(id));
      return visitor(main, { query, match });
    }
    return dead(main, e);
  }
  if (!info.unlocked) return passwordForm(main, id, info, () => visitor(main, { query, match }));
  if (info.kind === 'upload') return uploadPage(main, id, info);
  if (!info.is_folder) return filePage(main, id, info);
  return folderPage(main, id, info, query.get('path') || '');
}

/** The friendly page of a link that cannot be used. @param {HTMLElement} main @param {any} e */
function dead(main, e) {
  const status = e instanceof ApiError ? e.status : 0;
  const [title, text] =
    status === 404 ? ['This link does not exist or was revoked', 'Check that you copied the whole link, or ask the person who sent it for a new one.']
    : status === 410 ? ['This link has expired or has been used up', 'Ask the person who sent it for a new link.']
    : status === 429 ? ['Too many attempts', `Reload this page ${waitText(e.retryAfter)}.`]
    : ['This link cannot be opened right now', message(e)];
  document.title = `${title} · VertexCloud`;
  mount(main, h('div', { class: 'narrow card visitor-dead' },
    h('h1', null, title),
    h('p', { class: 'muted' }, text)));
}

/** Who made what, in the visitor's words. @param {ShareInfo} info */
function expiry(info) {
  return `This link works until ${formatDate(info.expires_at)}.`;
}

/**
 * The password form: exchanges the password for a token, kept for this tab.
 * @param {HTMLElement} main @param {string} id @param {ShareInfo} info @param {() => Promise<void>} next
 */
function passwordForm(main, id, info, next) {
  document.title = 'Password needed · VertexCloud';
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary' }, 'Open'));
  const form = h('form', { class: 'card', novalidate: true },
    h('p', null, `This ${info.kind === 'upload' ? 'upload ' : ''}link is protected by a password.`),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    error, button);
  mount(main, h('div', { class: 'narrow' }, h('h1', null, 'Enter the password'), form, h('p', { class: 'muted' }, expiry(info))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const password = String(new FormData(/** @type {HTMLFormElement} */ (form)).get('password') || '');
    error.hidden = true;
    if (!password) {
      error.textContent = 'Type the password you were given with the link.';
      error.hidden = false;
      return;
    }
    button.disabled = true;
    try {
      const t = await call('POST', `/s/${encodeURIComponent(id)}/token`, { anonymous: true, headers: { 'x-share-password': password } });
      sessionStorage.setItem(tokenKey(id), t.token);
      await next();
    } catch (e) {
      const err = /** @type {any} */ (e);
      if (err instanceof ApiError && (err.status === 404 || err.status === 410)) return dead(main, err);
      error.textContent = err instanceof ApiError && err.status === 401 && err.code === 'invalid_share_password'
        ? 'Wrong password. Check it and try again.'
        : err instanceof ApiError && err.status === 429
          ? `Too many attempts: try again ${waitText(err.retryAfter)}.`
          : message(err);
      error.hidden = false;
      button.disabled = false;
      /** @type {HTMLInputElement | null} */ (form.querySelector('input'))?.select();
    }
  });
  /** @type {HTMLInputElement | null} */ (form.querySelector('input'))?.focus();
}

/** Starts the browser's download of a file of the link. @param {string} id @param {string} [path] */
async function download(id, path) {
  const { url } = await visit(id, 'GET', '/download', { query: { path, redirect: false } });
  saveAs(url);
}

/** A button that runs `fn`, disabled meanwhile, its error shown. @param {string} label @param {() => Promise<any>} fn @param {Record<string, any>} [props] */
function action(label, fn, props = {}) {
  const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', ...props }, label));
  b.addEventListener('click', async () => {
    try {
      await busy(b, fn);
    } catch (e) {
      if (!handled(e)) toast(message(e), 'error');
    }
  });
  return b;
}

/** @param {HTMLElement} main @param {string} id @param {ShareInfo} info */
function filePage(main, id, info) {
  const name = info.name || 'file';
  document.title = `${name} · VertexCloud`;
  mount(main, h('div', { class: 'narrow card visitor' },
    h('p', { class: 'muted' }, 'A file was shared with you'),
    h('h1', null, name),
    h('p', null, info.size !== undefined ? formatBytes(info.size) : null),
    action('Download', () => download(id), { class: 'primary' }),
    h('p', { class: 'muted' }, expiry(info))));
}

/**
 * A shared folder: breadcrumbs within the share, a paged listing, downloads and ZIPs.
 * @param {HTMLElement} main @param {string} id @param {ShareInfo} info @param {string} path
 */
async function folderPage(main, id, info, path) {
  const root = info.name || 'Shared folder';
  const here = path ? path.split('/').pop() : root;
  document.title = `${here} · VertexCloud`;
  /** @param {string} p */
  const href = (p) => `/s/${id}` + (p ? `?path=${encodeURIComponent(p)}` : '');
  const segments = path ? path.split('/') : [];
  const crumbs = h('nav', { 'aria-label': 'Folder', hidden: !segments.length }, h('ol', { class: 'crumbs' },
    h('li', null, segments.length ? h('a', { href: href('') }, root) : h('span', { 'aria-current': 'page' }, root)),
    segments.map((s, i) => h('li', null, i === segments.length - 1
      ? h('span', { 'aria-current': 'page' }, s)
      : h('a', { href: href(segments.slice(0, i + 1).join('/')) }, s)))));
  const body = h('tbody');
  const table = h('table', null,
    h('caption', { class: 'sr-only' }, `Contents of ${here}`),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col', class: 'num' }, 'Size'),
      h('th', { scope: 'col' }, 'Modified'))),
    body);
  const empty = h('p', { class: 'muted', hidden: true }, 'This folder is empty.');
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const more = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', hidden: true }, 'Load more'));
  const zipBox = h('div', { class: 'zip-progress', hidden: true });
  const summary = info.file_count !== undefined
    ? `${info.file_count} file${info.file_count === 1 ? '' : 's'}, ${formatBytes(info.size ?? 0)} in all. ` : '';
  mount(main,
    h('p', { class: 'muted' }, 'A folder was shared with you'),
    h('h1', null, here),
    crumbs,
    h('div', { class: 'toolbar' },
      action(path ? 'Download this folder (ZIP)' : 'Download all (ZIP)', () => zip(id, path, zipBox), { class: 'primary' }),
      h('span', { class: 'muted' }, summary + expiry(info))),
    zipBox, error, table, empty, more);

  /** @type {string | null} */
  let cursor = null;
  let shown = 0;
  /** @param {any} item */
  const row = (item) => h('tr', null,
    h('td', null, h('span', { class: 'visitor-name' }, icon(item.is_directory ? 'dir' : 'file'), item.is_directory
      ? h('a', { href: href(item.path) }, item.name)
      : action(item.name, () => download(id, item.path), { class: 'link', 'aria-label': `Download ${item.name}` }))),
    h('td', { class: 'num' }, item.is_directory ? '—' : formatBytes(item.size)),
    h('td', null, item.modified ? formatDate(item.modified) : ''));
  const load = async () => {
    more.disabled = true;
    error.hidden = true;
    try {
      const page = await visit(id, 'GET', '/list', { query: { path, cursor, limit: 200 } });
      body.append(...page.items.map(row));
      shown += page.items.length;
      cursor = page.next_cursor;
    } catch (e) {
      if (handled(e)) return;
      if (e instanceof ApiError && (e.status === 410 || e.code === 'share_not_found')) return dead(main, e);
      error.textContent = message(e);
      error.hidden = false;
    } finally {
      more.disabled = false;
      more.hidden = !cursor;
      empty.hidden = shown > 0 || !!cursor;
      table.hidden = shown === 0;
    }
  };
  more.addEventListener('click', load);
  await load();
}

/**
 * A ZIP of `path` in the shared folder: at once for a small folder, else a job polled with
 * its progress shown in `box` (a "Stop waiting" button; a few failed polls tolerated; given up
 * when the page is left); then the browser downloads it.
 * @param {string} id @param {string} path @param {HTMLElement} box
 */
async function zip(id, path, box) {
  let job = await visit(id, 'GET', '/download-zip', { query: { path, redirect: false } });
  if (job.status !== 'done') {
    const bar = progress('Preparing the ZIP');
    const text = h('span', { class: 'muted' }, 'Preparing the ZIP…');
    const ctl = new AbortController();
    const life = whileShown(box);
    life.signal.addEventListener('abort', () => ctl.abort(), { once: true });
    const stop = h('button', { type: 'button', class: 'link', onclick: () => ctl.abort() }, 'Stop waiting');
    mount(box, h('div', { class: 'row' }, h('span', null, 'ZIP'), text, stop), bar.el);
    box.hidden = false;
    /** @param {import('../jobs.js').ZipJob} j */
    const show = (j) => {
      bar.set(j.bytes_done || j.files_done || 0, j.bytes_total || j.files_total || 0);
      text.textContent = `${j.files_done ?? 0} of ${j.files_total ?? '?'} files, ${formatBytes(j.bytes_done ?? 0)} of ${formatBytes(j.bytes_total ?? 0)}`;
    };
    try {
      const jobPath = `/zip/${encodeURIComponent(job.job_id)}`;
      job = await pollZip((signal) => visit(id, 'GET', jobPath, { signal }), { onProgress: show, signal: ctl.signal });
    } catch (e) {
      // Stopped, or the page is gone: nothing to say, nothing to download.
      if (ctl.signal.aborted) {
        if (box.isConnected) {
          toast('Stopped waiting for the ZIP.');
          // The ZIP button (the toolbar's first, enabled again once this returns) gets the focus.
          const zipButton = box.previousElementSibling?.querySelector('button');
          setTimeout(() => zipButton?.focus());
        }
        return;
      }
      throw e;
    } finally {
      life.release();
      box.hidden = true;
    }
  }
  if (!job.url) throw new Error(job.error || 'The ZIP could not be made.');
  saveAs(job.url);
  toast('Your ZIP download has started.');
}

/** @param {HTMLElement} main @param {string} id @param {ShareInfo} info */
function uploadPage(main, id, info) {
  const name = info.name || 'a folder';
  document.title = `Upload to ${name} · VertexCloud`;
  const input = /** @type {HTMLInputElement} */ (h('input', { id: 'visitor-files', type: 'file', multiple: true, class: 'sr-only' }));
  const list = h('ul', { class: 'visitor-uploads', 'aria-label': 'Uploads' });
  const zone = h('div', { class: 'drop visitor-drop' },
    h('p', null, 'Drop files here, or'),
    input,
    h('label', { for: 'visitor-files', class: 'button primary' }, 'Choose files…'));
  mount(main,
    h('p', { class: 'muted' }, 'Someone asked you for files'),
    h('h1', null, `Upload files to “${name}”`),
    h('p', { class: 'muted' }, 'Files you send go to the folder of the person who shared this link. ',
      'A name already there gets a number added. ', expiry(info)),
    zone, list);
  /** @param {import('../uploads.js').Entry[]} entries */
  const send = async (entries) => {
    // Stopped when the link asks for its password again (the page is drawn anew).
    for (const e of entries) if ((await uploadOne(id, e.file, list, e.rel)) === false) break;
  };
  input.addEventListener('change', () => {
    const files = [...(input.files || [])];
    input.value = '';
    void send(files.map((file) => ({ file, rel: file.webkitRelativePath || file.name })));
  });
  // Files and whole folders (their relative paths kept), as in the file browser.
  dropFiles(zone, (entries) => void entries.then(send, (e) => toast(message(e), 'error')));
}

/**
 * One file into an upload link: start, parts straight to storage, complete (given up on the
 * server when anything fails); its progress and final name (or error) in `list`. False when
 * the link asked for its password again instead (the page is drawn anew).
 * @param {string} id @param {File} file @param {HTMLElement} list @param {string} [rel] its path below the shared folder
 * @returns {Promise<false | undefined>}
 */
async function uploadOne(id, file, list, rel = file.name) {
  const bar = progress(`Uploading ${rel}`);
  const state = h('span', { class: 'muted' }, 'Waiting…');
  const ctl = new AbortController();
  const cancel = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'link', 'aria-label': `Cancel ${rel}`, onclick: () => ctl.abort() }, 'Cancel'));
  list.append(h('li', null, h('span', { class: 'name' }, rel), bar.el, state, cancel));
  try {
    const done = await directUpload({
      call: (method, path, opts) => visit(id, method, path, opts),
      base: '/uploads',
      file,
      start: { path: rel, size: file.size, content_type: file.type || undefined },
      signal: ctl.signal,
      onStart: () => {
        state.textContent = `0 of ${formatBytes(file.size)}`;
      },
      onProgress: (n) => {
        bar.set(n, file.size);
        state.textContent = `${formatBytes(n)} of ${formatBytes(file.size)}`;
      },
      // What was sent is given back; if even that fails, say so (the server drops it later).
      onAbortFailed: (e2) => toast(`${rel}: ${message(e2)}`, 'error'),
    });
    bar.set(1, 1);
    state.textContent = done.path === rel ? 'Uploaded' : `Uploaded as “${done.path}”`;
    state.classList.remove('muted');
    state.classList.add('ok');
    cancel.remove();
    toast(`${rel} uploaded.`);
  } catch (e) {
    const err = /** @type {any} */ (e);
    if (handled(err)) return false;
    state.textContent = err?.name === 'AbortError' ? 'Cancelled' : message(err);
    state.classList.remove('muted');
    state.classList.add(err?.name === 'AbortError' ? 'muted' : 'error');
    if (err?.name !== 'AbortError') state.setAttribute('role', 'alert');
    cancel.remove();
  }
}
