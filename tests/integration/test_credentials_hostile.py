"""Hostile and accidental credentials (issue 18, sections 2-5), against the real
binary: weak secrets from flags and files (at start: exit code 2 naming the flag
or the file and line; on a reload: a failed reload that keeps the old ones),
comment lines in secret files, RSA keys no signature should be checked with (e = 1
lets anyone forge a token), key sets that would make one token cost a lot of work,
FIFOs and other non-files in place of a credential file, and a JWKS URL over plain
http to another host."""
import base64
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
import unittest

import harness
import test_identity
import test_rotation

import jwt  # Debian's python3-jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

STREAM = harness.STREAM_PATH
DIR = None
GOOD = "hostile-test-secret-that-is-32-bytes-or-more-1f2e"  # over every minimum
RAILS_BASE = "c" * 64 + "hostile-test-secret-key-base"


def setUpModule():
    global DIR
    harness.start_postgres()
    DIR = test_rotation.DIR = tempfile.mkdtemp(prefix="sse-gw-hostile-")
    unittest.addModuleCleanup(shutil.rmtree, DIR, True)


def write(name, text):
    """test_rotation's writer (whole files, as Kubernetes swaps them), into DIR."""
    return test_rotation.write(name, text)


def fifo(name):
    """A FIFO at name (replacing what was there); nobody ever writes to it."""
    path = os.path.join(DIR, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".fifo"
    os.mkfifo(tmp)
    os.replace(tmp, path)
    return path


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64u(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def rsa_jwk(n, e, kid):
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": int_b64u(n), "e": int_b64u(e)}


def good_jwk(kid="good"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    out.update(kid=kid, use="sig", alg="RS256")
    return key, out


# SHA-256's DigestInfo prefix (RFC 8017 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def forged_e1_token(n, kid, user):
    """A token "signed" for an RSA key with e = 1 without any private key: with e = 1
    the signature is its own PKCS#1 v1.5 encoding, EM = 00 01 FF.. 00 DigestInfo H."""
    k = (n.bit_length() + 7) // 8
    header = b64u(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    now = int(time.time())
    payload = b64u(json.dumps({"sub": str(user), "iat": now, "exp": now + 600}).encode())
    t = SHA256_DIGEST_INFO + hashlib.sha256(f"{header}.{payload}".encode()).digest()
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return f"{header}.{payload}.{b64u(em)}"


def random_odd(bits):
    return int.from_bytes(os.urandom(bits // 8), "big") | (1 << (bits - 1)) | 1


class HostileCase(test_identity.IdentityCase):
    def assert_refused_to_start(self, args, *expected, env=None):
        """Exit code 2 and one stderr line containing each of expected."""
        code, stdout, stderr = harness.run_config(["--listen", "127.0.0.1:0", "--database-url", self.pg.url] +
                                                  list(args), env)
        self.assertEqual(code, 2, f"args={args} stdout={stdout[-2000:]!r} stderr={stderr!r}")
        lines = stderr.strip("\n").split("\n")
        self.assertEqual(len(lines), 1, f"expected one stderr line, got {stderr!r}")
        for e in expected:
            self.assertIn(e, lines[0])
        for value in self.sensitive:
            self.assertNotIn(value, stdout + stderr)
        return lines[0]

    def reloads(self, gw, result):
        return gw.metrics().get(f'sse_gateway_config_reloads_total{{result="{result}"}}', 0)

    def sighup(self, gw, result):
        before = self.reloads(gw, result)
        gw.signal(signal.SIGHUP)
        harness.wait_until(lambda: self.reloads(gw, result) == before + 1, 15, f"a reload counted as {result}")

    def status(self, gw, path=STREAM, headers=None):
        client = harness.SseClient(gw.port, path, headers or {})
        client.close()
        return client.status

    def proxy_status(self, gw, secret, user=7):
        return self.status(gw, headers={"X-User-Id": str(user), "X-Gateway-Secret": secret})


# --- section 2: weak and accidental secrets ------------------------------------

class WeakSecretTest(HostileCase):
    def test_a_short_secret_from_a_flag_refuses_to_start(self):
        for args, flag in ((["--proxy-secret", "x" * 31], "--proxy-secret"),
                           (["--auth", "jwt", "--jwt-secret", "y" * 31], "--jwt-secret"),
                           (["--auth", "rails-session", "--rails-cookie", "_s", "--rails-secret-key-base", "weak-skb-value"],
                            "--rails-secret-key-base")):
            with self.subTest(flag=flag):
                self.secret(args[-1])
                self.assert_refused_to_start(args, flag)

    def test_a_short_secret_line_in_a_file_refuses_to_start_naming_file_and_line(self):
        for flag, extra in (("--proxy-secret-file", []), ("--jwt-secret-file", ["--auth", "jwt"]),
                            ("--rails-secret-key-base-file", ["--auth", "rails-session", "--rails-cookie", "_s"])):
            with self.subTest(flag=flag):
                path = write(f"weak/{flag[2:]}", f"# the current one\n{GOOD}\n\nx\n")
                line = self.assert_refused_to_start(extra + [flag, path], flag, path, "line 4")
                self.assertNotIn(GOOD, line)

    def test_the_env_twin_follows_the_same_rule(self):
        self.assert_refused_to_start([], "--proxy-secret", env={"SSE_GATEWAY_PROXY_SECRET": "weak-proxy-value"})

    def test_rails_accepts_a_secret_key_base_as_short_as_rails_does(self):
        gw = self.start("--auth", "rails-session", "--rails-cookie", "_s", "--rails-secret-key-base", "r" * 30)
        self.assertEqual(gw.metric('sse_gateway_auth_keys{mode="rails-session"}'), 1)
        self.assert_refused_to_start(["--auth", "rails-session", "--rails-cookie", "_s",
                                      "--rails-secret-key-base", "r" * 29], "--rails-secret-key-base", "30")

    def test_comment_lines_are_not_secrets(self):
        sentence = "# rotated 2026-01-01, remove the old one after the deploy"
        path = write("comments/jwt", f"{sentence}\n   # indented comment, also long enough to be a key\n{GOOD}\n")
        gw = self.start("--auth", "jwt", "--jwt-secret-file", path)
        self.assertEqual(gw.metric('sse_gateway_auth_keys{mode="jwt"}'), 1)
        now = int(time.time())
        forged = self.secret(jwt.encode({"sub": "7", "exp": now + 600}, sentence, algorithm="HS256"))
        good = self.secret(jwt.encode({"sub": "7", "exp": now + 600}, GOOD, algorithm="HS256"))
        self.assertEqual(self.status(gw, f"{STREAM}?access_token={forged}"), 401)
        self.assertEqual(self.status(gw, f"{STREAM}?access_token={good}"), 200)

    def test_a_file_of_comments_only_holds_no_secret(self):
        path = write("comments/only", "# nothing yet\n")
        self.assert_refused_to_start(["--proxy-secret-file", path], "--proxy-secret-file", "no secret")

    def test_a_weak_secret_on_reload_is_a_failed_reload_that_keeps_the_old_ones(self):
        path = write("reload/proxy", f"{GOOD}\n")
        gw = self.start("--proxy-secret-file", path)
        self.secret(GOOD)
        self.assertEqual(self.proxy_status(gw, GOOD), 200)
        write("reload/proxy", f"{GOOD}\nshort\n")
        self.sighup(gw, "failed")
        self.assertEqual(self.proxy_status(gw, GOOD), 200)
        self.assertEqual(self.proxy_status(gw, "short"), 403)
        failed = [l for l in gw.logs() if l.get("msg", "").startswith("credentials reload failed")]
        self.assertTrue(failed and "line 2" in failed[-1].get("error", ""), failed)
        write("reload/proxy", f"{GOOD}\n")
        self.sighup(gw, "ok")


# --- section 3: hostile or broken key sets ---------------------------------------

class KeySetTest(HostileCase):
    def refused_keys(self, gw, source):
        return gw.metrics().get(f'sse_gateway_jwt_keys_refused_total{{source="{source}"}}', 0)

    def test_an_rsa_key_with_e_1_is_refused_and_its_forged_token_gets_401(self):
        n = random_odd(2048)
        good_key, good = good_jwk()
        path = write("jwks/e1.json", json.dumps({"keys": [good, rsa_jwk(n, 1, "evil")]}))
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks", path)
        forged = self.secret(forged_e1_token(n, "evil", 7))
        self.assertEqual(self.status(gw, f"{STREAM}?access_token={forged}"), 401)
        self.assertEqual(self.refused_keys(gw, "files"), 1)
        self.assertTrue(any(l.get("msg") == "JWT key refused" and l.get("kid") == "evil" for l in gw.logs()),
                        gw.tail(30))
        honest = self.secret(jwt.encode({"sub": "8", "exp": int(time.time()) + 600}, good_key, algorithm="RS256",
                                        headers={"kid": "good"}))
        self.assertEqual(self.status(gw, f"{STREAM}?access_token={honest}"), 200)

    def test_unsound_rsa_keys_are_refused_and_counted(self):
        _, good = good_jwk()
        unsound = [rsa_jwk(random_odd(2048), 2, "even"), rsa_jwk(random_odd(2048), 65536, "even2"),
                   rsa_jwk(random_odd(2048), random_odd(3000), "huge-e"),
                   rsa_jwk(random_odd(2048), (1 << 32) + 1, "e-over-32-bits"),
                   rsa_jwk(random_odd(16384), 65537, "n16384"), rsa_jwk(random_odd(8200), 65537, "n8200"),
                   rsa_jwk(random_odd(1024), 65537, "n1024")]
        path = write("jwks/unsound.json", json.dumps({"keys": [good] + unsound}))
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks", path)
        self.assertEqual(self.refused_keys(gw, "files"), len(unsound))
        self.assertEqual(gw.metric('sse_gateway_auth_keys{mode="jwt"}'), 1)

    def test_sound_bounds_are_accepted(self):
        keys = [rsa_jwk(random_odd(2048), 3, "e3"), rsa_jwk(random_odd(8192), (1 << 32) - 1, "n8192")]
        path = write("jwks/bounds.json", json.dumps({"keys": keys}))
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks", path)
        self.assertEqual(gw.metric('sse_gateway_auth_keys{mode="jwt"}'), 2)
        self.assertEqual(self.refused_keys(gw, "files"), 0)

    def test_a_kid_given_twice_keeps_its_first_key(self):
        key, first = good_jwk("dup")
        dups = [rsa_jwk(random_odd(3072), 65537, "dup") for _ in range(20)]
        path = write("jwks/dup.json", json.dumps({"keys": [first] + dups}))
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks", path)
        self.assertEqual(gw.metric('sse_gateway_auth_keys{mode="jwt"}'), 1)
        self.assertEqual(self.refused_keys(gw, "files"), 20)
        tok = self.secret(jwt.encode({"sub": "9", "exp": int(time.time()) + 600}, key, algorithm="RS256",
                                     headers={"kid": "dup"}))
        self.assertEqual(self.status(gw, f"{STREAM}?access_token={tok}"), 200)

    def test_keys_refused_from_the_url_are_counted_there(self):
        _, good = good_jwk()
        provider = test_rotation.JwksProvider()
        self.addCleanup(provider.down)
        provider.keys = [good, rsa_jwk(random_odd(2048), 1, "evil")]
        gw = self.start("--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks-url", provider.url)
        self.assertEqual(self.refused_keys(gw, "url"), 1)


# --- section 4: credential paths -------------------------------------------------

class CredentialPathTest(HostileCase):
    def test_a_fifo_in_place_of_a_secret_file_refuses_to_start_at_once(self):
        path = fifo("paths/fifo-secret")
        link = os.path.join(DIR, "paths/link-to-fifo")
        if not os.path.lexists(link):
            os.symlink(path, link)
        for p in (path, link):
            with self.subTest(path=p):
                start = time.monotonic()
                self.assert_refused_to_start(["--proxy-secret-file", p], "--proxy-secret-file", p,
                                             "not a regular file")
                self.assertLess(time.monotonic() - start, 10)

    def test_a_directory_or_device_where_a_file_is_expected_is_refused(self):
        os.makedirs(os.path.join(DIR, "paths/dir"), exist_ok=True)
        self.assert_refused_to_start(["--proxy-secret-file", os.path.join(DIR, "paths/dir")],
                                     "--proxy-secret-file", "not a regular file")
        self.assert_refused_to_start(["--proxy-secret-file", "/dev/zero"], "--proxy-secret-file", "/dev/zero",
                                     "not a regular file")
        self.assert_refused_to_start(["--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks", "/dev/zero"],
                                     "--jwt-jwks", "not a regular file")

    def test_a_fifo_on_reload_is_a_failed_reload_and_later_reloads_still_work(self):
        path = write("paths/reload", f"{GOOD}\n")
        gw = self.start("--proxy-secret-file", path)
        self.secret(GOOD)
        fifo("paths/reload")
        self.sighup(gw, "failed")
        self.assertEqual(self.proxy_status(gw, GOOD), 200)
        failed = [l for l in gw.logs() if l.get("msg", "").startswith("credentials reload failed")]
        self.assertIn("not a regular file", failed[-1].get("error", ""))
        new = GOOD + "-new"
        self.secret(new)
        write("paths/reload", f"{new}\n")
        self.sighup(gw, "ok")
        self.assertEqual(self.proxy_status(gw, new), 200)
        self.assertEqual(self.proxy_status(gw, GOOD), 403)

    def test_a_fifo_under_a_watch_does_not_stop_the_watch(self):
        path = write("paths/watched", f"{GOOD}\n")
        gw = self.start("--proxy-secret-file", path, "--credentials-watch-seconds", "1")
        self.secret(GOOD)
        fifo("paths/watched")
        harness.wait_until(lambda: self.reloads(gw, "failed") >= 1, 15, "the watch's failed reload")
        new = GOOD + "-watched"
        self.secret(new)
        write("paths/watched", f"{new}\n")
        harness.wait_until(lambda: self.proxy_status(gw, new) == 200, 15, "the watch to load the new secret")

    def test_a_key_directory_larger_than_the_set_cap_is_refused(self):
        d = os.path.join(DIR, "paths/many")
        os.makedirs(d, exist_ok=True)
        _, good = good_jwk()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        padding = "# " + "x" * 1000 + "\n"
        body = padding * 1000 + pem  # about 1 MB: under the per-file cap
        for i in range(5):
            with open(os.path.join(d, f"k{i}.pem"), "w") as f:
                f.write(body)
        self.assert_refused_to_start(["--auth", "jwt", "--jwt-alg", "RS256", "--jwt-public-key", d],
                                     "--jwt-public-key", "MiB")


# --- section 5: plain-http JWKS to another host ----------------------------------

class JwksHttpTest(HostileCase):
    def test_http_to_another_host_refuses_to_start(self):
        for url in ("http://jwks.example.com/keys", "http://10.0.0.7:8080/jwks.json",
                    "http://[2001:db8::1]/jwks.json", "http://localhost.example.com/jwks"):
            with self.subTest(url=url):
                self.assert_refused_to_start(["--auth", "jwt", "--jwt-alg", "RS256", "--jwt-jwks-url", url],
                                             "--jwt-jwks-url", "--jwt-jwks-allow-http")

    def test_http_to_another_host_starts_with_the_explicit_flag_or_its_env_twin(self):
        for args, env in ((["--jwt-jwks-allow-http"], None), ([], {"SSE_GATEWAY_JWT_JWKS_ALLOW_HTTP": "true"})):
            with self.subTest(args=args, env=env):
                gw = harness.Gateway("--database-url", self.pg.url, "--auth", "jwt", "--jwt-alg", "RS256",
                                     "--jwt-jwks-url", "http://192.0.2.1:9/jwks.json", *args, env=env)
                gw.__enter__()
                self.addCleanup(gw.__exit__, None, None, None)
                self.assertTrue(gw.running())

    def test_http_to_loopback_needs_no_flag(self):
        for host in ("127.0.0.1", "localhost", "[::1]", "127.8.9.10"):
            with self.subTest(host=host):
                gw = harness.Gateway("--database-url", self.pg.url, "--auth", "jwt", "--jwt-alg", "RS256",
                                     "--jwt-jwks-url", f"http://{host}:9/jwks.json")
                gw.__enter__()
                self.addCleanup(gw.__exit__, None, None, None)
                self.assertTrue(gw.running())


if __name__ == "__main__":
    unittest.main(verbosity=2)
