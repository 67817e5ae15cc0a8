#!/usr/bin/python3
"""Formats compare.sh's results.jsonl as one Markdown table plus the issue-6 targets.

Input lines: {"target": label, "round": n, "kind": ready|report|publish_<mode>|sync|meta,
"data": {...}}. With several rounds, each figure is the median over the rounds and
each "received / expected" or "lost / misrouted / duplicates" cell is the sum.
The first gateway column is "the gateway" for the ratio columns. With the relay
(sse-relay), each per-user gateway's latency is also judged against it round by
round (issue 19 section 8), from the per-round figures, not the medians.
The Turbo pair (gateway-turbo-tN, nchan-turbo: streams dealt to rooms in turn) gets
its own comparison below the table and none of the per-user targets' verdicts."""
import json
import statistics
import sys


def load(path):
    """-> {label: [round dicts in round order]}, meta"""
    rounds, meta = {}, {}
    for line in open(path):
        rec = json.loads(line)
        if rec["kind"] == "meta":
            meta = rec["data"]
            continue
        t = rounds.setdefault(rec["target"], {}).setdefault(rec.get("round", 0), {"syncs": []})
        if rec["kind"] == "sync":
            t["syncs"].append(rec["data"])
        else:
            t[rec["kind"]] = rec["data"]
    return {label: [r[k] for k in sorted(r)] for label, r in rounds.items()}, meta


def combine(per_round):
    """Median of numbers, element-wise sum of "a / b [/ c]" strings, across rounds."""
    out = {}
    for key in per_round[0]:
        vals = [r.get(key) for r in per_round if r.get(key) is not None]
        if not vals:
            out[key] = None
        elif all(isinstance(v, (int, float)) for v in vals):
            out[key] = statistics.median(vals)
        elif all(isinstance(v, str) for v in vals):
            try:
                parts = [[int(x) for x in v.split(" / ")] for v in vals]
                out[key] = " / ".join(str(sum(col)) for col in zip(*parts))
            except ValueError:
                out[key] = vals[0]
        else:
            out[key] = vals[0]
    return out


def phase(t, name):
    for p in t.get("report", {}).get("phases", []):
        if p["name"] == name:
            return p
    return {}


def is_turbo(label):
    return label.endswith("-turbo") or "-turbo-t" in label


def metrics(label, t, per_user, fanout_count):
    """per_user: streams per published event; for the Turbo targets streams / rooms,
    which need not be whole: their "expected" counts are then shown as ≈."""
    ready, rep = t.get("ready", {}), t.get("report", {})
    fanout = 1 if label == "floor" else per_user
    exp = "%d / %d" if fanout == int(fanout) else "%d / ≈%d"
    m = {}
    est = rep.get("established", ready.get("established", 0))
    m["established"] = "%d / %d" % (est, rep.get("streams", ready.get("streams", 0)))
    m["establish_s"] = rep.get("establish_s")
    idle = phase(t, "idle")
    if est and "server_rss_end_kb" in idle and "server_rss_before_kb" in ready:
        m["rss_kib"] = (idle["server_rss_end_kb"] - ready["server_rss_before_kb"]) / est
        m["rss_mib"] = idle["server_rss_end_kb"] / 1024
    r = phase(t, "rate")
    for q in ("p50", "p90", "p99", "p999", "max"):
        if q + "_us" in r:
            m["rate_" + q] = r[q + "_us"] / 1000
    pub = t.get("publish_rate", {})
    m["rate_events"] = exp % (r.get("events", 0), pub.get("sent", 0) * fanout)
    m["rate_cpu"] = r.get("cpu_us_per_event")
    b = phase(t, "broadcast")
    m["bcast_s"] = b.get("first_send_to_last_recv_s")
    m["bcast_events"] = exp % (b.get("events", 0), t.get("publish_broadcast", {}).get("sent", 0) * fanout)
    bc = phase(t, "broadcast_channel")
    if bc:
        m["bchan_s"] = bc.get("first_send_to_last_recv_s")
        m["bchan_events"] = "%d / %d" % (bc.get("events", 0), est)
    fo = phase(t, "fanout")
    if fo:
        m["fanout_rate"] = fo.get("events_per_s")
        m["fanout_cpu"] = fo.get("cpu_us_per_event")
        m["fanout_events"] = "%d / %d" % (fo.get("events", 0), est * fanout_count)
    f = phase(t, "flat")
    fp = t.get("publish_flat", {})
    m["flat_pub"] = fp.get("rate")
    if "events_per_s" in f:
        m["flat_rate"] = f["events_per_s"] / fanout
    m["flat_p50"] = f.get("p50_us", 0) / 1000 if f else None
    m["flat_p99"] = f.get("p99_us", 0) / 1000 if f else None
    m["flat_max"] = f.get("max_us", 0) / 1000 if f else None
    m["flat_cpu"] = f.get("cpu_us_per_event")
    if "busiest_thread_busy" in f:
        m["flat_busy"] = 100 * f["busiest_thread_busy"]
    if "backend_busy" in f:
        m["flat_backend"] = 100 * f["backend_busy"]
    m["flat_events"] = exp % (f.get("events", 0), fp.get("sent", 0) * fanout)
    m["lmd"] = "%s / %s / %s" % (rep.get("lost", "?"), rep.get("misrouted", "?"), rep.get("duplicates", "?"))
    m["lost"], m["misrouted"], m["dup"] = rep.get("lost"), rep.get("misrouted"), rep.get("duplicates")
    m["failed"] = rep.get("failed", 0)
    m["dropped"] = rep.get("dropped", 0)
    m["malformed"] = rep.get("malformed", 0)
    return m


