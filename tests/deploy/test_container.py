"""The image for real: the repository's Dockerfile, unchanged, built with podman, and
the image run the way operators run it, against a throwaway PostgreSQL on the host
over loopback (host network):
- as uid 10001 on a read-only root, configured only by SSE_GATEWAY_* and DATABASE_URL;
  its HEALTHCHECK passes, a stream opened from the host gets a NOTIFY, the logs are
  JSON lines;
- `podman stop -t 15` with streams open drains them (each ends with a retry: hint) and
  the container exits 0 on its own;
- deploy/kubernetes/ (Deployment, ConfigMap, Secret) through `podman kube play`: env,
  security context, probes and grace period as the pod gets them.

Needs root, podman, runc and debootstrap (`bash scripts/install-deps.sh container`);
without them it exits 77, which ctest reports as skipped, saying why. The Debian base
images come from scripts/container-base.sh (kept in podman's image store: a second
run reuses them and the build's cached layers)."""
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest

import yaml

import deploy_common as dc
from deploy_common import harness

IMAGE = "localhost/sse-gateway:ctest"
K8S = os.path.join(dc.REPO, "deploy", "kubernetes")
IMAGE_UID = 10001
STOP_TIMEOUT = 15          # the Dockerfile's `docker stop -t 15`
BUILD_TIMEOUT = 1500       # cold: base image, apt-get in both stages, the C++ build
SKIP = 77                  # ctest SKIP_RETURN_CODE


class Podman:
    """The podman CLI as this machine needs it: runc (crun cannot run here), cgroupfs
    (no systemd session), and no default ulimits (the sandbox refuses raising them)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sse-gw-podman-")
        conf = os.path.join(self.dir, "containers.conf")
        with open(conf, "w") as f:
            f.write("[containers]\ndefault_ulimits = []\n")
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.argv = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, *args, timeout=120, check=True, stdin=None):
        try:
            out = subprocess.run(self.argv + list(args), capture_output=True, text=True,
                                 env=self.env, timeout=timeout, input=stdin)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"podman {' '.join(args)} still running after {timeout}s")
        if check and out.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {out.returncode}:\n"
                                 f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def inspect(self, name, kind="container"):
        return json.loads(self.run(kind, "inspect", name).stdout)[0]

    def logs(self, name):
        out = self.run("logs", name)
        return out.stdout + out.stderr


podman = None


def setUpModule():
    global podman
    podman = Podman()
    unittest.addModuleCleanup(podman.close)
    started = time.monotonic()
    base = subprocess.run(["bash", os.path.join(dc.REPO, "scripts", "container-base.sh")],
                          env=dict(podman.env, PODMAN=" ".join(podman.argv)),
                          capture_output=True, text=True, timeout=900)
    if base.returncode != 0:
        raise AssertionError(f"scripts/container-base.sh failed:\n{base.stderr}")
    based = time.monotonic()
    # docker format: podman's default (OCI) has no HEALTHCHECK and would drop it.
    podman.run("build", "--format", "docker", "--network", "host", "--pull=never", "--build-arg", "RUN_TESTS=0",
               "-t", IMAGE, "-f", os.path.join(dc.REPO, "Dockerfile"), dc.REPO, timeout=BUILD_TIMEOUT)
    print(f"\ndeploy.container: base images {based - started:.0f} s, "
          f"podman build {time.monotonic() - based:.0f} s", file=sys.stderr, flush=True)


def proc_status(pid):
    """{field: value} of /proc/PID/status: the process as the kernel runs it."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def proc_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [e.decode().split("=", 1) for e in f.read().split(b"\0") if e]
    return dict(p for p in pairs if len(p) == 2)


