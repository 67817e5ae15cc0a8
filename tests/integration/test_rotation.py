"""Credential rotation end to end: the real binary and a real PostgreSQL, with
credentials made by independent code (tokens by Debian's PyJWT, keys by Debian's
python3-cryptography, Rails cookies by Debian's ActiveSupport).

Each mode is rotated the documented way (proto_docs/identity.md, "Rotating
credentials"): add the new credential next to the old one and SIGHUP, switch the
app to the new one, remove the old one and SIGHUP. Throughout, a "user" keeps
opening streams with whatever the app currently issues, and must never be
refused; streams opened with the old credential before the rotation must stay open
and keep receiving events after it is removed. The JWKS URL form is served from
loopback (http, and https with a self-signed certificate) and is rotated by the
provider instead, and taken down. Every gateway's output is searched for every
secret it was given."""
import http.server
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import test_identity  # its ActiveSupport cookie script and its test base

import jwt  # Debian's python3-jwt: checked in setUpModule
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

STREAM = harness.STREAM_PATH
RAILS_COOKIE = "_rot_session"
DIR = None  # per-module scratch directory for credential files


def setUpModule():
    global DIR
    if not jwt.__file__.startswith("/usr/lib/python3/dist-packages/"):
        raise AssertionError(f"PyJWT must be Debian's python3-jwt, got {jwt.__file__}")
    harness.start_postgres()
    DIR = tempfile.mkdtemp(prefix="sse-gw-rot-")
    unittest.addModuleCleanup(shutil.rmtree, DIR, True)


# --- credentials ------------------------------------------------------------------

def write(name, text):
    """Replaces a credential file the way Kubernetes updates a mounted Secret: the
    new content appears whole (rename), never half-written."""
    path = os.path.join(DIR, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key, kid):
    algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    out = json.loads(algo.to_jwk(key.public_key()))
    out.update(kid=kid, use="sig", alg="RS256" if algo is RSAAlgorithm else "ES256")
    return out


def token(user, key, alg, kid=None):
    now = int(time.time())
    return jwt.encode({"sub": str(user), "iat": now, "exp": now + 600}, key, algorithm=alg,
                      headers={"kid": kid} if kid else None)


def rails_cookies(secret_key_base, users):
    """{user: browser-form session cookie} encrypted by ActiveSupport with this base."""
    env = {k: v for k, v in os.environ.items() if k not in ("RUBYOPT", "RUBYLIB", "GEM_HOME", "GEM_PATH")}
    sessions = [{"session_id": f"s{u}", "pre_2fa_auth_user_id": u} for u in users]
    out = subprocess.run(["/usr/bin/ruby", "-e", test_identity.RUBY_COOKIES, secret_key_base, RAILS_COOKIE, ""],
                         input=json.dumps(sessions), capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"ruby cookie helper failed: {out.stderr}")
    return dict(zip(users, json.loads(out.stdout)))


# --- a JWKS provider on loopback --------------------------------------------------

class JwksProvider:
    """Serves {"keys": [...]} at /jwks.json on 127.0.0.1 (https with a certificate
    when given), counts the fetches, and can be taken down."""

    def __init__(self, cert=None):
        self.keys = []
        self.fetches = 0
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"keys": provider.keys}).encode()
                provider.fetches += 1
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if cert else 'http'}://127.0.0.1:{self.port}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()

    close = down


# --- the test base ----------------------------------------------------------------

