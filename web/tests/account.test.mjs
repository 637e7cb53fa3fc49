// Package A: the account page — storage usage, profile, password change, API keys, deletion.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, screenshot, ADMIN, PASSWORD,
} from './harness.mjs';

/** @type {any} */ let server;
/** @type {import('playwright-core').Browser} */ let browser;
/** @type {string} */ let adminToken;

before(async () => {
  server = await startServer();
  browser = await launch();
  adminToken = (await server.api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password })).access;
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Registers `name` and returns {id, token}. @param {string} name */
async function newUser(name) {
  const token = await server.user(name);
  const me = await server.api('GET', '/auth/profile', undefined, token);
  return { id: me.id, token };
}

/** Stores a file of `size` bytes in the user's home through the API. @param {string} token @param {string} name @param {number} size */
async function upload(token, name, size) {
  const form = new FormData();
  form.append('path', '');
  form.append('files', new Blob([new Uint8Array(size).fill(7)]), name);
  const r = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  assert.ok(r.ok, `upload: ${r.status} ${await r.text()}`);
}

/** @param {import('playwright-core').Page} page @param {string | RegExp} text */
const toast = (page, text) => page.locator('#toasts').getByText(text).first().waitFor();

/** @param {import('playwright-core').Page} page */
async function openAccount(page) {
  await nav(page, 'Account').click();
  await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
}

/** A link of the header's navigation. @param {import('playwright-core').Page} page @param {string} name */
const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

test('storage usage bar and profile editing', async () => {
  const ann = await newUser('ann');
  await newUser('taken');
  await server.api('PATCH', `/users/${ann.id}`, { quota_bytes: 4 * 1024 * 1024, file_limit: 100 }, adminToken);
  await upload(ann.token, 'one.bin', 1024 * 1024);
  await upload(ann.token, 'two.bin', 1024 * 1024);

  const page = await openPage(browser, server);
  await signIn(page, 'ann', PASSWORD);
  await openAccount(page);
  const storage = page.getByRole('region', { name: 'Storage' });
  await storage.getByText('of 4.0 MiB used (50%)').waitFor();
  assert.match((await storage.textContent()) || '', /2\.0 MiB of 4\.0 MiB used \(50%\)/);
  assert.match((await storage.textContent()) || '', /2 files of 100 allowed/);
  const bar = storage.getByRole('progressbar', { name: 'Storage used' });
  assert.equal(await bar.getAttribute('value'), '50');
  await assertAccessible(page, 'account');
  await screenshot(page, 'account');

  // Profile: names and email saved; the header's user is re-read.
  const profile = page.getByRole('region', { name: 'Profile' });
  await profile.getByLabel('First name').fill('Ann');
  await profile.getByLabel('Last name').fill('Example');
  await profile.getByLabel('Email').fill('ann.new@example.com');
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/auth/profile') && r.request().method() === 'PATCH');
  await profile.getByRole('button', { name: 'Save profile' }).click();
  assert.equal((await saved).status(), 200);
  await toast(page, 'Profile saved.');
  const me = await server.api('GET', '/auth/profile', undefined, ann.token);
  assert.deepEqual([me.first_name, me.last_name, me.email], ['Ann', 'Example', 'ann.new@example.com']);

  // 409: the email belongs to someone else, said beside the field; 400: not an email.
  await profile.getByLabel('Email').fill('taken@example.com');
  await profile.getByRole('button', { name: 'Save profile' }).click();
  await profile.getByText('A user with that email already exists.').first().waitFor();
  assert.equal(await profile.getByLabel('Email').getAttribute('aria-invalid'), 'true');
  await profile.getByLabel('Email').fill('nope');
  await profile.getByRole('button', { name: 'Save profile' }).click();
  await profile.getByText('Enter a valid email address.').waitFor();
  await assertAccessible(page, 'account with a field error');
  assertNoErrors(page);
  await page.context().close();
});

