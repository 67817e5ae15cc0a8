#!/usr/bin/python3
"""scaleout.sh's report: medians with their spread, the fitted cost model, the
crossover between per-user and shared channel mode, and a sizing table.

  scaleout_report.py table RESULTS.jsonl [--markdown FILE] [--users-per-replica N]
                     [--rate R] [--users LIST]
      the report (what scaleout.sh prints); exit 1 when a run lost, duplicated
      or misrouted an event, or dropped or failed a stream
  scaleout_report.py summary RUN_DIR     one configuration's raw files -> one JSON line
  scaleout_report.py meta|end|brief ...  (used by scaleout.sh)

The model is scaling.md's:

  PostgreSQL CPU per notification = replicas x wake-up + channels listened (all
                                    replicas together) x compare
  gateway CPU per notification    = deliver (per-user mode; only the replica
                                    holding the user receives it)
                                  = deliver + (replicas - 1) x discard (shared
                                    mode: every replica receives every one)

fitted by least squares (PostgreSQL: relative error, weights 1/y^2) to the
medians of the measured configurations, with the CPU an idle phase of the
same configuration spent per second subtracted first (heartbeats, timers).
"""
import argparse, json, math, os, platform, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relisten_probe import log_times  # noqa: E402  (the gateway log's timestamps)


# ---- raw files -> one JSON line per configuration --------------------------------------

def read_metrics(path):
    """Prometheus text -> {name: value}, labels summed away, prefix dropped."""
    out = {}
    try:
        text = open(path).read()
    except OSError:
        return out
    for line in text.splitlines():
        if not line.startswith("sse_gateway_") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        name = name.split("{", 1)[0][len("sse_gateway_"):]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return out


