"""The database's NOTIFY queue fill on /metrics: pg_notification_queue_usage() is
read now and then on a query connection (never the LISTEN one); a queue held back
by a listener in an open transaction shows up; a database that cannot be asked
is said so, with the last value kept."""
import subprocess
import unittest

import harness


def setUpModule():
    harness.start_postgres()


class StuckListener:
    """A psql session that LISTENs and then sits in an open transaction: the queue
    cannot be trimmed past its position while NOTIFYs pile up behind it."""

    def __init__(self, url):
        self.proc = subprocess.Popen([harness.PSQL, url, "-qAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("LISTEN queue_filler;\nBEGIN;\nSELECT 'in-transaction';\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if line.strip() != "in-transaction":
            self.close()
            raise AssertionError(f"the stuck listener did not start: {line!r} {self.proc.stderr.read()!r}")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.communicate("COMMIT;\n\\q\n", timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class QueueUsageTest(harness.GatewayTestCase, unittest.TestCase):
    def test_the_queue_usage_is_read_on_its_own_connection(self):
        gw = self.gateway("--queue-usage-seconds", "1")
        gw.wait_metric("sse_gateway_pg_notification_queue_usage_up", 1)
        self.assertEqual(gw.metric("sse_gateway_pg_notification_queue_usage"), 0)
        self.assertEqual(gw.metric("sse_gateway_pg_notification_queue_usage_failures_total"), 0)
        # Without --snapshot-sql, the reads get one query connection; the LISTEN
        # connection is the other one.
        # (An earlier test's gateway may take a moment to leave pg_stat_activity.)
        harness.wait_until(lambda: self.pg.execute(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'sse-gateway%' "
            "ORDER BY 1").split() == ["sse-gateway", "sse-gateway-snapshot"], 10, "one LISTEN and one query connection")

    def test_a_queue_held_back_by_an_open_transaction_shows_on_metrics(self):
        gw = self.gateway("--queue-usage-seconds", "1")
        stream = self.stream(gw, 21)
        gw.wait_metric("sse_gateway_pg_notification_queue_usage_up", 1)
        stuck = StuckListener(self.pg.url)
        self.addCleanup(stuck.close)
        # ~16 MB of distinct 8000-byte payloads (identical ones in one transaction
        # would be folded into one): about 2,000 of the queue's 8 kB pages.
        for _ in range(4):
            self.pg.execute("SELECT pg_notify('nobody_listens', repeat('x', 7990) || g) "
                            "FROM generate_series(1, 500) g")
        in_db = float(self.pg.execute("SELECT pg_notification_queue_usage()"))
        self.assertGreater(in_db, 0)
        usage = harness.wait_until(lambda: gw.metric("sse_gateway_pg_notification_queue_usage") or None, 10,
                                   "a queue usage above 0 on /metrics")
        self.assertGreater(usage, 0)
        self.assertLessEqual(usage, 1)
        self.assertAlmostEqual(usage, in_db, delta=in_db)  # same order of magnitude
        # The gateway's own stream is not held up by the filler.
        self.pg.notify("user_21", "still-live")
        self.assertEqual(stream.next_event()["data"], '{"status":"still-live"}')
        stuck.close()

    def test_reads_that_fail_say_so_and_keep_the_last_value(self):
        gw = self.gateway("--queue-usage-seconds", "1")
        gw.wait_metric("sse_gateway_pg_notification_queue_usage_up", 1)
        self.pg.control("down", "fast")
        try:
            gw.wait_metric("sse_gateway_pg_notification_queue_usage_up", 0, timeout=20)
            self.assertGreater(gw.metric("sse_gateway_pg_notification_queue_usage_failures_total"), 0)
            self.assertEqual(gw.metric("sse_gateway_pg_notification_queue_usage"), 0)  # the last value read
            gw.wait_log(lambda l: l.get("msg") == "notification queue usage unreadable", 10,
                        "the unreadable log line")
        finally:
            self.pg.control("up")
        gw.wait_metric("sse_gateway_pg_notification_queue_usage_up", 1, timeout=30)
        lines = [l for l in gw.logs() if l.get("msg") == "notification queue usage unreadable"]
        self.assertEqual(len(lines), 1, "one line per outage, not one per read")

    def test_the_usage_is_nan_before_the_first_read_and_absent_when_switched_off(self):
        off = self.gateway("--queue-usage-seconds", "0")
        off.wait_ready()
        self.assertIsNone(off.metric("sse_gateway_pg_notification_queue_usage"))
        self.assertIsNone(off.metric("sse_gateway_pg_notification_queue_usage_up"))
        # A database that never answers: the gauge says NaN, not a made-up 0.
        dead = harness.Gateway("--database-url", "postgresql://nobody@127.0.0.1:1/none", "--proxy-secret",
                               harness.SECRET, "--queue-usage-seconds", "1").__enter__()
        self.addCleanup(dead.__exit__, None, None, None)
        harness.wait_until(lambda: (dead.metric("sse_gateway_pg_notification_queue_usage_failures_total") or 0) >= 1,
                           15, "a failed read")
        status, _, body = dead.get("/metrics")
        self.assertIn(b"\nsse_gateway_pg_notification_queue_usage NaN\n", body)
        self.assertEqual(dead.metric("sse_gateway_pg_notification_queue_usage_up"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
