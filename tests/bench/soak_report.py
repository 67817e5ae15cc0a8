#!/usr/bin/env python3
"""soak.sh's helper: reads the gateway (/metrics, /proc), samples a timeline, and
sums a run up into a table with its checks (exit 1 when one fails).

  soak_report.py metric PORT NAME            one /metrics value (NAME may carry labels)
  soak_report.py metrics PORT                every sse_gateway_ sample, as one JSON object
  soak_report.py sub A B                     A - B
  soak_report.py config CMD STREAMS ...      the run's settings, as a JSON line
  soak_report.py sample PORT PID OUT SECS    every SECS: RSS, fds, streams ... (until killed)
  soak_report.py measure LABEL PORT PID      RSS, fds and the stream gauges now, as a JSON line
  soak_report.py summary RESULTS GATEWAY_LOG TIMELINE [--json FILE]
"""
import json
import os
import signal
import sys
import time
import urllib.request
from collections import Counter

# Reasons a stream may end for without the gateway deciding it: the client left,
# or its connection broke under it (a reset reads as read_error / write_error).
CLIENT_REASONS = {"client_closed", "read_error", "write_error"}


def metrics(port):
    out, sums = {}, {}
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if not line.startswith("sse_gateway_") or " " not in line:
                continue
            name, value = line.rsplit(" ", 1)
            try:
                v = float(value)
            except ValueError:
                continue
            name = name[len("sse_gateway_"):]
            out[name] = v
            # A labelled family (streams by route, closes by reason) also as its sum.
            if "{" in name and "le=" not in name:
                family = name.split("{", 1)[0]
                sums[family] = sums.get(family, 0) + v
    for family, v in sums.items():
        out.setdefault(family, v)
    return out


def proc(pid):
    rss = 0
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir("/proc/%s/fd" % pid))
    return rss, fds


def cmd_metric(port, name):
    print(format(metrics(port).get(name, 0), "g"))


def cmd_metrics(port):
    print(json.dumps(metrics(port), sort_keys=True))


def cmd_sub(a, b):
    print(format(float(a) - float(b), ".3f").rstrip("0").rstrip("."))


def cmd_config(command, streams, duration_min, warmup_s, outages, churn_rate, churn_hold, event_rate, slow,
               tolerance_pct, threads, load):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
    print(json.dumps({
        "kind": "config", "command": command, "streams": int(streams), "duration_min": float(duration_min),
        "warmup_s": float(warmup_s), "outages": int(outages), "churn_rate": float(churn_rate),
        "churn_hold": churn_hold, "event_rate": float(event_rate), "slow": int(slow),
        "tolerance_pct": float(tolerance_pct), "gateway_threads": int(threads), "load_start": load,
        "cores": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 2**20, 1), "kernel": os.uname().release,
        "start": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "t": time.time()}))


def cmd_sample(port, pid, out, secs):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out, "a") as f:
        while True:
            try:
                rss, fds = proc(pid)
                m = metrics(port)
            except (OSError, ValueError):
                time.sleep(float(secs))
                continue
            f.write(json.dumps({"t": time.time(), "rss_kb": rss, "fds": fds, "streams": m.get("streams"),
                                "connections": m.get("connections"), "channels": m.get("channels_listened"),
                                "pg_connected": m.get("pg_connected")}) + "\n")
            f.flush()
            time.sleep(float(secs))


def cmd_measure(label, port, pid):
    rss, fds = proc(pid)
    m = metrics(port)
    as_int = lambda v: None if v is None else int(v)
    print(json.dumps({"kind": "measure", "label": label, "t": time.time(), "rss_kb": rss, "fds": fds,
                      "streams": as_int(m.get("streams")), "connections": as_int(m.get("connections")),
                      "channels": as_int(m.get("channels_listened"))}))


def log_closes(path):
    """The gateway's "stream close" lines, by (reason, was_live); its warn/error lines;
    and any AddressSanitizer, LeakSanitizer or UBSan report (not JSON)."""
    closes, noisy, sanitizer = Counter(), Counter(), []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                if "Sanitizer" in line or "runtime error:" in line:
                    sanitizer.append(line.strip()[:200])
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("msg") == "stream close":
                closes[(j.get("reason"), bool(j.get("was_live")))] += 1
            elif j.get("level") in ("warn", "error"):
                noisy[(j.get("level"), j.get("msg"))] += 1
    return closes, noisy, sanitizer


def pct(a, b):
    return None if not b else 100.0 * (a - b) / b


