// Uploads: the picker (files and a folder), drag-and-drop, a multi-part direct upload that
// survives an aborted part, resume after a page reload, the quota checked before any byte, and
// "already exists" → Replace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, openPage, signIn, assertNoErrors, assertAccessible, screenshot, PASSWORD, ADMIN } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let token;
const USER = 'uploader';
const tmp = mkdtempSync(join(tmpdir(), 'vertex-upload-'));
const MiB = 1024 * 1024;

before(async () => {
  // Forms of at most 50,000 bytes (Lambda's limit is 6 MB): a larger small file is refused
  // with 413 `request_too_large` and goes by direct upload instead.
  server = await startServer({ VERTEX_MAX_FORM_BYTES: '50000' });
  browser = await launch();
  token = await server.user(USER);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The bytes of `path` in `who`'s home, through the API. @param {string} path @param {string} [who] */
async function bytesOf(path, who = token) {
  const r = await fetch(`${server.url}/api/files/download?path=${encodeURIComponent(path)}`, { headers: { authorization: `Bearer ${who}` } });
  assert.equal(r.status, 200, `download ${path}`);
  return Buffer.from(await r.arrayBuffer());
}

/** @param {Buffer} b */
const sha = (b) => createHash('sha256').update(b).digest('hex');

/** The part number a signed transfer URL is for (its token's `n` claim). @param {string} url */
function partOf(url) {
  const jwt = decodeURIComponent(url.split('/transfer/')[1].split('?')[0]);
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).n;
}

/** A signed-in page at /files/<folder>. @param {string} [folder] @param {string} [user] */
async function filesPage(folder = '', user = USER) {
  const page = await openPage(browser, server);
  await signIn(page, user, PASSWORD);
  if (folder) await page.goto(`/files/${folder}`);
  await page.getByRole('button', { name: 'Upload files' }).waitFor();
  return page;
}

/** Clicks `button` and gives the picker `files`. @param {import('playwright-core').Page} page @param {string} button @param {any} files */
async function pick(page, button, files) {
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: button }).click()]);
  await chooser.setFiles(files);
}

/**
 * Drops `tree` ({name: text | {subtree}}) on `zone` as the browser gives a dropped folder: each
 * item's `webkitGetAsEntry()` (stubbed for the drop) is a directory entry whose reader answers
 * in batches. Resolves with whether the zone showed the drag (class `over`), and stopped on drop.
 * @param {import('playwright-core').Locator} zone @param {Record<string, any>} tree
 */
async function dropTree(zone, tree) {
  return zone.evaluate((el, tree) => {
    /** @param {string} name @param {any} node @param {string} path @returns {any} */
    const entry = (name, node, path) => typeof node === 'string'
      ? { isFile: true, isDirectory: false, name, fullPath: path, file: (/** @type {any} */ ok) => setTimeout(() => ok(new File([node], name, { type: 'text/plain' }))) }
      : {
        isFile: false, isDirectory: true, name, fullPath: path,
        createReader() {
          const kids = Object.entries(node).map(([n, c]) => entry(n, c, `${path}/${n}`));
          // One entry per call, then an empty batch: the reader must be called until it is empty.
          return { readEntries: (/** @type {any} */ ok) => setTimeout(() => ok(kids.splice(0, 1))) };
        },
      };
    const tops = new Map(Object.entries(tree).map(([n, c]) => [n, entry(n, c, `/${n}`)]));
    const dt = new DataTransfer();
    for (const n of tops.keys()) dt.items.add(new File(['placeholder'], n));
    const proto = DataTransferItem.prototype;
    const real = proto.webkitGetAsEntry;
    proto.webkitGetAsEntry = function () {
      return tops.get(/** @type {File} */ (this.getAsFile()).name);
    };
    try {
      el.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
      el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      const over = el.classList.contains('over');
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      return over && !el.classList.contains('over');
    } finally {
      proto.webkitGetAsEntry = real;
    }
  }, tree);
}

/** Waits for the panel's summary. @param {import('playwright-core').Page} page @param {RegExp} text */
async function summary(page, text) {
  await page.locator('.uploads p[role=status]').filter({ hasText: text }).waitFor({ timeout: 60000 });
}

