// Folder copy / move / rename / delete that the server runs as a job (a 202 with the job, for
// folders above its threshold): each job gets an entry in the file browser's jobs panel with its
// progress and "Cancel"; when it ends the listing refreshes, and a job that failed or was
// cancelled shows why with "Resume" and, for copy / move / rename, "Undo". Folder jobs still
// running on the server when the page is loaded (`GET /jobs`) join the panel too.
import { ApiError, call, answer, get, post, del } from '../api.js';
import { h, toast, message, formatBytes } from '../ui.js';
import { pollJob, running } from '../jobs.js';
import { currentUser, onSessionChange } from '../session.js';

/** @typedef {import('../jobs.js').Job} Job */

/** Where running jobs (ZIPs and folder operations) show their progress; kept across folder changes. */
export const jobs = h('div', { class: 'zip-jobs', 'aria-live': 'polite' });

// When the person signed in changes (signed out, session ended, someone else signed in), the
// panel empties and its waits end: the jobs themselves go on on the server.
let session = new AbortController();
/** @type {string | null} */
let signedIn = currentUser()?.id ?? null;
/** Whose running jobs the panel has been given (`showRunningJobs`). @type {string | null} */
let looked = null;
onSessionChange((u) => {
  if ((u?.id ?? null) === signedIn) return;
  signedIn = u?.id ?? null;
  looked = null;
  session.abort();
  session = new AbortController();
  jobs.replaceChildren();
});
/** Aborts when the person signed in changes. */
export const sessionSignal = () => session.signal;

/** The words for each kind of folder job. */
const WORDS = {
  copy: { ing: 'Copying', ed: 'Copied', noun: 'copy' },
  move: { ing: 'Moving', ed: 'Moved', noun: 'move' },
  rename: { ing: 'Renaming', ed: 'Renamed', noun: 'rename' },
  delete: { ing: 'Deleting', ed: 'Deleted', noun: 'delete' },
};

/** @param {string} path */
const parentOf = (path) => path.split('/').slice(0, -1).join('/');
/** @param {string} path */
const baseName = (path) => path.split('/').pop() || '';
/** @param {Job} job */
const words = (job) => WORDS[/** @type {keyof WORDS} */ (job.kind)] || { ing: 'Working on', ed: 'Finished', noun: 'job' };

/** @param {Job} job */
const nameOf = (job) => job.name || baseName(job.source_path || '') || 'the folder';

/**
 * What the job does (or, with `done`, did), as a person says it: "Moving docs to archive",
 * "Renamed docs to papers", "Undoing the copy of docs".
 * @param {Job} job @param {boolean} [done]
 */
function title(job, done = false) {
  const name = nameOf(job);
  const w = words(job);
  if (job.phase === 'undoing') return `Undoing the ${w.noun} of ${name}`;
  const verb = done ? w.ed : w.ing;
  const target = job.target_path ?? null;
  if (target === null || job.kind === 'delete') return `${verb} ${name}`;
  if (job.kind === 'rename') return `${verb} ${name} to ${baseName(target)}`;
  return `${verb} ${name} to ${parentOf(target) || 'Home'}`;
}

/** "3 of 10 objects, 1.2 KiB of 4 KiB". @param {Job} job */
function counts(job) {
  const done = job.objects_done ?? job.files_done ?? 0;
  const total = job.objects_total ?? job.files_total ?? 0;
  return `${done} of ${total} object${total === 1 ? '' : 's'}, `
    + `${formatBytes(job.bytes_done ?? 0)} of ${formatBytes(job.bytes_total ?? 0)}`;
}

/** The listing(s) the job changed are read again (files.js listens). @param {Job} job */
function refresh(job) {
  const folders = new Set([parentOf(job.source_path || ''), ...(job.target_path != null ? [parentOf(job.target_path)] : [])]);
  for (const folder of folders) document.dispatchEvent(new CustomEvent('vertex:files-changed', { detail: { folder } }));
}

/**
 * A 409 `job_running` (a job holds the path) as the API words it, without its `details`
 * (`{job_id}`, which `message()` would list as if it were a field error); other errors as they are.
 * @param {any} e
 */
export function jobError(e) {
  return e instanceof ApiError && e.code === 'job_running' ? new Error(e.message) : e;
}

/**
 * POSTs a folder operation. `{done}`: the server did it within the request (200, its answer);
 * `{job}`: it started a job (202), which the jobs panel now follows.
 * @param {string} path @param {any} body
 * @returns {Promise<{done?: any, job?: Job}>}
 */
export async function startOrDo(path, body) {
  const r = /** @type {Response} */ (await call('POST', path, { body, raw: true }));
  const json = await answer(r, true).catch((e) => Promise.reject(jobError(e)));
  if (r.status !== 202) return { done: json };
  follow(json);
  return { job: json };
}

/**
 * A button whose accessible name starts with its visible words. Errors of `fn` are shown in
 * `say` (the entry's text).
 * @param {string} text @param {string} label @param {() => Promise<void>} fn
 */
function action(text, label, fn) {
  const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'link', 'aria-label': label }, text));
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await fn();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/**
 * Puts the person's folder jobs that are still running on the server (started before this page
 * was loaded, or on another one) in the panel, once per person signed in. If they cannot be
 * read, the panel stays as it is: the jobs go on anyway.
 */
export async function showRunningJobs() {
  const me = currentUser()?.id ?? null;
  if (!me || looked === me) return;
  looked = me;
  const signal = sessionSignal();
  try {
    let cursor;
    do {
      const page = await get('/jobs', { query: { limit: 1000, cursor }, signal });
      // Newest first, as listed. Archives have their own wait, which a reload ends.
      for (const job of /** @type {Job[]} */ (page.items)) if (job.kind !== 'zip' && running(job)) follow(job);
      cursor = page.next_cursor || undefined;
    } while (cursor);
  } catch {
    if (!signal.aborted && looked === me) looked = null;
  }
}

