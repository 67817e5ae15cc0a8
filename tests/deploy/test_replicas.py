"""Three gateways behind one nginx `upstream` (deploy/nginx/sse-gateway.conf with its
one server replaced by three: round robin, nginx's defaults), one PostgreSQL with
deploy/sql/'s users table and trigger, and --snapshot-sql. The browsers are
EventSource-like tabs (event_sources.py) that reconnect through nginx with
Last-Event-ID. Statuses change through the trigger only (UPDATE users, one
transaction each), and every status names its user and a global sequence number
("<user>:<seq>"), so a tab whose last event is not its user's last status lost one.

- Two tabs of one user on two replicas each receive every status, in order.
- Rolling restart under load, the way Kubernetes rolls a Deployment: SIGTERM, the
  drain, exit 0, a new process on the same address, /readyz, then the next. Every
  tab of every user ends with its user's final status; nothing is refused; only the
  draining replica's streams close. Prints the reconnects each restart caused, the
  peak rate a surviving replica absorbed, and what nginx and the tabs saw.
- SIGKILL of one replica: its tabs reconnect to the others and get the state
  written while they were away (the snapshot); no stream on another replica closes.

SSE_GATEWAY_REPLICA_USERS (1000) and SSE_GATEWAY_REPLICA_RATE (300 UPDATEs/s)
scale the load; both trees run the full load (~30 s, ASan included)."""
import bisect
import collections
import os
import random
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import deploy_common as dc
from deploy_common import harness
import event_sources
import users_db

REPLICAS = 3
USERS = int(os.environ.get("SSE_GATEWAY_REPLICA_USERS", "1000"))
RATE = int(os.environ.get("SSE_GATEWAY_REPLICA_RATE", "300"))
DRAIN_SECONDS = 4  # the Kubernetes example drains for 20 s; the same, shorter
SECRET = "replicas-secret-6d5e4f-0123456789abcdef"
SQL_DIR = os.path.join(dc.REPO, "deploy", "sql")

# The app's GET /sse_auth, in the same nginx: the session cookie "pre2fa-<id>" names
# the user (tests/deploy/test_nginx.py has a Python stand-in for the same answer;
# at a thousand reconnects a second, nginx answers it without a thread each). The
# second log records, per request, which replicas nginx tried and what each answered.
APP_AND_LOG = """
  map $cookie__app_session $pre2fa_user {{
    "~^pre2fa-(?<uid>[0-9]+)$" $uid;
    default "";
  }}
  server {{
    listen 127.0.0.1:{app_port};
    location = /sse_auth {{
      if ($pre2fa_user = "") {{ return 401; }}
      add_header X-User-Id $pre2fa_user always;
      return 200;
    }}
  }}
  log_format upstreams '$msec|$status|$upstream_addr|$upstream_status|$uri';
  access_log {tmp}/upstreams.log upstreams;
"""


def session(user):
    return {"Cookie": f"_app_session=pre2fa-{user}"}


def seq_of(status):
    return int(status.rpartition(":")[2])


