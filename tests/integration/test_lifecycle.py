"""Streams come and go: channels are LISTENed only while someone is connected,
a vanished client is noticed without waiting for a NOTIFY, and SIGTERM drains."""
import signal
import unittest

import harness


def setUpModule():
    harness.start_postgres()


class LifecycleTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_channel_is_unlistened_after_its_last_stream_closes(self):
        gw = self.gateway()
        first = self.stream(gw, 77)
        second = self.stream(gw, 77)
        gw.wait_metric("sse_gateway_streams", 2)
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 1)

        first.close()
        gw.wait_metric("sse_gateway_streams", 1)
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 1)
        self.pg.execute("NOTIFY user_77, 'still here'")
        self.assertEqual(second.next_event()["data"], '{"status":"still here"}')

        second.close()
        gw.wait_metric("sse_gateway_streams", 0)
        gw.wait_metric("sse_gateway_channels_listened", 0)

        # The channel can be listened again afterwards.
        third = self.stream(gw, 77)
        self.pg.execute("NOTIFY user_77, 'approved'")
        self.assertEqual(third.next_event()["data"], '{"status":"approved"}')
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 1)

    def test_a_client_that_disconnects_releases_its_stream_without_a_notify(self):
        gw = self.gateway()
        clients = [self.stream(gw, 78), self.stream(gw, 79)]
        gw.wait_metric("sse_gateway_streams", 2)
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 2)
        for client in clients:
            client.close()
        gw.wait_metric("sse_gateway_streams", 0)
        gw.wait_metric("sse_gateway_channels_listened", 0)
        self.assertTrue(gw.running(), gw.tail())

    def test_sigterm_closes_open_streams_and_exits_0(self):
        gw = self.gateway("--drain-seconds", "1")
        clients = [self.stream(gw, user) for user in (80, 81, 81)]
        gw.wait_metric("sse_gateway_streams", 3)
        gw.signal(signal.SIGTERM)
        for client in clients:
            client.wait_eof(timeout=30)
        self.assertEqual(gw.wait(30), 0, gw.tail())

    def test_sigint_also_drains_and_exits_0(self):
        gw = self.gateway("--drain-seconds", "1")
        client = self.stream(gw, 82)
        gw.signal(signal.SIGINT)
        client.wait_eof(timeout=30)
        self.assertEqual(gw.wait(30), 0, gw.tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
