// The visitor's pages of share links (no account): a shared folder browsed into a subfolder
// and back, a file downloaded, ZIPs at once and as a job with progress; an upload link taking
// files (a taken name gets a number, a multi-part file arrives whole); dead links. A ZIP wait
// survives a failed poll and ends when stopped or when the page is left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, launch, openPage, assertNoErrors, assertAccessible, screenshot } from './harness.mjs';

/** @type {any} */ let server;
/** @type {any} */ let browser;
/** @type {string} */ let token;

/** Uploads `files` ({name: bytes}) into `folder` as the owner. @param {string} folder @param {Record<string, Buffer | string>} files */
async function upload(folder, files) {
  const form = new FormData();
  form.append('path', folder);
  for (const [name, bytes] of Object.entries(files)) form.append('files', new Blob([bytes]), name);
  const r = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  assert.equal(r.status, 201, await r.text());
}

/** A new link's id. @param {any} body */
async function share(body) {
  return (await server.api('POST', '/shares', body, token)).id;
}

/** The owner's files in `folder`: name → size. @param {string} folder */
async function listing(folder) {
  const page = await server.api('GET', `/files/list?path=${encodeURIComponent(folder)}`, undefined, token);
  return Object.fromEntries(page.items.map((/** @type {any} */ i) => [i.name, i.size]));
}

/** The bytes of a download `click` starts. @param {any} page @param {() => Promise<any>} click */
async function downloaded(page, click) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: download.suggestedFilename(), bytes: readFileSync(/** @type {string} */ (await download.path())) };
}

before(async () => {
  // Any folder of more than one file is archived as a job.
  server = await startServer({ VERTEX_ZIP_SYNC_MAX_FILES: '1' });
  browser = await launch();
  token = await server.user('petra');
  await upload('holiday', { 'beach.jpg': Buffer.alloc(3000, 7), 'notes.txt': 'sunny' });
  await upload('holiday/day two', { 'hike.txt': 'up the hill', 'map.txt': 'north' });
  await upload('holiday/day two/evening', { 'dinner.txt': 'pasta' });
  await upload('drop', { 'a.txt': 'already here' });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a shared folder: browse, download a file, ZIPs', async () => {
  const id = await share({ path: 'holiday', kind: 'download' });
  const page = await openPage(browser, server);
  await page.goto(`/s/${id}`);
  await page.getByRole('heading', { name: 'holiday', level: 1 }).waitFor();
  await page.getByText('5 files').waitFor();
  await page.getByRole('button', { name: 'Download notes.txt' }).waitFor();
  await assertAccessible(page, 'visitor folder');
  await screenshot(page, 'visitor');

  // Into a subfolder: its own listing and breadcrumbs within the share.
  await page.getByRole('link', { name: 'day two' }).click();
  await page.waitForURL(/\?path=day%20two$/);
  await page.getByRole('heading', { name: 'day two', level: 1 }).waitFor();
  await page.getByRole('link', { name: 'evening' }).waitFor();
  const crumbs = page.getByRole('navigation', { name: 'Folder' });
  assert.deepEqual(await crumbs.getByRole('listitem').allTextContents(), ['holiday', 'day two']);
  const hike = await downloaded(page, () => page.getByRole('button', { name: 'Download hike.txt' }).click());
  assert.equal(hike.name, 'hike.txt');
  assert.equal(hike.bytes.toString(), 'up the hill');

  // A folder of one file is archived at once.
  await page.getByRole('link', { name: 'evening' }).click();
  await page.getByRole('heading', { name: 'evening', level: 1 }).waitFor();
  const small = await downloaded(page, () => page.getByRole('button', { name: 'Download this folder (ZIP)' }).click());
  assert.match(small.name, /\.zip$/);
  assert.equal(small.bytes.subarray(0, 2).toString(), 'PK');
  assert.ok(small.bytes.includes(Buffer.from('dinner.txt')));

  // Back at the top through the breadcrumbs; everything as a ZIP job, its progress shown.
  await crumbs.getByRole('link', { name: 'holiday' }).click();
  await page.getByRole('heading', { name: 'holiday', level: 1 }).waitFor();
  const [job] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/download-zip')),
    page.waitForEvent('download').then(async (d) => {
      const bytes = readFileSync(/** @type {string} */ (await d.path()));
      assert.equal(bytes.subarray(0, 2).toString(), 'PK');
      for (const name of ['beach.jpg', 'notes.txt', 'day two/hike.txt', 'day two/evening/dinner.txt']) {
        assert.ok(bytes.includes(Buffer.from(name)), name);
      }
    }),
    page.getByRole('button', { name: 'Download all (ZIP)' }).click(),
  ]);
  assert.equal(job.status(), 202);
  await page.getByText('Your ZIP download has started.').last().waitFor();
  // Three uses: a file and two archives.
  const mine = await server.api('GET', `/shares/${id}`, undefined, token);
  assert.equal(mine.uses, 3);
  assertNoErrors(page);
  await page.context().close();
});

