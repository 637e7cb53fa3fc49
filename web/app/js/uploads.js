// Uploads: files and whole folders from the picker or a drop, with progress per file and in total.
// Small files go in a form (`POST /api/files/upload`, one per request, a few at a time); larger
// ones by direct upload: the bytes go in parts straight to storage (parts.js) and the upload is
// kept in localStorage until it completes, so after a dropped connection or a page reload picking
// the same file again sends only the parts the store does not hold yet.
import { call, get, del, url, bearer, renewAccess, ApiError } from './api.js';
import { currentUser, onSessionChange, onSignOut } from './session.js';
import { h, mount, message, formatBytes, toast } from './ui.js';
import { xhrSend, directUpload as sendDirect } from './parts.js';

/** Files below this go in a form; the rest by direct upload. AWS Lambda takes requests of at most
 * 6 MB (base64 on the way in), so the form stays well under that. */
export const FORM_MAX = 4 * 1024 * 1024;
const STORE = 'vertex.uploads';
/** Form uploads at once, and direct uploads at once (each sends 4 parts in parallel). */
const LANES = { form: 3, direct: 1 };

/** @typedef {{file: File, rel: string}} Entry a file and its path below the folder it goes to */
/** @typedef {{upload_id: string, user: string, folder: string, path: string, name: string,
 *   size: number, lastModified: number, expires_at: string, overwrite: boolean}} Saved */
/** @typedef {'queued'|'running'|'done'|'failed'|'conflict'|'skipped'|'cancelled'} State */

/**
 * @typedef {object} Item
 * @property {File} file
 * @property {string} folder the folder of the batch (what the person uploaded into)
 * @property {string} path where the file goes, relative to the home
 * @property {string} label its path below `folder`
 * @property {boolean} overwrite
 * @property {State} state
 * @property {number} sent bytes sent
 * @property {string} [error]
 * @property {Saved | null} saved the unfinished direct upload
 * @property {boolean} direct
 * @property {AbortController | null} ctl
 * @property {Promise<void> | null} task the running attempt
 * @property {HTMLElement} li
 * @property {HTMLProgressElement} bar
 * @property {HTMLElement} status
 * @property {HTMLElement} actions
 */

/** @type {Item[]} */
let items = [];
/** Items stopped by a sign-out: their direct uploads stay resumable. @type {WeakSet<Item>} */
const kept = new WeakSet();
const running = { form: 0, direct: 0 };

// ---- saved direct uploads (resume) --------------------------------------------------------

/** @returns {Saved[]} */
function loadSaved() {
  try {
    const all = JSON.parse(localStorage.getItem(STORE) || '[]');
    return Array.isArray(all) ? all : [];
  } catch {
    return [];
  }
}

/** @param {Saved[]} all */
function storeSaved(all) {
  try {
    if (all.length) localStorage.setItem(STORE, JSON.stringify(all));
    else localStorage.removeItem(STORE);
  } catch {
    // Storage full or off: uploads still work, without resume after a reload.
  }
}

/** This user's unfinished uploads that have not expired (expired ones are dropped). */
function mySaved() {
  const now = Date.now();
  const all = loadSaved();
  const live = all.filter((s) => !(Date.parse(s.expires_at) <= now));
  if (live.length !== all.length) storeSaved(live);
  const me = currentUser()?.id;
  return live.filter((s) => s.user === me);
}

/** @param {Saved} s */
function save(s) {
  storeSaved([...loadSaved().filter((x) => x.upload_id !== s.upload_id), s]);
}

/** @param {string} id */
function forget(id) {
  storeSaved(loadSaved().filter((x) => x.upload_id !== id));
}

/** A matcher: the saved upload a file continues (same name, size and modification time), each once. */
function savedMatcher() {
  const taken = new Set(items.filter((i) => i.saved && !settled(i)).map((i) => i.saved?.upload_id));
  const saved = mySaved();
  /** @param {File} file @returns {Saved | null} */
  return (file) => {
    const s = saved.find((x) => x.name === file.name && x.size === file.size &&
      x.lastModified === file.lastModified && !taken.has(x.upload_id));
    if (!s) return null;
    taken.add(s.upload_id);
    // A failed attempt of the same upload listed before gives it up to this one.
    for (const i of items) if (i.saved?.upload_id === s.upload_id) i.saved = null;
    return s;
  };
}

// ---- the panel ------------------------------------------------------------------------------

