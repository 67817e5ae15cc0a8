"""Integration-test helpers: a throwaway PostgreSQL, the real gateway binary and a
raw-socket SSE client. Standard library only. Every wait is bounded and fails with
a message saying what was awaited and what was seen instead; every process and
directory is cleaned up on exit, on failure and on SIGTERM."""
import atexit
import ctypes
import http.client
import json
import re
import os
import queue
import resource
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.environ.get("SSE_GATEWAY_SCRIPTS") or os.path.join(HERE, "..", "..", "scripts")
PSQL = "/usr/bin/psql"
STREAM_PATH = "/authy/live_status"
SECRET = "it-secret-0f1e2d3c4b5a-6978a5b4c3d2e1f0"

# Resources still alive, cleaned at interpreter exit whatever happened before.
_live = set()


def _cleanup_all():
    for resource in list(_live):
        try:
            resource.close()
        except Exception:  # cleanup is best effort: keep going with the rest
            pass


atexit.register(_cleanup_all)


def _on_sigterm(signum, frame):  # ctest's timeout: unwind so `with` blocks clean up
    raise KeyboardInterrupt("SIGTERM")


signal.signal(signal.SIGTERM, _on_sigterm)


def gateway_bin():
    path = os.environ.get("SSE_GATEWAY_BIN")
    if not path or not os.access(path, os.X_OK):
        raise AssertionError(f"SSE_GATEWAY_BIN must name the built binary, got {path!r}")
    return path


def child_env(extra=None):
    """The environment for the gateway: no inherited gateway or libpq settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSE_GATEWAY_", "PG")) and k != "DATABASE_URL"}
    env.update(extra or {})
    return env


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sql_literal(text):
    """A SQL string literal (standard_conforming_strings is on in PostgreSQL 15)."""
    return "'" + text.replace("'", "''") + "'"


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class TempPostgres:
    """A throwaway cluster from scripts/tmp-postgres.sh; `.url` connects to it."""

    def __init__(self):
        self.dir = None
        self.url = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="sse-gw-pg-")
        _live.add(self)
        try:
            out = subprocess.run(["bash", os.path.join(SCRIPTS, "tmp-postgres.sh"), "start", self.dir],
                                 capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError("tmp-postgres.sh start did not finish within 120s")
        if out.returncode != 0:
            self.close()
            raise AssertionError(f"tmp-postgres.sh start failed: {out.stderr}")
        self.url = out.stdout.strip()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.dir:
            subprocess.run(["bash", os.path.join(SCRIPTS, "tmp-postgres.sh"), "stop", self.dir],
                           capture_output=True, timeout=60)
            self.dir = None
        _live.discard(self)

    def control(self, action, *args):
        """tmp-postgres.sh `down [fast|immediate]` or `up`: the server stops or starts,
        the cluster and its port stay."""
        out = subprocess.run(["bash", os.path.join(SCRIPTS, "tmp-postgres.sh"), action, self.dir, *args],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"tmp-postgres.sh {action} {args} failed: {out.stderr}")

    def execute(self, sql):
        out = subprocess.run([PSQL, self.url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise AssertionError(f"psql failed on {sql!r}: {out.stderr}")
        return out.stdout

    def notify(self, channel, payload):
        """NOTIFY with any payload text: quotes, backslashes and newlines included."""
        self.execute(f"SELECT pg_notify({sql_literal(channel)}, {sql_literal(payload)})")


def _pdeathsig():
    # The gateway dies with the test process, even if that one is SIGKILLed.
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _labels(text):
    """The label pairs of a sample's `a="x",b="y"` (values as written, escapes kept)."""
    return re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', text)


