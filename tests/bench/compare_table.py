#!/usr/bin/python3
"""Formats compare.sh's results.jsonl as one Markdown table plus the issue-6 targets.

Input lines: {"target": label, "round": n, "kind": ready|report|publish_<mode>|sync|meta,
"data": {...}}. With several rounds, each figure is the median over the rounds and
each "received / expected" or "lost / misrouted / duplicates" cell is the sum.
The first gateway column is "the gateway" for the ratio columns."""
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


def metrics(label, t, per_user):
    ready, rep = t.get("ready", {}), t.get("report", {})
    fanout = 1 if label == "floor" else per_user
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
    m["rate_events"] = "%d / %d" % (r.get("events", 0), pub.get("sent", 0) * fanout)
    m["rate_cpu"] = r.get("cpu_us_per_event")
    b = phase(t, "broadcast")
    m["bcast_s"] = b.get("first_send_to_last_recv_s")
    m["bcast_events"] = "%d / %d" % (b.get("events", 0), t.get("publish_broadcast", {}).get("sent", 0) * fanout)
    bc = phase(t, "broadcast_channel")
    if bc:
        m["bchan_s"] = bc.get("first_send_to_last_recv_s")
        m["bchan_events"] = "%d / %d" % (bc.get("events", 0), est)
    f = phase(t, "flat")
    fp = t.get("publish_flat", {})
    m["flat_pub"] = fp.get("rate")
    if "events_per_s" in f:
        m["flat_rate"] = f["events_per_s"] / fanout
    m["flat_p50"] = f.get("p50_us", 0) / 1000 if f else None
    m["flat_p99"] = f.get("p99_us", 0) / 1000 if f else None
    m["flat_max"] = f.get("max_us", 0) / 1000 if f else None
    m["flat_cpu"] = f.get("cpu_us_per_event")
    m["flat_events"] = "%d / %d" % (f.get("events", 0), fp.get("sent", 0) * fanout)
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
    ("flat_pub", "flat out: publisher rate, msg/s", ".0f", True, True),
    ("flat_rate", "flat out: delivered, msg/s", ".0f", True, True),
    ("flat_p50", "flat out: latency p50, ms", ".2f", True, True),
    ("flat_p99", "flat out: latency p99, ms", ".2f", True, True),
    ("flat_max", "flat out: latency max, ms", ".2f", True, True),
    ("flat_events", "flat out: events received / expected", "s", False, False),
    ("flat_cpu", "server CPU µs per event, flat out", ".2f", True, False),
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
    m = {label: combine([metrics(label, t, per_user) for t in targets[label]]) for label in labels}
    gw = next((label for label in labels if label.startswith("gateway")), None)
    has_nchan, has_floor = "nchan" in m, "floor" in m
    header = labels + (["gateway / nchan"] if gw and has_nchan else []) + (["gateway − floor"] if gw and has_floor else [])
    out = []
    if meta:
        out.append("Run: %s, %s; %d × %s, %.1f GiB RAM; Linux %s; %s." % (
            meta["date"], meta["command"], meta["nproc"], meta["cpu"], meta["mem_gib"], meta["kernel"], meta["nginx"]))
        out.append("Load average at start %s, at end %s (other work on the machine shows up as tail latency)." % (
            meta["load_at_start"], " ".join(meta["load_at_end"])))
        out.append("Workload: %d streams (%d per user), %g msg/s for %g s to random users, one broadcast "
                   "(one message per user, back to back), %g s flat out." % (
                       meta["streams"], per_user, meta["rate"], meta["rate_seconds"], meta["flat_seconds"]))
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
        if not label.startswith("gateway"):
            continue
        floor = "floor-shared" if "shared" in label else "floor"
        out.append("")
        out.append("Issue 6 targets, %s (floor: %s):" % (label, floor if floor in m else "not run"))
        family = "gateway-shared-t" if "shared" in label else "gateway-t"
        first_of_family = next(x for x in labels if x.startswith(family))
        siblings = [x for x in labels if x.startswith(family)] if label == first_of_family else [label]
        out.extend(check_targets(m, label, m.get(floor, {}), siblings))
    print("\n".join(out))


