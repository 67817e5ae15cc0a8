"""Many event streams read at once with one selector: for the outage and drain
tests, where hundreds of streams must be watched together. Standard library only;
every wait is bounded."""
import selectors
import socket
import time

import harness


class Stream:
    def __init__(self, user):
        self.user = user
        self.sock = None
        self.head = b""
        self.status = None
        self.body = b""
        self.eof_at = None

    def events(self):
        """Parsed events so far: dicts with id, event, data (lines joined by \\n)."""
        out = []
        for block in self.body.split(b"\n\n")[:-1]:
            ev, data = {}, []
            for line in block.split(b"\n"):
                if line.startswith(b":") or not line:
                    continue
                field, _, value = line.partition(b":")
                value = value[1:] if value.startswith(b" ") else value
                if field == b"data":
                    data.append(value.decode())
                elif field in (b"id", b"event", b"retry"):
                    ev[field.decode()] = value.decode()
            if data:
                ev["data"] = "\n".join(data)
                out.append(ev)
        return out


class ManyStreams:
    def __init__(self, port, headers_for, users, timeout=60):
        """Opens one stream per entry of `users`; headers_for(user) gives its headers.
        Returns once every stream has its response head (bounded by timeout)."""
        self.sel = selectors.DefaultSelector()
        self.streams = []
        for user in users:
            s = Stream(user)
            s.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            lines = [f"GET /authy/live_status HTTP/1.1", "Host: 127.0.0.1"]
            lines += [f"{k}: {v}" for k, v in headers_for(user).items()]
            s.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            s.sock.setblocking(False)
            self.sel.register(s.sock, selectors.EVENT_READ, s)
            self.streams.append(s)
        self.pump_until(lambda: all(s.status is not None or s.eof_at for s in self.streams), timeout,
                        "every stream's response head")
        bad = [(s.user, s.status) for s in self.streams if s.status != 200]
        if bad:
            raise AssertionError(f"streams not opened: {bad[:5]} ({len(bad)} in all)")

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            for key, _ in self.sel.select(min(left, 0.2)):
                self._read(key.data)

    def pump_until(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self.pump(0.05)

    def _read(self, s):
        data = harness.recv_ready(s.sock)
        if data is None:
            return
        if not data:
            s.eof_at = time.monotonic()
            self.sel.unregister(s.sock)
            return
        if s.status is None:
            s.head += data
            if b"\r\n\r\n" in s.head:
                head, _, rest = s.head.partition(b"\r\n\r\n")
                s.status = int(head.split(b" ")[1])
                s.body += rest
        else:
            s.body += data

    def close(self):
        for s in self.streams:
            try:
                if s.eof_at is None:
                    self.sel.unregister(s.sock)
            except (KeyError, ValueError):
                pass
            s.sock.close()
        self.sel.close()
