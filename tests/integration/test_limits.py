"""Limits and bad clients get the right answer and never harm the other streams:
slow readers, too many connections or streams, slow or huge request headers."""
import re
import socket
import subprocess
import time
import unittest

import harness


def setUpModule():
    harness.start_postgres()


class SlowConsumerTest(harness.GatewayTestCase, unittest.TestCase):
    def open_stuck_stream(self, gw, user):
        """A stream request from a socket with a tiny receive buffer that is never read."""
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", gw.port))
        self.addCleanup(stuck.close)
        stuck.sendall(f"GET /authy/live_status HTTP/1.1\r\nHost: x\r\nX-User-Id: {user}\r\n"
                      f"X-Gateway-Secret: {harness.SECRET}\r\n\r\n".encode())

    def test_a_client_that_stops_reading_is_closed_and_others_get_every_event(self):
        gw = self.gateway("--heartbeat", "600", "--max-queue-bytes", "65536")
        normal = self.stream(gw, 10)
        self.open_stuck_stream(gw, 9)
        gw.wait_metric("sse_gateway_channels_listened", 2)
        # ~7 MB for the stuck client: more than every socket buffer on the way.
        for batch in range(5):
            self.pg.execute("SELECT pg_notify('user_9', repeat('x', 7000) || g) FROM generate_series(1, 200) g")
            self.pg.notify("user_10", f"n{batch}")
        for batch in range(5):
            self.assertEqual(normal.next_event()["data"], f'{{"status":"n{batch}"}}')
        gw.wait_log(lambda l: l.get("msg") == "stream close" and l.get("reason") == "slow_consumer", 20,
                    "the slow consumer to be closed")
        self.assertEqual(gw.metric("sse_gateway_slow_consumer_closes_total"), 1)
        self.pg.notify("user_10", "after")
        self.assertEqual(normal.next_event()["data"], '{"status":"after"}')

    def test_a_streams_kernel_send_buffer_is_bounded_by_the_queue_limit(self):
        # Issue 19, item 7: autotuning grew a slow reader's send buffer up to
        # tcp_wmem's maximum (4 MiB) behind the queue. SO_SNDBUF is half
        # --max-queue-bytes, which Linux doubles: `ss` shows it as tb.
        gw = self.gateway("--heartbeat", "600", "--max-queue-bytes", "98304")
        client = self.stream(gw, 14)
        port = client.sock.getsockname()[1]
        out = subprocess.run(["ss", "-tmnH", "state", "established", f"( sport = :{gw.port} and dport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
        sizes = re.findall(r"\btb(\d+)", out)
        self.assertEqual(sizes, ["98304"], out)

    def test_a_write_stalled_for_two_heartbeats_is_cut(self):
        # Under the queue bound, a reader that stopped would hold its stream (and its
        # socket) for good; the stalled write ends it after two heartbeat periods.
        gw = self.gateway("--heartbeat", "1", "--max-queue-bytes", str(64 << 20))
        normal = self.stream(gw, 12)
        self.open_stuck_stream(gw, 11)
        gw.wait_metric("sse_gateway_channels_listened", 2)
        self.pg.execute("SELECT pg_notify('user_11', repeat('x', 7000) || g) FROM generate_series(1, 1000) g")
        closed = gw.wait_log(lambda l: l.get("msg") == "stream close" and l.get("user") == "11", 20,
                             "the stalled stream to be cut")
        self.assertEqual(closed.get("reason"), "write_timeout", closed)
        gw.wait_metric('sse_gateway_stream_closes_total{reason="write_timeout"}', 1)
        self.assertEqual(gw.metric("sse_gateway_slow_consumer_closes_total"), 0)
        self.pg.notify("user_12", "still-here")
        self.assertEqual(normal.next_event()["data"], '{"status":"still-here"}')


class LimitsTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_full_gateway_refuses_streams_with_503_but_answers_its_probes(self):
        # The liveness probe hits /healthz: a full gateway answering 503 there would be
        # restarted by Kubernetes, dropping every stream it holds.
        gw = self.gateway("--heartbeat", "600", "--max-connections", "2")
        a = self.stream(gw, 1)
        b = self.stream(gw, 2)
        third = self.stream(gw, 3)
        self.assertEqual(third.status, 503)
        self.assertIn("retry-after", third.headers)
        self.assertIn(b'"over_capacity"', third.raw_bytes())
        status, _, body = gw.get("/healthz")
        self.assertEqual((status, body), (200, b'{"status":"ok"}'))
        status, _, body = gw.get("/readyz")  # full is not ready: send new streams elsewhere
        self.assertEqual((status, body), (503, b'{"status":"not_ready"}'))
        status, _, body = gw.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b'sse_gateway_refusals_total{reason="max_connections"} 1', body)
        self.pg.notify("user_1", "still")
        self.assertEqual(a.next_event()["data"], '{"status":"still"}')
        b.close()
        # Capacity comes back as soon as the gateway notices b has gone (and the
        # probe's own connection, closed by the client, has been noticed too).
        harness.wait_until(lambda: gw.get("/readyz")[0] == 200, 10, "a free connection slot")

        def reopened():
            again = self.stream(gw, 3)
            if again.status != 200:
                again.close()
            return again.status == 200
        harness.wait_until(reopened, 10, "a stream for user 3 in the freed slot")

    def test_the_probe_reserve_is_bounded(self):
        # Connections beyond the limit get the probes only while a small reserve
        # lasts; past it, even /healthz is 503 without the request being read, so
        # idle sockets cannot pile up without bound.
        gw = self.gateway("--heartbeat", "600", "--max-connections", "1", "--header-timeout", "30")
        live = self.stream(gw, 1)
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        answered = 0
        while True:
            status, _, body = gw.get("/healthz")
            if status == 503:
                self.assertIn(b'"over_capacity"', body)
                break
            self.assertEqual(status, 200)
            answered += 1
            self.assertLess(answered, 200, "the reserve never ran out")
            # Accepted in connection order, so the next probe counts this one.
            idle.append(socket.create_connection(("127.0.0.1", gw.port), timeout=10))
        self.assertGreaterEqual(answered, 4, "a reserve of a few connections answers the probes")
        for s in idle:
            s.close()
        idle.clear()
        harness.wait_until(lambda: gw.get("/healthz")[0] == 200, 10, "the reserve to come back")
        self.pg.notify("user_1", "unharmed")
        self.assertEqual(live.next_event()["data"], '{"status":"unharmed"}')

    def test_more_streams_per_user_than_allowed_get_429(self):
        gw = self.gateway("--heartbeat", "600", "--max-streams-per-user", "2")
        a = self.stream(gw, 3)
        self.stream(gw, 3)
        third = gw.stream(3)
        self.addCleanup(third.close)
        self.assertEqual(third.status, 429)
        self.assertIn(b"too_many_streams", third.raw_bytes())
        self.assertEqual(third.headers.get("retry-after"), "5")
        other = self.stream(gw, 4)  # another user is not affected
        self.assertEqual(other.status, 200)
        self.pg.notify("user_3", "ok")
        self.assertEqual(a.next_event()["data"], '{"status":"ok"}')

    def test_a_client_trickling_its_headers_is_cut_at_the_header_timeout(self):
        gw = self.gateway("--heartbeat", "600", "--header-timeout", "2")
        live = self.stream(gw, 5)
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        self.addCleanup(s.close)
        started = time.monotonic()
        closed = False
        for ch in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                s.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            s.settimeout(0.2)
            try:
                if s.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            if time.monotonic() - started > 8:
                break
        self.assertTrue(closed, "the trickling client was never cut")
        self.assertLess(time.monotonic() - started, 8)
        self.pg.notify("user_5", "unharmed")
        self.assertEqual(live.next_event()["data"], '{"status":"unharmed"}')

    def test_oversized_headers_get_431(self):
        gw = self.gateway("--heartbeat", "600")
        live = self.stream(gw, 6)
        answer = harness.raw_request(gw.port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 10000 + b"\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer[:80])
        self.assertIn(b"header_too_large", answer)
        self.pg.notify("user_6", "unharmed")
        self.assertEqual(live.next_event()["data"], '{"status":"unharmed"}')

    def test_malformed_http_gets_400_and_a_json_body(self):
        gw = self.gateway("--heartbeat", "600")
        answer = harness.raw_request(gw.port, b"GARBAGE\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:80])
        self.assertIn(b'"error":"bad_request"', answer)


if __name__ == "__main__":
    unittest.main()
