// Turbo Streams end to end (issue 20, section 4): a throwaway PostgreSQL, the real
// sse-gateway running the demo's --config of two routes (deploy/demo/turbo_demo.py
// config, as scripts/run.sh runs it), Debian's nginx serving both demo pages
// (deploy/demo/nginx.sh), and Debian's chromium driven by playwright-core. The Turbo
// page loads real @hotwired/turbo (deploy/demo/setup.sh, the e2e.setup fixture) and
// its <turbo-stream-source> carries a signed stream name made by real ActiveSupport
// (Debian's ruby-activesupport). The NOTIFY is the one Rails' PostgreSQL Action Cable
// adapter sends, and it is checked to be the line scripts/run.sh prints.
//
// Env: SSE_GATEWAY_BIN (the binary), SSE_GATEWAY_SCRIPTS (scripts/), and
// SSE_GATEWAY_ARTIFACTS (where screenshots go; default: a new temp dir, printed).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  DEMO, WAIT_MS, Gateway, Nginx, demoDatabase, artifactsDir, diagnosticsOf, finish, guard, httpGet,
  launchChromium, log, loginPage, newPage, run, scenario as runScenario, sleep, tempDir, waitFor,
} from './harness.mjs';

const SECRET = 'e2e-secret-6a1f0c9d-0123456789abcdef01';   // the OneTouch route's proxy secret
const PREFIX = 'sse_gateway_demo';                        // as scripts/run.sh: cable.yml's channel_prefix
const STREAM = 'messages';                                 // turbo_stream_from "messages"
const WATCHDOG_MS = 240_000;                               // ctest's TIMEOUT is 300 s
const TURBO_DEMO = path.join(DEMO, 'turbo_demo.py');
const PYTHON = '/usr/bin/python3';

guard(WATCHDOG_MS, () => dumpDiagnostics());

const turboStream = (text) =>
  `<turbo-stream action="append" target="messages"><template><p class="broadcast">${text}</p></template></turbo-stream>`;

// What real Rails code makes of it, with Debian's ruby-activesupport:
// Turbo.signed_stream_verifier.generate(name) for an app's secret_key_base (Rails 7's
// SHA256 key generator, as fixtures in tests/support/make_turbo_fixtures.sh), the same
// for another app's secret (a forged name), and the statement the PostgreSQL adapter
// runs for ActionCable.server.broadcast(name, html): channel_with_prefix, then
// channel_identifier, then NOTIFY with escape_identifier and escape_string.
const RUBY = `
require "json"
require "openssl"
require "active_support"
require "active_support/json"
require "active_support/message_verifier"
base, other, prefix, name, html = ARGV
verifier = lambda do |secret|
  key = OpenSSL::PKCS5.pbkdf2_hmac(secret, "turbo/signed_stream_verifier_key", 1000, 64, OpenSSL::Digest::SHA256.new)
  ActiveSupport::MessageVerifier.new(key, digest: "SHA256", serializer: JSON)
end
channel = [prefix, name].compact.join(":")
channel = OpenSSL::Digest::SHA1.hexdigest(channel) if channel.size > 63
payload = ActiveSupport::JSON.encode(html)
sql = "NOTIFY \\"#{channel.gsub('"', '""')}\\", '#{payload.gsub("'", "''")}'"
puts JSON.generate({ "signed" => verifier.(base).generate(name), "forged" => verifier.(other).generate(name),
                     "sql" => sql, "payload" => payload, "version" => ActiveSupport::VERSION::STRING })
`;

async function rails(base, other, html) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(RUBYOPT|RUBYLIB|GEM_HOME|GEM_PATH)$/.test(k)));
  return JSON.parse(await run('/usr/bin/ruby', ['-e', RUBY, base, other, PREFIX, STREAM, html], { env }));
}

// scripts/run.sh's printed broadcast line, for a psql command.
async function runShLine(psqlCommand, html) {
  return (await run(PYTHON, [TURBO_DEMO, 'psql-line', psqlCommand, PREFIX, STREAM, html])).trim();
}

