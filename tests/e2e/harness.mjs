// The browser tests' shared parts: bounded waits, cleanup that also runs from
// 'exit' and on a watchdog, a throwaway PostgreSQL (scripts/tmp-postgres.sh), the
// real gateway, the demo's own nginx (deploy/demo/nginx.sh, as scripts/run.sh uses
// it), Debian's chromium through playwright-core, and the scenario runner with its
// closing "N passed, N failed" line. browser.test.mjs and turbo.test.mjs use it.
//
// Env: SSE_GATEWAY_BIN (the binary), SSE_GATEWAY_SCRIPTS (scripts/).
import { spawn, execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const SCRIPTS = process.env.SSE_GATEWAY_SCRIPTS || path.join(REPO, 'scripts');
export const DEMO = path.join(REPO, 'deploy', 'demo');
export const SQL = path.join(REPO, 'deploy', 'sql');
const CHROMIUM = '/usr/bin/chromium';
const PSQL = '/usr/bin/psql';
export const WAIT_MS = 15_000;        // the default bound for one awaited thing

export const log = (...args) => console.log('[e2e]', ...args);

// ---- cleanup: synchronous, so it also runs from 'exit' ------------------------------
const cleanups = [];
let cleanedUp = false;
export function onCleanup(fn) { cleanups.push(fn); }
export function cleanupAll() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const fn of cleanups.reverse()) {
    try { fn(); } catch (err) { console.error('[e2e] cleanup:', err.message); }
  }
}

// Cleans up on exit and on SIGINT/SIGTERM, and gives up (diagnostics, cleanup, exit 1)
// after watchdogMs: well inside ctest's TIMEOUT.
export function guard(watchdogMs, diagnostics) {
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => { console.error(`[e2e] ${sig}: cleaning up`); cleanupAll(); process.exit(1); });
  }
  const watchdog = setTimeout(() => {
    console.error(`[e2e] watchdog: still running after ${watchdogMs / 1000}s, giving up`);
    diagnostics();
    cleanupAll();
    process.exit(1);
  }, watchdogMs);
  watchdog.unref();
}

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function run(file, args, { timeout = 60_000, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout, env: env || process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(predicate, what, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await predicate();
    if (last) return last;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeout / 1000}s waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// ---- PostgreSQL -------------------------------------------------------------------------
export class Postgres {
  async start() {
    // Its own top-level temp dir: tmp-postgres.sh hands it to the postgres user.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-gw-e2e-pg-'));
    cleanups.push(() => this.stopSync());
    this.url = (await run('bash', [path.join(SCRIPTS, 'tmp-postgres.sh'), 'start', this.dir], { timeout: 120_000 })).trim();
    return this;
  }
  stopSync() {
    if (!this.dir) return;
    execFileSync('bash', [path.join(SCRIPTS, 'tmp-postgres.sh'), 'stop', this.dir], { timeout: 60_000, stdio: 'ignore' });
    this.dir = null;
  }
  psql(args) {
    const env = { ...process.env, PGOPTIONS: '-c client_min_messages=warning' };
    return run(PSQL, [this.url, '-v', 'ON_ERROR_STOP=1', '-qAt', ...args], { timeout: 30_000, env });
  }
  sql(statement) { return this.psql(['-c', statement]); }
  setStatus(user, status) { return this.sql(`UPDATE users SET authy_status = '${status}' WHERE id = ${Number(user)}`); }
}

// A throwaway cluster with the reference app's users table and its NOTIFY trigger.
export async function demoDatabase() {
  const pg = await new Postgres().start();
  await pg.psql(['-f', path.join(SQL, 'demo_users.sql'), '-f', path.join(SQL, 'authy_status_notify.sql')]);
  return pg;
}

// ---- the gateway ------------------------------------------------------------------------
function gatewayBin() {
  const bin = process.env.SSE_GATEWAY_BIN;
  if (!bin) throw new Error('SSE_GATEWAY_BIN must name the built sse-gateway binary');
  fs.accessSync(bin, fs.constants.X_OK);
  return bin;
}

// The real binary on `listen` with `args` (besides the listener, the database and a
// 1 s drain), in an environment without SSE_GATEWAY_*, PG* or DATABASE_URL.
export class Gateway {
  constructor(dbUrl, listen, args = []) {
    this.dbUrl = dbUrl;
    this.listen = listen;
    this.args = args;
    this.lines = [];
    this.port = null;
    this.exitCode = undefined;
  }
  start() {
    const env = Object.fromEntries(Object.entries(process.env).filter(
      ([k]) => !k.startsWith('SSE_GATEWAY_') && !k.startsWith('PG') && k !== 'DATABASE_URL'));
    const args = ['--listen', this.listen, '--database-url', this.dbUrl, '--drain-seconds', '1', ...this.args];
    // setpriv: the gateway dies with this process even if it is SIGKILLed.
    const [file, argv] = fs.existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', gatewayBin(), ...args]]
      : [gatewayBin(), args];
    this.proc = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => {
      this.exitCode = code ?? sig;
      resolve(this.exitCode);
    }));
    for (const [stream, tag] of [[this.proc.stdout, ''], [this.proc.stderr, 'stderr: ']]) {
      let buf = '';
      stream.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) { this.lines.push(tag + buf.slice(0, i)); buf = buf.slice(i + 1); }
      });
    }
    cleanups.push(() => { if (this.exitCode === undefined) this.proc.kill('SIGKILL'); });
    return this;
  }
  logs() {
    return this.lines.flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
  }
  async waitListening() {
    const line = await waitFor(() => this.exitCode !== undefined ? 'exited'
      : this.logs().find((l) => l.msg === 'listening' && l.port), 'the gateway\'s "listening" line');
    if (line === 'exited') throw new Error(`gateway exited (${this.exitCode}):\n${this.tail()}`);
    this.port = line.port;
    return this;
  }
  async stop(timeout = WAIT_MS) {
    this.proc.kill('SIGTERM');
    const code = await Promise.race([this.exited, sleep(timeout).then(() => 'timeout')]);
    if (code !== 0) throw new Error(`gateway exit after SIGTERM: ${code}\n${this.tail()}`);
  }
  sanitizerReport() {
    return this.lines.some((l) => /AddressSanitizer|LeakSanitizer|runtime error:/.test(l)) ? this.tail(60) : null;
  }
  tail(n = 20) { return this.lines.slice(-n).join('\n'); }
}

