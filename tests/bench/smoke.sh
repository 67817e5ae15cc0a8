#!/usr/bin/env bash
# CI smoke run of the load tools (ctest bench.smoke). No timing assertions.
#   smoke.sh SSE_LOAD SSE_NOTIFY_PUB SSE_GATEWAY SCRIPTS_DIR
# 1. A throwaway PostgreSQL and the gateway; 300 streams (150 users x 2);
#    a rate phase, a broadcast and a flat-out burst of NOTIFYs. Fails unless
#    every event reached every stream of its user exactly once and nothing
#    else arrived (lost = misrouted = duplicates = malformed = 0).
# 2. sse-load against sse_fixture.py: chunked and close-delimited bodies cut
#    into 1-7 byte pieces, CR / LF / CRLF lines, comments, multi-line data.
set -euo pipefail

[[ $# -eq 4 ]] || { echo "usage: $0 SSE_LOAD SSE_NOTIFY_PUB SSE_GATEWAY SCRIPTS_DIR" >&2; exit 2; }
load_bin=$1
pub_bin=$2
gateway_bin=$3
scripts=$4
here=$(cd "$(dirname "$0")" && pwd)

users=150
per_user=2
secret=smoke-secret-$$-0123456789abcdef0123456789  # at least the 32 bytes a proxy secret needs

# shellcheck source=bench_lib.sh
source "$here/bench_lib.sh"
log() { printf '[bench.smoke] %s\n' "$*" >&2; }
tmp=$(mktemp -d /tmp/sse-bench-smoke.XXXXXX)
chmod 755 "$tmp" # tmp-postgres.sh runs the server as the postgres user
gateway_pid=
fixture_pid=
load_pid= # bash unsets RUN_PID as soon as the coprocess exits: keep our own copy

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$load_pid"
  stop_pid "$gateway_pid"
  stop_pid "$fixture_pid"
  bash "$scripts/tmp-postgres.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  if ((rc != 0)); then
    log "FAILED; logs:"
    for f in "$tmp"/*.log "$tmp"/*.err; do
      [[ -s $f ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { log "FAIL: $*"; exit 1; }

die() { fail "$@"; }
field() { json_field "$1" "$2" | tr '[:upper:]' '[:lower:]'; } # json field; True -> true

expected=0
publish() { # mode args...
  local out mode=$1
  shift
  out=$("$pub_bin" --database-url "$db_url" --users "1-$users" --mode "$mode" --state "$tmp/state" "$@" \
        2>>"$tmp/pub.err") || fail "publisher ($mode) failed: $out"
  expected=$((expected + $(field "$out" sent) * per_user))
}

sync_all() {
  local reply
  send "sync $expected 60"
  reply=$(receive 90)
  [[ $(field "$reply" ok) == true ]] || fail "only $(field "$reply" received) of $expected events arrived"
}

# Checks a report: every count as expected, the rest zero.
check_report() { # report expected_streams expected_events
  /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
streams, events = int(sys.argv[2]), int(sys.argv[3])
want = {"established": streams, "failed": 0, "dropped": 0, "events": events, "received": events,
        "lost": 0, "misrouted": 0, "duplicates": 0, "malformed": 0}
bad = ["%s=%s (want %s)" % (k, r.get(k), v) for k, v in want.items() if r.get(k) != v]
for p in r.get("phases", []):
    for k in ("lost", "misrouted", "duplicates"):
        if p.get(k):
            bad.append("phase %s: %s=%s" % (p["name"], k, p[k]))
if bad:
    print("; ".join(bad))
    sys.exit(1)
EOF
}

# ---- 1. against the gateway ------------------------------------------------------
db_url=$(bash "$scripts/tmp-postgres.sh" start "$tmp/pg") || fail "cannot start PostgreSQL"
: >"$tmp/gateway.log" # a background job opens its redirections later: the polls below must find a file
"$gateway_bin" --listen 127.0.0.1:0 --database-url "$db_url" --proxy-secret "$secret" --threads 2 \
  --heartbeat 15 >"$tmp/gateway.log" 2>&1 &
gateway_pid=$!
port=
for ((i = 0; i < 300; i++)); do
  port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/gateway.log" | head -1)
  [[ -n $port ]] && break
  kill -0 "$gateway_pid" 2>/dev/null || fail "the gateway exited"
  sleep 0.1
done
[[ -n $port ]] || fail "the gateway never logged its port"
log "gateway on port $port; opening $((users * per_user)) streams"

coproc RUN { exec "$load_bin" --port "$port" --users "1-$users" --per-user "$per_user" \
  --header 'X-User-Id: {user}' --header "X-Gateway-Secret: $secret" \
  --sources 127.0.0.2-127.0.0.3 --workers 2 --establish-timeout 60 --server-pid "$gateway_pid" \
  2>>"$tmp/load.err"; }
load_pid=$RUN_PID
ready=$(receive 120)
[[ $(field "$ready" established) == $((users * per_user)) && $(field "$ready" failed) == 0 ]] ||
  fail "streams not established: $ready"

send "phase rate"; receive 10 >/dev/null
publish rate --rate 1000 --count 400 --seed 7
sync_all
send "phase broadcast"; receive 10 >/dev/null
publish broadcast
sync_all
send "phase flat"; receive 10 >/dev/null
publish flat --count 2000 --seed 8
sync_all
sleep 0.5 # anything extra (a duplicate, a misrouted event) has time to show up
send "report $tmp/state"
report=$(receive 60)
send quit
wait "$load_pid" || fail "sse-load exited with status $? (a sanitizer report is in the log)"
load_pid=
problems=$(check_report "$report" $((users * per_user)) "$expected") || fail "gateway run: $problems"
log "gateway: $expected events, each exactly once at the right stream"
stop_pid "$gateway_pid"
gateway_pid=

# ---- 2. the parser against awkward framing ------------------------------------------
fixture_events=40
fixture_users=20
: >"$tmp/fixture.port"
/usr/bin/python3 "$here/sse_fixture.py" "$fixture_events" >"$tmp/fixture.port" 2>>"$tmp/fixture.err" &
fixture_pid=$!
fixture_port=
for ((i = 0; i < 300; i++)); do
  fixture_port=$(head -1 "$tmp/fixture.port")
  [[ -n $fixture_port ]] && break
  kill -0 "$fixture_pid" 2>/dev/null || fail "sse_fixture.py exited"
  sleep 0.1
done
[[ -n $fixture_port ]] || fail "sse_fixture.py did not start"
for ((u = 1; u <= fixture_users; u++)); do echo "$u $fixture_events"; done >"$tmp/fixture.state"
coproc RUN { exec "$load_bin" --port "$fixture_port" --users "1-$fixture_users" --path '/sub/{user}' \
  --sources 127.0.0.2 --establish-timeout 60 2>>"$tmp/load-fixture.err"; }
load_pid=$RUN_PID
ready=$(receive 60)
[[ $(field "$ready" established) == "$fixture_users" ]] || fail "fixture streams not established: $ready"
expected=$((fixture_users * fixture_events))
send "phase all"; receive 10 >/dev/null
sync_all
send "report $tmp/fixture.state"
report=$(receive 60)
send quit
wait "$load_pid" || fail "sse-load exited with status $? (a sanitizer report is in the log)"
load_pid=
problems=$(check_report "$report" "$fixture_users" "$expected") || fail "fixture run: $problems"
log "parser: $expected events over chunked and close-delimited streams, all intact"
log "PASS"
