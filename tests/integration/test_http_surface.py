"""Every refused request gets the right status and a JSON error body; health,
readiness and metrics answer as operators expect."""
import json
import os
import socket
import unittest

import harness

STREAM = harness.STREAM_PATH


def setUpModule():
    harness.start_postgres()


class HttpSurfaceTest(harness.GatewayTestCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One gateway for the whole class: these requests never open a stream.
        cls.gw = harness.Gateway("--database-url", cls.pg.url, "--proxy-secret", harness.SECRET).__enter__()
        cls.addClassCleanup(cls.gw.__exit__, None, None, None)
        cls.gw.wait_ready()

    def assert_error(self, response, status, code):
        got_status, headers, body = response
        self.assertEqual(got_status, status, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        doc = json.loads(body)
        self.assertEqual(doc.get("error"), code, doc)
        self.assertIn("message", doc)
        return headers

    def get_stream(self, headers, method="GET"):
        return self.gw.get(STREAM, headers, method)

    def test_a_request_without_a_user_header_is_401(self):
        self.assert_error(self.get_stream({"X-Gateway-Secret": harness.SECRET}), 401, "missing_user")
        # An empty one names nobody either (nginx sends none for an empty value).
        self.assert_error(self.get_stream({"X-User-Id": "", "X-Gateway-Secret": harness.SECRET}), 401, "missing_user")

    def test_a_request_with_a_missing_or_wrong_secret_is_403(self):
        self.assert_error(self.get_stream({"X-User-Id": "42"}), 403, "forbidden")
        self.assert_error(self.get_stream({"X-User-Id": "42", "X-Gateway-Secret": "wrong"}), 403, "forbidden")
        self.assert_error(self.get_stream({"X-User-Id": "42", "X-Gateway-Secret": ""}), 403, "forbidden")
        self.assert_error(self.get_stream({"X-User-Id": "42", "X-Gateway-Secret": harness.SECRET + "x"}),
                          403, "forbidden")

    def test_an_invalid_user_id_is_400(self):
        for user in ["abc", "1" * 21, "1;DROP", "' OR 1=1", "-1", "4\t2",
                     "٤٢".encode(), "４２".encode(), "42é".encode()]:
            with self.subTest(user=user):
                self.assert_error(self.get_stream({"X-User-Id": user, "X-Gateway-Secret": harness.SECRET}),
                                  400, "invalid_user")

    def test_the_longest_valid_user_id_is_accepted(self):
        with self.gw.stream("9" * 20) as client:
            self.assertEqual(client.status, 200)

    def test_an_unknown_path_is_404(self):
        for path in ["/nope", "/authy/live_status/x", "/authy", "/healthz/extra"]:
            with self.subTest(path=path):
                self.assert_error(self.gw.get(path, {"X-User-Id": "42", "X-Gateway-Secret": harness.SECRET}),
                                  404, "not_found")

    def test_a_wrong_method_is_405_with_an_allow_header(self):
        for path in [STREAM, "/healthz", "/readyz", "/metrics"]:
            for method in ["POST", "PUT", "DELETE"]:
                with self.subTest(path=path, method=method):
                    headers = self.assert_error(
                        self.gw.get(path, {"X-User-Id": "42", "X-Gateway-Secret": harness.SECRET}, method),
                        405, "method_not_allowed")
                    self.assertIn("GET", headers.get("allow", ""), headers)

    def test_healthz_is_200(self):
        status, headers, body = self.gw.get("/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_readyz_is_200_while_connected_to_the_database(self):
        # Ready means connected: wait for the connection (slow under ASan), then ask.
        self.gw.wait_log(lambda l: l.get("msg") == "database connected", 15, "the database connection")
        harness.wait_until(lambda: self.gw.get("/readyz")[0] == 200, 5, "/readyz 200 once connected")

    def test_metrics_expose_the_core_series(self):
        status, headers, body = self.gw.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"), headers)
        names = {line.split("{")[0].split(" ")[0] for line in body.decode().splitlines()
                 if line and not line.startswith("#")}
        for name in ["sse_gateway_connections", "sse_gateway_streams", "sse_gateway_channels_listened",
                     "sse_gateway_notifications_total", "sse_gateway_events_written_total"]:
            self.assertIn(name, names)

    def test_metrics_count_notifications_and_events(self):
        with self.gw.stream(31) as client:
            before = self.gw.metric("sse_gateway_events_written_total") or 0
            notes = self.gw.metric("sse_gateway_notifications_total") or 0
            self.pg.execute("NOTIFY user_31, 'approved'")
            client.next_event()
            harness.wait_until(lambda: self.gw.metric("sse_gateway_events_written_total") >= before + 1,
                               10, "events_written_total to count the event")
            self.assertGreaterEqual(self.gw.metric("sse_gateway_notifications_total"), notes + 1)

    def test_every_metric_family_is_documented(self):
        status, _, body = self.gw.get("/metrics")
        self.assertEqual(status, 200)
        families = [line.split()[2] for line in body.decode().splitlines() if line.startswith("# TYPE ")]
        self.assertGreater(len(families), 10)
        with open(os.path.join(harness.HERE, "..", "..", "proto_docs", "stream-contract.md")) as f:
            doc = f.read()
        for family in families:
            self.assertIn(f"`{family.removeprefix('sse_gateway_')}", doc, f"{family} is not in stream-contract.md")

    def test_metrics_time_the_registry_ticks(self):
        # The stream registry ticks every 10 ms while it holds streams (heartbeats,
        # deadlines); the histogram is how an
        # operator sees the loop time events wait behind.
        first = self.gw.metric("sse_gateway_tick_seconds_count")
        self.assertIsNotNone(first)
        harness.wait_until(lambda: self.gw.metric("sse_gateway_tick_seconds_count") >= first + 20, 10,
                           "tick_seconds_count to grow")


class OpsListenerTest(harness.GatewayTestCase, unittest.TestCase):
    """Issue 18, item 6: with --ops-listen, /healthz, /readyz and /metrics are
    served there only, and still answer when the public listener is full."""

    def ops_gateway(self, *args):
        gw = self.gateway("--heartbeat", "600", "--ops-listen", "127.0.0.1:0", *args)
        line = gw.wait_log(lambda l: l.get("msg") == "ops listening", 10, 'the "ops listening" line')
        return gw, int(line["port"])

    def test_the_ops_routes_move_to_the_ops_listener(self):
        gw, ops = self.ops_gateway()
        harness.wait_until(lambda: harness.http_get(ops, "/readyz")[0] == 200, 15, "/readyz on the ops port")
        self.assertEqual(harness.http_get(ops, "/healthz")[0], 200)
        status, _, body = harness.http_get(ops, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"sse_gateway_connections", body)
        for path in ("/healthz", "/readyz", "/metrics"):
            with self.subTest(path=path):
                status, _, body = gw.get(path)
                self.assertEqual(status, 404, body)
                self.assertEqual(json.loads(body)["error"], "not_found")
        # The ops listener serves nothing else: no stream opens there.
        status, _, body = harness.http_get(ops, STREAM, {"X-User-Id": "5", "X-Gateway-Secret": harness.SECRET})
        self.assertEqual(status, 404, body)
        with gw.stream(5) as client:  # the public listener still serves streams
            self.assertEqual(client.status, 200)

    def test_the_ops_listener_answers_when_the_public_one_is_full(self):
        gw, ops = self.ops_gateway("--max-connections", "1", "--header-timeout", "30")
        harness.wait_until(lambda: harness.http_get(ops, "/readyz")[0] == 200, 15, "/readyz on the ops port")
        live = self.stream(gw, 1)
        idle = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(40)]
        self.addCleanup(lambda: [s.close() for s in idle])
        self.assertEqual(gw.get(STREAM)[0], 503)  # full, its reserve too
        self.assertEqual(harness.http_get(ops, "/healthz")[0], 200)
        self.assertEqual(harness.http_get(ops, "/readyz")[0], 503)  # full: not ready, but alive
        self.assertEqual(harness.http_get(ops, "/metrics")[0], 200)
        self.pg.notify("user_1", "unharmed")
        self.assertEqual(live.next_event()["data"], '{"status":"unharmed"}')

    def test_without_ops_listen_the_public_listener_serves_everything(self):
        gw = self.gateway("--heartbeat", "600")
        gw.wait_ready()
        self.assertEqual(gw.get("/metrics")[0], 200)
        self.assertFalse([l for l in gw.logs() if l.get("msg") == "ops listening"])


class DatabaseDownTest(harness.GatewayTestCase, unittest.TestCase):
    def setUp(self):
        closed = f"postgresql://postgres@127.0.0.1:{harness.free_port()}/postgres"
        self.gw = harness.Gateway("--database-url", closed, "--proxy-secret", harness.SECRET).__enter__()
        self.addCleanup(self.gw.__exit__, None, None, None)

    def test_readyz_is_503_and_healthz_200_when_the_database_is_unreachable(self):
        self.assertEqual(self.gw.get("/readyz")[0], 503)
        self.assertEqual(self.gw.get("/healthz")[0], 200)

    def test_a_stream_is_refused_with_503_when_listen_cannot_be_confirmed(self):
        response = self.gw.get(STREAM, {"X-User-Id": "42", "X-Gateway-Secret": harness.SECRET}, timeout=40)
        self.assertEqual(response[0], 503, response)
        self.assertEqual(json.loads(response[2]).get("error"), "unavailable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
