// The one way the app talks to the server: JSON in and out, the contract's error shape turned
// into ApiError, and a single refresh-and-retry when the access token has expired.

/** @typedef {{error: string, code: string, details: any}} ErrorBody */

export class ApiError extends Error {
  /** @param {number} status @param {ErrorBody} body @param {Headers} [headers] */
  constructor(status, body, headers) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || 'http_' + status;
    this.details = body.details ?? null;
    this.retryAfter = Number(headers?.get('retry-after')) || 0;
  }
  /** Field errors (400 `details` keyed by field), or an empty object. */
  get fields() {
    // Other statuses carry other details (409 `job_running`: the job's id), not field errors.
    return this.status === 400 && this.details && typeof this.details === 'object' ? this.details : {};
  }
}

/** Where the API is: `config.json`'s `api` (an absolute URL on AWS, `/api` locally). */
let base = '/api';

/** @type {{access: () => string | null, refresh: () => Promise<boolean>, expired: () => void}} */
let auth = { access: () => null, refresh: async () => false, expired: () => {} };

export async function loadConfig() {
  try {
    const r = await fetch('/config.json', { cache: 'no-cache' });
    if (r.ok) base = String((await r.json()).api || base).replace(/\/$/, '');
  } catch {
    // No config: same origin.
  }
  return base;
}

export function apiBase() {
  return base;
}

/** For XMLHttpRequest callers (upload progress): the access token, and one renewal after a 401. */
export const bearer = () => auth.access();
export const renewAccess = () => auth.refresh();

/** Set by session.js: the access token, how to refresh it, and what to do when that fails. */
export function useAuth(hooks) {
  auth = hooks;
}

/**
 * @typedef {object} CallOptions
 * @property {any} [body] JSON body (or FormData / Blob, sent as is)
 * @property {Record<string, string | number | boolean | null | undefined>} [query]
 * @property {Record<string, string>} [headers]
 * @property {boolean} [anonymous] no Authorization header
 * @property {boolean} [raw] the Response itself (status not checked)
 * @property {AbortSignal} [signal]
 */

/** `base + path` with `query`'s defined values. */
export function url(path, query) {
  const u = new URL(base + path, location.href);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  return u.toString();
}

/**
 * Calls the API: the parsed JSON answer (null for 204), or an ApiError.
 * @param {string} method @param {string} path @param {CallOptions} [opts]
 * @returns {Promise<any>}
 */
export async function call(method, path, opts = {}) {
  let r = await send(method, path, opts);
  if (r.status === 401 && !opts.anonymous && auth.access() && (await auth.refresh())) {
    r = await send(method, path, opts);
  }
  if (opts.raw) return r;
  return answer(r, !opts.anonymous);
}

/** @param {string} method @param {string} path @param {CallOptions} opts */
function send(method, path, opts) {
  /** @type {Record<string, string>} */
  const headers = { ...(opts.headers || {}) };
  const token = opts.anonymous ? null : auth.access();
  if (token) headers.authorization = `Bearer ${token}`;
  let body = opts.body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(body);
  }
  return fetch(url(path, opts.query), { method, headers, body, signal: opts.signal });
}

/** The answer's JSON, or its error as ApiError. @param {Response} r @param {boolean} signedIn */
export async function answer(r, signedIn = false) {
  const text = r.status === 204 ? '' : await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { error: text.slice(0, 200) || r.statusText, code: 'http_' + r.status };
  }
  if (r.ok) return json;
  const err = new ApiError(r.status, json || { error: r.statusText, code: 'http_' + r.status }, r.headers);
  if (r.status === 401 && signedIn) auth.expired();
  throw err;
}

/** @param {string} p @param {CallOptions} [o] */
export const get = (p, o) => call('GET', p, o);
/** @param {string} p @param {any} [body] @param {CallOptions} [o] */
export const post = (p, body, o) => call('POST', p, { ...o, body });
/** @param {string} p @param {any} [body] @param {CallOptions} [o] */
export const patch = (p, body, o) => call('PATCH', p, { ...o, body });
/** @param {string} p @param {CallOptions} [o] */
export const del = (p, o) => call('DELETE', p, o);
