// Create an account (when the server's registration is open), then sign in with it.
import { post } from '../api.js';
import { signIn } from '../session.js';
import { navigate } from '../router.js';
import { h, mount, toast } from '../ui.js';
import { input, showErrors, clearErrors, busy, value, raw } from '../forms.js';

/** @param {HTMLElement} main */
export default async function register(main) {
  document.title = 'Create an account · VertexCloud';
  const summary = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'card', novalidate: true },
    input('Username', { name: 'username', autocomplete: 'username', required: true, maxlength: 150 },
      'Letters, digits, _ . and -; at least 3 characters.'),
    input('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    h('div', { class: 'pair' },
      input('First name (optional)', { name: 'first_name', autocomplete: 'given-name', maxlength: 150 }),
      input('Last name (optional)', { name: 'last_name', autocomplete: 'family-name', maxlength: 150 })),
    input('Password', { name: 'password', type: 'password', autocomplete: 'new-password', required: true },
      'At least 8 characters, not all digits, not a common password.'),
    input('Repeat the password', { name: 'password2', type: 'password', autocomplete: 'new-password', required: true }),
    summary,
    button));
  mount(main, h('div', { class: 'narrow' },
    h('h1', null, 'Create an account'),
    form,
    h('p', { class: 'muted' }, 'Already have one? ', h('a', { href: '/login' }, 'Sign in'))));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, summary);
    const username = value(form, 'username');
    const password = raw(form, 'password');
    /** @type {Record<string, string>} */
    const body = { username, email: value(form, 'email'), password, password2: raw(form, 'password2') };
    for (const k of ['first_name', 'last_name']) if (value(form, k)) body[k] = value(form, k);
    await busy(button, async () => {
      try {
        await post('/auth/register', body, { anonymous: true });
      } catch (e) {
        showErrors(form, e, summary);
        return;
      }
      try {
        await signIn(username, password);
        toast(`Welcome, ${username}! Your account is ready.`);
        await navigate('/files/', { replace: true });
      } catch (e) {
        // The account exists; signing in failed (throttled, busy): let the person try there.
        toast(`Your account was created, but signing in failed: ${/** @type {any} */ (e).message}`, 'error');
        await navigate('/login', { replace: true });
      }
    });
  });
  /** @type {HTMLInputElement | null} */ (form.querySelector('input'))?.focus();
}