test('files via the picker land with their bytes, with progress per file and in total', { timeout: 120000 }, async () => {
  const page = await filesPage();
  /** @type {string[]} */
  const requests = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/files/upload')) requests.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  const a = randomBytes(3000);
  const b = randomBytes(70000);
  await pick(page, 'Upload files', [
    { name: 'alpha.txt', mimeType: 'text/plain', buffer: a },
    { name: 'beta.bin', mimeType: 'application/octet-stream', buffer: b },
    { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) },
  ]);
  await summary(page, /Uploaded 3 files/);
  assert.equal(await page.getByRole('progressbar', { name: 'Total upload progress' }).count(), 1);
  assert.equal(await page.getByRole('progressbar', { name: 'Upload progress of alpha.txt' }).count(), 1);
  assert.match(await page.locator('.uploads .total').innerText(), /3 of 3 files/);
  // The listing refreshes as files land.
  await page.getByRole('row').filter({ hasText: 'beta.bin' }).first().waitFor();
  assert.deepEqual(await bytesOf('alpha.txt'), a);
  assert.deepEqual(await bytesOf('beta.bin'), b);
  assert.equal((await bytesOf('empty.txt')).length, 0);
  // beta.bin was refused by the form (over this server's 50,000 bytes) and went by direct upload.
  assert.equal(requests.filter((r) => r === 'POST /api/files/upload').length, 3);
  assert.equal(requests.filter((r) => r === 'POST /api/files/uploads').length, 1);
  assert.equal(requests.filter((r) => /^POST \/api\/files\/uploads\/.+\/complete$/.test(r)).length, 1);
  await assertAccessible(page, 'upload panel');
  await page.getByRole('button', { name: 'Clear finished' }).click();
  await page.locator('.uploads').waitFor({ state: 'hidden' });
  assertNoErrors(page);
  await page.context().close();
});

