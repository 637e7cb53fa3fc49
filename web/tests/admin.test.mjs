// Package A: user administration — list, search, paging, create, change, reset password, delete,
// a user's API keys and share links; and what a manager may (not) do.
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
  // More users than a page (50): member-001 … member-055.
  for (let i = 1; i <= 55; i += 11) {
    await Promise.all(Array.from({ length: 11 }, (_, j) => {
      const n = String(i + j).padStart(3, '0');
      return server.api('POST', '/users', { username: `member-${n}`, email: `member-${n}@example.com`, password: PASSWORD,
        first_name: 'Member', last_name: n }, adminToken);
    }));
  }
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** @param {import('playwright-core').Page} page @param {string} name */
const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
/** @param {import('playwright-core').Page} page @param {string | RegExp} text */
const toast = (page, text) => page.locator('#toasts').getByText(text).first().waitFor();
/** @param {import('playwright-core').Page} page */
const userRows = (page) => page.locator('table.users tbody tr');
/** The open user's panel. @param {import('playwright-core').Page} page */
const detail = (page) => page.locator('section.user-detail');

/** @param {import('playwright-core').Page} page */
async function openUsers(page) {
  await nav(page, 'Users').click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  await page.getByRole('status').filter({ hasText: /users?/ }).first().waitFor();
}

/** Opens a user's detail from the list. @param {import('playwright-core').Page} page @param {string} username */
async function openUser(page, username) {
  await page.getByRole('searchbox', { name: 'Search users' }).fill(username);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.locator('table.users').getByRole('button', { name: username, exact: true }).click();
  await detail(page).getByRole('heading', { level: 2, name: new RegExp(`^${username}`) }).waitFor();
  await detail(page).getByRole('button', { name: 'Save changes' }).waitFor();
}

/** @param {string} username */
async function findUser(username) {
  const page = await server.api('GET', `/users?search=${encodeURIComponent(username)}`, undefined, adminToken);
  return page.items.find((/** @type {any} */ u) => u.username === username);
}

test('the list: paged with Load more, searched, a detail opened', async () => {
  const page = await openPage(browser, server);
  await signIn(page);
  await openUsers(page);
  assert.equal(await userRows(page).count(), 50);
  const more = page.getByRole('button', { name: 'Load more' });
  await more.click();
  await page.getByText('56 users.').waitFor();
  assert.equal(await userRows(page).count(), 56);
  assert.equal(await more.isHidden(), true);
  await assertAccessible(page, 'admin');

  await page.getByRole('searchbox', { name: 'Search users' }).fill('member-04');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByText('10 users matching “member-04”.').waitFor();
  assert.equal(await userRows(page).count(), 10);
  await screenshot(page, 'admin');
  await page.getByRole('searchbox', { name: 'Search users' }).fill('nobody-like-this');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByText('No user matches “nobody-like-this”.').waitFor();
  assert.equal(await userRows(page).count(), 0);

  await openUser(page, 'member-042');
  const panel = detail(page);
  assert.match((await panel.textContent()) || '', /member-042@example\.com/);
  assert.match((await panel.textContent()) || '', /No storage quota/);
  assert.equal(await page.getByRole('row', { name: /member-042/ }).getAttribute('aria-current'), 'true');
  await panel.getByText('No API keys.').waitFor();
  await panel.getByText('No share links.').waitFor();
  await assertAccessible(page, 'admin user detail');
  await panel.getByRole('button', { name: 'Close' }).click();
  assert.equal(await panel.isHidden(), true);
  assertNoErrors(page);
  await page.context().close();
});

