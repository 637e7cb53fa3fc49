// Driver of benches/web.sh: medians over runs of the app's first screens (see there).
import { startServer, launch, signIn } from '../web/tests/harness.mjs';

const runs = Number(process.argv[2] || 7);
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// A release-like build refuses the test suites' minimal password cost.
const server = await startServer({ VERTEX_PASSWORD_COST: 'standard' });
const browser = await launch();
const token = await server.user('bench');
const form = new FormData();
for (let i = 0; i < 100; i++) form.append('files', new Blob([`file ${i}\n`]), `file${String(i).padStart(3, '0')}.txt`);
await fetch(`${server.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });

/** Milliseconds from navigation start until `selector` is on the page (and enabled). */
async function until(page, url, selector, reload = false) {
  if (reload) await page.reload();
  else await page.goto(url);
  await page.locator(selector).first().waitFor();
  return page.evaluate(() => performance.now());
}

const cold = [], warm = [], files = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ baseURL: server.url });
  const page = await context.newPage();
  cold.push(await until(page, '/login', 'form input:enabled'));
  warm.push(await until(page, '/login', 'form input:enabled', true));
  await signIn(page, 'bench', 'a long enough passphrase');
  files.push(await until(page, '/files/', 'text=file099.txt', true));
  await context.close();
}
const line = (/** @type {string} */ what, /** @type {number[]} */ xs) =>
  console.log(`${what}: median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}; ${runs} runs)`);
line('sign-in page, empty cache → form ready', cold);
line('sign-in page, reload (revalidated) → form ready', warm);
line('/files/ reload, signed in → 100-file listing shown', files);
await browser.close();
await server.stop();
