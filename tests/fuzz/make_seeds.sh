#!/usr/bin/env bash
# Regenerates the checked-in seed corpus (corpus/*) and the public keys (keys/)
# the jwt target verifies RS256/ES256 with. Credentials come from
# tests/support/make_auth_fixtures.sh (PyJWT tokens, ActiveSupport cookies, fresh
# key pairs: the private halves stay in a temp dir and are dropped), the rest is
# written out here: edge cases per target, in each target's input format (see the
# header comment of tests/fuzz/fuzz_<name>.cpp). Run by hand, then commit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$here/../support/make_auth_fixtures.sh" "$tmp" 2>/dev/null
cp "$tmp/rsa_public.pem" "$tmp/ec_public.pem" "$here/keys/"

/usr/bin/python3 -I - "$here" "$tmp" <<'PY'
import base64, json, os, sys, shutil

here, fixtures = sys.argv[1], sys.argv[2]


def corpus(target):
    d = os.path.join(here, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# jwt: byte 0 = alg (0 HS256, 1 RS256, 2 ES256) | 4 audience | 8 issuer | 16 require_exp
# | 32 claim "uid" | 64 sign here ("<header>\0<claims>").
d = corpus("jwt")
for c in json.load(open(os.path.join(fixtures, "jwt_cases.json")))["cases"]:
    v = c["verifier"]
    if c["live"] or "leeway" in v or "secret_file" in v:
        continue
    cfg = {"HS256": 0, "RS256": 1, "ES256": 2}[v["alg"]]
    cfg |= 4 if v.get("audience") else 0
    cfg |= 8 if v.get("issuer") else 0
    cfg |= 32 if v.get("claim") == "uid" else 0
    write(d, c["name"], bytes([cfg]) + c["token"].encode())
signed = {
    "signed_good": ('{"alg":"HS256","typ":"JWT"}', '{"sub":"7","exp":1700000300,"nbf":1699999000}'),
    "signed_int_sub": ('{"alg":"HS256"}', '{"sub":42}'),
    "signed_aud_array": ('{"alg":"HS256"}', '{"sub":"7","aud":["x","sse-gateway"],"iss":"https://app.example"}'),
    "signed_duplicate_sub": ('{"alg":"HS256"}', '{"sub":"43","sub":"42"}'),
    "signed_duplicate_alg": ('{"alg":"none","alg":"HS256"}', '{"sub":"7"}'),
    "signed_crit": ('{"alg":"HS256","crit":["exp"]}', '{"sub":"7"}'),
    "signed_big_exp": ('{"alg":"HS256"}', '{"sub":"7","exp":1e308,"nbf":-1e308}'),
    "signed_deep": ('{"alg":"HS256"}', '{"sub":"7","x":' + "[" * 3000 + "]" * 3000 + "}"),
    "signed_escapes": ('{"alg":"HS\\u0032\\u00356"}', '{"sub":"\\u0037\\u0000x"}'),
}
for name, (h, p) in signed.items():
    write(d, name, bytes([64 | (12 if "aud" in name else 0)]) + h.encode() + b"\0" + p.encode())
write(d, "raw_three_dots", b"\0a.b.c.d")
write(d, "raw_padding", b"\0eyJhbGciOiJIUzI1NiJ9=.e30=.")

# rails_cookie: byte 0 = digest (0 both, 1 sha1, 2 sha256) | mode << 2 (0 raw cookie,
# 1 GCM/SHA1 key, 2 GCM/SHA256 key, 3 CBC+HMAC) with the plaintext after it.
d = corpus("rails_cookie")
for c in json.load(open(os.path.join(fixtures, "rails_cases.json")))["cases"]:
    if c["secret_key_base"] != json.load(open(os.path.join(fixtures, "rails_cases.json")))["cases"][0]["secret_key_base"]:
        continue
    cfg = {"": 0, "sha1": 1, "sha256": 2}[c["key_digest"]]
    write(d, c["name"], bytes([cfg]) + c["cookie"].encode())
session = '{"session_id":"3f2a","_csrf_token":"q0Y=","pre_2fa_auth_user_id":7}'
plain = {
    "session": session,
    "envelope_message": '{"_rails":{"message":"eyJwcmVfMmZhX2F1dGhfdXNlcl9pZCI6N30=","exp":"2100-01-01T00:00:00.000Z",'
                        '"pur":"cookie._authy_demo_session"}}',
    "envelope_data": '{"_rails":{"data":' + session + ',"exp":"2100-01-01T00:00:00+01:00","pur":null}}',
    "envelope_expired": '{"_rails":{"data":{},"exp":"2001-01-01T00:00:00Z"}}',
    "envelope_leap": '{"_rails":{"data":{"user_id":"9"},"exp":"9999-12-31T23:59:60.999999-23:59"}}',
    "duplicate_key": '{"pre_2fa_auth_user_id":7,"pre_2fa_auth_user_id":8}',
    "marshal": "\x04\x08{\x06I\"\x0csession\x06:\x06ETi\x07",
    "deep_data": '{"_rails":{"data":{"x":' + "[" * 2000 + "]" * 2000 + "}}}",
}
for name, text in plain.items():
    for mode in (1, 2, 3):
        write(d, f"{name}_mode{mode}", bytes([mode << 2]) + text.encode("latin-1"))
write(d, "raw_iso8601", b"\x002100-01-01T00:00:00.123+05:30")
# The data envelope that overflowed a 256 KiB stack while copied recursively (e6a0f08).
write(d, "deep_data_envelope_2700", bytes([4]) + ('{"_rails":{"data":{"x":' + "[" * 2700 + "]" * 2700 + "}}}").encode())

# payload_frame: byte 0 = flags (bit 0: "<event>\n<wrap>\n" follows; bits 1-7: seq).
d = corpus("payload_frame")
payloads = {
    "approved": "approved",
    "json_object": '{"status":"approved","user":42}',
    "json_ws_crlf": '{\r\n "status": "denied",\r "user": "42"\n}',
    "json_trailing": '{"status":"x"} trailing',
    "text_newlines": "line one\nline two\r\nline three\rend",
    "text_quotes": 'a "quoted" \\ back\tslash \x01\x1f',
    "leading_space": "  {not json",
    "bom": "\ufeffapproved",
    "bom_object": '\ufeff{"user":42}',
    "utf8": "gr\u00fc\u00df \u2603 \U0001f600",
    "sse_injection": "approved\n\nevent: other\ndata: x\nid: 1\n",
    "user_dup": '{"user":"1","user":"2"}',
    "user_neg_zero": '{"user":-0}',
    "user_big": '{"user":18446744073709551615,"status":1}',
    "deep_issue_10": '{"a":' + "[" * 7990,
    "deep_valid": '{"a":' + "[" * 3900 + "]" * 3900 + "}",
}
for name, text in payloads.items():
    write(d, name, bytes([2]) + text.encode())
# A lone last byte of the BOM before an object: not JSON to JSON.parse (a fuzz
# finding against an oracle that skipped it).
write(d, "bom_tail_object", bytes([0]) + b'\xbf{"user":18446744073709551615,"Cstatus":1}')
write(d, "custom_names", bytes([1 | 4]) + b" ev:ent \nfield\"x\n{\"field\\\"x\":1}")
write(d, "custom_wrap", bytes([3]) + b"message\n\xc3\xa9\nplain\r\ntext")

# config: tokens separated by NUL; NAME=value tokens are environment variables.
d = corpus("config")
configs = {
    "defaults": [],
    "help": ["--help"],
    "listen": ["--listen", "[::1]:0", "--threads=4", "--heartbeat", "1"],
    "route": ["--stream-path=/events", "--event", "status", "--wrap-field=s", "--channel-template", "u_{user}"],
    "shared": ["--channel-mode=shared", "--shared-channel", "events", "--shared-user-field", "uid",
               "--broadcast-channel", "all"],
    "auth": ["--auth", "proxy-header, jwt ,rails-session", "--proxy-secret", "s", "--jwt-alg=RS256",
             "--jwt-leeway=0", "--jwt-require-exp", "--rails-key-digest", "sha256"],
    "limits": ["--max-connections=1", "--max-streams-per-user", "100000", "--max-queue-bytes=4294967296",
               "--replay-size=0", "--replay-age", "86400", "--drain-seconds=0"],
    "env": ["SSE_GATEWAY_HEARTBEAT=5", "SSE_GATEWAY_LOG_LEVEL=debug", "DATABASE_URL=postgresql://x@y/z",
            "SSE_GATEWAY_DATABASE_URL=host=db", "SSE_GATEWAY_ALLOW_INSECURE_PROXY_HEADER="],
    "env_bad": ["SSE_GATEWAY_LOG_LEVEL=loud", "SSE_GATEWAY_THREADS=0", "SSE_GATEWAY_NOPE=1"],
    "bad_values": ["--heartbeat=99999999999999999999", "--listen=:80", "--event=a\nb", "--log-level"],
    "env_newline": ["SSE_GATEWAY_EVENT=a\r", "SSE_GATEWAY_RETRY_MS=1\n"],
}
for name, tokens in configs.items():
    write(d, name, "\0".join(tokens))
# Every option once, as a flag and as its environment twin: the fuzzer then knows
# each name. The names come from the option table in common/config.cpp.
import re
src = open(os.path.join(here, "..", "..", "common", "config.cpp")).read()
names = re.findall(r'^\s*\{"([a-z0-9-]+)", "', src, re.M)
write(d, "every_flag", "\0".join(f"--{n}=1" for n in names))
write(d, "every_env", "\0".join("SSE_GATEWAY_" + n.upper().replace("-", "_") + "=1" for n in names))

# http_head: byte 0 + 1 = bytes per read; then what the client sends.
d = corpus("http_head")
tokens = {c["name"]: c["token"] for c in json.load(open(os.path.join(fixtures, "jwt_cases.json")))["cases"]}
cookie = next(c["cookie"] for c in json.load(open(os.path.join(fixtures, "rails_cases.json")))["cases"]
              if c["name"] == "gcm_sha1_rails61")
H = "Host: gw\r\n"
heads = {
    "healthz": "GET /healthz HTTP/1.1\r\n" + H + "\r\n",
    "pipelined": "GET /healthz HTTP/1.1\r\n" + H + "\r\nGET /readyz HTTP/1.1\r\n" + H + "\r\n"
                 "GET /metrics HTTP/1.0\r\n\r\n",
    "proxy": "GET /authy/live_status HTTP/1.1\r\n" + H + "X-User-Id: 42\r\nX-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\n"
             "Origin: https://app.example\r\nLast-Event-ID: 0badc0de-17\r\n\r\n",
    "proxy_dup": "GET /authy/live_status HTTP/1.1\r\n" + H + "X-User-Id: 42\r\nX-User-Id: 43\r\n"
                 "X-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\n\r\n",
    "proxy_empty_user": "GET /authy/live_status HTTP/1.1\r\n" + H + "X-User-Id: \r\n"
                        "X-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\n\r\n",
    "jwt_query": "GET /authy/live_status?x=1&access_token=" + tokens["hs256_good"] + " HTTP/1.1\r\n" + H + "\r\n",
    "jwt_bearer": "GET /authy/live_status HTTP/1.1\r\n" + H + "Authorization: bEaReR  " + tokens["hs256_good"] + "\r\n\r\n",
    "jwt_cookie": "GET /authy/live_status HTTP/1.1\r\n" + H + "Cookie: a=b; jwt=\"" + tokens["hs256_good"] + "\"\r\n\r\n",
    "rails_cookie": "GET /authy/live_status HTTP/1.1\r\n" + H + "Cookie: _authy_demo_session=" + cookie + "\r\n\r\n",
    "chunked_body": "POST /healthz HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    "GET /healthz HTTP/1.1\r\n" + H + "\r\n",
    "te_smuggle": "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n\r\n"
                  "0\r\n\r\nGET /healthz HTTP/1.1\r\n" + H + "\r\n",
    "te_gzip": "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
    "content_length": "POST /metrics HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n" + H + "\r\n",
    "no_host": "GET /healthz HTTP/1.1\r\n\r\n",
    "two_hosts": "GET /healthz HTTP/1.1\r\n" + H + H + "\r\n",
    "options": "OPTIONS /authy/live_status HTTP/1.1\r\n" + H + "Origin: https://app.example\r\n"
               "Access-Control-Request-Method: GET\r\n\r\n",
    "big_header": "GET /healthz HTTP/1.1\r\n" + H + "X-Pad: " + "a" * 8300 + "\r\n\r\n",
    "bare_lf": "GET /healthz HTTP/1.1\n" + "Host: gw\n\n",
    # Issue 18: fields after the header block (trailers) never act as headers.
    "trailer_user": "GET /authy/live_status HTTP/1.1\r\n" + H + "X-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\nX-User-Id: 77\r\n" + H +
                    "Last-Event-ID: x-1\r\nOrigin: https://app.example\r\n\r\n",
    "trailer_token": "GET /authy/live_status HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
                     "0\r\nAuthorization: Bearer " + tokens["hs256_good"] + "\r\nCookie: jwt=" + tokens["hs256_good"] +
                     "\r\nX-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\n\r\n",
    "obs_fold": "GET /authy/live_status HTTP/1.1\r\n" + H + "X-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\n"
                "X-User-Id: 5\r\n 6\r\n\r\n",
    # own_sequence at the 64-bit edge: one past the maximum, and the maximum with leading zeros.
    "last_event_id": "".join("GET /authy/live_status HTTP/1.1\r\n" + H + "X-User-Id: 42\r\n"
                             "X-Gateway-Secret: fuzz-proxy-secret-0123456789abcdef\r\nLast-Event-ID: 0badc0de-" + seq +
                             "\r\n\r\n" for seq in ("18446744073709551616", "0018446744073709551615")),
}
for name, text in heads.items():
    write(d, name, bytes([0]) + text.encode())
write(d, "pipelined_split3", bytes([2]) + heads["pipelined"].encode())

# key_set: byte 0 = reader (0 JWKS, 1 PEM for RS256, 2 PEM for ES256); then the text.
# From the public keys in keys/ (the jwt target's) plus hostile sets made here.
d = corpus("key_set")
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
rsa_pem = open(os.path.join(here, "keys", "rsa_public.pem")).read()
ec_pem = open(os.path.join(here, "keys", "ec_public.pem")).read()
rsa_jwk = json.loads(RSAAlgorithm.to_jwk(serialization.load_pem_public_key(rsa_pem.encode())))
ec_jwk = json.loads(ECAlgorithm.to_jwk(serialization.load_pem_public_key(ec_pem.encode())))


def b64u(n):
    return base64.urlsafe_b64encode(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")).rstrip(b"=").decode()

sets = {
    "jwks_good": [dict(rsa_jwk, kid="k", use="sig", alg="RS256"), dict(ec_jwk, kid="e", alg="ES256")],
    "jwks_no_kids": [rsa_jwk, ec_jwk],
    "jwks_e1": [dict(rsa_jwk, kid="k"), dict(rsa_jwk, kid="evil", e=b64u(1))],
    "jwks_even_and_big_e": [dict(rsa_jwk, e=b64u(65536)), dict(rsa_jwk, e=b64u((1 << 32) + 1)), ec_jwk],
    "jwks_dup_kids": [dict(rsa_jwk, kid="k")] * 4 + [dict(ec_jwk, kid="k")],
    "jwks_other_uses": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}, dict(rsa_jwk, use="enc"),
                        dict(ec_jwk, crv="P-384"), dict(rsa_jwk, key_ops=["verify"])],
}
for name, keys in sets.items():
    write(d, name, bytes([0]) + json.dumps({"keys": keys}).encode())