test('a folder from the picker keeps its relative paths', { timeout: 120000 }, async () => {
  const dir = join(tmp, 'album');
  mkdirSync(join(dir, 'raw', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'cover.txt'), 'cover');
  writeFileSync(join(dir, 'raw', 'one.txt'), 'one');
  writeFileSync(join(dir, 'raw', 'deep', 'two.txt'), 'two');
  await server.api('POST', '/files/create-folder', { parent_path: '', folder_name: 'pics' }, token);
  const page = await filesPage('pics');
  await pick(page, 'Upload folder', dir);
  await summary(page, /Uploaded 3 files/);
  assert.equal((await bytesOf('pics/album/cover.txt')).toString(), 'cover');
  assert.equal((await bytesOf('pics/album/raw/one.txt')).toString(), 'one');
  assert.equal((await bytesOf('pics/album/raw/deep/two.txt')).toString(), 'two');
  await page.getByRole('row').filter({ hasText: 'album' }).first().waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('files dropped on the listing are uploaded into the folder', { timeout: 120000 }, async () => {
  await server.api('POST', '/files/create-folder', { parent_path: '', folder_name: 'drops' }, token);
  const page = await filesPage('drops');
  const zone = page.locator('.drop').first();
  const over = await zone.evaluate((el) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped one'], 'd1.txt', { type: 'text/plain' }));
    dt.items.add(new File(['dropped two!'], 'd2.txt', { type: 'text/plain' }));
    el.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
    el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const over = el.classList.contains('over');
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    return over && !el.classList.contains('over');
  });
  assert.ok(over, 'the zone shows the drag, and stops showing it on drop');
  await summary(page, /Uploaded 2 files/);
  assert.equal((await bytesOf('drops/d1.txt')).toString(), 'dropped one');
  assert.equal((await bytesOf('drops/d2.txt')).toString(), 'dropped two!');
  assertNoErrors(page);
  await page.context().close();
});

test('a 40 MiB file goes in parts and survives an aborted part', { timeout: 120000 }, async () => {
  const data = randomBytes(40 * MiB);
  const file = join(tmp, 'big.bin');
  writeFileSync(file, data);
  const page = await filesPage();
  /** @type {number[]} */
  const attempts = [];
  let aborted = false;
  await page.route('**/api/files/transfer/**', async (route) => {
    const n = partOf(route.request().url());
    attempts.push(n);
    if (n === 2 && !aborted) {
      aborted = true;
      await route.abort('connectionreset');
    } else {
      await route.continue();
    }
  });
  await pick(page, 'Upload files', file);
  await summary(page, /Uploaded 1 file \(40/);
  assert.deepEqual([...attempts].sort((x, y) => x - y), [1, 2, 2, 3], 'part 2 sent again, the others once');
  assert.equal(sha(await bytesOf('big.bin')), sha(data));
  assert.equal(await page.evaluate(() => localStorage.getItem('vertex.uploads')), null, 'nothing left to resume');
  assertNoErrors(page);
  await page.context().close();
});

test('an expired part URL is renewed; a running upload can be cancelled', { timeout: 120000 }, async () => {
  const data = randomBytes(20 * MiB);
  const file = join(tmp, 'renew.bin');
  writeFileSync(file, data);
  const page = await filesPage();
  let refused = false;
  await page.route('**/api/files/transfer/**', async (route) => {
    if (partOf(route.request().url()) === 1 && !refused) {
      refused = true;
      await route.fulfill({ status: 403, contentType: 'application/json', body: '{"error":"This URL has expired.","code":"expired"}' });
    } else {
      await route.continue();
    }
  });
  const status = page.waitForResponse((r) => r.request().method() === 'GET' && /\/api\/files\/uploads\/[^/]+$/.test(new URL(r.url()).pathname));
  await pick(page, 'Upload files', file);
  assert.equal((await status).status(), 200, 'fresh URLs asked for');
  await summary(page, /Uploaded 1 file \(20/);
  assert.equal(sha(await bytesOf('renew.bin')), sha(data));
  await page.getByRole('button', { name: 'Clear finished' }).click();

  // Cancel: parts held in flight, then the person cancels; the upload is aborted on the server.
  await page.unroute('**/api/files/transfer/**');
  /** @type {() => void} */
  let arrived = () => {};
  const held = new Promise((r) => (arrived = () => r(null)));
  await page.route('**/api/files/transfer/**', () => arrived());
  writeFileSync(join(tmp, 'cancel.bin'), data);
  await pick(page, 'Upload files', join(tmp, 'cancel.bin'));
  await held;
  const aborted = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/api/files/uploads/'));
  await page.getByRole('button', { name: 'Cancel cancel.bin' }).click();
  assert.equal((await aborted).status(), 204);
  await summary(page, /1 cancelled/);
  const info = await server.api('GET', '/auth/user-info', undefined, token);
  assert.equal(info.storage.reserved_bytes, 0, 'nothing held any more');
  assert.equal(await page.evaluate(() => localStorage.getItem('vertex.uploads')), null);
  assertNoErrors(page);
  await page.context().close();
});

test('an upload stopped by a reload resumes: only the missing parts are sent', { timeout: 120000 }, async () => {
  const data = randomBytes(40 * MiB);
  const file = join(tmp, 'resume.bin');
  writeFileSync(file, data);
  const page = await filesPage();
  await page.route('**/api/files/transfer/**', async (route) => {
    if (partOf(route.request().url()) === 1) await route.continue();
    else await route.abort('connectionreset');
  });
  const first = page.waitForResponse((r) => r.url().includes('/api/files/transfer/') && r.status() === 200);
  await pick(page, 'Upload files', file);
  await first;
  const saved = JSON.parse(await page.evaluate(() => localStorage.getItem('vertex.uploads') || '[]'));
  assert.equal(saved.length, 1);
  assert.equal(saved[0].path, 'resume.bin');
  await page.unroute('**/api/files/transfer/**');
  await page.reload();
  await page.getByText('Unfinished uploads').waitFor();
  await assertAccessible(page, 'upload panel with an unfinished upload');
  /** @type {string[]} */
  const requests = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/files/transfer/')) requests.push(`part ${partOf(r.url())}`);
    else if (r.url().includes('/api/files/upload')) requests.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  await pick(page, 'Resume resume.bin', file);
  await summary(page, /Uploaded 1 file/);
  const parts = requests.filter((r) => r.startsWith('part')).sort();
  assert.deepEqual(parts, ['part 2', 'part 3'], `only the missing parts: ${requests}`);
  assert.ok(!requests.includes('POST /api/files/uploads'), 'no new upload started');
  assert.equal(sha(await bytesOf('resume.bin')), sha(data));
  assert.equal(await page.evaluate(() => localStorage.getItem('vertex.uploads')), null);
  assertNoErrors(page);
  await page.context().close();
});

test('an unfinished upload can be discarded', { timeout: 120000 }, async () => {
  const up = await server.api('POST', '/files/uploads', { path: 'gone.bin', size: 20 * MiB }, token);
  const page = await filesPage();
  await page.evaluate((s) => localStorage.setItem('vertex.uploads', JSON.stringify([s])), {
    upload_id: up.upload_id, user: (await server.api('GET', '/auth/profile', undefined, token)).id, folder: '',
    path: 'gone.bin', name: 'gone.bin', size: 20 * MiB, lastModified: 1, expires_at: up.upload_expires_at, overwrite: false,
  });
  await page.reload();
  const aborted = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/api/files/uploads/'));
  await page.getByRole('button', { name: 'Discard gone.bin' }).click();
  assert.equal((await aborted).status(), 204);
  await page.getByText('Unfinished uploads').waitFor({ state: 'hidden' });
  const info = await server.api('GET', '/auth/user-info', undefined, token);
  assert.equal(info.storage.reserved_bytes, 0, 'the reservation is given back');
  assertNoErrors(page);
  await page.context().close();
});

test('a batch over the quota is refused before any byte is sent', { timeout: 120000 }, async () => {
  const who = await server.user('tight');
  const me = await server.api('GET', '/auth/profile', undefined, who);
  const admin = (await server.api('POST', '/auth/login', { username: ADMIN.username, password: ADMIN.password })).access;
  await server.api('PATCH', `/users/${me.id}`, { quota_bytes: 10000 }, admin);
  const page = await filesPage('', 'tight');
  /** @type {string[]} */
  const sent = [];
  page.on('request', (r) => {
    if (/\/api\/files\/(upload|uploads|transfer)/.test(r.url())) sent.push(r.url());
  });
  await pick(page, 'Upload files', [
    { name: 'small.txt', mimeType: 'text/plain', buffer: randomBytes(4000) },
    { name: 'large.txt', mimeType: 'text/plain', buffer: randomBytes(9000) },
  ]);
  const alert = page.locator('.uploads [role=alert]').filter({ hasText: /quota/ });
  await alert.waitFor();
  assert.match(await alert.innerText(), /These 2 files need 13 KiB, but only 9\.8 KiB of your 9\.8 KiB storage quota/);
  assert.deepEqual(sent, [], 'no upload request');
  const info = await server.api('GET', '/auth/user-info', undefined, who);
  assert.equal(info.storage.used_bytes + info.storage.reserved_bytes, 0);
  await assertAccessible(page, 'upload panel with a quota error');

  // The server's own refusal (here: someone else filled the room meanwhile) is shown on the file.
  await page.route('**/api/files/upload', (route) => route.fulfill({
    status: 413, contentType: 'application/json',
    body: JSON.stringify({ error: 'This upload is larger than the room left under your storage quota.', code: 'quota_exceeded', details: null }),
  }));
  await pick(page, 'Upload files', [{ name: 'fits.txt', mimeType: 'text/plain', buffer: randomBytes(100) }]);
  await page.locator('.uploads li').filter({ hasText: 'fits.txt' }).getByRole('alert').filter({ hasText: /room left under your storage quota/ }).waitFor();
  await summary(page, /Uploaded 0 files .*1 failed/);
  assert.equal(await page.locator('.uploads > [role=alert]').isHidden(), true, 'the batch error is gone');
  await page.getByRole('button', { name: 'Retry fits.txt' }).waitFor();
  assertNoErrors(page);
  await page.context().close();
});

test('a file that exists: Replace overwrites it, Skip leaves it', { timeout: 120000 }, async () => {
  for (const name of ['dup.txt', 'keep.txt']) {
    const form = new FormData();
    form.append('path', '');
    form.append('files', new Blob(['old']), name);
    const r = await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    assert.equal(r.status, 201);
  }
  const page = await filesPage();
  await pick(page, 'Upload files', [
    { name: 'dup.txt', mimeType: 'text/plain', buffer: Buffer.from('new bytes') },
    { name: 'keep.txt', mimeType: 'text/plain', buffer: Buffer.from('not wanted') },
    { name: 'fresh.txt', mimeType: 'text/plain', buffer: Buffer.from('fresh') },
  ]);
  await summary(page, /Uploaded 1 file .*2 already exist: replace or skip/);
  await page.getByRole('row').filter({ hasText: 'fresh.txt' }).first().waitFor();
  await assertAccessible(page, 'upload panel with conflicts');
  await screenshot(page, 'uploads');
  await page.getByRole('button', { name: 'Replace dup.txt' }).click();
  await page.getByRole('button', { name: 'Skip keep.txt' }).click();
  await summary(page, /Uploaded 2 files .*1 skipped/);
  assert.equal((await bytesOf('dup.txt')).toString(), 'new bytes');
  assert.equal((await bytesOf('keep.txt')).toString(), 'old');
  assert.equal((await bytesOf('fresh.txt')).toString(), 'fresh');
  assertNoErrors(page);
  await page.context().close();
});

test('a dropped folder is read recursively, relative paths kept', { timeout: 120000 }, async () => {
  await server.api('POST', '/files/create-folder', { parent_path: '', folder_name: 'dropped' }, token);
  const page = await filesPage('dropped');
  const zone = page.locator('.drop').first();
  // Something that is not files (a dragged text) is not taken.
  const text = await zone.evaluate((el) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', 'hello');
    const ev = new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true });
    el.dispatchEvent(ev);
    return { over: el.classList.contains('over'), taken: ev.defaultPrevented };
  });
  assert.deepEqual(text, { over: false, taken: false });
  const over = await dropTree(zone, { trip: { 'a.txt': 'A', deep: { 'b.txt': 'BB', 'c.txt': 'CCC', deeper: { 'd.txt': 'DDDD' } } }, 'top.txt': 'top' });
  assert.ok(over, 'the zone shows the drag, and stops showing it on drop');
  await summary(page, /Uploaded 5 files/);
  assert.equal((await bytesOf('dropped/trip/a.txt')).toString(), 'A');
  assert.equal((await bytesOf('dropped/trip/deep/b.txt')).toString(), 'BB');
  assert.equal((await bytesOf('dropped/trip/deep/c.txt')).toString(), 'CCC');
  assert.equal((await bytesOf('dropped/trip/deep/deeper/d.txt')).toString(), 'DDDD');
  assert.equal((await bytesOf('dropped/top.txt')).toString(), 'top');
  assertNoErrors(page);
  await page.context().close();
});