ROWS = [
    # key, label, format, ratio gateway/nchan, difference gateway - floor
    ("established", "streams established", "s", False, False),
    ("establish_s", "time to establish all streams (floor: LISTEN all channels), s", ".3f", True, True),
    ("rss_kib", "server RSS per idle stream, KiB", ".2f", True, False),
    ("rss_mib", "server RSS with all streams idle, MiB", ".1f", True, False),
    ("rate_p50", "latency p50 @ rate, ms", ".3f", True, True),
    ("rate_p90", "latency p90 @ rate, ms", ".3f", True, True),
    ("rate_p99", "latency p99 @ rate, ms", ".3f", True, True),
    ("rate_p999", "latency p99.9 @ rate, ms", ".3f", True, True),
    ("rate_max", "latency max @ rate, ms", ".3f", True, True),
    ("rate_events", "events received / expected @ rate", "s", False, False),
    ("rate_cpu", "server CPU µs per event @ rate", ".1f", True, False),
    ("bcast_s", "broadcast: first send → last stream, s", ".3f", True, True),
    ("bcast_events", "broadcast events received / expected", "s", False, False),
    ("bchan_s", "broadcast channel: one NOTIFY → last stream, s", ".3f", False, False),
    ("bchan_events", "broadcast channel events received / expected", "s", False, False),
    ("fanout_rate", "fan-out: NOTIFYs on the broadcast channel back to back, events delivered/s", ".0f", False, False),
    ("fanout_cpu", "fan-out: server CPU µs per event", ".2f", False, False),
    ("fanout_events", "fan-out events received / expected", "s", False, False),
    ("flat_pub", "flat out: publisher rate, msg/s", ".0f", True, True),
    ("flat_rate", "flat out: delivered, msg/s", ".0f", True, True),
    ("flat_p50", "flat out: latency p50, ms", ".2f", True, True),
    ("flat_p99", "flat out: latency p99, ms", ".2f", True, True),
    ("flat_max", "flat out: latency max, ms", ".2f", True, True),
    ("flat_events", "flat out: events received / expected", "s", False, False),
    ("flat_cpu", "server CPU µs per event, flat out", ".2f", True, False),
    ("flat_busy", "flat out: the server's busiest thread busy, % of the phase", ".0f", True, True),
    ("flat_backend", "flat out: the PostgreSQL backend feeding it busy, %", ".0f", False, True),
    ("lmd", "lost / misrouted / duplicates (all phases)", "s", False, False),
]


