"""A database that goes away: streams stay open with heartbeats, /readyz tells the
truth, and once PostgreSQL is back every stream ends with its user's latest status,
even when that status changed while the gateway could not listen."""
import json
import os
import random
import subprocess
import threading
import time
import unittest

import harness
import many_streams
import users_db

USERS = 200


def setUpModule():
    pg = harness.start_postgres()
    users_db.create_users(pg, USERS)


def pg_ctl(pg, *args):
    cmd = ["bash", os.path.join(harness.SCRIPTS, "tmp-postgres.sh"), args[0], pg.dir, *args[1:]]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"tmp-postgres.sh {args} failed: {out.stderr}")


class Updater(threading.Thread):
    """Changes random users' statuses continuously; failures while the database is
    down are expected and ignored. Remembers nothing: the table is the truth."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg = pg
        self.stop = threading.Event()
        self.done = 0

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            user = random.randint(1, USERS)
            try:
                users_db.set_status(self.pg, user, f"s{n}")
                self.done += 1
            except AssertionError:
                time.sleep(0.05)


class ReadyWatcher(threading.Thread):
    def __init__(self, gw):
        super().__init__(daemon=True)
        self.gw = gw
        self.stop = threading.Event()
        self.seen = []

    def run(self):
        while not self.stop.is_set():
            try:
                code = self.gw.get("/readyz", timeout=2)[0]
            except OSError:
                code = None
            if not self.seen or self.seen[-1] != code:
                self.seen.append(code)
            time.sleep(0.05)


class OutageTest(harness.GatewayTestCase, unittest.TestCase):
    def open_streams(self, gw):
        streams = many_streams.ManyStreams(
            gw.port, lambda u: {"X-User-Id": str(u), "X-Gateway-Secret": harness.SECRET}, range(1, USERS + 1))
        self.addCleanup(streams.close)
        return streams

    def assert_final_statuses(self, streams, timeout=30):
        def converged():
            rows = self.pg.execute("SELECT id, coalesce(authy_status, '') FROM users ORDER BY id")
            want = dict(line.split("|") for line in rows.split())
            wrong = []
            for s in streams.streams:
                events = s.events()
                got = json.loads(events[-1]["data"])["status"] if events else ""
                if got != want[str(s.user)]:
                    wrong.append((s.user, got, want[str(s.user)]))
            self.last_wrong = wrong
            return not wrong

        deadline = time.monotonic() + timeout
        while not converged():
            if time.monotonic() > deadline:
                self.fail(f"{len(self.last_wrong)} streams without their final status, e.g. {self.last_wrong[:5]}")
            streams.pump(0.5)

    def test_streams_survive_three_restarts_and_end_with_every_final_status(self):
        gw = self.gateway("--heartbeat", "1", "--snapshot-sql", users_db.SNAPSHOT_SQL)
        streams = self.open_streams(gw)
        watcher = ReadyWatcher(gw)
        watcher.start()
        updater = Updater(self.pg)
        updater.start()
        try:
            for mode in ("fast", "immediate", "fast"):
                streams.pump(1.0)
                pg_ctl(self.pg, "down", mode)
                streams.pump(1.5)  # updates fail meanwhile; heartbeats keep flowing
                pg_ctl(self.pg, "up")
                streams.pump(2.0)
        finally:
            updater.stop.set()
            updater.join(10)
        self.assertGreater(updater.done, 20)
        self.assert_final_statuses(streams)
        watcher.stop.set()
        watcher.join(5)

        closed = [s.user for s in streams.streams if s.eof_at is not None]
        self.assertEqual(closed, [], "the gateway closed streams")
        self.assertFalse([l for l in gw.logs() if l.get("msg") == "stream close"])
        self.assertIn(503, watcher.seen)
        self.assertEqual(watcher.seen[-1], 200, watcher.seen)
        self.assertGreaterEqual(gw.metric("sse_gateway_pg_reconnects_total"), 3)
        self.assertTrue(all(b": hb\n\n" in s.body for s in streams.streams))

    def test_terminating_the_listen_backend_recovers_and_catches_up(self):
        gw = self.gateway("--heartbeat", "1", "--snapshot-sql", users_db.SNAPSHOT_SQL)
        streams = self.open_streams(gw)
        gw.wait_ready()
        # Change one status without a NOTIFY, as if it happened during the gap.
        self.pg.execute("ALTER TABLE users DISABLE TRIGGER sse_gateway_authy_status")
        try:
            self.pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'sse-gateway'")
            users_db.set_status(self.pg, 17, "approved-in-the-gap")
        finally:
            self.pg.execute("ALTER TABLE users ENABLE TRIGGER sse_gateway_authy_status")
        gw.wait_log(lambda l: l.get("msg") == "database connection lost", 10, "the loss to be noticed")
        # The server's parting FATAL is a JSON log line, not libpq's raw stderr text.
        notices = [l for l in gw.logs() if l.get("msg") == "database notice"]
        self.assertTrue(any(n.get("severity") == "FATAL" and n.get("connection") == "sse-gateway" and
                            "administrator command" in n.get("message", "") for n in notices), notices)
        self.assertNotIn("FATAL:", "\n".join(gw.stderr_lines))
        gw.wait_ready(30)
        self.assert_final_statuses(streams)
        users_db.set_status(self.pg, 18, "after")
        self.assert_final_statuses(streams)
        self.assertEqual([s.user for s in streams.streams if s.eof_at is not None], [])


    def test_a_catch_up_resends_nothing_when_the_status_is_unchanged(self):
        # The stream's own snapshot is what it was told: found by the soak, a catch-up
        # compared only with the last NOTIFY and re-sent every unchanged status of a
        # channel that had had none (5,033 of 10,000 streams after one outage).
        gw = self.gateway("--heartbeat", "600", "--snapshot-sql", users_db.SNAPSHOT_SQL)
        self.pg.execute(f"INSERT INTO users VALUES ({USERS + 1}, NULL) ON CONFLICT DO NOTHING")
        users_db.set_status(self.pg, USERS + 1, "pending")  # before anyone listens
        stream = self.stream(gw, USERS + 1)
        self.assertEqual(stream.next_event()["data"], '{"status":"pending"}')  # the snapshot
        catch_ups = gw.metric("sse_gateway_catch_ups_total") or 0
        self.pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'sse-gateway'")
        gw.wait_log(lambda l: l.get("msg") == "database connection lost", 10, "the loss to be noticed")
        gw.wait_ready(30)
        gw.wait_metric("sse_gateway_catch_ups_total", catch_ups + 1)
        stream.expect_no_event(2)  # the catch-up's snapshot equals what the stream has
        users_db.set_status(self.pg, USERS + 1, "approved")
        self.assertEqual(stream.next_event()["data"], '{"status":"approved"}')

    def test_a_change_committed_during_the_catch_up_query_is_what_the_stream_shows_last(self):
        # Found in review: the catch-up's query read the old status, the NOTIFY of the
        # new one was delivered while it ran, then the older result was sent after it.
        gw = self.gateway("--heartbeat", "600", "--snapshot-sql", users_db.SLOW_SNAPSHOT_SQL)
        user = USERS + 2
        self.pg.execute(f"INSERT INTO users VALUES ({user}, NULL) ON CONFLICT DO NOTHING")
        users_db.set_status(self.pg, user, "pending")
        stream = self.stream(gw, user)
        self.assertEqual(stream.next_event(timeout=15)["data"], '{"status":"pending"}')
        pg_ctl(self.pg, "down", "fast")
        gw.wait_log(lambda l: l.get("msg") == "database connection lost", 10, "the loss to be noticed")
        pg_ctl(self.pg, "up")
        users_db.wait_slow_snapshot_running(self.pg, 30)  # the catch-up has read "pending"
        users_db.set_status(self.pg, user, "approved")  # the trigger NOTIFYs
        self.assertEqual(stream.next_event(timeout=15)["data"], '{"status":"approved"}')
        # The catch-up's older result must not follow the NOTIFY.
        stream.expect_no_event(2.5)


if __name__ == "__main__":
    unittest.main()
