#!/usr/bin/python3
"""The re-LISTEN probe that relisten.sh and scaleout.sh share: polls a gateway's
/readyz and /metrics, cuts its LISTEN connection (pg_terminate_backend) and times
the way back, and reads the gateway's log.

  relisten_probe.py setup PORT CHANNELS STREAMS OUT TIMEOUT
  relisten_probe.py cut PORT DB_URL CHANNELS BACKEND_PID OUT PUBLISHER...
      BACKEND_PID 0: every backend with application_name 'sse-gateway' (one
      gateway); else only that one (one replica of several)
  relisten_probe.py summary ... / table ...   (relisten.sh's figures)

POLL_MS in the environment sets the polling period (default 10 ms).
"""
import datetime, http.client, json, os, subprocess, sys, time

def mono():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, as sse-load and sse-notify-pub use

class Gateway:
    """One keep-alive HTTP connection to the gateway's built-in routes."""
    def __init__(self, port):
        self.port = port
        self.conn = None

    def get(self, path):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                return r.status, r.read().decode()
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def metrics(self):
        out = {}
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith("sse_gateway_") and " " in line:
                name, value = line.rsplit(" ", 1)
                name = name.split("{", 1)[0][len("sse_gateway_"):]
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def ready(self):
        return self.get("/readyz")[0]

def sleep_until(t_ns):
    d = (t_ns - mono()) / 1e9
    if d > 0:
        time.sleep(d)

def cmd_setup(port, channels, streams, out, timeout):
    """From the first stream connection to every channel listened and every stream live."""
    gw = Gateway(int(port))
    channels, streams, timeout = int(channels), int(streams), float(timeout)
    base = gw.metrics()
    base_conns = base.get("connections", 0)
    with open(out + ".started", "w") as f:
        f.write("1\n")
    res = {"first_connect_ns": None, "channels_ns": None, "live_ns": None, "polls": 0}
    step = int(float(os.environ.get("POLL_MS", "10")) * 1e6)
    deadline = mono() + int(timeout * 1e9)
    t = mono()
    while mono() < deadline:
        m = gw.metrics()
        now = mono()
        res["polls"] += 1
        if res["first_connect_ns"] is None and (m.get("connections", 0) > base_conns or m.get("streams", 0) > 0):
            res["first_connect_ns"] = now
        if res["first_connect_ns"] is not None:
            if res["channels_ns"] is None and m.get("channels_listened", 0) >= channels:
                res["channels_ns"] = now
            if res["live_ns"] is None and m.get("streams_opened_total", 0) >= streams:
                res["live_ns"] = now
            if res["channels_ns"] is not None and res["live_ns"] is not None:
                break
        t += step
        sleep_until(t)
    res["metrics"] = gw.metrics()
    with open(out, "w") as f:
        json.dump(res, f)

def cmd_cut(port, db_url, channels, backend_pid, out, *pub_cmd):
    """Terminate the LISTEN backend; poll until /readyz is 200 again; then publish."""
    gw = Gateway(int(port))
    channels, backend_pid = int(channels), int(backend_pid)
    psql = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", db_url],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    psql.stdin.write("SELECT 1;\n")
    if psql.stdout.readline().strip() != "1":
        sys.exit("psql did not answer")
    before = gw.metrics()
    if gw.ready() != 200 or before.get("channels_listened", 0) < channels:
        sys.exit("the gateway is not ready before the cut: %r" % before)
    res = {"before": before, "polls": []}
    res["term_wall_ns"] = time.time_ns()
    res["term_ns"] = mono()
    psql.stdin.write("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE application_name = 'sse-gateway'%s;\n"
                     % (" AND pid = %d" % backend_pid if backend_pid else ""))
    res["terminated"] = int(psql.stdout.readline().strip())
    res["term_ack_ns"] = mono()
    psql.stdin.close()
    psql.wait()
    step = int(float(os.environ.get("POLL_MS", "10")) * 1e6)
    deadline = res["term_ns"] + 120 * 10**9
    down_ns = conn_ns = chan_ns = ready_ns = None
    t = res["term_ns"]
    while mono() < deadline:
        status = gw.ready()
        m = gw.metrics()
        now, now_wall = mono(), time.time_ns()
        res["polls"].append([round((now - res["term_ns"]) / 1e6, 1), status, m.get("pg_connected"),
                             m.get("channels_listened"), m.get("streams")])
        if down_ns is None and (status != 200 or m.get("pg_connected", 1) == 0):
            down_ns = now
        reconnected = m.get("pg_reconnects_total", 0) > before.get("pg_reconnects_total", 0)
        if conn_ns is None and reconnected:
            conn_ns = now
        if reconnected and chan_ns is None and m.get("channels_listened", 0) >= channels:
            chan_ns = now
        if reconnected and status == 200:
            ready_ns = now
            res["ready_wall_ns"] = now_wall
            break
        t += step
        sleep_until(t)
    if ready_ns is None:
        sys.exit("/readyz did not answer 200 within 120 s of the cut")
    # One event per user at once: every one must arrive, since every LISTEN is in place.
    res["pub_start_ns"] = mono()
    pub = subprocess.run(list(pub_cmd), capture_output=True, text=True)
    if pub.returncode != 0:
        sys.exit("publisher failed: %s %s" % (pub.stdout, pub.stderr))
    res["publish"] = json.loads(pub.stdout.strip().splitlines()[-1])
    res.update(down_ns=down_ns, reconnected_seen_ns=conn_ns, channels_ns=chan_ns, ready_ns=ready_ns)
    res["after"] = gw.metrics()
    with open(out, "w") as f:
        json.dump(res, f)