write(d, "jwks_not_a_set", bytes([0]) + b'{"keys":[1],"keys":[]}')
write(d, "pem_rsa", bytes([1]) + rsa_pem.encode())
write(d, "pem_rsa_twice", bytes([1]) + (rsa_pem + rsa_pem).encode())
write(d, "pem_ec", bytes([2]) + ec_pem.encode())
write(d, "pem_ec_as_rsa", bytes([1]) + ec_pem.encode())
write(d, "pem_damaged", bytes([1]) + rsa_pem[:200].encode())
PY

# turbo_name: byte 0 even = a signed name as sent, odd = a name the target signs
# (byte 0 / 2 picks the key). The signed ones are ActiveSupport's, with the
# target's bases ("b" * 128, "o" * 64).
d="$here/corpus/turbo_name"
rm -rf "$d" && mkdir -p "$d"
env -u RUBYOPT -u RUBYLIB -u GEM_HOME -u GEM_PATH /usr/bin/ruby - "$d" <<'RB'
require "json"
require "active_support"
require "active_support/key_generator"
require "active_support/message_verifier"
d = ARGV.fetch(0)
key = ActiveSupport::KeyGenerator.new("b" * 128, iterations: 1000).generate_key("turbo/signed_stream_verifier_key")
v = ActiveSupport::MessageVerifier.new(key, digest: "SHA256", serializer: JSON)
{ "room" => "gid://demo/Room/1:messages", "unicode" => "caf\u00e9:\u65e5\u672c", "hash" => { "a" => 1 } }.each do |name, value|
  File.binwrite(File.join(d, "signed_#{name}"), "\x00" + v.generate(value))
