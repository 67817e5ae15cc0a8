#!/usr/bin/env bash
# Re-LISTEN after a reconnect: what losing the LISTEN connection costs with N
# connected users, in per-user channel mode and in shared channel mode.
#
#   bash tests/bench/relisten.sh                 # 19,000 streams (1 per user), both modes
#   bash tests/bench/relisten.sh --small         # 600 streams
#   bash tests/bench/relisten.sh --help
#
# Per mode: a fresh PostgreSQL and gateway -> open N streams with sse-load,
# timing the set-up from the first connection to every channel listened and
# every stream live (polling /metrics every 10 ms) -> one event per user as a
# baseline -> pg_terminate_backend() on the gateway's LISTEN connection, then
# poll /readyz and /metrics every 10 ms until /readyz answers 200 again (it does
# only once every wanted LISTEN is confirmed: listener::update_ready() ==
# connected && listen_set::settled()) -> at that moment one NOTIFY per user
# (sse-notify-pub --mode broadcast) -> wait until every stream has its event.
# The gateway's own log lines ("database connection lost", "database
# connected") split the gap into noticing the loss, the reconnect backoff (250 ms
# ceiling with jitter, so 125-250 ms on the first attempt) and the re-LISTEN.
# Streams must stay open throughout: any stream dropped, or any event lost,
# duplicated or misrouted, fails the run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

streams=19000
modes=per-user,shared
gateway_threads=2
shared_channel=sse_gateway_events
sources=127.0.0.2-127.0.0.5
workers=
gateway_flags=
build_dir=$root/build
keep=0
json_out=
poll_ms=10
secret=relisten-secret-$$-0123456789abcdef0123456789  # at least the 32 bytes a proxy secret needs
command_line="bash tests/bench/relisten.sh$(printf " %q" "$@")"

usage() {
  cat <<EOF
usage: $0 [options]
  --streams N            streams, one per user (default $streams)
  --small                --streams 600
  --modes L              comma list of per-user, shared (default $modes)
  --gateway-threads T    the gateway's --threads (default $gateway_threads)
  --gateway-flags "F"    extra sse-gateway flags (after the defaults, so they override them)
  --sources RANGE        client source addresses (default $sources)
  --workers W            sse-load processes (default: one per 9,500 streams)
  --build-dir DIR        CMake build tree holding the binaries (default build/);
                         this script never builds: build the targets sse-gateway,
                         sse-load and sse-notify-pub first
  --json FILE            also write every mode's figures (one JSON line each) to FILE
  --keep                 keep the temp dir (gateway logs, raw JSON)
Take /tmp/bench.lock around full-size runs on a shared machine:
  flock /tmp/bench.lock bash tests/bench/relisten.sh
EOF
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --streams) streams=$2; shift 2 ;;
    --small) streams=600; shift ;;
    --modes) modes=$2; shift 2 ;;
    --gateway-threads) gateway_threads=$2; shift 2 ;;
    --gateway-flags) gateway_flags=$2; shift 2 ;;
    --sources) sources=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --json) json_out=$(realpath -m "$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "relisten.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $streams =~ ^[0-9]+$ ]] && (( streams >= 1 )) || { echo "relisten.sh: bad --streams $streams" >&2; exit 2; }
IFS=, read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do
  [[ $m == per-user || $m == shared ]] || { echo "relisten.sh: unknown mode $m" >&2; exit 2; }
done

