#!/usr/bin/env bash
# Scale-out: R gateway replicas on one PostgreSQL, per-user and shared channel
# mode, what each costs PostgreSQL and the gateways per notification, the
# latency across every replica's streams, and one replica's re-LISTEN while the
# others hold their users. Fits scaling.md's cost model to the figures.
#
#   flock /tmp/bench.lock bash tests/bench/scaleout.sh --repeat 3   # full size: 19,000 streams per replica
#   bash tests/bench/scaleout.sh --small --repeat 3                 # 2,000 per replica, short phases
#   bash tests/bench/scaleout.sh --help
#
# One throwaway PostgreSQL (scripts/tmp-postgres.sh) for the whole run. Per
# round, per R in --replicas, per mode (interleaved: round 1 runs every
# configuration, then round 2...):
#   start R gateways, one port each (127.0.0.1:0), and find each one's LISTEN
#   backend (application_name sse-gateway) ->
#   one sse-load over all of them (--ports: replica i holds users
#   (i-1)*S+1 .. i*S, one stream each, as a load balancer would spread them;
#   workers of <= 9,500 streams each, under the 20,000 open-file limit) ->
#   idle phase (the cost of holding the streams: heartbeats) ->
#   rate phase: --rate NOTIFY/s for --rate-seconds to random users of all R*S
#   (latency across every stream; utime+stime from /proc of every gateway and of
#   every listening backend over the phase) ->
#   re-LISTEN: pg_terminate_backend() on replica 1's LISTEN connection while the
#   others keep theirs (relisten_probe.py, the method of relisten.sh): time to
#   its /readyz 200, split by its log, then one NOTIFY per user of replica 1 at
#   that moment, to every one of its streams ->
#   every stream checked for lost, duplicated and misrouted events.
# CPU is read both ways at each phase start: utime + stime (/proc/PID/stat, by
# sse-load) and the schedstat run time in ns (/proc/PID/task/*/schedstat, here);
# the model is fitted to the latter, whose resolution short phases need.
# scaleout_report.py turns the per-configuration JSON lines into medians with
# their spread (min-max over the rounds), the fitted cost model, the crossover
# between the modes and a sizing table. Any stream dropped or failed, or any
# event lost, duplicated or misrouted, makes the exit status 1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

streams=19000
replicas=1,2,4
modes=per-user,shared
rate=1000
rate_seconds=15
idle_seconds=10
repeat=1
gateway_threads=1
gateway_flags=
shared_channel=sse_gateway_events
sources=127.0.0.2-127.0.0.5
workers=
build_dir=$root/build
keep=0
json_out=
markdown=
report_flags=
poll_ms=10
secret=scaleout-secret-$$-0123456789abcdef0123456789  # at least the 32 bytes a proxy secret needs
command_line="bash tests/bench/scaleout.sh$(printf " %q" "$@")"

usage() {
  cat <<EOF
usage: $0 [options]
  --streams S            streams per replica, one per user (default $streams)
  --replicas L           comma list of replica counts (default $replicas)
  --modes L              comma list of per-user, shared (default $modes)
  --rate R               NOTIFY/s in the rate phase (default $rate)
  --rate-seconds T       length of the rate phase (default $rate_seconds)
  --idle-seconds T       length of the idle phase before it (default $idle_seconds)
  --repeat N             rounds, interleaved; the report shows medians and the
                         min-max spread (default $repeat; 3 or more for a result)
  --small                --streams 2000 --rate-seconds 5 --idle-seconds 3
  --smoke                --streams 100 --replicas 1,2 --rate 200 --rate-seconds 1
                         --idle-seconds 1 (the CI check: it runs and loses nothing)
  --gateway-threads T    each replica's --threads (default $gateway_threads: a replica
                         is a one-CPU pod; R of them share this machine's cores)
  --gateway-flags "F"    extra sse-gateway flags (after the defaults, so they override them)
  --sources RANGE        client source addresses (default $sources)
  --workers W            sse-load processes (default: one per 9,500 streams)
  --build-dir DIR        CMake build tree holding sse-gateway, sse-load and
                         sse-notify-pub (default build/); this script never builds
  --json FILE            also write the raw JSON lines (meta + one per configuration
                         and round) to FILE; scaleout_report.py table FILE redoes the report
  --markdown FILE        also write the report to FILE
  --report-flags "F"     extra scaleout_report.py flags (e.g. "--users-per-replica 10000")
  --keep                 keep the temp dir (gateway logs, raw JSON, /metrics)
Hold /tmp/bench.lock around runs over 1,000 streams on a shared machine.
EOF
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --streams) streams=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rate-seconds) rate_seconds=$2; shift 2 ;;
    --idle-seconds) idle_seconds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --small) streams=2000; rate_seconds=5; idle_seconds=3; shift ;;
    --smoke) streams=100; replicas=1,2; rate=200; rate_seconds=1; idle_seconds=1; shift ;;
    --gateway-threads) gateway_threads=$2; shift 2 ;;
    --gateway-flags) gateway_flags=$2; shift 2 ;;
    --sources) sources=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --json) json_out=$(realpath -m "$2"); shift 2 ;;
    --markdown) markdown=$(realpath -m "$2"); shift 2 ;;
    --report-flags) report_flags=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "scaleout.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