test('a job shows its progress while it runs', async () => {
  const id = await share({ path: 'holiday', kind: 'download' });
  const page = await openPage(browser, server);
  // The first poll answers a job two files in (of five); the next is held until that has been
  // seen, then goes to the server, whose job finishes.
  let polls = 0;
  let release = () => {};
  const held = new Promise((r) => (release = () => r(null)));
  await page.route(/\/zip\/[^/]+$/, async (/** @type {any} */ route) => {
    if (++polls === 1) {
      return route.fulfill({ json: { job_id: 'x', status: 'running', files_done: 2, files_total: 5, bytes_done: 1000, bytes_total: 4000 } });
    }
    await held;
    await route.continue();
  });
  await page.goto(`/s/${id}`);
  const done = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download all (ZIP)' }).click();
  const bar = page.getByRole('progressbar', { name: 'Preparing the ZIP' });
  await page.getByText('2 of 5 files').waitFor();
  assert.equal(await bar.evaluate((/** @type {HTMLProgressElement} */ el) => el.value), 25);
  await assertAccessible(page, 'visitor ZIP progress');
  release();
  await done;
  await bar.waitFor({ state: 'hidden' });
  assertNoErrors(page);
  await page.context().close();
});

test('a ZIP wait survives a failed poll', async () => {
  const id = await share({ path: 'holiday', kind: 'download' });
  const page = await openPage(browser, server);
  // The first poll fails as an overloaded server would; the rest reach the server.
  let polls = 0;
  await page.route(/\/zip\/[^/]+$/, async (/** @type {any} */ route) => {
    if (++polls === 1) return route.fulfill({ status: 503, json: { error: 'Busy, try again.', code: 'unavailable' } });
    await route.continue();
  });
  await page.goto(`/s/${id}`);
  const zip = await downloaded(page, () => page.getByRole('button', { name: 'Download all (ZIP)' }).click());
  assert.equal(zip.bytes.subarray(0, 2).toString(), 'PK');
  assert.ok(polls >= 2);
  await page.getByText('Your ZIP download has started.').last().waitFor();
  assertNoErrors(page);
  await page.context().close();
});

/**
 * A page whose ZIP polls all answer `running` (or, once `finish()` is called, `done`), and a
 * count of them.
 * @param {string} id
 */
async function endlessZip(id) {
  const page = await openPage(browser, server);
  const seen = { polls: 0, downloads: 0, done: false };
  await page.route(/\/zip\/[^/]+$/, async (/** @type {any} */ route) => {
    seen.polls++;
    const url = `${server.url}/favicon.svg`;
    await route.fulfill({ json: seen.done ? { job_id: 'x', status: 'done', url } : { job_id: 'x', status: 'running', files_done: 1, files_total: 5 } });
  });
  page.on('download', () => seen.downloads++);
  await page.goto(`/s/${id}`);
  await page.getByRole('button', { name: 'Download all (ZIP)' }).click();
  await page.getByText('1 of 5 files').waitFor();
  return { page, seen };
}

/** Lets a few poll intervals pass (the check that no more polls come has to wait for them). */
const fewPolls = () => new Promise((r) => setTimeout(r, 2000));

test('"Stop waiting" ends a ZIP wait', async () => {
  const id = await share({ path: 'holiday', kind: 'download' });
  const { page, seen } = await endlessZip(id);
  await page.getByRole('button', { name: 'Stop waiting' }).click();
  await page.getByText('Stopped waiting for the ZIP.').waitFor();
  await page.getByRole('progressbar', { name: 'Preparing the ZIP' }).waitFor({ state: 'hidden' });
  // The focus goes back to the button that asked for the ZIP.
  await page.waitForFunction(() => document.activeElement?.textContent === 'Download all (ZIP)');
  const before = seen.polls;
  seen.done = true;
  await fewPolls();
  assert.ok(seen.polls <= before + 1, `${seen.polls - before} polls after stopping`);
  assert.equal(seen.downloads, 0);
  assertNoErrors(page);
  await page.context().close();
});

test('leaving the page ends a ZIP wait', async () => {
  const id = await share({ path: 'holiday', kind: 'download' });
  const { page, seen } = await endlessZip(id);
  await page.getByRole('link', { name: 'day two' }).click();
  await page.getByRole('heading', { name: 'day two', level: 1 }).waitFor();
  await page.getByRole('link', { name: 'evening' }).waitFor();
  const before = seen.polls;
  seen.done = true;
  await fewPolls();
  assert.ok(seen.polls <= before + 1, `${seen.polls - before} polls after leaving`);
  assert.equal(seen.downloads, 0);
  assertNoErrors(page);
  await page.context().close();
});

