"""SIGTERM drains: not ready at once, no new connections, and the open streams are
closed spread over the drain period (each after a retry hint), then exit 0."""
import signal
import socket
import time
import unittest

import harness
import many_streams

STREAMS = 500


def setUpModule():
    harness.start_postgres()


class DrainTest(harness.GatewayTestCase, unittest.TestCase):
    def test_sigterm_closes_500_streams_spread_over_the_drain_and_exits_0(self):
        gw = self.gateway("--heartbeat", "600", "--drain-seconds", "2", "--max-streams-per-user", "100")
        streams = many_streams.ManyStreams(
            gw.port, lambda u: {"X-User-Id": str(u % 50), "X-Gateway-Secret": harness.SECRET}, range(STREAMS))
        self.addCleanup(streams.close)
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        streams.pump_until(lambda: all(s.eof_at for s in streams.streams), 10, "every stream to be closed")
        self.assertEqual(gw.wait(10), 0)
        offsets = sorted(s.eof_at - started for s in streams.streams)
        self.assertLess(offsets[-1], 2 + 1.5, "closing took longer than the drain plus a margin")
        # Spread, not a stampede: a good share of the closes come in each half.
        first_half = sum(1 for t in offsets if t < 1.0)
        self.assertGreater(first_half, STREAMS * 0.2, offsets[:10])
        self.assertLess(first_half, STREAMS * 0.8, offsets[-10:])
        self.assertTrue(all(s.body.endswith(b"retry: 2000\n\n") for s in streams.streams))
        closes = [l for l in gw.logs() if l.get("msg") == "stream close"]
        self.assertEqual(len(closes), STREAMS)
        self.assertTrue(all(l["reason"] == "shutdown" for l in closes))

    def test_draining_gateway_is_not_ready_and_refuses_new_connections(self):
        gw = self.gateway("--heartbeat", "600", "--drain-seconds", "3")
        keep = self.stream(gw, 1)
        gw.wait_ready()
        gw.signal(signal.SIGTERM)
        gw.wait_log(lambda l: l.get("msg") == "shutdown started", 5, "the shutdown line")
        with self.assertRaises(OSError):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=2)
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            if not s.recv(100):
                raise ConnectionResetError("closed")
        keep.wait_eof(10)
        self.assertEqual(gw.wait(10), 0)


if __name__ == "__main__":
    unittest.main()