def log_times(path, msg):
    """Wall-clock ns of each gateway log line with this msg (the log has ms precision)."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            if msg not in line:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("msg") != msg:
                continue
            ts = datetime.datetime.fromisoformat(j["ts"].replace("Z", "+00:00"))
            out.append(int(ts.timestamp() * 1000) * 10**6)
    return out

def cmd_summary(mode, streams, channels, ready_f, setup_f, cut_f, report_f, gw_log):
    streams, channels = int(streams), int(channels)
    ready, setup = json.load(open(ready_f)), json.load(open(setup_f))
    cut, report = json.load(open(cut_f)), json.load(open(report_f))
    s = lambda a, b: None if a is None or b is None else (a - b) / 1e9
    phases = {p["name"]: p for p in report.get("phases", [])}
    base, rel = phases.get("baseline", {}), phases.get("relisten", {})
    pub = cut["publish"]
    last_recv = None
    if rel.get("events"):
        last_recv = pub["first_send_ns"] + int(rel["first_send_to_last_recv_s"] * 1e9)
    # The gateway's log: the loss it noticed and the reconnect, after the cut.
    term_wall = cut["term_wall_ns"]
    lost_at = [t for t in log_times(gw_log, "database connection lost") if t >= term_wall - 10**6]
    conn_at = [t for t in log_times(gw_log, "database connected") if t >= term_wall - 10**6]
    lost_wall = lost_at[0] if lost_at else None
    conn_wall = next((t for t in conn_at if lost_wall is None or t >= lost_wall), None)
    ready_wall = cut["ready_wall_ns"]  # the poll that saw 200
    after = cut["after"]
    # Per-user mode: how the re-LISTEN proceeds (PostgreSQL checks a session's whole
    # list before adding a channel, so the second half should take about 3x the first).
    half_s = second_half_s = None
    if channels > 1 and conn_wall is not None and cut.get("channels_ns") is not None:
        conn_rel = (conn_wall - term_wall) / 1e9
        full_at = (cut["channels_ns"] - cut["term_ns"]) / 1e9
        down = next((i for i, p in enumerate(cut["polls"]) if p[2] == 0), len(cut["polls"]))
        # Only when a poll saw it half way, not yet done (600 channels go in one batch).
        half_at = next((p[0] / 1e3 for p in cut["polls"][down:] if channels / 2 <= (p[3] or 0) < channels), None)
        if half_at is not None and conn_rel < half_at < full_at:
            half_s = half_at - conn_rel
            second_half_s = full_at - half_at
    r = {
        "mode": mode, "streams": streams, "channels_expected": channels,
        "established": report.get("established"), "failed": report.get("failed"),
        "setup_load_s": ready.get("establish_s"),
        # Shared mode listens on its one channel from start-up: nothing to time.
        "setup_channels_s": s(setup.get("channels_ns"), setup.get("first_connect_ns")) if mode == "per-user" else None,
        "setup_live_s": s(setup.get("live_ns"), setup.get("first_connect_ns")),
        "baseline_bcast_s": base.get("first_send_to_last_recv_s"),
        "terminated": cut["terminated"],
        "term_to_not_ready_s": s(cut.get("down_ns"), cut["term_ns"]),
        "term_to_lost_logged_s": s(lost_wall, term_wall),
        "lost_to_connected_s": s(conn_wall, lost_wall),
        "connected_to_ready_s": s(ready_wall, conn_wall),
        "term_to_channels_s": s(cut.get("channels_ns"), cut["term_ns"]),
        "relisten_first_half_s": half_s, "relisten_second_half_s": second_half_s,
        "term_to_ready_s": s(cut["ready_ns"], cut["term_ns"]),
        "ready_to_all_delivered_s": s(last_recv, cut["ready_ns"]),
        "term_to_all_delivered_s": s(last_recv, cut["term_ns"]),
        "bcast_s": rel.get("first_send_to_last_recv_s"),
        "bcast_sent": pub.get("sent"), "bcast_received": rel.get("events", 0),
        "lost": report.get("lost"), "duplicates": report.get("duplicates"),
        "misrouted": report.get("misrouted"), "dropped": report.get("dropped"),
        "gateway_streams_before": cut["before"].get("streams"), "gateway_streams_after": after.get("streams"),
        "streams_opened_before": cut["before"].get("streams_opened_total"),
        "streams_opened_after": after.get("streams_opened_total"),
        "pg_reconnects": after.get("pg_reconnects_total", 0) - cut["before"].get("pg_reconnects_total", 0),
        "channels_after": after.get("channels_listened"),
        "cut_polls": len(cut["polls"]),
    }
    problems = []
    if r["terminated"] != 1: problems.append("terminated %s backends, not 1" % r["terminated"])
    if r["established"] != streams or r["failed"]: problems.append("%s of %d streams established" % (r["established"], streams))
    if r["dropped"]: problems.append("%d streams dropped" % r["dropped"])
    if r["gateway_streams_after"] != streams: problems.append("gateway holds %s streams after the cut" % r["gateway_streams_after"])
    if r["streams_opened_after"] != r["streams_opened_before"]: problems.append("streams were re-opened")
    for k in ("lost", "duplicates", "misrouted"):
        if r[k]: problems.append("%d events %s" % (r[k], k))
    if r["bcast_received"] != streams: problems.append("%s of %d events after the reconnect" % (r["bcast_received"], streams))
    if r["pg_reconnects"] != 1: problems.append("%s reconnects, not 1" % r["pg_reconnects"])
    r["problems"] = problems
    print(json.dumps(r))

def cmd_table(results, command, load_start):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    def f(v, fmt=".3f"):
        return "-" if v is None else format(v, fmt)
    cols = [
        ("streams", "streams", "d"),
        ("setup_live_s", "set-up: 1st connect -> all live, s", ".3f"),
        ("setup_channels_s", "set-up: 1st connect -> channels listened, s", ".3f"),
        ("term_to_lost_logged_s", "cut -> loss logged, s", ".3f"),
        ("lost_to_connected_s", "loss -> reconnected (backoff + connect), s", ".3f"),
        ("connected_to_ready_s", "reconnected -> /readyz 200 (re-LISTEN), s", ".3f"),
        ("relisten_first_half_s", "re-LISTEN: first half of the channels, s", ".3f"),
        ("relisten_second_half_s", "re-LISTEN: second half of the channels, s", ".3f"),
        ("term_to_ready_s", "cut -> /readyz 200, s", ".3f"),
        ("ready_to_all_delivered_s", "/readyz 200 -> one NOTIFY per user at every stream (incl. publisher start), s", ".3f"),
        ("term_to_all_delivered_s", "cut -> every stream has its event, s", ".3f"),
        ("bcast_s", "that broadcast: first send -> last stream, s", ".3f"),
        ("baseline_bcast_s", "the same broadcast before the cut, s", ".3f"),
        ("dropped", "streams dropped", "d"),
        ("lost", "events lost / duplicated / misrouted", "s"),
    ]
    for r in rows:
        r["lost"] = "%s / %s / %s" % (r["lost"], r["duplicates"], r["misrouted"])
    out = ["Re-LISTEN after a reconnect: %d streams, 1 per user" % rows[0]["streams"] if rows else "no results", ""]
    out.append("| measurement | " + " | ".join(r["mode"] for r in rows) + " |")
    out.append("|---|" + "---|" * len(rows))
    for key, title, fmt in cols:
        out.append("| %s | %s |" % (title, " | ".join(f(r.get(key), fmt) for r in rows)))
    out.append("")
    out.append("command: %s" % command)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    out.append("machine: %d cores, %s; load %s at start, %s at end" %
               (os.cpu_count(), cpu, load_start, " ".join(open("/proc/loadavg").read().split()[:3])))
    bad = [(r["mode"], p) for r in rows for p in r["problems"]]
    for mode, p in bad:
        out.append("PROBLEM (%s): %s" % (mode, p))
    print("\n".join(out))
    return 1 if bad else 0

if __name__ == "__main__":
    name, args = sys.argv[1], sys.argv[2:]
    rc = {"setup": cmd_setup, "cut": cmd_cut, "summary": cmd_summary, "table": cmd_table}[name](*args)
    sys.exit(rc or 0)