const summary = h('p', { class: 'muted', role: 'status' });
const batchError = h('p', { class: 'error', role: 'alert', hidden: true });
const totalBar = /** @type {HTMLProgressElement} */ (h('progress', { max: 1, value: 0, 'aria-label': 'Total upload progress' }));
const totalText = h('span', { class: 'muted' });
const list = h('ul', { 'aria-label': 'Files being uploaded' });
const resumeList = h('ul', { 'aria-label': 'Unfinished uploads' });
const resumeBox = h('div', { class: 'resume', hidden: true },
  h('p', null, 'Unfinished uploads: pick the same file again to resume, or discard them.'), resumeList);
const cancelAll = h('button', { type: 'button', onclick: () => items.forEach(cancel) }, 'Cancel all');
const clear = h('button', { type: 'button', onclick: clearFinished }, 'Clear finished');
const totals = h('div', { class: 'total' }, totalBar, totalText);
/** @type {HTMLElement} */
const panel = h('section', { class: 'uploads', 'aria-labelledby': 'uploads-title', hidden: true },
  h('div', { class: 'toolbar' }, h('h2', { id: 'uploads-title', tabindex: -1 }, 'Uploads'), h('span', { class: 'spacer' }), cancelAll, clear),
  batchError, resumeBox, totals, summary, list);

/** The upload panel (one for the app: it keeps its uploads while the person browses). */
export function uploadPanel() {
  refresh();
  return panel;
}

onSignOut(async () => {
  // Signing out on purpose (a shared computer): nothing of this person's is kept. Running
  // uploads are cancelled (and aborted on the server by their own attempt), then the saved ones.
  for (const i of items) cancel(i);
  await Promise.allSettled(items.map((i) => i.task));
  await Promise.allSettled(mySaved().map(async (s) => {
    try {
      await del(`/files/uploads/${encodeURIComponent(s.upload_id)}`);
    } catch (e) {
      // 404: gone already; 401: the account itself is gone (signed out after deleting it).
      const status = /** @type {any} */ (e).status;
      if (status !== 404 && status !== 401) toast(`${s.name}: ${message(e)}`, 'error');
    }
    forget(s.upload_id);
  }));
});

onSessionChange((user) => {
  if (user) return;
  // The session ended (expired, or signed out: see onSignOut): stop everything; the saved
  // uploads of an expired session stay for the next sign-in.
  for (const i of items) {
    kept.add(i);
    i.ctl?.abort();
  }
  items = [];
  list.replaceChildren();
  refresh();
});

let resumeKey = '';
function refresh() {
  const saved = mySaved().filter((s) => !items.some((i) => i.saved?.upload_id === s.upload_id));
  const key = saved.map((s) => s.upload_id).join(' ');
  // Rebuilt only when it changes: a button keeps its focus while uploads progress.
  if (key !== resumeKey) {
    resumeKey = key;
    mount(resumeList, saved.map(resumeRow));
  }
  resumeBox.hidden = !saved.length;
  const active = items.filter((i) => !settled(i));
  const total = items.reduce((a, i) => a + (i.state === 'skipped' || i.state === 'cancelled' ? 0 : i.file.size), 0);
  const sent = items.reduce((a, i) => a + (i.state === 'skipped' || i.state === 'cancelled' ? 0 : i.sent), 0);
  const done = items.filter((i) => i.state === 'done').length;
  totalBar.max = Math.max(1, total);
  totalBar.value = Math.min(sent, total);
  totalText.textContent = items.length
    ? `${done} of ${items.length} ${items.length === 1 ? 'file' : 'files'} · ${formatBytes(sent)} of ${formatBytes(total)}`
    : '';
  totals.hidden = !items.length;
  cancelAll.hidden = !active.length;
  clear.hidden = !items.some(settled);
  panel.hidden = !items.length && !saved.length && batchError.hidden;
}

/** @param {Saved} s */
function resumeRow(s) {
  const resume = h('button', { type: 'button', 'aria-label': `Resume ${s.name}`, onclick: () => pick({ multiple: true }, s.folder, true) }, 'Resume');
  const discard = h('button', { type: 'button', 'aria-label': `Discard ${s.name}`, onclick: async () => {
    discard.setAttribute('disabled', '');
    try {
      await del(`/files/uploads/${encodeURIComponent(s.upload_id)}`);
    } catch (e) {
      if (/** @type {any} */ (e).status !== 404) {
        toast(message(e), 'error');
        discard.removeAttribute('disabled');
        return;
      }
    }
    forget(s.upload_id);
    refresh();
  } }, 'Discard');
  return h('li', null, h('span', { class: 'name', title: s.path }, s.path),
    h('span', { class: 'muted' }, formatBytes(s.size)),
    h('span', { class: 'muted' }, 'paused'),
    h('span', { class: 'actions' }, resume, discard));
}

