"""The open-file limit and --max-connections: by default the connection limit is
derived from the limit in force (after raising soft to hard), so a default start
is quiet; an explicit value the limit cannot hold warns; and when clients use up
every connection, the next ones get 503 while the gateway still has descriptors
for its database connections and for accept() itself (no EMFILE)."""
import os
import socket
import unittest

import harness

LIMIT = 300  # the gateway's RLIMIT_NOFILE in these tests (well under this machine's)


def setUpModule():
    harness.start_postgres()


def limited(gw, soft, hard):
    """Runs the gateway under prlimit: the binary itself then raises soft to hard."""
    gw.argv = ["/usr/bin/prlimit", f"--nofile={soft}:{hard}", "--"] + gw.argv
    return gw


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class OpenFileLimitTest(harness.GatewayTestCase, unittest.TestCase):
    def start(self, *args, soft=LIMIT, hard=LIMIT):
        base = ["--database-url", self.pg.url, "--proxy-secret", harness.SECRET, "--threads", "2"]
        gw = limited(harness.Gateway(*base, *args), soft, hard).__enter__()
        self.addCleanup(gw.__exit__, None, None, None)
        return gw

    def limit_line(self, gw):
        return gw.wait_log(lambda l: l.get("msg") in ("connection limit", "open-file limit is below --max-connections",
                                                       "open-file limit leaves no room for connections"),
                           10, "the connection limit line")

    def test_a_default_start_derives_the_limit_and_does_not_warn(self):
        gw = self.start(soft=256, hard=LIMIT)
        gw.wait_ready()
        line = self.limit_line(gw)
        self.assertEqual(line["msg"], "connection limit", line)
        self.assertEqual(line["from"], "open-file limit")
        self.assertEqual(line["open_file_limit"], LIMIT)  # soft was raised to hard
        reserved = line["reserved_fds"]
        self.assertTrue(16 < reserved < 100, line)
        self.assertEqual(line["max_connections"], LIMIT - reserved)
        self.assertEqual(gw.metric("sse_gateway_max_connections"), LIMIT - reserved)
        warnings = [l for l in gw.logs() if l.get("level") in ("warn", "error")]
        self.assertEqual(warnings, [])

    def test_the_reserve_covers_what_the_gateway_holds_open_itself(self):
        # A snapshot pool of 4, all connected, plus the LISTEN connection: the
        # descriptors in use, with no client, stay well inside the reserve.
        gw = self.start("--snapshot-sql", "SELECT 'snap'::text WHERE $1::text IS NOT NULL", "--snapshot-pool", "4")
        gw.wait_ready()
        reserved = self.limit_line(gw)["reserved_fds"]
        with gw.stream(1) as client:
            self.assertEqual(client.next_event()["data"], '{"status":"snap"}')
            harness.wait_until(lambda: self.pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sse-gateway-snapshot'").strip()
                == "4", 10, "four snapshot connections")
            idle = open_fds(gw.proc.pid) - 1  # less the stream's socket
        self.assertLess(idle, reserved - 32, "fewer fds idle than reserved less the spare")

    def test_an_explicit_limit_above_what_the_open_files_allow_warns(self):
        gw = self.start("--max-connections", "1000")
        line = self.limit_line(gw)
        self.assertEqual(line["msg"], "open-file limit is below --max-connections", line)
        self.assertEqual(line["level"], "warn")
        self.assertEqual(line["max_connections"], 1000)
        self.assertEqual(gw.metric("sse_gateway_max_connections"), 1000)

    def test_an_explicit_limit_within_the_open_files_is_quiet(self):
        gw = self.start("--max-connections", "100")
        line = self.limit_line(gw)
        self.assertEqual((line["msg"], line["from"], line["max_connections"]),
                         ("connection limit", "--max-connections", 100))

    def test_when_clients_take_every_connection_the_next_get_503_not_emfile(self):
        gw = self.start("--header-timeout", "120", "--heartbeat", "600", "--snapshot-sql",
                        "SELECT 'snap'::text WHERE $1::text IS NOT NULL", "--snapshot-pool", "2")
        gw.wait_ready()
        line = self.limit_line(gw)
        max_connections = line["max_connections"]
        stream = self.stream(gw, 7)
        self.assertEqual(stream.next_event()["data"], '{"status":"snap"}')
        # Idle connections up to the limit (the stream is one).
        held = []
        self.addCleanup(lambda: [s.close() for s in held])
        for _ in range(max_connections - 1):
            held.append(socket.create_connection(("127.0.0.1", gw.port), timeout=10))
        # (No /metrics check here: its own request would be one over the limit.
        # They are accepted in order, so these all count before the next.)
        # Beyond it, 40 more (over twice the ops reserve), all kept open: each is a 503.
        extra = []
        self.addCleanup(lambda: [c.close() for c in extra])
        for i in range(40):
            extra.append(gw.stream(8))
            self.assertEqual(extra[-1].status, 503, f"extra connection {i}")
        peak = open_fds(gw.proc.pid)
        for c in extra:
            c.wait_eof()
            self.assertIn(b"over_capacity", c.raw_bytes())
        self.assertLess(peak, LIMIT, "the gateway's descriptors at the peak")
        self.assertFalse([l for l in gw.logs() if l.get("msg") == "accept failed"], gw.tail())
        # Still full, the database side needs descriptors of its own: a lost LISTEN
        # connection comes back and the held stream still gets its events.
        self.pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'sse-gateway'")
        harness.wait_until(lambda: sum(1 for l in gw.logs() if l.get("msg") == "database connected") >= 2, 20,
                           "the LISTEN connection to come back")
        # (/readyz may be past the ops reserve too: ask the stream itself.) Until
        # the channel is listened again a NOTIFY can be missed, so send one a second.
        seen = []
        for n in range(20):
            self.pg.notify("user_7", f"while-full-{n}")
            try:
                seen.append(stream.next_event(timeout=1)["data"])
            except AssertionError:
                continue
            if "while-full" in seen[-1]:
                break
        self.assertTrue(any("while-full" in d for d in seen), seen)
        self.assertFalse([l for l in gw.logs() if l.get("msg") == "accept failed"], gw.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
