// Browser end to end: a throwaway PostgreSQL with the reference app's users table and
// the NOTIFY trigger, the real sse-gateway, Debian's nginx serving the demo login page
// (deploy/demo/) and proxying the stream route, and Debian's chromium driven by
// playwright-core. Every wait is bounded; a watchdog ends the run well inside ctest's
// timeout; every process and temp dir is cleaned up on the way out.
//
// Env: SSE_GATEWAY_BIN (the binary), SSE_GATEWAY_SCRIPTS (scripts/), and
// SSE_GATEWAY_ARTIFACTS (where screenshots go; default: a new temp dir, printed).
import crypto from 'node:crypto';
import path from 'node:path';
import {
  WAIT_MS, Gateway, Nginx, demoDatabase, artifactsDir, diagnosticsOf, finish, guard, httpGet, launchChromium,
  log, loginPage, scenario as runScenario, sleep, sse, waitFor,
} from './harness.mjs';

const SECRET = 'e2e-secret-6a1f0c9d-0123456789abcdef01';
const JWT_SECRET = 'e2e-jwt-secret-3b7e91c2d4a6f058c0ffee1234';
const SNAPSHOT_SQL = 'SELECT authy_status FROM users WHERE id = $1';
const WATCHDOG_MS = 240_000;   // ctest's TIMEOUT is 300 s
// The single route of the flags: proxy-header identity and the users snapshot.
const AUTHY_ARGS = ['--proxy-secret', SECRET, '--snapshot-sql', SNAPSHOT_SQL];

guard(WATCHDOG_MS, () => dumpDiagnostics());

// An HS256 JWT, signed here with Node's crypto (not by the gateway's code).
function hs256(claims, secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// ---- the scenarios --------------------------------------------------------------------------
const scenario = (name, fn) => runScenario(name, fn, dumpDiagnostics);

let browser, pg, gateway, nginx, artifacts;

const dumpDiagnostics = diagnosticsOf(() => gateway, () => nginx);

async function main() {
  artifacts = artifactsDir();

  pg = await demoDatabase();
  gateway = await new Gateway(pg.url, '127.0.0.1:0', AUTHY_ARGS).start().waitListening();
  nginx = await new Nginx().start(gateway.port, SECRET);
  log(`postgres ${pg.url}, gateway :${gateway.port}, nginx ${nginx.url}`);

  browser = await launchChromium();

  await scenario('approval written to the users row takes the waiting page to /account', async () => {
    const page = await loginPage(browser, nginx.url, 101);
    if (!(await page.isVisible('#onetouch-modal'))) throw new Error('the waiting modal is not shown');
    await page.screenshot({ path: path.join(artifacts, '1-waiting.png') });
    await pg.setStatus(101, 'approved');
    await page.waitForURL('**/account', { timeout: WAIT_MS });
    await page.waitForSelector('#account-title');
    await page.screenshot({ path: path.join(artifacts, '2-approved.png') });
  });

  await scenario('denial shows the SMS token form and keeps the page', async () => {
    const page = await loginPage(browser, nginx.url, 102);
    await pg.setStatus(102, 'denied');
    await page.waitForSelector('#token-form', { state: 'visible', timeout: WAIT_MS });
    if (await page.isVisible('#onetouch-modal')) throw new Error('the waiting modal is still shown');
    if (new URL(page.url()).pathname !== '/') throw new Error(`page left for ${page.url()}`);
    await page.screenshot({ path: path.join(artifacts, '3-denied.png') });
  });

  await scenario("a page never gets another user's event (two pages, two users)", async () => {
    const a = await loginPage(browser, nginx.url, 103);
    const b = await loginPage(browser, nginx.url, 104);
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
    const page = await loginPage(browser, nginx.url, 106);
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
    gateway = await new Gateway(pg.url, `127.0.0.1:${port}`, AUTHY_ARGS).start().waitListening();
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
      [...AUTHY_ARGS, '--auth', 'jwt', '--jwt-secret', JWT_SECRET, '--jwt-leeway', '0']).start().waitListening();
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
}

await finish(main, {
  diagnostics: dumpDiagnostics,
  browser: () => browser,
  gateways: () => [gateway],
  artifacts: () => artifacts,
});
