"""Channel modes for scale: shared mode LISTENs on one channel and routes by the
user id in the payload; a broadcast channel reaches every stream."""
import unittest

import harness
import users_db


def setUpModule():
    pg = harness.start_postgres()
    users_db.create_users(pg, 20)


class SharedModeTest(harness.GatewayTestCase, unittest.TestCase):
    def setUp(self):
        self.gw = self.gateway("--heartbeat", "600", "--channel-mode", "shared")

    def test_one_listen_carries_every_user_and_routes_by_the_payload(self):
        a = self.stream(self.gw, 1)
        b = self.stream(self.gw, 2)
        a2 = self.stream(self.gw, 1)
        self.assertEqual(self.gw.metric("sse_gateway_channels_listened"), 1)
        self.pg.notify("sse_gateway_events", '{"user":"1","status":"approved"}')
        self.pg.notify("sse_gateway_events", '{"user":2,"status":"denied"}')
        self.assertEqual(a.next_event()["data"], '{"user":"1","status":"approved"}')
        self.assertEqual(a2.next_event()["data"], '{"user":"1","status":"approved"}')
        self.assertEqual(b.next_event()["data"], '{"user":2,"status":"denied"}')
        a.expect_no_event(0.5)
        b.expect_no_event(0.1)

    def test_payloads_without_a_valid_user_reach_nobody(self):
        a = self.stream(self.gw, 3)
        for bad in ('{"status":"x"}', "approved", '{"user":"3;DROP"}', '{"user":"' + "9" * 30 + '"}'):
            self.pg.notify("sse_gateway_events", bad)
        a.expect_no_event(0.7)
        self.assertEqual(self.gw.metric("sse_gateway_notifications_unrouted_total"), 4)
        self.pg.notify("user_3", "per-user channels are not listened in shared mode")
        a.expect_no_event(0.5)


class SharedModeOutageTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_change_during_a_lost_connection_is_caught_up_in_shared_mode(self):
        gw = self.gateway("--heartbeat", "600", "--channel-mode", "shared", "--snapshot-sql", users_db.SNAPSHOT_SQL)
        users_db.set_status(self.pg, 5, "pending")
        s = self.stream(gw, 5)
        self.assertEqual(s.next_event()["data"], '{"status":"pending"}')
        # The change lands without a NOTIFY the gateway could see (the trigger
        # NOTIFYs user_5, which shared mode does not listen to), then the LISTEN
        # connection is cut: only the catch-up can tell the stream.
        users_db.set_status(self.pg, 5, "approved")
        s.expect_no_event(0.5)
        self.pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sse-gateway'")
        gw.wait_log(lambda l: l.get("msg") == "database connection lost", 10, "the loss")
        self.assertEqual(s.next_event(timeout=20)["data"], '{"status":"approved"}')


class BroadcastTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_broadcast_reaches_every_stream_of_the_route(self):
        gw = self.gateway("--heartbeat", "600", "--broadcast-channel", "everyone")
        streams = [self.stream(gw, u) for u in (7, 8, 9)]
        self.pg.notify("everyone", "maintenance at noon")
        for s in streams:
            self.assertEqual(s.next_event()["data"], '{"status":"maintenance at noon"}')
        self.pg.notify("user_8", "only eight")
        self.assertEqual(streams[1].next_event()["data"], '{"status":"only eight"}')
        streams[0].expect_no_event(0.5)


if __name__ == "__main__":
    unittest.main()
