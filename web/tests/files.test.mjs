// The file browser: breadcrumbs, sorting, "Load more" over a 205-file folder, keyboard use,
// new folder / rename / move / copy / delete (one item and a selection), downloading a file and
// ZIPs (made within the request, and as a background job with progress).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, screenshot, PASSWORD } from './harness.mjs';

/** @type {any} */ let server;
/** @type {import('playwright-core').Browser} */ let browser;
/** @type {string} */ let token;

/**
 * Uploads `files` ({name: content}) into `folder` through the API.
 * @param {string} folder @param {Record<string, string | Buffer>} files
 */
async function put(folder, files) {
  const form = new FormData();
  form.append('path', folder);
  for (const [name, body] of Object.entries(files)) form.append('files', new Blob([body]), name);
  const r = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  assert.equal(r.status, 201, await r.text());
}

/** The names in `folder` (API). @param {string} folder */
async function names(folder) {
  const r = await server.api('GET', `/files/list?path=${encodeURIComponent(folder)}&limit=1000`, undefined, token);
  return r.items.map((/** @type {any} */ it) => it.name).sort();
}

/** The names of the table's rows, in order. @param {import('playwright-core').Page} page */
function rowNames(page) {
  return page.locator('table.files tbody td.name').allTextContents();
}

/** Opens `/files/<folder>` signed in, waiting for the listing. @param {import('playwright-core').Page} page @param {string} folder */
async function openFolder(page, folder) {
  await page.goto('/files/' + folder.split('/').filter(Boolean).map(encodeURIComponent).join('/'));
  await page.locator('.files-status').filter({ hasNotText: 'Loading' }).waitFor();
  await page.waitForFunction(() => !document.querySelector('.files-status')?.textContent?.includes('Loading'));
}

async function newPage() {
  const page = await openPage(browser, server);
  await signIn(page, 'bob', PASSWORD);
  return page;
}

