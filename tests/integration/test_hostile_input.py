"""Hostile input found by the outside reviews (issues 10 and 18) gets a clear answer
and leaves every other stream intact: request framing that could smuggle a second
request, requests without (or with two) Host lines, fields hidden in a chunked
body's trailers, folded header lines, and NOTIFY payloads nested deep enough to
overflow a small thread stack."""
import base64
import hashlib
import hmac
import json
import re
import socket
import time
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

    def test_a_request_with_a_body_is_400_and_closes(self):
        # No route takes a body; it is never read, so neither are its trailers, and
        # what follows it is never taken for a request.
        for framing, body in ((b"Transfer-Encoding: gzip, chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
                              (b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
                              (b"Content-Length: 3\r\n", b"abc")):
            with self.subTest(framing=framing):
                answer = self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + body +
                                   b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertEqual(responses(answer), [400], answer)
                self.assertIn(b'"error":"body_not_allowed"', answer)
                self.assertIn(b"Connection: close", answer)
                self.assertNotIn(b"sse_gateway_", answer)

    def test_an_empty_content_length_is_no_body(self):
        answer = self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                           b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(responses(answer), [200, 200], answer)

    def test_a_folded_header_line_is_400(self):
        # RFC 9112 5.2: obs-fold is refused rather than joined with a space, so no
        # proxy in front can have read the field differently.
        before = self.gw.metrics().get('sse_gateway_refusals_total{reason="obs_fold"}', 0)
        for fold in (b" ", b"\t"):
            with self.subTest(fold=fold):
                answer = self.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n" + fold +
                                   b"b\r\n\r\n")
                self.assertEqual(responses(answer), [400], answer)
                self.assertIn(b'"error":"obs_fold"', answer)
                self.assertIn(b"Connection: close", answer)
        answer = self.send(b"GET " + harness.STREAM_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                           b"X-Gateway-Secret: " + harness.SECRET.encode() + b"\r\nX-User-Id: 5\r\n 6\r\n\r\n")
        self.assertEqual(responses(answer), [400], answer)
        self.assertIn(b'"error":"obs_fold"', answer)
        self.assertEqual(self.gw.metrics().get('sse_gateway_refusals_total{reason="obs_fold"}'), before + 3)

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


def chunked_get(path, headers, trailers, host=True):
    """A GET whose chunked (empty) body ends in `trailers`: fields after the header block."""
    head = b"GET " + path.encode() + b" HTTP/1.1\r\n" + (b"Host: x\r\n" if host else b"")
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
    head += b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head + b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers.items()) + b"\r\n"


def hs256(claims, secret):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    signing = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(claims).encode())
    return (signing + b"." + b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())).decode()


class TrailerTest(harness.GatewayTestCase, unittest.TestCase):
    """Issue 18, item 1: Beast merged a chunked body's trailers into the request's
    fields, so a trailer could name the user, carry the proxy secret or a token, or
    stand in for Host, Last-Event-ID or Origin. Nothing after the header block may
    act as a header."""
    JWT_SECRET = "it-trailer-hs256-secret-7c1d9e0f2a3b4c5d"

    def assert_never_honoured(self, gw, request):
        answer = harness.raw_request(gw.port, request, timeout=3)
        self.assertEqual(responses(answer), [400], answer)
        self.assertIn(b'"error":', answer)
        self.assertNotIn(b"text/event-stream", answer)
        self.assertNotIn(b"Access-Control-Allow-Origin", answer)
        self.assertEqual(gw.metric("sse_gateway_streams_opened_total"), 0)

    def test_proxy_header_fields_in_trailers_are_never_used(self):
        gw = self.gateway("--heartbeat", "600", "--cors-origins", "https://app.example")
        gw.wait_ready()
        path = harness.STREAM_PATH
        secret = {"X-Gateway-Secret": harness.SECRET}
        for name, headers, trailers in (
                ("user", secret, {"X-User-Id": "77"}),
                ("secret", {"X-User-Id": "77"}, secret),
                ("last_event_id", {**secret, "X-User-Id": "77"}, {"Last-Event-ID": "x-1"}),
                ("origin", {**secret, "X-User-Id": "77"}, {"Origin": "https://app.example"})):
            with self.subTest(name):
                self.assert_never_honoured(gw, chunked_get(path, headers, trailers))
        with self.subTest("host"):
            answer = harness.raw_request(gw.port, chunked_get(path, {**secret, "X-User-Id": "77"},
                                                             {"Host": "x"}, host=False), timeout=3)
            self.assertEqual(responses(answer), [400], answer)
            self.assertIn(b'"error":"missing_host"', answer)
        self.assertGreaterEqual(gw.metrics().get('sse_gateway_refusals_total{reason="body_not_allowed"}'), 4)

    def test_a_token_in_a_trailer_is_never_used(self):
        gw = self.gateway("--heartbeat", "600", "--auth", "jwt", "--jwt-secret", self.JWT_SECRET,
                          "--jwt-cookie", "sse_token", secret=None)
        gw.wait_ready()
        token = hs256({"sub": "77", "exp": int(time.time()) + 600}, self.JWT_SECRET)
        # The same token in the header block opens a stream: the refusal below is
        # about where it was, not what it was.
        with harness.SseClient(gw.port, harness.STREAM_PATH, {"Authorization": "Bearer " + token}):
            gw.wait_metric("sse_gateway_streams_opened_total", 1)
        for trailer in ({"Authorization": "Bearer " + token}, {"Cookie": "sse_token=" + token}):
            with self.subTest(trailer=list(trailer)):
                answer = harness.raw_request(gw.port, chunked_get(harness.STREAM_PATH, {}, trailer), timeout=3)
                self.assertEqual(responses(answer), [400], answer)
                self.assertIn(b'"error":"body_not_allowed"', answer)
        self.assertEqual(gw.metric("sse_gateway_streams_opened_total"), 1)


class HeaderTimeoutTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_client_that_never_finishes_its_head_is_cut_and_counted(self):
        # Issue 19, item 4: the cut was silent.
        gw = self.gateway("--heartbeat", "600", "--header-timeout", "1")
        self.assertEqual(gw.metric("sse_gateway_header_timeouts_total"), 0)
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            self.assertEqual(s.recv(1024), b"")  # closed without an answer
        self.assertEqual(gw.metric("sse_gateway_header_timeouts_total"), 1)


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
