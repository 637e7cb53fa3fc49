// Background jobs: polling one until it ends. The file browser's ZIPs and folder copy / move /
// rename / delete (`GET /jobs/{id}`, one model for every kind) and a share link's visitor's ZIPs
// (`/s/{id}/download-zip` → `/s/{id}/zip/{job}`) alike.
import { ApiError } from './api.js';

/**
 * A job as the API shows it (`GET /api/jobs/{id}`; the ZIP routes show the same fields).
 * Folder jobs count objects (`objects_*`, equal to `files_*`); totals are 0 while
 * `phase` is `counting`.
 * @typedef {object} Job
 * @property {string} job_id
 * @property {'zip' | 'copy' | 'move' | 'rename' | 'delete'} [kind] (absent: a ZIP, from an older server)
 * @property {'pending' | 'running' | 'done' | 'failed' | 'cancelled' | 'undone' | string} status
 * @property {string} [phase] `counting`, `working`, `finishing` or `undoing` (folder jobs)
 * @property {string} [name] the archive's name, or the folder's
 * @property {string} [source_path]
 * @property {string} [target_path]
 * @property {number} [objects_done]
 * @property {number} [objects_total]
 * @property {number} [files_done]
 * @property {number} [files_total]
 * @property {number} [bytes_done]
 * @property {number} [bytes_total]
 * @property {string | null} [url]
 * @property {string | null} [error]
 * @property {string | null} [error_code]
 * @property {boolean} [cancel_requested]
 * @property {boolean} [resumable]
 * @property {boolean} [undoable]
 */

/** @typedef {Job} ZipJob */

/** How often a running job is asked for its state (ms). */
export const POLL_MS = 500;
/**
 * The longest pause between reads of a long job (`slowPoll`): folder jobs may run for hours,
 * and each read is a request (a Lambda invocation on AWS).
 */
export const SLOW_POLL_MS = 2000;
/** Failed reads in a row (network, 5xx, 429) before the wait is given up. */
export const MAX_POLL_ERRORS = 5;

/** @param {string} [text] */
const aborted = (text = 'Stopped waiting for the job.') => new DOMException(text, 'AbortError');

/**
 * Waits `ms`, or rejects with an AbortError as soon as `signal` aborts.
 * @param {number} ms @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const stop = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/**
 * A failed read worth trying again: no answer at all (network), 408, 429 or 5xx. Any other
 * answer (404: the job is gone, 401/403/410: the link ended) will not change by waiting.
 * @param {any} e
 */
const transient = (e) => !(e instanceof ApiError) || e.status === 408 || e.status === 429 || e.status >= 500;

/**
 * Still going: `running` (and `pending`, from older servers). Every other status ends the wait,
 * including ones this app does not know yet (a newer server's).
 * @param {Job} job
 */
export const running = (job) => job.status === 'running' || job.status === 'pending';

/**
 * Polls a job until it ends: every ~{@link POLL_MS} ms `fetchJob(signal)` reads its state and
 * `onProgress(job)` is told. A few failed reads in a row are tolerated (a transient network or
 * server error does not end the job on the server, so neither does it end the wait), with a
 * growing pause (or the server's `Retry-After`). With `slowPoll`, the pause between successful
 * reads grows by half each time up to {@link SLOW_POLL_MS}.
 *
 * Resolves with the job once its status is anything but running: `done`, `failed`,
 * `cancelled`, `undone` or one unknown here (the caller reads it). Rejects with the read's
 * error when it cannot succeed or after {@link MAX_POLL_ERRORS} failures in a row, and with an
 * `AbortError` as soon as `signal` aborts (the person stopped waiting, or left the page).
 * @param {(signal?: AbortSignal) => Promise<Job>} fetchJob
 * @param {{onProgress?: (job: Job) => void, signal?: AbortSignal, slowPoll?: boolean}} [opts]
 * @returns {Promise<Job>}
 */
export async function pollJob(fetchJob, { onProgress, signal, slowPoll = false } = {}) {
  let errors = 0;
  let pause = POLL_MS;
  let steady = POLL_MS;
  for (;;) {
    await sleep(pause, signal);
    /** @type {Job} */
    let job;
    try {
      job = await fetchJob(signal);
    } catch (e) {
      if (signal?.aborted) throw aborted();
      const err = /** @type {any} */ (e);
      if (!transient(err) || ++errors >= MAX_POLL_ERRORS) throw err;
      const retry = err instanceof ApiError && err.retryAfter ? err.retryAfter * 1000 : 0;
      pause = Math.max(retry, Math.min(8000, POLL_MS * 2 ** errors));
      continue;
    }
    if (signal?.aborted) throw aborted();
    errors = 0;
    if (slowPoll) steady = Math.min(SLOW_POLL_MS, Math.round(steady * 1.5));
    pause = steady;
    onProgress?.(job);
    if (!running(job)) return job;
  }
}

/**
 * Polls a ZIP job ({@link pollJob}) until its archive is ready. Resolves with the finished job
 * (`status: 'done'` and its `url`); rejects with the job's own error when it failed, was
 * cancelled or ended in a way this app does not know, and as {@link pollJob} does otherwise
 * (an `AbortError` when `signal` aborts: nothing is downloaded then).
 * @param {(signal?: AbortSignal) => Promise<Job>} fetchJob
 * @param {{onProgress?: (job: Job) => void, signal?: AbortSignal}} [opts]
 * @returns {Promise<Job>}
 */
export async function pollZip(fetchJob, opts = {}) {
  const job = await pollJob(fetchJob, opts);
  if (job.status === 'done') {
    if (!job.url) throw new Error('The ZIP is ready but came without a link: try again.');
    return job;
  }
  if (job.status === 'cancelled') throw new Error(job.error || 'The ZIP was cancelled.');
  throw new Error(job.error || 'The ZIP could not be made.');
}

/**
 * An AbortSignal that aborts when `el` has left the page: checked after each navigation of the
 * app (the router's `vertex:navigated`). `release()` stops watching.
 * @param {Element} el
 * @returns {{signal: AbortSignal, release: () => void}}
 */
export function whileShown(el) {
  const ctl = new AbortController();
  const check = () => {
    if (!el.isConnected) ctl.abort();
  };
  const release = () => document.removeEventListener('vertex:navigated', check);
  document.addEventListener('vertex:navigated', check);
  ctl.signal.addEventListener('abort', release, { once: true });
  return { signal: ctl.signal, release };
}