bad() { echo "scaleout.sh: $*" >&2; exit 2; }
[[ $streams =~ ^[0-9]+$ ]] && (( streams >= 1 )) || bad "bad --streams $streams"
[[ $repeat =~ ^[0-9]+$ ]] && (( repeat >= 1 )) || bad "bad --repeat $repeat"
IFS=, read -r -a replica_list <<<"$replicas"
for r in "${replica_list[@]}"; do [[ $r =~ ^[1-9][0-9]*$ ]] || bad "bad replica count $r"; done
IFS=, read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do [[ $m == per-user || $m == shared ]] || bad "unknown mode $m"; done

# shellcheck source=bench_lib.sh
source "$here/bench_lib.sh"
log() { printf '[scaleout %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

check_setup "$build_dir" "$streams" gateway/sse-gateway tests/bench/sse-load tests/bench/sse-notify-pub

# ---- temp dir, cleanup -----------------------------------------------------------
make_tmp scaleout
pg_dir=$tmp/pg
gw_pids=()

stop_gateways() {
  local p
  for p in "${gw_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${gw_pids[@]}"; do stop_pid "$p" TERM 30; done
  gw_pids=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n ${RUN_PID:-} ]]; then stop_pid "$RUN_PID" TERM 5; fi
  RUN_PID=
  stop_gateways
  finish_run "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_binaries "$build_dir"
probe() { POLL_MS=$poll_ms /usr/bin/python3 "$here/relisten_probe.py" "$@"; }
report() { /usr/bin/python3 "$here/scaleout_report.py" "$@"; }

# A phase starts: sse-load samples /proc/PID/stat (utime + stime, 10 ms ticks) of
# the gateways and the LISTEN backends; the same moment's schedstat (ns) goes to
# RUN_DIR/cpu_ns as "PHASE GATEWAYS_NS BACKENDS_NS WALL_SECONDS".
begin_phase() { # run-dir name
  printf '%s %s %s %s\n' "$2" "$(cpu_ns_sum "${gw_pids[@]}")" "$(cpu_ns_sum "${bpids[@]}")" "$EPOCHREALTIME" \
    >>"$1/cpu_ns"
  send "phase $2"
  receive 30 >/dev/null
}

save_metrics() { # dir when: each replica's /metrics
  local i
  for i in "${!ports[@]}"; do
    curl -sf "http://127.0.0.1:${ports[$i]}/metrics" >"$1/gw$((i + 1)).$2.metrics" 2>/dev/null || true
  done
}

