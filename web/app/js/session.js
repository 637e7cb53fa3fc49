// Who is signed in. The access token lives only in memory; the refresh token in sessionStorage,
// so a reload keeps the session but closing the tab ends it (see README "Web app": the XSS/CSRF
// trade-off). Refresh tokens rotate: a timer renews the access token before it expires, and a
// 401 triggers one renewal (shared by concurrent callers) before the call is retried.
import { post, get, useAuth } from './api.js';

const KEY = 'vertex.refresh';

/** @typedef {{id: string, username: string, email: string, first_name: string, last_name: string,
 *   full_name: string, user_type: string, is_superuser: boolean, is_staff: boolean,
 *   is_manager: boolean, is_active: boolean, quota_bytes: number}} User */

/** @type {string | null} */
let access = null;
/** @type {User | null} */
let user = null;
/** @type {Promise<boolean> | null} */
let refreshing = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
/** @type {Set<(u: User | null, how?: 'restored') => void>} */
const listeners = new Set();

export function currentUser() {
  return user;
}

/**
 * Called with the user (or null) whenever sign-in state changes; `how` is 'restored' when a
 * reload's session could only be restored later (the server was briefly unavailable).
 * @param {(u: User | null, how?: 'restored') => void} fn
 */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** @param {'restored'} [how] */
function changed(how) {
  for (const fn of listeners) fn(user, how);
}

/** @type {Set<() => any>} */
const leaving = new Set();

/** Called, and awaited, when the person signs out on purpose (still signed in: it may call the API). @param {() => any} fn */
export function onSignOut(fn) {
  leaving.add(fn);
  return () => leaving.delete(fn);
}

/** @param {{access: string, refresh: string, expires_in?: number}} t */
function keep(t) {
  access = t.access;
  sessionStorage.setItem(KEY, t.refresh);
  clearTimeout(timer);
  const secs = Math.max(10, (t.expires_in || 300) * 0.8);
  timer = setTimeout(() => void renew().catch(() => {}), secs * 1000);
}

function forget() {
  access = null;
  user = null;
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
}

/** The answers to a refresh that mean the session is over (anything else may pass: 429, 5xx). */
const REFUSED = new Set([400, 401, 403]);
/** Seconds before the next try after a refresh failed for a passing reason. */
let backoff = 0;

/**
 * Rotates the refresh token: true when renewed, false when the session is over (no refresh
 * token, or the server refused it). A failure that may pass (network, 429, 5xx) keeps the
 * session, schedules another try and throws, so a caller's request fails without signing out.
 * One at a time.
 * @returns {Promise<boolean>}
 */
function renew() {
  if (refreshing) return refreshing;
  const refresh = sessionStorage.getItem(KEY);
  if (!refresh) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const t = await post('/auth/token/refresh', { refresh }, { anonymous: true });
      backoff = 0;
      keep({ expires_in: 300, ...t, ...(t.expires_in ? {} : { expires_in: expiresIn(t.access) }) });
      return true;
    } catch (e) {
      const status = /** @type {any} */ (e).status;
      if (REFUSED.has(status)) {
        expire();
        return false;
      }
      // Keep the session and try again a little later (5 s, 10 s, … at most a minute).
      backoff = Math.min(60, backoff ? backoff * 2 : 5);
      clearTimeout(timer);
      timer = setTimeout(() => void retry(), backoff * 1000);
      throw e;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** The timer's renewal after a passing failure; signs the restored session in when it was waiting for one. */
async function retry() {
  try {
    if (!(await renew()) || user) return;
    user = await get('/auth/profile');
    changed('restored');
  } catch {
    // renew() scheduled the next try.
  }
}

/** Seconds until a JWT's `exp` (API keys and odd tokens: 5 minutes). @param {string} jwt */
function expiresIn(jwt) {
  try {
    const claims = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return Math.max(10, claims.exp - Date.now() / 1000);
  } catch {
    return 300;
  }
}

function expire() {
  const was = user;
  forget();
  if (was) changed();
}

useAuth({ access: () => access, refresh: renew, expired: expire });

/**
 * Restores the session of this tab after a reload. When the server cannot answer for now (503,
 * network), the refresh token is kept and a timer tries again: the person is signed in then.
 */
export async function restore() {
  if (!sessionStorage.getItem(KEY)) return null;
  try {
    if (!(await renew())) return null;
    user = await get('/auth/profile');
  } catch (e) {
    if (REFUSED.has(/** @type {any} */ (e).status)) forget();
    return null;
  }
  changed();
  return user;
}

/** @param {string} username @param {string} password */
export async function signIn(username, password) {
  const t = await post('/auth/login', { username, password }, { anonymous: true });
  keep(t);
  const { access: _a, refresh: _r, token_type: _t, expires_in: _e, ...profile } = t;
  user = /** @type {User} */ (profile);
  changed();
  return user;
}

/**
 * Ends this session (everywhere: every session of the user). Signing out everywhere must reach
 * the server: when it fails (network, 429, 5xx) the error is thrown and this tab stays signed in
 * so the person can try again. A 401 means the session is already over.
 * @param {boolean} [everywhere]
 */
export async function signOut(everywhere = false) {
  await Promise.allSettled([...leaving].map(async (fn) => fn()));
  const refresh = sessionStorage.getItem(KEY);
  try {
    if (everywhere) await post('/auth/logout-all', {});
    else if (refresh) await post('/auth/logout', { refresh });
  } catch (e) {
    // Signing out of this tab alone works whatever the server says (the refresh token is gone).
    if (everywhere && /** @type {any} */ (e).status !== 401) throw e;
  }
  forget();
  changed();
}

/** Re-reads the profile (after the account page changes it). */
export async function reloadUser() {
  user = await get('/auth/profile');
  changed();
  return user;
}