test('sendParts needs the part size, and an aborted signal sends nothing', { timeout: 120000 }, async () => {
  const page = await openPage(browser, server);
  await page.goto('/login');
  /** @type {string[]} */
  const puts = [];
  await page.route('**/part-sink/**', async (route) => {
    puts.push(route.request().url());
    await route.fulfill({ status: 200, headers: { etag: '"e"', 'access-control-expose-headers': 'etag' }, body: '' });
  });
  const result = await page.evaluate(async () => {
    const { sendParts } = await import('/js/parts.js');
    const file = new Blob([new Uint8Array(10)]);
    const parts = [{ part_number: 1, url: '/part-sink/1' }, { part_number: 2, url: '/part-sink/2' }];
    /** @param {Promise<any>} p */
    const outcome = (p) => p.then(() => 'sent', (/** @type {any} */ e) => e.name);
    const ctl = new AbortController();
    ctl.abort();
    return {
      noSize: await outcome(sendParts(file, parts, /** @type {any} */ ({}))),
      aborted: await outcome(sendParts(file, parts, { partSize: 5, signal: ctl.signal })),
      fine: await outcome(sendParts(file, parts, { partSize: 5 })),
    };
  });
  assert.deepEqual(result, { noSize: 'TypeError', aborted: 'AbortError', fine: 'sent' });
  assert.equal(puts.length, 2, 'only the last call sent its parts');
  assertNoErrors(page);
  await page.context().close();
});

