"""Parses every manifest in deploy/kubernetes/ and checks it against the real binary:
env var names against --help, the ConfigMap's values by starting the binary with
them, ports, probe paths (probed on the running binary), drain timing, security
context and the selectors that tie the objects together."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
import unittest

import yaml

import deploy_common as dc
from deploy_common import harness

K8S = os.path.join(dc.REPO, "deploy", "kubernetes")
APP_LABEL = {"app.kubernetes.io/name": "sse-gateway"}
DRAIN_GRACE_SECONDS = 2  # gateway/app/server.cpp: drain_grace after the drain period
LOW_SOFT_NOFILE = 1024   # Docker's usual soft open-file limit for a container


def load_manifests():
    """{kind: [object]} of every YAML document, with the file each came from."""
    objects = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                doc["__file__"] = os.path.basename(path)
                objects.setdefault(doc["kind"], []).append(doc)
    return objects


def dockerfile_facts():
    """(USER uid, ENTRYPOINT binary) of the runtime stage."""
    with open(os.path.join(dc.REPO, "Dockerfile")) as f:
        text = f.read()
    runtime = text[text.rindex("\nFROM "):]
    uid = re.search(r"^USER (\d+)", runtime, re.M).group(1)
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])", runtime, re.M).group(1))[0]
    return int(uid), entry


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


class KubernetesManifestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = load_manifests()
        cls.opts = dc.GatewayOptions()
        cls.deployment = cls.one("Deployment")
        cls.pod = cls.deployment["spec"]["template"]
        cls.container = cls.pod["spec"]["containers"][0]
        cls.config = cls.one("ConfigMap")
        cls.secret = cls.one("Secret")

    @classmethod
    def one(cls, kind):
        found = cls.objects.get(kind, [])
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def container_port(self, ref):
        """The containerPort a probe or Service targetPort names (by name or number)."""
        for p in self.container["ports"]:
            if ref in (p.get("name"), p["containerPort"]):
                return p["containerPort"]
        self.fail(f"port {ref!r} is not a port of the container")

    def config_files(self):
        """{ConfigMap key: path in the container} of the ConfigMap's keys the pod
        mounts as files (the config file), not as environment variables."""
        files = {}
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes", [])}
        for m in self.container.get("volumeMounts", []):
            source = volumes[m["name"]].get("configMap")
            if source and source["name"] == self.config["metadata"]["name"]:
                for item in source["items"]:
                    files[item["key"]] = os.path.join(m["mountPath"], item["path"])
        return files

    def config_file(self):
        """The config file SSE_GATEWAY_CONFIG names, parsed."""
        by_path = {path: key for key, path in self.config_files().items()}
        return tomllib.loads(self.config["data"][by_path[self.config["data"]["SSE_GATEWAY_CONFIG"]]])

    def env_of_pod(self, root):
        """The gateway's environment as the pod would set it (secrets from env as
        placeholders), with the Secret's files and the ConfigMap's config file written
        below root where the pod mounts them, and the *_FILE and config paths pointed
        there."""
        files = self.config_files()
        env = {k: str(v) for k, v in self.config["data"].items() if k not in files}
        for key, path in files.items():
            copy = os.path.join(root, key)
            with open(copy, "w") as f:
                f.write(self.config["data"][key])
            if env.get("SSE_GATEWAY_CONFIG") == path:
                env["SSE_GATEWAY_CONFIG"] = copy
        for e in self.container.get("env", []):
            env[e["name"]] = e.get("value", "placeholder-secret")
        mount = self.secret_mount()
        for key, text in self.secret["stringData"].items():
            with open(os.path.join(root, key), "w") as f:
                f.write(text)
        for name, value in env.items():
            if name.endswith("_FILE") and value.startswith(mount + "/"):
                env[name] = os.path.join(root, value[len(mount) + 1:])
        return env

    def secret_mount(self):
        """Where the container mounts the Secret's files."""
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes", [])}
        for m in self.container.get("volumeMounts", []):
            secret = volumes[m["name"]].get("secret")
            if secret and secret["secretName"] == self.secret["metadata"]["name"]:
                return m["mountPath"]
        self.fail("the container mounts no volume of the Secret")

    # ---- structure --------------------------------------------------------------------
    def test_every_manifest_is_a_known_kind_with_a_name_and_the_app_label(self):
        expected = {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget",
                    "HorizontalPodAutoscaler", "NetworkPolicy", "Kustomization"}
        self.assertEqual(set(self.objects), expected)
        for kind, objs in self.objects.items():
            for obj in objs:
                self.assertIn("apiVersion", obj, obj["__file__"])
                if kind != "Kustomization":
                    self.assertTrue(obj["metadata"]["name"].startswith("sse-gateway"), obj["__file__"])
                    self.assertTrue(matches(APP_LABEL, obj["metadata"].get("labels", {})), obj["__file__"])

    def test_kustomization_lists_every_manifest_but_the_secret_example(self):
        listed = set(self.one("Kustomization")["resources"])
        files = {os.path.basename(p) for p in glob.glob(os.path.join(K8S, "*.yaml"))}
        self.assertEqual(listed, files - {"kustomization.yaml", "secret.example.yaml"})

    # ---- env and config against the binary ----------------------------------------------
    def test_every_env_var_name_is_an_option_of_the_binary(self):
        for name in self.config["data"]:
            if name not in self.config_files():
                self.opts.check_env_name(name, f"ConfigMap {self.config['__file__']}")
        for e in self.container.get("env", []):
            self.opts.check_env_name(e["name"], "Deployment env")

    def test_the_deployment_reads_the_configmap_and_secret_that_exist(self):
        refs = [s["configMapRef"]["name"] for s in self.container.get("envFrom", []) if "configMapRef" in s]
        self.assertEqual(refs, [self.config["metadata"]["name"]])
        keys = set(self.secret["stringData"])
        names = {}
        for e in self.container["env"]:
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            self.assertIsNotNone(ref, f"{e['name']} must come from the Secret, not a literal")
            self.assertEqual(ref["name"], self.secret["metadata"]["name"])
            self.assertIn(ref["key"], keys)
            names[e["name"]] = ref
        self.assertIn("DATABASE_URL", names)
        self.assertFalse(names["DATABASE_URL"].get("optional"), "the database URL is required")
        for secretish in ("PASSWORD", "SECRET", "DATABASE_URL"):
            for key in self.config["data"]:
                if not key.endswith("_FILE"):  # a path to a secret is not one
                    self.assertNotIn(secretish, key, f"{key} belongs in the Secret")

    def test_the_configmap_carries_the_config_file_the_pod_mounts_and_names(self):
        files = self.config_files()
        self.assertTrue(files, "the Deployment mounts no file of the ConfigMap")
        self.assertIn(self.config["data"]["SSE_GATEWAY_CONFIG"], files.values())
        mount = next(m for m in self.container["volumeMounts"] if m["name"] == "config")
        self.assertTrue(mount["readOnly"])
        self.assertNotEqual(mount["mountPath"], self.secret_mount())
        # Its keys are options of the binary, and no secret is among them.
        for key in self.config_file():
            if key != "route":
                self.opts.check_env_name("SSE_GATEWAY_" + key.upper().replace("-", "_"), "the config file")
                self.assertNotIn("secret", key.removesuffix("-file"), f"{key} belongs in the Secret")

    def test_credentials_are_files_of_the_mounted_secret_so_they_rotate_without_a_restart(self):
        mount = self.secret_mount()
        self.assertTrue(next(m for m in self.container["volumeMounts"] if m["mountPath"] == mount)["readOnly"])
        files = {k: v for k, v in self.config["data"].items() if k.endswith("_FILE")}
        self.assertIn("SSE_GATEWAY_PROXY_SECRET_FILE", files)
        for name, path in files.items():
            self.opts.check_env_name(name, "ConfigMap")
            self.assertEqual(os.path.dirname(path), mount, name)
            self.assertIn(os.path.basename(path), self.secret["stringData"], f"{name}: no such key in the Secret")
        # Credentials that rotate must not also be fixed in the environment.
        env_names = {e["name"] for e in self.container.get("env", [])}
        self.assertFalse(env_names & {"SSE_GATEWAY_PROXY_SECRET", "SSE_GATEWAY_JWT_SECRET",
                                      "SSE_GATEWAY_RAILS_SECRET_KEY_BASE"})
        self.assertGreater(int(self.config["data"]["SSE_GATEWAY_CREDENTIALS_WATCH_SECONDS"]), 0)
        # The files are readable by the pod's user through its group, and only so.
        volume = next(v for v in self.pod["spec"]["volumes"] if "secret" in v)
        sc = self.pod["spec"]["securityContext"]
        self.assertEqual(volume["secret"]["defaultMode"] & 0o047, 0o040)
        self.assertEqual(sc["fsGroup"], sc["runAsGroup"])

    def test_the_binary_starts_with_the_pods_environment_and_answers_the_probe_paths(self):
        root = tempfile.mkdtemp(prefix="sse-gw-k8s-")
        self.addCleanup(shutil.rmtree, root, True)
        env = self.env_of_pod(root)
        port = dc.listen_port(env["SSE_GATEWAY_LISTEN"])
        ops_port = dc.listen_port(env["SSE_GATEWAY_OPS_LISTEN"])
        env["SSE_GATEWAY_LISTEN"] = "127.0.0.1:0"   # not the pod's ports: another test may hold them
        env["SSE_GATEWAY_OPS_LISTEN"] = "127.0.0.1:0"
        env["SSE_GATEWAY_CREDENTIALS_WATCH_SECONDS"] = "1"  # the pod's 30 s, shortened for the test
        proxy_file = env["SSE_GATEWAY_PROXY_SECRET_FILE"]
        with open(proxy_file) as f:
            proxy_secret = f.read().split()[0]
        # The image's ENTRYPOINT with no arguments (the built binary stands in for it),
        # given the low soft open-file limit some runtimes start containers with.
        with harness.TempPostgres() as pg:
            pg.execute("CREATE TABLE users (id bigint PRIMARY KEY, authy_status text)")
            pg.execute("INSERT INTO users VALUES (7, 'approved')")
            env["DATABASE_URL"] = pg.url
            gw = harness.Gateway(env=env, listen=None)
            gw.argv = ["/usr/bin/prlimit", f"--nofile={LOW_SOFT_NOFILE}:", "--"] + gw.argv
            with gw:
                ops = int(gw.wait_log(lambda l: l.get("msg") == "ops listening", 10, "the ops listener")["port"])
                harness.wait_until(lambda: harness.http_get(ops, "/readyz")[0] == 200, 15, "/readyz on the ops port")
                # The binary raised its soft limit to the hard one: no shell wrapper needed.
                with open(f"/proc/{gw.proc.pid}/limits") as f:
                    soft, hard = next(l for l in f if l.startswith("Max open files")).split()[3:5]
                self.assertEqual(soft, hard)
                # The probes and the scrape are on the ops port; the stream port
                # answers 404 for them (issue 18, item 6).
                for probe in ("readinessProbe", "livenessProbe"):
                    path = self.container[probe]["httpGet"]["path"]
                    status, _, body = harness.http_get(ops, path)
                    self.assertEqual(status, 200, f"{probe} {path} answered {status}: {body!r}")
                    self.assertEqual(gw.get(path)[0], 404, f"{path} is served on the stream port too")
                self.assertEqual(gw.get("/no-such-route")[0], 404)
                metrics_path = self.pod["metadata"]["annotations"]["prometheus.io/path"]
                status, _, body = harness.http_get(ops, metrics_path)
                self.assertEqual(status, 200)
                self.assertIn(b"sse_gateway_", body)
                self.assertEqual(gw.get(metrics_path)[0], 404)
                # The ConfigMap's snapshot query runs against the reference schema and
                # its event name is the page's.
                with gw.stream(7, secret=proxy_secret) as s:
                    self.assertEqual(s.status, 200)
                    event = s.next_event(10)
                    self.assertEqual((event["event"], event["data"]),
                                     (self.config_file()["event"], '{"status":"approved"}'))
                    # An updated Secret (the kubelet swaps the files) is picked up with
                    # the stream still open: the new secret first, the old one kept.
                    os.replace(self.write_beside(proxy_file, f"rotated-secret-0123456789abcdef0123456789\n{proxy_secret}\n"), proxy_file)
                    harness.wait_until(lambda: gw.metrics().get('sse_gateway_config_reloads_total{result="ok"}')
                                       == 1, 15, "the watched Secret file to be reloaded")
                    with gw.stream(8, secret="rotated-secret-0123456789abcdef0123456789") as rotated:
                        self.assertEqual(rotated.status, 200)
                    pg.notify("user_7", "denied")
                    self.assertEqual(s.next_event(10)["data"], '{"status":"denied"}')
                # The config file was taken: the stream path and event name from it.
                listening = gw.wait_log(lambda l: l.get("msg") == "listening", 5, "listening")
                self.assertEqual(listening["stream_path"], self.config_file()["stream-path"])
            self.assertFalse(any('"level":"error"' in l for l in gw.stdout_lines), gw.tail())
        self.assertEqual(port, self.container_port("http"))
        self.assertEqual(ops_port, self.container_port("ops"))

    @staticmethod
    def write_beside(path, text):
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        return tmp

    # ---- ports and probes ------------------------------------------------------------------
    def test_ports_agree_from_configmap_to_container_to_service_to_networkpolicy(self):
        port = dc.listen_port(self.config["data"]["SSE_GATEWAY_LISTEN"])
        ops = dc.listen_port(self.config["data"]["SSE_GATEWAY_OPS_LISTEN"])
        self.assertNotEqual(ops, port)
        self.assertEqual(self.container_port("http"), port)
        self.assertEqual(self.container_port("ops"), ops)
        # Probes and the scrape on the ops port (issue 18, item 6).
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(self.container_port(self.container[probe]["httpGet"]["port"]), ops)
        self.assertEqual(self.container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(self.container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(int(self.pod["metadata"]["annotations"]["prometheus.io/port"]), ops)
        # The Service exposes the stream port only.
        svc = self.one("Service")
        self.assertEqual({self.container_port(p["targetPort"]) for p in svc["spec"]["ports"]}, {port})
        # The ops port is open to the monitoring namespace alone, the stream port to
        # the proxies alone.
        policy = self.one("NetworkPolicy")
        by_port = {}
        for rule in policy["spec"]["ingress"]:
            for p in rule["ports"]:
                by_port.setdefault(p["port"], []).extend(rule["from"])
        self.assertEqual(set(by_port), {port, ops})
        monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        self.assertEqual(by_port[ops], [monitoring])
        self.assertNotIn(monitoring, by_port[port])

    def test_selectors_tie_service_pdb_hpa_and_policy_to_the_deployments_pods(self):
        labels = self.pod["metadata"]["labels"]
        self.assertTrue(matches(self.deployment["spec"]["selector"]["matchLabels"], labels))
        self.assertTrue(matches(self.one("Service")["spec"]["selector"], labels))
        self.assertTrue(matches(self.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels))
        self.assertTrue(matches(self.one("NetworkPolicy")["spec"]["podSelector"]["matchLabels"], labels))
        target = self.one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
        self.assertEqual((target["kind"], target["name"]), ("Deployment", self.deployment["metadata"]["name"]))

    def test_the_autoscaler_and_budget_keep_a_replica_serving(self):
        hpa = self.one("HorizontalPodAutoscaler")["spec"]
        pdb = self.one("PodDisruptionBudget")["spec"]
        self.assertGreaterEqual(hpa["minReplicas"], 2)
        self.assertLess(pdb.get("maxUnavailable", 0), hpa["minReplicas"])
        self.assertLessEqual(hpa["maxReplicas"], 16, "every replica receives every NOTIFY: keep it modest")
        self.assertEqual(self.deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)

    # ---- shutdown ------------------------------------------------------------------------
    def test_the_grace_period_outlasts_prestop_and_the_drain(self):
        pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
        sleep = int(pre_stop[-1]) if os.path.basename(pre_stop[0]) == "sleep" else 0
        self.assertTrue(sleep > 0 or "kill" in " ".join(pre_stop), f"preStop {pre_stop} neither waits nor drains")
        drain = int(self.config["data"].get("SSE_GATEWAY_DRAIN_SECONDS", self.opts.defaults["--drain-seconds"]))
        grace = self.pod["spec"]["terminationGracePeriodSeconds"]
        self.assertGreater(grace, sleep + drain + DRAIN_GRACE_SECONDS)

    def test_the_prestop_command_exists_in_the_runtime_image(self):
        pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
        # debian:bookworm-slim has coreutils; the path must be the one it installs.
        self.assertTrue(os.path.exists(pre_stop[0]), f"{pre_stop[0]} is not a Debian path")
        self.assertEqual(subprocess.run(pre_stop[:1] + ["0"], timeout=10).returncode, 0)

    # ---- security and resources ------------------------------------------------------------
    def test_the_pod_runs_as_the_images_non_root_user_on_a_read_only_root(self):
        uid, _ = dockerfile_facts()
        pod_sc = self.pod["spec"]["securityContext"]
        sc = self.container["securityContext"]
        self.assertTrue(pod_sc["runAsNonRoot"])
        self.assertEqual(pod_sc["runAsUser"], uid)
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertFalse(self.pod["spec"].get("automountServiceAccountToken", True))

    def test_resources_have_requests_and_limits_and_threads_match_the_cpu_limit(self):
        res = self.container["resources"]
        for kind in ("requests", "limits"):
            self.assertIn("cpu", res[kind])
            self.assertIn("memory", res[kind])
        cpu_limit = str(res["limits"]["cpu"])
        cores = int(cpu_limit) if cpu_limit.isdigit() else max(1, int(cpu_limit.rstrip("m")) // 1000)
        self.assertEqual(int(self.config["data"]["SSE_GATEWAY_THREADS"]), cores)

    def test_the_image_entrypoint_runs_as_pid_1_without_a_shell_wrapper(self):
        # The gateway raises its own open-file limit (see the test above), so the pod
        # runs the image's ENTRYPOINT and the kubelet's SIGTERM reaches the gateway.
        _, entry = dockerfile_facts()
        self.assertEqual(os.path.basename(entry), "sse-gateway")
        self.assertNotIn("command", self.container)
        self.assertNotIn("args", self.container)

if __name__ == "__main__":
    unittest.main(verbosity=2)