// ---- nginx (the demo's own script, as scripts/run.sh uses it) ---------------------------
export class Nginx {
  // extra: nothing, or [signed stream name, stream name] for the Turbo page.
  async start(gatewayPort, secret, extra = []) {
    this.dir = tempDir('sse-gw-e2e-nginx-');
    cleanups.push(() => this.stopSync());
    this.url = (await run('bash', [path.join(DEMO, 'nginx.sh'), 'start', this.dir, '0', String(gatewayPort), secret, ...extra])).trim();
    this.port = Number(new URL(this.url).port);
    return this;
  }
  stopSync() {
    if (!this.dir) return;
    execFileSync('bash', [path.join(DEMO, 'nginx.sh'), 'stop', this.dir], { timeout: 30_000, stdio: 'ignore' });
    this.dir = null;
  }
  errorLog() {
    try { return fs.readFileSync(path.join(this.dir, 'error.log'), 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; }
  }
}

// A plain HTTP GET through nginx: (status, first bytes of the body).
export function httpGet(port, urlPath, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; if (body.length > 200) req.destroy(); });
      res.on('end', () => resolve([res.statusCode, body]));
      res.on('close', () => resolve([res.statusCode, body]));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: no answer within 5s`)));
    req.on('error', reject);
  });
}

// ---- the browser --------------------------------------------------------------------------
// Debian's chromium, headless, killed on cleanup.
export async function launchChromium() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    // Playwright gives each launch a new empty profile (--user-data-dir) of its own.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-quic', '--disable-sync',
      '--disable-dev-shm-usage'],   // containers' /dev/shm is often 64 MB
  });
  cleanups.push(() => { try { browser.process()?.kill('SIGKILL'); } catch { /* already gone */ } });
  log(`chromium ${browser.version()}`);
  return browser;
}

// Every page opened through newPage(), with its console, for the diagnostics.
export const pages = [];

// A new page in a context of its own (its own cookies), with initScript run before
// the page's own scripts.
export async function newPage(browser, label, initScript) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  pages.push({ label, page, consoleLines });
  return page;
}

// What a failure prints: the tails of the gateway's log and nginx's error log (each
// as its getter finds it then), and every page's console.
export function diagnosticsOf(gateway, nginx) {
  return () => {
    if (gateway()) console.error(`--- gateway log tail ---\n${gateway().tail()}`);
    if (nginx()) console.error(`--- nginx error.log tail ---\n${nginx().errorLog()}`);
    for (const { label, consoleLines } of pages) {
      if (consoleLines.length) console.error(`--- console of ${label} ---\n${consoleLines.slice(-10).join('\n')}`);
    }
  };
}

// ---- the OneTouch page ------------------------------------------------------------------
// Records what each page's EventSource does, without changing the page's own code.
// The record lives in sessionStorage too, so it is still readable after the page has
// gone on to /account.
const INSTRUMENT = `(() => {
  const Native = window.EventSource;
  const rec = window.__sse = JSON.parse(sessionStorage.getItem('__sse') || 'null')
    || { created: 0, opens: 0, errors: 0, events: [] };
  const save = () => sessionStorage.setItem('__sse', JSON.stringify(rec));
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      rec.created++;
      save();
      this.addEventListener('open', () => { rec.opens++; save(); });
      this.addEventListener('error', () => { rec.errors++; save(); });
      this.addEventListener('authy_status', (e) => { rec.events.push(JSON.parse(e.data).status); save(); });
    }
  };
})();`;

// The demo login page, logged in as `user`, waiting for OneTouch: returns once the
// snapshot ('unverified') has arrived, which is only after the gateway's LISTEN is
// confirmed: from then on every committed update reaches the page.
export async function loginPage(browser, baseUrl, user) {
  const page = await newPage(browser, `user ${user}'s page`, INSTRUMENT);
  await page.goto(baseUrl);
  await page.fill('#user-id', String(user));
  await page.click('#login');
  await page.waitForFunction(() => window.__sse && window.__sse.events.length > 0, null, { timeout: WAIT_MS });
  return page;
}

