// Client-side routes on the History API. The server answers every path outside /api/ with the
// app's index.html, so `/files/docs/a`, `/s/<id>` and the rest can be opened and reloaded.
import { h, mount, message } from './ui.js';

/**
 * A route's view. `signal` aborts when another navigation starts (a slower earlier view must
 * then not draw over the later one).
 * @typedef {(params: {path: string, query: URLSearchParams, match: RegExpMatchArray, signal: AbortSignal}) => void | Promise<void>} View
 */

/** @type {{re: RegExp, view: View, auth: 'user' | 'staff' | 'guest' | 'any'}[]} */
const routes = [];
/** @type {(route: {auth: string}) => string | null} */
let guard = () => null;

/** @param {RegExp} re @param {'user' | 'staff' | 'guest' | 'any'} auth @param {View} view */
export function route(re, auth, view) {
  routes.push({ re, view, auth });
}

/** Where to send a visitor the route is not for (null: let them in). @param {typeof guard} fn */
export function setGuard(fn) {
  guard = fn;
}

/** @param {string} to @param {{replace?: boolean}} [o] */
export function navigate(to, o = {}) {
  if (o.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  return render();
}

/** Counts navigations: only the latest one's view may draw. */
let current = 0;
/** @type {AbortController | null} */
let running = null;

export async function render() {
  const n = ++current;
  running?.abort();
  const ctl = (running = new AbortController());
  const path = location.pathname;
  for (const r of routes) {
    const match = path.match(r.re);
    if (!match) continue;
    const elsewhere = guard(r);
    if (elsewhere && elsewhere !== path) return navigate(elsewhere, { replace: true });
    try {
      await r.view({ path, query: new URLSearchParams(location.search), match, signal: ctl.signal });
    } catch (e) {
      if (n === current) failed(e);
    }
    if (n === current) document.dispatchEvent(new Event('vertex:navigated'));
    return;
  }
  return navigate('/', { replace: true });
}

/** A view that failed: its error instead of "Loading…". @param {any} e */
function failed(e) {
  console.warn('view failed', e);
  const main = document.getElementById('main');
  if (!main) return;
  document.title = 'Something went wrong · VertexCloud';
  mount(main,
    h('h1', null, 'Something went wrong'),
    h('p', { class: 'error', role: 'alert' }, message(e)),
    h('p', null, h('a', { href: location.pathname + location.search }, 'Try again'), ' · ', h('a', { href: '/' }, 'Home')));
  main.focus({ preventScroll: true });
}

export function start() {
  addEventListener('popstate', () => void render());
  // Same-origin links change the route without a page load.
  document.addEventListener('click', (ev) => {
    const a = /** @type {HTMLElement} */ (ev.target).closest?.('a');
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
    const href = a.getAttribute('href');
    if (!href || !href.startsWith('/') || href.startsWith('//') || a.hasAttribute('download') || a.target) return;
    // Parsed, not compared as text: `/\\host` is another origin too.
    const to = new URL(href, location.href);
    if (to.origin !== location.origin || to.pathname.startsWith('/api/')) return;
    ev.preventDefault();
    void navigate(to.pathname + to.search + to.hash);
  });
  return render();
}

/** The path of the home folder in a `/files/...` URL (segments percent-encoded). @param {string} p */
export function filesHref(p) {
  return '/files/' + p.split('/').filter(Boolean).map(encodeURIComponent).join('/');
}

/**
 * Where a `?next=` may send the person after signing in: a path of this app (same origin, not
 * the API), else `fallback`. Parsed as a URL: `/\host` and `//host` are other origins.
 * @param {string | null} next @param {string} [fallback]
 */
export function localTarget(next, fallback = '/files/') {
  if (!next) return fallback;
  try {
    const u = new URL(next, location.origin);
    if (u.origin === location.origin && !u.pathname.startsWith('/api/')) return u.pathname + u.search + u.hash;
  } catch {
    // not a URL
  }
  return fallback;
}
