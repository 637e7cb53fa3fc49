// The interactive API reference at /api/docs (Swagger UI, vendored from npm as static files):
// it renders every operation of the document the server serves, and "Try it out" calls the same
// server from the page, within the page's Content-Security-Policy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, assertNoErrors, assertAccessible, screenshot } from './harness.mjs';

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

/** (METHOD, path) of every operation of the served OpenAPI document. */
async function servedOperations() {
  const doc = await (await fetch(server.url + '/api/openapi.json')).json();
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(/** @type {object} */ (item)).map((method) => `${method.toUpperCase()} ${path}`));
}

/** Opens the reference and waits for Swagger UI to have rendered the operations. */
async function openReference() {
  const page = await openPage(browser, server);
  const document = page.waitForResponse((r) => r.url() === `${server.url}/api/openapi.json`);
  await page.goto('/api/docs');
  assert.equal((await document).status(), 200);
  await page.locator('.opblock-summary-path[data-path="/api/auth/login"]').first().waitFor();
  return page;
}

test("the reference renders every operation of the server's own document", async () => {
  const page = await openReference();
  assert.equal(await page.title(), 'VertexCloud API reference');
  const rendered = await page.locator('.opblock').evaluateAll((blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '';
      const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '';
      return `${method} ${path}`;
    }));
  const expected = await servedOperations();
  assert.ok(expected.length > 50, `${expected.length} operations`);
  assert.deepEqual([...new Set(rendered)].sort(), [...new Set(expected)].sort());
  for (const op of ['POST /api/auth/login', 'GET /api/files/list', 'POST /api/shares', 'GET /api/s/{id}']) {
    assert.ok(rendered.includes(op), op);
  }
  assertNoErrors(page);
  await page.context().close();
});

test('"Try it out" calls GET /api/health on the same server, within the CSP', async () => {
  const page = await openReference();
  const health = page.locator('.opblock', { has: page.locator('.opblock-summary-path[data-path="/api/health"]') })
    .filter({ has: page.locator('.opblock-summary-method', { hasText: 'GET' }) });
  await health.locator('.opblock-summary-control').click();
  await health.getByRole('button', { name: 'Try it out' }).click();
  const call = page.waitForResponse((r) => r.url() === `${server.url}/api/health` && r.request().method() === 'GET');
  await health.getByRole('button', { name: 'Execute' }).click();
  const answer = await call;
  assert.equal(answer.status(), 200);
  // The answer is shown in the page: its status and body
  const live = health.locator('.live-responses-table');
  await live.locator('.response-col_status', { hasText: '200' }).waitFor();
  await live.locator('.response-col_description', { hasText: '"status"' }).first().waitFor();
  await live.scrollIntoViewIfNeeded();
  await screenshot(page, 'api-docs');
  assertNoErrors(page);
  // axe on Swagger UI: reported, not failed (its own markup, not the app's)
  try {
    await assertAccessible(page, 'api-docs');
    console.log('axe on /api/docs: no serious or critical violation');
  } catch (e) {
    console.log(`axe on /api/docs (Swagger UI's own markup, reported only):\n${/** @type {Error} */ (e).message}`);
  }
  await page.context().close();
});