/** @param {Item} i */
function settled(i) {
  return i.state !== 'queued' && i.state !== 'running';
}

/** @param {Item} i */
function draw(i) {
  i.bar.max = Math.max(1, i.file.size);
  i.bar.value = i.state === 'done' ? i.bar.max : Math.min(i.sent, i.file.size);
  const pct = i.file.size ? Math.floor((100 * i.sent) / i.file.size) : 0;
  const text = {
    queued: 'Waiting',
    running: `${pct} %`,
    done: 'Done',
    failed: i.error || 'Failed',
    conflict: 'Already exists',
    skipped: 'Skipped',
    cancelled: 'Cancelled',
  }[i.state];
  i.status.textContent = text;
  i.status.className = i.state === 'failed' || i.state === 'conflict' ? 'error' : 'muted';
  if (i.state === 'failed') i.status.setAttribute('role', 'alert');
  else i.status.removeAttribute('role');
  if (i.li.dataset.state === i.state) return;
  i.li.dataset.state = i.state;
  /** @type {HTMLElement[]} */
  const buttons = [];
  const name = i.label;
  if (!settled(i)) buttons.push(h('button', { type: 'button', 'aria-label': `Cancel ${name}`, onclick: () => cancel(i) }, 'Cancel'));
  if (i.state === 'conflict') {
    buttons.push(h('button', { type: 'button', class: 'primary', 'aria-label': `Replace ${name}`, onclick: () => {
      i.overwrite = true;
      requeue(i);
      focusNext();
    } }, 'Replace'));
    buttons.push(h('button', { type: 'button', 'aria-label': `Skip ${name}`, onclick: () => {
      i.state = 'skipped';
      draw(i);
      progressed();
      focusNext();
    } }, 'Skip'));
  }
  if (i.state === 'failed') buttons.push(h('button', { type: 'button', 'aria-label': `Retry ${name}`, onclick: () => requeue(i) }, 'Retry'));
  mount(i.actions, buttons);
}

/** After a decision, focus goes to the next one (or the panel's heading). */
function focusNext() {
  const next = /** @type {HTMLElement | null} */ (list.querySelector('li[data-state=conflict] button, li[data-state=failed] button'));
  (next || /** @type {HTMLElement} */ (panel.querySelector('h2'))).focus();
}

/** @param {Item} i */
function requeue(i) {
  i.state = 'queued';
  i.error = undefined;
  draw(i);
  progressed();
  pump();
}

/** @param {Item} i */
function cancel(i) {
  if (settled(i)) return;
  if (i.state === 'queued') {
    i.state = 'cancelled';
    draw(i);
    progressed();
  }
  i.ctl?.abort();
}