def fmt(v, f):
    if v is None:
        return "–"
    if f == "s":
        return str(v)
    return format(v, f)


def main():
    targets, meta = load(sys.argv[1])
    per_user = meta.get("per_user", 1)
    labels = list(targets)
    fanout_count = meta.get("fanout", 0)
    turbo_per_room = meta.get("streams", 0) / meta["rooms"] if meta.get("rooms") else per_user

    def spread(label):
        return turbo_per_room if is_turbo(label) else per_user

    m = {label: combine([metrics(label, t, spread(label), fanout_count) for t in targets[label]]) for label in labels}
    gw = next((label for label in labels if label.startswith("gateway") and not is_turbo(label)), None)
    has_nchan, has_floor = "nchan" in m, "floor" in m
    header = labels + (["gateway / nchan"] if gw and has_nchan else []) + (["gateway − floor"] if gw and has_floor else [])
    out = []
    if meta:
        out.append("Run: %s, %s; %d × %s, %.1f GiB RAM; Linux %s; %s." % (
            meta["date"], meta["command"], meta["nproc"], meta["cpu"], meta["mem_gib"], meta["kernel"], meta["nginx"]))
        out.append("Load average at start %s, at end %s (other work on the machine shows up as tail latency)." % (
            meta["load_at_start"], " ".join(meta["load_at_end"])))
        out.append("Workload: %d streams (%d per user), %g msg/s for %g s to random users, one broadcast "
                   "(one message per user, back to back), on the gateway's broadcast channel one NOTIFY and then "
                   "%d back to back (fan-out), %g s flat out." % (
                       meta["streams"], per_user, meta["rate"], meta["rate_seconds"], fanout_count,
                       meta["flat_seconds"]))
        if any(is_turbo(label) for label in labels):
            out.append("Turbo targets: the same phases with the %d streams dealt to %d rooms in turn (%.2f per room; "
                       "users above are rooms), each event a %d-byte Turbo Stream HTML: gateway-turbo serves the "
                       "Authy route and a Turbo route from one --config, opened with each room's signed stream "
                       "name, the HTML NOTIFYed as Action Cable encodes it; nchan-turbo gets it POSTed." % (
                           meta["streams"], meta.get("rooms", 0), turbo_per_room, meta.get("payload_bytes", 0)))
        if meta.get("repeat", 1) > 1:
            out.append("Each target ran %d times, interleaved; every figure is the median of the %d rounds, "
                       "every count the sum." % (meta["repeat"], meta["repeat"]))
        out.append("")
    out.append("| metric | " + " | ".join(header) + " |")
    out.append("|---|" + "---:|" * len(header))
    for key, name, f, ratio, diff in ROWS:
        if all(m[label].get(key) is None for label in labels):
            continue  # e.g. the broadcast channel when gateway-shared did not run
        cells = [fmt(m[label].get(key), f) for label in labels]
        g = m[gw].get(key) if gw else None
        num = isinstance(g, (int, float))
        if gw and has_nchan:
            n = m["nchan"].get(key)
            cells.append("%.2f×" % (g / n) if ratio and num and isinstance(n, (int, float)) and n else "")
        if gw and has_floor:
            fl = m["floor"].get(key)
            cells.append(("%+" + (f if f != "s" else "") ) % (g - fl) if diff and num and isinstance(fl, (int, float)) else "")
        out.append("| " + name + " | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Floor column: the server is the listening PostgreSQL backend (RSS growth per LISTENed channel, "
               "its CPU per notification); establish = LISTEN on every channel.")
    for label in labels:
        if not label.startswith("gateway") or is_turbo(label):
            continue
        floor = "floor-shared" if "shared" in label else "floor"
        out.append("")
        issue_floor = "floor" if "floor" in m else floor
        out.append("Targets (issues 6 and 12), %s (latency against: %s; keeping up against: %s):" % (
            label, issue_floor if issue_floor in m else "not run", floor if floor in m else "not run"))
        family = "gateway-shared-t" if "shared" in label else "gateway-t"
        # A --baseline-bin run (gateway-tN-baseline) is judged alone, not as a thread count.
        same = [x for x in labels if x.startswith(family) and not x.endswith("-baseline")]
        siblings = same if same and label == same[0] else [label]
        out.extend(check_targets(m, label, m.get(floor, {}), siblings, m.get(issue_floor, {})))
    if "relay" in targets:
        for label in labels:
            if label.startswith("gateway-t") and not is_turbo(label):  # per-user channels, like the relay
                out.append("")
                out.extend(against_relay(label, targets[label], targets["relay"], per_user, fanout_count))
    out.extend(turbo_lines(m, labels))
    print("\n".join(out))