def cmd_summary(results, gw_log, timeline, *rest):
    json_out = rest[1] if len(rest) == 2 and rest[0] == "--json" else None
    recs = [json.loads(l) for l in open(results) if l.strip()]
    by = lambda kind: [r for r in recs if r.get("kind") == kind]
    cfg = by("config")[0]
    measures = {r["label"]: r for r in by("measure")}
    warm, end = measures.get("warmup"), measures.get("end")
    syncs, outages, slows = by("sync"), by("outage"), by("slow")
    load = (by("load_report") or [{}])[0].get("report", {})
    churn = (by("churn_final") or [{}])[0].get("stats", {})
    m_end = (by("metrics_end") or [{}])[0].get("metrics", {})
    pubs = by("publish")
    tl = [json.loads(l) for l in open(timeline) if l.strip()] if os.path.exists(timeline) else []
    closes, noisy, sanitizer = log_closes(gw_log)

    checks = []  # (ok, what)

    def check(ok, what):
        checks.append((bool(ok), what))

    wall_s = (end or {}).get("t", time.time()) - cfg["t"]
    tol = cfg["tolerance_pct"]
    if warm and end:
        d_rss, d_fds = pct(end["rss_kb"], warm["rss_kb"]), pct(end["fds"], warm["fds"])
        check(abs(d_rss) <= tol, "RSS at the end within %g%% of the warm-up's (%+.1f%%)" % (tol, d_rss))
        check(abs(d_fds) <= tol, "open fds at the end within %g%% of the warm-up's (%+.1f%%)" % (tol, d_fds))
        check(end["streams"] == warm["streams"] == cfg["streams"],
              "the same streams open at both measurements (%s, %s)" % (warm["streams"], end["streams"]))
    else:
        check(False, "both measurements taken")
    # Nothing lost.
    bad_syncs = [s["label"] for s in syncs if not s["reply"].get("ok")]
    outage_syncs = [s for s in syncs if s["label"].startswith("outage-")]
    check(not bad_syncs, "every held stream had its user's last status at all %d syncs%s" %
          (len(syncs), " (not at: %s)" % ", ".join(bad_syncs) if bad_syncs else ""))
    check(len(outage_syncs) == len(outages) == cfg["outages"] + 1 and all(s["reply"].get("ok") for s in outage_syncs),
          "after each of the %d outages (one in the warm-up), every user's last status arrived" % len(outages))
    check(all(o.get("cut_to_ready_s") is not None for o in outages), "/readyz 200 again after every outage")
    phases = load.get("phases", [])
    lost_up = sum(p["lost"] for p in phases if not p["name"].startswith("outage-"))
    lost_out = sum(p["lost"] for p in phases if p["name"].startswith("outage-"))
    check(lost_up == 0, "no event lost while the database was up (%d)" % lost_up)
    check(load.get("misrouted", 1) == 0 and churn.get("misrouted", 1) == 0,
          "no event misrouted (held %s, churn %s)" % (load.get("misrouted"), churn.get("misrouted")))
    check(load.get("malformed", 1) == 0, "no malformed event (%s)" % load.get("malformed"))
    check(all(p.get("rc") == 0 for p in pubs), "every publisher run succeeded")
    # Streams: only the slow readers closed by the gateway.
    check(load.get("established") == cfg["streams"] and load.get("dropped", 1) == 0,
          "all %d held streams stayed open (dropped: %s)" % (cfg["streams"], load.get("dropped")))
    check(churn.get("server_closed", 1) == 0, "no churn stream closed by the gateway (%s)" % churn.get("server_closed"))
    check(churn.get("failed", 1) == 0, "no churn connection failed (%s%s)" %
          (churn.get("failed"), ", first: " + churn["first_error"] if churn.get("first_error") else ""))
    slow_asked = sum(s["asked"] for s in slows)
    slow_closed = m_end.get('stream_closes_total{reason="slow_consumer"}', 0)
    check(slow_closed == slow_asked and churn.get("slow_closed_by_server") == slow_asked,
          "every slow reader closed as a slow consumer, and nothing else (%d asked, gateway %d, seen %s)" %
          (slow_asked, slow_closed, churn.get("slow_closed_by_server")))
    gw_closes = {k: v for k, v in closes.items() if k[1] and k[0] not in CLIENT_REASONS | {"slow_consumer"}}
    check(not gw_closes, "no live stream closed by the gateway for another reason (log: %s)" %
          (", ".join("%s=%d" % (k[0], v) for k, v in gw_closes.items()) or "none"))
    check(m_end.get("pg_reconnects_total", 0) >= len(outages),
          "the LISTEN connection came back after each outage (%g reconnects)" % m_end.get("pg_reconnects_total", 0))

    code = (by("exit") or [{}])[0].get("code")
    check(code == 0, "SIGTERM after the clients left: the gateway exited with %s" % code)
    check(not sanitizer, "no sanitizer report in the gateway's output (%s)" % ("; ".join(sanitizer[:3]) or "none"))

    # ---- the table ----
    rows = []
    row = lambda k, v: rows.append((k, v))
    row("command", "`%s`" % cfg["command"])
    row("machine", "%d cores, %s, %.0f GiB; kernel %s; load %s at start, %s at end" %
        (cfg["cores"], cfg["cpu"], cfg["mem_gib"], cfg["kernel"], cfg["load_start"],
         " ".join(open("/proc/loadavg").read().split()[:3])))
    row("started", cfg["start"])
    row("wall time (start to last measurement)", "%.1f min" % (wall_s / 60))
    row("held streams", "%s of %d established in %.1f s, %s dropped" %
        (load.get("established"), cfg["streams"], load.get("establish_s", 0), load.get("dropped")))
    peak = max((t.get("streams") or 0 for t in tl), default=0)
    row("streams open at the gateway", "peak %d (held + churn + slow)" % peak)
    attempts = churn.get("attempts", 0)
    row("churn", "%d streams opened (%.0f/s over the run, target %g/s), %d went live, %d left, held %s s; "
        "connect to headers p50 %.1f ms, p99 %.1f ms, max %.0f ms" %
        (attempts, attempts / wall_s if wall_s else 0, cfg["churn_rate"], churn.get("went_live", 0),
         churn.get("left", 0), cfg["churn_hold"], churn.get("to_live_p50_ms", 0), churn.get("to_live_p99_ms", 0),
         churn.get("to_live_max_ms", 0)))
    row("churn refusals", "%s %s; %s left before any event; %s slipped (rate not kept)" %
        (churn.get("refused"), json.dumps(churn.get("refused_by_status", {})), churn.get("left_without_event"),
         churn.get("slipped")))
    sent = sum((p.get("out") or {}).get("sent", 0) for p in pubs)
    row("status updates (UPDATE -> trigger -> NOTIFY)", "%d at %g/s; held streams received %s events, churn streams %s" %
        (sent, cfg["event_rate"], load.get("events"), churn.get("events")))
    # Each held stream's first event is its snapshot ("<id>:0:0" or a later status it
    # then already had): a duplicate by sequence. The rest came from the catch-ups.
    resent = (load.get("duplicates") or 0) - (load.get("established") or 0)
    row("events lost / duplicated / misrouted (held)", "%d while the database was up, %d in outage windows "
        "(superseded: the catch-up brings the last status) / %s (one first snapshot per stream, %d statuses "
        "sent again by the catch-ups) / %s" % (lost_up, lost_out, load.get("duplicates"), resent,
                                              load.get("misrouted")))
    row("snapshots", "%g on subscribe or catch-up; %g channels caught up after the outages" %
        (m_end.get("snapshots_total", 0), m_end.get("catch_ups_total", 0)))
    for o in outages:
        s = next((x for x in syncs if x["label"] == "outage-%s" % o["k"]), {"reply": {}})
        row("outage %s: %s" % (o["k"], o["type"]), "/readyz 200 after %s s; every last status at every held stream %s "
            "(%s missing, waited %.1f s); %g reconnects" %
            (o.get("cut_to_ready_s"), "yes" if s["reply"].get("ok") else "NO", s["reply"].get("missing"),
             s["reply"].get("waited_s", 0), o.get("pg_reconnects", 0)))
    row("slow readers", "%d in %d rounds; closed as slow_consumer: %g; seen closed by the client: %s" %
        (slow_asked, len(slows), slow_closed, churn.get("slow_closed_by_server")))
    if warm and end:
        row("gateway RSS", "%.1f MiB after warm-up, %.1f MiB at the end (%+.1f%%)" %
            (warm["rss_kb"] / 1024, end["rss_kb"] / 1024, pct(end["rss_kb"], warm["rss_kb"])))
        row("gateway open fds", "%d after warm-up, %d at the end (%+.1f%%); %s streams open at both" %
            (warm["fds"], end["fds"], pct(end["fds"], warm["fds"]), end["streams"]))
    if tl:
        row("timeline (every 10 s)", "RSS %.1f-%.1f MiB, fds %d-%d, %d samples" %
            (min(t["rss_kb"] for t in tl) / 1024, max(t["rss_kb"] for t in tl) / 1024,
             min(t["fds"] for t in tl), max(t["fds"] for t in tl), len(tl)))
    reasons = sorted({k for k in m_end if k.startswith("stream_closes_total{")})
    row("closes by reason (metrics)", ", ".join("%s %g" % (k.split('"')[1], m_end[k]) for k in reasons if m_end[k]))
    row("closes by reason (log, live / before live)", ", ".join(
        "%s %d / %d" % (r, closes.get((r, True), 0), closes.get((r, False), 0))
        for r in sorted({k[0] for k in closes})))
    row("warn/error log lines", ", ".join("%s %s: %d" % (k[0], k[1], v) for k, v in noisy.most_common(8)) or "none")

    out = ["| soak | |", "|---|---|"] + ["| %s | %s |" % (k, v) for k, v in rows]
    out += ["", "| check | |", "|---|---|"] + ["| %s | %s |" % (w, "ok" if ok else "**FAILED**") for ok, w in checks]
    print("\n".join(out))
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"rows": rows, "checks": checks, "records": recs, "log_closes": {"%s/%s" % k: v for k, v in
                                                                                      closes.items()}}, f)
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    name, args = sys.argv[1], sys.argv[2:]
    fn = {"metric": cmd_metric, "metrics": cmd_metrics, "sub": cmd_sub, "config": cmd_config, "sample": cmd_sample,
          "measure": cmd_measure, "summary": cmd_summary}[name]
    sys.exit(fn(*args) or 0)