before(async () => {
  // At most one file is zipped within the request: a folder of several becomes a job.
  server = await startServer({ VERTEX_ZIP_SYNC_MAX_FILES: '1' });
  browser = await launch();
  token = await server.user('bob');
  await put('docs', { 'a.txt': 'aaaa', 'b.txt': 'bbbbbbbbbbbbbbbb', 'c10.txt': 'c', 'c9.txt': 'cc' });
  await put('docs/sub', { 'deep.txt': 'deep' });
  await put('', { 'readme.md': '# hello\n' });
  const many = {};
  for (let i = 0; i < 205; i++) many[`f${String(i).padStart(3, '0')}.txt`] = String(i);
  const entries = Object.entries(many);
  for (let i = 0; i < entries.length; i += 50) await put('many', Object.fromEntries(entries.slice(i, i + 50)));
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('browse with breadcrumbs; sort by name, size and date', async () => {
  const page = await newPage();
  await page.getByRole('heading', { level: 1, name: 'My files' }).waitFor();
  await page.getByRole('link', { name: 'docs' }).click();
  await page.waitForURL(/\/files\/docs$/);
  await page.getByRole('heading', { level: 1, name: 'docs' }).waitFor();
  // Folders first, then names in natural order (c9 before c10).
  await page.locator('table.files tbody tr').nth(4).waitFor();
  assert.deepEqual(await rowNames(page), ['sub', 'a.txt', 'b.txt', 'c9.txt', 'c10.txt']);
  await assertAccessible(page, 'file browser');
  await screenshot(page, 'files');

  // Size, largest first; again: smallest first.
  const size = page.getByRole('columnheader', { name: 'Size' });
  await size.getByRole('button').click();
  assert.equal(await size.getAttribute('aria-sort'), 'descending');
  assert.equal(await page.getByRole('columnheader', { name: 'Name' }).getAttribute('aria-sort'), 'none');
  assert.deepEqual(await rowNames(page), ['sub', 'b.txt', 'a.txt', 'c9.txt', 'c10.txt']);
  await size.getByRole('button').click();
  assert.equal(await size.getAttribute('aria-sort'), 'ascending');
  assert.deepEqual(await rowNames(page), ['sub', 'c10.txt', 'c9.txt', 'a.txt', 'b.txt']);
  const name = page.getByRole('columnheader', { name: 'Name' });
  await name.getByRole('button').click();
  assert.equal(await name.getAttribute('aria-sort'), 'ascending');
  await name.getByRole('button').click();
  assert.deepEqual(await rowNames(page), ['sub', 'c10.txt', 'c9.txt', 'b.txt', 'a.txt']);
  const date = page.getByRole('columnheader', { name: 'Modified' });
  await date.getByRole('button').click();
  assert.equal(await date.getAttribute('aria-sort'), 'descending');

  // Into the subfolder, then back through the breadcrumbs.
  await page.getByRole('link', { name: 'sub' }).click();
  await page.waitForURL(/\/files\/docs\/sub$/);
  await page.getByRole('heading', { level: 1, name: 'sub' }).waitFor();
  const crumbs = page.getByRole('navigation', { name: 'Breadcrumb' });
  assert.deepEqual(await crumbs.getByRole('listitem').allTextContents(), ['Home', 'docs', 'sub']);
  await page.locator('table.files tbody td.name', { hasText: 'deep.txt' }).waitFor();
  await crumbs.getByRole('link', { name: 'docs' }).click();
  await page.waitForURL(/\/files\/docs$/);
  await crumbs.getByRole('link', { name: 'Home' }).click();
  await page.waitForURL(/\/files\/$/);
  await page.locator('table.files tbody td.name', { hasText: 'readme.md' }).waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('a large folder loads 200 at a time; "Load more" adds rows without redrawing', async () => {
  const page = await newPage();
  await openFolder(page, 'many');
  const rows = page.locator('table.files tbody tr');
  assert.equal(await rows.count(), 200);
  await page.getByText('sorted among the 200 loaded').waitFor();
  // Sorted by size (descending): the loaded rows reorder; the next page is merged in.
  await page.getByRole('columnheader', { name: 'Size' }).getByRole('button').click();
  await page.evaluate(() => document.querySelectorAll('table.files tbody tr').forEach((r) => r.setAttribute('data-old', '')));
  await page.getByRole('button', { name: 'Load more' }).click();
  await page.waitForFunction(() => document.querySelectorAll('table.files tbody tr').length === 205);
  assert.equal(await page.locator('table.files tbody tr[data-old]').count(), 200, 'the first 200 rows were kept');
  assert.equal(await page.getByRole('button', { name: 'Load more' }).isVisible(), false);
  await page.getByText('205 items').waitFor();
  // Sizes 1..3 bytes ("0".."204"), largest first; the order is reversed as a whole (names too).
  const names = await rowNames(page);
  assert.equal(names[0], 'f204.txt');
  assert.equal(names[104], 'f100.txt');
  assert.equal(names[105], 'f099.txt');
  assert.equal(names[204], 'f000.txt');
  assertNoErrors(page);
  await page.context().close();
});

test('keyboard: arrows, Enter, Space, Ctrl+A, Backspace, F2 and Delete', async () => {
  await put('keys/inner', { 'x.txt': 'x' });
  await put('keys', { 'one.txt': '1', 'two.txt': '22' });
  const page = await newPage();
  await openFolder(page, 'keys');
  const rows = page.locator('table.files tbody tr');
  // One tab stop for the table: the active row.
  await page.getByRole('columnheader', { name: 'Modified' }).getByRole('button').focus();
  await page.keyboard.press('Tab');
  assert.equal(await rows.nth(0).evaluate((r) => r === document.activeElement), true);
  await page.keyboard.press('ArrowDown');
  assert.equal(await rows.nth(1).evaluate((r) => r === document.activeElement), true);
  await page.keyboard.press('Space');
  assert.equal(await rows.nth(1).getAttribute('aria-selected'), 'true');
  await page.getByText('1 selected').waitFor();
  await page.keyboard.press('Space');
  assert.equal(await rows.nth(1).getAttribute('aria-selected'), 'false');
  await page.keyboard.press('Control+a');
  await page.getByText('3 selected').waitFor();
  await page.keyboard.press('Escape');
  await page.getByText('3 selected').waitFor({ state: 'detached' });

  // Enter opens a folder; Backspace goes back up with focus on the folder we left.
  await page.keyboard.press('Home');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/files\/keys\/inner$/);
  await page.locator('table.files tbody td.name', { hasText: 'x.txt' }).waitFor();
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent?.includes('x.txt'));
  await page.keyboard.press('Backspace');
  await page.waitForURL(/\/files\/keys$/);
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent?.includes('inner'));
  await page.keyboard.press('Alt+ArrowUp');
  await page.waitForURL(/\/files\/$/);
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent?.includes('keys'));
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/files\/keys$/);
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent?.includes('inner'));

  // F2 renames the focused row.
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('F2');
  const rename = page.getByRole('dialog', { name: 'Rename one.txt' });
  await rename.waitFor();
  await assertAccessible(page, 'rename dialog');
  // The name without its extension is selected: typing replaces it.
  await page.keyboard.type('uno');
  await page.keyboard.press('Enter');
  await rename.waitFor({ state: 'detached' });
  await page.locator('table.files tbody td.name', { hasText: 'uno.txt' }).waitFor();
  assert.deepEqual(await names('keys'), ['inner', 'two.txt', 'uno.txt']);

  // Delete asks first, listing what goes.
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent?.includes('uno.txt'));
  await page.keyboard.press('Delete');
  const confirm = page.getByRole('dialog', { name: 'Delete uno.txt?' });
  await confirm.getByRole('listitem').filter({ hasText: 'uno.txt' }).waitFor();
  await assertAccessible(page, 'delete dialog');
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await confirm.waitFor({ state: 'detached' });
  await page.locator('table.files tbody td.name', { hasText: 'uno.txt' }).waitFor({ state: 'detached' });
  assert.deepEqual(await names('keys'), ['inner', 'two.txt']);
  assertNoErrors(page);
  await page.context().close();
});

