// Folder operations the server runs as jobs (more than 2 objects here; one object per step and
// a hand-over after each, so every job takes many runs): rename, move, copy and delete answer
// 202 and the jobs panel follows each one to its end, then the listing follows; a running job
// can be cancelled and then undone, and holds its folder against other changes (the API's
// words are shown), and a page loaded meanwhile shows it; a job that reaches the quota midway
// fails with Resume and Undo; a ZIP being prepared is cancelled on the server when its wait is
// cancelled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, screenshot, ADMIN, PASSWORD } from './harness.mjs';

/** @type {any} */ let server;
/** @type {import('playwright-core').Browser} */ let browser;
/** @type {string} */ let admin;

/**
 * Objects in the folder the cancel test moves: one per step, a few hundred steps a second here,
 * so it is still running seconds later when the page has tried a change and cancels it.
 */
const BIG = 5000;

/**
 * Uploads `files` ({name: content}) into `folder` as `token`'s holder, 50 at a time.
 * @param {string} token @param {string} folder @param {Record<string, string | Buffer>} files
 */
async function put(token, folder, files) {
  const entries = Object.entries(files);
  for (let i = 0; i < entries.length; i += 50) {
    const form = new FormData();
    form.append('path', folder);
    for (const [name, body] of entries.slice(i, i + 50)) form.append('files', new Blob([body]), name);
    const r = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    assert.equal(r.status, 201, await r.text());
  }
}

/** `n` files `f0000.txt`… of `size` bytes. @param {number} n @param {number} [size] */
function files(n, size = 4) {
  /** @type {Record<string, string>} */
  const out = {};
  for (let i = 0; i < n; i++) out[`f${String(i).padStart(4, '0')}.txt`] = String(i % 10).repeat(size);
  return out;
}

