// Sends a file's bytes in parts straight to storage: each part is PUT to its signed URL (no
// Authorization header: on AWS it is S3, cross-origin), a few at a time, with upload progress
// (XMLHttpRequest: fetch has none) and retries with backoff, so a dropped connection costs only
// the part it interrupted. Used by the owner's uploads (uploads.js) and by upload share links,
// both through `directUpload` (start → parts → complete, abort on failure); `xhrSend` is the one
// XMLHttpRequest wrapper (form uploads use it too).

/** @typedef {{part_number: number, url: string, size?: number}} PartUrl */
/** @typedef {{part_number: number, etag: string}} SentPart */

/**
 * @typedef {object} SendOptions
 * @property {number} partSize bytes per part (the start answer's `part_size`, required); part n starts at (n-1)·partSize
 * @property {Set<number>} [done] part numbers already received: skipped
 * @property {(bytesSent: number) => void} [onProgress] bytes of this call's parts sent so far
 *   (parts in `done` not counted; a part being retried counts from zero again)
 * @property {AbortSignal} [signal] aborts every request; the promise rejects with an AbortError
 * @property {number} [parallel] parts in flight at once (default 4)
 * @property {number} [retries] attempts per part after the first (default 6)
 * @property {() => Promise<PartUrl[]>} [refresh] fresh URLs when one is refused (403: expired)
 */

/** Milliseconds before attempt `n` (1, 2, …) of a part: 0.5 s, 1 s, 2 s, … at most 15 s, jittered. @param {number} n */
export function backoff(n) {
  const ms = Math.min(15000, 500 * 2 ** (n - 1));
  return ms / 2 + Math.random() * (ms / 2);
}

/** An error worth another attempt (network, timeout, 5xx, 408, 429). @param {any} e */
function retryable(e) {
  return e && (e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500);
}

/** @param {number} ms @param {AbortSignal} [signal] */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve(null);
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(aborted());
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

function aborted() {
  return new DOMException('The upload was cancelled.', 'AbortError');
}

/**
 * One request with XMLHttpRequest (upload progress: fetch has none). Resolves with the finished
 * request whatever its status; rejects with `status` 0 when the connection drops, or with an
 * AbortError when `signal` aborts (at once if it already has).
 * @param {string} method @param {string} url @param {XMLHttpRequestBodyInit | null} body
 * @param {{headers?: Record<string, string>, onProgress?: (loaded: number, total: number) => void, signal?: AbortSignal}} [opts]
 * @returns {Promise<XMLHttpRequest>}
 */
export function xhrSend(method, url, body, opts = {}) {
  const { headers = {}, onProgress, signal } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const xhr = new XMLHttpRequest();
    const stop = () => xhr.abort();
    signal?.addEventListener('abort', stop, { once: true });
    const end = () => signal?.removeEventListener('abort', stop);
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.onprogress = (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : 0);
    xhr.onload = () => {
      end();
      resolve(xhr);
    };
    xhr.onerror = () => {
      end();
      reject(Object.assign(new Error('The connection dropped during the upload.'), { status: 0 }));
    };
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => {
      end();
      reject(aborted());
    };
    xhr.send(body);
  });
}

/**
 * PUTs `body` to `url`; resolves with the answer's ETag. Errors carry `status` (0: network).
 * @param {string} url @param {Blob} body @param {(loaded: number) => void} onProgress @param {AbortSignal} [signal]
 * @returns {Promise<string>}
 */
export async function putPart(url, body, onProgress, signal) {
  let xhr;
  try {
    xhr = await xhrSend('PUT', url, body, { onProgress, signal });
  } catch (e) {
    const err = /** @type {any} */ (e);
    if (err.status === 0) err.message = 'The connection dropped while sending a part.';
    throw err;
  }
  if (xhr.status < 200 || xhr.status >= 300) throw Object.assign(new Error(partError(xhr)), { status: xhr.status });
  let etag = xhr.getResponseHeader('ETag');
  if (!etag) {
    // The local server also says it in the body (a store not exposing ETag to scripts can't).
    try {
      etag = JSON.parse(xhr.responseText).etag;
    } catch {
      etag = null;
    }
  }
  if (!etag) throw Object.assign(new Error('The storage did not answer with an ETag (check its CORS ExposeHeaders).'), { status: xhr.status });
  return etag;
}

/** The message of a refused part: the API's JSON `error`, S3's XML `<Message>`, or the status. @param {XMLHttpRequest} xhr */
function partError(xhr) {
  const text = xhr.responseText || '';
  try {
    const j = JSON.parse(text);
    if (j && j.error) return j.error;
  } catch {
    // not JSON
  }
  const m = text.match(/<Message>([^<]*)<\/Message>/);
  return m ? m[1] : `Sending a part failed (HTTP ${xhr.status}).`;
}

/**
 * Sends `file`'s parts (those not in `done`) to their URLs, `parallel` at a time, each retried
 * with backoff when the connection drops or the store is busy; resolves with every sent part's
 * `{part_number, etag}` (in part order), or rejects with the first part that could not be sent.
 * @param {Blob} file @param {PartUrl[]} parts @param {SendOptions} opts
 * @returns {Promise<SentPart[]>}
 */
