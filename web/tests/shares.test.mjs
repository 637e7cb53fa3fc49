// Share links from the owner's side: the share dialog (a password link to a file, opened by a
// visitor in another browser context), the upload kind only for folders, the "Share links"
// page (copy, edit expiry / use limit / password, revoke → the visitor sees it is gone).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, screenshot, PASSWORD } from './harness.mjs';

/** @type {any} */ let server;
/** @type {any} */ let browser;
/** @type {string} */ let token;
const OWNER = 'olga';
const REPORT = Buffer.from('quarterly numbers: 42\n'.repeat(100));

/** Uploads `files` ({name: bytes}) into `folder` as `as`'s user (the owner's by default). @param {string} folder @param {Record<string, Buffer>} files @param {string} [as] */
async function upload(folder, files, as = token) {
  const form = new FormData();
  form.append('path', folder);
  for (const [name, bytes] of Object.entries(files)) form.append('files', new Blob([bytes]), name);
  const r = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${as}` }, body: form });
  assert.equal(r.status, 201, await r.text());
}

before(async () => {
  server = await startServer();
  browser = await launch();
  token = await server.user(OWNER);
  await upload('reports', { 'q3 report.txt': REPORT });
  await upload('inbox', { 'readme.txt': Buffer.from('drop files here') });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens the share dialog for `item` in `page` (as the file browser does). @param {any} page @param {any} item */
async function openDialog(page, item) {
  await page.evaluate((it) => {
    void import('/js/share-dialog.js').then((m) => m.openShareDialog(it));
  }, item);
  await page.getByRole('dialog').waitFor();
}

/** The share id at the end of a link. @param {string} url */
const idOf = (url) => /** @type {string} */ (url.split('/').pop());

test('the share dialog makes a password link to a file that a visitor downloads', async () => {
  const page = await openPage(browser, server);
  await signIn(page, OWNER, PASSWORD);
  await openDialog(page, { path: 'reports/q3 report.txt', name: 'q3 report.txt', is_directory: false });
  const dlg = page.getByRole('dialog', { name: 'Share “q3 report.txt”' });
  // A file has no upload kind.
  const kinds = await dlg.getByLabel('Kind').locator('option').allTextContents();
  assert.equal(kinds.length, 1, kinds.join());
  assert.match(kinds[0], /^Download/);
  await dlg.getByLabel('Password (optional)').fill('open sesame 4711');
  await dlg.getByLabel('Maximum uses (optional)').fill('3');
  await dlg.getByLabel('Expires after (days)').fill('2');
  await dlg.getByLabel('Note for yourself (optional)').fill('for the board');
  await assertAccessible(page, 'share dialog');
  // An error of the API is shown in the dialog, which stays open.
  await dlg.getByLabel('Expires after (days)').fill('9999');
  await dlg.getByRole('button', { name: 'Create link' }).click();
  await dlg.getByRole('alert').filter({ hasText: /expires_in_days/ }).waitFor();
  await dlg.getByLabel('Expires after (days)').fill('2');
  await dlg.getByRole('button', { name: 'Create link' }).click();
  const result = page.getByRole('dialog', { name: 'Share link created' });
  const link = result.getByLabel('Link to “q3 report.txt”');
  await link.waitFor();
  const url = await link.inputValue();
  assert.match(url, /\/s\/[A-Za-z0-9_-]{22}$/);
  await result.getByText('a password is needed').waitFor();
  await result.getByText('at most 3 times').waitFor();
  // Copy: the clipboard (granted here), or the link selected where it is refused.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await result.getByRole('button', { name: 'Copy link' }).click();
  await page.getByText('Link copied.').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
  await assertAccessible(page, 'share link created');
  await screenshot(page, 'share-dialog');
  await result.getByRole('button', { name: 'Done' }).click();
  await result.waitFor({ state: 'detached' });

  // A visitor (no account, another context) opens the link.
  const visitor = await openPage(browser, server);
  await visitor.goto(`/s/${idOf(url)}`);
  await visitor.getByRole('heading', { name: 'Enter the password' }).waitFor();
  await visitor.getByLabel('Password').fill('not it');
  await visitor.getByRole('button', { name: 'Open' }).click();
  await visitor.getByRole('alert').filter({ hasText: 'Wrong password' }).waitFor();
  await assertAccessible(visitor, 'visitor password');
  await visitor.getByLabel('Password').fill('open sesame 4711');
  await visitor.getByRole('button', { name: 'Open' }).click();
  await visitor.getByRole('heading', { name: 'q3 report.txt' }).waitFor();
  const [download] = await Promise.all([
    visitor.waitForEvent('download'),
    visitor.getByRole('button', { name: 'Download' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'q3 report.txt');
  assert.deepEqual(readFileSync(/** @type {string} */ (await download.path())), REPORT);
  // The token stays for the tab: a reload does not ask again.
  await visitor.reload();
  await visitor.getByRole('heading', { name: 'q3 report.txt' }).waitFor();
  // One use taken (the download), as the owner sees it.
  const mine = await server.api('GET', '/shares', undefined, token);
  assert.equal(mine.items.find((/** @type {any} */ s) => s.id === idOf(url)).uses, 1);
  assertNoErrors(visitor);
  assertNoErrors(page);
  await visitor.context().close();
  await page.context().close();
});

test('a folder can be shared for uploads', async () => {
  const page = await openPage(browser, server);
  await signIn(page, OWNER, PASSWORD);
  // From the file browser's toolbar.
  await page.getByRole('checkbox', { name: 'Select inbox' }).check();
  await page.getByRole('button', { name: 'Share', exact: true }).click();
  const dlg = page.getByRole('dialog', { name: 'Share “inbox”' });
  await dlg.getByLabel('Kind').selectOption('upload');
  await dlg.getByRole('button', { name: 'Create link' }).click();
  const result = page.getByRole('dialog', { name: 'Share link created' });
  await result.getByText('Visitors can upload files into this folder').waitFor();
  await result.getByText('no password').waitFor();
  await result.getByRole('button', { name: 'Done' }).click();
  const mine = await server.api('GET', '/shares', undefined, token);
  assert.ok(mine.items.some((/** @type {any} */ s) => s.kind === 'upload' && s.path === 'inbox'));
  assertNoErrors(page);
  await page.context().close();
});

test('my share links: list, copy, edit, revoke', async () => {
  const made = await server.api('POST', '/shares', { path: 'reports', kind: 'download', max_uses: 5, note: 'team' }, token);
  // Another link beside it: where the focus goes once one is revoked.
  const beside = await server.api('POST', '/shares', { path: 'inbox', kind: 'download' }, token);
  const page = await openPage(browser, server);
  await signIn(page, OWNER, PASSWORD);
  await page.getByRole('link', { name: 'Shares' }).click();
  await page.waitForURL(/\/shares$/);
  await page.getByRole('heading', { name: 'Share links', level: 1 }).waitFor();
  const row = page.locator(`tr[data-id="${made.id}"]`);
  await row.getByText('0 / 5').waitFor();
  await row.getByText('Active').waitFor();
  await assertAccessible(page, 'share links');
  await screenshot(page, 'shares');

  // Copy where the clipboard is refused: the link is shown to copy by hand.
  await page.evaluate(() => {
    navigator.clipboard.writeText = () => Promise.reject(new DOMException('refused', 'NotAllowedError'));
  });
  await row.getByRole('button', { name: 'Copy link to reports' }).click();
  const shown = page.getByRole('dialog', { name: 'Share link' });
  assert.equal(await shown.getByLabel('Link to “reports”').inputValue(), made.url);
  await shown.getByRole('button', { name: 'Done' }).click();

  // Edit: expiry, use limit and a password.
  await row.getByRole('button', { name: 'Edit link to reports' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit link to “reports”' });
  assert.equal(await edit.getByLabel('Maximum uses').inputValue(), '5');
  await edit.getByLabel('New expiry (days from now)').fill('1');
  await edit.getByLabel('Maximum uses').fill('2');
  await edit.getByLabel('Password', { exact: true }).selectOption('set');
  await edit.getByLabel('New password').fill('a fresh secret 99');
  await assertAccessible(page, 'edit share link');
  const [patched] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PATCH'),
    edit.getByRole('button', { name: 'Save' }).click(),
  ]);
  assert.equal(patched.status(), 200);
  const changed = await patched.json();
  await edit.waitFor({ state: 'detached' });
  await row.getByText('0 / 2').waitFor();
  // The row is drawn anew; the focus is back on its Edit button.
  await page.waitForFunction((id) => document.activeElement === document.querySelector(`tr[data-id="${id}"] button[data-action=edit]`), made.id);
  const after = await server.api('GET', `/shares/${made.id}`, undefined, token);
  assert.equal(after.max_uses, 2);
  assert.equal(after.has_password, true);
  // One day from the change, as the server timed it.
  const secs = (Date.parse(after.expires_at) - Date.parse(changed.updated_at)) / 1000;
  assert.ok(Math.abs(secs - 86400) <= 5, `expires ${secs} s after the change`);
  await row.locator('td').nth(5).getByText('Yes').waitFor();

  // Unlimited again, password removed.
  await row.getByRole('button', { name: 'Edit link to reports' }).click();
  await edit.getByLabel('Maximum uses').fill('');
  await edit.getByLabel('Password', { exact: true }).selectOption('clear');
  await edit.getByRole('button', { name: 'Save' }).click();
  await edit.waitFor({ state: 'detached' });
  const cleared = await server.api('GET', `/shares/${made.id}`, undefined, token);
  assert.equal(cleared.max_uses, null);
  assert.equal(cleared.has_password, false);

  // Revoke: asked first; then the visitor's page says the link is gone.
  await row.getByRole('button', { name: 'Revoke link to reports' }).click();
  const confirm = page.getByRole('dialog', { name: 'Revoke this link?' });
  await assertAccessible(page, 'revoke share link');
  await confirm.getByRole('button', { name: 'Revoke' }).click();
  await row.waitFor({ state: 'detached' });
  // The focus moves to a neighbouring link's first button, not to the page's body.
  await page.waitForFunction(() => {
    const el = document.activeElement;
    return el?.tagName === 'BUTTON' && !!el.closest('tbody tr[data-id]');
  });
  assert.ok(await page.locator(`tr[data-id="${beside.id}"]`).count());
  const visitor = await openPage(browser, server);
  await visitor.goto(`/s/${made.id}`);
  await visitor.getByRole('heading', { name: 'This link does not exist or was revoked' }).waitFor();
  assertNoErrors(visitor);
  assertNoErrors(page);
  await visitor.context().close();
  await page.context().close();
});

test('an empty list says how to share', async () => {
  const other = await server.user('nobody');
  assert.ok(other);
  await upload('mine', { 'one.txt': Buffer.from('one') }, other);
  const only = await server.api('POST', '/shares', { path: 'mine/one.txt', kind: 'download' }, other);
  const page = await openPage(browser, server);
  await signIn(page, 'nobody', PASSWORD);
  await page.goto('/shares');
  // The only link revoked: the list is empty and the focus on the page's title.
  await page.getByRole('button', { name: 'Revoke link to one.txt' }).click();
  await page.getByRole('dialog', { name: 'Revoke this link?' }).getByRole('button', { name: 'Revoke' }).click();
  await page.locator(`tr[data-id="${only.id}"]`).waitFor({ state: 'detached' });
  await page.getByText('You have no share links yet.').waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
  await assertAccessible(page, 'share links, empty');
  assertNoErrors(page);
  await page.context().close();
});