test('a superuser creates, changes, resets, cleans up and deletes a user; 409 shown', async () => {
  const page = await openPage(browser, server);
  await signIn(page);
  await openUsers(page);

  // Create: field errors first, then a manager with a quota.
  await page.getByRole('button', { name: 'New user…' }).click();
  const create = page.getByRole('dialog', { name: 'New user' });
  await create.waitFor();
  assert.deepEqual(await create.getByLabel('Role').locator('option').allTextContents(), ['user', 'manager', 'superuser']);
  await assertAccessible(page, 'new user dialog');
  await create.getByLabel('Username').fill('erin');
  await create.getByLabel('Email').fill('erin@example.com');
  await create.getByLabel('Password').fill('short');
  await create.getByRole('button', { name: 'Create user' }).click();
  await create.getByText(/too short/).first().waitFor();
  assert.equal(await create.getByLabel('Password').getAttribute('aria-invalid'), 'true');
  await create.getByLabel('Password').fill(PASSWORD);
  await create.getByLabel('Role').selectOption('manager');
  await create.getByLabel('Quota').fill('2');
  await create.getByLabel('Unit').selectOption('GiB');
  await create.getByRole('button', { name: 'Create user' }).click();
  await toast(page, 'User erin created.');
  await detail(page).getByRole('heading', { level: 2, name: /^erin/ }).waitFor();
  let erin = await findUser('erin');
  assert.equal(erin.user_type, 'manager');
  assert.equal(erin.quota_bytes, 2 * 2 ** 30);

  // Reset the password (a mismatch is caught first); the new one signs in.
  const panel = detail(page);
  await panel.getByRole('button', { name: 'Reset password…' }).click();
  const reset = page.getByRole('dialog', { name: "Reset erin's password" });
  await reset.getByLabel('New password', { exact: true }).fill('a fresh reset passphrase');
  await reset.getByLabel('Repeat the new password').fill('something else');
  await reset.getByRole('button', { name: 'Reset password' }).click();
  await reset.getByText('The passwords do not match.').first().waitFor();
  await assertAccessible(page, 'reset password dialog');
  await reset.getByLabel('Repeat the new password').fill('a fresh reset passphrase');
  await reset.getByRole('button', { name: 'Reset password' }).click();
  await toast(page, /Password of erin reset/);
  const erinToken = (await server.api('POST', '/auth/login', { username: 'erin', password: 'a fresh reset passphrase' })).access;

  // Erin's API key and share link, listed in the detail and revoked from there.
  await server.api('POST', '/auth/keys', { name: 'erins script' }, erinToken);
  const form = new FormData();
  form.append('path', '');
  form.append('files', new Blob(['hello']), 'report.txt');
  const up = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${erinToken}` }, body: form });
  assert.ok(up.ok, `upload ${up.status}`);
  const share = await server.api('POST', '/shares', { path: 'report.txt', kind: 'download', max_uses: 3 }, erinToken);
  await openUser(page, 'erin');
  const keyRow = panel.getByRole('row', { name: /erins script/ });
  await keyRow.waitFor();
  const shareRow = panel.getByRole('row', { name: /report\.txt/ });
  await shareRow.waitFor();
  assert.match((await shareRow.textContent()) || '', /download.*active.*0 \/ 3/);
  await panel.getByRole('button', { name: 'Revoke key erins script' }).click();
  const revokeKey = page.getByRole('dialog', { name: 'Revoke this API key?' });
  await assertAccessible(page, 'admin revoke key dialog');
  await revokeKey.getByRole('button', { name: 'Revoke' }).click();
  await toast(page, 'Key “erins script” revoked.');
  await panel.getByText('No API keys.').waitFor();
  assert.deepEqual(await server.api('GET', `/users/${erin.id}/keys`, undefined, adminToken), []);
  await panel.getByRole('button', { name: 'Revoke link to report.txt' }).click();
  const revokeShare = page.getByRole('dialog', { name: 'Revoke this share link?' });
  await assertAccessible(page, 'admin revoke share dialog');
  await revokeShare.getByRole('button', { name: 'Revoke' }).click();
  await toast(page, 'Link to “report.txt” revoked.');
  await shareRow.waitFor({ state: 'detached' });
  assert.equal((await fetch(`${server.url}/api/s/${share.id}`)).status, 404);

  // Change role, quota and active in one save.
  await panel.getByLabel('Role').selectOption('user');
  await panel.getByLabel('Quota').fill('5');
  await panel.getByLabel('Unit').selectOption('MiB');
  await panel.getByLabel('Active (may sign in)').uncheck();
  const saved = page.waitForResponse((r) => r.url().endsWith(`/api/users/${erin.id}`) && r.request().method() === 'PATCH');
  await panel.getByRole('button', { name: 'Save changes' }).click();
  assert.deepEqual(JSON.parse((await saved).request().postData() || '{}'), { role: 'user', is_active: false, quota_bytes: 5 * 2 ** 20 });
  await toast(page, "Saved erin's settings.");
  erin = await findUser('erin');
  assert.deepEqual([erin.user_type, erin.quota_bytes, erin.is_active], ['user', 5 * 2 ** 20, false]);
  const row = page.getByRole('row', { name: /erin/ });
  assert.match((await row.textContent()) || '', /user.*Disabled.*5\.0 MiB/);
  await assert.rejects(server.api('POST', '/auth/login', { username: 'erin', password: 'a fresh reset passphrase' }), /403/);

  // Delete, after a confirmation.
  await panel.getByRole('button', { name: 'Delete user…' }).click();
  const del = page.getByRole('dialog', { name: 'Delete erin?' });
  await assertAccessible(page, 'delete user dialog');
  await del.getByRole('button', { name: 'Delete user' }).click();
  await toast(page, 'erin was deleted.');
  await row.waitFor({ state: 'detached' });
  assert.equal(await findUser('erin'), undefined);

  // The last active superuser cannot disable themselves: the 409 is shown.
  await openUser(page, 'admin');
  await panel.getByLabel('Active (may sign in)').uncheck();
  await panel.getByRole('button', { name: 'Save changes' }).click();
  await panel.getByRole('alert').getByText(/last active superuser/).waitFor();
  assert.equal((await findUser('admin')).is_active, true);
  assertNoErrors(page);
  await page.context().close();
});

test('a manager: only users of role user, no higher role to grant, and the API’s 403 shown', async () => {
  await server.api('POST', '/users', { username: 'max', email: 'max@example.com', password: PASSWORD, role: 'manager' }, adminToken);
  await server.api('POST', '/users', { username: 'ulla', email: 'ulla@example.com', password: PASSWORD }, adminToken);
  const page = await openPage(browser, server);
  await signIn(page, 'max', PASSWORD);
  await openUsers(page);
  await page.getByText(/As a manager you can create and manage accounts of role user/).waitFor();

  // A superuser's account: visible, nothing to change.
  await openUser(page, 'admin');
  const panel = detail(page);
  await panel.getByText("Managers cannot change a superuser's account").waitFor();
  for (const name of ['Save changes', 'Reset password…', 'Delete user…']) {
    assert.equal(await panel.getByRole('button', { name }).isDisabled(), true, `${name} disabled`);
  }
  assert.equal(await panel.getByLabel('Role').isDisabled(), true);
  assert.equal(await panel.getByText('Not available: only a superuser manages this account.').count(), 2);
  await assertAccessible(page, 'admin as manager');

  // A user: changeable, but no role above user is offered.
  await openUser(page, 'ulla');
  assert.deepEqual(await panel.getByLabel('Role').locator('option').allTextContents(), ['user']);
  assert.equal(await panel.getByRole('button', { name: 'Save changes' }).isEnabled(), true);

  // New user: no role choice at all; the account is a user.
  await page.getByRole('button', { name: 'New user…' }).click();
  const create = page.getByRole('dialog', { name: 'New user' });
  assert.equal(await create.getByLabel('Role').count(), 0);
  await create.getByLabel('Username').fill('newbie');
  await create.getByLabel('Email').fill('newbie@example.com');
  await create.getByLabel('Password').fill(PASSWORD);
  await create.getByRole('button', { name: 'Create user' }).click();
  await toast(page, 'User newbie created.');
  assert.equal((await findUser('newbie')).user_type, 'user');

  // Ulla becomes a manager behind the page's back: the manager's save is refused, and said so.
  await openUser(page, 'ulla');
  const ulla = await findUser('ulla');
  await server.api('PATCH', `/users/${ulla.id}`, { role: 'manager' }, adminToken);
  await panel.getByLabel('Quota').fill('1');
  await panel.getByRole('button', { name: 'Save changes' }).click();
  await panel.getByRole('alert').getByText(/Managers can only manage users of role 'user'/).waitFor();
  assert.equal((await findUser('ulla')).quota_bytes, null);
  assertNoErrors(page);

  // A normal user has no Users page.
  await server.user('norm');
  const user = await openPage(browser, server);
  await signIn(user, 'norm', PASSWORD);
  assert.equal(await nav(user, 'Users').count(), 0);
  await user.goto('/admin');
  await user.waitForURL(/\/files\//);
  assertNoErrors(user);
  await page.context().close();
  await user.context().close();
});