TURBO_ROWS = [("rate_p50", "latency p50 @ rate, ms", ".3f"), ("rate_p99", "latency p99 @ rate, ms", ".3f"),
              ("rss_kib", "server RSS per idle stream, KiB", ".2f"),
              ("rate_cpu", "server CPU µs per event @ rate", ".1f"),
              ("flat_cpu", "server CPU µs per event, flat out", ".2f"),
              ("lmd", "lost / misrouted / duplicates", "s")]


def turbo_lines(m, labels):
    """Issue 20 section 8: each gateway-turbo run beside nchan-turbo. Shown, not judged."""
    gws = [label for label in labels if label.startswith("gateway-turbo")]
    n = m.get("nchan-turbo")
    if not gws or n is None:
        return []
    lines = ["", "Turbo Streams, %s beside nchan-turbo (the same rooms and HTML; shown, not judged):" % ", ".join(gws),
             "", "| metric | " + " | ".join(gws) + " | nchan-turbo | " +
             " | ".join("%s / nchan" % g for g in gws) + " |", "|---|" + "---:|" * (2 * len(gws) + 1)]
    for key, name, f in TURBO_ROWS:
        ratios = []
        for g in gws:
            a, b = m[g].get(key), n.get(key)
            ok = all(isinstance(v, (int, float)) for v in (a, b)) and b and f != "s"
            ratios.append("%.2f×" % (a / b) if ok else "")
        lines.append("| %s | %s | %s | %s |" % (name, " | ".join(fmt(m[g].get(key), f) for g in gws),
                                                fmt(n.get(key), f), " | ".join(ratios)))
    return lines


# Issue 19 section 8: against the minimal relay, as medians of per-round figures
# over at least this many interleaved rounds.
RELAY_ROUNDS = 5
RELAY_P50_US = 20.0
RELAY_P99_RATIO = 1.25


def against_relay(label, gw_rounds, relay_rounds, per_user, fanout_count):
    """Per round: the gateway's p50 minus the relay's (µs) and its p99 over the
    relay's; then the median of each with its spread, and the verdict."""
    lines = ["Against the minimal relay, %s, per round (rate phase; both ran in every round, "
             "interleaved):" % label, "",
             "| round | gateway p50, ms | relay p50, ms | p50 difference, µs | gateway p99, ms | relay p99, ms "
             "| p99 ratio |", "|---:|---:|---:|---:|---:|---:|---:|"]
    diffs, ratios = [], []
    for i, (g_round, r_round) in enumerate(zip(gw_rounds, relay_rounds), 1):
        g, r = metrics(label, g_round, per_user, fanout_count), metrics("relay", r_round, per_user, fanout_count)
        g50, r50, g99, r99 = g.get("rate_p50"), r.get("rate_p50"), g.get("rate_p99"), r.get("rate_p99")
        d = (g50 - r50) * 1000 if None not in (g50, r50) else None
        q = g99 / r99 if None not in (g99, r99) and r99 else None
        if d is not None:
            diffs.append(d)
        if q is not None:
            ratios.append(q)
        lines.append("| %d | %s | %s | %s | %s | %s | %s |" % (
            i, fmt(g50, ".3f"), fmt(r50, ".3f"), fmt(d, "+.0f"), fmt(g99, ".3f"), fmt(r99, ".3f"),
            "×" + fmt(q, ".2f") if q is not None else "–"))
    lines.append("")

    def spread(vals, show):
        return "median %s (min %s, max %s; %d round%s)" % (
            show(statistics.median(vals)), show(min(vals)), show(max(vals)), len(vals), "" if len(vals) == 1 else "s")

    enough = min(len(diffs), len(ratios)) >= RELAY_ROUNDS
    why = "" if enough else " — not judged: the verdict needs %d rounds or more (--repeat %d)" % (
        RELAY_ROUNDS, RELAY_ROUNDS)
    for name, vals, show, limit in (
            ("p50 within %g µs of the relay's (median of per-round differences)" % RELAY_P50_US, diffs,
             lambda v: "%+.1f µs" % v, RELAY_P50_US),
            ("p99 within ×%g the relay's (median of per-round ratios)" % RELAY_P99_RATIO, ratios,
             lambda v: "×%.3f" % v, RELAY_P99_RATIO)):
        if not vals:
            lines.append("- not measured: %s" % name)
            continue
        state = ("met:" if statistics.median(vals) <= limit else "**NOT met:**") if enough else "shown:"
        lines.append("- %s %s — %s%s" % (state, name, spread(vals, show), why))
    return lines