/** The names in `folder` (API; a missing folder has none). @param {string} token @param {string} folder */
async function names(token, folder) {
  /** @type {string[]} */
  let all = [];
  let cursor = '';
  do {
    const q = `path=${encodeURIComponent(folder)}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await fetch(`${server.url}/api/files/list?${q}`, { headers: { authorization: `Bearer ${token}` } });
    if (r.status === 404) return [];
    assert.equal(r.status, 200);
    const page = await r.json();
    all = all.concat(page.items.map((/** @type {any} */ it) => it.name));
    cursor = page.next_cursor || '';
  } while (cursor);
  return all.sort();
}

/** Sets `username`'s quota (bytes; null: none) as the superuser. @param {string} token @param {number | null} quota */
async function setQuota(token, quota) {
  const me = await server.api('GET', '/auth/user-info', undefined, token);
  await server.api('PATCH', `/users/${me.id}`, { quota_bytes: quota }, admin);
  return me;
}

/** Opens `/files/<folder>` signed in, waiting for the listing. @param {import('playwright-core').Page} page @param {string} folder */
async function openFolder(page, folder) {
  await page.goto('/files/' + folder.split('/').filter(Boolean).map(encodeURIComponent).join('/'));
  await page.waitForFunction(() => {
    const s = document.querySelector('.files-status')?.textContent;
    return s !== undefined && !s.includes('Loading');
  });
}

/** @param {import('playwright-core').Page} page */
function helpers(page) {
  const row = (/** @type {string} */ n) => page.locator('table.files tbody tr', { has: page.locator('td.name', { hasText: new RegExp(`^${n}$`) }) });
  return {
    row,
    // A click on the row (its last cell: not the name, which opens it) selects only that row.
    pick: (/** @type {string} */ n) => row(n).locator('td').last().click(),
    /** The answer to the next POST /api/files/<op>. @param {string} op */
    answer: (op) => page.waitForResponse((r) => r.url().endsWith(`/api/files/${op}`) && r.request().method() === 'POST'),
  };
}

/** A new user with a page signed in. @param {string} username */
async function person(username) {
  const token = await server.user(username);
  const page = await openPage(browser, server);
  await signIn(page, username, PASSWORD);
  return { token, page };
}

before(async () => {
  server = await startServer({
    VERTEX_FOLDER_SYNC_MAX_OBJECTS: '2',
    VERTEX_JOB_STEP_OBJECTS: '1',
    VERTEX_JOB_SLICE_SECS: '0',
    VERTEX_JOB_RETRY_PAUSE_MS: '10',
    // A ZIP of more than one file is a job too.
    VERTEX_ZIP_SYNC_MAX_FILES: '1',
  });
  browser = await launch();
  admin = (await server.api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password })).access;
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a large folder renames, moves, copies and deletes as a job; the listing follows', async () => {
  const { token, page } = await person('fay');
  await put(token, 'photos', files(5));
  await put(token, 'archive', { 'keep.txt': 'keep' });
  await put(token, 'small', files(2));
  /** @type {string[]} */ const polls = [];
  page.on('request', (r) => {
    if (/\/api\/jobs\/[^/]+$/.test(r.url()) && r.method() === 'GET') polls.push(r.url());
  });
  await openFolder(page, '');
  const { row, pick, answer } = helpers(page);

  // Two objects: done within the request, as before (no job).
  await pick('small');
  await page.getByRole('button', { name: 'Rename' }).click();
  let dlg = page.getByRole('dialog', { name: 'Rename small' });
  await dlg.getByLabel('New name').fill('tiny');
  let sent = answer('rename');
  await dlg.getByRole('button', { name: 'Rename' }).click();
  assert.equal((await sent).status(), 200);
  await row('tiny').waitFor();
  assert.equal(polls.length, 0);

  // Five: a job. The dialog closes at once; the listing shows the new name when it ends.
  await pick('photos');
  await page.getByRole('button', { name: 'Rename' }).click();
  dlg = page.getByRole('dialog', { name: 'Rename photos' });
  await dlg.getByLabel('New name').fill('pics');
  sent = answer('rename');
  await dlg.getByRole('button', { name: 'Rename' }).click();
  const started = await sent;
  assert.equal(started.status(), 202);
  assert.match(started.headers().location, /^\/api\/jobs\/[^/]+$/);
  const job = await started.json();
  assert.equal(job.kind, 'rename');
  await dlg.waitFor({ state: 'detached' });
  await page.getByText('Renamed photos').waitFor();
  await page.locator('.folder-job').waitFor({ state: 'detached' });
  await row('photos').waitFor({ state: 'detached' });
  await row('pics').waitFor();
  assert.ok(polls.some((u) => u.endsWith(`/api/jobs/${job.job_id}`)), 'the job was polled');
  assert.deepEqual(await names(token, 'pics'), Object.keys(files(5)));

  // Move into archive/, then copy back home.
  await pick('pics');
  await page.getByRole('button', { name: 'Move' }).click();
  dlg = page.getByRole('dialog', { name: 'Move pics' });
  await dlg.getByLabel('Destination folder').fill('archive');
  sent = answer('move');
  await dlg.getByRole('button', { name: 'Move' }).click();
  assert.equal((await sent).status(), 202);
  await page.getByText('Moved pics').waitFor();
  await row('pics').waitFor({ state: 'detached' });
  assert.deepEqual(await names(token, 'archive'), ['keep.txt', 'pics']);
  assert.deepEqual(await names(token, 'archive/pics'), Object.keys(files(5)));

  await openFolder(page, 'archive');
  await pick('pics');
  await page.getByRole('button', { name: 'Copy' }).click();
  dlg = page.getByRole('dialog', { name: 'Copy pics' });
  await dlg.getByLabel('Destination folder').fill('');
  sent = answer('copy');
  await dlg.getByRole('button', { name: 'Copy' }).click();
  assert.equal((await sent).status(), 202);
  await page.getByText('Copied pics').waitFor();
  assert.deepEqual(await names(token, 'pics'), Object.keys(files(5)));
  assert.deepEqual(await names(token, 'archive/pics'), Object.keys(files(5)));

  // Delete: asked first, then a job; the row goes when it ends.
  await pick('pics');
  await page.getByRole('button', { name: 'Delete' }).click();
  dlg = page.getByRole('dialog', { name: 'Delete pics?' });
  sent = answer('delete');
  await dlg.getByRole('button', { name: 'Delete' }).click();
  assert.equal((await sent).status(), 202);
  await page.getByText('Deleted pics').waitFor();
  await row('pics').waitFor({ state: 'detached' });
  assert.deepEqual(await names(token, 'archive'), ['keep.txt']);
  assertNoErrors(page);
  await page.context().close();
});

test('a running job holds its folder, can be cancelled midway and then undone', async () => {
  const { token, page } = await person('gil');
  const all = Object.keys(files(BIG, 1));
  await put(token, 'big', files(BIG, 1));
  await put(token, 'dest', { 'here.txt': 'here' });
  await openFolder(page, '');
  const { row, pick, answer } = helpers(page);

  await pick('big');
  await page.getByRole('button', { name: 'Move' }).click();
  let dlg = page.getByRole('dialog', { name: 'Move big' });
  await dlg.getByLabel('Destination folder').fill('dest');
  const sent = answer('move');
  await dlg.getByRole('button', { name: 'Move' }).click();
  assert.equal((await sent).status(), 202);
  const entry = page.locator('.folder-job');
  const cancel = entry.getByRole('button', { name: /^Cancel: Moving big to dest/ });
  await cancel.waitFor();
  await entry.getByText(/^Moving big to dest: (counting…|\d+ of \d+ objects)/).waitFor();
  await assertAccessible(page, 'a running folder job');

  // While it runs, the folder refuses another change: the API's words, in the dialog.
  await pick('big');
  await page.getByRole('button', { name: 'Delete' }).click();
  dlg = page.getByRole('dialog', { name: 'Delete big?' });
  await dlg.getByRole('button', { name: 'Delete' }).click();
  await dlg.getByRole('alert').filter({ hasText: /big: A job is working on this/ }).waitFor();
  assert.doesNotMatch((await dlg.getByRole('alert').textContent()) || '', /job_id/);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });

  // The page loaded again finds the job running on the server (GET /api/jobs), once.
  await page.reload();
  await cancel.waitFor();
  assert.equal(await entry.count(), 1);

  // Cancel: it stops at the next object; every object is under one of its two names.
  await cancel.click();
  await entry.getByText(/^Moving big to dest was cancelled after \d+ of \d+ objects/).waitFor()
    .catch(async (e) => assert.fail(`${e.message}\nthe panel: ${await page.locator('.zip-jobs').textContent()}`));
  await entry.getByRole('button', { name: /^Resume: / }).waitFor();
  await entry.getByRole('button', { name: /^Undo: / }).waitFor();
  await assertAccessible(page, 'a cancelled folder job');
  await screenshot(page, 'folder-job');
  const left = await names(token, 'big');
  const moved = await names(token, 'dest/big');
  console.log(`cancel test: ${moved.length} of ${BIG} objects moved before the cancel`);
  assert.ok(moved.length > 0 && left.length > 0, `cancelled midway: ${moved.length} moved, ${left.length} left`);
  assert.deepEqual([...left, ...moved].sort(), all);

  // Undo puts everything back where it was.
  await entry.getByRole('button', { name: /^Undo: / }).click();
  await page.getByText('The move of big was undone').waitFor();
  await entry.waitFor({ state: 'detached' });
  assert.deepEqual(await names(token, 'big'), all);
  assert.deepEqual(await names(token, 'dest'), ['here.txt']);
  await row('big').waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('a copy that reaches the quota midway fails with Resume and Undo', async () => {
  const { token, page } = await person('quinn');
  await put(token, 'q', files(6, 1000));
  await put(token, 'to', { 'x.txt': 'x' });
  await put(token, 'to2', { 'y.txt': 'y' });
  const me = await server.api('GET', '/auth/user-info', undefined, token);
  // Room for about three more of the six files.
  const room = me.storage.used_bytes + 3500;
  await setQuota(token, room);
  await openFolder(page, '');
  const { pick, answer } = helpers(page);

  /** Copies q into `to` through the dialog; the job's entry. @param {string} to */
  async function copy(to) {
    await pick('q');
    await page.getByRole('button', { name: 'Copy' }).click();
    const dlg = page.getByRole('dialog', { name: 'Copy q' });
    await dlg.getByLabel('Destination folder').fill(to);
    const sent = answer('copy');
    // Pressed and released as a person does: the folder list under the typed path loads in
    // between (the input's change comes on the press), and the button must not move.
    await dlg.getByRole('button', { name: 'Copy' }).click({ delay: 300 });
    assert.equal((await sent).status(), 202);
    const entry = page.locator('.folder-job', { hasText: `Copying q to ${to}` });
    await entry.getByRole('alert').filter({ hasText: new RegExp(`^Copying q to ${to} failed after \\d+ of \\d+ objects`) }).waitFor();
    return entry;
  }

  const entry = await copy('to');
  const copied = await names(token, 'to/q');
  assert.ok(copied.length > 0 && copied.length < 6, `${copied.length} copied`);
  await assertAccessible(page, 'a failed folder job');

  // More room, then Resume: the copy finishes.
  await setQuota(token, null);
  await entry.getByRole('button', { name: /^Resume: Copying q to to/ }).click();
  await page.getByText('Copied q').waitFor();
  await entry.waitFor({ state: 'detached' });
  assert.deepEqual(await names(token, 'to/q'), Object.keys(files(6)));

  // Again into to2 with the room as before (the first copy took it): Undo removes what came.
  const now = await server.api('GET', '/auth/user-info', undefined, token);
  await setQuota(token, now.storage.used_bytes + 3500);
  const second = await copy('to2');
  await second.getByRole('button', { name: /^Undo: Copying q to to2/ }).click();
  await page.getByText('The copy of q was undone').waitFor();
  await second.waitFor({ state: 'detached' });
  assert.deepEqual(await names(token, 'to2'), ['y.txt']);
  assert.equal((await server.api('GET', '/auth/user-info', undefined, token)).storage.used_bytes, now.storage.used_bytes);
  assertNoErrors(page);
  await page.context().close();
});

test('cancelling a ZIP being prepared cancels its job; signing out empties the panel', async () => {
  const { token, page } = await person('hal');
  await put(token, 'z', files(3));
  await put(token, 'z2', files(3));
  // The page's reads of the job get no answer: it is still waiting when Cancel is pressed,
  // whatever the server's pace (the cancel itself goes through).
  await page.route(/\/api\/jobs\/[^/]+$/, (route) => {
    if (route.request().method() !== 'GET') return route.continue();
  });
  /** @type {string[]} */ const downloads = [];
  page.on('download', (d) => downloads.push(d.suggestedFilename()));
  await openFolder(page, '');
  await page.getByRole('checkbox', { name: 'Select all loaded items' }).check();
  const started = page.waitForResponse((r) => r.url().endsWith('/api/zip') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Download' }).click();
  const res = await started;
  assert.equal(res.status(), 202);
  const job = await res.json();
  const entry = page.locator('.zip-job');
  const cancelled = page.waitForResponse((r) => r.url().endsWith(`/api/jobs/${job.job_id}`) && r.request().method() === 'DELETE');
  await entry.getByRole('button', { name: /^Cancel: preparing / }).click();
  const answer = await cancelled;
  await entry.waitFor({ state: 'detached' });
  // 202: asked to stop (it ends cancelled); 200: it had ended already.
  assert.ok([200, 202].includes(answer.status()), `DELETE: ${answer.status()}`);
  let seen = await answer.json();
  for (let i = 0; answer.status() === 202 && seen.status === 'running' && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await server.api('GET', `/jobs/${job.job_id}`, undefined, token);
  }
  assert.equal(seen.status, answer.status() === 202 ? 'cancelled' : 'done');

  // Signing out empties the panel: the next person to sign in here sees none of it.
  await page.getByRole('checkbox', { name: 'Select all loaded items' }).check();
  await page.getByRole('button', { name: 'Download' }).click();
  await entry.waitFor();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(/\/login/);
  // Through the form the app shows (no page load: the app's state is kept).
  await page.getByLabel('Username or email').fill('hal');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/files\//);
  await page.locator('table.files tbody tr').first().waitFor();
  assert.equal(await entry.count(), 0);
  assert.deepEqual(downloads, []);
  assertNoErrors(page);
  await page.context().close();
});