# ---- one configuration: R replicas in one mode -------------------------------------
run_config() { # replicas mode
  local nrep=$1 mode=$2 run flags=() pub=() extra=() channels r pid port known b new=() users
  local ready reply state bpid_list gpid_list
  run=$tmp/round$round-R$nrep-$mode
  label="round $round R=$nrep $mode"
  mkdir -p "$run"
  users=$((nrep * streams))
  channel_mode_setup "$mode" "$streams" "$db_url" "$shared_channel"
  read -r -a extra <<<"$gateway_flags"
  ports=()
  bpids=()
  for ((r = 1; r <= nrep; r++)); do
    known=" $(gateway_backend_pids "$db_url" | tr '\n' ' ') "
    "$gateway_bin" --listen 127.0.0.1:0 --database-url "$db_url" --proxy-secret "$secret" --heartbeat 15 \
      --threads "$gateway_threads" "${flags[@]}" "${extra[@]}" >"$run/gw$r.log" 2>&1 &
    pid=$!
    gw_pids+=("$pid")
    port=$(wait_for_port_in_log "$run/gw$r.log" "$pid") || die "$label: replica $r did not start: $(tail -3 "$run/gw$r.log")"
    wait_ready "$port" || die "$label: replica $r never became ready"
    ports+=("$port")
    # Its LISTEN backend: the one that was not there before it started.
    new=()
    for b in $(gateway_backend_pids "$db_url"); do [[ $known == *" $b "* ]] || new+=("$b"); done
    (( ${#new[@]} == 1 )) || die "$label: replica $r: expected one new LISTEN backend, found ${#new[@]}"
    bpids+=("${new[0]}")
  done
  gpid_list=$(IFS=,; echo "${gw_pids[*]}")
  bpid_list=$(IFS=,; echo "${bpids[*]}")
  local backend_rss_before backend_rss_ready
  backend_rss_before=$(rss_kb_sum "${bpids[@]}")

  log "$label: ports ${ports[*]}, LISTEN backends ${bpids[*]}; opening $users streams"
  local load=("$load_bin" --ports "$(IFS=,; echo "${ports[*]}")" --users "1-$users" --per-user 1 --sources "$sources"
              --header 'X-User-Id: {user}' --header "X-Gateway-Secret: $secret"
              --server-pid "$gpid_list" --backend-pid "$bpid_list")
  [[ -n $workers ]] && load+=(--workers "$workers")
  coproc RUN { exec "${load[@]}" 2>>"$run/load.err"; }
  ready=$(receive 900)
  printf '%s\n' "$ready" >"$run/ready.json"
  log "$label: $(json_field "$ready" established) established, $(json_field "$ready" failed) failed, in $(json_field "$ready" establish_s) s"
  [[ $(json_field "$ready" established) == "$users" ]] || die "$label: not every stream opened: $ready"
  backend_rss_ready=$(rss_kb_sum "${bpids[@]}")

  # Idle: what holding the streams costs (heartbeats), subtracted from the rate phase.
  begin_phase "$run" idle
  sleep "$idle_seconds"
  state=$run/state
  begin_phase "$run" rate
  "$pub_bin" "${pub[@]}" --users "1-$users" --mode rate --rate "$rate" --duration "$rate_seconds" --seed "$round" \
    --state "$state" >"$run/rate-pub.json" 2>>"$run/pub.err" || die "$label: publisher failed: $(tail -2 "$run/pub.err")"
  send "sync $state 60"; reply=$(receive 90)
  [[ $(json_field "$reply" ok) == True ]] || log "$label: $(json_field "$reply" missing) events missing after the rate phase"
  save_metrics "$run" rate

  # Re-LISTEN: replica 1 loses its LISTEN connection while the others hold theirs.
  begin_phase "$run" relisten
  log "$label: terminating replica 1's LISTEN connection (backend ${bpids[0]})"
  probe cut "${ports[0]}" "$db_url" "$channels" "${bpids[0]}" "$run/cut.json" \
    "$pub_bin" "${pub[@]}" --users "1-$streams" --mode broadcast --state "$state" || die "$label: the cut failed"
  send "sync $state 120"; reply=$(receive 160)
  [[ $(json_field "$reply" ok) == True ]] || log "$label: $(json_field "$reply" missing) events missing after the re-LISTEN"
  send "report $state"
  receive 120 >"$run/report.json"
  save_metrics "$run" end
  send quit
  wait "$RUN_PID" 2>/dev/null || true
  RUN_PID=
  stop_gateways

  /usr/bin/python3 - "$run/meta.json" "$round" "$nrep" "$mode" "$streams" "$rate" "$rate_seconds" "$idle_seconds" \
    "$gateway_threads" "$backend_rss_before" "$backend_rss_ready" <<'EOF'
import json, sys
a = sys.argv
json.dump({"round": int(a[2]), "replicas": int(a[3]), "mode": a[4], "streams_per_replica": int(a[5]),
           "rate": float(a[6]), "rate_seconds": float(a[7]), "idle_seconds": float(a[8]), "threads": int(a[9]),
           "backend_rss_before_kb": int(a[10]), "backend_rss_ready_kb": int(a[11]),
           "load": open("/proc/loadavg").read().split()[:3]},
          open(a[1], "w"))
EOF
  report summary "$run" >>"$results"
  log "$label: $(report brief "$(tail -1 "$results")")"
}

# ---- run ---------------------------------------------------------------------------
results=$tmp/results.jsonl
src_state=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "?")
# Without git (a source tarball, a fresh container) these are "?" and empty.
dirty=$({ git -C "$root" status --porcelain -- gateway common CMakeLists.txt 2>/dev/null || true; } |
        awk '{print $2}' | tr '\n' ' ')
# A binary older than the last commit to its sources was not built from this commit.
stale=0
(( $(git -C "$root" log -1 --format=%ct -- gateway common CMakeLists.txt 2>/dev/null || echo 0) >
   $(stat -c %Y "$build_dir/gateway/sse-gateway") )) && stale=1
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
report meta "$command_line" "$load_at_start" "$src_state" "$dirty" "$stale" "$build_dir" >"$results"
log "machine: $(nproc) cores, load $load_at_start; $streams streams per replica, replicas $replicas, modes $modes, $repeat round(s)"
[[ -z $dirty ]] || log "note: uncommitted changes in the gateway's sources: $dirty"
(( ! stale )) || log "note: $build_dir/gateway/sse-gateway is older than the last commit to its sources"
db_url=$(bash "$root/scripts/tmp-postgres.sh" start "$pg_dir") || die "cannot start PostgreSQL"
log "PostgreSQL at $db_url"

for ((round = 1; round <= repeat; round++)); do
  for nrep in "${replica_list[@]}"; do
    for mode in "${mode_list[@]}"; do
      run_config "$nrep" "$mode"
    done
  done
done

report end "$results" >>"$results"
[[ -n $json_out ]] && cp "$results" "$json_out"
rc=0
read -r -a rflags <<<"$report_flags"
report table "$results" ${markdown:+--markdown "$markdown"} "${rflags[@]}" || rc=$?
exit "$rc"