test('new folder, rename, move, copy and delete with the toolbar', async () => {
  await put('ops', { 'a.txt': 'A', 'b.txt': 'B', 'c.txt': 'C' });
  const page = await newPage();
  await openFolder(page, 'ops');
  const row = (/** @type {string} */ n) => page.locator('table.files tbody tr', { has: page.locator('td.name', { hasText: n }) });
  // A click on the row (its last cell: not the name, which opens it) selects only that row.
  const pick = (/** @type {string} */ n) => row(n).locator('td').last().click();

  // New folder.
  await page.getByRole('button', { name: 'New folder' }).click();
  const nf = page.getByRole('dialog', { name: 'New folder' });
  await assertAccessible(page, 'new folder dialog');
  await nf.getByLabel('Folder name').fill('target');
  await nf.getByRole('button', { name: 'Create' }).click();
  await nf.waitFor({ state: 'detached' });
  await row('target').waitFor();
  // A name that is taken: the API's error stays in the dialog.
  await page.getByRole('button', { name: 'New folder' }).click();
  await nf.getByLabel('Folder name').fill('target');
  await nf.getByRole('button', { name: 'Create' }).click();
  await nf.getByRole('alert').waitFor();
  await nf.getByRole('button', { name: 'Cancel' }).click();
  await nf.waitFor({ state: 'detached' });

  // Rename through the toolbar.
  assert.equal(await page.getByRole('button', { name: 'Rename' }).isDisabled(), true);
  await row('a.txt').getByRole('checkbox').check();
  await page.getByRole('button', { name: 'Rename' }).click();
  const rn = page.getByRole('dialog', { name: 'Rename a.txt' });
  await rn.getByLabel('New name').fill('alpha.txt');
  await rn.getByRole('button', { name: 'Rename' }).click();
  await rn.waitFor({ state: 'detached' });
  await row('alpha.txt').waitFor();

  // Copy two files (shift-click range) into the folder.
  await row('alpha.txt').getByRole('checkbox').uncheck();
  await row('alpha.txt').getByRole('checkbox').click();
  await row('b.txt').getByRole('checkbox').click({ modifiers: ['Shift'] });
  await page.getByText('2 selected').waitFor();
  await page.getByRole('button', { name: 'Copy' }).click();
  const cp = page.getByRole('dialog', { name: 'Copy 2 items' });
  await cp.getByRole('button', { name: 'target' }).waitFor();
  await assertAccessible(page, 'copy dialog');
  // The folder picker fills the destination.
  await cp.getByRole('button', { name: 'target' }).click();
  assert.equal(await cp.getByLabel('Destination folder').inputValue(), 'ops/target');
  await cp.getByRole('button', { name: 'Copy' }).click();
  await cp.waitFor({ state: 'detached' });
  assert.deepEqual(await names('ops/target'), ['alpha.txt', 'b.txt']);
  assert.deepEqual(await names('ops'), ['alpha.txt', 'b.txt', 'c.txt', 'target']);

  // Move one (typed destination); then moving the same name again is refused and shown.
  await pick('c.txt');
  await page.getByText('1 selected').waitFor();
  await page.getByRole('button', { name: 'Move' }).click();
  const mv = page.getByRole('dialog', { name: 'Move c.txt' });
  await mv.getByLabel('Destination folder').fill('ops/target/');
  await mv.getByRole('button', { name: 'Move' }).click();
  await mv.waitFor({ state: 'detached' });
  await row('c.txt').waitFor({ state: 'detached' });
  assert.deepEqual(await names('ops/target'), ['alpha.txt', 'b.txt', 'c.txt']);
  await pick('b.txt');
  await page.getByRole('button', { name: 'Move' }).click();
  const mv2 = page.getByRole('dialog', { name: 'Move b.txt' });
  await mv2.getByLabel('Destination folder').fill('ops/target');
  await mv2.getByRole('button', { name: 'Move' }).click();
  await mv2.getByRole('alert').filter({ hasText: 'b.txt' }).waitFor();
  await mv2.getByRole('button', { name: 'Cancel' }).click();

  // Delete a selection (select all), confirmed.
  await page.getByRole('checkbox', { name: 'Select all loaded items' }).check();
  await page.getByText('3 selected').waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dl = page.getByRole('dialog', { name: 'Delete 3 items?' });
  assert.deepEqual(await dl.getByRole('listitem').allTextContents(), ['target/', 'alpha.txt', 'b.txt']);
  await dl.getByRole('button', { name: 'Delete' }).click();
  await dl.waitFor({ state: 'detached' });
  await page.getByText('This folder is empty').waitFor();
  assert.deepEqual(await names('ops'), []);
  await assertAccessible(page, 'empty folder');
  assertNoErrors(page);
  await page.context().close();
});

