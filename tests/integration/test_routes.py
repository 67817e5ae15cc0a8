"""Several stream routes from one --config file (issue 20): the Authy user route,
a feed (raw payloads, its own event name and channel template) and a Turbo
Streams route whose channel is turbo-rails' signed stream name, verified with
names signed by real ActiveSupport and broadcast as Rails' PostgreSQL Action
Cable adapter broadcasts."""
import hashlib
import json
import os
import subprocess
import tempfile
import unittest

import harness

BASE = ("3c1e0f8b6a2d4e9f7c5b3a1d0e8f6a4b2c0d9e7f5a3b1c8d6e4f2a0b9c7d5e3f"
        "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809")
PREFIX = "app_production"
ROOM = "gid://demo/Room/1:messages"
ODD = "it's a \"room\" with spaces: and colons"
# "app_production:" + 40 characters: 56 characters, 96 bytes. Rails keeps the name
# (it hashes past 63 characters) and PostgreSQL cuts the NOTIFY's identifier to 63
# bytes at a character boundary; past 63 characters Rails sends the SHA1 hex.
CUT = "\u00e9" * 40
HASHED = "\u00fc" * 70
HTML = '<turbo-stream action="append" target="messages"><template><p>Hi & "bye" \u2028</p></template></turbo-stream>'

# Turbo.signed_stream_verifier as turbo-rails builds it (Rails 7+: SHA256 key
# generator), and ActiveSupport::JSON.encode of a broadcast: both by real ActiveSupport.
RUBY = r'''
require "json"
require "openssl"
require "active_support"
require "active_support/json"
require "active_support/key_generator"
require "active_support/message_verifier"
class Sha256KeyGenerator < ActiveSupport::KeyGenerator
  def generate_key(salt, key_size = 64)
    OpenSSL::PKCS5.pbkdf2_hmac(@secret, salt, @iterations, key_size, OpenSSL::Digest::SHA256.new)
  end
end
input = JSON.parse(STDIN.read)
verifier = ActiveSupport::MessageVerifier.new(
  Sha256KeyGenerator.new(input["base"], iterations: 1000).generate_key("turbo/signed_stream_verifier_key"),
  digest: "SHA256", serializer: JSON)
other = ActiveSupport::MessageVerifier.new(
  Sha256KeyGenerator.new("0" * 128, iterations: 1000).generate_key("turbo/signed_stream_verifier_key"),
  digest: "SHA256", serializer: JSON)
puts JSON.dump({
  "signed" => input["names"].map { |n| verifier.generate(n) },
  "other_app" => other.generate(input["names"][0]),
  "long" => verifier.generate("y" * 5000),
  "payload" => ActiveSupport::JSON.encode(input["html"]),
})
'''


def activesupport(names):
    out = subprocess.run(["/usr/bin/ruby", "-e", RUBY], input=json.dumps({"base": BASE, "names": names, "html": HTML}),
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k not in ("RUBYOPT", "RUBYLIB", "GEM_HOME", "GEM_PATH")})
    if out.returncode != 0:
        raise AssertionError(f"ruby failed: {out.stderr}")
    return json.loads(out.stdout)


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def rails_broadcast(pg, broadcasting, payload):
    """What ActionCable::SubscriptionAdapter::PostgreSQL#broadcast runs: NOTIFY on
    the escaped identifier of prefix:broadcasting, the payload as a string literal."""
    channel = f"{PREFIX}:{broadcasting}"
    if len(channel) > 63:  # channel_identifier: Ruby's String#size counts characters
        channel = hashlib.sha1(channel.encode()).hexdigest()
    pg.execute(f"NOTIFY {quote_ident(channel)}, '" + payload.replace("'", "''") + "'")


CONFIG = f'''
rails-secret-key-base = "{BASE}"

[[route]]
path = "/authy/live_status"

[[route]]
path = "/feed"
payload = "raw"
event = "feed"
channel-template = "feed_{{user}}"

[[route]]
path = "/live/turbo"
key = "turbo-signed-stream"
channel-prefix = "{PREFIX}"
'''


def setUpModule():
    harness.start_postgres()