test('change password: field errors, other sessions end, API keys revoked on request', async () => {
  const cal = await newUser('cal');
  await server.api('POST', '/auth/keys', { name: 'ci' }, cal.token);
  const key = (await server.api('POST', '/auth/keys', { name: 'laptop' }, cal.token)).key;
  const page = await openPage(browser, server);
  const other = await openPage(browser, server);
  await signIn(page, 'cal', PASSWORD);
  await signIn(other, 'cal', PASSWORD);
  await openAccount(page);
  const form = page.getByRole('region', { name: 'Password' });

  await form.getByLabel('Current password').fill('not my password');
  await form.getByLabel('New password', { exact: true }).fill('12345678');
  await form.getByLabel('Repeat the new password').fill('1234');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('This password is entirely numeric.').waitFor();
  await form.getByText("Password fields didn't match.").waitFor();
  assert.equal(await form.getByLabel('Repeat the new password').getAttribute('aria-invalid'), 'true');
  await assertAccessible(page, 'account password errors');

  const fresh = 'a brand new passphrase';
  await form.getByLabel('New password', { exact: true }).fill(fresh);
  await form.getByLabel('Repeat the new password').fill(fresh);
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('Wrong password.').waitFor();
  assert.equal(await form.getByLabel('Current password').getAttribute('aria-invalid'), 'true');
  assert.equal(await form.getByLabel('Repeat the new password').getAttribute('aria-invalid'), null);

  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByLabel('New password', { exact: true }).fill(fresh);
  await form.getByLabel('Repeat the new password').fill(fresh);
  await form.getByLabel(/Also revoke all my API keys/).check();
  await form.getByRole('button', { name: 'Change password' }).click();
  await toast(page, /Password changed; your other sessions were signed out\. 2 API keys revoked\./);
  await page.getByText('No API keys yet.').waitFor();
  assert.equal(await form.getByLabel('Current password').inputValue(), '', 'the form is cleared');

  // This tab goes on; the other browser is signed out on its next request; the keys are dead.
  await nav(page, 'Files').click();
  await page.waitForURL(/\/files\//);
  await openAccount(page);
  await nav(other, 'Account').click();
  await other.waitForURL(/\/login/);
  const r = await fetch(`${server.url}/api/auth/profile`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(r.status, 401);
  await server.api('POST', '/auth/login', { username: 'cal', password: fresh });
  assertNoErrors(page);
  assertNoErrors(other);
  await page.context().close();
  await other.context().close();
});

test('API keys: created and shown once with Copy, listed, revoked after confirming', async () => {
  await newUser('kim');
  const page = await openPage(browser, server);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await signIn(page, 'kim', PASSWORD);
  await openAccount(page);
  const keys = page.getByRole('region', { name: 'API keys' });
  await keys.getByText('No API keys yet.').waitFor();

  // A field error from the server (expiry out of range), beside its field.
  await keys.getByLabel('Key name').fill('backup script');
  await keys.getByLabel('Expires after (days)').fill('0');
  await keys.getByRole('button', { name: 'Create key' }).click();
  await keys.getByText('Must be between 1 and 3650.').waitFor();

  await keys.getByLabel('Expires after (days)').fill('30');
  const created = page.waitForResponse((r) => r.url().endsWith('/api/auth/keys') && r.request().method() === 'POST');
  await keys.getByRole('button', { name: 'Create key' }).click();
  const secret = (await (await created).json()).key;
  const shown = page.getByRole('region', { name: /New key/ });
  await shown.waitFor();
  assert.equal(await shown.locator('code.secret').textContent(), secret);
  await shown.getByText('shown only this once').waitFor();
  await assertAccessible(page, 'account new key');
  await shown.getByRole('button', { name: 'Copy' }).click();
  await toast(page, 'Copied to the clipboard.');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

  // The key works, and the list shows its prefix and expiry but never the secret.
  const prof = await fetch(`${server.url}/api/auth/profile`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(prof.status, 200);
  const row = keys.getByRole('row', { name: /backup script/ });
  await row.waitFor();
  const [listed] = await server.api('GET', '/auth/keys', undefined, (await server.api('POST', '/auth/login', { username: 'kim', password: PASSWORD })).access);
  assert.match((await row.textContent()) || '', new RegExp(listed.prefix));
  assert.doesNotMatch((await row.textContent()) || '', /Never/);
  await shown.getByRole('button', { name: 'Done' }).click();
  assert.equal(await page.locator('code.secret').count(), 0);
  await page.reload();
  await keys.getByRole('row', { name: /backup script/ }).waitFor();
  assert.doesNotMatch((await page.locator('main').textContent()) || '', new RegExp(secret.slice(20, 40)));

  // Revoke: a confirmation first (cancel keeps it), then the key stops working.
  await keys.getByRole('button', { name: 'Revoke key backup script' }).click();
  const dlg = page.getByRole('dialog', { name: 'Revoke this API key?' });
  await dlg.waitFor();
  await assertAccessible(page, 'revoke key dialog');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  await keys.getByRole('button', { name: 'Revoke key backup script' }).click();
  await dlg.getByRole('button', { name: 'Revoke' }).click();
  await toast(page, 'Key “backup script” revoked.');
  await keys.getByText('No API keys yet.').waitFor();
  const after = await fetch(`${server.url}/api/auth/profile`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(after.status, 401);
  assertNoErrors(page);
  await page.context().close();
});

test('delete account: the password is asked, errors shown (last superuser), then gone', async () => {
  // The only superuser cannot leave: 409 shown in the dialog, which stays open.
  const adminPage = await openPage(browser, server);
  await signIn(adminPage);
  await openAccount(adminPage);
  await adminPage.getByRole('button', { name: 'Delete my account…' }).click();
  const adminDlg = adminPage.getByRole('dialog', { name: 'Delete your account?' });
  await adminDlg.getByLabel('Your password').fill(ADMIN.password);
  await adminDlg.getByRole('button', { name: 'Delete my account' }).click();
  await adminDlg.getByRole('alert').getByText(/last active superuser/).waitFor();
  await adminDlg.getByRole('button', { name: 'Cancel' }).click();
  assertNoErrors(adminPage);
  await adminPage.context().close();

  await newUser('dan');
  const page = await openPage(browser, server);
  await signIn(page, 'dan', PASSWORD);
  await openAccount(page);
  await page.getByRole('button', { name: 'Delete my account…' }).click();
  const dlg = page.getByRole('dialog', { name: 'Delete your account?' });
  await dlg.waitFor();
  await assertAccessible(page, 'delete account dialog');
  await dlg.getByLabel('Your password').fill('wrong');
  await dlg.getByRole('button', { name: 'Delete my account' }).click();
  await dlg.getByText('Wrong password.').first().waitFor();
  await dlg.getByLabel('Your password').fill(PASSWORD);
  await dlg.getByRole('button', { name: 'Delete my account' }).click();
  await page.waitForURL(/\/login/);
  await toast(page, 'Your account was deleted.');
  await assert.rejects(server.api('POST', '/auth/login', { username: 'dan', password: PASSWORD }), /401/);
  assertNoErrors(page);
  await page.context().close();
});
