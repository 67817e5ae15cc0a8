"""Logs: one JSON line per stream open and close, and never a secret."""
import socket
import struct
import unittest

import harness

SECRET = "sentinel-secret-7c2f9a1e5b-0123456789ab"
WRONG = "sentinel-wrong-3d8b6e0f4a"


def setUpModule():
    harness.start_postgres()


class LoggingTest(harness.GatewayTestCase, unittest.TestCase):
    def test_every_stdout_line_is_a_json_object_with_ts_level_and_msg(self):
        gw = self.gateway()
        gw.wait_ready()
        with gw.stream(60):
            pass
        gw.terminate()
        gw.wait(30)
        lines = [l for l in gw.stdout_lines if l.strip()]
        self.assertTrue(lines)
        self.assertEqual(len(gw.logs()), len(lines), "some stdout lines are not JSON objects")
        for line in gw.logs():
            self.assertTrue({"ts", "level", "msg"} <= line.keys(), line)

    def test_one_line_for_stream_open_and_one_for_stream_close(self):
        gw = self.gateway()
        client = self.stream(gw, 4242)
        opened = gw.wait_log(lambda l: l.get("msg") == "stream open", 10, "a stream open line")
        self.assertEqual(str(opened.get("user")), "4242")
        self.assertEqual(opened.get("route"), harness.STREAM_PATH)
        self.assertIn("sid", opened)
        client.close()
        closed = gw.wait_log(lambda l: l.get("msg") == "stream close", 15, "a stream close line")
        self.assertEqual(str(closed.get("user")), "4242")
        self.assertEqual(closed.get("route"), harness.STREAM_PATH)
        self.assertEqual(closed.get("sid"), opened["sid"])
        self.assertIsInstance(closed.get("duration_ms"), (int, float))
        self.assertGreaterEqual(closed["duration_ms"], 0)
        self.assertTrue(closed.get("reason"), closed)
        self.assertEqual(sum(1 for l in gw.logs() if l.get("msg") == "stream open"), 1)
        self.assertEqual(sum(1 for l in gw.logs() if l.get("msg") == "stream close"), 1)

    def test_a_client_that_resets_its_stream_is_logged_at_debug_with_the_error(self):
        gw = self.gateway("--log-level", "debug")
        client = self.stream(gw, 4343)
        opened = gw.wait_log(lambda l: l.get("msg") == "stream open", 10, "a stream open line")
        # Abort the connection: the kernel sends a reset, not a FIN.
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        line = gw.wait_log(lambda l: l.get("msg") == "stream socket error", 15, "a stream socket error line")
        self.assertEqual(line.get("level"), "debug")  # a peer that left is ordinary
        self.assertEqual(line.get("sid"), opened["sid"])
        self.assertEqual(line.get("during"), "read")
        self.assertIn("reset", line.get("error", "").lower())
        closed = gw.wait_log(lambda l: l.get("msg") == "stream close", 15, "a stream close line")
        self.assertEqual(closed.get("reason"), "read_error")

    def test_the_secret_never_appears_in_any_log_line(self):
        gw = self.gateway("--log-level", "debug", secret=SECRET)
        gw.wait_ready()
        client = self.stream(gw, 50, secret=SECRET)
        self.pg.execute("NOTIFY user_50, 'approved'")
        client.next_event()
        for secret in (WRONG, "", SECRET + "x", SECRET[:-1]):
            self.assertEqual(gw.get(harness.STREAM_PATH, {"X-User-Id": "50", "X-Gateway-Secret": secret})[0], 403)
        self.assertEqual(gw.get(harness.STREAM_PATH, {"X-User-Id": "bad", "X-Gateway-Secret": SECRET})[0], 400)
        client.close()
        gw.wait_log(lambda l: l.get("msg") == "stream close", 15, "a stream close line")
        gw.terminate()
        gw.wait(30)
        output = gw.all_output()
        self.assertIn("stream close", output)
        for needle in (SECRET, WRONG, SECRET[:-1]):
            self.assertNotIn(needle, output)

    def test_a_refused_config_does_not_echo_the_secret(self):
        code, stdout, stderr = harness.run_config(
            ["--proxy-secret", SECRET, "--database-url", self.pg.url, "--heartbeat", "abc"])
        self.assertEqual(code, 2)
        self.assertNotIn(SECRET, stdout + stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