class UserLoop:
    """A stream of legitimate users: opens a stream with whatever credential the app
    currently issues (`issue(user)` -> (path, headers)), checks it is accepted,
    closes it, and again, until stopped. `refused` lists every refusal."""

    def __init__(self, gw, issue, users=range(600, 605)):
        self.gw, self.issue, self.users = gw, issue, list(users)
        self.refused, self.opened = [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        i = 0
        while not self._stop.is_set():
            user = self.users[i % len(self.users)]
            i += 1
            path, headers = self.issue(user)
            try:
                client = harness.SseClient(self.gw.port, path, headers)
            except AssertionError as e:
                self.refused.append((user, str(e)))
                continue
            if client.status != 200:
                self.refused.append((user, client.wire_bytes()[:200]))
            else:
                self.opened += 1
            client.close()
            time.sleep(0.01)  # a busy user, not a benchmark: the machine has other work

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        return self.refused


class RotationCase(test_identity.IdentityCase):
    """test_identity's base: gateways at debug level whose whole output is searched
    for every registered secret once they have exited."""

    def reloads(self, gw, result):
        return gw.metrics().get(f'sse_gateway_config_reloads_total{{result="{result}"}}', 0)

    def sighup(self, gw, result="ok"):
        """SIGHUP, and wait until the reload is counted with `result`."""
        before = self.reloads(gw, result)
        gw.signal(signal.SIGHUP)
        harness.wait_until(lambda: self.reloads(gw, result) == before + 1, 15, f"a reload counted as {result}")

    def open(self, gw, user, path=STREAM, headers=None):
        client = harness.SseClient(gw.port, path, headers or {})
        self.addCleanup(client.close)
        self.assertEqual(client.status, 200, client.wire_bytes())
        return client

    def refused(self, gw, path=STREAM, headers=None):
        client = harness.SseClient(gw.port, path, headers or {})
        client.close()
        self.assertIn(client.status, (401, 403), client.wire_bytes())
        return client.status

    def assert_all_receive(self, streams):
        """One NOTIFY per stream's user; every stream gets its own, still open."""
        self.marker += 1
        for user, client in streams.items():
            self.pg.notify(f"user_{user}", f"m{self.marker}-{user}")
        for user, client in streams.items():
            event = client.next_event(timeout=15)
            self.assertEqual(json.loads(event["data"]), {"status": f"m{self.marker}-{user}"}, user)
            self.assertFalse(client.eof, user)

    def rotate(self, gw, issue_old, issue_new, add_new, remove_old):
        """The procedure, with streams held open across it and a user loop running
        through it. issue_*(user) -> (path, headers); add_new/remove_old rewrite the
        credential files (or the provider) and trigger the gateway to pick it up."""
        app = {"issue": issue_old}
        held = {u: self.open(gw, u, *issue_old(u)) for u in (41, 42)}
        self.assert_all_receive(held)
        loop = UserLoop(gw, lambda u: app["issue"](u))
        try:
            time.sleep(0.3)
            add_new()                      # 1. the gateway accepts old and new
            held[43] = self.open(gw, 43, *issue_new(43))
            held[44] = self.open(gw, 44, *issue_old(44))
            self.assert_all_receive(held)
            app["issue"] = issue_new       # 2. the app issues only the new one
            time.sleep(0.3)
            remove_old()                   # 3. the gateway accepts only the new one
            time.sleep(0.3)
        finally:
            refused = loop.stop()
        self.assertEqual(refused, [], "legitimate users were refused during the rotation")
        self.assertGreater(loop.opened, 3, "the user loop hardly ran")
        # The old credential opens nothing new, but what it opened stays open.
        self.refused(gw, *issue_old(45))
        self.open(gw, 46, *issue_new(46))
        self.assert_all_receive(held)
        # The user loop closes its own streams; the gateway closed none.
        closes = {k: v for k, v in gw.metrics().items()
                  if k.startswith("sse_gateway_stream_closes_total") and "client_closed" not in k and v}
        self.assertEqual(closes, {}, "no stream may have been closed by the rotation")


def via_token(tok_for):
    return lambda u: (f"{STREAM}?access_token={tok_for(u)}", {})


# --- each mode ------------------------------------------------------------------

class ProxySecretRotationTest(RotationCase):
    def test_proxy_secrets_rotate_through_the_secret_file(self):
        old, new = self.secret("proxy-old-7c1e9a3b5d-0123456789abcdef"), self.secret("proxy-new-2f8d6b4a0e-0123456789abcdef")
        path = write("proxy/secrets", f"{old}\n")
        gw = self.start("--proxy-secret-file", path)

        def issue(secret):
            return lambda u: (STREAM, {"X-User-Id": str(u), "X-Gateway-Secret": secret})

        def add():
            write("proxy/secrets", f"{new}\n{old}\n")
            self.sighup(gw)

        def remove():
            write("proxy/secrets", f"{new}\n")
            self.sighup(gw)

        self.rotate(gw, issue(old), issue(new), add, remove)
        self.assertEqual(gw.metric('sse_gateway_auth_keys{mode="proxy-header"}'), 1)


class WatchedFilesTest(RotationCase):
    def test_with_a_watch_a_changed_file_is_reloaded_without_a_signal_and_once(self):
        old, new = self.secret("proxy-watch-old-8a7b6c-0123456789abcdef"), self.secret("proxy-watch-new-1d2e3f-0123456789abcdef")
        path = write("watch/secrets", f"{old}\n")
        gw = self.start("--proxy-secret-file", path, "--credentials-watch-seconds", "1")

        def issue(secret):
            return lambda u: (STREAM, {"X-User-Id": str(u), "X-Gateway-Secret": secret})

        def changed(result):
            before = self.reloads(gw, result)
            return lambda: self.reloads(gw, result) == before + 1

        def add():
            done = changed("ok")
            write("watch/secrets", f"{new}\n{old}\n")
            harness.wait_until(done, 15, "the watch to reload")

        def remove():
            done = changed("ok")
            write("watch/secrets", f"{new}\n")
            harness.wait_until(done, 15, "the watch to reload")

        self.rotate(gw, issue(old), issue(new), add, remove)
        # An unchanged file is not reloaded again; a broken one fails once, not every look.
        time.sleep(2.5)
        self.assertEqual(self.reloads(gw, "ok"), 2)
        write("watch/secrets", "\n")
        harness.wait_until(lambda: self.reloads(gw, "failed") == 1, 15, "the failed reload")
        time.sleep(2.5)
        self.assertEqual(self.reloads(gw, "failed"), 1)
        self.open(gw, 47, *issue(new)(47))


class JwtRotationTest(RotationCase):
    def test_hs256_secrets_rotate_through_the_secret_file(self):
        old = self.secret("hs256-old-secret-5e8a1c0d9b7f-0123456789")
        new = self.secret("hs256-new-secret-1a2b3c4d5e6f-9876543210")
        write("hs/secrets", f"{old}\n")
        gw = self.start("--auth", "jwt", "--jwt-secret-file", os.path.join(DIR, "hs/secrets"))

        def add():
            write("hs/secrets", f"{new}\n{old}\n")
            self.sighup(gw)

        def remove():
            write("hs/secrets", f"{new}\n")
            self.sighup(gw)

        self.rotate(gw, via_token(lambda u: token(u, old, "HS256")), via_token(lambda u: token(u, new, "HS256")),
                    add, remove)

    def test_rs256_keys_rotate_through_a_key_directory(self):
        old, new = rsa_key(), rsa_key()
        write("rs/old.pem", public_pem(old))
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-public-key", os.path.join(DIR, "rs"))

        def add():
            write("rs/new.pem", public_pem(new))
            self.sighup(gw)

        def remove():
            os.remove(os.path.join(DIR, "rs/old.pem"))
            self.sighup(gw)

        self.rotate(gw, via_token(lambda u: token(u, old, "RS256")), via_token(lambda u: token(u, new, "RS256")),
                    add, remove)

    def test_es256_keys_rotate_within_one_pem_file(self):
        old, new = ec_key(), ec_key()
        path = write("es.pem", public_pem(old))
        gw = self.start("--auth", "jwt", "--jwt-alg", "ES256", "--jwt-public-key", path)

        def add():
            write("es.pem", public_pem(new) + public_pem(old))
            self.sighup(gw)

        def remove():
            write("es.pem", public_pem(new))
            self.sighup(gw)

        self.rotate(gw, via_token(lambda u: token(u, old, "ES256", kid="any")),
                    via_token(lambda u: token(u, new, "ES256")), add, remove)

    def test_a_reload_that_fails_keeps_the_keys_in_force_and_says_why(self):
        old = self.secret("hs256-kept-secret-0f1e2d3c4b5a69788796")
        write("keep/secrets", f"{old}\n")
        gw = self.start("--auth", "jwt", "--jwt-secret-file", os.path.join(DIR, "keep/secrets"))
        held = {51: self.open(gw, 51, *via_token(lambda u: token(u, old, "HS256"))(51))}
        short = self.secret("too-short-to-be-an-hs256-key")
        write("keep/secrets", f"{short}\n")
        self.sighup(gw, "failed")
        line = gw.wait_log(lambda l: l.get("msg", "").startswith("credentials reload failed"), 10, "the failure line")
        self.assertEqual(line["level"], "error")
        self.assertIn("line 1 is shorter than the 32 bytes", line["error"])
        os.remove(os.path.join(DIR, "keep/secrets"))
        self.sighup(gw, "failed")
        self.open(gw, 52, *via_token(lambda u: token(u, old, "HS256"))(52))
        self.assert_all_receive(held)
        self.assertEqual(self.reloads(gw, "ok"), 0)


class JwksFileRotationTest(RotationCase):
    def test_a_jwks_file_rotates_by_kid(self):
        old, new = rsa_key(), ec_key()
        path = write("jwks.json", json.dumps({"keys": [jwk(old, "k1")]}))
        gw = self.start("--auth", "jwt", "--jwt-jwks", path)

        def add():
            write("jwks.json", json.dumps({"keys": [jwk(new, "k2"), jwk(old, "k1")]}))
            self.sighup(gw)

        def remove():
            write("jwks.json", json.dumps({"keys": [jwk(new, "k2")]}))
            self.sighup(gw)

        self.rotate(gw, via_token(lambda u: token(u, old, "RS256", "k1")),
                    via_token(lambda u: token(u, new, "ES256", "k2")), add, remove)


class RailsRotationTest(RotationCase):
    def test_secret_key_base_values_rotate_through_the_file(self):
        old = self.secret("a" * 64 + "old-secret-key-base-4d3c2b1a")
        new = self.secret("b" * 64 + "new-secret-key-base-9e8f7a6b")
        users = list(range(41, 47)) + list(range(600, 605))
        cookies = {"old": rails_cookies(old, users), "new": rails_cookies(new, users)}
        for c in cookies.values():
            for value in c.values():
                self.secret(value)
        write("rails/skb", f"{old}\n")
        gw = self.start("--auth", "rails-session", "--rails-cookie", RAILS_COOKIE,
                        "--rails-secret-key-base-file", os.path.join(DIR, "rails/skb"))

        def issue(which):
            return lambda u: (STREAM, {"Cookie": f"{RAILS_COOKIE}={cookies[which][u]}"})

        def add():
            write("rails/skb", f"{new}\n{old}\n")
            self.sighup(gw)

        def remove():
            write("rails/skb", f"{new}\n")
            self.sighup(gw)

        self.rotate(gw, issue("old"), issue("new"), add, remove)


class JwksUrlRotationTest(RotationCase):
    def provider(self, cert=None):
        p = JwksProvider(cert)
        self.addCleanup(p.close)
        return p

    def fetched(self, gw, result):
        return gw.metrics().get(f'sse_gateway_jwks_fetches_total{{result="{result}"}}', 0)

    def wait_kids(self, gw, kids):
        gw.wait_log(lambda l: l.get("msg") == "jwks keys updated" and l.get("kids") == kids, 15,
                    f"the gateway to use kids {kids}")

    def test_the_provider_rotates_its_keys_and_the_gateway_follows(self):
        old, new = rsa_key(), rsa_key()
        p = self.provider()
        p.keys = [jwk(old, "old")]
        gw = self.start("--auth", "jwt", "--jwt-jwks-url", p.url, "--jwt-jwks-refresh", "1")
        self.assertEqual(gw.metric("sse_gateway_jwks_keys"), 1)

        def add():  # the provider publishes the next key ahead of using it
            p.keys = [jwk(old, "old"), jwk(new, "new")]
            self.wait_kids(gw, "old,new")

        def remove():
            p.keys = [jwk(new, "new")]
            self.wait_kids(gw, "new")

        self.rotate(gw, via_token(lambda u: token(u, old, "RS256", "old")),
                    via_token(lambda u: token(u, new, "RS256", "new")), add, remove)

    def test_an_unknown_kid_fetches_again_at_most_once_per_min_refresh(self):
        first, second = ec_key(), ec_key()
        p = self.provider()
        p.keys = [jwk(first, "a")]
        gw = self.start("--auth", "jwt", "--jwt-jwks-url", p.url, "--jwt-jwks-refresh", "3600",
                        "--jwt-jwks-min-refresh", "2")
        self.open(gw, 61, *via_token(lambda u: token(u, first, "ES256", "a"))(61))
        p.keys = [jwk(first, "a"), jwk(second, "b")]
        fetches = p.fetches
        # Tokens naming kids nobody published: refused, and they cannot make the
        # gateway fetch more than once per --jwt-jwks-min-refresh.
        started = time.monotonic()
        for i in range(40):
            self.refused(gw, *via_token(lambda u: token(u, second, "ES256", f"made-up-{i}"))(62))
        elapsed = time.monotonic() - started
        time.sleep(2.5)
        self.assertLessEqual(p.fetches - fetches, 2 + int(elapsed / 2), "fetches under a flood of unknown kids")
        # The one real new kid was fetched on the way, and works.
        self.open(gw, 63, *via_token(lambda u: token(u, second, "ES256", "b"))(63))

    def test_keys_stay_in_use_while_the_provider_is_down(self):
        key = rsa_key()
        p = self.provider()
        p.keys = [jwk(key, "k")]
        gw = self.start("--auth", "jwt", "--jwt-jwks-url", p.url, "--jwt-jwks-refresh", "1",
                        "--jwt-jwks-min-refresh", "1")
        issue = via_token(lambda u: token(u, key, "RS256", "k"))
        held = {71: self.open(gw, 71, *issue(71))}
        failed = self.fetched(gw, "failed")
        p.down()
        harness.wait_until(lambda: self.fetched(gw, "failed") >= failed + 2, 15, "failed fetches counted")
        line = gw.wait_log(lambda l: l.get("msg") == "jwks fetch failed", 5, "the failure line")
        self.assertEqual(line["level"], "warn")
        self.assertEqual(line["keys_kept"], 1)
        self.assertEqual(line["url"], p.url)
        self.assertEqual(gw.metric("sse_gateway_jwks_up"), 0)
        self.assertEqual(gw.metric("sse_gateway_jwks_keys"), 1)
        self.assertEqual(gw.get("/readyz")[0], 200)
        self.open(gw, 72, *issue(72))
        self.assert_all_receive(held)

    def test_https_with_a_ca_file_and_refused_without_it(self):
        cert, key = os.path.join(DIR, "tls.crt"), os.path.join(DIR, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=jwks-test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        signer = ec_key()
        p = self.provider(cert=(cert, key))
        p.keys = [jwk(signer, "tls")]
        gw = self.start("--auth", "jwt", "--jwt-jwks-url", p.url, "--jwt-jwks-ca-file", cert)
        self.open(gw, 81, *via_token(lambda u: token(u, signer, "ES256", "tls"))(81))
        self.assertEqual(self.fetched(gw, "ok"), 1)

        # Without the CA the certificate is not trusted: no keys, so not ready.
        untrusting = harness.Gateway("--database-url", self.pg.url, "--auth", "jwt", "--jwt-jwks-url", p.url,
                                     "--jwt-jwks-min-refresh", "1").__enter__()
        self.addCleanup(untrusting.__exit__, None, None, None)
        line = untrusting.wait_log(lambda l: l.get("msg") == "jwks fetch failed", 15, "the TLS failure")
        self.assertIn("certificate verify failed", line["error"])
        self.assertEqual(untrusting.get("/readyz")[0], 503)
        self.refused(untrusting, *via_token(lambda u: token(u, signer, "ES256", "tls"))(82))


if __name__ == "__main__":
    unittest.main(verbosity=2)
