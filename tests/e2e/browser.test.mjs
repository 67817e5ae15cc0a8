// Browser end to end: a throwaway PostgreSQL with the reference app's users table and
// the NOTIFY trigger, the real sse-gateway, Debian's nginx serving the demo login page
// (deploy/demo/) and proxying the stream route, and Debian's chromium driven by
// playwright-core. Every wait is bounded; a watchdog ends the run well inside ctest's
// timeout; every process and temp dir is cleaned up on the way out.
//
// Env: SSE_GATEWAY_BIN (the binary), SSE_GATEWAY_SCRIPTS (scripts/), and
// SSE_GATEWAY_ARTIFACTS (where screenshots go; default: a new temp dir, printed).
import { spawn, execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SCRIPTS = process.env.SSE_GATEWAY_SCRIPTS || path.join(REPO, 'scripts');
const DEMO = path.join(REPO, 'deploy', 'demo');
const SQL = path.join(REPO, 'deploy', 'sql');
const CHROMIUM = '/usr/bin/chromium';
const PSQL = '/usr/bin/psql';
const SECRET = 'e2e-secret-6a1f0c9d-0123456789abcdef01';
const JWT_SECRET = 'e2e-jwt-secret-3b7e91c2d4a6f058c0ffee1234';
const SNAPSHOT_SQL = 'SELECT authy_status FROM users WHERE id = $1';
const WATCHDOG_MS = 240_000;   // ctest's TIMEOUT is 300 s
const WAIT_MS = 15_000;        // the default bound for one awaited thing

const log = (...args) => console.log('[e2e]', ...args);

// ---- cleanup: synchronous, so it also runs from 'exit' ------------------------------
const cleanups = [];
let cleanedUp = false;
function cleanupAll() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const fn of cleanups.reverse()) {
    try { fn(); } catch (err) { console.error('[e2e] cleanup:', err.message); }
  }
}
process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { console.error(`[e2e] ${sig}: cleaning up`); cleanupAll(); process.exit(1); });
}
const watchdog = setTimeout(() => {
  console.error(`[e2e] watchdog: still running after ${WATCHDOG_MS / 1000}s, giving up`);
  dumpDiagnostics();
  cleanupAll();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function run(file, args, { timeout = 60_000, env } = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout, env: env || process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(predicate, what, timeout = WAIT_MS) {
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
class Postgres {
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

// ---- the gateway ------------------------------------------------------------------------
function gatewayBin() {
  const bin = process.env.SSE_GATEWAY_BIN;
  if (!bin) throw new Error('SSE_GATEWAY_BIN must name the built sse-gateway binary');
  fs.accessSync(bin, fs.constants.X_OK);
  return bin;
}

// An HS256 JWT, signed here with Node's crypto (not by the gateway's code).
function hs256(claims, secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

class Gateway {
  constructor(dbUrl, listen, extraArgs = []) {
    this.dbUrl = dbUrl;
    this.listen = listen;
    this.extraArgs = extraArgs;
    this.lines = [];
    this.port = null;
    this.exitCode = undefined;
  }
  start() {
    const env = Object.fromEntries(Object.entries(process.env).filter(
      ([k]) => !k.startsWith('SSE_GATEWAY_') && !k.startsWith('PG') && k !== 'DATABASE_URL'));
    const args = ['--listen', this.listen, '--database-url', this.dbUrl, '--proxy-secret', SECRET,
      '--snapshot-sql', SNAPSHOT_SQL, '--drain-seconds', '1', ...this.extraArgs];
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
class Nginx {
  async start(gatewayPort) {
    this.dir = tempDir('sse-gw-e2e-nginx-');
    cleanups.push(() => this.stopSync());
    this.url = (await run('bash', [path.join(DEMO, 'nginx.sh'), 'start', this.dir, '0', String(gatewayPort), SECRET])).trim();
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
function httpGet(port, urlPath, headers) {
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

let browser;
const pages = [];

async function loginPage(baseUrl, user) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  await context.addInitScript(INSTRUMENT);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  pages.push({ user, page, consoleLines });
  await page.goto(baseUrl);
  await page.fill('#user-id', String(user));
  await page.click('#login');
  // The snapshot ('unverified') arrives only after the gateway's LISTEN is confirmed:
  // from here on every committed update reaches this page.
  await page.waitForFunction(() => window.__sse && window.__sse.events.length > 0, null, { timeout: WAIT_MS });
  return page;
}

const sse = (page) => page.evaluate(() => window.__sse);

// ---- the scenarios --------------------------------------------------------------------------
const results = [];
async function scenario(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    log(`ok - ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (err) {
    results.push([name, false]);
    log(`not ok - ${name}\n${err.stack || err}`);
    dumpDiagnostics();
  }
}

let pg;
let gateway;
let nginx;
let artifacts;

function dumpDiagnostics() {
  if (gateway) console.error(`--- gateway log tail ---\n${gateway.tail()}`);
  if (nginx) console.error(`--- nginx error.log tail ---\n${nginx.errorLog()}`);
  for (const { user, consoleLines } of pages) {
    if (consoleLines.length) console.error(`--- console of user ${user}'s page ---\n${consoleLines.slice(-10).join('\n')}`);
  }
}

async function main() {
  artifacts = process.env.SSE_GATEWAY_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'sse-gw-e2e-artifacts-'));
  fs.mkdirSync(artifacts, { recursive: true });
  log(`screenshots go to ${artifacts}`);

  pg = await new Postgres().start();
  await pg.psql(['-f', path.join(SQL, 'demo_users.sql'), '-f', path.join(SQL, 'authy_status_notify.sql')]);
  gateway = await new Gateway(pg.url, '127.0.0.1:0').start().waitListening();
  nginx = await new Nginx().start(gateway.port);
  log(`postgres ${pg.url}, gateway :${gateway.port}, nginx ${nginx.url}`);

  browser = await chromium.launch({
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

  await scenario('approval written to the users row takes the waiting page to /account', async () => {
    const page = await loginPage(nginx.url, 101);
    if (!(await page.isVisible('#onetouch-modal'))) throw new Error('the waiting modal is not shown');
    await page.screenshot({ path: path.join(artifacts, '1-waiting.png') });
    await pg.setStatus(101, 'approved');
    await page.waitForURL('**/account', { timeout: WAIT_MS });
    await page.waitForSelector('#account-title');
    await page.screenshot({ path: path.join(artifacts, '2-approved.png') });
  });

  await scenario('denial shows the SMS token form and keeps the page', async () => {
    const page = await loginPage(nginx.url, 102);
    await pg.setStatus(102, 'denied');
    await page.waitForSelector('#token-form', { state: 'visible', timeout: WAIT_MS });
    if (await page.isVisible('#onetouch-modal')) throw new Error('the waiting modal is still shown');
    if (new URL(page.url()).pathname !== '/') throw new Error(`page left for ${page.url()}`);
    await page.screenshot({ path: path.join(artifacts, '3-denied.png') });
  });

  await scenario("a page never gets another user's event (two pages, two users)", async () => {
    const a = await loginPage(nginx.url, 103);
    const b = await loginPage(nginx.url, 104);
    await pg.setStatus(104, 'approved');
    await b.waitForURL('**/account', { timeout: WAIT_MS });
    await pg.setStatus(104, 'denied');   // more traffic on user 104's channel
    await sleep(1500);                   // were it misrouted, it would have arrived by now
    const seen = (await sse(a)).events;
    if (JSON.stringify(seen) !== '["unverified"]') throw new Error(`user 103's page got ${JSON.stringify(seen)}`);
    if (new URL(a.url()).pathname !== '/') throw new Error(`user 103's page left for ${a.url()}`);
    // Its own approval still arrives.
    await pg.setStatus(103, 'approved');
    await a.waitForURL('**/account', { timeout: WAIT_MS });
  });

  await scenario('a request naming a user in its own headers gets no stream through nginx', async () => {
    const [status, body] = await httpGet(nginx.port, '/authy/live_status',
      { 'X-User-Id': '105', 'X-Gateway-Secret': SECRET, Accept: 'text/event-stream' });
    if (status !== 401) throw new Error(`expected 401, got ${status}: ${body}`);
  });

  await scenario('the browser reconnects by itself across a gateway restart and still gets the approval', async () => {
    const page = await loginPage(nginx.url, 106);
    const before = await sse(page);
    const port = gateway.port;
    await gateway.stop();
    log(`gateway stopped (drained); approving user 106 while it is down`);
    // Nobody listens now: the NOTIFY is lost, the row keeps the truth.
    await pg.setStatus(106, 'approved');
    if (gateway.sanitizerReport()) throw new Error(`sanitizer report:\n${gateway.sanitizerReport()}`);
    // The drain ends the stream (one 'error': the browser reconnects); with the gateway
    // gone, nginx answers that reconnect with its empty "retry later" stream (a second
    // 'error' as it ends). A browser that gave up would stay at one.
    await waitFor(async () => (await sse(page)).errors >= before.errors + 2,
      "the page to reconnect into nginx's retry-later answer while the gateway is down");
    gateway = await new Gateway(pg.url, `127.0.0.1:${port}`).start().waitListening();
    log(`gateway restarted on :${port}`);
    await page.waitForURL('**/account', { timeout: 30_000 });
    const after = await sse(page);
    if (after.created !== 1) throw new Error(`the page made ${after.created} EventSources (expected the browser to reconnect the one)`);
    if (after.opens < before.opens + 2) throw new Error(`only ${after.opens} stream opens: no reconnect seen`);
    log(`user 106's EventSource: ${after.opens} opens, ${after.errors} errors, events ${JSON.stringify(after.events)}`);
  });

  await scenario("at its token's exp the stream ends with an 'expired' event and the browser stops", async () => {
    // A second gateway in JWT mode, and a page on its own origin (its /healthz), so the
    // EventSource is same-origin and carries the token in its URL.
    const jwtGateway = await new Gateway(pg.url, '127.0.0.1:0',
      ['--auth', 'jwt', '--jwt-secret', JWT_SECRET, '--jwt-leeway', '0']).start().waitListening();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${jwtGateway.port}/healthz`);
      const exp = Math.floor(Date.now() / 1000) + 3;
      const url = `/authy/live_status?access_token=${hs256({ sub: '107', exp }, JWT_SECRET)}`;
      await page.evaluate((u) => {
        const rec = window.__jwt = { opens: 0, errors: 0, statuses: [], expired: [] };
        const es = window.__es = new EventSource(u);
        es.addEventListener('open', () => { rec.opens++; });
        es.addEventListener('error', () => { rec.errors++; });
        es.addEventListener('authy_status', (e) => { rec.statuses.push(JSON.parse(e.data).status); });
        es.addEventListener('expired', (e) => { rec.expired.push({ at: Date.now(), data: JSON.parse(e.data) }); });
      }, url);
      await waitFor(async () => (await page.evaluate(() => window.__jwt.statuses.length)) > 0, 'the snapshot event');
      // The stream ends at exp; the browser reconnects with the same URL (the retry
      // hint is 2 s), gets 401, and gives up: readyState CLOSED (2).
      await waitFor(async () => (await page.evaluate(() => window.__es.readyState)) === 2,
        'the EventSource to be CLOSED', 20_000);
      const rec = await page.evaluate(() => window.__jwt);
      if (rec.expired.length !== 1) throw new Error(`expected one 'expired' event, got ${JSON.stringify(rec)}`);
      if (rec.expired[0].data.error !== 'credentials_expired') throw new Error(`expired event: ${JSON.stringify(rec.expired[0])}`);
      if (rec.expired[0].at < exp * 1000) throw new Error(`the stream ended ${exp * 1000 - rec.expired[0].at} ms before exp`);
      if (rec.opens !== 1) throw new Error(`the stream opened ${rec.opens} times: the reconnect with an expired token got through`);
      log(`user 107's EventSource: ${JSON.stringify(rec)}`);
      if (jwtGateway.sanitizerReport()) throw new Error(`sanitizer report:\n${jwtGateway.sanitizerReport()}`);
    } finally {
      await context.close();
      await jwtGateway.stop();
    }
  });

  if (gateway.sanitizerReport()) {
    results.push(['the gateway ran without sanitizer reports', false]);
    console.error(gateway.sanitizerReport());
  }
}

try {
  await main();
} catch (err) {
  console.error(`[e2e] setup failed: ${err.stack || err}`);
  dumpDiagnostics();
  results.push(['setup', false]);
} finally {
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(10_000)]);
  if (gateway && gateway.exitCode === undefined) await gateway.stop().catch((e) => { results.push(['gateway exits 0 on SIGTERM', false]); console.error(e.message); });
  cleanupAll();
}

const failed = results.filter(([, ok]) => !ok).length;
log(`screenshots: ${artifacts}`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