function clearFinished() {
  for (const i of items.filter(settled)) i.li.remove();
  items = items.filter((i) => !settled(i));
  batchError.hidden = true;
  summary.textContent = '';
  refresh();
  if (!panel.hidden) /** @type {HTMLElement} */ (panel.querySelector('h2')).focus();
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let soon;
/** `progressed()` within 100 ms: progress events of many files cost one update. */
function later() {
  soon ??= setTimeout(() => {
    soon = undefined;
    progressed();
  }, 100);
}

/** Totals again, and the summary once nothing runs or waits. */
function progressed() {
  refresh();
  if (items.some((i) => !settled(i)) || !items.length) {
    summary.textContent = '';
    return;
  }
  /** @param {State} s */
  const n = (s) => items.filter((i) => i.state === s).length;
  const bytes = items.filter((i) => i.state === 'done').reduce((a, i) => a + i.file.size, 0);
  const parts = [`Uploaded ${n('done')} ${n('done') === 1 ? 'file' : 'files'} (${formatBytes(bytes)})`];
  if (n('failed')) parts.push(`${n('failed')} failed`);
  if (n('conflict')) parts.push(`${n('conflict')} already ${n('conflict') === 1 ? 'exists' : 'exist'}: replace or skip`);
  if (n('skipped')) parts.push(`${n('skipped')} skipped`);
  if (n('cancelled')) parts.push(`${n('cancelled')} cancelled`);
  const text = parts.join(', ') + '.';
  if (summary.textContent !== text) summary.textContent = text;
}

// ---- files changed ------------------------------------------------------------------------

/** @type {Set<string>} */
const changedFolders = new Set();
/** @type {ReturnType<typeof setTimeout> | undefined} */
let changeTimer;
/** Tells the file browser (debounced: a folder of 1,000 small files is not 1,000 reloads). @param {string} folder */
function landed(folder) {
  changedFolders.add(folder);
  changeTimer ??= setTimeout(() => {
    changeTimer = undefined;
    for (const f of changedFolders) document.dispatchEvent(new CustomEvent('vertex:files-changed', { detail: { folder: f } }));
    changedFolders.clear();
  }, 300);
}

// ---- starting uploads -----------------------------------------------------------------------

/** @param {...string} parts */
function join(...parts) {
  return parts.filter(Boolean).join('/');
}

/** @param {string} p */
function parent(p) {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/**
 * Uploads `entries` into `folder` (files keep their relative paths below it). Files that continue
 * a saved upload resume it. Nothing is sent when the batch does not fit the quota.
 * @param {string} folder @param {Entry[]} entries @param {{resumeOnly?: boolean}} [o]
 */
export async function upload(folder, entries, o = {}) {
  if (!entries.length) return;
  folder = folder.replace(/^\/+|\/+$/g, '');
  batchError.hidden = true;
  const savedFor = savedMatcher();
  const plan = entries.map((e) => ({ ...e, saved: savedFor(e.file) }));
  if (o.resumeOnly && plan.some((p) => !p.saved)) {
    showBatchError('That is not the file of an unfinished upload: pick the same file (same name, size and date) to resume it.');
    return;
  }
  const fresh = plan.filter((p) => !p.saved);
  try {
    await checkRoom(fresh.map((p) => p.file));
  } catch (e) {
    showBatchError(message(e));
    return;
  }
  for (const p of plan) {
    const bar = /** @type {HTMLProgressElement} */ (h('progress', { max: 1, value: 0, 'aria-label': `Upload progress of ${p.saved ? p.saved.path : p.rel}` }));
    const status = h('span', { class: 'muted' });
    const actions = h('span', { class: 'actions' });
    const label = p.saved ? p.saved.path : p.rel;
    /** @type {Item} */
    const item = {
      file: p.file,
      folder: p.saved ? p.saved.folder : folder,
      path: p.saved ? p.saved.path : join(folder, p.rel),
      label,
      overwrite: p.saved ? p.saved.overwrite : false,
      state: 'queued',
      sent: 0,
      saved: p.saved,
      direct: p.file.size >= FORM_MAX || !!p.saved,
      ctl: null,
      task: null,
      bar,
      status,
      actions,
      li: h('li', null, h('span', { class: 'name', title: label }, label), bar, status, actions),
    };
    items.push(item);
    list.append(item.li);
    draw(item);
  }
  progressed();
  pump();
}

/** @param {string} text */
function showBatchError(text) {
  batchError.textContent = text;
  batchError.hidden = false;
  refresh();
}

/** The batch must fit in the room the quota and the file limit leave. @param {File[]} files */
async function checkRoom(files) {
  if (!files.length) return;
  const s = (await get('/auth/user-info')).storage || {};
  const bytes = files.reduce((a, f) => a + f.size, 0);
  const what = files.length === 1 ? `"${files[0].name}" needs` : `These ${files.length} files need`;
  if (s.quota_bytes !== null && s.quota_bytes !== undefined) {
    const room = Math.max(0, s.quota_bytes - s.used_bytes - (s.reserved_bytes || 0));
    if (bytes > room) {
      throw new Error(`${what} ${formatBytes(bytes)}, but only ${formatBytes(room)} of your ${formatBytes(s.quota_bytes)} storage quota is left. Nothing was uploaded.`);
    }
  }
  if (s.file_limit !== null && s.file_limit !== undefined) {
    const room = Math.max(0, s.file_limit - s.file_count);
    if (files.length > room) {
      throw new Error(`You may store ${room} more ${room === 1 ? 'file' : 'files'} (limit ${s.file_limit}); this upload has ${files.length}. Nothing was uploaded.`);
    }
  }
}

function pump() {
  for (const i of items) {
    if (i.state !== 'queued') continue;
    const lane = i.direct ? 'direct' : 'form';
    if (running[lane] >= LANES[lane]) continue;
    running[lane]++;
    i.state = 'running';
    i.ctl = new AbortController();
    draw(i);
    i.task = run(i).finally(() => {
      running[lane]--;
      i.ctl = null;
      i.task = null;
      draw(i);
      later();
      pump();
    });
  }
}

/** @param {Item} i */
async function run(i) {
  const signal = /** @type {AbortController} */ (i.ctl).signal;
  const onProgress = () => {
    draw(i);
    later();
  };
  try {
    if (!i.direct) {
      try {
        await formUpload(i, signal, onProgress);
      } catch (e) {
        // Over this deployment's request limit (the API's `request_too_large`, or API Gateway's
        // own 413): the same file by direct upload. A full quota is not that.
        const err = /** @type {any} */ (e);
        if (err.status !== 413 || /quota|limit_exceeded/.test(err.code)) throw e;
        i.direct = true;
        i.sent = 0;
        await directUpload(i, signal, onProgress);
      }
    } else {
      await directUpload(i, signal, onProgress);
    }
    i.state = 'done';
    i.sent = i.file.size;
    landed(i.folder);
  } catch (e) {
    const err = /** @type {any} */ (e);
    i.sent = 0;
    if (signal.aborted || err.name === 'AbortError') {
      i.state = 'cancelled';
      // Given up on the server by directUpload (unless the session ended: then kept for resume).
      if (i.saved && !kept.has(i)) {
        forget(i.saved.upload_id);
        i.saved = null;
      }
    } else if (err.status === 409 && !i.overwrite) {
      i.state = 'conflict';
      if (i.saved) {
        // Taken meanwhile (aborted by directUpload): "Replace" starts again with overwrite.
        forget(i.saved.upload_id);
        i.saved = null;
      }
    } else {
      i.state = 'failed';
      i.error = message(e);
    }
  }
}

/**
 * One file in a form, with upload progress (XMLHttpRequest); one renewal of the session on 401.
 * @param {Item} i @param {AbortSignal} signal @param {() => void} onProgress
 */
async function formUpload(i, signal, onProgress) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sendForm(i, signal, onProgress);
    } catch (e) {
      if (/** @type {any} */ (e).status !== 401 || attempt > 0 || !(await renewAccess())) throw e;
    }
  }
}