/**
 * Shows `job` in the jobs panel (once: an entry it has already is kept) and polls it
 * (`GET /jobs/{id}`) until it ends.
 * @param {Job} job
 */
export function follow(job) {
  const shown = [...jobs.children].find((el) => el instanceof HTMLElement && el.dataset.job === job.job_id);
  // An entry still following it stays; one left from an earlier end (the job was resumed
  // elsewhere since) gives way to a new one.
  if (shown instanceof HTMLElement && (shown.dataset.polling !== undefined || !running(job))) return shown;
  shown?.remove();
  const id = encodeURIComponent(job.job_id);
  const text = h('span');
  const buttons = h('span', { class: 'row' });
  const bar = /** @type {HTMLProgressElement} */ (h('progress', { max: 1, value: 0, 'aria-label': title(job) }));
  const entry = h('div', { class: 'zip-job folder-job card', 'data-job': job.job_id },
    h('div', { class: 'row' }, text, h('span', { class: 'spacer' }), buttons), bar);
  jobs.append(entry);

  /** @param {string} words @param {boolean} [alert] */
  const say = (words, alert = false) => {
    text.textContent = words;
    text.classList.toggle('error', alert);
    if (alert) text.setAttribute('role', 'alert');
    else text.removeAttribute('role');
  };
  const dismiss = () => action('Dismiss', `Dismiss: ${title(job)}`, async () => entry.remove());
  // A button pressed here goes away with the state it belonged to: focus moves on to the
  // entry's next button (unless the person has moved it elsewhere meanwhile).
  let refocus = false;
  /** @param {...(HTMLElement | string)} btns */
  const place = (...btns) => {
    const here = entry.contains(document.activeElement);
    const lost = !document.activeElement || document.activeElement === document.body;
    buttons.replaceChildren(...btns);
    const first = /** @type {HTMLButtonElement | null} */ (buttons.querySelector('button'));
    if ((here || (refocus && lost)) && first) {
      first.focus();
      refocus = false;
    } else refocus = here || (refocus && lost);
  };

  /** A running job: its progress, and "Cancel" until a stop is asked. @param {Job} j */
  const progress = (j) => {
    job = j;
    const total = j.objects_total ?? j.files_total ?? 0;
    bar.hidden = false;
    bar.setAttribute('aria-label', title(j));
    bar.max = Math.max(1, j.bytes_total || total);
    bar.value = (j.bytes_total ? j.bytes_done : j.objects_done ?? j.files_done) || 0;
    const state = j.phase === 'counting' || (!total && !j.objects_done) ? 'counting…' : counts(j);
    say(j.cancel_requested ? `${title(j)}: stopping after ${counts(j)}…` : `${title(j)}: ${state}`);
    if (j.cancel_requested) place();
    else if (!buttons.querySelector('[data-cancel]')) {
      const cancel = action('Cancel', `Cancel: ${title(j)}`, async () => {
        try {
          // 202: stopping (shown at once); 200: it had ended, which the next read shows.
          const j = await del(`/jobs/${id}`);
          if (running(j)) progress(j);
        } catch (e) {
          toast(message(jobError(e)), 'error');
        }
      });
      cancel.dataset.cancel = '';
      place(cancel);
    }
  };

  /** Starts it again (resume or undo: both answer 202 with the job), then follows it. @param {'resume' | 'undo'} what */
  const again = async (what) => {
    try {
      const j = await post(`/jobs/${id}/${what}`);
      await run(j);
    } catch (e) {
      say(`${title(job)}: ${message(jobError(e))}`, true);
    }
  };

  /** The job ended: done and undone leave the panel; anything else stays, with what can be done. @param {Job} j */
  const ended = (j) => {
    job = j;
    refresh(j);
    if (j.status === 'done' || j.status === 'undone') {
      entry.remove();
      toast(j.status === 'done' ? title(j, true) : `The ${words(j).noun} of ${nameOf(j)} was undone`);
      return;
    }
    bar.hidden = true;
    const stopped = j.status === 'failed' || j.status === 'cancelled';
    if (j.status === 'failed') say(`${title(j)} failed after ${counts(j)}: ${j.error || 'no reason given'}`, true);
    else if (j.status === 'cancelled') say(`${title(j)} was cancelled after ${counts(j)}.`);
    else say(`${title(j)} ended (${j.status}).`);
    const resumable = stopped && j.resumable !== false;
    const undoable = stopped && (j.undoable ?? (resumable && j.kind !== 'delete'));
    place(
      resumable ? action('Resume', `Resume: ${title(j)}`, () => again('resume')) : '',
      undoable ? action('Undo', `Undo: ${title(j)}`, () => again('undo')) : '',
      dismiss());
  };

  /** @param {Job} j */
  async function run(j) {
    place();
    progress(j);
    const signal = sessionSignal();
    entry.dataset.polling = '';
    try {
      const last = await pollJob((sig) => get(`/jobs/${id}`, { signal: sig }), { onProgress: (p) => running(p) && progress(p), signal, slowPoll: true });
      delete entry.dataset.polling;
      ended(last);
    } catch (e) {
      delete entry.dataset.polling;
      if (signal.aborted) return;
      bar.hidden = true;
      say(`${title(job)}: ${message(jobError(e))}`, true);
      place(dismiss());
    }
  }

  void run(job);
  return entry;
}
