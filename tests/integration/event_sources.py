"""Browser tabs at scale: many clients that behave like EventSource, in one selector
loop on a thread of their own. Each tab reconnects as a browser's EventSource does
(after the last `retry:` hint, with `Last-Event-ID`) when its stream ends, whether
by the connection closing or by the response's own framing (a proxy ends a chunked
stream with its last chunk and keeps the connection), and stops for good on an
answer that is not `200 text/event-stream`. Standard library only; every wait is
bounded; every socket is closed by `close()`."""
import errno
import heapq
import itertools
import selectors
import socket
import threading
import time

import harness

RETRY_LATER = "gateway unavailable, retry"  # the proxy example's retry-later comment


class Stream:
    """One response a tab received: when, from which gateway process (the boot id in
    its event ids), what it carried and how it ended."""

    def __init__(self, opened):
        self.opened = opened
        self.boot = None         # from the first event id; None while no event came
        self.data = []           # (time, event data), in order
        self.closed = None       # time the stream ended, None while open
        self.retry_later = False  # the proxy's retry-later answer, not a gateway stream


class Tab:
    """One EventSource. Read its fields only under the pool's lock (`TabPool.read`)."""

    def __init__(self, user, headers):
        self.user = user
        self.headers = headers
        self.last_id = None
        self.retry_ms = 3000          # a browser's default until a retry: line says otherwise
        self.state = "connecting"     # connecting -> open -> waiting -> connecting ...; failed
        self.streams = []             # every Stream, oldest first
        self.refusals = []            # (time, status line) of answers that stopped the tab
        self.network_errors = 0       # connects or reads that failed before a response
        self._sock = None
        self._parser = None
        self._sent = False    # the request of the current connection is out
        self._head = b""

    @property
    def stream(self):
        """The current (last) stream, or None before the first answer."""
        return self.streams[-1] if self.streams else None

    def last_data(self):
        """The data of the last event received on any stream, or None."""
        for s in reversed(self.streams):
            if s.data:
                return s.data[-1][1]
        return None


class TabPool:
    """Tabs against one HTTP port (a proxy), driven by a background thread between
    `start()` and `close()`."""

    def __init__(self, port, path=harness.STREAM_PATH):
        self.port = port
        self.path = path
        self.tabs = []
        self.lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._timers = []  # heap of (when, seq, tab): connects due
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread = None
        self._error = None
        harness._live.add(self)

    # --- control (any thread) -------------------------------------------------
    def open(self, user, headers, delay=0):
        """A new tab for `user` sending `headers` (e.g. its session cookie), connecting
        `delay` seconds from now (a ramp, rather than a thousand SYNs at once)."""
        tab = Tab(user, headers)
        with self.lock:
            self.tabs.append(tab)
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), tab))
        return tab

    def start(self):
        self._thread = threading.Thread(target=self._run, name="tab-pool", daemon=True)
        self._thread.start()
        return self

    def read(self, fn):
        """fn(tabs) under the lock: a consistent view of every tab."""
        self._check()
        with self.lock:
            return fn(self.tabs)

    def wait(self, predicate, timeout, what):
        """Waits until predicate(tabs) (called under the lock) is truthy."""
        return harness.wait_until(lambda: self.read(predicate), timeout, what)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self.lock:
            for tab in self.tabs:
                self._drop(tab)
        self._sel.close()
        harness._live.discard(self)

    def _check(self):
        if self._error is not None:
            raise AssertionError(f"the tab pool's thread failed: {self._error!r}")

    # --- the loop (pool thread) ---------------------------------------------------
    def _run(self):
        try:
            while not self._stop.is_set():
                with self.lock:
                    wait = 0.05
                    if self._timers:
                        wait = min(wait, max(0.0, self._timers[0][0] - time.monotonic()))
                ready = self._sel.select(wait)
                with self.lock:
                    for key, mask in ready:
                        tab = key.data
                        if tab._sock is key.fileobj:
                            self._on_ready(tab, mask)
                    now = time.monotonic()
                    while self._timers and self._timers[0][0] <= now:
                        _, _, tab = heapq.heappop(self._timers)
                        self._connect(tab)
        except Exception as e:  # surfaced to the test by read()/wait()
            self._error = e
            raise

    def _connect(self, tab):
        tab.state = "connecting"
        tab._sent = False
        tab._head = b""
        tab._parser = None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        tab._sock = sock
        err = sock.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            self._network_error(tab)
            return
        self._sel.register(sock, selectors.EVENT_WRITE, tab)

    def _on_ready(self, tab, mask):
        if not tab._sent:  # connected (or failed to): send the request
            if tab._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._network_error(tab)
                return
            lines = [f"GET {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                     "Accept: text/event-stream", "Cache-Control: no-cache"]
            if tab.last_id is not None:
                lines.append(f"Last-Event-ID: {tab.last_id}")
            lines += [f"{k}: {v}" for k, v in tab.headers.items()]
            tab._sock.send(("\r\n".join(lines) + "\r\n\r\n").encode())  # small: fits the buffer
            tab._sent = True
            self._sel.modify(tab._sock, selectors.EVENT_READ, tab)
            return
        data = harness.recv_ready(tab._sock)
        if data is None:
            return
        if tab._parser is None:
            if not data:
                self._network_error(tab)
                return
            tab._head += data
            if b"\r\n\r\n" not in tab._head:
                return
            head, _, rest = tab._head.partition(b"\r\n\r\n")
            parser = harness.SseParser()
            parser.feed_head(head)
            if parser.status != 200 or not parser.headers.get("content-type", "").startswith("text/event-stream"):
                tab.refusals.append((time.monotonic(), parser.status_line))
                tab.state = "failed"  # EventSource: "fail the connection", no reconnect
                self._drop(tab)
                return
            tab._parser = parser
            tab.state = "open"
            tab.streams.append(Stream(time.monotonic()))
            data = rest
        elif not data:
            self._ended(tab)
            return
        self._feed(tab, data)
        if tab._parser.complete():
            self._ended(tab)

    def _feed(self, tab, data):
        parser, stream = tab._parser, tab.stream
        parser.feed(data)
        now = time.monotonic()
        while not parser.events.empty():
            event = parser.events.get()
            if "id" in event:
                tab.last_id = event["id"]
                if stream.boot is None:
                    stream.boot = event["id"].rpartition("-")[0]
            stream.data.append((now, event["data"]))
        if parser.retry is not None and parser.retry.isdigit():
            tab.retry_ms = int(parser.retry)

    def _ended(self, tab):
        tab.stream.closed = time.monotonic()
        tab.stream.retry_later = RETRY_LATER in tab._parser.comments
        self._drop(tab)
        self._reconnect_later(tab)

    def _network_error(self, tab):
        tab.network_errors += 1
        self._drop(tab)
        self._reconnect_later(tab)

    def _reconnect_later(self, tab):
        tab.state = "waiting"
        heapq.heappush(self._timers, (time.monotonic() + tab.retry_ms / 1000, next(self._seq), tab))

    def _drop(self, tab):
        if tab._sock is not None:
            try:
                self._sel.unregister(tab._sock)
            except (KeyError, ValueError):
                pass
            tab._sock.close()
            tab._sock = None
        tab._parser = None