/** @param {Item} i @param {AbortSignal} signal @param {() => void} onProgress */
async function sendForm(i, signal, onProgress) {
  const form = new FormData();
  form.append('path', parent(i.path));
  form.append('overwrite', String(i.overwrite));
  form.append('files', i.file, i.path.slice(i.path.lastIndexOf('/') + 1));
  const token = bearer();
  const xhr = await xhrSend('POST', url('/files/upload'), form, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal,
    onProgress: (loaded, total) => {
      i.sent = total ? Math.floor((loaded / total) * i.file.size) : 0;
      onProgress();
    },
  });
  let body = null;
  try {
    body = JSON.parse(xhr.responseText);
  } catch {
    body = null;
  }
  if (xhr.status >= 200 && xhr.status < 300) return body;
  throw new ApiError(xhr.status, body || { error: `Upload failed (HTTP ${xhr.status}).`, code: 'http_' + xhr.status, details: null });
}

/** A media type the API accepts, or undefined (it guesses from the name). @param {string} t */
function mediaType(t) {
  return /^[\w.+-]+\/[\w.+-]+$/.test(t) ? t : undefined;
}

/**
 * Starts (or resumes) a direct upload, sends the missing parts, completes it. It stays saved for
 * a resume unless it is cancelled (not by the session's end) or the name is taken meanwhile.
 * @param {Item} i @param {AbortSignal} signal @param {() => void} onProgress
 */
async function directUpload(i, signal, onProgress) {
  await sendDirect({
    call,
    base: '/files/uploads',
    file: i.file,
    start: { path: i.path, size: i.file.size, content_type: mediaType(i.file.type), overwrite: i.overwrite },
    resume: i.saved?.upload_id,
    signal,
    onStart: (up) => {
      if (i.saved?.upload_id === up.upload_id) return;
      // Expired or gone: started again.
      if (i.saved) forget(i.saved.upload_id);
      i.saved = {
        upload_id: up.upload_id,
        user: currentUser()?.id || '',
        folder: i.folder,
        path: up.path || i.path,
        name: i.file.name,
        size: i.file.size,
        lastModified: i.file.lastModified,
        expires_at: up.upload_expires_at || up.expires_at,
        overwrite: i.overwrite,
      };
      save(i.saved);
    },
    onProgress: (n) => {
      i.sent = n;
      onProgress();
    },
    abortOn: (e) => ((signal.aborted || e?.name === 'AbortError') && !kept.has(i)) || (e?.status === 409 && !i.overwrite),
    onAbortFailed: (x) => toast(`${i.label}: ${message(x)}`, 'error'),
  });
  if (i.saved) forget(i.saved.upload_id);
  i.saved = null;
}