def cmd_summary(run):
    meta = json.load(open(os.path.join(run, "meta.json")))
    ready = json.load(open(os.path.join(run, "ready.json")))
    report = json.load(open(os.path.join(run, "report.json")))
    pub = json.loads(open(os.path.join(run, "rate-pub.json")).read().strip().splitlines()[-1])
    cut = json.load(open(os.path.join(run, "cut.json")))
    R, S = meta["replicas"], meta["streams_per_replica"]
    phases = {p["name"]: p for p in report.get("phases", [])}
    idle, rate, rel = phases.get("idle", {}), phases.get("rate", {}), phases.get("relisten", {})

    sent = pub.get("sent", 0)
    events = rate.get("events", 0)
    idle_w, rate_w = idle.get("window_s") or 0, rate.get("window_s") or 0
    idle_gw_per_s = idle.get("server_cpu_s", 0) / idle_w if idle_w else 0
    idle_pg_per_s = idle.get("backend_cpu_s", 0) / idle_w if idle_w else 0
    gw_cpu, pg_cpu = rate.get("server_cpu_s", 0), rate.get("backend_cpu_s", 0)
    per = lambda cpu, n: cpu * 1e6 / n if n else None
    # The same windows on the ns clock (schedstat), sampled by scaleout.sh.
    ns = {}
    try:
        for l in open(os.path.join(run, "cpu_ns")):
            name, gw_ns, pg_ns, wall = l.split()
            ns[name] = (int(gw_ns) / 1e9, int(pg_ns) / 1e9, float(wall))
    except (OSError, ValueError):
        pass
    exact = all(k in ns for k in ("idle", "rate", "relisten"))
    if exact:
        x_idle_w = ns["rate"][2] - ns["idle"][2]
        x_rate_w = ns["relisten"][2] - ns["rate"][2]
        x_idle_gw, x_idle_pg = (ns["rate"][0] - ns["idle"][0]) / x_idle_w, (ns["rate"][1] - ns["idle"][1]) / x_idle_w
        x_gw, x_pg = ns["relisten"][0] - ns["rate"][0], ns["relisten"][1] - ns["rate"][1]

    # Replica 1's LISTEN connection cut: the split from its own log.
    term_wall = cut["term_wall_ns"]
    gw_log = os.path.join(run, "gw1.log")
    lost_at = [t for t in log_times(gw_log, "database connection lost") if t >= term_wall - 10**6]
    conn_at = [t for t in log_times(gw_log, "database connected") if t >= term_wall - 10**6]
    lost_wall = lost_at[0] if lost_at else None
    conn_wall = next((t for t in conn_at if lost_wall is None or t >= lost_wall), None)
    s = lambda a, b: None if a is None or b is None else (a - b) / 1e9
    last_recv = None
    if rel.get("events"):
        last_recv = cut["publish"]["first_send_ns"] + int(rel["first_send_to_last_recv_s"] * 1e9)

    m_rate = {}
    m_end = {}
    for r in range(1, R + 1):
        for k, v in read_metrics(os.path.join(run, "gw%d.rate.metrics" % r)).items():
            m_rate[k] = m_rate.get(k, 0) + v
        for k, v in read_metrics(os.path.join(run, "gw%d.end.metrics" % r)).items():
            m_end[k] = m_end.get(k, 0) + v

    out = {
        "kind": "run", "round": meta["round"], "replicas": R, "mode": meta["mode"], "streams_per_replica": S,
        "streams": R * S, "threads": meta["threads"], "rate": meta["rate"], "load": meta["load"],
        "channels": R * S if meta["mode"] == "per-user" else R,
        "established": report.get("established"), "failed": report.get("failed"),
        "dropped": report.get("dropped"), "establish_s": ready.get("establish_s"),
        "gateway_rss_before_kb": ready.get("server_rss_before_kb"),
        "gateway_rss_ready_kb": ready.get("server_rss_ready_kb"),
        "gateway_kib_per_stream": (ready.get("server_rss_ready_kb", 0) - ready.get("server_rss_before_kb", 0)) / (R * S),
        "backend_rss_before_kb": meta["backend_rss_before_kb"], "backend_rss_ready_kb": meta["backend_rss_ready_kb"],
        "sent": sent, "events": events, "rate_window_s": rate_w, "idle_window_s": idle_w,
        "p50_ms": rate.get("p50_us", 0) / 1e3, "p99_ms": rate.get("p99_us", 0) / 1e3,
        "p999_ms": rate.get("p999_us", 0) / 1e3, "max_ms": rate.get("max_us", 0) / 1e3,
        "pg_cpu_s": pg_cpu, "gw_cpu_s": gw_cpu,
        "pg_idle_cpu_per_s": idle_pg_per_s, "gw_idle_cpu_per_s": idle_gw_per_s,
        "pg_us_per_notify": per(pg_cpu, sent),
        "pg_net_us_per_notify": per(pg_cpu - idle_pg_per_s * rate_w, sent),
        "gw_us_per_event": per(gw_cpu, events),
        "gw_net_us_per_event": per(gw_cpu - idle_gw_per_s * rate_w, events),
        "gw_idle_us_per_stream_s": idle_gw_per_s * 1e6 / (R * S),
        # schedstat (ns): what the model is fitted to
        "x_pg_cpu_s": x_pg if exact else None, "x_gw_cpu_s": x_gw if exact else None,
        "x_rate_window_s": x_rate_w if exact else None,
        "x_pg_us_per_notify": per(x_pg, sent) if exact else None,
        "x_pg_net_us_per_notify": per(x_pg - x_idle_pg * x_rate_w, sent) if exact else None,
        "x_gw_us_per_event": per(x_gw, events) if exact else None,
        "x_gw_net_us_per_event": per(x_gw - x_idle_gw * x_rate_w, events) if exact else None,
        "x_gw_idle_us_per_stream_s": x_idle_gw * 1e6 / (R * S) if exact else None,
        "x_pg_idle_cpu_per_s": x_idle_pg if exact else None,
        "notifications_in": m_rate.get("notifications_total"),
        "notifications_unrouted": m_rate.get("notifications_unrouted_total"),
        "relisten_channels": S if meta["mode"] == "per-user" else 1,
        "relisten_terminated": cut.get("terminated"),
        "relisten_term_to_ready_s": s(cut.get("ready_ns"), cut["term_ns"]),
        "relisten_term_to_lost_logged_s": s(lost_wall, term_wall),
        "relisten_lost_to_connected_s": s(conn_wall, lost_wall),
        "relisten_connected_to_ready_s": s(cut.get("ready_wall_ns"), conn_wall),
        "relisten_ready_to_all_delivered_s": s(last_recv, cut.get("ready_ns")),
        "relisten_term_to_all_delivered_s": s(last_recv, cut["term_ns"]),
        "relisten_sent": cut["publish"].get("sent"), "relisten_received": rel.get("events", 0),
        "relisten_other_streams_opened": m_end.get("streams_opened_total", 0) - m_rate.get("streams_opened_total", 0),
        "lost": report.get("lost"), "duplicates": report.get("duplicates"), "misrouted": report.get("misrouted"),
        "malformed": report.get("malformed"),
    }
    problems = []
    if out["established"] != R * S or out["failed"]:
        problems.append("%s of %d streams established" % (out["established"], R * S))
    if out["dropped"]:
        problems.append("%d streams dropped" % out["dropped"])
    for k in ("lost", "duplicates", "misrouted", "malformed"):
        if out[k]:
            problems.append("%d events %s" % (out[k], k))
    if events != sent:
        problems.append("rate phase: %d of %d events" % (events, sent))
    if out["relisten_terminated"] != 1:
        problems.append("the cut terminated %s backends, not 1" % out["relisten_terminated"])
    if out["relisten_received"] != S:
        problems.append("%s of %d events after the re-LISTEN" % (out["relisten_received"], S))
    if out["relisten_other_streams_opened"]:
        problems.append("%d streams re-opened around the cut" % out["relisten_other_streams_opened"])
    out["problems"] = problems
    print(json.dumps(out))


