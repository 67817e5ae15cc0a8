"""Identity end to end: the real binary and a real PostgreSQL, with credentials made
by independent implementations (tokens by Debian's PyJWT, cookies by Debian's
ActiveSupport through tests/support/make_auth_fixtures.sh), never by our code.

Every gateway here runs at debug level, and after it exits its whole output is
searched for every token, cookie and secret it was shown. Every refusal checks its
status, its JSON reason and that exactly one matching counter moved."""
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import harness

import jwt  # Debian's python3-jwt: checked in setUpModule
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_encode

STREAM = harness.STREAM_PATH
FIXTURE_SCRIPT = os.path.join(harness.HERE, "..", "support", "make_auth_fixtures.sh")

HS_SECRET = "it-identity-hs256-secret-5e8a1c0d9b7f"  # over the 32-byte minimum
PROXY_SECRET = "it-identity-proxy-secret-2b9d4f7a61"
RAILS_COOKIE = "_authy_demo_session"  # the fixture generator's cookie name
JWT_COOKIE = "sse_token"
ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://admin.example"
EVIL_ORIGIN = "https://evil.example"

# Filled by setUpModule.
FIX = None          # the fixture directory
JWT_CASES = {}      # name -> case, from jwt_cases.json
RAILS_CASES = {}    # name -> case, from rails_cases.json
SECRET_KEY_BASE = None

AUTH_METRIC = re.compile(r'^sse_gateway_auth_failures_total\{reason="([^"]*)"\}$')
OTHER_METRIC = re.compile(r'^sse_gateway_refusals_total\{reason="([^"]*)"\}$')