// ---- pickers and drops -----------------------------------------------------------------------

/**
 * Opens the browser's picker and uploads what is picked into `folder`.
 * @param {{multiple?: boolean, directory?: boolean}} kind @param {string} folder @param {boolean} [resumeOnly]
 */
function pick(kind, folder, resumeOnly = false) {
  const input = /** @type {HTMLInputElement} */ (h('input', { type: 'file', multiple: kind.multiple || kind.directory, webkitdirectory: kind.directory, hidden: true, 'aria-hidden': 'true', tabindex: -1 }));
  const done = () => input.remove();
  input.addEventListener('change', () => {
    const files = [...(input.files || [])];
    done();
    void upload(folder, files.map((file) => ({ file, rel: file.webkitRelativePath || file.name })), { resumeOnly });
  });
  input.addEventListener('cancel', done);
  document.body.append(input);
  input.click();
}

/** Picks files to upload into `folder`. @param {string} folder */
export function pickFiles(folder) {
  pick({ multiple: true }, folder);
}

/** Picks a folder to upload (with everything below it) into `folder`. @param {string} folder */
export function pickFolder(folder) {
  pick({ directory: true }, folder);
}

/**
 * Makes `el` accept dropped files and folders (folders recursively, keeping relative paths);
 * `el` has class `over` while something is dragged over it.
 * @param {HTMLElement} el @param {() => string} getFolder
 */
export function dropZone(el, getFolder) {
  dropFiles(el, (entries) => {
    const folder = getFolder();
    entries.then((out) => upload(folder, out)).catch((e) => showBatchError(message(e)));
  });
}

/**
 * Makes `el` a drop target for files and folders (other drags are ignored); `onDrop` is called
 * at the drop with the dropped files to come (a folder's read recursively, relative paths kept).
 * `el` has classes `drop`, and `over` while files are dragged over it.
 * @param {HTMLElement} el @param {(entries: Promise<Entry[]>) => void} onDrop
 */
export function dropFiles(el, onDrop) {
  el.classList.add('drop');
  let depth = 0;
  /** @param {DragEvent} ev */
  const files = (ev) => !!ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
  el.addEventListener('dragenter', (ev) => {
    if (!files(ev)) return;
    ev.preventDefault();
    depth++;
    el.classList.add('over');
  });
  el.addEventListener('dragover', (ev) => {
    if (!files(ev)) return;
    ev.preventDefault();
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = 'copy';
    el.classList.add('over');
  });
  el.addEventListener('dragleave', (ev) => {
    if (!files(ev)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) el.classList.remove('over');
  });
  el.addEventListener('drop', (ev) => {
    if (!files(ev) || !ev.dataTransfer) return;
    ev.preventDefault();
    depth = 0;
    el.classList.remove('over');
    // The entries must be taken now: the DataTransfer empties once the handler returns.
    const dt = ev.dataTransfer;
    const entries = [...dt.items].filter((it) => it.kind === 'file').map((it) => it.webkitGetAsEntry?.() ?? null);
    const plain = [...dt.files];
    onDrop((async () => {
      /** @type {Entry[]} */
      const out = [];
      if (entries.length && entries.every(Boolean)) {
        for (const e of entries) await walk(/** @type {FileSystemEntry} */ (e), out);
      } else {
        for (const file of plain) out.push({ file, rel: file.name });
      }
      return out;
    })());
  });
}

/** The files below a dropped entry. @param {FileSystemEntry} entry @param {Entry[]} out */
async function walk(entry, out) {
  const rel = entry.fullPath.replace(/^\/+/, '');
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => /** @type {FileSystemFileEntry} */ (entry).file(resolve, reject));
    out.push({ file, rel: rel || file.name });
    return;
  }
  const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
  for (;;) {
    /** @type {FileSystemEntry[]} */
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const e of batch) await walk(e, out);
  }
}