// What the page's EventSource has seen: { created, opens, errors, events }.
export const sse = (page) => page.evaluate(() => window.__sse);

// A temp dir for screenshots, unless SSE_GATEWAY_ARTIFACTS names one.
export function artifactsDir() {
  const dir = process.env.SSE_GATEWAY_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'sse-gw-e2e-artifacts-'));
  fs.mkdirSync(dir, { recursive: true });
  log(`screenshots go to ${dir}`);
  return dir;
}

// ---- the scenarios --------------------------------------------------------------------------
export const results = [];
export async function scenario(name, fn, diagnostics) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    log(`ok - ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (err) {
    results.push([name, false]);
    log(`not ok - ${name}\n${err.stack || err}`);
    diagnostics();
  }
}

// Runs main(), then closes the browser, fails on a sanitizer report of the gateways,
// stops those still running (each must exit 0 on SIGTERM), cleans up, prints the
// closing line and exits.
export async function finish(main, { diagnostics, browser, gateways, artifacts }) {
  try {
    await main();
  } catch (err) {
    console.error(`[e2e] setup failed: ${err.stack || err}`);
    diagnostics();
    results.push(['setup', false]);
  } finally {
    const b = browser();
    if (b) await Promise.race([b.close().catch(() => {}), sleep(10_000)]);
    for (const gw of gateways()) {
      if (gw && gw.sanitizerReport()) {
        results.push(['the gateway ran without sanitizer reports', false]);
        console.error(gw.sanitizerReport());
      }
      if (gw && gw.exitCode === undefined) {
        await gw.stop().catch((e) => { results.push(['gateway exits 0 on SIGTERM', false]); console.error(e.message); });
      }
    }
    cleanupAll();
  }
  const failed = results.filter(([, ok]) => !ok).length;
  if (artifacts()) log(`screenshots: ${artifacts()}`);
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
