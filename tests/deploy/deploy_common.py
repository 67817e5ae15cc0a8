"""Shared by the deploy tests: the real binary's options (from --help), the
integration harness (PostgreSQL, the gateway), small parsers, and nginx running
the example configuration."""
import os
import re
import signal
import socket
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


# --- nginx: deploy/nginx/sse-gateway.conf run for real -------------------------------
NGINX = "/usr/sbin/nginx"
NGINX_EXAMPLE = os.path.join(REPO, "deploy", "nginx", "sse-gateway.conf")


def replace_once(text, old, new):
    if text.count(old) != 1:
        raise AssertionError(f"the example no longer has exactly one {old!r}: update this test with it")
    return text.replace(old, new)


def nginx_example_site(tmp, app_port, gateway_ports, http_port, https_port, secret):
    """The example's text with loopback addresses: `gateway_ports` become the servers
    of `upstream sse_gateway` (round robin; several with the parameters the example's
    comment lists replicas with), a throwaway certificate in tmp, and the secret
    include written there."""
    crt, key = os.path.join(tmp, "site.crt"), os.path.join(tmp, "site.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True, timeout=60)
    secret_conf = os.path.join(tmp, "secret.conf")
    with open(secret_conf, "w") as f:
        f.write(f'proxy_set_header X-Gateway-Secret "{secret}";\n')
    with open(NGINX_EXAMPLE) as f:
        site = f.read()
    params = ""
    if len(gateway_ports) > 1:  # the replicas as the example's comment lists them
        shown = re.search(r"#\s+server 10\.0\.0\.11:8080((?: [a-z_]+=\S+)*);", site)
        if not shown:
            raise AssertionError("the example no longer shows how to list replicas: update this test with it")
        params = shown.group(1)
    servers = "\n  ".join(f"server 127.0.0.1:{p}{params};" for p in gateway_ports)
    site = replace_once(site, "server app:3000;", f"server 127.0.0.1:{app_port};")
    site = replace_once(site, "server sse-gateway:8080;", servers)
    site = replace_once(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace_once(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = replace_once(site, "/etc/nginx/tls/site.crt", crt)
    site = replace_once(site, "/etc/nginx/tls/site.key", key)
    return replace_once(site, "include /etc/nginx/sse-gateway-secret.conf;", f"include {secret_conf};")


class Nginx:
    """Debian's nginx, unprivileged, everything in tmp (pid, logs, temp paths): one
    worker serving `site` (text that belongs inside `http {}`), preceded by
    `http_extra`. `with` starts it and waits until `ports` accept connections."""

    def __init__(self, tmp, site, ports, http_extra="", worker_connections=256):
        self.tmp, self.ports = tmp, ports
        self.argv = [NGINX, "-p", tmp, "-c", f"{tmp}/nginx.conf", "-e", f"{tmp}/error.log"]
        user = "user root;" if os.geteuid() == 0 else ""
        with open(os.path.join(tmp, "site.conf"), "w") as f:
            f.write(site)
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""{user}
worker_processes 1;
worker_rlimit_nofile {2 * worker_connections + 64};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/px; fastcgi_temp_path {tmp}/fc;
  uwsgi_temp_path {tmp}/uw; scgi_temp_path {tmp}/sc;
{http_extra}
  include {tmp}/site.conf;
}}
""")
        self.proc = None

    def __enter__(self):
        check = subprocess.run(self.argv + ["-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise AssertionError(f"nginx -t refused the configuration:\n{check.stderr}")
        self.proc = subprocess.Popen(self.argv + ["-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=harness._pdeathsig)
        harness._live.add(self)
        harness.wait_until(lambda: all(port_open(p) for p in self.ports), 15, "nginx to listen")
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        harness._live.discard(self)


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
