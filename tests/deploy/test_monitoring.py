"""deploy/monitoring/: the Prometheus alerting rules and the Grafana dashboard.
The rules file has the rules-file shape (groups -> rules with alert, expr, for,
labels, annotations); every metric name either uses -- and every label value it
matches on -- exists on the /metrics of the real binary, started against a real
PostgreSQL; and, where promtool is installed, Prometheus's own parser accepts
every expression, and where Prometheus itself is installed, it scrapes the live
gateway, evaluates every rule without error, and puts the listener-down alert in
pending when PostgreSQL goes away."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse
import urllib.request

import yaml

import deploy_common as dc
from deploy_common import harness

MONITORING = os.path.join(dc.REPO, "deploy", "monitoring")
RULES = os.path.join(MONITORING, "alerts.yaml")
DASHBOARD = os.path.join(MONITORING, "grafana-dashboard.json")
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
# Series Prometheus makes itself, not the gateway.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# What operators must be told about (issue 11): alert -> a metric its expr uses.
REQUIRED_ALERTS = {
    "listener down": "sse_gateway_pg_connected",
    "not ready": "sse_gateway_ready",
    "queue usage high": "sse_gateway_pg_notification_queue_usage",
    "slow-consumer closes rising": "sse_gateway_stream_closes_total",
    "connections near the limit": "sse_gateway_max_connections",
    "notify-to-write latency high": "sse_gateway_notify_to_write_seconds_bucket",
}

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def grafana_to_promql(expr):
    """A dashboard expression with Grafana's variables replaced by PromQL values."""
    expr = re.sub(r"\$__(rate_)?interval|\$__range", "5m", expr)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?", ".*", expr)


def metric_selectors(expr):
    """[(metric name, {label: value} of its equality matchers)] in a PromQL expression.
    Strings, durations, grouping label lists and function names are not metrics."""
    out = []
    text = re.sub(r"\[[^\]]*\]", " ", expr)                      # range and subquery durations
    text = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", text)          # offset 5m
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    token = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\{[^}]*\}|[A-Za-z_:][A-Za-z0-9_:]*|[0-9.eE+-]+|.',
                       re.S)
    tokens = [m.group(0) for m in token.finditer(text) if not m.group(0).isspace()]
    for i, tok in enumerate(tokens):
        if not re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", tok) or tok.lower() in KEYWORDS:
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if nxt == "(":
            continue  # a function or aggregation
        labels = {}
        if nxt.startswith("{"):
            for name, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"', nxt):
                labels[name] = value
        out.append((tok, labels))
    return out


def load_rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
        doc = doc["spec"]
    return doc


def dashboard_exprs(dash):
    """[(where, PromQL)] of every panel target and query variable."""
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((f"panel {p.get('title')!r}", grafana_to_promql(t["expr"])))

    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_]+\)", q.strip())
            out.append((f"variable {var['name']!r}", grafana_to_promql(m.group(1) if m else q)))
    return out


class LiveMetrics:
    """Families and samples on the real binary's /metrics: names from the samples
    and from the # TYPE lines (a labelled family may have no sample yet)."""

    def __init__(self, body):
        self.names = set()
        self.samples = []  # (name, {label: value})
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.names.add(name)
                if kind == "histogram":
                    self.names.update({name + "_bucket", name + "_sum", name + "_count"})
            elif line and not line.startswith("#"):
                m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})? ", line)
                labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
                self.names.add(m.group(1))
                self.samples.append((m.group(1), labels))

    def check(self, testcase, where, expr):
        selectors = metric_selectors(expr)
        testcase.assertTrue(selectors, f"{where}: no metric found in {expr!r}")
        for name, labels in selectors:
            if name in PROMETHEUS_OWN:
                continue
            testcase.assertIn(name, self.names, f"{where}: {name} is not on /metrics (expr {expr!r})")
            wanted = {k: v for k, v in labels.items() if k not in ("instance", "job", "pod")}
            if wanted:
                testcase.assertTrue(
                    any(n == name and all(l.get(k) == v for k, v in wanted.items()) for n, l in self.samples),
                    f"{where}: no sample {name}{wanted} on /metrics")