/**
 * Holds the first request `pattern` matches after the server answered it, until `release()`.
 * @param {import('playwright-core').Page} page @param {string} pattern
 */
async function holdAnswer(page, pattern) {
  /** @type {() => void} */
  let answered = () => {};
  /** @type {() => void} */
  let release = () => {};
  const reached = new Promise((r) => (answered = () => r(null)));
  const gate = new Promise((r) => (release = () => r(null)));
  let once = false;
  await page.route(pattern, async (route) => {
    if (route.request().method() !== 'POST' || once) return route.continue();
    once = true;
    // The server creates the upload; the page learns of it only after the person cancelled.
    const response = await route.fetch();
    answered();
    await gate;
    await route.fulfill({ response }).catch(() => {});
  });
  return { reached, release };
}

test('cancelling while the upload starts gives its room back', { timeout: 120000 }, async () => {
  const page = await filesPage();
  const { reached, release } = await holdAnswer(page, '**/api/files/uploads');
  await pick(page, 'Upload files', [{ name: 'early.bin', mimeType: 'application/octet-stream', buffer: randomBytes(5 * MiB) }]);
  await reached;
  await page.getByRole('button', { name: 'Cancel early.bin' }).click();
  const aborted = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/api/files/uploads/'));
  release();
  assert.equal((await aborted).status(), 204);
  await summary(page, /1 cancelled/);
  const info = await server.api('GET', '/auth/user-info', undefined, token);
  assert.equal(info.storage.reserved_bytes, 0, 'nothing held');
  assert.equal(await page.evaluate(() => localStorage.getItem('vertex.uploads')), null);
  assertNoErrors(page);
  await page.context().close();
});

