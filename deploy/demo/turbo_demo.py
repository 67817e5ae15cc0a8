"""The Turbo demo's helpers for scripts/run.sh and deploy/demo/nginx.sh, stdlib only
(the `run` group of scripts/install-deps.sh has python3, not ruby):

  turbo_demo.py config DIR CHANNEL_PREFIX
      writes DIR/secret_key_base (a new one, as `rails secret` makes) and
      DIR/sse-gateway.toml, the demo's --config: the OneTouch status route at its
      usual path (the flags' channel user_<id> and event authy_status) with its
      snapshot, and a Turbo route at /live/turbo for an app whose cable.yml says
      `adapter: postgresql` with that channel_prefix; prints the file's path.
  turbo_demo.py sign SECRET_KEY_BASE STREAM_NAME
      turbo-rails' Turbo::StreamsChannel.signed_stream_name(STREAM_NAME) for an app
      with this secret_key_base: Turbo.signed_stream_verifier.generate(name), an
      ActiveSupport::MessageVerifier (HMAC-SHA256, JSON serializer) whose key is
      key_generator.generate_key("turbo/signed_stream_verifier_key"), PBKDF2-HMAC
      with Rails 7's SHA256 key generator, 1000 iterations, 64 bytes.
  turbo_demo.py psql-line PSQL_COMMAND CHANNEL_PREFIX STREAM_NAME HTML
      the shell line that broadcasts HTML to STREAM_NAME as Rails' PostgreSQL Action
      Cable adapter does: NOTIFY "<prefix>:<name>" (SHA1 hex past 63 characters),
      '<ActiveSupport::JSON.encode(html)>'. CHANNEL_PREFIX may be empty (none).
  turbo_demo.py page TEMPLATE OUT SIGNED_STREAM_NAME STREAM_NAME
      deploy/demo/turbo.html with the signed name (URL-escaped) and the stream name
      (HTML-escaped) filled in.
tests/e2e/turbo.test.mjs runs the gateway with `config`, and checks `sign` and
`psql-line` against real ActiveSupport."""
import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import shlex
import sys
import urllib.parse

SALT = b"turbo/signed_stream_verifier_key"


CONFIG = """# Written by deploy/demo/turbo_demo.py for scripts/run.sh; the keys are in
# proto_docs/routes.md.
rails-secret-key-base-file = {key_file}

[[route]]
path = "/authy/live_status"
snapshot-sql = "SELECT authy_status FROM users WHERE id = $1"

[[route]]
path = "/live/turbo"
key = "turbo-signed-stream"
channel-prefix = {prefix}
"""


def config(directory, prefix):
    key_file = os.path.join(os.path.abspath(directory), "secret_key_base")
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(secrets.token_hex(64) + "\n")
    path = os.path.join(os.path.abspath(directory), "sse-gateway.toml")
    with open(path, "w") as f:
        # A JSON string is a TOML basic string for these (no control characters).
        f.write(CONFIG.format(key_file=json.dumps(key_file), prefix=json.dumps(prefix)))
    print(path)


def sign(secret_key_base, name):
    key = hashlib.pbkdf2_hmac("sha256", secret_key_base.encode(), SALT, 1000, 64)
    # JSON.dump(name) as Ruby writes it: UTF-8 kept, "/" not escaped.
    data = base64.b64encode(json.dumps(name, ensure_ascii=False).encode()).decode()
    return data + "--" + hmac.new(key, data.encode(), hashlib.sha256).hexdigest()


def action_cable_json(text):
    """ActiveSupport::JSON.encode(text): JSON with <, >, &, U+2028 and U+2029 escaped."""
    out = json.dumps(text, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        out = out.replace(ch, esc)
    return out


def channel(prefix, name):
    full = f"{prefix}:{name}" if prefix else name
    return hashlib.sha1(full.encode()).hexdigest() if len(full) > 63 else full


def notify_sql(prefix, name, text):
    # pg_conn.escape_identifier and escape_string (standard_conforming_strings on).
    ident = '"' + channel(prefix, name).replace('"', '""') + '"'
    return f"NOTIFY {ident}, '" + action_cable_json(text).replace("'", "''") + "'"


def page(template, out, signed, name):
    with open(template, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("@SIGNED_STREAM_NAME@", urllib.parse.quote(signed, safe=""))
    text = text.replace("@STREAM_NAME@", html.escape(name))
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv):
    if len(argv) == 3 and argv[0] == "config":
        config(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "sign":
        print(sign(argv[1], argv[2]))
    elif len(argv) == 5 and argv[0] == "psql-line":
        print(f"{argv[1]} -c {shlex.quote(notify_sql(argv[2], argv[3], argv[4]))}")
    elif len(argv) == 5 and argv[0] == "page":
        page(*argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