class Prometheus:
    """A throwaway Prometheus (temp dir storage, loopback port) scraping one target
    every second and evaluating the rules file every second."""

    def __init__(self, target_port):
        self.dir = tempfile.mkdtemp(prefix="sse-gw-prometheus-")
        self.port = harness.free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [RULES],
                  "scrape_configs": [{"job_name": "sse-gateway",
                                      "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}]}
        path = os.path.join(self.dir, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={path}",
                                      f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise AssertionError(f"{url}: {body}")
        return body["data"]

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise AssertionError(f"prometheus exited {self.proc.returncode}: {self.log.read()[-3000:]}")
            return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def setUpModule():
    harness.start_postgres()


class MonitoringTest(harness.GatewayTestCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rules = load_rules()
        with open(DASHBOARD) as f:
            cls.dashboard = json.load(f)

    def live_gateway(self):
        # With --snapshot-sql, so the snapshot families exist too; one refused
        # request, so the labelled refusal families have a sample.
        # Scraped on the ops port, as deploy/kubernetes has it (--ops-listen).
        gw = self.gateway("--snapshot-sql", "SELECT 'x'::text WHERE $1::text IS NOT NULL", "--queue-usage-seconds", "1",
                          "--ops-listen", "127.0.0.1:0")
        self.assertNotEqual(gw.ops_port, gw.port)
        gw.wait_ready()
        gw.wait_metric("sse_gateway_pg_notification_queue_usage_up", 1)
        with gw.stream(5) as ok, gw.stream(6, secret="wrong") as refused:
            self.assertEqual(ok.status, 200)
            self.assertIn(refused.status, (401, 403))
        return gw

    def live_metrics(self):
        gw = self.live_gateway()
        self.assertEqual(gw.get("/metrics")[0], 404)  # the stream port serves no metrics then
        status, _, body = harness.http_get(gw.ops_port, "/metrics")
        self.assertEqual(status, 200)
        return LiveMetrics(body.decode())

    def test_the_rules_file_has_the_prometheus_rules_shape(self):
        self.assertIsInstance(self.rules, dict)
        self.assertEqual(set(self.rules), {"groups"})
        self.assertTrue(self.rules["groups"])
        names = []
        for group in self.rules["groups"]:
            self.assertIsInstance(group["name"], str)
            self.assertTrue(group["rules"], group["name"])
            for rule in group["rules"]:
                where = rule.get("alert", rule)
                self.assertLessEqual(set(rule), RULE_KEYS, where)
                self.assertRegex(rule["alert"], r"^[A-Z][A-Za-z0-9]+$")
                self.assertIsInstance(rule["expr"], str)
                self.assertTrue(rule["expr"].strip(), where)
                self.assertRegex(str(rule["for"]), DURATION, where)
                self.assertIn(rule["labels"].get("severity"), ("critical", "warning", "info"), where)
                self.assertTrue(all(isinstance(v, str) for v in rule["labels"].values()), where)
                self.assertTrue(rule["annotations"].get("summary"), where)
                self.assertTrue(rule["annotations"].get("description"), where)
                names.append(rule["alert"])
        self.assertEqual(len(names), len(set(names)), "alert names are unique")

    def test_every_alert_operators_need_is_there(self):
        used = {name for g in self.rules["groups"] for r in g["rules"] for name, _ in metric_selectors(r["expr"])}
        for what, metric in REQUIRED_ALERTS.items():
            self.assertIn(metric, used, f"no alert for {what}")

    def test_every_metric_the_rules_and_the_dashboard_use_is_on_a_live_metrics_page(self):
        live = self.live_metrics()
        for group in self.rules["groups"]:
            for rule in group["rules"]:
                live.check(self, f"alert {rule['alert']}", rule["expr"])
        exprs = dashboard_exprs(self.dashboard)
        self.assertGreater(len(exprs), 10)
        for where, expr in exprs:
            live.check(self, where, expr)

    def test_the_metric_name_parser_sees_through_promql(self):
        sel = metric_selectors('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="1", y=~"$v"}[5m] '
                               'offset 1h))) > 0.25 and on (instance) b == 0 unless max without (pod) (c) or '
                               'label_replace(d, "dst", "$1", "src", "(.*)")')
        self.assertEqual(sel, [("a_bucket", {"x": "1"}), ("b", {}), ("c", {}), ("d", {})])

    def test_the_dashboard_is_grafana_json(self):
        d = self.dashboard
        for key in ("title", "uid", "panels", "schemaVersion", "templating"):
            self.assertIn(key, d)
        ids = [p["id"] for p in d["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        for p in d["panels"]:
            self.assertIn("gridPos", p, p["title"])
            if p["type"] != "row":
                self.assertTrue(p["targets"], p["title"])
                self.assertLessEqual(p["gridPos"]["x"] + p["gridPos"]["w"], 24, p["title"])

    @unittest.skipUnless(PROMTOOL, "promtool not installed (Debian: apt-get install prometheus); "
                                   "the expressions are then only checked by this file's parser")
    def test_promtool_accepts_the_rules_and_every_dashboard_expression(self):
        out = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        # The dashboard's expressions, as recording rules: promtool parses each.
        records = [{"record": f"dashboard:expr_{i}", "expr": expr}
                   for i, (_, expr) in enumerate(dashboard_exprs(self.dashboard))]
        with tempfile.TemporaryDirectory(prefix="sse-gw-monitoring-") as tmp:
            path = os.path.join(tmp, "dashboard-rules.yaml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}, f)
            out = subprocess.run([PROMTOOL, "check", "rules", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    @unittest.skipUnless(PROMETHEUS, "prometheus not installed (Debian: apt-get install prometheus); "
                                     "the rules are then not evaluated by Prometheus itself")
    def test_prometheus_evaluates_every_rule_and_the_listener_alert_goes_pending(self):
        gw = self.live_gateway()
        prom = Prometheus(gw.ops_port)
        self.addCleanup(prom.close)
        harness.wait_until(prom.ready, 30, "Prometheus to be ready")
        harness.wait_until(lambda: prom.api("query", query='up{job="sse-gateway"}')["result"], 20,
                           "the gateway to be scraped")

        def rules():
            return [r for g in prom.api("rules")["groups"] for r in g["rules"]]

        def all_evaluated():
            rs = rules()
            return all(not r["lastEvaluation"].startswith("0001") for r in rs) and rs

        evaluated = harness.wait_until(all_evaluated, 20, "every rule to be evaluated")
        self.assertEqual(len(evaluated), sum(len(g["rules"]) for g in self.rules["groups"]))
        for r in evaluated:
            self.assertEqual(r["health"], "ok", r)
        for where, expr in dashboard_exprs(self.dashboard):
            prom.api("query", query=expr)  # fails on an error
        # Nothing is wrong with the gateway: nothing fires.
        self.assertEqual([a for a in prom.api("alerts")["alerts"]], [])
        # PostgreSQL goes away: the listener-down alert is pending (for: 1m).
        self.pg.control("down", "fast")
        try:
            gw.wait_metric("sse_gateway_pg_connected", 0, timeout=20)
            pending = harness.wait_until(
                lambda: [a for a in prom.api("alerts")["alerts"] if a["labels"]["alertname"] == "SseGatewayListenerDown"],
                20, "SseGatewayListenerDown to be pending")
            self.assertEqual(pending[0]["state"], "pending")
            self.assertEqual(pending[0]["labels"]["severity"], "critical")
        finally:
            self.pg.control("up")
        gw.wait_ready(30)
        harness.wait_until(lambda: not [a for a in prom.api("alerts")["alerts"]
                                        if a["labels"]["alertname"] == "SseGatewayListenerDown"], 20,
                           "the alert to clear")


if __name__ == "__main__":
    unittest.main(verbosity=2)