def open_file_limits(pid):
    """(soft, hard) RLIMIT_NOFILE of a running process."""
    with open(f"/proc/{pid}/limits") as f:
        line = next(l for l in f if l.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return soft, hard


def json_log_lines(text):
    """Every non-empty line parsed as a JSON object; fails on one that is not."""
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError(f"log line is not JSON: {line!r}")
        if not isinstance(obj, dict) or not {"ts", "level", "msg"} <= obj.keys():
            raise AssertionError(f"log line is not a ts/level/msg object: {line!r}")
        lines.append(obj)
    return lines


class ContainerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.TempPostgres().__enter__()
        cls.addClassCleanup(cls.pg.close)
        # The reference schema the ConfigMap's snapshot query reads.
        cls.pg.execute("CREATE TABLE users (id bigint PRIMARY KEY, authy_status text)")
        cls.pg.execute("INSERT INTO users VALUES (7, 'approved')")
        cls.secret = secrets.token_hex(16)

    def name(self, what):
        return f"sse-gw-ctest-{os.getpid()}-{what}"

    def start(self, what, env):
        """`podman run -d` of the image as operators run it, on the host network; the
        container is removed after the test whatever happens."""
        name = self.name(what)
        self.addCleanup(podman.run, "rm", "-f", "-t", "0", name, check=False)
        args = ["run", "-d", "--name", name, "--network", "host", "--read-only", "--ulimit", "host"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        podman.run(*args, IMAGE)
        return name

    def gateway_env(self):
        port = harness.free_port()
        return port, {"SSE_GATEWAY_LISTEN": f"127.0.0.1:{port}", "SSE_GATEWAY_PROXY_SECRET": self.secret,
                      "DATABASE_URL": self.pg.url}

    def wait_ready(self, name, port):
        def ready():
            state = podman.inspect(name)["State"]
            if not state["Running"]:
                raise AssertionError(f"{name} stopped ({state}):\n{podman.logs(name)}")
            try:
                return harness.http_get(port, "/readyz", timeout=2)[0] == 200
            except (OSError, AssertionError):
                return False
        harness.wait_until(ready, 30, f"{name} to answer /readyz 200", interval=0.2)

    def open_stream(self, port, user, path=harness.STREAM_PATH):
        client = harness.SseClient(port, path, {"X-User-Id": str(user), "X-Gateway-Secret": self.secret})
        self.addCleanup(client.close)
        self.assertEqual(client.status, 200, client.wire_bytes())
        return client

    def assert_read_only_root(self, pid):
        """The container's / is mounted read-only, as the kernel shows the process.
        (Not by writing through `podman exec`: in a chroot, runc cannot pivot_root and an
        exec'd process lands in the host's root instead of the container's.)"""
        with open(f"/proc/{pid}/mountinfo") as f:
            root = [line.split() for line in f if line.split()[4] == "/"][-1]  # the top one
        self.assertIn("ro", root[5].split(","), f"mount options of /: {root[5]}")

    def assert_healthy(self, name):
        # Run now: without systemd, podman cannot schedule the periodic checks itself.
        out = podman.run("healthcheck", "run", name, check=False)
        self.assertEqual(out.returncode, 0, f"healthcheck: {out.stdout}{out.stderr}")
        health = podman.inspect(name)["State"]["Health"]
        self.assertEqual(health["Status"], "healthy", health)

    # ---- the image ------------------------------------------------------------------------
    def test_the_runtime_image_is_slim_runs_as_10001_and_carries_no_build_tools(self):
        image = podman.inspect(IMAGE, "image")
        self.assertEqual(image["Config"]["User"], f"{IMAGE_UID}:{IMAGE_UID}")
        self.assertEqual(image["Config"]["Entrypoint"], ["/usr/local/bin/sse-gateway"])
        self.assertIn("/healthz", " ".join((image.get("Healthcheck") or {}).get("Test", [])),
                      "the HEALTHCHECK survived the build (docker format)")
        size_mb = image["Size"] / 1e6
        base_mb = podman.inspect("docker.io/library/debian:bookworm-slim", "image")["Size"] / 1e6
        print(f"\ndeploy.container: image {size_mb:.0f} MB (base debian:bookworm-slim {base_mb:.0f} MB)",
              file=sys.stderr, flush=True)
        self.assertLess(size_mb - base_mb, 60, "the runtime stage adds the binary and its libraries only")
        out = podman.run("run", "--rm", "--network", "none", "--ulimit", "host", "--entrypoint", "/bin/sh",
                         IMAGE, "-c", "id -u; for t in g++ cc cmake make psql; do command -v $t; done; true")
        self.assertEqual(out.stdout.split(), [str(IMAGE_UID)], "no compiler, build tool or psql in the image")
        out = podman.run("run", "--rm", "--network", "none", "--ulimit", "host", IMAGE, "--help")
        self.assertIn("SSE_GATEWAY_LISTEN", out.stdout, "the binary finds every library it links")
        # --read-only holds even for root in the container.
        out = podman.run("run", "--rm", "--network", "none", "--ulimit", "host", "--read-only", "--user", "0",
                         "--entrypoint", "/bin/sh", IMAGE, "-c", "echo x > /probe", check=False)
        self.assertIn("Read-only file system", out.stderr)

    def test_the_container_serves_as_10001_on_a_read_only_root_configured_by_env_only(self):
        port, env = self.gateway_env()
        name = self.start("serve", env)
        self.wait_ready(name, port)
        info = podman.inspect(name)
        self.assertTrue(info["HostConfig"]["ReadonlyRootfs"])
        pid = info["State"]["Pid"]
        status = proc_status(pid)
        self.assertEqual(status["Uid"].split(), [str(IMAGE_UID)] * 4)
        self.assertEqual(status["Gid"].split(), [str(IMAGE_UID)] * 4)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertEqual(f.read().split(b"\0")[:-1], [b"/usr/local/bin/sse-gateway"],
                             "no flags: the environment is the whole configuration")
        self.assert_read_only_root(pid)

        self.assert_healthy(name)

        stream = self.open_stream(port, 42)
        self.pg.notify("user_42", "approved")
        event = stream.next_event(10)
        self.assertEqual((event["event"], event["data"]), ("authy_status", '{"status":"approved"}'))

        logs = json_log_lines(podman.logs(name))
        messages = [l["msg"] for l in logs]
        self.assertIn("listening", messages)
        self.assertIn("stream open", messages)
        self.assertFalse([l for l in logs if l["level"] == "error"], logs)

    def test_podman_stop_drains_open_streams_and_the_container_exits_0_before_the_timeout(self):
        port, env = self.gateway_env()
        name = self.start("stop", env)
        self.wait_ready(name, port)
        streams = [self.open_stream(port, user) for user in (1, 2, 3)]
        for s in streams:
            s.wait_comment("ok", 10)
            self.assertIsNotNone(s.retry)
        started = time.monotonic()
        stop = podman.run("stop", "-t", str(STOP_TIMEOUT), name, timeout=STOP_TIMEOUT + 30)
        took = time.monotonic() - started
        print(f"\ndeploy.container: podman stop -t {STOP_TIMEOUT} took {took:.1f} s", file=sys.stderr, flush=True)
        self.assertLess(took, STOP_TIMEOUT, "the drain ends before podman's timeout")
        self.assertNotIn("SIGKILL", stop.stderr)
        state = podman.inspect(name)["State"]
        self.assertEqual((state["Status"], state["ExitCode"], state["OOMKilled"]), ("exited", 0, False))
        for s in streams:
            s.wait_eof(5)
            body = s.raw_bytes().decode()
            # The opening retry: line and the final one the drain sends before closing.
            self.assertEqual(len(re.findall(r"^retry: \d+$", body, re.M)), 2, body)
            self.assertRegex(body, r"retry: \d+\n\n?$", "the retry: hint is the last thing sent")
        closes = [l for l in json_log_lines(podman.logs(name)) if l["msg"] == "stream close"]
        self.assertEqual(sorted(l["reason"] for l in closes), ["shutdown"] * 3)

    # ---- deploy/kubernetes/ through podman kube play ----------------------------------------
    def kube_objects(self, port):
        """The ConfigMap, the Secret (secret.example.yaml with this database and secret,
        the optional keys left out) and the Deployment, changed only where this machine
        or podman needs it: the built image, one replica, the Secret's files in a host
        directory, the host network (only
        loopback here), a free port instead of 8080, and no `ports` list (podman turns
        containerPort into a port mapping, which the host network refuses), so the
        probes name the port by number."""
        def load(name):
            with open(os.path.join(K8S, name)) as f:
                return yaml.safe_load(f)
        config, secret, deployment = load("configmap.yaml"), load("secret.example.yaml"), load("deployment.yaml")
        self.mounted_keys = set()   # the ConfigMap's keys mounted as files, not env
        config["data"]["SSE_GATEWAY_LISTEN"] = f"127.0.0.1:{port}"
        ops_port = harness.free_port()
        config["data"]["SSE_GATEWAY_OPS_LISTEN"] = f"127.0.0.1:{ops_port}"
        secret["stringData"] = {"database-url": self.pg.url, "proxy-secrets": self.secret + "\n"}
        deployment["spec"]["replicas"] = 1
        pod = deployment["spec"]["template"]["spec"]
        # The Secret's files: podman 4.3 has no Secret volumes, so a host directory
        # holding the same files stands in at the same mount path.
        files = tempfile.mkdtemp(prefix="sse-gw-kube-secret-")
        self.addCleanup(shutil.rmtree, files, True)
        os.chmod(files, 0o755)
        for key, text in secret["stringData"].items():
            with open(os.path.join(files, key), "w") as f:
                f.write(text)
            os.chmod(os.path.join(files, key), 0o644)
        # The ConfigMap's config file the same way, beside it.
        config_files = tempfile.mkdtemp(prefix="sse-gw-kube-config-")
        self.addCleanup(shutil.rmtree, config_files, True)
        os.chmod(config_files, 0o755)
        for volume in pod["volumes"]:
            if volume.pop("secret", None) is not None:
                volume["hostPath"] = {"path": files, "type": "Directory"}
            source = volume.pop("configMap", None)
            if source is not None:
                for item in source["items"]:
                    with open(os.path.join(config_files, item["path"]), "w") as f:
                        f.write(config["data"][item["key"]])
                    os.chmod(os.path.join(config_files, item["path"]), 0o644)
                    self.mounted_keys.add(item["key"])
                volume["hostPath"] = {"path": config_files, "type": "Directory"}
        pod["hostNetwork"] = True
        container = pod["containers"][0]
        container["image"] = IMAGE
        named = {p["name"]: p["containerPort"] for p in container.pop("ports")}
        self.assertEqual(named["http"], dc.listen_port(load("configmap.yaml")["data"]["SSE_GATEWAY_LISTEN"]))
        self.assertEqual(named["ops"], dc.listen_port(load("configmap.yaml")["data"]["SSE_GATEWAY_OPS_LISTEN"]))
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(container[probe]["httpGet"]["port"], "ops")
            container[probe]["httpGet"]["port"] = ops_port
        return config, secret, deployment

    def create_podman_secret(self, secret):
        """The Secret as `podman kube play` (4.3) reads a secretKeyRef: a podman secret of
        that name holding the object's data, {key: base64}, as Kubernetes stores it
        (podman 4.3 stores a Secret document of the YAML as is and then cannot read it)."""
        name = secret["metadata"]["name"]
        data = {k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}
        podman.run("secret", "rm", name, check=False)
        podman.run("secret", "create", name, "-", stdin=json.dumps(data))
        self.addCleanup(podman.run, "secret", "rm", name, check=False)

    def test_kube_play_runs_the_deployment_with_its_configmap_and_secret(self):
        port = harness.free_port()
        config, secret, deployment = self.kube_objects(port)
        self.create_podman_secret(secret)
        kube_dir = tempfile.mkdtemp(prefix="sse-gw-kube-")
        self.addCleanup(shutil.rmtree, kube_dir, True)
        kube_file = os.path.join(kube_dir, "sse-gateway.yaml")
        with open(kube_file, "w") as f:
            yaml.safe_dump_all([config, deployment], f)
        self.addCleanup(podman.run, "kube", "down", kube_file, check=False, timeout=120)
        play = podman.run("kube", "play", kube_file, timeout=120)
        ids = re.search(r"Pod:\s+(\w+)\s+Container:\s+(\w+)", play.stdout)
        self.assertIsNotNone(ids, play.stdout)
        pod_id, container_id = ids.groups()
        # The probes and /metrics answer on the ops listener only (the public one 404s them).
        ops_port = dc.listen_port(config["data"]["SSE_GATEWAY_OPS_LISTEN"])
        self.wait_ready(container_id, ops_port)
        info = podman.inspect(container_id)
        pid = info["State"]["Pid"]
        pod_spec = deployment["spec"]["template"]["spec"]
        container = pod_spec["containers"][0]

        # env: every ConfigMap key, the Secret's keys, the optional ones absent.
        env = proc_environ(pid)
        for key, value in config["data"].items():
            if key not in self.mounted_keys:
                self.assertEqual(env.get(key), str(value), key)
        self.assertEqual(env.get("DATABASE_URL"), self.pg.url)
        self.assertNotIn("SSE_GATEWAY_PROXY_SECRET", env)  # a file of the Secret instead
        self.assertNotIn("SSE_GATEWAY_JWT_SECRET", env)
        self.assertNotIn("SSE_GATEWAY_RAILS_SECRET_KEY_BASE", env)
        # ... and the gateway took them and the config file: stream path, event name,
        # snapshot query.
        settings = tomllib.loads(config["data"]["sse-gateway.toml"])
        stream = self.open_stream(port, 7, path=settings["stream-path"])
        event = stream.next_event(10)
        self.assertEqual((event["event"], event["data"]),
                         (settings["event"], '{"status":"approved"}'))
        self.pg.notify("user_7", "denied")
        self.assertEqual(stream.next_event(10)["data"], '{"status":"denied"}')

        # securityContext, as the kernel sees the process.
        status = proc_status(pid)
        pod_sc = pod_spec["securityContext"]
        self.assertEqual(status["Uid"].split(), [str(pod_sc["runAsUser"])] * 4)
        self.assertEqual(status["Gid"].split(), [str(pod_sc["runAsGroup"])] * 4)
        self.assertEqual(int(status["CapEff"], 16), 0, "capabilities: drop ALL")
        self.assertEqual(int(status["CapBnd"], 16), 0, "capabilities: drop ALL")
        self.assertEqual(status["NoNewPrivs"], "1", "allowPrivilegeEscalation: false")
        self.assertEqual(status["Seccomp"], "2", "seccompProfile: RuntimeDefault")
        self.assertTrue(info["HostConfig"]["ReadonlyRootfs"], "readOnlyRootFilesystem")
        self.assert_read_only_root(pid)
        # No shell wrapper: the image's binary is PID 1 and raised its own open-file limit.
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertEqual(f.read().split(b"\0")[:-1], [b"/usr/local/bin/sse-gateway"])
        soft, hard = open_file_limits(pid)
        self.assertEqual(soft, hard)

        # Probes: podman makes the livenessProbe the container's healthcheck; it has no
        # readiness gate, so the readinessProbe's request is made here.
        health = info["Config"].get("Healthcheck") or {}
        self.assertIn(container["livenessProbe"]["httpGet"]["path"], " ".join(health.get("Test", [])), health)
        self.assert_healthy(container_id)
        self.assertEqual(harness.http_get(ops_port, container["readinessProbe"]["httpGet"]["path"])[0], 200)

        # Stopped as the kubelet would (SIGTERM, then the grace period): the open stream
        # ends with its retry: hint and the gateway exits 0 within the grace period.
        grace = pod_spec["terminationGracePeriodSeconds"]
        started = time.monotonic()
        podman.run("pod", "stop", "-t", str(grace), pod_id, timeout=grace + 30)
        self.assertLess(time.monotonic() - started, grace)
        stream.wait_eof(5)
        self.assertRegex(stream.raw_bytes().decode(), r"retry: \d+\n\n?$")
        state = podman.inspect(container_id)["State"]
        self.assertEqual((state["Status"], state["ExitCode"]), ("exited", 0))


def unavailable():
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root: rootful podman, and debootstrap for the base image"
    for tool in ("podman", "runc", "debootstrap"):
        if not shutil.which(tool):
            return f"{tool} is not installed (bash scripts/install-deps.sh container installs it)"
    return None


def root_is_a_mount():
    """False in a chroot whose root is a plain directory (mountinfo lists only the
    mounts this process can reach, by their path from its root)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == "/" for line in f)


REROOTED = "SSE_GATEWAY_CONTAINER_REROOTED"


def run_rerooted():
    """Runs this test again chrooted into a bind mount of / and returns its exit code.
    For a chroot (a fresh-machine check): podman's storage makes / a private mount before
    it unpacks a layer, which fails when / is not a mount point. The bind mount is
    private, so podman's own mounts stay under it, and all of it is unmounted after."""
    new_root = tempfile.mkdtemp(prefix="sse-gw-root-")
    try:
        subprocess.run(["mount", "--rbind", "/", new_root], check=True)
        subprocess.run(["mount", "--make-rprivate", new_root], check=True)
        child = subprocess.Popen(["chroot", new_root, "/usr/bin/env", f"{REROOTED}=1",
                                  "/usr/bin/python3", os.path.abspath(__file__)])
        try:
            return child.wait()
        except KeyboardInterrupt:  # ctest's timeout: the test cleans up on SIGTERM
            child.terminate()
            return child.wait(120)
    finally:
        if subprocess.run(["umount", "-R", new_root], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-R", "-l", new_root], capture_output=True)
        os.rmdir(new_root)


if __name__ == "__main__":
    reason = unavailable()
    if reason:
        print(f"deploy.container: SKIPPED: {reason}", flush=True)
        sys.exit(SKIP)
    if not root_is_a_mount() and not os.environ.get(REROOTED):
        print("deploy.container: / is not a mount point (a chroot): running chrooted into a "
              "bind mount of /", flush=True)
        sys.exit(run_rerooted())
    unittest.main(verbosity=2)
