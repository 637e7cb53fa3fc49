// The app as a whole: served with its security headers, loads with no script error or CSP
// violation, routes survive a reload, and its JavaScript + CSS stay within the size budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, ADMIN } from './harness.mjs';

const APP = join(dirname(fileURLToPath(import.meta.url)), '..', 'app');
/** @type {any} */ let server;
/** @type {any} */ let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Every file below `dir` (the API reference's vendored Swagger UI is not the app's). */
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'api-docs' ? [] : files(path);
    return [path];
  });
}

test("the app's JavaScript and CSS stay under 150 KB compressed", () => {
  const code = files(APP).filter((f) => /\.(js|css)$/.test(f));
  const gzip = code.reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).length, 0);
  console.log(`web app: ${code.length} files, ${gzip} bytes gzip`);
  assert.ok(gzip < 150 * 1024, `${gzip} bytes gzip`);
});

test('pages carry the security headers and no inline script', async () => {
  for (const path of ['/', '/login', '/files/a/b.c', '/s/AbCdEfGhIjKlMnOpQrStUv']) {
    const r = await fetch(server.url + path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type') || '', /text\/html/);
    assert.match(r.headers.get('content-security-policy') || '', /script-src 'self';/);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.doesNotMatch(await r.text(), /<script(?![^>]*\bsrc=)[^>]*>/, 'an inline script');
  }
  const api = await fetch(server.url + '/api/nothing-here');
  assert.equal(api.status, 404);
  assert.equal((await api.json()).code, 'not_found');
});

test('signing in lands on the files, and the route survives a reload', async () => {
  const page = await openPage(browser, server);
  await page.goto('/');
  await page.waitForURL(/\/login/);
  await assertAccessible(page, 'sign-in');
  await signIn(page);
  await page.reload();
  await page.waitForURL(/\/files\//);
  await page.getByRole('link', { name: 'Files' }).waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('links to other origins are left to the browser; app links are routed', async () => {
  const page = await openPage(browser, server);
  await signIn(page);
  // Each click is recorded after the router saw it (window listeners run after document ones)
  // and then stopped, so no page is left.
  const routed = await page.evaluate(() => {
    /** @type {Record<string, boolean>} */
    const seen = {};
    for (const href of ['//example.invalid/x', '/\\example.invalid/x', '/api/health', '/shares']) {
      const a = document.createElement('a');
      a.href = href;
      a.textContent = href;
      document.body.append(a);
      const record = (/** @type {Event} */ ev) => {
        seen[href] = ev.defaultPrevented;
        ev.preventDefault();
      };
      addEventListener('click', record, { once: true });
      a.click();
      a.remove();
    }
    return seen;
  });
  assert.deepEqual(routed, { '//example.invalid/x': false, '/\\example.invalid/x': false, '/api/health': false, '/shares': true });
  await page.getByRole('heading', { level: 1, name: 'Share links' }).waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('after signing in, `next` leads only to a page of the app', async () => {
  const page = await openPage(browser, server);
  for (const [next, lands] of [['/\\evil.example/x', '/files/'], ['//evil.example/x', '/files/'],
    ['https://evil.example/x', '/files/'], ['/api/health', '/files/'], ['/shares?x=1', '/shares?x=1']]) {
    await page.goto('/login?next=' + encodeURIComponent(next));
    await page.getByLabel('Username or email').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(server.url + lands);
    await page.evaluate(() => sessionStorage.clear());
  }
  assertNoErrors(page);
  await page.context().close();
});

test('a slower earlier view does not draw over the later one', async () => {
  const token = (await server.api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password })).access;
  await server.api('POST', '/files/create-folder', { parent_path: '', folder_name: 'slow' }, token);
  const share = await server.api('POST', '/shares', { path: 'slow', kind: 'download' }, token);
  const page = await openPage(browser, server);
  await signIn(page);
  // The link's page waits for its answer until the share list is on screen.
  /** @type {() => void} */ let release = () => {};
  const held = new Promise((r) => (release = () => r(null)));
  /** @type {() => void} */ let arrived = () => {};
  const asked = new Promise((r) => (arrived = () => r(null)));
  await page.route(`**/api/s/${share.id}`, async (route) => {
    arrived();
    await held;
    await route.continue();
  });
  await page.evaluate((id) => void import('/js/router.js').then((m) => m.navigate(`/s/${id}`)), share.id);
  await asked;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Shares' }).click();
  await page.getByRole('heading', { level: 1, name: 'Share links' }).waitFor();
  const answered = page.waitForResponse((r) => r.url().endsWith(`/api/s/${share.id}`));
  release();
  await answered;
  // Nothing to wait for when all is well: give the earlier view time to draw, then look.
  await page.waitForTimeout(300);
  assert.deepEqual(await page.locator('main h1').allTextContents(), ['Share links']);
  assert.equal(await page.title(), 'Share links · VertexCloud');
  assertNoErrors(page);
  await page.context().close();
});

test('a view that fails shows its error instead of "Loading…"', async () => {
  const page = await openPage(browser, server);
  await signIn(page);
  await page.route('**/js/views/account.js', (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: 'throw new Error("the view broke");' }));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Something went wrong' }).waitFor();
  assert.match(await page.locator('main [role=alert]').textContent() || '', /the view broke/);
  await assertAccessible(page, 'failed view');
  // The failure is the page's message, not an unhandled error.
  assertNoErrors(page);
  await page.context().close();
});

test('when the session ends, the sign-in page leads back to where the person was', async () => {
  const page = await openPage(browser, server);
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Shares' }).click();
  await page.getByRole('heading', { level: 1, name: 'Share links' }).waitFor();
  // Every session of the admin ends elsewhere; the next request here finds out.
  const token = (await server.api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password })).access;
  await server.api('POST', '/auth/logout-all', {}, token);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  await page.waitForURL(/\/login\?next=%2Faccount$/);
  await page.getByLabel('Username or email').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/account$/);
  assertNoErrors(page);
  await page.context().close();
});

