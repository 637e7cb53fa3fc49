// The app's entry: reads config.json, restores the tab's session, draws the header and starts
// the router. Views load on first use, so the first screen costs only what it shows.
import { loadConfig } from './api.js';
import { currentUser, onSessionChange, restore, signOut } from './session.js';
import { route, setGuard, start, navigate, render, localTarget } from './router.js';
import { h, mount, toast, message } from './ui.js';
import { busy } from './forms.js';

/**
 * A view module, loaded on first use. Each navigation draws into a box of its own that replaces
 * the previous one in `<main>`: a slower earlier view then only draws into its detached box.
 * @param {string} name
 */
const view = (name) => async (/** @type {any} */ params) => {
  const mod = await import(`./views/${name}.js`);
  if (params.signal.aborted) return;
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  const box = h('div', { class: 'view' });
  mount(main, box);
  const shown = mod.default(box, params);
  title = document.title;
  try {
    await shown;
  } finally {
    // A view that finished after the next navigation may have set its title: put back the
    // current one's.
    if (params.signal.aborted) document.title = title;
    else title = document.title;
  }
  if (!params.signal.aborted && document.activeElement === document.body) main.focus({ preventScroll: true });
};
/** The title of the latest view. */
let title = document.title;

route(/^\/$/, 'user', () => navigate('/files/', { replace: true }));
route(/^\/login$/, 'guest', view('login'));
route(/^\/register$/, 'guest', view('register'));
route(/^\/files(\/.*)?$/, 'user', view('files'));
route(/^\/shares$/, 'user', view('shares'));
route(/^\/account$/, 'user', view('account'));
route(/^\/admin$/, 'staff', view('admin'));
route(/^\/s\/([A-Za-z0-9_-]+)$/, 'any', view('visitor'));

setGuard((r) => {
  const user = currentUser();
  if (r.auth === 'any') return null;
  if (r.auth === 'guest') return user ? '/files/' : null;
  if (!user) return '/login?next=' + encodeURIComponent(location.pathname + location.search);
  if (r.auth === 'staff' && !user.is_staff) return '/files/';
  return null;
});

function header() {
  const user = currentUser();
  const top = /** @type {HTMLElement} */ (document.getElementById('top'));
  const here = location.pathname;
  /** @param {string} href @param {string} text */
  const link = (href, text) =>
    h('a', { href, 'aria-current': here.startsWith(href.replace(/\/$/, '')) ? 'page' : null }, text);
  mount(top,
    h('a', { class: 'brand', href: user ? '/files/' : '/login' }, h('img', { src: '/favicon.svg', alt: '', width: 22, height: 22 }), 'VertexCloud'),
    user
      ? h('nav', { 'aria-label': 'Main' },
          link('/files/', 'Files'), link('/shares', 'Shares'), link('/account', 'Account'),
          user.is_staff ? link('/admin', 'Users') : null)
      : null,
    user
      ? h('div', { class: 'who' },
          h('span', { class: 'muted' }, user.username),
          h('button', { type: 'button', onclick: leave(false) }, 'Sign out'),
          h('button', { type: 'button', class: 'link', onclick: leave(true) }, 'Sign out everywhere'))
      : h('div', { class: 'who' }, h('a', { href: '/api/docs' }, 'API reference')));
}

/** A sign-out button's click: the button is disabled while it runs, a failure is shown. @param {boolean} everywhere */
function leave(everywhere) {
  return async (/** @type {Event} */ ev) => {
    leaving = true;
    try {
      await busy(/** @type {Element} */ (ev.currentTarget), () => signOut(everywhere));
    } catch (e) {
      toast(`${everywhere ? 'Could not sign out everywhere' : 'Could not sign out'}: ${message(e)}`, 'error');
    } finally {
      leaving = false;
    }
  };
}
/** True while the person signs out on purpose (the sign-in page then has no `next`). */
let leaving = false;

const GUEST = ['/login', '/register'];

onSessionChange((user, how) => {
  header();
  const here = location.pathname;
  // Signed out (here, elsewhere, or the session ended): back to the sign-in page, and then back here.
  if (!user && !here.startsWith('/s/') && !GUEST.includes(here)) {
    void navigate(leaving ? '/login' : '/login?next=' + encodeURIComponent(here + location.search), { replace: true });
  }
  // A reload's session restored late (the server was briefly away): leave the sign-in page.
  if (user && how === 'restored' && GUEST.includes(here)) {
    void navigate(localTarget(new URLSearchParams(location.search).get('next')), { replace: true });
  }
});
addEventListener('popstate', header);
document.addEventListener('vertex:navigated', header);

await loadConfig();
await restore();
header();
await start();
document.dispatchEvent(new Event('vertex:navigated'));
export { render };