def check_targets(m, gw, fl, labels):
    g = m[gw]
    n = m.get("nchan", {})
    lines = []

    def verdict(name, ok, detail):
        lines.append("- %s %s — %s" % ("met:" if ok else ("**NOT met:**" if ok is False else "not measured:"), name, detail))

    def have(*vals):
        return all(isinstance(v, (int, float)) for v in vals)

    v = g.get("rss_kib")
    verdict("RSS per idle stream ≤ 2 KiB", have(v) and v <= 2.0 if have(v) else None,
            "%s KiB (nchan %s KiB)" % (fmt(v, ".2f"), fmt(n.get("rss_kib"), ".2f")))
    a, b = g.get("rate_p50"), fl.get("rate_p50")
    verdict("p50 within 0.05 ms of the floor", (a - b) <= 0.05 if have(a, b) else None,
            "gateway %s ms, floor %s ms, difference %s ms" % (fmt(a, ".3f"), fmt(b, ".3f"),
                                                                fmt(a - b if have(a, b) else None, "+.3f")))
    a = g.get("rate_p99")
    verdict("p99 ≤ 1 ms", a <= 1.0 if have(a) else None, "%s ms" % fmt(a, ".3f"))
    lost = (g.get("lost"), g.get("misrouted"), g.get("dup"))
    verdict("0 lost, 0 misrouted (and 0 duplicated)", all(x == 0 for x in lost) if have(*lost) else None,
            "%s / %s / %s" % lost)
    # Keeping up: what PostgreSQL delivers is the floor's delivered rate (its
    # listening backend falls behind a flat-out publisher), or what was
    # published in the gateway's own run if that was less. 5 % slack.
    a, p, b = g.get("flat_rate"), g.get("flat_pub"), fl.get("flat_rate")
    verdict("flat out, keeps up with what PostgreSQL delivers", a >= 0.95 * min(p, b) if have(a, p, b) else None,
            "gateway delivered %s msg/s (%s published); the floor delivered %s msg/s (%s published)" % (
                fmt(a, ".0f"), fmt(p, ".0f"), fmt(b, ".0f"), fmt(fl.get("flat_pub"), ".0f")))
    a, b = g.get("flat_cpu"), n.get("flat_cpu")
    verdict("fewer server CPU µs per event than nchan (flat out)", a < b if have(a, b) else None,
            "gateway %s µs, nchan %s µs" % (fmt(a, ".2f"), fmt(b, ".2f")))
    a, b = g.get("bcast_s"), n.get("bcast_s")
    verdict("broadcast (one message per user) reaches the last stream no later than nchan",
            a <= b if have(a, b) else None,
            "gateway %s s, nchan %s s, floor %s s" % (fmt(a, ".3f"), fmt(b, ".3f"), fmt(fl.get("bcast_s"), ".3f")))
    a = g.get("bchan_s")
    if have(a):
        verdict("broadcast channel (one NOTIFY) reaches the last stream no later than nchan's broadcast",
                a <= b if have(a, b) else None, "gateway %s s, nchan %s s" % (fmt(a, ".3f"), fmt(b, ".3f")))
    if len(labels) > 1:
        # "Grows" means more than 5 %: less is within this machine's run-to-run noise.
        by_threads = sorted(labels, key=lambda label: int(label.rsplit("-t", 1)[1]))
        rates = [m[label].get("flat_rate") for label in by_threads]
        cpu = [m[label].get("flat_cpu") for label in by_threads]
        ok = have(*rates) and all(y > 1.05 * x for x, y in zip(rates, rates[1:]))
        verdict("flat-out throughput grows with --threads (by more than 5 %)", ok if have(*rates) else None,
                ", ".join("%s: %s msg/s (%s µs CPU/event)" % (label, fmt(r, ".0f"), fmt(c, ".2f"))
                          for label, r, c in zip(by_threads, rates, cpu)))
    return lines


if __name__ == "__main__":
    main()