end
File.binwrite(File.join(d, "name_room"), "\x01gid://demo/Room/1:messages")
File.binwrite(File.join(d, "name_quotes"), "\x03a \"quoted\"\\ name\n")
File.binwrite(File.join(d, "name_empty"), "\x05")
RB

# cable_payload: what Rails' PostgreSQL adapter NOTIFYs (ActiveSupport::JSON.encode).
d="$here/corpus/cable_payload"
rm -rf "$d" && mkdir -p "$d"
env -u RUBYOPT -u RUBYLIB -u GEM_HOME -u GEM_PATH /usr/bin/ruby - "$d" <<'RB'
require "active_support"
require "active_support/json"
d = ARGV.fetch(0)
{ "turbo" => "<turbo-stream action=\"append\" target=\"m\"><template><p>caf\u00e9 & \u2028</p></template></turbo-stream>",
  "hash" => { "action" => "refresh" }, "number" => 42, "null" => nil, "lines" => "a\nb\r\nc" }.each do |name, value|
  File.binwrite(File.join(d, name), ActiveSupport::JSON.encode(value))
end
File.binwrite(File.join(d, "not_json"), "<p>plain</p>")
File.binwrite(File.join(d, "bom_string"), "\xEF\xBB\xBF\"x\"".b)
RB