class Gateway:
    """The real binary on an ephemeral port. Logs (JSON lines on stdout) and stderr
    are collected in background threads; `.port` comes from the "listening" line."""

    def __init__(self, *args, env=None, listen="127.0.0.1:0", wait_listening=True, stack_bytes=None):
        self.argv = [gateway_bin()] + (["--listen", listen] if listen else []) + list(args)
        self.env = child_env(env)
        self.stack_bytes = stack_bytes  # RLIMIT_STACK: glibc sizes new threads' stacks by it
        self.wait_listening = wait_listening
        self.proc = None
        self.port = None
        self.ops_port = None  # where /healthz, /readyz and /metrics are: --ops-listen's port, else port
        self.stdout_lines = []
        self.stderr_lines = []
        self._lock = threading.Lock()
        self._threads = []

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env,
                                     preexec_fn=self._preexec, start_new_session=True)
        _live.add(self)
        for stream, sink in ((self.proc.stdout, self.stdout_lines), (self.proc.stderr, self.stderr_lines)):
            t = threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            t.start()
            self._threads.append(t)
        if self.wait_listening:
            try:
                line = self.wait_log(lambda l: l.get("msg") == "listening" and "port" in l, 15,
                                     'the "listening" log line')
            except AssertionError:
                self.close()
                raise
            self.port = int(line["port"])
            # With --ops-listen, its line comes first; the probes and /metrics are there.
            ops = [l for l in self.logs() if l.get("msg") == "ops listening"]
            self.ops_port = int(ops[0]["port"]) if ops else self.port
        return self

    def _preexec(self):
        _pdeathsig()
        if self.stack_bytes:
            resource.setrlimit(resource.RLIMIT_STACK, (self.stack_bytes, self.stack_bytes))

    def __exit__(self, *exc):
        killed = self.close()
        self.check_sanitizers()
        if killed:
            raise AssertionError(f"gateway ignored SIGTERM for {self.STOP_TIMEOUT}s and was killed:\n{self.tail()}")

    def _pump(self, stream, sink):
        for raw in iter(stream.readline, b""):
            with self._lock:
                sink.append(raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    # --- process control -------------------------------------------------
    def signal(self, sig):
        self.proc.send_signal(sig)

    def terminate(self):
        self.signal(signal.SIGTERM)

    def wait(self, timeout):
        """The exit code; fails if the process is still running after timeout."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"gateway still running {timeout}s later; last logs: {self.tail()}")
        for t in self._threads:
            t.join(5)
        return code

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    STOP_TIMEOUT = 15  # beyond the default 10 s drain

    def close(self):
        """Stops the process (SIGTERM, then SIGKILL); True if it had to be killed."""
        killed = False
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                killed = True
        if self.proc is not None:
            for t in self._threads:
                t.join(5)
        _live.discard(self)
        return killed

    def check_sanitizers(self):
        text = "\n".join(self.stderr_lines)
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in text:
                raise AssertionError(f"sanitizer report from the gateway:\n{text}")

    # --- logs --------------------------------------------------------------
    def logs(self):
        """Parsed JSON log lines from stdout (lines that are not JSON are skipped)."""
        with self._lock:
            lines = list(self.stdout_lines)
        parsed = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                parsed.append(obj)
        return parsed

    def all_output(self):
        with self._lock:
            return "\n".join(self.stdout_lines + self.stderr_lines)

    def tail(self, n=15):
        with self._lock:
            return "\n".join((self.stdout_lines + ["-- stderr --"] + self.stderr_lines)[-n:])

    def wait_log(self, predicate, timeout, what):
        """The first parsed log line matching predicate, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.logs():
                if predicate(line):
                    return line
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the pump threads catch the last lines
                for line in self.logs():
                    if predicate(line):
                        return line
                raise AssertionError(f"gateway exited ({self.proc.returncode}) before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.tail()}")
            time.sleep(0.05)

    # --- HTTP helpers --------------------------------------------------------
    def get(self, path, headers=None, method="GET", timeout=15):
        return http_get(self.port, path, headers, method, timeout)

    def wait_ready(self, timeout=15):
        try:
            wait_until(lambda: http_get(self.ops_port, "/readyz")[0] == 200, timeout, "/readyz to answer 200")
        except AssertionError as e:
            # Why it is not ready is in its log (database, JWKS fetches): say it here.
            raise AssertionError(f"{e}\nthe gateway's last lines:\n{self.tail(30)}") from None

    def metrics(self):
        """{sample name with labels: value} from /metrics."""
        status, _, body = http_get(self.ops_port, "/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}")
        samples = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def metric(self, name):
        """The sum of every sample of `name` over all label sets; None if absent.
        `name` may hold labels (`x{reason="a"}`): then the samples whose labels
        include those (a `route` label besides, say) are summed."""
        base, _, want = name.partition("{")
        want = set(_labels(want.rstrip("}"))) if want else set()
        values = []
        for k, v in self.metrics().items():
            kb, _, labels = k.partition("{")
            if kb == base and want <= set(_labels(labels.rstrip("}"))):
                values.append(v)
        return sum(values) if values else None

    def wait_metric(self, name, value, timeout=15):
        wait_until(lambda: self.metric(name) == value, timeout, f"{name} == {value}")

    def stream(self, user, secret=SECRET, path=STREAM_PATH, extra=None, timeout=15):
        headers = {"X-User-Id": str(user)}
        if secret is not None:
            headers["X-Gateway-Secret"] = secret
        headers.update(extra or {})
        return SseClient(self.port, path, headers, timeout)


def http_get(port, path, headers=None, method="GET", timeout=15):
    """(status, {lowercased header: value}, body bytes) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)  # bytes values go out as they are
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    except (socket.timeout, TimeoutError):
        raise AssertionError(f"{method} {path}: no complete response within {timeout}s")
    finally:
        conn.close()


def recv_ready(sock):
    """What a non-blocking socket the selector called readable has: bytes; b"" at EOF
    or after a reset; None when there is nothing after all (a spurious wake-up)."""
    try:
        return sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def raw_request(port, data, timeout=10):
    """Sends bytes as they are, returns everything the gateway answers until it
    closes the connection (or the timeout passes: then what came so far)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


class SseParser:
    """An HTTP/1.1 response whose body is read as an event stream, fed bytes as they
    arrive (no socket of its own): `feed_head` with the head, then `feed` with the
    body. Dispatched events go to `.events`, in order."""

    def __init__(self):
        self.events = queue.SimpleQueue()  # dispatched events, in order
        self.comments = []                 # comment lines, without the ':'
        self.retry = None
        self.status = None
        self.status_line = None
        self.headers = {}
        self._body = b""      # the decoded (de-chunked) body
        self._pending = b""   # body bytes not yet split into lines
        self._chunked = False
        self._chunk_buf = b""
        self._chunk_left = None  # None: expecting a size line; >0: data; 0: CRLF after data
        self._block = {}

    def feed_head(self, head):
        """The response head: everything before the blank line that ends it."""
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status_line = status_line
        self.status = int(status_line.split(" ")[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()

    def complete(self):
        """True once the body has ended by its framing (the last chunk, or
        Content-Length bytes): a proxy keeping the connection alive ends a stream so."""
        if self._chunked:
            return self._chunk_left == -1
        length = self.headers.get("content-length")
        return length is not None and len(self._body) >= int(length)

    # --- body decoding --------------------------------------------------------
    def feed(self, data):
        if self._chunked:
            data = self._dechunk(data)
        self._body += data
        self._pending += data
        while b"\n" in self._pending:
            line, _, self._pending = self._pending.partition(b"\n")
            self._line(line.rstrip(b"\r").decode("utf-8", "replace"))

    def _dechunk(self, data):
        self._chunk_buf += data
        out = b""
        while True:
            if self._chunk_left is None:
                line, sep, rest = self._chunk_buf.partition(b"\r\n")
                if not sep:
                    return out
                self._chunk_buf = rest
                self._chunk_left = int(line.split(b";")[0], 16) or -1  # -1: last chunk
            elif self._chunk_left == -1:
                return out
            elif self._chunk_left > 0:
                take = self._chunk_buf[:self._chunk_left]
                if not take:
                    return out
                out += take
                self._chunk_buf = self._chunk_buf[len(take):]
                self._chunk_left -= len(take)
            else:
                if len(self._chunk_buf) < 2:
                    return out
                self._chunk_buf = self._chunk_buf[2:]
                self._chunk_left = None

    def _line(self, line):
        if line == "":
            block, self._block = self._block, {}
            if block:
                block.setdefault("event", "message")
                block["data"] = "\n".join(block.get("data", []))
                self.events.put(block)
            return
        if line.startswith(":"):
            self.comments.append(line[1:].lstrip(" "))
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._block.setdefault("data", []).append(value)
        elif name in ("id", "event"):
            self._block[name] = value
        elif name == "retry":
            self.retry = value


class SseClient(SseParser):
    """A raw-socket HTTP/1.1 GET whose body is parsed as an event stream, as it
    arrives. Opening waits (bounded) for the status line and headers."""

    def __init__(self, port, path=STREAM_PATH, headers=None, timeout=15):
        super().__init__()
        self.eof = False
        self._wire = b""      # everything received, headers included
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        _live.add(self)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        request = "\r\n".join(lines).encode()
        for name, value in (headers or {}).items():
            request += b"\r\n" + name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        self.sock.sendall(request + b"\r\n\r\n")
        self._read_head(timeout)

    # --- socket -------------------------------------------------------------
    def _recv(self, deadline):
        """Reads what is available before deadline; False on timeout, sets eof."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        ready, _, _ = select.select([self.sock], [], [], remaining)
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self._wire += data
        return data

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._wire:
            if not self._recv(deadline):
                self.close()
                raise AssertionError(f"no complete response head within {timeout}s "
                                     f"(eof={self.eof}); got {self._wire!r}")
        head, _, rest = self._wire.partition(b"\r\n\r\n")
        self.feed_head(head)
        self.feed(rest)

    def _pump(self, deadline):
        data = self._recv(deadline)
        if data:
            self.feed(data)
        return data

    # --- waiting -----------------------------------------------------------
    def next_event(self, timeout=10):
        deadline = time.monotonic() + timeout
        while self.events.empty():
            if self.eof:
                raise AssertionError(f"stream closed while waiting for an event; body: {self._body!r}")
            if not self._pump(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"no event within {timeout}s; body so far: {self._body!r}")
        return self.events.get()

    def expect_no_event(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.eof:
            self._pump(deadline)
        if not self.events.empty():
            raise AssertionError(f"unexpected event {self.events.get()!r}")

    def wait_comment(self, text, timeout=10, count=1):
        deadline = time.monotonic() + timeout
        while self.comments.count(text) < count:
            if self.eof or (not self._pump(deadline) and time.monotonic() >= deadline):
                raise AssertionError(f"{count} comment(s) {text!r} not seen within {timeout}s "
                                     f"(eof={self.eof}); body: {self._body!r}")

    def wait_body(self, size, timeout=10):
        """Waits until at least `size` body bytes have arrived; returns the body."""
        deadline = time.monotonic() + timeout
        while len(self._body) < size:
            if self.eof or (not self._pump(deadline) and time.monotonic() >= deadline):
                raise AssertionError(f"fewer than {size} body bytes within {timeout}s; got {self._body!r}")
        return self._body

    def wait_eof(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._pump(deadline) and not self.eof:
                raise AssertionError(f"stream still open after {timeout}s; body: {self._body!r}")

    def raw_bytes(self):
        """The body received so far, de-chunked, byte for byte."""
        return self._body

    def wire_bytes(self):
        return self._wire

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GatewayTestCase:
    """Mixin for unittest.TestCase: the module's PostgreSQL (see start_postgres) and
    gateways and streams that are closed after each test."""
    pg = None

    def gateway(self, *args, secret=SECRET, **kwargs):
        """A running gateway against the module's database, closed after the test."""
        base = ["--database-url", self.pg.url]
        if secret is not None:
            base += ["--proxy-secret", secret]
        gw = Gateway(*base, *args, **kwargs).__enter__()
        self.addCleanup(gw.__exit__, None, None, None)
        return gw

    def stream(self, gw, user, **kwargs):
        client = gw.stream(user, **kwargs)
        self.addCleanup(client.close)
        return client


def start_postgres():
    """For setUpModule: one cluster for every GatewayTestCase of the module,
    stopped in the module cleanup."""
    pg = TempPostgres().__enter__()
    unittest.addModuleCleanup(pg.close)
    GatewayTestCase.pg = pg
    return pg


def run_config(args, env=None, timeout=20):
    """Runs the binary to completion: (exit code, stdout, stderr)."""
    try:
        out = subprocess.run([gateway_bin()] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, env=child_env(env), timeout=timeout, preexec_fn=_pdeathsig)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{args} still running after {timeout}s (expected it to exit)")
    return out.returncode, out.stdout, out.stderr

