"""Runs deploy/nginx/sse-gateway.conf for real: Debian's nginx with the example's
server block (addresses swapped for loopback ones, a throwaway certificate), a
stand-in app answering the auth_request, the real gateway and PostgreSQL. Checks
the proxy-header flow, that events are not buffered, that a browser cannot name
its own user, HTTP/2, and the retry-later answer while the gateway is down."""
import http.server
import os
import queue
import subprocess
import tempfile
import threading
import time
import unittest

import deploy_common as dc
from deploy_common import harness

SECRET = "nginx-example-secret-3c2b-0123456789abcdef"


class StandInApp(http.server.BaseHTTPRequestHandler):
    """The app: / is a page; /sse_auth names the user of a pre-2FA session cookie."""
    seen = []

    def do_GET(self):
        StandInApp.seen.append((self.path, dict(self.headers)))
        if self.path == "/sse_auth":
            cookies = dict(c.strip().split("=", 1) for c in self.headers.get("Cookie", "").split(";") if "=" in c)
            session = cookies.get("_app_session", "")
            if session.startswith("pre2fa-"):
                self.send_response(200)
                self.send_header("X-User-Id", session[len("pre2fa-"):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"the app's own page"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class NginxExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sse-gw-nginx-")
        cls.addClassCleanup(subprocess.run, ["rm", "-rf", cls.tmp])
        cls.pg = harness.TempPostgres().__enter__()
        cls.addClassCleanup(cls.pg.close)
        with open(os.path.join(dc.REPO, "deploy", "sql", "demo_users.sql")) as f:
            cls.pg.execute(f.read())
        with open(os.path.join(dc.REPO, "deploy", "sql", "authy_status_notify.sql")) as f:
            cls.pg.execute(f.read())
        cls.gw = harness.Gateway("--database-url", cls.pg.url, "--proxy-secret", SECRET).__enter__()
        cls.addClassCleanup(cls.gw.close)

        cls.app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInApp)
        threading.Thread(target=cls.app.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.app.server_close)
        cls.addClassCleanup(cls.app.shutdown)

        cls.http_port, cls.https_port = harness.free_port(), harness.free_port()
        site = dc.nginx_example_site(cls.tmp, cls.app.server_address[1], [cls.gw.port], cls.http_port,
                                     cls.https_port, SECRET)
        cls.nginx = dc.Nginx(cls.tmp, site, [cls.http_port, cls.https_port]).__enter__()
        cls.addClassCleanup(cls.nginx.close)

    def stream(self, headers):
        client = harness.SseClient(self.http_port, headers=headers, timeout=10)
        self.addCleanup(client.close)
        return client

    # ---- the tests -------------------------------------------------------------------
    def test_other_paths_still_reach_the_app(self):
        status, _, body = harness.http_get(self.http_port, "/")
        self.assertEqual((status, body), (200, b"the app's own page"))

    def test_a_session_the_app_vouches_for_gets_its_users_events_unbuffered(self):
        s = self.stream({"Cookie": "_app_session=pre2fa-501"})
        self.assertEqual(s.status, 200)
        self.assertTrue(s.headers["content-type"].startswith("text/event-stream"))
        self.pg.execute("UPDATE users SET authy_status = 'approved' WHERE id = 501")
        # Arrives while the stream is still open: nothing buffers it on the way.
        event = s.next_event(5)
        self.assertEqual((event["event"], event["data"]), ("authy_status", '{"status":"approved"}'))
        whoami = [h for p, h in StandInApp.seen if p == "/sse_auth"]
        self.assertTrue(whoami and whoami[-1].get("X-Original-URI") == "/authy/live_status")

    def test_without_a_session_the_answer_is_401_and_no_stream(self):
        for headers in ({}, {"X-User-Id": "502", "X-Gateway-Secret": SECRET}):
            status, _, _ = harness.http_get(self.http_port, "/authy/live_status", headers)
            self.assertEqual(status, 401, headers)

    def test_a_browser_cannot_name_another_user_in_its_own_headers(self):
        s = self.stream({"Cookie": "_app_session=pre2fa-503", "X-User-Id": "504"})
        self.assertEqual(s.status, 200)
        self.pg.execute("UPDATE users SET authy_status = 'approved' WHERE id = 504")
        self.pg.execute("UPDATE users SET authy_status = 'denied' WHERE id = 503")
        event = s.next_event(5)
        self.assertEqual(event["data"], '{"status":"denied"}', "only user 503's own event")

    def test_streams_work_over_http2_with_tls(self):
        proc = subprocess.Popen(["curl", "-sS", "-k", "--http2", "-N", "-D", "-", "--max-time", "20",
                                 "-H", "Cookie: _app_session=pre2fa-505",
                                 f"https://127.0.0.1:{self.https_port}/authy/live_status"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def end_curl():
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(end_curl)
        lines = queue.SimpleQueue()
        threading.Thread(target=lambda: [lines.put(l.rstrip("\r\n")) for l in proc.stdout], daemon=True).start()

        def read_until(pred, timeout, what):
            deadline, seen = time.monotonic() + timeout, []
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                seen.append(line)
                if pred(line):
                    return seen
            raise AssertionError(f"no {what} within {timeout}s; got {seen}")

        head = read_until(lambda l: l == ": ok", 10, "stream start")
        self.assertTrue(head[0].startswith("HTTP/2 200"), head[0])
        self.pg.execute("UPDATE users SET authy_status = 'approved' WHERE id = 505")
        read_until(lambda l: l == 'data: {"status":"approved"}', 5, "event over HTTP/2")

    def test_zz_while_the_gateway_is_down_browsers_get_a_stream_that_asks_them_to_retry(self):
        # Runs last (zz): it stops the gateway.
        self.gw.close()
        status, headers, body = harness.http_get(self.http_port, "/authy/live_status",
                                                 {"Cookie": "_app_session=pre2fa-506"})
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/event-stream"))
        self.assertIn(b"retry: ", body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