class StatusWriter:
    """The app's writes: UPDATE users.authy_status, one autocommitted statement each,
    through one psql session (so the order written is the order committed and
    NOTIFYed), at `rate` per second from a thread, random users. `final` is each
    user's last status written; `stop()` returns once psql has committed them all."""

    def __init__(self, pg, users, rate, seed):
        self.pg, self.users, self.rate = pg, users, rate
        self.rng = random.Random(seed)
        rows = pg.execute(f"SELECT id, authy_status FROM users WHERE id <= {users}").split()
        self.final = {int(user): status for user, _, status in (row.partition("|") for row in rows)}
        self.written = 0
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.proc = subprocess.Popen([harness.PSQL, pg.url, "-v", "ON_ERROR_STOP=1", "-qAt"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, preexec_fn=harness._pdeathsig)

    def _write(self, statement):
        self.proc.stdin.write(statement + ";\n")

    def update(self, user):
        with self._lock:
            self._seq += 1
            status = f"{user}:{self._seq}"
            self._write(f"UPDATE users SET authy_status = '{status}' WHERE id = {user}")
            self.final[user] = status
            self.written += 1
            self.proc.stdin.flush()

    def update_all(self):
        """One transaction giving every user a new status; returns its sequence number."""
        with self._lock:
            self._seq += 1
            self._write(f"UPDATE users SET authy_status = id || ':{self._seq}' WHERE id <= {self.users}")
            for user in range(1, self.users + 1):
                self.final[user] = f"{user}:{self._seq}"
            self.written += self.users
            self.proc.stdin.flush()
            return self._seq

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def pause(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._stop.clear()

    def _run(self):
        started, sent = time.monotonic(), 0
        while not self._stop.wait(0.01):
            due = int((time.monotonic() - started) * self.rate)
            for _ in range(due - sent):
                self.update(self.rng.randrange(1, self.users + 1))
            sent = due

    def stop(self):
        """Stops writing and waits until psql has run (committed) every statement."""
        self.pause()
        self.proc.stdin.close()
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("psql did not finish the status UPDATEs within 60 s")
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        if code != 0:
            raise AssertionError(f"psql failed ({code}) on the status UPDATEs: {err}")


def peak_per_second(times):
    """The most entries of sorted `times` within any one second."""
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect.bisect_right(times, t + 1.0) - i)
    return best


class ReplicasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 4 * USERS:  # the tabs' sockets (and their reconnects) in this process
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * USERS + 1024), hard))
        cls.tmp = tempfile.mkdtemp(prefix="sse-gw-replicas-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.pg = harness.TempPostgres().__enter__()
        cls.addClassCleanup(cls.pg.close)
        for name in ("demo_users.sql", "authy_status_notify.sql"):
            with open(os.path.join(SQL_DIR, name)) as f:
                cls.pg.execute(f.read())
        cls.pg.execute(f"INSERT INTO users (id, email) SELECT g, g || '@example.com' "
                       f"FROM generate_series(1, {USERS}) g ON CONFLICT DO NOTHING")
        cls.pg.execute("UPDATE users SET authy_status = id || ':0'")

        cls.ports = [harness.free_port() for _ in range(REPLICAS)]
        cls.replicas = [None] * REPLICAS
        cls.addClassCleanup(cls.stop_replicas)
        for i in range(REPLICAS):
            cls.start_replica(i)

        app_port, cls.http_port, https_port = harness.free_port(), harness.free_port(), harness.free_port()
        site = dc.nginx_example_site(cls.tmp, app_port, cls.ports, cls.http_port, https_port, SECRET)
        cls.nginx = dc.Nginx(cls.tmp, site, [cls.http_port, https_port, app_port],
                             http_extra=APP_AND_LOG.format(app_port=app_port, tmp=cls.tmp),
                             worker_connections=4 * USERS + 512).__enter__()
        cls.addClassCleanup(cls.nginx.close)

    @classmethod
    def start_replica(cls, i):
        """Replica i on its fixed address (nginx's upstream lists the addresses), ready."""
        gw = harness.Gateway("--database-url", cls.pg.url, "--proxy-secret", SECRET,
                             "--snapshot-sql", users_db.SNAPSHOT_SQL, "--drain-seconds", str(DRAIN_SECONDS),
                             "--threads", "1", listen=f"127.0.0.1:{cls.ports[i]}").__enter__()
        cls.replicas[i] = gw
        gw.boot = gw.wait_log(lambda l: l.get("msg") == "listening", 5, "the listening line")["boot_id"]
        gw.wait_ready(30)
        return gw

    @classmethod
    def stop_replicas(cls):
        errors = []
        for gw in cls.replicas:
            if gw is not None:
                try:
                    gw.__exit__(None, None, None)
                except AssertionError as e:
                    errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))

    # --- helpers ---------------------------------------------------------------------
    def tabs(self, users, per_second=1000):
        """A started pool with one tab per user, opened at `per_second`, each with its
        first event (the snapshot) in."""
        pool = event_sources.TabPool(self.http_port)
        self.addCleanup(pool.close)
        for n, user in enumerate(users):
            pool.open(user, session(user), delay=n / per_second)
        pool.start()
        pool.wait(lambda tabs: all(t.stream and t.stream.data for t in tabs), 60 + len(users) / 50,
                  "every tab's stream and its first event")
        return pool

    def writer(self, seed):
        w = StatusWriter(self.pg, USERS, RATE, seed)
        self.addCleanup(lambda: w.proc.poll() is not None or w.proc.kill())
        return w

    def assert_every_tab_gets_its_final_status(self, pool, final, timeout=30):
        """Every tab has an open stream whose last event is its user's final status."""
        def behind(tabs):
            return [(t.user, t.state, t.last_data(), final[t.user]) for t in tabs
                    if t.state != "open" or not t.stream.data
                    or t.stream.data[-1][1] != '{"status":"%s"}' % final[t.user]]
        try:
            pool.wait(lambda tabs: not behind(tabs), timeout, "every tab's final status")
        except AssertionError:
            late = pool.read(behind)
            raise AssertionError(f"{len(late)} tab(s) without their final status "
                                 f"(user, state, last event, final): {late[:10]}")

    def assert_only_own_statuses(self, pool):
        def foreign(tabs):
            return [(t.user, d) for t in tabs for s in t.streams for _, d in s.data
                    if not d.startswith('{"status":"%d:' % t.user)]
        self.assertEqual(pool.read(foreign), [], "a tab received another user's status")

    def refusals(self, pool):
        return pool.read(lambda tabs: [(t.user, r) for t in tabs for r in t.refusals])

    def nginx_upstream_log(self):
        """(time, status, [replica addresses tried], [their statuses]) per stream request."""
        rows = []
        with open(os.path.join(self.tmp, "upstreams.log")) as f:
            for line in f:
                msec, status, addrs, statuses, uri = line.rstrip("\n").split("|")
                if uri == harness.STREAM_PATH:
                    rows.append((float(msec), int(status), addrs.split(", "), statuses.split(", ")))
        return rows

    # --- the tests -------------------------------------------------------------------
    def test_a_user_with_two_tabs_on_two_replicas_gets_every_status_on_both(self):
        user = 7
        pool = self.tabs([user])
        pool.open(user, session(user))  # round robin: the next replica
        pool.wait(lambda tabs: all(t.stream and t.stream.data for t in tabs), 15, "the second tab's snapshot")
        boots = pool.read(lambda tabs: [t.stream.boot for t in tabs])
        self.assertEqual(len(set(boots)), 2, f"both tabs on one replica: {boots}")
        self.assertTrue(set(boots) <= {gw.boot for gw in self.replicas}, boots)
        statuses = [f"{user}:two-tabs-{n}" for n in range(20)]
        for status in statuses:
            users_db.set_status(self.pg, user, status)
        want = ['{"status":"%s"}' % s for s in statuses]
        pool.wait(lambda tabs: all(len(t.stream.data) > len(want) for t in tabs), 15, "20 statuses on both tabs")
        got = pool.read(lambda tabs: [[d for _, d in t.stream.data[1:]] for t in tabs])
        self.assertEqual(got, [want, want])

    def test_a_rolling_restart_under_load_loses_no_status_and_refuses_no_browser(self):
        pool = self.tabs(range(1, USERS + 1))
        per_replica = pool.read(lambda tabs: collections.Counter(t.stream.boot for t in tabs))
        writer = self.writer(seed=14).start()
        time.sleep(1)

        restarts = []  # (index, old boot, new boot, SIGTERM time, exit time, ready time)
        for i in range(REPLICAS):
            old = self.replicas[i]
            sigterm = time.monotonic()
            old.terminate()
            self.assertEqual(old.wait(DRAIN_SECONDS + 10), 0, f"replica {i} after SIGTERM")
            exited = time.monotonic()
            old.close()
            old.check_sanitizers()
            new = self.start_replica(i)
            restarts.append((i, old.boot, new.boot, sigterm, exited, time.monotonic()))
        time.sleep(2)  # statuses keep changing while the last wave settles
        writer.stop()
        written_for = time.monotonic() - restarts[0][3] + 1

        self.assert_every_tab_gets_its_final_status(pool, writer.final)
        self.assertEqual(self.refusals(pool), [], "answers that stop an EventSource")
        self.assert_only_own_statuses(pool)

        streams = pool.read(lambda tabs: [[(s.boot, s.opened, s.closed, s.retry_later) for s in t.streams]
                                          for t in tabs])
        draining = {old: (n, sigterm, exited) for n, (_, old, _, sigterm, exited, _) in enumerate(restarts)}
        # Only draining replicas closed streams, and only while they drained.
        stray = [(b, c) for tab in streams for b, _, c, later in tab if c is not None and not later
                 and not (b in draining and draining[b][1] <= c <= draining[b][2] + 1)]
        self.assertEqual(stray, [], "streams closed other than by a draining replica")
        # Each closed stream's reconnect: the tab's next gateway stream (after any retry-later answers).
        moves = collections.defaultdict(list)  # restart -> (replica reached, when, seconds away, hops)
        for tab in streams:
            for k, (boot, _, closed, later) in enumerate(tab):
                if closed is None or later:
                    continue
                hops = 1
                for nboot, opened, _, nlater in tab[k + 1:]:
                    if not nlater:
                        moves[draining[boot][0]].append((nboot, opened, opened - closed, hops))
                        break
                    hops += 1
        self.assertTrue(all(moves[n] for n in range(REPLICAS)), "a restart closed no stream")
        self.print_rolling_figures(per_replica, writer, restarts, moves, written_for)

    def print_rolling_figures(self, per_replica, writer, restarts, moves, written_for):
        lines = [f"rolling restart: {USERS} users (one tab each) through nginx, {REPLICAS} replicas "
                 f"(tabs per replica at the start: {sorted(per_replica.values())}), {writer.written} status "
                 f"UPDATEs (~{writer.written / written_for:.0f}/s), --drain-seconds {DRAIN_SECONDS}"]
        for n, (i, old, new, sigterm, exited, ready) in enumerate(restarts):
            landed = collections.Counter(b for b, *_ in moves[n])
            peaks = {b: peak_per_second(sorted(o for bb, o, *_ in moves[n] if bb == b)) for b in landed if b != new}
            away = sorted(a for _, _, a, _ in moves[n])
            lines.append(
                f"  restart {n + 1} (replica {i}): {len(moves[n])} streams closed by the drain = reconnects "
                f"({', '.join(f'{c} to {b}' + (' (its replacement)' if b == new else '') for b, c in landed.items())}; "
                f"{sum(h - 1 for *_, h in moves[n])} via a retry-later answer); peak absorbed by a surviving replica "
                f"{max(peaks.values(), default=0)}/s; away {away[len(away) // 2]:.1f} s median, {away[-1]:.1f} s max; "
                f"SIGTERM -> exit {exited - sigterm:.1f} s, -> replacement ready {ready - sigterm:.1f} s")
        upstream = self.nginx_upstream_log()
        later = sum(1 for _, _, _, codes in upstream if codes[-1] != "200")
        tried_next = sum(1 for _, _, addrs, _ in upstream if len(addrs) > 1)
        codes = collections.Counter(code for _, _, _, cs in upstream for code in cs)
        lines.append(f"  non-200 answers seen by the tabs: 0; nginx's retry-later answers (200, retry: 5000): "
                     f"{later}; stream requests nginx moved to another replica after a refused connect (logged as 502): "
                     f"{tried_next}; upstream answers: {dict(codes)}")
        print("\n" + "\n".join(lines), flush=True)

    def test_a_replica_killed_with_sigkill_loses_its_tabs_to_the_others_and_disturbs_no_one_else(self):
        pool = self.tabs(range(1, USERS + 1))
        writer = self.writer(seed=9).start()
        time.sleep(1)
        writer.pause()
        by_boot = collections.Counter(pool.read(lambda tabs: [t.stream.boot for t in tabs]))
        victim = max(range(REPLICAS), key=lambda i: by_boot[self.replicas[i].boot])
        gw = self.replicas[victim]
        self.assertLess(by_boot[gw.boot], USERS, "every tab is on one replica: nothing to keep undisturbed")
        before = pool.read(lambda tabs: {t.user: (len(t.streams), t.stream.boot) for t in tabs})

        self.addCleanup(self.start_replica, victim)  # the next test finds three again
        gw.signal(signal.SIGKILL)
        gw.proc.wait(10)
        gw.close()
        killed_at = time.monotonic()
        # Written while the victim's tabs have no stream anywhere: only the snapshot of
        # the replica they reconnect to can bring it.
        away_seq = writer.update_all()
        writer.start()
        victims = {u for u, (_, boot) in before.items() if boot == gw.boot}
        pool.wait(lambda tabs: all(len(t.streams) > before[t.user][0] and t.stream.data
                                   for t in tabs if t.user in victims), 30, "the victim's tabs back, with an event")
        reconnected_at = time.monotonic()
        time.sleep(1)
        writer.stop()
        self.assert_every_tab_gets_its_final_status(pool, writer.final)
        self.assertEqual(self.refusals(pool), [], "answers that stop an EventSource")
        self.assert_only_own_statuses(pool)

        def moved(tabs):  # (user, replica, first event) of each victim tab's next gateway stream
            nxt = ((t.user, next(s for s in t.streams[before[t.user][0]:] if not s.retry_later))
                   for t in tabs if t.user in victims)
            return [(user, s.boot, s.data[0][1]) for user, s in nxt]
        first = pool.read(moved)
        survivors = {r.boot for r in self.replicas if r is not gw}
        self.assertEqual([m for m in first if m[1] not in survivors], [], "tabs back on no surviving replica")
        stale = [m for m in first if seq_of(m[2][len('{"status":"'):-2]) < away_seq]
        self.assertEqual(stale, [], "a reconnected tab's first event is older than what was written while away")
        disturbed = pool.read(lambda tabs: [(t.user, len(t.streams)) for t in tabs
                                            if t.user not in victims and (len(t.streams) != before[t.user][0]
                                                                          or t.stream.closed is not None)])
        self.assertEqual(disturbed, [], "tabs on the other replicas were disturbed")
        print(f"\nSIGKILL: {len(victims)} of {USERS} tabs on the killed replica, back on "
              f"{dict(collections.Counter(m[1] for m in first))} "
              f"{reconnected_at - killed_at:.1f} s later (the retry hint is 2 s); "
              f"the other {USERS - len(victims)} undisturbed", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
