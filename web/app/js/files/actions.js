// What the file browser does to files: download (one file by its signed URL, anything else as a
// ZIP, with the job's progress when the server builds it in the background), new folder,
// rename, move, copy and delete (a large folder's as a job followed in the jobs panel:
// folder-jobs.js) — each through the public API, each error shown.
import { get, post, del } from '../api.js';
import { h, dialog, toast, message, formatBytes, saveAs } from '../ui.js';
import { input as field } from '../forms.js';
import { pollZip } from '../jobs.js';
import { jobs, startOrDo, jobError, sessionSignal } from './folder-jobs.js';

export { jobs };

/** @typedef {import('./table.js').Item} Item */

/** `a/b/c` → `c`; `` → ``. @param {string} path */
export const baseName = (path) => path.split('/').pop() || '';
/** `a/b/c` → `a/b`. @param {string} path */
export const parentOf = (path) => path.split('/').slice(0, -1).join('/');
/** A folder path typed by a person: no surrounding blanks or slashes. @param {string} s */
export const cleanPath = (s) => s.trim().replace(/^\/+|\/+$/g, '').replace(/\/{2,}/g, '/');
/** @param {string} folder */
export const folderLabel = (folder) => (folder ? folder : 'Home');

/** Disables the dialog's submit button while `fn` runs. @template T @param {HTMLFormElement} form @param {() => Promise<T>} fn */
async function busy(form, fn) {
  const b = /** @type {HTMLButtonElement | null} */ (form.querySelector('button[type=submit]'));
  if (b) b.disabled = true;
  try {
    return await fn();
  } finally {
    if (b) b.disabled = false;
  }
}

/**
 * Runs `op` on each item in turn; the ones done leave `items` (so a retry does only the rest);
 * throws one error naming each failure.
 * @param {Item[]} items @param {(it: Item) => Promise<any>} op @param {string} verb
 */
async function each(items, op, verb) {
  /** @type {string[]} */
  const failed = [];
  for (const it of [...items]) {
    try {
      await op(it);
      items.splice(items.indexOf(it), 1);
    } catch (e) {
      failed.push(`${it.name}: ${message(e)}`);
    }
  }
  if (failed.length) throw new Error(`Could not ${verb} ${failed.join('; ')}`);
}

/** @param {Item[]} items */
function names(items) {
  const shown = items.slice(0, 12).map((it) => h('li', null, it.is_directory ? `${it.name}/` : it.name));
  const more = items.length > 12 ? h('li', { class: 'muted' }, `and ${items.length - 12} more`) : null;
  return h('ul', { class: 'names' }, shown, more);
}

/** @param {number} n */
const count = (n) => `${n} item${n === 1 ? '' : 's'}`;

/**
 * What a toast says after `n` items were handled, `started` of them as jobs (the jobs panel
 * shows those): "Moved 2 items to docs", "Moving 1 item to docs in the background".
 * @param {{ed: string, ing: string}} verb @param {number} n @param {number} started @param {string} [where]
 */
function summary(verb, n, started, where = '') {
  if (!started) return `${verb.ed} ${count(n)}${where}`;
  if (started >= n) return `${verb.ing} ${count(n)}${where} in the background`;
  return `${verb.ed} ${count(n - started)}${where}; ${started} more in the background`;
}

/** Asks for a name and creates the folder; resolves with its path (null: cancelled). @param {string} parent */
export async function newFolder(parent) {
  return dialog({
    title: 'New folder',
    content: [h('p', { class: 'muted' }, `In ${folderLabel(parent)}`), field('Folder name', { name: 'name', required: true, autocomplete: 'off' })],
    ok: 'Create',
    onsubmit: (form) => busy(form, async () => {
      const name = String(new FormData(form).get('name')).trim();
      if (!name) throw new Error('Type a name for the folder.');
      const r = await post('/files/create-folder', { parent_path: parent, folder_name: name }).catch((e) => Promise.reject(jobError(e)));
      toast(`Folder ${name} created`);
      return r.folder_path;
    }),
  });
}

