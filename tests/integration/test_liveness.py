"""A LISTEN connection that dies silently -- no RST, no error, the packets just go
nowhere -- is noticed by the liveness ping, not an hour later."""
import socket
import threading
import time
import unittest

import harness


def setUpModule():
    harness.start_postgres()


class BlackholeProxy:
    """TCP proxy to PostgreSQL that can be frozen: it then neither reads nor
    writes, like a peer behind a dead NAT or a cut cable."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        while not self.stopped.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                src.settimeout(0.1)
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                dst.close()
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def thaw_fresh(self):
        """Drop every frozen connection (never to speak again) and serve new ones."""
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []
        self.frozen.clear()

    def close(self):
        self.stopped.set()
        self.server.close()
        for c in self.conns:
            c.close()


class LivenessTest(harness.GatewayTestCase, unittest.TestCase):
    def test_a_silently_dead_listen_connection_is_noticed_and_replaced(self):
        port = int(self.pg.url.rsplit(":", 1)[1].split("/")[0])
        proxy = BlackholeProxy(port)
        self.addCleanup(proxy.close)
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        gw = harness.Gateway("--database-url", url, "--proxy-secret", harness.SECRET, "--heartbeat", "600",
                             "--db-ping-seconds", "1").__enter__()
        self.addCleanup(gw.__exit__, None, None, None)
        stream = self.stream(gw, 21)
        gw.wait_ready()

        proxy.frozen.set()
        lost = gw.wait_log(lambda l: l.get("msg") == "database connection lost", 10, "the dead connection")
        self.assertEqual(lost["during"], "liveness check")
        self.assertEqual(gw.get("/readyz")[0], 503)

        proxy.thaw_fresh()
        gw.wait_ready(30)
        self.pg.notify("user_21", "back")
        self.assertEqual(stream.next_event()["data"], '{"status":"back"}')

    def test_a_healthy_idle_connection_survives_its_pings(self):
        gw = self.gateway("--heartbeat", "600", "--db-ping-seconds", "1")
        stream = self.stream(gw, 22)
        time.sleep(3.5)
        self.assertFalse([l for l in gw.logs() if l.get("msg") == "database connection lost"])
        self.pg.notify("user_22", "still")
        self.assertEqual(stream.next_event()["data"], '{"status":"still"}')


if __name__ == "__main__":
    unittest.main()