def cmd_meta(command, load_start, commit, dirty, stale, build_dir):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    try:
        pg = subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"], capture_output=True,
                            text=True).stdout.strip()
    except OSError:
        pg = "?"
    print(json.dumps({"kind": "meta", "command": command, "load_at_start": load_start, "commit": commit,
                      "dirty": dirty.split(), "stale": stale == "1", "build_dir": build_dir, "nproc": os.cpu_count(), "cpu": cpu,
                      "mem_gib": round(mem_kb / 1048576, 1), "kernel": platform.release(), "postgres": pg,
                      "start": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))


def cmd_end(_results):
    print(json.dumps({"kind": "end", "end": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "load_at_end": " ".join(open("/proc/loadavg").read().split()[:3])}))


def cmd_brief(line):
    r = json.loads(line)
    f = lambda v, fmt: "-" if v is None else format(v, fmt)
    print("p50/p99/p99.9 %s/%s/%s ms, PostgreSQL %s us/notify, gateways %s us/event, re-LISTEN %s s, "
          "lost/dup/misrouted %s/%s/%s%s" % (
              f(r["p50_ms"], ".3f"), f(r["p99_ms"], ".3f"), f(r["p999_ms"], ".3f"),
              f(r.get("x_pg_net_us_per_notify", r["pg_net_us_per_notify"]), ".1f"),
              f(r.get("x_gw_net_us_per_event", r["gw_net_us_per_event"]), ".1f"),
              f(r["relisten_term_to_ready_s"], ".3f"), r["lost"], r["duplicates"], r["misrouted"],
              "".join("; PROBLEM: " + p for p in r["problems"])))


# ---- the report ----------------------------------------------------------------------

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def spread(vals, fmt):
    """'median (min-max)' over the rounds."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = format(statistics.median(vals), fmt)
    if len(vals) == 1:
        return m
    return "%s (%s–%s)" % (m, format(min(vals), fmt), format(max(vals), fmt))


def lstsq(rows, ys, weights):
    """Weighted least squares, no intercept: ys ~ rows . x. Returns x (None if singular)."""
    n = len(rows[0])
    a = [[0.0] * n for _ in range(n)]
    b = [0.0] * n
    for row, y, w in zip(rows, ys, weights):
        for i in range(n):
            b[i] += w * row[i] * y
            for j in range(n):
                a[i][j] += w * row[i] * row[j]
    # Gaussian elimination with partial pivoting (n is 2).
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(a[k][i]))
        if abs(a[p][i]) < 1e-300:
            return None
        a[i], a[p], b[i], b[p] = a[p], a[i], b[p], b[i]
        for k in range(i + 1, n):
            f = a[k][i] / a[i][i]
            for j in range(i, n):
                a[k][j] -= f * a[i][j]
            b[k] -= f * b[i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (b[i] - sum(a[i][j] * x[j] for j in range(i + 1, n))) / a[i][i]
    return x


class Model:
    """The fitted constants (microseconds of CPU, KiB) and what they predict."""

    def __init__(self, groups, pfx):
        """pfx "x_": the schedstat (ns) figures; "": utime + stime."""
        pts = [(g["replicas"], g["channels"], med(g[pfx + "pg_net_us_per_notify"])) for g in groups]
        pts = [p for p in pts if p[2] is not None]
        fit = None
        if len({p[0] for p in pts}) >= 1 and len({p[1] for p in pts}) >= 2:
            fit = lstsq([(p[0], p[1]) for p in pts], [p[2] for p in pts],
                        [1.0 / max(p[2], 0.1) ** 2 for p in pts])
        self.wake, self.compare = fit if fit else (None, None)
        self.pg_points = pts

        pu = [med(g[pfx + "gw_net_us_per_event"]) for g in groups if g["mode"] == "per-user"]
        self.deliver_pu = med(pu)
        sh = [(g["replicas"], med(g[pfx + "gw_net_us_per_event"])) for g in groups if g["mode"] == "shared"]
        sh = [p for p in sh if p[1] is not None]
        if len({p[0] for p in sh}) >= 2:
            self.deliver_sh, self.discard = lstsq([(1.0, r - 1.0) for r, _ in sh], [y for _, y in sh],
                                                  [1.0] * len(sh))
        else:
            self.deliver_sh, self.discard = (sh[0][1] if sh else None), None

        every = [r for g in groups for r in g["runs"]]
        self.hb_us_per_stream_s = med([r[pfx + "gw_idle_us_per_stream_s"] for r in every])
        self.kib_per_stream = med([r["gateway_kib_per_stream"] for r in every])
        self.gw_base_mib = med([r["gateway_rss_before_kb"] / r["replicas"] / 1024 for r in every
                                if r.get("gateway_rss_before_kb")])
        # What the listen list adds to a backend: per-user growth less shared
        # growth (the queue pages and caches every listening backend touches).
        grow = lambda mode: med([(r["backend_rss_ready_kb"] - r["backend_rss_before_kb"]) / r["replicas"]
                                 for r in every if r["mode"] == mode])
        pu_g, sh_g = grow("per-user"), grow("shared")
        S = every[0]["streams_per_replica"]
        self.backend_kib_per_channel = None if pu_g is None else \
            max(0.0, pu_g - (sh_g or 0.0)) / max(S - (1 if sh_g is not None else 0), 1)

    def pg_us(self, replicas, channels):
        if self.wake is None:
            return None
        return replicas * self.wake + channels * self.compare

    def gw_us(self, replicas, mode):
        if mode == "per-user":
            return self.deliver_pu
        if self.deliver_sh is None:
            return None
        return self.deliver_sh + (replicas - 1) * (self.discard or 0.0)

    def crossover(self, replicas):
        """Users per replica below which per-user mode costs less CPU in all
        (PostgreSQL + gateways) per notification than shared mode."""
        need = (self.compare, self.deliver_pu, self.deliver_sh, self.discard)
        if any(v is None for v in need) or self.compare <= 0:
            return None
        R = replicas
        return (self.deliver_sh - self.deliver_pu + (R - 1) * self.discard + R * self.compare) / (R * self.compare)


def cmd_table(argv):
    ap = argparse.ArgumentParser(prog="scaleout_report.py table")
    ap.add_argument("results")
    ap.add_argument("--markdown")
    ap.add_argument("--users-per-replica", type=int, default=19000,
                    help="replica size for the sizing table's model rows (default 19000: the open-file limit here)")
    ap.add_argument("--rate", type=float, help="NOTIFY/s for the sizing table (default: the measured rate)")
    ap.add_argument("--users", default="10000,20000,50000,100000,200000,500000,1000000",
                    help="connected users, the sizing table's model rows")
    a = ap.parse_args(argv)
    lines = [json.loads(l) for l in open(a.results) if l.strip()]
    meta = next((l for l in lines if l.get("kind") == "meta"), {})
    end = next((l for l in lines if l.get("kind") == "end"), {})
    runs = [l for l in lines if l.get("kind") == "run"]
    if not runs:
        print("no runs in " + a.results)
        return 1
    keys = sorted({(r["replicas"], r["mode"]) for r in runs}, key=lambda k: (k[1] != "per-user", k[0]))
    groups = []
    for R, mode in keys:
        rs = [r for r in runs if r["replicas"] == R and r["mode"] == mode]
        g = {"replicas": R, "mode": mode, "runs": rs, "channels": rs[0]["channels"]}
        for k in rs[0]:
            if isinstance(rs[0][k], (int, float)) or rs[0][k] is None:
                g[k] = [r.get(k) for r in rs]
        g["channels"] = rs[0]["channels"]
        g["replicas"] = R
        groups.append(g)
    rounds = max(r["round"] for r in runs)
    # Fit to the ns clock when every run has it (short phases need it).
    pfx = "x_" if all(r.get("x_pg_net_us_per_notify") is not None for r in runs) else ""
    S = runs[0]["streams_per_replica"]
    rate = runs[0]["rate"]
    out = []
    P = out.append

    P("Scale-out: %s streams per replica (one per user), replicas %s, per-user and shared channel mode, "
      "%g NOTIFY/s to random users; %d round(s), interleaved." % (
          format(S, ","), ", ".join(str(R) for R in sorted({k[0] for k in keys})), rate, rounds))
    P("Each cell: the median of the rounds, (min–max) when there are several; counts are sums.")
    P("")
    P("Run: %s – %s, %s" % (meta.get("start", "?"), end.get("end", "?"), meta.get("command", "?")))
    P("Gateway: commit %s%s, %s; each replica --threads %s --heartbeat 15." % (
        meta.get("commit", "?"),
        (" + uncommitted changes in " + ", ".join(meta["dirty"]) if meta.get("dirty") else "")
        + (" (but the binary is older than the last commit to its sources: not built from it)"
           if meta.get("stale") else ""),
        meta.get("build_dir", "?"), runs[0]["threads"]))
    P("Machine: %s × %s, %s GiB RAM, Linux %s; %s. Load %s at start, %s at end." % (
        meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("mem_gib", "?"), meta.get("kernel", "?"),
        meta.get("postgres", "?"), meta.get("load_at_start", "?"), end.get("load_at_end", "?")))
    P("")

    def col(g):
        return "%s R=%d" % (g["mode"], g["replicas"])
    P("| metric | " + " | ".join(col(g) for g in groups) + " |")
    P("|---|" + "---:|" * len(groups))

    def row(title, key, fmt, scale=1.0):
        cells = [spread([None if v is None else v * scale for v in g[key]], fmt) for g in groups]
        P("| %s | %s |" % (title, " | ".join(cells)))

    def sum_row(title, f):
        P("| %s | %s |" % (title, " | ".join(f(g) for g in groups)))

    sum_row("streams held / expected", lambda g: "%d / %d" % (sum(g["established"]), sum(g["streams"])))
    row("open every stream (all replicas at once), s", "establish_s", ".2f")
    row("gateway RSS per idle stream, KiB", "gateway_kib_per_stream", ".2f")
    row("notify → receive p50, ms", "p50_ms", ".3f")
    row("notify → receive p99, ms", "p99_ms", ".3f")
    row("notify → receive p99.9, ms", "p999_ms", ".3f")
    row("notify → receive max, ms", "max_ms", ".3f")
    sum_row("rate phase: events received / sent", lambda g: "%d / %d" % (sum(g["events"]), sum(g["sent"])))
    for who, key, what in (("PostgreSQL", "pg_%s_per_notify", "every listening backend, summed, µs per NOTIFY"),
                           ("gateways", "gw_%s_per_event", "every replica, summed, µs per delivered event")):
        row("**%s: CPU of %s**" % (who, what), pfx + key % "net_us", ".2f")
        row("… before subtracting their idle CPU", pfx + key % "us", ".2f")
        if pfx:
            row("… from utime + stime (10 ms ticks), idle subtracted", key % "net_us", ".1f")
    row("gateways idle (heartbeats, ticks), µs CPU per stream per s (fixed timers included)",
        pfx + "gw_idle_us_per_stream_s", ".3f")
    sum_row("**all CPU per NOTIFY (PostgreSQL + gateways), µs**", lambda g: spread(
        [None if p is None or q is None else p + q
         for p, q in zip(g[pfx + "pg_net_us_per_notify"], g[pfx + "gw_net_us_per_event"])], ".1f"))
    sum_row("NOTIFYs received by the gateways, per NOTIFY sent", lambda g: spread(
        [None if n is None or not s else n / s for n, s in zip(g["notifications_in"], g["sent"])], ".2f"))
    row("re-LISTEN, replica 1: cut → /readyz 200, s", "relisten_term_to_ready_s", ".3f")
    row("… reconnected → every LISTEN confirmed (/readyz 200), s", "relisten_connected_to_ready_s", ".3f")
    row("… loss → reconnected (backoff + connect), s", "relisten_lost_to_connected_s", ".3f")
    row("… /readyz 200 → one NOTIFY per user of replica 1 at each of its streams, s",
        "relisten_ready_to_all_delivered_s", ".3f")
    sum_row("streams dropped (all replicas, whole run)", lambda g: str(sum(v or 0 for v in g["dropped"])))
    sum_row("events lost / duplicated / misrouted", lambda g: "%d / %d / %d" % (
        sum(v or 0 for v in g["lost"]), sum(v or 0 for v in g["duplicates"]), sum(v or 0 for v in g["misrouted"])))
    P("")
    P("CPU is summed over the R gateway processes (every thread) and over the R PostgreSQL backends with "
      "application_name sse-gateway, over the rate phase's window, "
      + ("as the run time in ns of /proc/PID/task/*/schedstat (and, below each, utime + stime of /proc/PID/stat, "
         "10 ms ticks)" if pfx else "as utime + stime of /proc/PID/stat (10 ms ticks)")
      + "; the same configuration's idle phase, per second, is subtracted (the bold rows). Latency is CLOCK_MONOTONIC at receipt minus the "
      "publisher's before the NOTIFY, across every stream of every replica. The re-LISTEN cuts replica 1's LISTEN "
      "connection (pg_terminate_backend) while the other replicas keep theirs and their streams.")
    P("")

    m = Model(groups, pfx)
    f = lambda v, fmt: "-" if v is None else format(v, fmt)
    P("### The cost model, fitted")
    P("")
    P("Fitted to the medians above (%s, idle subtracted); PostgreSQL by least squares on the relative error, "
      "the shared-mode gateway line by ordinary least squares." % ("schedstat ns" if pfx else "utime + stime"))
    P("")
    P("```")
    P("PostgreSQL CPU per NOTIFY = replicas × wake-up + channels listened (all replicas) × compare")
    P("  wake-up = %s µs    compare = %s ns per listened channel" % (
        f(m.wake, ".2f"), f(None if m.compare is None else m.compare * 1000, ".3f")))
    P("gateway CPU per NOTIFY    = deliver                                  (per-user mode)")
    P("                          = deliver + (replicas − 1) × discard       (shared mode)")
    P("  deliver = %s µs per-user, %s µs shared    discard = %s µs" % (
        f(m.deliver_pu, ".1f"), f(m.deliver_sh, ".1f"), f(m.discard, ".2f")))
    P("holding a stream: %s µs CPU per s (heartbeats), %s KiB gateway RSS; a replica's base RSS %s MiB;"
      % (f(m.hb_us_per_stream_s, ".3f"), f(m.kib_per_stream, ".2f"), f(m.gw_base_mib, ".1f")))
    P("a listened channel: %s KiB of its backend's RSS" % f(m.backend_kib_per_channel, ".3f"))
    P("```")
    P("")
    P("| configuration | PostgreSQL µs/NOTIFY measured | model | gateways µs/event measured | model |")
    P("|---|---:|---:|---:|---:|")
    for g in groups:
        P("| %s | %s | %s | %s | %s |" % (col(g), f(med(g[pfx + "pg_net_us_per_notify"]), ".2f"),
                                       f(m.pg_us(g["replicas"], g["channels"]), ".2f"),
                                       f(med(g[pfx + "gw_net_us_per_event"]), ".1f"),
                                       f(m.gw_us(g["replicas"], g["mode"]), ".1f")))
    P("")
    if m.wake is not None and m.wake < 0 or m.compare is not None and m.compare < 0:
        P("Note: a negative constant means the differences it stands for are below what this run resolves "
          "(CPU noise on shared cores at this size): run longer phases or more streams per replica.")
        P("")

    P("### Per-user or shared: the crossover")
    P("")
    P("Measured, all CPU per NOTIFY (PostgreSQL + gateways, µs; medians):")
    P("")
    P("| replicas | per-user | shared | cheaper |")
    P("|---:|---:|---:|---|")
    for R in sorted({g["replicas"] for g in groups}):
        tot = {}
        for g in groups:
            if g["replicas"] == R:
                tot[g["mode"]] = med([None if p is None or q is None else p + q for p, q in
                                      zip(g[pfx + "pg_net_us_per_notify"], g[pfx + "gw_net_us_per_event"])])
        pu, sh = tot.get("per-user"), tot.get("shared")
        cheaper = "-" if pu is None or sh is None else ("per-user" if pu < sh else "shared")
        P("| %d | %s | %s | %s |" % (R, f(pu, ".1f"), f(sh, ".1f"), cheaper))
    P("")
    P("Model: PostgreSQL alone always spends less in shared mode (one channel per backend to compare instead "
      "of the replica's users). Counting the gateways too, per-user mode is the cheaper one while a replica "
      "holds fewer users than:")
    P("")
    P("| replicas | " + " | ".join(str(R) for R in (1, 2, 4, 10, 50)) + " |")
    P("|---|" + "---:|" * 5)
    def cross(R):
        x = m.crossover(R)
        return "-" if x is None else ("none: shared is cheaper" if x < 1 else format(x, ",.0f"))
    P("| users per replica at the crossover (model) | " + " | ".join(cross(R) for R in (1, 2, 4, 10, 50)) + " |")
    P("")
    P("(PostgreSQL is the one part that does not scale out; gateway CPU does. Where PostgreSQL's CPU is the "
      "scarce one, shared mode wins at any size.)")
    P("")

    # ---- sizing ----
    size_rate = a.rate if a.rate is not None else rate
    P("### Sizing at %g NOTIFY/s" % size_rate)
    P("")
    P("Model rows use %s users per replica, one stream per user, and the constants above; **measured** rows "
      "are the configurations of this run (medians; at %g NOTIFY/s%s)." % (
          format(a.users_per_replica, ","), rate,
          "" if size_rate == rate else ", so shown only when the sizing rate is the measured one"))
    P("PostgreSQL connections: 3 per replica (the LISTEN connection + the default `--snapshot-pool` of 2). "
      "PostgreSQL memory here is only what the listen lists add to the listening backends.")
    P("")
    user_rows = sorted({int(u) for u in a.users.split(",") if u.strip()})
    for mode in ("per-user", "shared"):
        mgroups = {g["replicas"]: g for g in groups if g["mode"] == mode}
        P("%s channels:" % mode)
        P("")
        P("| users | replicas | source | PostgreSQL CPU, listening backends, cores | busiest backend, % of a core "
          "| gateways CPU, cores | gateways RSS, GiB | listen lists in PostgreSQL, MiB | PostgreSQL connections |")
        P("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        rows = [(u, max(1, math.ceil(u / a.users_per_replica)), a.users_per_replica, None) for u in user_rows]
        if size_rate == rate:
            rows += [(g["replicas"] * S, g["replicas"], S, g) for g in mgroups.values()]
        rows.sort(key=lambda x: (x[0], x[3] is None))
        for users, R, per_rep, g in rows:
            C = users if mode == "per-user" else R
            if g is not None:
                pg = med([r[pfx + "pg_cpu_s"] / r[pfx + "rate_window_s"] for r in g["runs"]])
                busiest = None if pg is None else pg / R * 100
                gw = med([r[pfx + "gw_cpu_s"] / r[pfx + "rate_window_s"] for r in g["runs"]])
                rss = med([r["gateway_rss_ready_kb"] / 1048576 for r in g["runs"]])
                lists = med([(r["backend_rss_ready_kb"] - r["backend_rss_before_kb"]) / 1024 for r in g["runs"]])
                src = "**measured**"
            else:
                pgu = m.pg_us(R, C)
                pg = None if pgu is None else size_rate * pgu / 1e6
                busiest = None if m.wake is None else size_rate * (m.wake + (C / R) * m.compare) / 1e4
                gwu = m.gw_us(R, mode)
                gw = None if gwu is None or m.hb_us_per_stream_s is None else \
                    (size_rate * gwu + users * m.hb_us_per_stream_s) / 1e6
                rss = None if m.kib_per_stream is None else \
                    (users * m.kib_per_stream + R * (m.gw_base_mib or 0) * 1024) / 1048576
                lists = None if m.backend_kib_per_channel is None else C * m.backend_kib_per_channel / 1024
                src = "model"
            P("| %s | %d | %s | %s | %s | %s | %s | %s | %d |" % (
                format(users, ","), R, src, f(pg, ".3f"), f(busiest, ".1f"), f(gw, ".2f"), f(rss, ".2f"),
                f(lists, ".1f"), 3 * R))
        P("")
    P("A backend's own CPU cannot exceed one core: per-user mode stops keeping up where the busiest backend "
      "nears 100 % (its listen list is that replica's users). The costs are those of this run's rate, one "
      "wake-up per NOTIFY; in a burst a backend reads many notifications per wake-up (see compare.sh's flat-out "
      "phase in BENCHMARKS.md). Model rows extrapolate linearly in replicas and channels; nothing above the "
      "measured sizes has been run.")

    bad = [(col(g), r["round"], p) for g in groups for r in g["runs"] for p in r["problems"]]
    if bad:
        P("")
    for c, rnd, p in bad:
        P("PROBLEM (%s, round %d): %s" % (c, rnd, p))
    text = "\n".join(out)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as fh:
            fh.write(text + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    commands = {"summary": cmd_summary, "meta": cmd_meta, "end": cmd_end, "brief": cmd_brief}
    name, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if name == "table":
        sys.exit(cmd_table(args))
    if name not in commands:
        sys.exit(__doc__.split("\n\n")[1] + "\n(the first argument is the command)")
    rc = commands[name](*args)
    sys.exit(rc or 0)