export async function sendParts(file, parts, opts) {
  const { done = new Set(), onProgress = () => {}, signal, parallel = 4, retries = 6, refresh } = opts || {};
  const partSize = opts?.partSize;
  // Without it every part but the first would start at the wrong byte.
  if (!(Number.isSafeInteger(partSize) && partSize > 0)) throw new TypeError('sendParts: partSize (the upload\'s part_size) is required.');
  if (signal?.aborted) throw aborted();
  /** @type {Map<number, string>} */
  let urls = new Map(parts.map((p) => [p.part_number, p.url]));
  const todo = parts.filter((p) => !done.has(p.part_number)).sort((a, b) => a.part_number - b.part_number);
  /** @type {Map<number, number>} */
  const loaded = new Map();
  const report = () => onProgress([...loaded.values()].reduce((a, b) => a + b, 0));
  /** @type {SentPart[]} */
  const sent = [];
  /** @type {Promise<void> | null} */
  let refreshing = null;
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  signal?.addEventListener('abort', stop, { once: true });

  /** @param {PartUrl} p */
  const one = async (p) => {
    const start = (p.part_number - 1) * partSize;
    const size = p.size ?? Math.max(0, Math.min(partSize, file.size - start));
    const body = file.slice(start, start + size);
    for (let attempt = 0; ; attempt++) {
      try {
        const url = /** @type {string} */ (urls.get(p.part_number) || p.url);
        const etag = await putPart(url, body, (n) => {
          loaded.set(p.part_number, n);
          report();
        }, ctl.signal);
        loaded.set(p.part_number, size);
        report();
        sent.push({ part_number: p.part_number, etag });
        return;
      } catch (e) {
        loaded.set(p.part_number, 0);
        report();
        const err = /** @type {any} */ (e);
        if (ctl.signal.aborted || err.name === 'AbortError') throw aborted();
        const expired = err.status === 403 && refresh;
        if (attempt >= retries || !(retryable(err) || expired)) throw err;
        await sleep(backoff(attempt + 1), ctl.signal);
        if (expired) {
          refreshing ??= refresh().then((fresh) => {
            urls = new Map(fresh.map((f) => [f.part_number, f.url]));
          }).finally(() => {
            refreshing = null;
          });
          await refreshing;
        }
      }
    }
  };

  let next = 0;
  const worker = async () => {
    while (next < todo.length) await one(todo[next++]);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, worker));
  } catch (e) {
    ctl.abort();
    throw e;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  return sent.sort((a, b) => a.part_number - b.part_number);
}

/**
 * @typedef {object} DirectOptions
 * @property {(method: string, path: string, opts?: {body?: any, signal?: AbortSignal}) => Promise<any>} call
 *   the API (the owner's session, or a visitor's link token)
 * @property {string} base the uploads' path for `call`: `/files/uploads`, or `/uploads` of a link
 * @property {Blob} file
 * @property {Record<string, any>} start the body that starts the upload (`path`, `size`, …)
 * @property {string} [resume] the id of an upload to continue (its missing parts only); gone: start afresh
 * @property {AbortSignal} [signal]
 * @property {(sent: number) => void} [onProgress] bytes the store holds so far
 * @property {(up: any) => void} [onStart] the upload as soon as it exists (or the resumed one's status)
 * @property {(e: any) => boolean} [abortOn] whether a failure gives the upload up (DELETE); default: every failure
 * @property {(e: any) => void} [onAbortFailed] that DELETE failed (other than 404): the server drops it when it expires
 */

/**
 * A direct upload: start it (or resume `resume`), send the parts the store lacks straight to
 * storage, complete it; on a failure `abortOn` accepts, abort it so its room is given back.
 * Resolves with the completion's answer (the item). Starting and completing are not cancelled
 * half-way: cancelling while the server creates the upload would leave it holding room with an
 * id the client never learns; the cancellation takes effect right after (and aborts it).
 * @param {DirectOptions} o
 */
export async function directUpload(o) {
  const { call, base, file, signal, onProgress = () => {}, abortOn = () => true } = o;
  if (signal?.aborted) throw aborted();
  /** @type {any} */
  let up = null;
  if (o.resume) {
    try {
      up = await call('GET', `${base}/${encodeURIComponent(o.resume)}`, { signal });
    } catch (e) {
      if (/** @type {any} */ (e).status !== 404) throw e;
    }
  }
  up ??= await call('POST', base, { body: o.start });
  o.onStart?.(up);
  const id = encodeURIComponent(up.upload_id);
  try {
    if (signal?.aborted) throw aborted();
    /** @type {{part_number: number, etag: string, size?: number}[]} */
    const received = up.parts_received || [];
    const already = received.reduce((a, p) => a + (p.size || 0), 0);
    onProgress(already);
    const sent = await sendParts(file, up.parts, {
      partSize: up.part_size,
      done: new Set(received.map((p) => p.part_number)),
      signal,
      onProgress: (n) => onProgress(already + n),
      refresh: async () => (await call('GET', `${base}/${id}`, { signal })).parts,
    });
    const parts = [...received.map((p) => ({ part_number: p.part_number, etag: p.etag })), ...sent]
      .sort((a, b) => a.part_number - b.part_number);
    return await call('POST', `${base}/${id}/complete`, { body: { parts } });
  } catch (e) {
    if (abortOn(e)) {
      try {
        await call('DELETE', `${base}/${id}`);
      } catch (x) {
        if (/** @type {any} */ (x).status !== 404) o.onAbortFailed?.(x);
      }
    }
    throw e;
  }
}