test('download a file; a folder as a ZIP made at once and as a job', async () => {
  await put('zips/one', { 'only.txt': 'only one file' });
  await put('zips/three', { '1.txt': 'first', '2.txt': 'second', '3.txt': 'third' });
  const page = await newPage();
  await openFolder(page, 'docs');
  const row = (/** @type {string} */ n) => page.locator('table.files tbody tr', { has: page.locator('td.name', { hasText: n }) });
  // A click on the row (its last cell: not the name, which opens it) selects only that row.
  const pick = (/** @type {string} */ n) => row(n).locator('td').last().click();

  // A file: its name downloads it.
  let wait = page.waitForEvent('download');
  await row('b.txt').getByRole('button', { name: 'b.txt' }).click();
  let dl = await wait;
  assert.equal(dl.suggestedFilename(), 'b.txt');
  assert.equal(readFileSync(/** @type {string} */ (await dl.path()), 'utf8'), 'bbbbbbbbbbbbbbbb');

  // A folder of one file: the ZIP is made within the request.
  await openFolder(page, 'zips');
  await pick('one');
  wait = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download' }).click();
  dl = await wait;
  assert.match(dl.suggestedFilename(), /^one.*\.zip$/);
  let zip = readFileSync(/** @type {string} */ (await dl.path()));
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  assert.ok(zip.includes('only.txt'));

  // Two folders, four files: a job, with its progress shown until the archive downloads.
  await page.getByRole('checkbox', { name: 'Select all loaded items' }).check();
  const job = page.waitForResponse((r) => r.url().endsWith('/api/zip') && r.request().method() === 'POST');
  wait = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download' }).click();
  assert.equal((await job).status(), 202);
  dl = await wait;
  assert.match(dl.suggestedFilename(), /\.zip$/);
  zip = readFileSync(/** @type {string} */ (await dl.path()));
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  for (const n of ['only.txt', '1.txt', '2.txt', '3.txt']) assert.ok(zip.includes(n), n);
  await page.locator('.zip-job').waitFor({ state: 'detached' });
  assertNoErrors(page);
  await page.context().close();
});