/** Asks for the new name; resolves with the new path (null: cancelled). @param {Item} item */
export async function rename(item) {
  const input = field('New name', { name: 'name', value: item.name, required: true, autocomplete: 'off' });
  const done = dialog({
    title: `Rename ${item.name}`,
    content: input,
    ok: 'Rename',
    onsubmit: (form) => busy(form, async () => {
      const name = String(new FormData(form).get('name')).trim();
      if (!name) throw new Error('Type the new name.');
      if (name === item.name) return item.path;
      const r = await startOrDo('/files/rename', { old_path: item.path, new_name: name });
      if (r.job) {
        toast(`Renaming ${item.name} to ${name} in the background`);
        return r.job.target_path || item.path;
      }
      toast(`Renamed to ${name}`);
      return r.done.new_path;
    }),
  });
  // The name without its extension is selected, ready to be typed over.
  const el = /** @type {HTMLInputElement} */ (input.querySelector('input'));
  const dot = item.is_directory ? -1 : item.name.lastIndexOf('.');
  el.setSelectionRange(0, dot > 0 ? dot : item.name.length);
  return done;
}

/**
 * Moves or copies `items` into a folder the person types (or picks); resolves with the
 * destination (null: cancelled).
 * @param {Item[]} items @param {'move' | 'copy'} mode @param {string} current the folder shown
 */
export async function moveOrCopy(items, mode, current) {
  const todo = [...items];
  const verb = mode === 'move' ? 'Move' : 'Copy';
  let started = 0;
  const dest = field('Destination folder', { name: 'dest', value: current, placeholder: 'Home (leave empty)', autocomplete: 'off' });
  const input = /** @type {HTMLInputElement} */ (dest.querySelector('input'));
  const picker = folderPicker(input);
  return dialog({
    title: `${verb} ${todo.length === 1 ? todo[0].name : count(todo.length)}`,
    content: [dest, picker],
    ok: verb,
    onsubmit: (form) => busy(form, async () => {
      const to = cleanPath(input.value);
      await each(todo, async (it) => {
        if ((await startOrDo(`/files/${mode}`, { source_path: it.path, dest_path: to })).job) started++;
      }, mode);
      const words = mode === 'move' ? { ed: 'Moved', ing: 'Moving' } : { ed: 'Copied', ing: 'Copying' };
      toast(summary(words, items.length, started, ` to ${folderLabel(to)}`));
      return to;
    }),
  });
}

/**
 * A small list of the folders inside the one typed in `input`: a click goes into it (and fills
 * the input), "Up" goes to its parent. Optional help; typing a path is enough.
 * @param {HTMLInputElement} input
 */
function folderPicker(input) {
  const list = h('ul', { class: 'picker', 'aria-label': 'Folders' });
  const up = h('button', { type: 'button', onclick: () => go(parentOf(cleanPath(input.value))) }, 'Up one level');
  const status = h('p', { class: 'muted' });
  let gen = 0;
  /** @param {string} folder */
  async function go(folder) {
    input.value = folder;
    const mine = ++gen;
    up.toggleAttribute('disabled', !folder);
    status.textContent = 'Loading folders…';
    // The old folders stay until the new ones arrive, and the list keeps one height (app.css):
    // typing a path and then clicking the submit button reloads it between the press (the
    // input's `change`) and the release, which must land on the same button.
    list.setAttribute('aria-busy', 'true');
    try {
      const r = await get('/files/list', { query: { path: folder, limit: 1000 } });
      if (mine !== gen) return;
      const dirs = r.items.filter((/** @type {Item} */ it) => it.is_directory);
      status.textContent = dirs.length ? `Folders in ${folderLabel(folder)}:` : `No folders in ${folderLabel(folder)}.`;
      status.title = status.textContent;
      list.replaceChildren(...dirs.map((/** @type {Item} */ d) =>
        h('li', null, h('button', { type: 'button', class: 'link', onclick: () => go(d.path) }, d.name))));
    } catch (e) {
      if (mine === gen) {
        status.textContent = message(e);
        // On one line (app.css): the whole of a long message is its tooltip.
        status.title = status.textContent;
        list.replaceChildren();
      }
    } finally {
      if (mine === gen) list.removeAttribute('aria-busy');
    }
  }
  input.addEventListener('change', () => go(cleanPath(input.value)));
  void go(cleanPath(input.value));
  return h('div', { class: 'folder-picker' }, h('div', { class: 'row' }, up), status, list);
}