// Records each EventSource of the Turbo page (Turbo's own, made by its
// <turbo-stream-source>): its URL, opens, errors, messages and state.
const TURBO_INSTRUMENT = `(() => {
  const Native = window.EventSource;
  const all = window.__sources = [];
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      const rec = { url: String(url), opens: 0, errors: 0, messages: [] };
      all.push(rec);
      this.addEventListener('open', () => { rec.opens++; });
      this.addEventListener('error', () => { rec.errors++; rec.state = this.readyState; });
      this.addEventListener('message', (e) => { rec.messages.push(e.data); });
    }
  };
})();`;

const sources = (page) => page.evaluate(() => window.__sources);
const broadcasts = (page) => page.$$eval('#messages p.broadcast', (ps) => ps.map((p) => p.textContent));

async function turboPage(label) {
  const page = await newPage(browser, label, TURBO_INSTRUMENT);
  await page.goto(`${nginx.url}turbo`);
  // The stream's headers come once the gateway's LISTEN is confirmed ('open'): from
  // then on every NOTIFY reaches the page.
  await waitFor(async () => (await sources(page)).some((s) => s.opens > 0), "the Turbo page's stream to open");
  return page;
}

// ---- the scenarios --------------------------------------------------------------------------
const scenario = (name, fn) => runScenario(name, fn, dumpDiagnostics);

let browser, pg, gateway, nginx, artifacts;

const dumpDiagnostics = diagnosticsOf(() => gateway, () => nginx);