def check_targets(m, gw, fl, labels, issue_floor):
    """fl: the floor of the gateway's own channel mode; issue_floor: the floor the
    issue defines (one connection LISTENing on every user's channel)."""
    g = m[gw]
    n = m.get("nchan", {})
    lines = []

    def verdict(name, ok, detail):
        lines.append("- %s %s — %s" % ("met:" if ok else ("**NOT met:**" if ok is False else "not measured:"), name, detail))

    def have(*vals):
        return all(isinstance(v, (int, float)) for v in vals)

    # Issue 12: no worse than before the event path was redesigned (1.54 KiB per idle
    # stream and ~19 µs per event flat out at 2a510ae, BENCHMARKS.md), with the
    # rounding of this machine's noise.
    v = g.get("rss_kib")
    verdict("RSS per idle stream ≤ 1.6 KiB", have(v) and v <= 1.6 if have(v) else None,
            "%s KiB (nchan %s KiB)" % (fmt(v, ".2f"), fmt(n.get("rss_kib"), ".2f")))
    # The issue's floor is PostgreSQL LISTENing on every user's channel. In shared
    # mode PostgreSQL itself is faster (one channel to match), so the gap to that
    # mode's own floor, the gateway's own hop, is shown beside it.
    a, b = g.get("rate_p50"), issue_floor.get("rate_p50")
    verdict("p50 within 0.02 ms of the floor", (a - b) <= 0.02 if have(a, b) else None,
            "gateway %s ms, floor %s ms, difference %s ms" % (fmt(a, ".3f"), fmt(b, ".3f"),
                                                                fmt(a - b if have(a, b) else None, "+.3f")))
    if fl is not issue_floor and have(a, fl.get("rate_p50")):
        lines.append("- shown: p50 against this mode's own floor (one LISTENed channel) — %s ms, difference %s ms" % (
            fmt(fl.get("rate_p50"), ".3f"), fmt(a - fl.get("rate_p50"), "+.3f")))
    a, b = g.get("rate_p99"), issue_floor.get("rate_p99")
    verdict("p99 within 0.2 ms of the floor's p99", (a - b) <= 0.2 if have(a, b) else None,
            "gateway %s ms, floor %s ms, difference %s ms" % (fmt(a, ".3f"), fmt(b, ".3f"),
                                                                fmt(a - b if have(a, b) else None, "+.3f")))
    a, b = g.get("rate_p999"), issue_floor.get("rate_p999")
    lines.append("- shown: p99.9 — gateway %s ms, floor %s ms, difference %s ms" % (
        fmt(a, ".3f"), fmt(b, ".3f"), fmt(a - b if have(a, b) else None, "+.3f")))
    lost = (g.get("lost"), g.get("misrouted"), g.get("dup"))
    verdict("0 lost, 0 misrouted (and 0 duplicated)", all(x == 0 for x in lost) if have(*lost) else None,
            "%s / %s / %s" % lost)
    # Keeping up: the gateway forwards what its PostgreSQL backend sends as fast as it
    # comes. Either it delivered (5 % slack) what the floor's backend delivers alone on
    # the machine (or all that was published, if less), or, sharing the two cores with
    # the clients, it delivered less, but its busiest thread (the listener's) still
    # waited for input part of the time and the backend feeding it was the busier:
    # then the backend, not the gateway, set the rate.
    a, p, b = g.get("flat_rate"), g.get("flat_pub"), fl.get("flat_rate")
    busy, backend = g.get("flat_busy"), g.get("flat_backend")
    by_rate = a >= 0.95 * min(p, b) if have(a, p, b) else None
    by_busy = busy < 90 and backend > busy if have(busy, backend) else None
    ok = True if (by_rate or by_busy) else (None if by_rate is None and by_busy is None else False)
    verdict("flat out, keeps up with what PostgreSQL delivers", ok,
            "gateway delivered %s msg/s (%s published), its busiest thread busy %s %%, the PostgreSQL backend "
            "feeding it %s %%; the floor delivered %s msg/s (%s published) with its backend %s %% busy" % (
                fmt(a, ".0f"), fmt(p, ".0f"), fmt(busy, ".0f"), fmt(backend, ".0f"), fmt(b, ".0f"),
                fmt(fl.get("flat_pub"), ".0f"), fmt(fl.get("flat_backend"), ".0f")))
    a, b = g.get("flat_cpu"), n.get("flat_cpu")
    verdict("fewer server CPU µs per event than nchan (flat out)", a < b if have(a, b) else None,
            "gateway %s µs, nchan %s µs" % (fmt(a, ".2f"), fmt(b, ".2f")))
    verdict("server CPU per event flat out ≤ 20 µs", a <= 20.0 if have(a) else None, "%s µs" % fmt(a, ".2f"))
    # The broadcast target is the broadcast channel (issue 6 item 4): one NOTIFY that
    # every stream gets. One NOTIFY per user is the app-side alternative; PostgreSQL's
    # backend bounds it (see the floor), so it is shown, not judged.
    a, b = g.get("bchan_s"), n.get("bcast_s")
    verdict("a broadcast (one NOTIFY on the broadcast channel) reaches the last stream no later than nchan's "
            "broadcast", a <= b if have(a, b) else None, "gateway %s s, nchan %s s" % (fmt(a, ".3f"), fmt(b, ".3f")))
    lines.append("- shown: one NOTIFY per user, back to back, to the last stream — gateway %s s, floor %s s, "
                 "nchan %s s (one POST per user)" % (fmt(g.get("bcast_s"), ".3f"), fmt(fl.get("bcast_s"), ".3f"),
                                                     fmt(b, ".3f")))
    if len(labels) > 1:
        # Measured where the gateway does the work: the fan-out phase (one NOTIFY, every
        # stream), else flat out.
        by_threads = sorted(labels, key=lambda label: int(label.rsplit("-t", 1)[1]))
        key = "fanout_rate" if all(have(m[label].get("fanout_rate")) for label in by_threads) else "flat_rate"
        cpu_key = "fanout_cpu" if key == "fanout_rate" else "flat_cpu"
        rates = [m[label].get(key) for label in by_threads]
        cpu = [m[label].get(cpu_key) for label in by_threads]
        # Every stream lives on the LISTEN connection's loop (issue 12: no thread hop on
        # the event path), so --threads no longer multiplies the fan-out: shown, not judged.
        lines.append("- shown: %s throughput by --threads — %s" % ("fan-out" if key == "fanout_rate" else "flat-out",
                ", ".join("%s: %s events/s (%s µs CPU/event)" % (label, fmt(r, ".0f"), fmt(c, ".2f"))
                          for label, r, c in zip(by_threads, rates, cpu))))
    return lines


if __name__ == "__main__":
    main()