test('signing out gives up the unfinished uploads and forgets them', { timeout: 120000 }, async () => {
  const who = await server.user('leaver');
  const me = await server.api('GET', '/auth/profile', undefined, who);
  const up = await server.api('POST', '/files/uploads', { path: 'paused.bin', size: 20 * MiB }, who);
  const page = await filesPage('', 'leaver');
  await page.evaluate((s) => localStorage.setItem('vertex.uploads', JSON.stringify([s])), {
    upload_id: up.upload_id, user: me.id, folder: '', path: 'paused.bin', name: 'paused.bin',
    size: 20 * MiB, lastModified: 1, expires_at: up.upload_expires_at, overwrite: false,
  });
  await page.reload();
  await page.getByRole('button', { name: 'Discard paused.bin' }).waitFor();
  // And one running: its parts never answered.
  /** @type {() => void} */
  let arrived = () => {};
  const held = new Promise((r) => (arrived = () => r(null)));
  await page.route('**/api/files/transfer/**', () => arrived());
  await pick(page, 'Upload files', [{ name: 'running.bin', mimeType: 'application/octet-stream', buffer: randomBytes(5 * MiB) }]);
  await held;
  assert.equal(JSON.parse(await page.evaluate(() => localStorage.getItem('vertex.uploads') || '[]')).length, 2);
  assert.ok((await server.api('GET', '/auth/user-info', undefined, who)).storage.reserved_bytes > 0);
  /** @type {number[]} */
  const deletes = [];
  page.on('response', (r) => {
    if (r.request().method() === 'DELETE' && r.url().includes('/api/files/uploads/')) deletes.push(r.status());
  });
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(/\/login/);
  assert.deepEqual(deletes, [204, 204], 'both given up while still signed in');
  assert.equal(await page.evaluate(() => localStorage.getItem('vertex.uploads')), null, 'nothing left behind');
  const info = await server.api('GET', '/auth/user-info', undefined, who);
  assert.equal(info.storage.reserved_bytes, 0, 'the room is given back');
  assertNoErrors(page);
  await page.context().close();
});

test('an upload link takes a dropped folder; cancelling while it starts gives the room back', { timeout: 120000 }, async () => {
  await server.api('POST', '/files/create-folder', { parent_path: '', folder_name: 'inbox' }, token);
  const id = (await server.api('POST', '/shares', { path: 'inbox', kind: 'upload' }, token)).id;
  const page = await openPage(browser, server);
  await page.goto(`/s/${id}`);
  await page.getByRole('heading', { name: 'Upload files to “inbox”' }).waitFor();
  const zone = page.locator('.drop').first();
  // A dragged text is not taken (no highlight, no flicker).
  const text = await zone.evaluate((el) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', 'hello');
    el.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
    return el.classList.contains('over');
  });
  assert.equal(text, false);
  const over = await dropTree(zone, { album: { 'cover.txt': 'cover', raw: { 'one.txt': 'one!' } } });
  assert.ok(over);
  const uploads = page.getByRole('list', { name: 'Uploads' });
  await uploads.locator('li').filter({ hasText: 'album/raw/one.txt' }).getByText('Uploaded', { exact: true }).waitFor();
  await uploads.locator('li').filter({ hasText: 'album/cover.txt' }).getByText('Uploaded', { exact: true }).waitFor();
  assert.equal((await bytesOf('inbox/album/cover.txt')).toString(), 'cover');
  assert.equal((await bytesOf('inbox/album/raw/one.txt')).toString(), 'one!');

  const { reached, release } = await holdAnswer(page, '**/api/s/*/uploads');
  await page.locator('#visitor-files').setInputFiles([{ name: 'late.bin', mimeType: 'application/octet-stream', buffer: randomBytes(MiB) }]);
  await reached;
  await page.getByRole('button', { name: 'Cancel late.bin' }).click();
  const aborted = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/uploads/'));
  release();
  assert.equal((await aborted).status(), 204);
  await uploads.locator('li').filter({ hasText: 'late.bin' }).getByText('Cancelled').waitFor();
  const info = await server.api('GET', '/auth/user-info', undefined, token);
  assert.equal(info.storage.reserved_bytes, 0, 'nothing held');
  assertNoErrors(page);
  await page.context().close();
});
