"""Checks, without building the image (deploy.container builds and runs it with
podman), that every path, script, flag, variable, port and package the Dockerfile
names is the current one, against the repository and the real binary."""
import json
import os
import re
import shlex
import subprocess
import unittest

import deploy_common as dc
from deploy_common import harness

DOCKERFILE = os.path.join(dc.REPO, "Dockerfile")
# Packages of debian:bookworm-slim itself (Priority: required, or needed by apt).
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}


def parse_dockerfile(path):
    """[(stage name, INSTRUCTION, argument text)], continuations joined, comments dropped."""
    logical, buf = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.lstrip().startswith("#"):
                continue  # a comment inside a continuation
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            logical.append(buf + line)
            buf = ""
    out, stage = [], None
    for line in logical:
        instr, _, args = line.strip().partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            stage = m.group(2) or f"stage{sum(1 for i in out if i[1] == 'FROM')}"
        out.append((stage, instr, args.strip()))
    return out


def build_modes():
    """{mode: build dir} from scripts/build.sh's case statement."""
    with open(os.path.join(dc.REPO, "scripts", "build.sh")) as f:
        text = f.read()
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s*([a-z]+)\)\s*dir=(\S+?);", text, re.M)}


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.instrs = parse_dockerfile(DOCKERFILE)
        cls.opts = dc.GatewayOptions()
        cls.stages = [s for s, i, _ in cls.instrs if i == "FROM"]
        cls.final = cls.stages[-1]

    def of(self, instr, stage=None):
        return [a for s, i, a in self.instrs if i == instr and (stage is None or s == stage)]

    def runtime_packages(self):
        pkgs = set()
        for run in self.of("RUN", self.final):
            for m in re.finditer(r"apt-get install ([^&|;]+)", run):
                pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
        return pkgs

    def test_every_stage_is_debian_12(self):
        images = [a.split()[0] for a in self.of("FROM")]
        self.assertEqual(len(images), 2, "a build stage and a runtime stage")
        for image in images:
            self.assertRegex(image, r"^debian:bookworm(-slim)?$")
        self.assertEqual(images[-1], "debian:bookworm-slim", "the runtime stage is the slim image")

    def test_the_build_stage_uses_the_projects_install_and_build_scripts(self):
        runs = " ; ".join(self.of("RUN", self.stages[0]))
        self.assertIn("bash scripts/install-deps.sh", runs)
        self.assertRegex(runs, r"bash scripts/build\.sh release\b")
        for script in re.findall(r"bash (scripts/\S+)", runs):
            self.assertTrue(os.path.isfile(os.path.join(dc.REPO, script)), f"{script} does not exist")
        self.assertIn("release", build_modes(), "scripts/build.sh no longer has a release mode")

    def test_copy_sources_exist_in_the_repository(self):
        for args in self.of("COPY"):
            words = shlex.split(args)
            if any(w.startswith("--from") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            for src in words[:-1]:
                self.assertTrue(os.path.exists(os.path.join(dc.REPO, src)), f"COPY source {src} is missing")

    def test_files_copied_from_the_build_stage_are_where_the_build_puts_them(self):
        workdir = self.of("WORKDIR", self.stages[0])[-1]
        release_dir = build_modes()["release"]
        # The real binary's place inside its build tree (the dir holding CMakeCache.txt).
        binary = os.path.realpath(harness.gateway_bin())
        tree = os.path.dirname(binary)
        while not os.path.exists(os.path.join(tree, "CMakeCache.txt")):
            self.assertNotEqual(tree, "/", f"no build tree above {binary}")
            tree = os.path.dirname(tree)
        binary_in_tree = os.path.relpath(binary, tree)
        copied = 0
        for args in self.of("COPY", self.final):
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            if "--from=" not in args:
                continue
            for src in words[:-1]:
                self.assertTrue(src.startswith(workdir + "/"), f"{src} is outside WORKDIR {workdir}")
                rel = os.path.relpath(src, workdir)
                if rel.startswith(release_dir + "/"):
                    self.assertEqual(rel, f"{release_dir}/{binary_in_tree}",
                                     f"the build puts the binary at {release_dir}/{binary_in_tree}")
                else:
                    self.assertTrue(os.path.exists(os.path.join(dc.REPO, rel)), f"{rel} is not in the repository")
                copied += 1
        self.assertGreaterEqual(copied, 1)

    def test_the_tests_run_in_the_build_stage_after_the_build(self):
        runs = self.of("RUN", self.stages[0])
        build_at = next(i for i, r in enumerate(runs) if "scripts/build.sh release" in r)
        test_at = next(i for i, r in enumerate(runs) if "ctest" in r)
        self.assertGreater(test_at, build_at)
        self.assertRegex(runs[test_at], rf"ctest --test-dir {re.escape(build_modes()['release'])}\b")

    def test_the_entrypoint_is_the_copied_binary_and_names_only_real_flags(self):
        entry = json.loads(self.of("ENTRYPOINT", self.final)[-1])
        destinations = [shlex.split(a)[-1] for a in self.of("COPY", self.final)]
        self.assertIn(entry[0], destinations)
        self.assertEqual(os.path.basename(entry[0]), "sse-gateway")
        cmd = self.of("CMD", self.final)
        words = entry[1:] + (json.loads(cmd[-1]) if cmd else [])
        for word in words:
            if word.startswith("--"):
                self.assertIn(word.split("=")[0], self.opts.flags, f"{word} is not a flag of the binary")

    def test_env_names_are_the_binarys_variables(self):
        for args in self.of("ENV", self.final):
            for pair in shlex.split(args):
                name = pair.split("=", 1)[0]
                self.opts.check_env_name(name, "Dockerfile ENV")

    def test_the_runtime_user_is_a_created_non_root_uid(self):
        user = self.of("USER", self.final)[-1]
        uid, _, gid = user.partition(":")
        self.assertTrue(uid.isdigit() and int(uid) != 0, f"USER {user} must be a numeric non-root uid")
        runs = " ".join(self.of("RUN", self.final))
        self.assertRegex(runs, rf"useradd [^&]*--uid {uid}\b")
        if gid:
            self.assertRegex(runs, rf"groupadd [^&]*--gid {gid}\b")

    def test_the_exposed_port_is_the_listen_port_and_the_healthcheck_probes_a_real_route(self):
        exposed = {int(p.split("/")[0]) for a in self.of("EXPOSE", self.final) for p in a.split()}
        env = dict(pair.split("=", 1) for a in self.of("ENV", self.final) for pair in shlex.split(a))
        listen = env.get("SSE_GATEWAY_LISTEN", self.opts.defaults["--listen"])
        self.assertEqual(exposed, {dc.listen_port(listen)})
        health = self.of("HEALTHCHECK", self.final)[-1]
        m = re.search(r"\bCMD\s+(.*)$", health)
        self.assertIsNotNone(m, f"unexpected HEALTHCHECK: {health}")
        command = m.group(1)
        self.assertTrue(set(command.replace(";", " ").split()) & self.runtime_packages(),
                        "the probe's tool is not installed")
        self.assertIn("SSE_GATEWAY_LISTEN", command, "the probe follows the configured port")
        self.assertIn("SSE_GATEWAY_OPS_LISTEN", command, "the probe follows the ops port when there is one")
        # The probe, run by the image's /bin/sh (dash) with the image's environment, on
        # the binary started with that environment plus what `docker run -e` must add
        # (the database and the proxy secret), on a port that is not the default.
        env["SSE_GATEWAY_LISTEN"] = f"127.0.0.1:{harness.free_port()}"
        env["SSE_GATEWAY_PROXY_SECRET"] = "docker-run-secret-0123456789abcdef0123456789"

        def probe():
            return subprocess.run(["/bin/sh", "-c", command], env=dict(env, PATH=os.environ["PATH"]),
                                  capture_output=True, text=True, timeout=20)
        with harness.TempPostgres() as pg, \
                harness.Gateway(env=dict(env, DATABASE_URL=pg.url), listen=None) as gw:
            out = probe()
            self.assertEqual(out.returncode, 0, f"HEALTHCHECK failed on a serving gateway: {out.stderr}")
            self.assertEqual(gw.get("/no-such-route")[0], 404, "an unknown path must not answer 200")
        self.assertNotEqual(probe().returncode, 0, "the HEALTHCHECK passes with nothing listening")
        # With an ops listener, /healthz is served there only (issue 18, item 6): the
        # probe follows it.
        env["SSE_GATEWAY_OPS_LISTEN"] = f"127.0.0.1:{harness.free_port()}"
        with harness.TempPostgres() as pg, \
                harness.Gateway(env=dict(env, DATABASE_URL=pg.url), listen=None) as gw:
            gw.wait_log(lambda l: l.get("msg") == "ops listening", 10, "the ops listener")
            out = probe()
            self.assertEqual(out.returncode, 0, f"HEALTHCHECK failed on the ops port: {out.stderr}")
            self.assertEqual(gw.get("/healthz")[0], 404, "the public port must not serve /healthz then")

    def test_the_runtime_packages_provide_every_library_the_binary_links(self):
        out = subprocess.run(["readelf", "-d", harness.gateway_bin()], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out.stdout)
        self.assertTrue(needed)
        have = self.runtime_packages() | BASE_PACKAGES
        for lib in needed:
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib):
                continue  # the sanitizer tree's runtimes; release builds have none
            dpkg = subprocess.run(["dpkg", "-S", f"*/{lib}"], capture_output=True, text=True, timeout=20)
            self.assertEqual(dpkg.returncode, 0, f"no package ships {lib}: {dpkg.stderr}")
            owners = {line.split(":")[0] for line in dpkg.stdout.splitlines()}
            self.assertTrue(owners & have, f"{lib} comes from {sorted(owners)}, not installed in the runtime stage")

    def test_dockerignore_keeps_host_build_trees_and_node_modules_out(self):
        path = os.path.join(dc.REPO, ".dockerignore")
        with open(path) as f:
            entries = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        for required in ("build", "build-*", "tests/e2e/node_modules", ".git"):
            self.assertIn(required, entries)
        # ... but nothing the image needs.
        for args in self.of("COPY"):
            for src in [w for w in shlex.split(args) if not w.startswith("--")][:-1]:
                self.assertNotIn(src.split("/")[0], entries - {"."}, f"{src} is dockerignored")


if __name__ == "__main__":
    unittest.main(verbosity=2)
