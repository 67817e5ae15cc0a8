"""Hostile input found by the outside review (issue 10) gets a clear answer and
leaves every other stream intact: request framing that could smuggle a second
request, requests without (or with two) Host lines, and NOTIFY payloads nested
deep enough to overflow a small thread stack."""
import re
import unittest

import harness


def setUpModule():
    harness.start_postgres()


def responses(answer):
    """The status codes of every HTTP response in a byte string, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]


class RequestFramingTest(harness.GatewayTestCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = harness.Gateway("--database-url", cls.pg.url, "--proxy-secret", harness.SECRET,
                                 "--heartbeat", "600").__enter__()
        cls.addClassCleanup(cls.gw.__exit__, None, None, None)

    def send(self, data):
        return harness.raw_request(self.gw.port, data, timeout=3)

    def smuggle(self, transfer_encoding):
        """A request whose 'body' is a second request, framed by Transfer-Encoding."""
        inner = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        return self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + transfer_encoding +
                         b"Content-Length: %d\r\n\r\n" % len(inner) + inner)

    def test_a_transfer_encoding_not_ending_in_chunked_is_400_and_closes(self):
        # Read as bodiless, the body would be parsed as the next pipelined request:
        # the /metrics request inside must never be answered.
        for te in (b"gzip", b"chunked, identity", b"xchunked", b"identity", b"chunked, chunked",
                   b"", b"gzip\r\nTransfer-Encoding: identity"):
            with self.subTest(te=te):
                answer = self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                                   b"\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(responses(answer), [400], answer)
                self.assertIn(b'"error":"bad_transfer_encoding"', answer)
                self.assertIn(b"Connection: close", answer)
                self.assertNotIn(b"sse_gateway_", answer)

    def test_a_smuggled_request_behind_content_length_is_never_answered(self):
        answer = self.smuggle(b"Transfer-Encoding: gzip\r\n")
        self.assertEqual(responses(answer), [400], answer)
        self.assertNotIn(b"sse_gateway_", answer)

    def test_transfer_encoding_on_http_1_0_is_400(self):
        answer = self.send(b"GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertEqual(responses(answer), [400], answer)

    def test_a_chunked_body_is_read_as_one_and_the_next_request_answered(self):
        answer = self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                           b"3\r\nabc\r\n0\r\n\r\n"
                           b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(responses(answer), [200, 200], answer)

    def test_an_http_1_1_request_without_host_is_400(self):
        answer = self.send(b"GET /healthz HTTP/1.1\r\n\r\n")
        self.assertEqual(responses(answer), [400], answer)
        self.assertIn(b'"error":"missing_host"', answer)
        answer = self.send(b"GET /healthz HTTP/1.0\r\n\r\n")  # HTTP/1.0 has no Host requirement
        self.assertEqual(responses(answer), [200], answer)

    def test_two_host_lines_are_400(self):
        answer = self.send(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.assertEqual(responses(answer), [400], answer)
        self.assertIn(b'"error":"duplicate_host"', answer)

    def test_refused_framing_is_counted_and_leaves_streams_alone(self):
        live = self.stream(self.gw, 31)
        before = self.gw.metrics().get('sse_gateway_refusals_total{reason="bad_transfer_encoding"}', 0)
        self.smuggle(b"Transfer-Encoding: chunked, identity\r\n")
        self.assertEqual(self.gw.metrics().get('sse_gateway_refusals_total{reason="bad_transfer_encoding"}'),
                         before + 1)
        self.pg.notify("user_31", "unharmed")
        self.assertEqual(live.next_event()["data"], '{"status":"unharmed"}')


class DeepPayloadTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_payload_nested_thousands_deep_is_delivered_on_a_small_stack(self):
        # Any database role may NOTIFY any channel. With 256 KiB thread stacks (some
        # container runtimes, musl builds) a recursive JSON reader died at ~8,000
        # levels, and with it every stream of the gateway.
        gw = self.gateway("--heartbeat", "600", stack_bytes=256 * 1024)
        target = self.stream(gw, 41)
        bystander = self.stream(gw, 42)
        gw.wait_metric("sse_gateway_channels_listened", 2)
        depth = 7990  # NOTIFY payloads are at most 8000 bytes
        self.pg.execute(f"SELECT pg_notify('user_41', '{{\"a\":' || repeat('[', {depth}))")
        self.pg.execute(f"SELECT pg_notify('user_41', '{{\"a\":' || repeat('[', {depth // 2 - 3}) || "
                        f"repeat(']', {depth // 2 - 3}) || '}}')")
        unclosed = target.next_event()["data"]  # not JSON: wrapped as text
        self.assertTrue(unclosed.startswith('{"status":"{\\"a\\":[[['), unclosed[:40])
        closed = target.next_event()["data"]    # JSON: passed through as is
        self.assertEqual(closed, '{"a":' + "[" * (depth // 2 - 3) + "]" * (depth // 2 - 3) + "}")
        self.assertTrue(gw.running())
        self.pg.notify("user_42", "unharmed")
        self.assertEqual(bystander.next_event()["data"], '{"status":"unharmed"}')

    def test_a_deep_payload_on_the_shared_channel_reaches_nobody_and_harms_nobody(self):
        gw = self.gateway("--heartbeat", "600", "--channel-mode", "shared", stack_bytes=256 * 1024)
        live = self.stream(gw, 43)
        gw.wait_ready()
        self.pg.execute("SELECT pg_notify('sse_gateway_events', '{\"user\":\"43\",\"a\":' || repeat('[', 7900))")
        # Named twice, the user is ambiguous: the event reaches nobody.
        self.pg.execute("SELECT pg_notify('sse_gateway_events', '{\"user\":\"44\",\"user\":\"43\",\"x\":1}')")
        self.pg.execute("SELECT pg_notify('sse_gateway_events', '{\"user\":\"43\",\"status\":\"after\"}')")
        self.assertEqual(live.next_event()["data"], '{"user":"43","status":"after"}')
        self.assertTrue(gw.running())
        self.assertEqual(gw.metric("sse_gateway_notifications_unrouted_total"), 2)


if __name__ == "__main__":
    unittest.main()