test('an upload link takes files, a taken name gets a number', async () => {
  const id = await share({ path: 'drop', kind: 'upload', password: 'let me in 2024' });
  const page = await openPage(browser, server);
  await page.goto(`/s/${id}`);
  await page.getByLabel('Password').fill('let me in 2024');
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByRole('heading', { name: 'Upload files to “drop”' }).waitFor();
  await assertAccessible(page, 'visitor upload');
  // 17 MiB: two parts of 16 MiB and 1 MiB, sent straight to storage.
  const big = Buffer.alloc(17 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
  let parts = 0;
  page.on('request', (r) => {
    if (r.method() === 'PUT') parts++;
  });
  await page.locator('#visitor-files').setInputFiles([
    { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('from a visitor') },
    { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
  ]);
  const uploads = page.getByRole('list', { name: 'Uploads' });
  await uploads.getByText('Uploaded as “a (1).txt”').waitFor();
  await uploads.getByText('Uploaded', { exact: true }).waitFor();
  // a.txt in one part, big.bin in two.
  assert.equal(parts, 3);
  await screenshot(page, 'visitor-upload');
  // The owner sees both, the bytes whole.
  const files = await listing('drop');
  assert.deepEqual(files, { 'a.txt': 12, 'a (1).txt': 14, 'big.bin': big.length });
  const r = await fetch(`${server.url}/api/files/download?path=drop/big.bin`, { headers: { authorization: `Bearer ${token}` } });
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(big));
  // A file over the owner's room is refused with the API's words.
  const me = await server.api('GET', '/auth/user-info', undefined, token);
  const admin = (await server.api('POST', '/auth/login', { username: 'admin', password: 'correct horse battery staple' })).access;
  await server.api('PATCH', `/users/${me.id}`, { quota_bytes: 20 * 1024 * 1024 }, admin);
  await page.locator('#visitor-files').setInputFiles([{ name: 'too big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4 * 1024 * 1024) }]);
  await uploads.getByRole('alert').filter({ hasText: 'no room left' }).waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('a password folder link asks again when its token ends', async () => {
  const id = await share({ path: 'holiday', kind: 'download', password: 'summer of 69 x' });
  const page = await openPage(browser, server);
  await page.goto(`/s/${id}?path=day%20two`);
  await page.getByLabel('Password').fill('summer of 69 x');
  await page.getByRole('button', { name: 'Open' }).click();
  // Straight to the subfolder the link pointed at.
  await page.getByRole('heading', { name: 'day two', level: 1 }).waitFor();
  // The token is refused (expired, or the owner changed the password): the form again.
  await page.evaluate((key) => sessionStorage.setItem(key, 'not-a-token'), `vertex-share-token:${id}`);
  await page.getByRole('link', { name: 'evening' }).click();
  await page.getByRole('heading', { name: 'Enter the password' }).waitFor();
  await page.getByLabel('Password').fill('summer of 69 x');
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByRole('heading', { name: 'evening', level: 1 }).waitFor();
  // The same from a button: the form again, and no error besides (the page said it all).
  await page.evaluate((key) => sessionStorage.setItem(key, 'not-a-token'), `vertex-share-token:${id}`);
  await page.getByRole('button', { name: 'Download dinner.txt' }).click();
  await page.getByRole('heading', { name: 'Enter the password' }).waitFor();
  assert.equal(await page.locator('.toast.error').count(), 0);
  assertNoErrors(page);
  await page.context().close();
});

test('dead links get friendly pages', async () => {
  const page = await openPage(browser, server);
  await page.goto('/s/AAAAAAAAAAAAAAAAAAAAAA');
  await page.getByRole('heading', { name: 'This link does not exist or was revoked' }).waitFor();
  await assertAccessible(page, 'visitor not found');
  const id = await share({ path: 'holiday/notes.txt', kind: 'download', max_uses: 1 });
  await page.goto(`/s/${id}`);
  await page.getByRole('heading', { name: 'notes.txt' }).waitFor();
  const notes = await downloaded(page, () => page.getByRole('button', { name: 'Download' }).click());
  assert.equal(notes.bytes.toString(), 'sunny');
  // The only use is taken: the page says so.
  await page.reload();
  await page.getByRole('heading', { name: 'This link has expired or has been used up' }).waitFor();
  await assertAccessible(page, 'visitor used up');
  assertNoErrors(page);
  await page.context().close();
});
