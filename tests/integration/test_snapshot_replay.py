"""Nothing a user would notice is lost around connecting and reconnecting: the
snapshot covers what happened before the stream was live, Last-Event-ID replays
what a browser missed while away."""
import json
import time
import unittest

import harness
import users_db


def setUpModule():
    pg = harness.start_postgres()
    users_db.create_users(pg, 100)


def status(event):
    return json.loads(event["data"])["status"]


class SnapshotTest(harness.GatewayTestCase, unittest.TestCase):
    def setUp(self):
        self.gw = self.gateway("--heartbeat", "600", "--snapshot-sql", users_db.SNAPSHOT_SQL)

    def test_a_status_set_before_the_browser_connects_arrives_as_the_first_event(self):
        users_db.set_status(self.pg, 1, "approved")  # the trigger NOTIFYs nobody yet
        client = self.stream(self.gw, 1)
        first = client.next_event()
        self.assertEqual(first["data"], '{"status":"approved"}')
        self.assertEqual(first["event"], "authy_status")
        client.expect_no_event(0.5)

    def test_no_snapshot_is_sent_when_the_status_is_null(self):
        client = self.stream(self.gw, 2)
        client.expect_no_event(0.7)
        users_db.set_status(self.pg, 2, "denied")
        self.assertEqual(status(client.next_event()), "denied")

    def test_the_snapshot_comes_before_events_that_follow_it(self):
        users_db.set_status(self.pg, 3, "pending")
        client = self.stream(self.gw, 3)
        users_db.set_status(self.pg, 3, "approved")
        seen = [status(client.next_event()), status(client.next_event())]
        self.assertEqual(seen[-1], "approved")
        self.assertEqual(seen[0], "pending")

    def test_an_unknown_last_event_id_gets_the_snapshot(self):
        users_db.set_status(self.pg, 4, "approved")
        for bad in ("nonsense", "deadbeef-12", self.boot_id() + "-999999999"):
            with self.subTest(last_event_id=bad):
                client = self.gw.stream(4, extra={"Last-Event-ID": bad})
                try:
                    self.assertEqual(status(client.next_event()), "approved")
                finally:
                    client.close()

    def test_events_missed_while_away_are_replayed_in_order_exactly_once(self):
        keeper = self.stream(self.gw, 5)  # another tab keeps the channel listened
        away = self.gw.stream(5)
        self.pg.notify("user_5", "one")
        self.assertEqual(status(keeper.next_event()), "one")
        seen = away.next_event()
        self.assertEqual(status(seen), "one")
        away.close()
        self.gw.wait_metric('sse_gateway_streams', 1)
        for s in ("two", "three", "four"):
            self.pg.notify("user_5", s)
        for s in ("two", "three", "four"):
            self.assertEqual(status(keeper.next_event()), s)

        back = self.stream(self.gw, 5, extra={"Last-Event-ID": seen["id"]})
        self.assertEqual([status(back.next_event()) for _ in range(3)], ["two", "three", "four"])
        back.expect_no_event(0.7)
        self.pg.notify("user_5", "five")
        self.assertEqual(status(back.next_event()), "five")
        back.expect_no_event(0.5)
        self.assertGreaterEqual(self.gw.metric("sse_gateway_replays_total"), 1)

    def test_a_replay_that_cannot_be_proven_sends_the_snapshot_instead(self):
        users_db.set_status(self.pg, 6, "approved")
        first = self.gw.stream(6)
        event = first.next_event()  # the snapshot; its id is this process's
        first.close()
        self.gw.wait_metric("sse_gateway_channels_listened", 0)
        # The channel was unlistened in between: the id proves nothing any more.
        back = self.stream(self.gw, 6, extra={"Last-Event-ID": event["id"]})
        self.assertEqual(status(back.next_event()), "approved")

    def boot_id(self):
        line = self.gw.wait_log(lambda l: l.get("msg") == "listening", 5, "listening line")
        return line["boot_id"]


class SlowSnapshotTest(harness.GatewayTestCase, unittest.TestCase):
    """A snapshot query takes time; what is committed meanwhile is newer than its result."""

    def setUp(self):
        self.gw = self.gateway("--heartbeat", "600", "--snapshot-sql", users_db.SLOW_SNAPSHOT_SQL)

    def test_a_change_committed_during_the_snapshot_query_is_what_the_stream_shows_last(self):
        users_db.set_status(self.pg, 20, "pending")
        client = self.stream(self.gw, 20)
        users_db.wait_slow_snapshot_running(self.pg)  # it has read "pending"
        users_db.set_status(self.pg, 20, "approved")  # the trigger NOTIFYs
        self.assertEqual(status(client.next_event()), "approved")
        # The NOTIFY superseded the query's older result: it is not sent at all.
        client.expect_no_event(2.5)

    def test_streams_of_one_user_opening_together_share_one_snapshot_query(self):
        users_db.set_status(self.pg, 21, "approved")
        before = users_db.snapshot_queries(self.pg, 21)
        opened = time.monotonic()
        tabs = [self.stream(self.gw, 21) for _ in range(10)]
        arrived = []
        for tab in tabs:
            self.assertEqual(status(tab.next_event(timeout=15)), "approved")
            arrived.append(time.monotonic() - opened)
        # One query of 1.5 s for all ten: ten on the two-connection pool took ~7.5 s.
        self.assertEqual(users_db.snapshot_queries(self.pg, 21) - before, 1)
        self.assertLess(max(arrived), 3.0, arrived)
        for tab in tabs:
            tab.expect_no_event(0.3)


class SnapshotFailureTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_failing_snapshot_query_leaves_the_stream_working(self):
        gw = self.gateway("--heartbeat", "600", "--snapshot-sql", "SELECT status FROM no_such_table WHERE id = $1")
        client = self.stream(gw, 7)
        self.pg.notify("user_7", "approved")
        self.assertEqual(status(client.next_event()), "approved")
        gw.wait_log(lambda l: l.get("msg") == "snapshot query failed", 5, "the snapshot failure log line")

    def test_a_foreign_last_event_id_without_snapshots_never_leaves_the_client_stuck(self):
        gw = self.gateway("--heartbeat", "600")
        client = self.stream(gw, 8, extra={"Last-Event-ID": "cafebabe-3"})
        self.pg.notify("user_8", "approved")
        self.assertEqual(status(client.next_event()), "approved")


if __name__ == "__main__":
    unittest.main()