class RoutesTest(harness.GatewayTestCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixtures = activesupport([ROOM, ODD, CUT, HASHED])

    def setUp(self):
        fd, self.config = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(CONFIG)
        self.addCleanup(os.unlink, self.config)
        self.gw = self.gateway("--heartbeat", "600", "--config", self.config)

    def turbo(self, signed, **kw):
        client = harness.SseClient(self.gw.port, "/live/turbo?signed_stream_name=" + quote_query(signed), **kw)
        self.addCleanup(client.close)
        return client

    def test_three_routes_each_get_only_their_own_events(self):
        authy = self.stream(self.gw, 5)
        feed = self.stream(self.gw, 5, path="/feed")
        room = self.turbo(self.fixtures["signed"][0])
        self.gw.wait_metric("sse_gateway_channels_listened", 3)
        self.pg.notify("user_5", '{"status":"approved"}')
        self.pg.notify("feed_5", "plain text, sent as it is")
        rails_broadcast(self.pg, ROOM, self.fixtures["payload"])
        e = authy.next_event()
        self.assertEqual((e["event"], e["data"]), ("authy_status", '{"status":"approved"}'))
        e = feed.next_event()
        self.assertEqual((e["event"], e["data"]), ("feed", "plain text, sent as it is"))
        e = room.next_event()
        # Unnamed (the browser's "message"), the broadcast's HTML decoded.
        self.assertEqual((e["event"], e["data"]), ("message", HTML))
        self.assertNotIn(b"event:", room.wire_bytes().split(b"\r\n\r\n", 1)[1])
        for s in (authy, feed, room):
            s.expect_no_event(0.3)
        metrics = self.gw.metrics()
        for path in ("/authy/live_status", "/feed", "/live/turbo"):
            self.assertEqual(metrics[f'sse_gateway_streams{{route="{path}"}}'], 1, path)
            self.assertEqual(metrics[f'sse_gateway_events_written_total{{route="{path}"}}'], 1, path)

    def test_a_name_with_quotes_spaces_and_colons_works_end_to_end(self):
        room = self.turbo(self.fixtures["signed"][1])
        self.gw.wait_metric('sse_gateway_streams{route="/live/turbo"}', 1)
        rails_broadcast(self.pg, ODD, self.fixtures["payload"])
        self.assertEqual(room.next_event()["data"], HTML)

    def test_long_non_ascii_names_arrive_as_rails_and_postgresql_name_them(self):
        cut, hashed = self.turbo(self.fixtures["signed"][2]), self.turbo(self.fixtures["signed"][3])
        self.gw.wait_metric('sse_gateway_streams{route="/live/turbo"}', 2)
        self.gw.wait_metric("sse_gateway_channels_listened", 2)
        rails_broadcast(self.pg, CUT, self.fixtures["payload"])
        rails_broadcast(self.pg, HASHED, self.fixtures["payload"])
        self.assertEqual(cut.next_event()["data"], HTML)
        self.assertEqual(hashed.next_event()["data"], HTML)

    def test_bad_signed_names_are_refused_and_nothing_is_listened(self):
        good = self.fixtures["signed"][0]
        data, digest = good.rsplit("--", 1)
        cases = [
            ("/live/turbo", 400, "missing_stream_name"),
            ("/live/turbo?signed_stream_name=", 400, "missing_stream_name"),
            ("/live/turbo?signed_stream_name=" + quote_query(good[:-1]), 400, "malformed_stream_name"),
            ("/live/turbo?signed_stream_name=" + quote_query(data), 400, "malformed_stream_name"),
            ("/live/turbo?signed_stream_name=%zz" + quote_query(good), 400, "malformed_stream_name"),
            ("/live/turbo?signed_stream_name=" + quote_query(self.fixtures["long"]), 400, "stream_name_too_long"),
            ("/live/turbo?signed_stream_name=" + quote_query(self.fixtures["other_app"]), 403, "forbidden"),
            ("/live/turbo?signed_stream_name=" + quote_query(data + "--" + "0" * 64), 403, "forbidden"),
            ("/live/turbo?signed_stream_name=" + quote_query("!!!not*base64--" + digest), 403, "forbidden"),
        ]
        for path, status, error in cases:
            with self.subTest(path=path[:80]):
                got, _, body = self.gw.get(path)
                self.assertEqual(got, status, body)
                self.assertEqual(json.loads(body)["error"], error)
        self.assertEqual(self.gw.metric("sse_gateway_channels_listened"), 0)
        self.assertEqual(self.gw.metric('sse_gateway_streams{route="/live/turbo"}'), 0)
        self.assertEqual(self.gw.metric('sse_gateway_refusals_total{route="/live/turbo"}'), 6)
        self.assertEqual(self.gw.metric('sse_gateway_auth_failures_total{route="/live/turbo"}'), 3)

    def test_the_turbo_route_needs_no_identity_but_the_user_routes_still_do(self):
        got, _, _ = self.gw.get("/feed")
        self.assertEqual(got, 401)
        room = self.turbo(self.fixtures["signed"][0])
        self.gw.wait_metric('sse_gateway_streams{route="/live/turbo"}', 1)
        room.expect_no_event(0.1)


class SharedChannelTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_channel_two_routes_want_is_listened_once_and_kept_for_the_other(self):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write('[[route]]\npath = "/authy/live_status"\n[[route]]\npath = "/raw"\npayload = "raw"\n')
        self.addCleanup(os.unlink, path)
        gw = self.gateway("--heartbeat", "600", "--config", path)
        authy = self.stream(gw, 6)
        raw = self.stream(gw, 6, path="/raw")
        gw.wait_metric('sse_gateway_streams{route="/raw"}', 1)
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 1)
        self.pg.notify("user_6", "approved")
        self.assertEqual(authy.next_event()["data"], '{"status":"approved"}')
        self.assertEqual(raw.next_event()["data"], "approved")
        authy.close()
        gw.wait_metric('sse_gateway_streams{route="/authy/live_status"}', 0)
        self.assertEqual(gw.metric("sse_gateway_channels_listened"), 1)
        self.pg.notify("user_6", "denied")
        self.assertEqual(raw.next_event()["data"], "denied")


def quote_query(text):
    from urllib.parse import quote
    return quote(text, safe="")


class RouteConfigRefusedTest(unittest.TestCase):
    def refused(self, text, *extra):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        code, _, err = harness.run_config(["--config", path, "--proxy-secret", harness.SECRET, *extra])
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        return err

    def test_each_bad_route_table_is_one_line_and_exit_2(self):
        self.assertIn("unknown key 'pathh'", self.refused('[[route]]\npathh = "/x"\n'))
        self.assertIn("already a route", self.refused('[[route]]\npath = "/x"\n[[route]]\npath = "/x"\n'))
        self.assertIn("payload", self.refused('[[route]]\npath = "/x"\npayload = "html"\n'))
        self.assertIn("rails-secret-key-base",
                      self.refused('[[route]]\npath = "/t"\nkey = "turbo-signed-stream"\n'))
        self.assertIn("channel-template", self.refused(
            f'rails-secret-key-base = "{BASE}"\n[[route]]\npath = "/t"\nkey = "turbo-signed-stream"\n'
            'channel-template = "t_{user}"\n'))


if __name__ == "__main__":
    unittest.main(verbosity=2)