/** Opens `dialog(o)` of ui.js in the page; its promise is `window.__dialog`. @param {any} page @param {string} title */
function openDialog(page, title) {
  return page.evaluate(async (title) => {
    const ui = await import('/js/ui.js');
    const w = /** @type {any} */ (window);
    w.__held = new Promise((r) => (w.__release = r));
    w.__dialog = ui.dialog({ title, ok: 'Delete', onsubmit: () => w.__held });
  }, title);
}

test('dialog(): a submit answering nothing is not a cancel; Escape waits for the request; ids are unique', async () => {
  const page = await openPage(browser, server);
  await page.goto('/login');
  await page.getByRole('heading', { level: 1 }).waitFor();

  // Escape is ignored while onsubmit runs, and the buttons are disabled.
  await openDialog(page, 'First');
  const dlg = page.getByRole('dialog', { name: 'First' });
  await dlg.getByRole('button', { name: 'Delete' }).click();
  await page.waitForFunction(() => document.querySelector('dialog[aria-busy=true]'));
  assert.equal(await dlg.getByRole('button', { name: 'Cancel' }).isDisabled(), true);
  assert.equal(await dlg.getByRole('button', { name: 'Delete' }).isDisabled(), true);
  await page.keyboard.press('Escape');
  assert.equal(await dlg.isVisible(), true, 'still open while the request runs');
  // A DELETE's 204 (null) closes it as submitted.
  await page.evaluate(() => /** @type {any} */ (window).__release(null));
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__dialog), true);
  assert.equal(await page.locator('dialog').count(), 0);

  // Dismissed is null.
  await openDialog(page, 'Second');
  await page.getByRole('dialog', { name: 'Second' }).getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__dialog), null);

  // Two dialogs at once: each is named by its own title.
  await openDialog(page, 'Outer');
  await openDialog(page, 'Inner');
  await page.getByRole('dialog', { name: 'Inner' }).waitFor();
  const ids = await page.locator('dialog').evaluateAll((ds) => ds.map((d) => d.getAttribute('aria-labelledby')));
  assert.equal(new Set(ids).size, 2, `ids ${ids}`);
  await page.getByRole('dialog', { name: 'Inner' }).getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('dialog', { name: 'Outer' }).getByRole('button', { name: 'Cancel' }).click();
  assertNoErrors(page);
  await page.context().close();
});

test('a CSP violation is caught by the harness', async () => {
  const page = await openPage(browser, server);
  await page.goto('/login');
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.inlineRan = true';
    document.body.append(s);
  });
  await page.waitForFunction(() => true);
  await assert.rejects(async () => {
    for (let i = 0; i < 50 && !(/** @type {any} */ (page).errors.length); i++) await page.evaluate(() => new Promise(requestAnimationFrame));
    assertNoErrors(page);
  }, /csp: script-src/);
  await page.context().close();
});
