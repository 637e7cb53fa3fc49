// What every browser test shares: a local server of its own (embedded backend, a fresh data
// directory, a superuser), Debian's Chromium driven by playwright-core, the axe-core check and
// the screenshots the README shows. `scripts/web-test.sh` builds the server and installs the rest.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
export const BIN = process.env.VERTEX_WEB_BIN || join(ROOT, 'target', 'debug', 'vertexcloud');
export const CHROMIUM = process.env.VERTEX_CHROMIUM || '/usr/bin/chromium';
export const ADMIN = { username: 'admin', email: 'admin@example.com', password: 'correct horse battery staple' };
export const PASSWORD = 'a long enough passphrase';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/**
 * A server of this test's own on a free port, with a superuser (`ADMIN`).
 * @param {Record<string, string>} [env] extra `VERTEX_*` settings
 */
export async function startServer(env = {}) {
  const data = mkdtempSync(join(tmpdir(), 'vertex-web-'));
  const port = await freePort();
  const fullEnv = {
    ...process.env,
    RUST_LOG: 'warn',
    VERTEX_PASSWORD_COST: 'minimal',
    VERTEX_DATA_DIR: data,
    VERTEX_ADDR: `127.0.0.1:${port}`,
    ...env,
  };
  const made = spawnSync(BIN, ['create-superuser', '--username', ADMIN.username, '--email', ADMIN.email, '--password-stdin'],
    { env: fullEnv, input: ADMIN.password + '\n' });
  assert.equal(made.status, 0, `create-superuser: ${made.stderr}`);
  const proc = spawn(BIN, ['serve'], { env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/api/health`)).ok) break;
    } catch {
      // not up yet
    }
    if (i > 300 || proc.exitCode !== null) throw new Error(`server did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    data,
    log: () => log,
    /** JSON API call as `token`'s holder. @param {string} method @param {string} path @param {any} [body] @param {string} [token] */
    async api(method, path, body, token) {
      const r = await fetch(url + '/api' + path, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      const json = text ? JSON.parse(text) : null;
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return json;
    },
    /** Registers `username` (password `PASSWORD`) and returns an access token. @param {string} username */
    async user(username) {
      await this.api('POST', '/auth/register', { username, email: `${username}@example.com`, password: PASSWORD, password2: PASSWORD });
      return (await this.api('POST', '/auth/login', { username, password: PASSWORD })).access;
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium, with the flags this machine's closed network needs. */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/**
 * A page on `server` that fails the test on any script error or CSP violation.
 * @param {import('playwright-core').Browser} browser @param {{url: string}} server
 */
export async function openPage(browser, server) {
  const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  /** @type {string[]} */
  const errors = [];
  // CSP violations as the page's own `securitypolicyviolation` events (the console's wording is
  // not a contract), reported to the test through a binding.
  await context.exposeBinding('__vertexCspViolation', (_source, /** @type {string} */ text) => errors.push(`csp: ${text}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      // @ts-ignore the binding above
      window.__vertexCspViolation(`${e.violatedDirective}: ${e.blockedURI || 'inline'} (${e.sourceFile || '?'}:${e.lineNumber})`);
    });
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  // @ts-ignore a place for the checks below
  page.errors = errors;
  return page;
}

/**
 * No script error and no CSP violation so far on `page` (`securitypolicyviolation` events, and
 * any violation the console reported).
 * @param {any} page
 */
export function assertNoErrors(page) {
  assert.deepEqual(page.errors, [], 'errors in the page');
}

/** Signs in through the form. @param {import('playwright-core').Page} page */
export async function signIn(page, username = ADMIN.username, password = ADMIN.password) {
  await page.goto('/login');
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/files\//);
}

const AXE = readFileSync(join(HERE, '..', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * axe-core on the page as it is: no serious or critical violation (WCAG 2.1 A/AA rules).
 * Injected through the DevTools protocol, which the page's CSP does not govern.
 * @param {import('playwright-core').Page} page @param {string} screen
 */
export async function assertAccessible(page, screen) {
  await page.evaluate(AXE + '\n;0');
  const violations = await page.evaluate(async () => {
    // @ts-ignore axe is the injected global
    const r = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] });
    return r.violations
      .filter((/** @type {any} */ v) => v.impact === 'serious' || v.impact === 'critical')
      .map((/** @type {any} */ v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((/** @type {any} */ n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  assert.deepEqual(violations, [], `axe on ${screen}`);
}

/** Saves the README's screenshot `name` (web/screenshots/<name>.png). @param {import('playwright-core').Page} page @param {string} name */
export async function screenshot(page, name) {
  mkdirSync(join(HERE, '..', 'screenshots'), { recursive: true });
  await page.screenshot({ path: join(HERE, '..', 'screenshots', `${name}.png`) });
}