/** Asks, then deletes `items`; resolves true when done (null: cancelled). @param {Item[]} items */
export async function remove(items) {
  const todo = [...items];
  let started = 0;
  return dialog({
    title: `Delete ${todo.length === 1 ? todo[0].name : count(todo.length)}?`,
    content: [
      h('p', null, items.some((it) => it.is_directory)
        ? 'These go for good; folders with everything in them:' : 'These go for good:'),
      names(items),
    ],
    ok: 'Delete',
    danger: true,
    onsubmit: (form) => busy(form, async () => {
      await each(todo, async (it) => {
        if ((await startOrDo('/files/delete', { path: it.path })).job) started++;
      }, 'delete');
      toast(summary({ ed: 'Deleted', ing: 'Deleting' }, items.length, started));
      return true;
    }),
  });
}

/** Downloads one file by its short-lived URL. @param {Item} item */
export async function downloadFile(item) {
  const r = await get('/files/download', { query: { path: item.path, redirect: 'false' } });
  saveAs(r.url);
}

/**
 * Downloads `paths` as one ZIP: at once when the server finishes it within the request,
 * otherwise polls the job (`GET /jobs/{id}`, every ~500 ms) with a progress bar and "Cancel",
 * then downloads it.
 * @param {string[]} paths @param {string} [name]
 */
export async function downloadZip(paths, name) {
  let job = await post('/zip', { paths, name: name || null });
  if (job.status === 'done' && job.url) {
    saveAs(job.url);
    return;
  }
  const bar = /** @type {HTMLProgressElement} */ (h('progress', { max: 1, value: 0, 'aria-label': `Preparing ${job.name}` }));
  const text = h('span', null, `Preparing ${job.name}…`);
  const stop = new AbortController();
  const id = encodeURIComponent(job.job_id);
  let ended = false;
  // Cancel stops the job on the server too (its slot and reserved room come back); a failed
  // DELETE changes nothing here: the job ends unwatched.
  const close = () => {
    stop.abort();
    entry.remove();
    if (!ended) del(`/jobs/${id}`).catch(() => {});
  };
  const cancel = h('button', { type: 'button', class: 'link', 'aria-label': `Cancel: preparing ${job.name}`, onclick: close }, 'Cancel');
  const entry = h('div', { class: 'zip-job card' }, h('div', { class: 'row' }, text, h('span', { class: 'spacer' }), cancel), bar);
  /** @param {import('../jobs.js').ZipJob} j */
  const show = (j) => {
    const total = j.files_total || 0;
    bar.max = Math.max(1, j.bytes_total || total);
    bar.value = (j.bytes_total ? j.bytes_done : j.files_done) || 0;
    text.textContent = `Preparing ${job.name}: ${j.files_done ?? 0} of ${total} files, `
      + `${formatBytes(j.bytes_done ?? 0)} of ${formatBytes(j.bytes_total ?? 0)}`;
  };
  jobs.append(entry);
  show(job);
  // The session's end stops the wait too (the panel is emptied then).
  const life = sessionSignal();
  try {
    const signal = AbortSignal.any([stop.signal, life]);
    const done = await pollZip((sig) => get(`/jobs/${id}`, { signal: sig }), { onProgress: show, signal });
    entry.remove();
    toast(`${job.name} is ready`);
    saveAs(/** @type {string} */ (done.url));
  } catch (e) {
    if (stop.signal.aborted || life.aborted) return;
    ended = true;
    bar.remove();
    text.textContent = `${job.name}: ${message(e)}`;
    text.setAttribute('role', 'alert');
    text.classList.add('error');
    cancel.textContent = 'Dismiss';
    cancel.setAttribute('aria-label', `Dismiss: ${job.name}`);
  }
}
