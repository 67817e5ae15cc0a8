"""A NOTIFY on a user's channel reaches that user's streams, and only theirs, in
the wire format of the contract."""
import json
import re
import time
import unittest

import harness

PREFIX = b"retry: 2000\n: ok\n\n"


def setUpModule():
    harness.start_postgres()


class DeliveryTest(harness.GatewayTestCase, unittest.TestCase):
    def setUp(self):
        # A long heartbeat keeps comments out of the byte-for-byte checks.
        self.gw = self.gateway("--heartbeat", "600")

    def test_a_notify_reaches_the_users_stream_byte_for_byte(self):
        client = self.stream(self.gw, 42)
        self.assertEqual(client.status_line, "HTTP/1.1 200 OK")
        self.assertEqual(client.headers.get("content-type"), "text/event-stream")
        self.assertEqual(client.headers.get("cache-control"), "no-cache")
        self.assertEqual(client.headers.get("x-accel-buffering"), "no")
        self.assertNotIn("content-length", client.headers)
        self.assertNotIn("transfer-encoding", client.headers)
        self.assertEqual(client.wait_body(len(PREFIX)), PREFIX)

        self.pg.execute("NOTIFY user_42, 'approved'")
        event = client.next_event()
        self.assertEqual(event["event"], "authy_status")
        self.assertEqual(event["data"], '{"status":"approved"}')
        expected = re.compile(re.escape(PREFIX) + rb'id: [^\n]+\nevent: authy_status\n'
                              rb'data: \{"status":"approved"\}\n\n')
        self.assertTrue(expected.fullmatch(client.raw_bytes()), client.raw_bytes())

    def test_each_event_carries_a_distinct_id(self):
        client = self.stream(self.gw, 43)
        for status in ("approved", "denied", "approved"):
            self.pg.notify("user_43", status)
        ids = [client.next_event()["id"] for _ in range(3)]
        self.assertEqual(len(set(ids)), 3, ids)
        self.assertTrue(all(ids), ids)

    def test_two_users_never_see_each_others_events(self):
        alice = self.stream(self.gw, 1001)
        bob = self.stream(self.gw, 1002)
        other = self.stream(self.gw, 10011)  # a user id sharing a prefix with alice
        self.pg.notify("user_1001", "a1")
        self.pg.notify("user_1002", "b1")
        self.pg.notify("user_10011", "o1")
        self.pg.notify("user_1001", "a2")
        # Per-stream order follows commit order, so a stray event would show up in between.
        self.assertEqual(json.loads(alice.next_event()["data"]), {"status": "a1"})
        self.assertEqual(json.loads(alice.next_event()["data"]), {"status": "a2"})
        self.assertEqual(json.loads(bob.next_event()["data"]), {"status": "b1"})
        self.assertEqual(json.loads(other.next_event()["data"]), {"status": "o1"})
        self.pg.notify("user_1002", "b2")
        self.pg.notify("user_10011", "o2")
        self.assertEqual(json.loads(bob.next_event()["data"]), {"status": "b2"})
        self.assertEqual(json.loads(other.next_event()["data"]), {"status": "o2"})
        # Quoted: the event ids' random hex boot prefix may well contain "b1".
        self.assertNotIn(b'"b1"', alice.raw_bytes() + other.raw_bytes())
        self.assertNotIn(b'"a1"', bob.raw_bytes() + other.raw_bytes())

    def test_three_streams_of_one_user_all_get_the_event(self):
        clients = [self.stream(self.gw, 7) for _ in range(3)]
        self.pg.execute("NOTIFY user_7, 'approved'")
        for client in clients:
            event = client.next_event()
            self.assertEqual(event["event"], "authy_status")
            self.assertEqual(event["data"], '{"status":"approved"}')

    def test_a_json_object_payload_passes_through_as_is(self):
        client = self.stream(self.gw, 8)
        payload = '{"status":"approved","redirect":"/account","n":3}'
        self.pg.notify("user_8", payload)
        self.assertEqual(client.next_event()["data"], payload)

    def test_a_text_payload_with_quotes_backslashes_tabs_and_newlines_arrives_as_json(self):
        client = self.stream(self.gw, 9)
        payload = 'say "hi"\\n not a newline \\ back\\slash\ttab\nline two\r\nline three\n'
        self.pg.notify("user_9", payload)
        event = client.next_event()
        self.assertNotIn("\n", event["data"])  # escaped: one data line
        self.assertEqual(json.loads(event["data"]), {"status": payload})

    def test_a_multi_line_json_object_is_split_over_several_data_lines(self):
        client = self.stream(self.gw, 10)
        payload = '{\n  "status": "denied",\n  "reason": "user declined"\n}'
        self.pg.notify("user_10", payload)
        event = client.next_event()
        self.assertEqual(event["data"], payload)
        self.assertEqual(json.loads(event["data"]), {"status": "denied", "reason": "user declined"})
        self.assertIn(b'data: {\ndata:   "status": "denied",\ndata:   "reason": "user declined"\n'
                      b'data: }\n\n', client.raw_bytes())


class HeartbeatTest(harness.GatewayTestCase, unittest.TestCase):
    def test_heartbeat_comments_arrive_on_an_idle_stream(self):
        gw = self.gateway("--heartbeat", "1")
        client = self.stream(gw, 11)
        client.wait_comment("hb", timeout=15, count=2)
        self.assertIn(b": hb\n\n", client.raw_bytes())
        self.assertTrue(client.events.empty())

    def test_events_stand_in_for_heartbeats_until_the_stream_goes_quiet(self):
        # A heartbeat keeps idle proxies from cutting a quiet stream; one that just
        # carried an event is not quiet, so it gets none (a write saved per stream).
        gw = self.gateway("--heartbeat", "1")
        client = self.stream(gw, 12)
        self.pg.notify("user_12", "first")
        client.next_event()
        before = client.comments.count("hb")  # the first may precede the first event
        deadline = time.monotonic() + 4
        sent = 0
        while time.monotonic() < deadline:
            self.pg.notify("user_12", "e%d" % sent)
            sent += 1
            time.sleep(0.25)
        for _ in range(sent):
            client.next_event()
        self.assertEqual(client.comments.count("hb"), before, client.raw_bytes())
        client.wait_comment("hb", timeout=5, count=1)  # quiet again: heartbeats resume



if __name__ == "__main__":
    unittest.main(verbosity=2)
