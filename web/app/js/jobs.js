// Background ZIP jobs: polling one until the server has built its archive, for the file
// browser (`POST /zip` → `GET /zip/{id}`) and a share link's visitor (`/s/{id}/download-zip` →
// `/s/{id}/zip/{job}`) alike.
import { ApiError } from './api.js';

/**
 * A ZIP job as the API shows it.
 * @typedef {object} ZipJob
 * @property {string} job_id
 * @property {'pending' | 'running' | 'done' | 'failed'} status
 * @property {string} [name]
 * @property {number} [files_done]
 * @property {number} [files_total]
 * @property {number} [bytes_done]
 * @property {number} [bytes_total]
 * @property {string | null} [url]
 * @property {string | null} [error]
 */

/** How often a running job is asked for its state (ms). */
export const POLL_MS = 500;
/** Failed reads in a row (network, 5xx, 429) before the wait is given up. */
export const MAX_POLL_ERRORS = 5;

/** @param {string} [text] */
const aborted = (text = 'Stopped waiting for the ZIP.') => new DOMException(text, 'AbortError');

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
 * Polls a ZIP job until it ends: every ~{@link POLL_MS} ms `fetchJob(signal)` reads its state
 * and `onProgress(job)` is told. A few failed reads in a row are tolerated (a transient network
 * or server error does not end the job on the server, so neither does it end the wait), with
 * a growing pause (or the server's `Retry-After`).
 *
 * Resolves with the finished job (`status: 'done'` and its `url`). Rejects with the job's own
 * error when it failed, with the read's error when it cannot succeed or after
 * {@link MAX_POLL_ERRORS} failures in a row, and with an `AbortError` as soon as `signal`
 * aborts (the person stopped waiting, or left the page): nothing is downloaded then.
 * @param {(signal?: AbortSignal) => Promise<ZipJob>} fetchJob
 * @param {{onProgress?: (job: ZipJob) => void, signal?: AbortSignal}} [opts]
 * @returns {Promise<ZipJob>}
 */
export async function pollZip(fetchJob, { onProgress, signal } = {}) {
  let errors = 0;
  let pause = POLL_MS;
  for (;;) {
    await sleep(pause, signal);
    /** @type {ZipJob} */
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
    pause = POLL_MS;
    onProgress?.(job);
    if (job.status === 'done') {
      if (!job.url) throw new Error('The ZIP is ready but came without a link: try again.');
      return job;
    }
    if (job.status === 'failed') throw new Error(job.error || 'The ZIP could not be made.');
  }
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
