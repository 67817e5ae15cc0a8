"""Shared by the deploy tests: the real binary's options (from --help), the
integration harness (PostgreSQL, the gateway), and small parsers."""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402  (path set just above)


class GatewayOptions:
    """What `sse-gateway --help` says: flags, their env twins and defaults."""

    def __init__(self):
        out = subprocess.run([harness.gateway_bin(), "--help"], capture_output=True, text=True,
                             timeout=20, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise AssertionError(f"--help exited {out.returncode}: {out.stderr}")
        self.text = out.stdout
        self.flags = {}      # flag -> env twin (None for --help)
        self.defaults = {}   # flag -> default text
        current = None
        for line in self.text.splitlines():
            m = re.match(r"^  (--[a-z0-9-]+)\b", line)
            if m:
                current = m.group(1)
                self.flags[current] = None
                continue
            if current and line.startswith("      "):
                env = re.search(r"\[(SSE_GATEWAY_[A-Z0-9_]+)\]\s*$", line)
                if env:
                    self.flags[current] = env.group(1)
                default = re.search(r"\(default: (.*?)\)(?: \[|$)", line)
                if default:
                    self.defaults[current] = default.group(1)
        self.envs = {e for e in self.flags.values() if e}
        if "--listen" not in self.flags or "SSE_GATEWAY_LISTEN" not in self.envs:
            raise AssertionError(f"could not parse --help:\n{self.text}")

    def check_env_name(self, name, where):
        """Fails unless name is an env twin of a real option, or a libpq/DATABASE_URL name."""
        if name == "DATABASE_URL" or name.startswith("PG"):
            return
        if name not in self.envs:
            raise AssertionError(f"{where}: {name} is not an option of the binary "
                                 f"(known: {sorted(self.envs)})")


def listen_port(listen):
    """The port of an ADDR:PORT value."""
    return int(listen.rsplit(":", 1)[1])