test('upload and share from the toolbar; outside changes refresh; an unknown folder says so', async () => {
  const page = await newPage();
  await openFolder(page, 'docs');
  // "Upload files" opens the picker (uploads.js); the file lands in this folder and its row appears.
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Upload files' }).click();
  await (await chooser).setFiles({ name: 'picked.txt', mimeType: 'text/plain', buffer: Buffer.from('picked') });
  await page.locator('table.files tbody td.name', { hasText: 'picked.txt' }).waitFor();
  assert.ok((await names('docs')).includes('picked.txt'));
  // "Share" opens the share dialog (share-dialog.js) for the selected item.
  await page.locator('table.files tbody tr', { has: page.locator('td.name', { hasText: 'sub' }) }).locator('td').last().click();
  await page.getByRole('button', { name: 'Share' }).click();
  const share = page.getByRole('dialog', { name: 'Share “sub”' });
  await share.waitFor();
  await share.getByRole('button', { name: 'Cancel' }).click();
  await share.waitFor({ state: 'detached' });
  // A change made elsewhere, announced the way uploads.js does.

  await put('docs', { 'late.txt': 'late' });
  await page.evaluate(() => document.dispatchEvent(new CustomEvent('vertex:files-changed', { detail: { folder: 'docs' } })));
  await page.locator('table.files tbody td.name', { hasText: 'late.txt' }).waitFor();
  await page.goto('/files/no/such/folder');
  await page.getByRole('alert').filter({ hasText: /no such/i }).waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('a folder an upload made stays, empty, when its last item is deleted or moved out', async () => {
  await put('lone', { 'only.txt': 'only' });
  await put('lone2', { 'last.txt': 'last' });
  const page = await newPage();
  // The server keeps the folder: the page makes none again.
  /** @type {string[]} */ const made = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/files/create-folder')) made.push(r.url());
  });
  const row = (/** @type {string} */ n) => page.locator('table.files tbody tr', { has: page.locator('td.name', { hasText: n }) });

  // Delete the only file.
  await openFolder(page, 'lone');
  await row('only.txt').getByRole('checkbox').check();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dl = page.getByRole('dialog', { name: 'Delete only.txt?' });
  await dl.getByRole('button', { name: 'Delete' }).click();
  await dl.waitFor({ state: 'detached' });
  await page.getByText('This folder is empty').waitFor();
  assert.deepEqual(await names('lone'), []);

  // Move the only file of another folder out, into the first.
  await openFolder(page, 'lone2');
  await row('last.txt').getByRole('checkbox').check();
  await page.getByRole('button', { name: 'Move' }).click();
  const mv = page.getByRole('dialog', { name: 'Move last.txt' });
  await mv.getByLabel('Destination folder').fill('lone');
  await mv.getByRole('button', { name: 'Move' }).click();
  await mv.waitFor({ state: 'detached' });
  await page.getByText('This folder is empty').waitFor();
  assert.deepEqual(await names('lone2'), []);
  assert.deepEqual(await names('lone'), ['last.txt']);
  assert.deepEqual(made, []);
  assertNoErrors(page);
  await page.context().close();
});