async function main() {
  artifacts = artifactsDir();
  pg = await demoDatabase();

  // The demo's config, as scripts/run.sh writes it, with its new secret_key_base.
  const confDir = tempDir('sse-gw-e2e-turbo-conf-');
  const config = (await run(PYTHON, [TURBO_DEMO, 'config', confDir, PREFIX])).trim();
  const base = fs.readFileSync(path.join(confDir, 'secret_key_base'), 'utf8').trim();
  const other = crypto.randomBytes(64).toString('hex');   // another app's secret_key_base
  const first = await rails(base, other, turboStream('Hello from PostgreSQL'));
  log(`ActiveSupport ${first.version}: signed name ${first.signed}`);

  gateway = await new Gateway(pg.url, '127.0.0.1:0', ['--config', config, '--proxy-secret', SECRET]).start().waitListening();
  nginx = await new Nginx().start(gateway.port, SECRET, [first.signed, STREAM]);
  log(`postgres ${pg.url}, gateway :${gateway.port}, nginx ${nginx.url}`);
  browser = await launchChromium();

  await scenario("scripts/run.sh signs the stream name and prints the NOTIFY exactly as Rails does", async () => {
    const signed = (await run(PYTHON, [TURBO_DEMO, 'sign', base, STREAM])).trim();
    if (signed !== first.signed) throw new Error(`turbo_demo.py sign: ${signed}\nActiveSupport:       ${first.signed}`);
    // The printed line, run by bash with printf standing in for psql: the statement psql would get.
    const line = await runShLine("printf '%s'", turboStream('Hello from PostgreSQL'));
    const sql = (await run('bash', ['-c', line])).replace(/^-c/, '');
    if (sql !== first.sql) throw new Error(`run.sh's statement: ${sql}\nRails' adapter:      ${first.sql}`);
    if (!first.payload.startsWith('"\\u003cturbo-stream action=\\"append\\"')) throw new Error(`payload ${first.payload}`);
  });

  let turbo;
  await scenario('the Turbo page subscribes, and a NOTIFY sent as Rails\' adapter sends it appends to the page', async () => {
    turbo = await turboPage('the Turbo page');
    const [source] = await sources(turbo);
    if (!source.url.includes(`/live/turbo?signed_stream_name=${encodeURIComponent(first.signed)}`)) throw new Error(`stream URL ${source.url}`);
    await turbo.screenshot({ path: path.join(artifacts, 'turbo-1-subscribed.png') });
    // scripts/run.sh's line, run as a user pastes it.
    await run('bash', ['-c', await runShLine(`/usr/bin/psql '${pg.url}'`, turboStream('Hello from PostgreSQL'))]);
    await waitFor(async () => (await broadcasts(turbo)).length === 1, 'the broadcast to be appended to #messages');
    const [text] = await broadcasts(turbo);
    if (text !== 'Hello from PostgreSQL') throw new Error(`appended ${JSON.stringify(text)}`);
    // Turbo rendered it: the <turbo-stream> element itself is gone, its template's content is in place.
    if (await turbo.$('turbo-stream')) throw new Error('a <turbo-stream> element was left in the page');
    await turbo.screenshot({ path: path.join(artifacts, 'turbo-2-appended.png') });
  });

  await scenario('the OneTouch page works from the same gateway at the same time', async () => {
    if (!turbo) throw new Error('no Turbo page (the scenario before failed)');
    const page = await loginPage(browser, nginx.url, 201);
    // A broadcast and an approval, one after the other, each to its own page.
    const second = await rails(base, other, turboStream('Second, with <b>markup</b> &amp; "quotes"'));
    await pg.sql(second.sql);
    await pg.setStatus(201, 'approved');
    await page.waitForURL('**/account', { timeout: WAIT_MS });
    await waitFor(async () => (await broadcasts(turbo)).length === 2, 'the second broadcast');
    const texts = await broadcasts(turbo);
    if (texts[1] !== 'Second, with markup & "quotes"') throw new Error(`appended ${JSON.stringify(texts)}`);
    const [source] = await sources(turbo);
    if (source.opens !== 1 || source.errors !== 0) throw new Error(`the Turbo stream reconnected: ${JSON.stringify(source)}`);
    await turbo.screenshot({ path: path.join(artifacts, 'turbo-3-both.png') });
  });

  await scenario('a forged signed_stream_name gets no stream and no events', async () => {
    // Another app's signature for the same stream name, and the right one tampered with.
    const [data, digest] = first.signed.split('--');
    const tampered = `${data}--${digest.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0'))}`;
    for (const name of [first.forged, tampered, '', 'not-signed']) {
      const [status, body] = await httpGet(nginx.port, `/live/turbo?signed_stream_name=${encodeURIComponent(name)}`,
        { Accept: 'text/event-stream' });
      if (![400, 401, 403].includes(status)) throw new Error(`${JSON.stringify(name)}: expected 400/401/403, got ${status}: ${body}`);
      if (!body.trim().startsWith('{')) throw new Error(`${JSON.stringify(name)}: not a JSON error body: ${body}`);
    }
    // In the browser: the page's own source replaced by one with the forged name.
    const page = await newPage(browser, 'the forged Turbo page', TURBO_INSTRUMENT);
    await page.goto(`${nginx.url}turbo`);
    await page.evaluate((forged) => {
      document.getElementById('stream').remove();   // Turbo closes its EventSource
      const el = document.createElement('turbo-stream-source');
      el.setAttribute('src', `/live/turbo?signed_stream_name=${encodeURIComponent(forged)}`);
      document.body.append(el);
    }, first.forged);
    await waitFor(async () => (await sources(page)).some((s) => s.url.includes(encodeURIComponent(first.forged)) && s.state === 2),
      'the forged EventSource to be refused (CLOSED)');
    const before = (await broadcasts(page)).length;
    const third = await rails(base, other, turboStream('Only for the signed'));
    await pg.sql(third.sql);
    await waitFor(async () => (await broadcasts(turbo)).length === 3, 'the third broadcast on the signed page');
    await sleep(1000);   // were it delivered to the forged one, it would be there by now
    const forged = (await sources(page)).find((s) => s.url.includes(encodeURIComponent(first.forged)));
    if (forged.opens !== 0 || forged.messages.length !== 0) throw new Error(`the forged stream: ${JSON.stringify(forged)}`);
    if ((await broadcasts(page)).length !== before) throw new Error('the forged page got a broadcast');
  });
}

await finish(main, {
  diagnostics: dumpDiagnostics,
  browser: () => browser,
  gateways: () => [gateway],
  artifacts: () => artifacts,
});