def setUpModule():
    global FIX, SECRET_KEY_BASE
    if not jwt.__file__.startswith("/usr/lib/python3/dist-packages/"):
        raise AssertionError(f"PyJWT must be Debian's python3-jwt, got {jwt.__file__}")
    pg = harness.start_postgres()
    # Every statement the gateway sends is logged: "before the database is touched"
    # is then checked on the server's own record.
    pg.execute("ALTER SYSTEM SET log_statement = 'all'")
    pg.execute("SELECT pg_reload_conf()")
    FIX = tempfile.mkdtemp(prefix="sse-gw-auth-")
    unittest.addModuleCleanup(shutil.rmtree, FIX, True)
    try:
        out = subprocess.run(["bash", FIXTURE_SCRIPT, FIX], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("make_auth_fixtures.sh did not finish within 120s")
    if out.returncode != 0:
        raise AssertionError(f"make_auth_fixtures.sh failed:\n{out.stderr}")
    with open(os.path.join(FIX, "jwt_cases.json")) as f:
        JWT_CASES.update({c["name"]: c for c in json.load(f)["cases"]})
    with open(os.path.join(FIX, "rails_cases.json")) as f:
        RAILS_CASES.update({c["name"]: c for c in json.load(f)["cases"]})
    SECRET_KEY_BASE = RAILS_CASES["gcm_sha1_rails61"]["secret_key_base"]


# --- credentials, made by PyJWT and ActiveSupport -----------------------------

def read_fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def claims(sub="7", **kw):
    now = int(time.time())
    c = {"sub": sub, "iat": now, "exp": now + 600}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def hs256(payload, secret=HS_SECRET):
    return jwt.encode(payload, secret, algorithm="HS256")


def rs256(payload, key="rsa_private.pem"):
    return jwt.encode(payload, read_fixture(key), algorithm="RS256")


def es256(payload, key="ec_private.pem"):
    return jwt.encode(payload, read_fixture(key), algorithm="ES256")


def with_payload(token, payload):
    """The token's header and signature around another payload: a forgery."""
    header, _, signature = token.split(".")
    return ".".join([header, base64url_encode(json.dumps(payload).encode()).decode(), signature])


class _UnguardedHMAC(HMACAlgorithm):
    """PyJWT's HS256 without its refusal to use a PEM public key as the secret."""

    def prepare_key(self, key):
        return key if isinstance(key, bytes) else key.encode()


def hs256_keyed_with(payload, secret_bytes):
    jws = jwt.PyJWS()
    jws.unregister_algorithm("HS256")
    jws.register_algorithm("HS256", _UnguardedHMAC(HMACAlgorithm.SHA256))
    return jws.encode(json.dumps(payload).encode(), secret_bytes, algorithm="HS256")


RUBY_COOKIES = r'''
require "json"
require "uri"
require "active_support"
require "active_support/json"
require "active_support/key_generator"
require "active_support/core_ext/time"  # expires_in: Time#advance
require "active_support/message_encryptor"
skb, cookie, expires_in = ARGV
# As Rails 5.2-6.1's cookie jar: PBKDF2-SHA1 key, AES-256-GCM, purpose envelope.
secret = ActiveSupport::KeyGenerator.new(skb, iterations: 1000)
                                    .generate_key("authenticated encrypted cookie", 32)
enc = ActiveSupport::MessageEncryptor.new(secret, cipher: "aes-256-gcm",
                                          serializer: ActiveSupport::MessageEncryptor::NullSerializer)
sessions = JSON.parse($stdin.read)
options = { purpose: "cookie.#{cookie}" }
options[:expires_in] = expires_in.to_i unless expires_in.empty?
puts JSON.generate(sessions.map { |s|
  URI.encode_www_form_component(enc.encrypt_and_sign(ActiveSupport::JSON.encode(s), **options))
})
'''


def rails_cookies(sessions, expires_in=None):
    """Browser-form session cookies encrypted by ActiveSupport, one per session hash;
    with expires_in (seconds), the envelope carries that expiry."""
    env = {k: v for k, v in os.environ.items() if k not in ("RUBYOPT", "RUBYLIB", "GEM_HOME", "GEM_PATH")}
    out = subprocess.run(["/usr/bin/ruby", "-e", RUBY_COOKIES, SECRET_KEY_BASE, RAILS_COOKIE,
                          "" if expires_in is None else str(expires_in)],
                         input=json.dumps(sessions), capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"ruby cookie helper failed: {out.stderr}")
    return json.loads(out.stdout)


def rails_case(name):
    return RAILS_CASES[name]["cookie"]


def cookie_header(value, name=RAILS_COOKIE):
    # Other cookies around it, as a browser sends them.
    return f"theme=dark; {name}={value}; _ga=GA1.2.1234567890.1700000000"


def raw_request(port, head, timeout=10):
    """(status, body) for a hand-written request head (bytes, without the final CRLF)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + b"\r\n\r\n")
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"content-length: *(\d+)", data[:head_end], re.I)
                if m and len(data) >= head_end + 4 + int(m.group(1)):
                    break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 "):
        raise AssertionError(f"no HTTP response to {head!r}: {data!r}")
    return int(data.split(b" ")[1]), data.partition(b"\r\n\r\n")[2]


# --- the test base --------------------------------------------------------------

class IdentityCase(harness.GatewayTestCase, unittest.TestCase):
    def setUp(self):
        self.sensitive = set()
        self.marker = 0

    def secret(self, value):
        """Registers a credential or secret that no gateway output may contain."""
        value = value.decode() if isinstance(value, bytes) else value
        self.sensitive.add(value)
        if value.count(".") == 2:  # a JWT: its payload and signature on their own
            self.sensitive.update(p for p in value.split(".")[1:] if len(p) >= 16)
        unquoted = urllib.parse.unquote(value)
        if unquoted != value:
            self.sensitive.add(unquoted)
        self.sensitive.update(p for p in unquoted.split("--") if len(p) >= 16)  # Rails cookie parts
        return value

    def start(self, *args):
        """A gateway at debug level whose output is searched for every registered
        secret once it has exited."""
        argv = ["--database-url", self.pg.url, "--heartbeat", "600", "--log-level", "debug"] + list(args)
        for flag in ("--jwt-secret", "--proxy-secret", "--rails-secret-key-base"):
            if flag in argv:
                self.secret(argv[argv.index(flag) + 1])
        gw = harness.Gateway(*argv)
        self.addCleanup(self.assert_nothing_secret_logged, gw)  # runs after the gateway's exit
        gw.__enter__()
        self.addCleanup(gw.__exit__, None, None, None)
        gw.wait_ready()
        return gw

    def assert_nothing_secret_logged(self, gw):
        output = gw.all_output()
        for value in sorted(self.sensitive):
            if value and value in output:
                self.fail(f"gateway output contains a secret or credential ({value[:12]}...):\n{output}")

    # --- counters -----------------------------------------------------------
    @staticmethod
    def refusal_counts(gw):
        auth, other = {}, {}
        for name, value in gw.metrics().items():
            if m := AUTH_METRIC.match(name):
                auth[m.group(1)] = value
            elif m := OTHER_METRIC.match(name):
                other[m.group(1)] = value
        return auth, other

    def assert_counted_once(self, before, after, reason, what):
        moved = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
        moved = {k: v for k, v in moved.items() if v}
        self.assertEqual(moved, {reason: 1}, f"{what}: counters moved {moved}, expected {reason} once")

    # --- requests -----------------------------------------------------------
    def assert_refused(self, gw, status, error, path=STREAM, headers=None, method="GET", reason=None,
                       auth=None):
        """A refusal with status, JSON error code `error` (None: any) and exactly one
        increment of sse_gateway_auth_failures_total{reason=reason or error} for an
        identity refusal (by default: a 401/403), or of sse_gateway_refusals_total
        for anything else. The body."""
        auth_before, other_before = self.refusal_counts(gw)
        got, resp_headers, body = gw.get(path, headers, method)
        self.assertEqual(got, status, f"{method} {path[:80]} {headers}: {body!r}")
        self.assertTrue(resp_headers.get("content-type", "").startswith("application/json"), resp_headers)
        doc = json.loads(body)
        if error is not None:
            self.assertEqual(doc.get("error"), error, doc)
        auth_after, other_after = self.refusal_counts(gw)
        reason = reason or doc["error"]
        if (status in (401, 403)) if auth is None else auth:
            self.assert_counted_once(auth_before, auth_after, reason, f"{status} {doc}")
            self.assertEqual(other_before, other_after)
        else:
            self.assert_counted_once(other_before, other_after, reason, f"{status} {doc}")
            self.assertEqual(auth_before, auth_after)
        return doc

    def open(self, gw, path=STREAM, headers=None):
        client = harness.SseClient(gw.port, path, headers or {})
        self.addCleanup(client.close)
        self.assertEqual(client.status, 200, client.wire_bytes())
        return client

    def assert_streams_to(self, gw, user, path=STREAM, headers=None):
        """Opens a stream with these credentials and checks that a NOTIFY on user's
        channel arrives on it; closes it again. The client."""
        client = self.open(gw, path, headers)
        self.marker += 1
        text = f"{self.id().rsplit('.', 1)[-1][:20]}-{self.marker}"
        self.pg.notify(f"user_{user}", text)
        event = client.next_event()
        self.assertEqual(event["event"], "authy_status")
        self.assertEqual(json.loads(event["data"]), {"status": text})
        client.close()
        return client

    # --- the database's record -----------------------------------------------
    def server_log_size(self):
        return os.path.getsize(os.path.join(self.pg.dir, "server.log"))

    def listen_statements_since(self, offset):
        with open(os.path.join(self.pg.dir, "server.log"), "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        return re.findall(r"statement: ((?:UN)?LISTEN [^\n]*)", text)


# --- (a) signed tokens ------------------------------------------------------------

class JwtAcceptedTest(IdentityCase):
    """Tokens from PyJWT, in each algorithm, through each place a token may travel."""

    def check_all_transports(self, gw, token):
        self.secret(token)
        self.assert_streams_to(gw, 7, f"{STREAM}?access_token={token}")
        self.assert_streams_to(gw, 7, headers={"Cookie": cookie_header(token, JWT_COOKIE)})
        self.assert_streams_to(gw, 7, headers={"Authorization": f"Bearer {token}"})

    def test_an_hs256_token_opens_the_users_stream_from_query_cookie_and_bearer(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-cookie", JWT_COOKIE)
        self.check_all_transports(gw, hs256(claims()))

    def test_an_rs256_token_opens_the_users_stream_from_query_cookie_and_bearer(self):
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-public-key", f"{FIX}/rsa_public.pem",
                        "--jwt-cookie", JWT_COOKIE)
        self.check_all_transports(gw, rs256(claims()))

    def test_an_es256_token_opens_the_users_stream_from_query_cookie_and_bearer(self):
        gw = self.start("--auth", "jwt", "--jwt-alg", "ES256", "--jwt-public-key", f"{FIX}/ec_public.pem",
                        "--jwt-cookie", JWT_COOKIE)
        self.check_all_transports(gw, es256(claims()))

    def test_the_generators_live_tokens_are_accepted(self):
        # The fixture file's own live tokens (HS256 with its secret), as a cross-check.
        case = JWT_CASES["live_hs256"]
        gw = self.start("--auth", "jwt", "--jwt-secret", case["verifier"]["secret"])
        self.assert_streams_to(gw, 7, headers={"Authorization": "Bearer " + self.secret(case["token"])})
        self.assert_refused(gw, 401, "expired",
                            headers={"Authorization": "Bearer " + self.secret(JWT_CASES["live_hs256_expired"]["token"])})

    def test_an_integer_sub_and_a_configured_claim_name_work(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-claim", "uid")
        self.assert_streams_to(gw, 31, headers={"Authorization": "Bearer " + self.secret(hs256(claims(uid=31)))})
        self.assert_refused(gw, 401, "missing_claim",
                            headers={"Authorization": "Bearer " + self.secret(hs256(claims()))})

    def test_the_clock_leeway_is_configurable(self):
        token = self.secret(hs256(claims(exp=int(time.time()) - 10)))
        lenient = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)  # 30 s by default
        self.assert_streams_to(lenient, 7, f"{STREAM}?access_token={token}")
        strict = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-leeway", "0")
        self.assert_refused(strict, 401, "expired", f"{STREAM}?access_token={token}")


class JwtRefusedTest(IdentityCase):
    def bearer(self, token):
        return {"Authorization": "Bearer " + self.secret(token)}

    def test_forged_signatures_are_refused(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)
        good = hs256(claims())
        self.assert_refused(gw, 401, "bad_signature", headers=self.bearer(with_payload(good, claims(sub="8"))))
        self.assert_refused(gw, 401, "bad_signature", headers=self.bearer(hs256(claims(), HS_SECRET + "x")))
        header, payload, signature = good.split(".")
        flipped = signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]
        self.assert_refused(gw, 401, "bad_signature", f"{STREAM}?access_token={self.secret(f'{header}.{payload}.{flipped}')}")
        rs = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-public-key", f"{FIX}/rsa_public.pem")
        self.assert_refused(rs, 401, "bad_signature", headers=self.bearer(rs256(claims(), "rsa_other_private.pem")))
        self.assert_refused(rs, 401, "bad_signature",
                            headers=self.bearer(with_payload(rs256(claims()), claims(sub="8"))))
        es = self.start("--auth", "jwt", "--jwt-alg", "ES256", "--jwt-public-key", f"{FIX}/ec_public.pem")
        self.assert_refused(es, 401, "bad_signature", headers=self.bearer(es256(claims(), "ec_other_private.pem")))
        self.assert_refused(es, 401, "bad_signature",
                            headers=self.bearer(with_payload(es256(claims()), claims(sub="8"))))

    def test_expired_and_not_yet_valid_tokens_are_refused(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-cookie", JWT_COOKIE)
        now = int(time.time())
        self.assert_refused(gw, 401, "expired", headers=self.bearer(hs256(claims(exp=now - 120))))
        self.assert_refused(gw, 401, "not_yet_valid", headers=self.bearer(hs256(claims(nbf=now + 300))))
        expired = self.secret(hs256(claims(exp=now - 120)))
        self.assert_refused(gw, 401, "expired", headers={"Cookie": cookie_header(expired, JWT_COOKIE)})
        self.assert_refused(gw, 401, "expired", f"{STREAM}?access_token={expired}")
        es = self.start("--auth", "jwt", "--jwt-alg", "ES256", "--jwt-public-key", f"{FIX}/ec_public.pem")
        self.assert_refused(es, 401, "not_yet_valid", headers=self.bearer(es256(claims(nbf=now + 300))))

    def test_audience_and_issuer_are_enforced_when_configured(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-audience", "sse-gateway",
                        "--jwt-issuer", "https://app.example")
        good = dict(aud="sse-gateway", iss="https://app.example")
        self.assert_streams_to(gw, 7, headers=self.bearer(hs256(claims(**good))))
        self.assert_streams_to(gw, 7, headers=self.bearer(hs256(claims(**dict(good, aud=["x", "sse-gateway"])))))
        self.assert_refused(gw, 401, "bad_audience", headers=self.bearer(hs256(claims(**dict(good, aud="billing")))))
        self.assert_refused(gw, 401, "bad_audience", headers=self.bearer(hs256(claims(iss="https://app.example"))))
        self.assert_refused(gw, 401, "bad_issuer",
                            headers=self.bearer(hs256(claims(**dict(good, iss="https://evil.example")))))
        self.assert_refused(gw, 401, "bad_issuer", headers=self.bearer(hs256(claims(aud="sse-gateway"))))

    def test_alg_none_and_algorithm_confusion_are_refused(self):
        none = jwt.encode(claims(), None, algorithm="none")
        hs = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)
        self.assert_refused(hs, 401, "bad_alg", headers=self.bearer(none))
        self.assert_refused(hs, 401, "bad_alg", headers=self.bearer(jwt.encode(claims(), HS_SECRET, algorithm="HS512")))
        rs = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-public-key", f"{FIX}/rsa_public.pem")
        self.assert_refused(rs, 401, "bad_alg", headers=self.bearer(none))
        # HS256 keyed with the very PEM the gateway holds as its RS256 public key.
        confused = hs256_keyed_with(claims(), read_fixture("rsa_public.pem"))
        self.assert_refused(rs, 401, "bad_alg", headers=self.bearer(confused))
        self.assert_refused(rs, 401, "bad_alg", f"{STREAM}?access_token={confused}")
        self.assert_refused(rs, 401, "bad_alg", headers=self.bearer(es256(claims())))
        es = self.start("--auth", "jwt", "--jwt-alg", "ES256", "--jwt-public-key", f"{FIX}/ec_public.pem")
        self.assert_refused(es, 401, "bad_alg", headers=self.bearer(rs256(claims())))
        self.assert_refused(es, 401, "bad_alg", headers=self.bearer(hs256_keyed_with(claims(), read_fixture("ec_public.pem"))))

    def test_garbage_is_refused_as_malformed(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)
        good = hs256(claims())
        header, payload, signature = good.split(".")
        garbage = ["garbage", "a.b.c", "..", "a..c", f"{header}.{payload}", f"{good}.x", f"{good}=",
                   f"{header}=.{payload}.{signature}",
                   base64url_encode(b"[1,2]").decode() + f".{payload}.{signature}",
                   "A" * 6000]
        for token in garbage:
            with self.subTest(case=garbage.index(token)):
                self.assert_refused(gw, 401, "malformed", headers=self.bearer(token))
        self.assert_refused(gw, 401, "bad_alg", headers=self.bearer("e30.e30.e30"))  # {} has no alg
        self.assert_refused(gw, 401, "bad_signature", headers=self.bearer(f"{header}.{payload}."))  # empty signature
        self.assert_refused(gw, 401, "malformed", f"{STREAM}?access_token=%zz")
        self.assert_refused(gw, 401, "malformed", f"{STREAM}?access_token=a%2Eb%2Ec")

    def test_an_oversized_token_is_refused_before_it_is_parsed(self):
        # The token limit (8192 bytes) equals the request-head limit (8 KiB): a token
        # over it never reaches the verifier; the head is refused as a whole.
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)
        big = hs256(claims(pad="x" * 9000))
        self.secret(big)
        self.assert_refused(gw, 431, "header_too_large", headers=self.bearer(big))
        self.assert_refused(gw, 431, "header_too_large", f"{STREAM}?access_token={big}")

    def test_no_token_at_all_is_401_missing_token(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-cookie", JWT_COOKIE)
        self.assert_refused(gw, 401, "missing_token")
        self.assert_refused(gw, 401, "missing_token", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assert_refused(gw, 401, "missing_token", headers={"Cookie": "other=1"})


# --- (b) Rails session cookies ------------------------------------------------------

class CredentialExpiryTest(IdentityCase):
    """A stream lives no longer than the credentials that opened it (what-users-ask
    #5): it ends with an "expired" event, and the browser's reconnect with the same
    credentials is answered 401, which stops EventSource, rather than streaming on."""

    def assert_ends_with_expired_event(self, gw, user, expires_at, path=STREAM, headers=None):
        client = self.open(gw, path, headers)
        self.pg.notify(f"user_{user}", "while-valid")
        self.assertEqual(json.loads(client.next_event()["data"]), {"status": "while-valid"})
        event = client.next_event(timeout=15)
        self.assertEqual(event["event"], "expired", event)
        self.assertEqual(json.loads(event["data"])["error"], "credentials_expired")
        # Not before the credentials' end (whole seconds, as the verifiers read the clock).
        self.assertGreaterEqual(time.time(), math.floor(expires_at))
        client.wait_eof(5)
        gw.wait_log(lambda l: l.get("msg") == "stream close" and l.get("reason") == "credentials_expired", 5,
                    "the close to be logged as credentials_expired")
        gw.wait_metric('sse_gateway_stream_closes_total{reason="credentials_expired"}', 1)

    def test_a_jwt_stream_ends_when_the_token_expires_and_the_reconnect_is_refused(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-leeway", "0")
        exp = int(time.time()) + 4
        token = self.secret(hs256(claims(exp=exp)))
        self.assert_ends_with_expired_event(gw, 7, exp, f"{STREAM}?access_token={token}")
        self.assert_refused(gw, 401, "expired", f"{STREAM}?access_token={token}")
        # A token without exp keeps its stream (the default: exp is optional)...
        forever = self.secret(hs256(claims(exp=None)))
        lasting = self.open(gw, f"{STREAM}?access_token={forever}")
        lasting.expect_no_event(2.0)
        self.assertFalse(lasting.eof)
        # ... unless the operator requires exp.
        strict = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-require-exp")
        self.assert_refused(strict, 401, "missing_exp", f"{STREAM}?access_token={forever}")
        self.assert_streams_to(strict, 7, f"{STREAM}?access_token={self.secret(hs256(claims()))}")

    def test_an_expired_stream_whose_reader_stopped_is_still_closed(self):
        # The reader stops reading while megabytes are on their way, so the gateway's
        # write stalls; the expiry then queues its last event behind that write. The
        # stalled-write limit (two heartbeats) must still end the stream: a stream
        # that is closing must not wait forever for a write that cannot finish.
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET, "--jwt-leeway", "0", "--heartbeat", "3",
                        "--max-queue-bytes", str(64 << 20))
        token = self.secret(hs256(claims(exp=int(time.time()) + 2)))
        self.open(gw, f"{STREAM}?access_token={token}")  # never read from again
        gw.wait_metric("sse_gateway_streams", 1)
        # 16 MB in distinct payloads (identical ones in a transaction are merged).
        self.pg.execute("SELECT pg_notify('user_7', repeat('x', 7500) || i) FROM generate_series(1, 2200) i")
        closed = gw.wait_log(lambda l: l.get("msg") == "stream close", 20, "the stalled, expired stream to close")
        self.assertEqual(closed.get("reason"), "credentials_expired", closed)
        gw.wait_metric("sse_gateway_streams", 0)

    def test_a_rails_session_stream_ends_when_the_cookie_expires_and_the_reconnect_is_refused(self):
        gw = self.start("--auth", "rails-session", "--rails-secret-key-base", SECRET_KEY_BASE,
                        "--rails-cookie", RAILS_COOKIE)
        made = time.time()
        # Ruby stamps the expiry when it has loaded ActiveSupport (a second or more
        # under load): 6 s leaves the stream time to open first.
        cookie, = rails_cookies([{"session_id": "x", "pre_2fa_auth_user_id": 9}], expires_in=6)
        headers = {"Cookie": cookie_header(self.secret(cookie))}
        self.assert_ends_with_expired_event(gw, 9, made + 6, headers=headers)
        self.assert_refused(gw, 401, "expired", headers=headers)


class RailsSessionTest(IdentityCase):
    def rails_gateway(self, *extra):
        return self.start("--auth", "rails-session", "--rails-secret-key-base", SECRET_KEY_BASE,
                          "--rails-cookie", RAILS_COOKIE, *extra)

    def cookie(self, value):
        return {"Cookie": cookie_header(self.secret(value))}

    def test_cookies_from_activesupport_in_both_formats_open_the_users_stream(self):
        gw = self.rails_gateway()
        for name in ("gcm_sha1_rails61",              # Rails 5.2-6.1: GCM, SHA1 key derivation
                     "gcm_sha256_rails70",            # Rails 7: GCM, SHA256 key derivation
                     "gcm_rails52_no_envelope",       # Rails 5.2 without purpose metadata
                     "gcm_expires_in_future",
                     "gcm_rails71_data_envelope",     # Rails 7.1 metadata envelope
                     "cbc_rails4",                    # Rails 4.x-5.1: AES-256-CBC + HMAC-SHA1
                     "cbc_sha256_keygen_rails7_legacy"):
            with self.subTest(cookie=name):
                self.assert_streams_to(gw, RAILS_CASES[name]["user"], headers=self.cookie(rails_case(name)))

    def test_a_configured_key_digest_and_fallback_key_work(self):
        sha256_only = self.rails_gateway("--rails-key-digest", "sha256")
        self.assert_streams_to(sha256_only, 42, headers=self.cookie(rails_case("gcm_sha256_rails70")))
        self.assert_refused(sha256_only, 401, "bad_signature", headers=self.cookie(rails_case("gcm_sha1_rails61")))
        fallback = self.rails_gateway("--rails-fallback-key", "user_id")
        self.assert_streams_to(fallback, 9, headers=self.cookie(rails_case("gcm_fallback_key")))
        self.assert_refused(fallback, 401, "missing_key", headers=self.cookie(rails_case("gcm_missing_key")))

    def test_tampered_truncated_wrong_secret_expired_and_wrong_purpose_cookies_are_refused(self):
        gw = self.rails_gateway()
        for name, reason in (("gcm_tampered_ciphertext", "bad_signature"),
                             ("cbc_tampered_hmac", "bad_signature"),
                             ("cbc_tampered_data", "bad_signature"),
                             ("gcm_truncated", None),
                             ("gcm_missing_tag", None),
                             ("cbc_truncated", None),
                             ("gcm_wrong_secret", "bad_signature"),
                             ("cbc_wrong_secret", "bad_signature"),
                             ("gcm_expired", "expired"),
                             ("gcm_wrong_purpose", "wrong_purpose"),
                             ("gcm_rails71_data_envelope_wrong_purpose", "wrong_purpose")):
            with self.subTest(cookie=name):
                self.assert_refused(gw, 401, reason, headers=self.cookie(rails_case(name)))
        # A good cookie under another name is not the session cookie.
        self.assert_refused(gw, 401, "missing_cookie",
                            headers={"Cookie": cookie_header(self.secret(rails_case("gcm_sha1_rails61")), "_other")})

    def test_marshal_serialized_sessions_are_refused_with_a_log_line(self):
        gw = self.rails_gateway()
        for name in ("gcm_marshal_in_envelope", "gcm_marshal_rails52", "cbc_marshal_rails40"):
            with self.subTest(cookie=name):
                self.assert_refused(gw, 401, "marshal_session", headers=self.cookie(rails_case(name)))
        # The log line is written before the answer, but read from the pipe by
        # another thread: wait for it rather than race it.
        marshal_lines = lambda: [l for l in gw.logs() if l.get("reason") == "marshal_session"]
        harness.wait_until(lambda: len(marshal_lines()) >= 3, 5, "three marshal_session log lines")
        lines = marshal_lines()
        self.assertEqual(len(lines), 3, gw.tail())
        self.assertTrue(all(l.get("level") in ("info", "warn") for l in lines), lines)


# --- (c) isolation and user ids ------------------------------------------------------

class IsolationTest(IdentityCase):
    def test_a_token_for_user_7_never_receives_user_8s_events(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)
        seven = self.open(gw, headers={"Authorization": "Bearer " + self.secret(hs256(claims("7")))})
        eight = self.open(gw, headers={"Authorization": "Bearer " + self.secret(hs256(claims("8")))})
        for channel, text in (("user_8", "for-8-a"), ("user_7", "for-7"), ("user_8", "for-8-b"),
                              ("user_78", "for-78"), ("user_07", "for-07")):
            self.pg.notify(channel, text)
        # User 8's events were delivered (to 8) before 7's quiet window is judged.
        self.assertEqual(json.loads(eight.next_event()["data"]), {"status": "for-8-a"})
        self.assertEqual(json.loads(eight.next_event()["data"]), {"status": "for-8-b"})
        self.assertEqual(json.loads(seven.next_event()["data"]), {"status": "for-7"})
        seven.expect_no_event(1.5)
        self.assertNotIn(b"for-8", seven.raw_bytes())

    def test_a_rails_cookie_for_user_7_never_receives_user_8s_events(self):
        gw = self.start("--auth", "rails-session", "--rails-secret-key-base", SECRET_KEY_BASE,
                        "--rails-cookie", RAILS_COOKIE)
        c7, c8 = rails_cookies([{"session_id": "a", "pre_2fa_auth_user_id": 7},
                                {"session_id": "b", "pre_2fa_auth_user_id": "8"}])
        seven = self.open(gw, headers={"Cookie": cookie_header(self.secret(c7))})
        eight = self.open(gw, headers={"Cookie": cookie_header(self.secret(c8))})
        self.pg.notify("user_8", "for-8")
        self.pg.notify("user_7", "for-7")
        self.assertEqual(json.loads(eight.next_event()["data"]), {"status": "for-8"})
        self.assertEqual(json.loads(seven.next_event()["data"]), {"status": "for-7"})
        seven.expect_no_event(1.0)

    def assert_bad_ids_never_reach_the_database(self, gw, requests, control):
        """Each request is refused with 400 (invalid_user, or bad_request or obs_fold
        when the HTTP itself is broken) while no channel is listened and PostgreSQL logs no
        LISTEN; then `control` (a valid request for user 31337) shows that a LISTEN
        would have been logged."""
        offset = self.server_log_size()
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 0)
        for label, send in requests:
            with self.subTest(id=label):
                status, body = send()
                self.assertEqual(status, 400, f"{label!r}: {body!r}")
                self.assertIn(json.loads(body)["error"], ("invalid_user", "bad_request", "obs_fold"))
                self.assertEqual(gw.metric("sse_gateway_channels_listened"), 0)
        _, other = self.refusal_counts(gw)
        self.assertGreaterEqual(other.get("invalid_user", 0) + other.get("malformed_request", 0) +
                                other.get("obs_fold", 0), len(requests))
        self.assertEqual(gw.metric("sse_gateway_streams_opened_total"), 0)
        self.assertEqual(self.listen_statements_since(offset), [])
        self.assert_streams_to(gw, 31337, headers=control)
        harness.wait_until(lambda: self.listen_statements_since(offset), 10, "the control LISTEN in the server log")
        self.assertEqual(self.listen_statements_since(offset)[0], 'LISTEN "user_31337";')

    def test_injection_attempts_in_a_token_sub_are_refused_before_the_database(self):
        gw = self.start("--auth", "jwt", "--jwt-secret", HS_SECRET)
        subs = ["7'; LISTEN user_8; --", '7"; LISTEN "user_8', "7;8", "7 OR 1=1", "user_8", "8*", "%37",
                "\u0667", "\uff17", "7\u0668", "\U0001d7d5", "7\n8", "7\n", "\n7", "7\r", "7\u0000", "7\u0000;8",
                " 7", "7 ", "+7", "-7", "7.0", "0x7", "../7", "7\\", "1" * 21, "7" * 200]
        requests = []
        for sub in subs:
            token = self.secret(hs256(claims(sub)))
            headers = {"Authorization": f"Bearer {token}"}
            requests.append((sub, lambda h=headers: gw.get(STREAM, h)[0::2]))
        self.assert_bad_ids_never_reach_the_database(
            gw, requests, {"Authorization": "Bearer " + self.secret(hs256(claims("31337")))})

    def test_injection_attempts_in_the_proxy_header_are_refused_before_the_database(self):
        gw = self.start("--proxy-secret", PROXY_SECRET)
        ids = ["7'; LISTEN user_8; --".encode(), b'7"; LISTEN "user_8', b"7;8", b"7 8", b"7\t8", b"user_8",
               b"%37", "\u0667".encode(), "\uff17".encode(), "7\u0668".encode(), b"7\xff", b"7\xc0\xb7", b"-7",
               b"1" * 21, b"7\r\n 8", b"7\r\n\t8", b"7\n8", b"7\r8", b"7\x008", b"7\x0b"]
        requests = []
        for raw_id in ids:
            head = (b"GET " + STREAM.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"X-Gateway-Secret: " + PROXY_SECRET.encode() + b"\r\nX-User-Id: " + raw_id)
            requests.append((raw_id, lambda h=head: raw_request(gw.port, h)))
        self.assert_bad_ids_never_reach_the_database(
            gw, requests, {"X-User-Id": "31337", "X-Gateway-Secret": PROXY_SECRET})

    def test_injection_attempts_in_a_rails_session_are_refused_before_the_database(self):
        gw = self.start("--auth", "rails-session", "--rails-secret-key-base", SECRET_KEY_BASE,
                        "--rails-cookie", RAILS_COOKIE)
        ids = ["7'; LISTEN user_8; --", "7;8", "\u0667", "7\n8", "7\u0000", "1" * 21, 7.5]
        cookies = rails_cookies([{"pre_2fa_auth_user_id": i} for i in ids] + [{"pre_2fa_auth_user_id": 31337}])
        requests = []
        for i, cookie in zip(ids[:-1], cookies[:len(ids) - 1]):
            headers = {"Cookie": cookie_header(self.secret(cookie))}
            requests.append((i, lambda h=headers: gw.get(STREAM, h)[0::2]))
        # A float id is not a user id: refused by the identity check itself.
        self.assert_refused(gw, 401, "bad_user_value", headers={"Cookie": cookie_header(self.secret(cookies[len(ids) - 1]))})
        self.assert_bad_ids_never_reach_the_database(gw, requests, {"Cookie": cookie_header(self.secret(cookies[-1]))})

    def test_an_id_too_long_for_a_channel_name_is_refused_not_truncated_onto_another(self):
        # With a pattern that allows any length, "user_" + 58 digits is exactly 63
        # bytes. One digit more would be silently truncated by PostgreSQL onto the
        # 58-digit user's channel: it must be refused instead.
        gw = self.start("--auth", "jwt,proxy-header", "--jwt-secret", HS_SECRET, "--proxy-secret", PROXY_SECRET,
                        "--user-pattern", "^[0-9]+$")
        longest = "1234567890" * 5 + "12345678"
        self.assertEqual(len("user_" + longest), 63)
        victim = self.open(gw, headers={"X-User-Id": longest, "X-Gateway-Secret": PROXY_SECRET})
        offset = self.server_log_size()
        for headers in ({"X-User-Id": longest + "9", "X-Gateway-Secret": PROXY_SECRET},
                        {"Authorization": "Bearer " + self.secret(hs256(claims(longest + "9")))},
                        {"X-User-Id": "9" * 200, "X-Gateway-Secret": PROXY_SECRET}):
            self.assert_refused(gw, 400, "invalid_user", headers=headers)
        self.assertTrue(any(l.get("detail") == "too_long" for l in gw.logs()), gw.tail())
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 1)
        self.assertEqual(self.listen_statements_since(offset), [])
        self.pg.notify("user_" + longest, "for-longest")
        self.assertEqual(json.loads(victim.next_event()["data"]), {"status": "for-longest"})


# --- (d) several modes in a configured order --------------------------------------------

class ModeOrderTest(IdentityCase):
    def all_modes(self, order):
        return self.start("--auth", order, "--jwt-secret", HS_SECRET, "--jwt-cookie", JWT_COOKIE,
                          "--rails-secret-key-base", SECRET_KEY_BASE, "--rails-cookie", RAILS_COOKIE,
                          "--proxy-secret", PROXY_SECRET)

    def test_each_mode_works_when_all_three_are_enabled(self):
        gw = self.all_modes("jwt,rails-session,proxy-header")
        token = self.secret(hs256(claims("7")))
        self.assert_streams_to(gw, 7, headers={"Authorization": f"Bearer {token}"})
        self.assert_streams_to(gw, 7, f"{STREAM}?access_token={token}")
        self.assert_streams_to(gw, 7, headers={"Cookie": cookie_header(token, JWT_COOKIE)})
        self.assert_streams_to(gw, 42, headers={"Cookie": cookie_header(self.secret(rails_case("gcm_sha256_rails70")))})
        self.assert_streams_to(gw, 7, headers={"Cookie": cookie_header(self.secret(rails_case("cbc_rails4")))})
        self.assert_streams_to(gw, 8, headers={"X-User-Id": "8", "X-Gateway-Secret": PROXY_SECRET})

    def test_the_first_mode_in_the_configured_order_wins(self):
        token = self.secret(hs256(claims("7")))
        rails42 = cookie_header(self.secret(rails_case("gcm_sha256_rails70")))
        both = {"Authorization": f"Bearer {token}", "Cookie": rails42,
                "X-User-Id": "8", "X-Gateway-Secret": PROXY_SECRET}
        for order, user in (("jwt,rails-session,proxy-header", 7), ("rails-session,jwt,proxy-header", 42),
                            ("proxy-header,jwt,rails-session", 8)):
            with self.subTest(order=order):
                gw = self.all_modes(order)
                client = self.open(gw, headers=both)
                for other in {7, 42, 8} - {user}:
                    self.pg.notify(f"user_{other}", f"for-{other}")
                self.pg.notify(f"user_{user}", f"for-{user}")
                self.assertEqual(json.loads(client.next_event()["data"]), {"status": f"for-{user}"})
                client.expect_no_event(0.5)
                opened = gw.wait_log(lambda l: l.get("msg") == "stream open", 10, "a stream open line")
                self.assertEqual(str(opened.get("user")), str(user))
                client.close()

    def test_a_mode_whose_credentials_fail_leaves_the_request_to_the_next_mode(self):
        gw = self.all_modes("jwt,rails-session,proxy-header")
        expired = self.secret(hs256(claims("8", exp=int(time.time()) - 300)))
        rails42 = cookie_header(self.secret(rails_case("gcm_sha256_rails70")))
        self.assert_streams_to(gw, 42, headers={"Authorization": f"Bearer {expired}", "Cookie": rails42})

    def test_a_failed_check_is_answered_with_its_own_reason(self):
        gw = self.all_modes("jwt,rails-session,proxy-header")
        self.assert_refused(gw, 401, "expired",
                            headers={"Authorization": "Bearer " + self.secret(hs256(claims(exp=int(time.time()) - 300)))})
        self.assert_refused(gw, 401, "wrong_purpose",
                            headers={"Cookie": cookie_header(self.secret(rails_case("gcm_wrong_purpose")))})
        self.assert_refused(gw, 403, "forbidden", reason="bad_secret",
                            headers={"X-User-Id": "8", "X-Gateway-Secret": "not-" + PROXY_SECRET})


# --- (e) trusted proxy networks -------------------------------------------------------

class ProxyNetworksTest(IdentityCase):
    def test_a_loopback_client_is_refused_outside_the_trusted_networks(self):
        gw = self.start("--proxy-secret", PROXY_SECRET, "--proxy-networks", "10.0.0.0/8")
        self.assert_refused(gw, 403, "forbidden", reason="untrusted_source",
                            headers={"X-User-Id": "7", "X-Gateway-Secret": PROXY_SECRET})

    def test_a_loopback_client_is_accepted_inside_the_trusted_networks(self):
        gw = self.start("--proxy-secret", PROXY_SECRET, "--proxy-networks", "10.0.0.0/8,127.0.0.0/8")
        self.assert_streams_to(gw, 7, headers={"X-User-Id": "7", "X-Gateway-Secret": PROXY_SECRET})
        self.assert_refused(gw, 403, "forbidden", reason="bad_secret", headers={"X-User-Id": "7", "X-Gateway-Secret": "x"})

    def test_a_token_still_works_from_outside_the_proxy_networks(self):
        gw = self.start("--auth", "proxy-header,jwt", "--proxy-secret", PROXY_SECRET, "--proxy-networks", "10.0.0.0/8",
                        "--jwt-secret", HS_SECRET)
        self.assert_streams_to(gw, 7, headers={"Authorization": "Bearer " + self.secret(hs256(claims("7")))})
        self.assert_refused(gw, 403, "forbidden", reason="untrusted_source",
                            headers={"X-User-Id": "7", "X-Gateway-Secret": PROXY_SECRET})


# --- (f) CORS -------------------------------------------------------------------------

class CorsTest(IdentityCase):
    def cors_gateway(self):
        return self.start("--auth", "rails-session,jwt", "--rails-secret-key-base", SECRET_KEY_BASE,
                          "--rails-cookie", RAILS_COOKIE, "--jwt-secret", HS_SECRET,
                          "--cors-origins", f"{ORIGIN},{OTHER_ORIGIN}")

    def test_a_preflight_from_an_allowed_origin_gets_204_with_the_allow_headers(self):
        gw = self.cors_gateway()
        for origin in (ORIGIN, OTHER_ORIGIN):
            status, headers, body = gw.get(STREAM, {"Origin": origin, "Access-Control-Request-Method": "GET",
                                                    "Access-Control-Request-Headers": "last-event-id"},
                                           method="OPTIONS")
            self.assertEqual(status, 204, body)
            self.assertEqual(headers.get("access-control-allow-origin"), origin)
            self.assertEqual(headers.get("access-control-allow-credentials"), "true")
            self.assertIn("GET", headers.get("access-control-allow-methods", ""))
            allowed = headers.get("access-control-allow-headers", "").lower()
            self.assertIn("last-event-id", allowed)
            self.assertIn("authorization", allowed)
            self.assertIn("origin", headers.get("vary", "").lower())

    def test_a_preflight_from_another_origin_is_403(self):
        gw = self.cors_gateway()
        for origin in (EVIL_ORIGIN, ORIGIN + ".evil.example", "null", ORIGIN.upper(), ORIGIN + "/"):
            with self.subTest(origin=origin):
                # Not an identity failure: counted with the other refusals.
                self.assert_refused(gw, 403, "forbidden_origin", reason="cors_origin",
                                    headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
                                    method="OPTIONS", auth=False)
                status, headers, _ = gw.get(STREAM, {"Origin": origin}, method="OPTIONS")
                self.assertNotIn("access-control-allow-origin", headers)

    def test_a_stream_from_an_allowed_origin_carries_the_cors_headers(self):
        gw = self.cors_gateway()
        cookie = {"Cookie": cookie_header(self.secret(rails_case("gcm_sha1_rails61")))}
        client = self.assert_streams_to(gw, 7, headers=dict(cookie, Origin=ORIGIN))
        self.assertEqual(client.headers.get("access-control-allow-origin"), ORIGIN)
        self.assertEqual(client.headers.get("access-control-allow-credentials"), "true")
        self.assertEqual(client.headers.get("content-type"), "text/event-stream")
        # Another origin's page gets no grant to read the stream.
        client = self.assert_streams_to(gw, 7, headers=dict(cookie, Origin=EVIL_ORIGIN))
        self.assertNotIn("access-control-allow-origin", client.headers)
        self.assertNotIn("access-control-allow-credentials", client.headers)

    def test_a_refusal_to_an_allowed_origin_is_readable_by_it(self):
        gw = self.cors_gateway()
        auth_before, _ = self.refusal_counts(gw)
        status, headers, body = gw.get(STREAM, {"Origin": ORIGIN,
                                                "Cookie": cookie_header(self.secret(rails_case("gcm_expired")))})
        self.assertEqual(status, 401, body)
        self.assertEqual(json.loads(body)["error"], "expired")
        self.assertEqual(headers.get("access-control-allow-origin"), ORIGIN)
        self.assertEqual(headers.get("access-control-allow-credentials"), "true")
        self.assert_counted_once(auth_before, self.refusal_counts(gw)[0], "expired", "401 to an allowed origin")
        status, headers, _ = gw.get(STREAM, {"Origin": EVIL_ORIGIN})
        self.assertEqual(status, 401)
        self.assertNotIn("access-control-allow-origin", headers)


# --- (g) counters and logs across everything ------------------------------------------

class NothingLeaksTest(IdentityCase):
    def test_refusals_are_logged_by_reason_and_counted_and_never_echo_a_credential(self):
        gw = self.start("--auth", "jwt,rails-session,proxy-header", "--jwt-secret", HS_SECRET,
                        "--jwt-cookie", JWT_COOKIE, "--rails-secret-key-base", SECRET_KEY_BASE,
                        "--rails-cookie", RAILS_COOKIE, "--proxy-secret", PROXY_SECRET,
                        "--cors-origins", ORIGIN)
        good = self.secret(hs256(claims("7")))
        self.assert_streams_to(gw, 7, f"{STREAM}?access_token={good}", headers={"Origin": ORIGIN})
        self.assert_streams_to(gw, 7, headers={"Cookie": cookie_header(self.secret(rails_case("cbc_rails4")))})
        cases = [
            (401, "bad_signature", None, {"Authorization": "Bearer " + self.secret(hs256(claims(), HS_SECRET + "!"))}),
            (401, "expired", None, {"Cookie": cookie_header(self.secret(hs256(claims(exp=1))), JWT_COOKIE)}),
            (401, "bad_alg", None, {"Authorization": "Bearer " + self.secret(jwt.encode(claims(), None, algorithm="none"))}),
            (401, "marshal_session", None, {"Cookie": cookie_header(self.secret(rails_case("gcm_marshal_rails52")))}),
            (401, "bad_signature", None, {"Cookie": cookie_header(self.secret(rails_case("gcm_wrong_secret")))}),
            (403, "forbidden", "bad_secret", {"X-User-Id": "7", "X-Gateway-Secret": self.secret(PROXY_SECRET[:-1] + "Z")}),
            (403, "forbidden", "bad_secret", {"X-User-Id": "7", "X-Gateway-Secret": self.secret(PROXY_SECRET + "Z")}),
        ]
        for status, error, reason, headers in cases:
            self.assert_refused(gw, status, error, headers=headers, reason=reason)
        refused = [l for l in gw.logs() if l.get("msg") == "stream refused"]
        self.assertEqual(sorted(l["reason"] for l in refused),
                         sorted(reason or error for _, error, reason, _ in cases))
        gw.terminate()
        self.assertEqual(gw.wait(30), 0)
        # The output is searched for every credential above by the cleanup; the
        # log keys of a refusal are checked here.
        for line in refused:
            self.assertEqual(set(line) - {"ts", "level", "msg", "reason", "route", "peer", "detail"}, set(), line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
