// Package A: signing in (and its errors), registering, signing out here and everywhere, and the
// background rotation of the refresh token with short-lived access tokens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, screenshot, ADMIN, PASSWORD,
} from './harness.mjs';

/** @type {any} */ let server;
/** @type {import('playwright-core').Browser} */ let browser;

before(async () => {
  // Access tokens live 3 s here, so every test also runs through the refresh-and-retry path;
  // the third failed sign-in of an account is throttled.
  server = await startServer({ VERTEX_ACCESS_TTL_SECS: '3', VERTEX_LOGIN_MAX_FAILURES: '3' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A link of the header's navigation. @param {import('playwright-core').Page} page @param {string} name */
const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

/** @param {import('playwright-core').Page} page */
const refreshToken = (page) => page.evaluate(() => sessionStorage.getItem('vertex.refresh'));

/** The sign-in form's alert once it shows. @param {import('playwright-core').Page} page */
async function alertText(page) {
  const alert = page.locator('main [role=alert]:not([hidden])');
  await alert.waitFor();
  return (await alert.textContent()) || '';
}

/** @param {import('playwright-core').Page} page @param {string} user @param {string} password */
async function trySignIn(page, user, password) {
  await page.getByLabel('Username or email').fill(user);
  await page.getByLabel('Password').fill(password);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/auth/login'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  return (await answer).status();
}

test('sign-in errors: wrong password, disabled account, throttling with the retry time', async () => {
  const page = await openPage(browser, server);
  await page.goto('/login');
  await page.getByRole('heading', { level: 1, name: 'Sign in to VertexCloud' }).waitFor();
  await assertAccessible(page, 'login');
  await screenshot(page, 'login');

  assert.equal(await trySignIn(page, ADMIN.username, 'not the password'), 401);
  assert.match(await alertText(page), /No active account found/);
  assert.equal(await page.getByRole('button', { name: 'Sign in' }).isEnabled(), true, 'the button is usable again');

  // A disabled account: 403 with the server's words.
  const adminToken = (await server.api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password })).access;
  await server.user('dora');
  const dora = (await server.api('GET', '/users?search=dora', undefined, adminToken)).items[0];
  await server.api('PATCH', `/users/${dora.id}`, { is_active: false }, adminToken);
  await page.reload();
  assert.equal(await trySignIn(page, 'dora@example.com', PASSWORD), 403);
  assert.match(await alertText(page), /This account is disabled/);
  await assertAccessible(page, 'login with an error');

  // Throttled: after three failures the fourth attempt is refused with Retry-After.
  await server.user('tom');
  for (let i = 0; i < 3; i++) assert.equal(await trySignIn(page, 'tom', 'wrong password ' + i), 401);
  assert.equal(await trySignIn(page, 'tom', PASSWORD), 429);
  const text = await alertText(page);
  assert.match(text, /Too many sign-in attempts/);
  assert.match(text, /Try again in \d+ (minute|second|hour)s?\./);
  assert.equal(page.url(), server.url + '/login');
  assertNoErrors(page);
  await page.context().close();
});

test('register: field errors beside their fields, a taken name, then an account that is signed in', async () => {
  const page = await openPage(browser, server);
  await page.goto('/login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.waitForURL(/\/register$/);
  await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
  await assertAccessible(page, 'register');

  await page.getByLabel('Username').fill('no spaces please');
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByLabel('Repeat the password').fill('different');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText("Password fields didn't match.").waitFor();
  for (const [label, text] of [['Username', /Username may contain only/], ['Email', /valid email/], ['Repeat the password', /didn't match/]]) {
    const input = page.getByLabel(/** @type {string} */ (label), { exact: true });
    assert.equal(await input.getAttribute('aria-invalid'), 'true', `${label} marked invalid`);
    const described = (await input.getAttribute('aria-describedby')) || '';
    const errId = described.split(' ').find((id) => id.endsWith('-err'));
    assert.ok(errId, `${label} described by its error`);
    assert.match((await page.locator(`#${errId}`).textContent()) || '', /** @type {RegExp} */ (text));
  }
  assert.match(await page.getByRole('alert').first().textContent() || '', /Invalid input/);
  await assertAccessible(page, 'register with field errors');

  // 409: the username is taken (case-insensitively): said beside the username.
  await page.getByLabel('Username').fill('ADMIN');
  await page.getByLabel('Email').fill('newcomer@example.com');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('A user with that username already exists.').first().waitFor();
  assert.equal(await page.getByLabel('Username').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Email').getAttribute('aria-invalid'), null, 'the email is fine now');

  await page.getByLabel('Username').fill('newcomer');
  await page.getByLabel('First name (optional)').fill('Nina');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(/\/files\//);
  await page.locator('header .who').getByText('newcomer').waitFor();
  const me = await server.api('POST', '/auth/login', { username: 'newcomer', password: PASSWORD });
  assert.equal(me.first_name, 'Nina');
  assertNoErrors(page);
  await page.context().close();
});

test("closed registration: the server's refusal is shown", async () => {
  const closed = await startServer({ VERTEX_REGISTRATION: 'closed' });
  try {
    const page = await openPage(browser, closed);
    await page.goto('/register');
    await page.getByLabel('Username').fill('hopeful');
    await page.getByLabel('Email').fill('hopeful@example.com');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/auth/register'));
    await page.getByRole('button', { name: 'Create account' }).click();
    assert.equal((await answer).status(), 403);
    assert.match(await alertText(page), /administrator|closed/i);
    assert.equal(new URL(page.url()).pathname, '/register');
    await assertAccessible(page, 'register closed');
    assertNoErrors(page);
    await page.context().close();
  } finally {
    await closed.stop();
  }
});

test('sign out ends this session; sign out everywhere ends the other browser too', async () => {
  await server.user('sam');
  const a = await openPage(browser, server);
  const b = await openPage(browser, server);
  await signIn(a, 'sam', PASSWORD);
  await signIn(b, 'sam', PASSWORD);

  // "Sign out" here: this tab's refresh token is refused afterwards; the other browser goes on.
  const aRefresh = await refreshToken(a);
  await a.getByRole('button', { name: 'Sign out', exact: true }).click();
  await a.waitForURL(/\/login$/);
  assert.equal(await refreshToken(a), null);
  await assert.rejects(server.api('POST', '/auth/token/refresh', { refresh: aRefresh }), /401/);
  await nav(b, 'Account').click();
  await b.getByRole('heading', { level: 1, name: 'Account' }).waitFor();

  // "Sign out everywhere" in A: B is signed out on its next request.
  await signIn(a, 'sam', PASSWORD);
  await a.getByRole('button', { name: 'Sign out everywhere' }).click();
  await a.waitForURL(/\/login$/);
  const refused = b.waitForResponse((r) => r.url().includes('/api/auth/token/refresh') && r.status() === 401);
  await nav(b, 'Files').click();
  await refused;
  await b.waitForURL(/\/login/);
  await b.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await refreshToken(b), null);
  assertNoErrors(a);
  assertNoErrors(b);
  await a.context().close();
  await b.context().close();
});

test('3 s access tokens: the session stays signed in across >10 s, the refresh token rotates', async () => {
  await server.user('rita');
  const page = await openPage(browser, server);
  /** @type {number[]} */
  const refreshes = [];
  page.on('response', (r) => {
    if (r.url().endsWith('/api/auth/token/refresh')) refreshes.push(r.status());
  });
  await signIn(page, 'rita', PASSWORD);
  const first = await refreshToken(page);
  const started = Date.now();
  let round = 0;
  while (Date.now() - started < 12_000 || refreshes.length < 2) {
    // Requests in between, each after the previous access token has expired.
    await page.waitForTimeout(2_000);
    if (round++ % 2 === 0) {
      await nav(page, 'Account').click();
      await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
      await page.getByText(/used/).first().waitFor();
    } else {
      await nav(page, 'Files').click();
      await page.waitForURL(/\/files\//);
    }
    assert.ok(!page.url().includes('/login'), 'still signed in');
    if (round > 12) break;
  }
  // A reload keeps the session (the refresh token is in sessionStorage).
  await page.reload();
  await nav(page, 'Account').click();
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
  assert.ok(refreshes.length >= 2, `refreshed ${refreshes.length} times`);
  assert.ok(refreshes.every((s) => s === 200), `refresh answers ${refreshes}`);
  const now = await refreshToken(page);
  assert.ok(now && now !== first, 'the refresh token rotated');

  assertNoErrors(page);
  // The first refresh token is refused now: it was rotated away. (Last, because presenting a
  // rotated token may count as reuse and end the session.)
  await assert.rejects(server.api('POST', '/auth/token/refresh', { refresh: first }), /401/);
  await page.context().close();
});

test('sign out everywhere that fails is shown, and the session is kept to try again', async () => {
  await server.user('ella');
  const page = await openPage(browser, server);
  await signIn(page, 'ella', PASSWORD);
  const before = await refreshToken(page);
  let calls = 0;
  await page.route('**/api/auth/logout-all', (route) =>
    ++calls === 1 ? route.fulfill({ status: 503, json: { error: 'Service unavailable, try again.', code: 'unavailable' } }) : route.continue());
  const everywhere = page.getByRole('button', { name: 'Sign out everywhere' });
  await everywhere.click();
  const alert = page.locator('#toasts [role=alert]');
  await alert.waitFor();
  assert.match((await alert.textContent()) || '', /Could not sign out everywhere: Service unavailable/);
  assert.ok(page.url().includes('/files/'), 'still here');
  assert.equal(await refreshToken(page), before, 'the session is kept');
  await nav(page, 'Files').waitFor();
  assert.equal(await everywhere.isEnabled(), true, 'the button can be used again');
  // The second try reaches the server: signed out.
  await everywhere.click();
  await page.waitForURL(/\/login$/);
  assert.equal(await refreshToken(page), null);
  await assert.rejects(server.api('POST', '/auth/token/refresh', { refresh: before }), /401/);
  assertNoErrors(page);
  await page.context().close();
});

test('a refresh that fails for a passing reason (503) keeps the session and tries again', async () => {
  await server.user('otto');
  const page = await openPage(browser, server);
  await signIn(page, 'otto', PASSWORD);
  await nav(page, 'Shares').click();
  await page.getByRole('heading', { level: 1, name: 'Share links' }).waitFor();
  const kept = await refreshToken(page);
  let calls = 0;
  await page.route('**/api/auth/token/refresh', (route) =>
    ++calls === 1 ? route.fulfill({ status: 503, headers: { 'retry-after': '1' }, json: { error: 'Service unavailable, try again.', code: 'unavailable' } }) : route.continue());
  // WHEN the reload's refresh meets a 503
  await page.reload();
  // THEN the refresh token is kept and a later try signs the tab in, back on the page it was on
  await page.waitForURL(/\/shares$/, { timeout: 30_000 });
  await page.getByRole('heading', { level: 1, name: 'Share links' }).waitFor();
  assert.ok(calls >= 2, `refresh tried ${calls} times`);
  const now = await refreshToken(page);
  assert.ok(now && now !== kept, 'renewed with the kept token');
  assertNoErrors(page);
  await page.context().close();
});

test('a refresh attempted while signed out does not block the next session', async () => {
  await server.user('ivan');
  const page = await openPage(browser, server);
  await page.goto('/login');
  await page.getByRole('heading', { level: 1 }).waitFor();
  // No refresh token: nothing to renew.
  assert.equal(await page.evaluate(() => import('/js/api.js').then((m) => m.renewAccess())), false);
  await page.getByLabel('Username or email').fill('ivan');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/files\//);
  const first = await refreshToken(page);
  // Signed in now: a renewal really happens.
  assert.equal(await page.evaluate(() => import('/js/api.js').then((m) => m.renewAccess())), true);
  assert.notEqual(await refreshToken(page), first);
  assertNoErrors(page);
  await page.context().close();
});
