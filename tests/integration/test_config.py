"""Configuration: flags and their env twins, refusals with exit code 2 and a
one-line message, and the proxy-header mode's insistence on a secret."""
import json
import os
import tempfile
import unittest

import harness


def setUpModule():
    harness.start_postgres()


class ConfigTest(harness.GatewayTestCase, unittest.TestCase):
    def assert_refused(self, args, env=None):
        code, stdout, stderr = harness.run_config(args, env)
        self.assertEqual(code, 2, f"args={args} stdout={stdout!r} stderr={stderr!r}")
        lines = stderr.strip("\n").split("\n")
        self.assertEqual(len(lines), 1, f"expected one stderr line, got {stderr!r}")
        self.assertTrue(lines[0].startswith("sse-gateway: "), lines[0])
        return lines[0]

    def valid(self):
        return ["--listen", "127.0.0.1:0", "--database-url", self.pg.url, "--proxy-secret", harness.SECRET]

    def test_help_prints_usage_and_exits_0(self):
        code, stdout, stderr = harness.run_config(["--help"])
        self.assertEqual(code, 0, stderr)
        self.assertIn("--listen", stdout)
        self.assertIn("--proxy-secret", stdout)

    def test_proxy_header_mode_without_a_secret_refuses_to_start(self):
        self.assert_refused(["--listen", "127.0.0.1:0", "--database-url", self.pg.url])

    def test_a_refused_start_says_only_why(self):
        # Issue 18: the "connection limit" line came before the configuration error,
        # as if the gateway had started.
        for args in (["--listen", "127.0.0.1:0", "--database-url", self.pg.url],
                     self.valid() + ["--auth", "jwt"]):
            with self.subTest(args=args):
                code, stdout, stderr = harness.run_config(args)
                self.assertEqual(code, 2, stderr)
                self.assertEqual(stdout, "", "nothing is logged before the configuration error")
                self.assertEqual(len(stderr.strip("\n").split("\n")), 1, stderr)

    def test_allow_insecure_proxy_header_starts_with_a_warning(self):
        gw = self.gateway("--allow-insecure-proxy-header", secret=None)
        gw.wait_log(lambda l: l.get("level") == "warn", 10, 'a "level":"warn" line')
        gw.wait_ready()
        with gw.stream(5, secret=None) as client:  # no secret header at all
            self.assertEqual(client.status, 200)

    def test_a_bad_flag_value_refuses_to_start(self):
        for bad in (["--heartbeat", "abc"], ["--listen", "nonsense"], ["--bogus"], ["--heartbeat"],
                    ["--retry-ms", "-5"], ["--log-level", "loud"], ["--auth", "magic"]):
            with self.subTest(bad=bad):
                self.assert_refused(self.valid() + bad)

    def test_a_config_file_configures_the_gateway_below_env_and_flags(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "gateway.toml")
            with open(path, "w") as f:
                f.write('heartbeat = 1\nevent = "from_file"\nwrap-field = "file_field"\n')
            gw = self.gateway("--config", path, "--event", "from_flag")
            client = self.stream(gw, 14)
            client.wait_comment("hb", timeout=15, count=2)  # the file's heartbeat
            self.pg.notify("user_14", "approved")
            event = client.next_event(timeout=10)
            self.assertEqual(event["event"], "from_flag")
            self.assertEqual(json.loads(event["data"]), {"file_field": "approved"})

    def test_a_bad_config_file_refuses_to_start_naming_the_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "gateway.toml")
            with open(path, "w") as f:
                f.write('heartbeat = 5\nmax-conections = 10\n')
            line = self.assert_refused(self.valid() + ["--config", path])
            self.assertIn(f"{path}:2: unknown key 'max-conections'", line)

    def test_a_bad_env_value_refuses_to_start(self):
        self.assert_refused(self.valid(), env={"SSE_GATEWAY_HEARTBEAT": "abc"})

    def test_the_env_twin_of_a_flag_is_honoured(self):
        gw = self.gateway(env={"SSE_GATEWAY_HEARTBEAT": "1"})
        client = self.stream(gw, 12)
        client.wait_comment("hb", timeout=15, count=2)

    def test_the_database_url_env_variable_is_honoured(self):
        gw = harness.Gateway("--proxy-secret", harness.SECRET, env={"DATABASE_URL": self.pg.url}).__enter__()
        self.addCleanup(gw.__exit__, None, None, None)
        gw.wait_ready()

    def test_the_secret_can_come_from_the_environment(self):
        gw = harness.Gateway("--database-url", self.pg.url,
                             env={"SSE_GATEWAY_PROXY_SECRET": harness.SECRET}).__enter__()
        self.addCleanup(gw.__exit__, None, None, None)
        client = self.stream(gw, 13)
        self.assertEqual(client.status, 200)

    def test_the_stream_route_is_configurable(self):
        gw = self.gateway("--stream-path", "/events", "--event", "status_change",
                          "--channel-template", "acct_{user}", "--wrap-field", "state")
        client = self.stream(gw, 14, path="/events")
        self.pg.execute("NOTIFY acct_14, 'approved'")
        event = client.next_event()
        self.assertEqual(event["event"], "status_change")
        self.assertEqual(event["data"], '{"state":"approved"}')


if __name__ == "__main__":
    unittest.main(verbosity=2)
