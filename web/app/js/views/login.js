// Sign in with a username or email; then back to where the visitor was going.
import { signIn } from '../session.js';
import { navigate, localTarget } from '../router.js';
import { h, mount, message } from '../ui.js';
import { input, busy, waitText } from '../forms.js';

/** @param {HTMLElement} main @param {{query: URLSearchParams}} params */
export default async function login(main, { query }) {
  document.title = 'Sign in · VertexCloud';
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card', novalidate: true },
    input('Username or email', { name: 'username', autocomplete: 'username', required: true }),
    input('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    error,
    button);
  const register = h('p', { class: 'muted' }, 'New here? ', h('a', { href: '/register' }, 'Create an account'));
  mount(main, h('div', { class: 'narrow' }, h('h1', null, 'Sign in to VertexCloud'), form, register));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    error.hidden = true;
    try {
      await busy(button, () => signIn(String(data.get('username')).trim(), String(data.get('password'))));
    } catch (e) {
      error.textContent = failure(e);
      error.hidden = false;
      return;
    }
    // Only to a page of this app: `next` comes from the address bar.
    await navigate(localTarget(query.get('next')), { replace: true });
  });
  /** @type {HTMLInputElement | null} */ (form.querySelector('input'))?.focus();
}

/** What a failed sign-in tells the person. @param {any} e */
function failure(e) {
  if (e?.status === 429 || (e?.status === 503 && e.retryAfter)) {
    return `${e.status === 429 ? 'Too many sign-in attempts.' : e.message} Try again ${waitText(e.retryAfter)}.`;
  }
  return message(e);
}