# shellcheck source=bench_lib.sh
source "$here/bench_lib.sh"
log() { printf '[relisten %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

check_setup "$build_dir" "$streams" gateway/sse-gateway tests/bench/sse-load tests/bench/sse-notify-pub

# ---- temp dir, cleanup -----------------------------------------------------------
make_tmp relisten
server_pid=
poller_pid=
pg_dir=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$poller_pid" TERM 2
  finish_run "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_binaries "$build_dir"

# ---- the probe (relisten_probe.py): polls the gateway, cuts the LISTEN connection, sums up
probe=$here/relisten_probe.py
py() { POLL_MS=$poll_ms /usr/bin/python3 "$probe" "$@"; }

# ---- the receiver: sse-load as a coprocess, commands in, one JSON line back ------------
results=$tmp/results.jsonl
: >"$results"
users=$streams
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, load $load_at_start; $streams streams, modes $modes"

run_mode() { # mode
  local mode=$1 flags=() pub=() extra=() channels ready state reply report port
  label=$mode
  channel_mode_setup "$mode" "$users" "$db_url" "$shared_channel"
  read -r -a extra <<<"$gateway_flags"
  "$gateway_bin" --listen 127.0.0.1:0 --database-url "$db_url" --proxy-secret "$secret" --heartbeat 15 \
    --threads "$gateway_threads" "${flags[@]}" "${extra[@]}" >"$tmp/$label.log" 2>&1 &
  server_pid=$!
  port=$(wait_for_port_in_log "$tmp/$label.log" "$server_pid") || die "gateway did not start: $(tail -3 "$tmp/$label.log")"
  wait_ready "$port" || die "$label: the gateway never became ready"

  # Set-up: the poller watches /metrics from before the first connection.
  rm -f "$tmp/$label.setup.json.started"
  py setup "$port" "$channels" "$streams" "$tmp/$label.setup.json" 900 &
  poller_pid=$!
  for ((i = 0; i < 100; i++)); do [[ -f $tmp/$label.setup.json.started ]] && break; sleep 0.05; done
  [[ -f $tmp/$label.setup.json.started ]] || die "$label: the poller did not start"
  log "$label: opening $streams streams"
  local load=("$load_bin" --port "$port" --users "1-$users" --per-user 1 --sources "$sources"
              --header 'X-User-Id: {user}' --header "X-Gateway-Secret: $secret" --server-pid "$server_pid")
  [[ -n $workers ]] && load+=(--workers "$workers")
  coproc RUN { exec "${load[@]}" 2>>"$tmp/$label.load.err"; }
  ready=$(receive 900)
  printf '%s\n' "$ready" >"$tmp/$label.ready.json"
  log "$label: $(json_field "$ready" established) established, $(json_field "$ready" failed) failed, in $(json_field "$ready" establish_s) s"
  [[ $(json_field "$ready" established) == "$streams" ]] || die "$label: not every stream opened: $ready"
  wait "$poller_pid" || die "$label: the set-up poller failed"
  poller_pid=

  # Baseline: one event per user with the connection untouched.
  state=$tmp/$label.state
  send "phase baseline"; receive 30 >/dev/null
  "$pub_bin" "${pub[@]}" --users "1-$users" --mode broadcast --state "$state" >"$tmp/$label.baseline-pub.json" \
    2>>"$tmp/$label.pub.err" || die "$label: baseline publish failed"
  send "sync $state 120"; reply=$(receive 160)
  [[ $(json_field "$reply" ok) == True ]] || die "$label: baseline events missing: $reply"
  sleep 1

  # The cut: the probe terminates the LISTEN backend, waits for /readyz 200 and
  # publishes one event per user at once.
  send "phase relisten"; receive 30 >/dev/null
  log "$label: terminating the LISTEN connection"
  py cut "$port" "$db_url" "$channels" 0 "$tmp/$label.cut.json" \
    "$pub_bin" "${pub[@]}" --users "1-$users" --mode broadcast --state "$state" || die "$label: the cut failed"
  send "sync $state 120"; reply=$(receive 160)
  [[ $(json_field "$reply" ok) == True ]] || log "$label: $(json_field "$reply" missing) events missing after the reconnect"
  send "report $state"
  report=$(receive 120)
  printf '%s\n' "$report" >"$tmp/$label.report.json"
  send quit
  wait "$RUN_PID" 2>/dev/null || true
  RUN_PID=
  py summary "$mode" "$streams" "$channels" "$tmp/$label.ready.json" "$tmp/$label.setup.json" \
    "$tmp/$label.cut.json" "$tmp/$label.report.json" "$tmp/$label.log" >>"$results"
  log "$label: $(tail -1 "$results")"
  stop_pid "$server_pid" TERM 30
  server_pid=
}

for mode in "${mode_list[@]}"; do
  pg_dir=$tmp/pg-$mode
  db_url=$(bash "$root/scripts/tmp-postgres.sh" start "$pg_dir") || die "cannot start PostgreSQL"
  log "$mode: PostgreSQL at $db_url"
  run_mode "$mode"
  bash "$root/scripts/tmp-postgres.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  pg_dir=
done

[[ -n $json_out ]] && cp "$results" "$json_out"
rc=0
py table "$results" "$command_line" "$load_at_start" || rc=$?
exit "$rc"
