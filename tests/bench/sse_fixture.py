#!/usr/bin/python3
"""A deliberately awkward SSE server for checking sse-load's parser (smoke.sh).

GET /sub/<user> gets EVENTS events "<user>:<seq>:<CLOCK_MONOTONIC ns>" (seq 1..EVENTS)
framed four different ways (CRLF, LF, lone CR, comments, multi-line data, extra
fields), cut into pieces of 1-7 bytes. Even users get a chunked response (chunk
extensions, upper-case hex), odd users a close-delimited one. The connection is
then held until the client closes it. Prints the port on stdout.

usage: sse_fixture.py EVENTS
"""
import http.server
import random
import socket
import sys
import time

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def frame(user, seq):
    p = "%d:%d:%d" % (user, seq, time.monotonic_ns())
    variant = seq % 4
    if variant == 0:
        return 'data: {"status":"%s"}\r\n\r\n' % p
    if variant == 1:
        return "event: authy_status\nid: %d\ndata: first line\ndata: %s\n\n" % (seq, p)
    if variant == 2:
        return ": a comment\rdata:%s\r\r" % p
    return "retry: 100\r\n: hb\r\n\r\ndata: x\r\ndata: %s tail\r\n\r\n" % p


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "sub" or not parts[1].isdigit():
            self.send_error(404)
            return
        user = int(parts[1])
        chunked = user % 2 == 0
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        rng = random.Random(user)
        data = (": ok\n\n" + "".join(frame(user, s) for s in range(1, EVENTS + 1))).encode()
        i = 0
        try:
            while i < len(data):
                n = rng.randint(1, 7)
                piece = data[i:i + n]
                i += n
                if chunked:
                    ext = ";ext=1" if rng.random() < 0.2 else ""
                    self.wfile.write(b"%X%s\r\n%s\r\n" % (len(piece), ext.encode(), piece))
                else:
                    self.wfile.write(piece)
                if rng.random() < 0.3:
                    time.sleep(0.001)  # so pieces (and CR|LF pairs) land in separate reads
            self.connection.recv(1)  # hold the stream until the client goes away
        except OSError:
            pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.request_queue_size = 1024
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