# config_file: a file with every kind of value, and broken ones.
d="$here/corpus/config_file"
rm -rf "$d" && mkdir -p "$d"
printf '%s\n' '# demo' 'listen = "127.0.0.1:8080"' 'max-connections = 50000' 'jwt-require-exp = true' \
  'auth = ["proxy-header", "jwt"]' "snapshot-sql = '''" "SELECT 1" "'''" >"$d/all_kinds"
printf 'heartbeat = 1.5\n' >"$d/float"
printf 'listen = \n' >"$d/syntax"
printf '[[route]]\npath = "/live"\n[[route]]\npath = "/turbo"\nkey = "turbo-signed-stream"\n' >"$d/routes"
printf 'a = 1\na = 2\n' >"$d/duplicate"
printf '[\0ar=be t at1.5\n' >"$d/nul_in_header"  # toml++ 3.3 asserted on it
printf '[[# rode' >"$d/hash_in_header"  # so did this
printf 'jwt-r\357\273\232 = 1\n' >"$d/nonascii_bare_key"  # and this (toml++ reached __builtin_unreachable)
cp /dev/null "$d/bare_value_quote"; printf 'listen =1"256.0\357\273\257.0.1"\n' >"$d/bare_value_quote"  # a quote inside a bare value is no string
printf 'listen =1"256.'"'"'\357\273\257\n' >"$d/bare_value_dot_quote"
printf "a = t\\r\\r.\\r\\n" >"$d/cr_in_message"  # toml++ quotes the CR in its message
printf "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[2\\n" >"$d/deep_arrays"  # recursion: refused past 16 levels
printf "event = \"\"\"a \\\\\\n  \\303\\251\"\"\"\\n" >"$d/line_end_backslash"  # toml++ asked is_whitespace(é)
printf "a=+[\"u\\357\\273\\2724\\n\\ta" >"$d/bare_value_bracket"  # toml++ reads +[ as one bare value
printf "a = {n={n={n={n={n={n={n={n={n={n={n={n={n={n={n={n={n={n={n={n=1\\n" >"$d/deep_inline_tables"
printf -- '--config=/tmp/a\rb\0SSE_GATEWAY_CONFIG=/nonexistent\n' >"$here/corpus/config/config_path_cr"  # a CR in the path split the message
