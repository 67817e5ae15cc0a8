#!/usr/bin/env bash
# Side-by-side benchmark: sse-gateway vs nginx+nchan vs a minimal relay
# (sse-relay: one LISTEN connection, each payload written as a data: line) vs
# the raw PostgreSQL LISTEN floor, the same workload against each in one run,
# one table out. Opt-in Turbo pair (issue 20 section 8): gateway-turbo (a --config
# with the Authy route and a Turbo route; streams spread over --rooms, each with
# its room's signed stream name; 4 KiB Turbo Stream HTML NOTIFYed as Action Cable
# does) and nchan-turbo (the same rooms and HTML, POSTed). With the relay, the
# gateway's latency is judged against it round by round (issue 19 section 8:
# --repeat 5 or more).
#
#   bash tests/bench/compare.sh                 # full size: 19,000 streams
#   bash tests/bench/compare.sh --small         # 600 streams, short phases
#   bash tests/bench/compare.sh --help
#
# Per target: open the streams (timed) -> idle (server RSS per stream) ->
# rate phase (NOTIFY/POST at --rate to random users: latency) -> broadcast (one
# event per user back to back: time to the last) -> [gateway only: one NOTIFY on
# the broadcast channel (time to the last stream), then --fanout of them back to
# back (fan-out throughput)] -> flat out (throughput, CPU per event).
# Every event is checked for loss, duplication and misrouting.
# Installs nginx + libnginx-mod-nchan with apt-get when missing (needs root).
# Run as root (or a user allowed to run nginx and tmp-postgres.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

streams=19000
per_user=1
rate=1000
rate_seconds=15
flat_seconds=5
idle_seconds=5
gateway_threads=2,1
fanout=10
rooms=5000
payload_bytes=4096
targets=gateway,gateway-shared,nchan,relay,floor,floor-shared
shared_channel=sse_gateway_events
broadcast_channel=
sources=127.0.0.2-127.0.0.5
workers=
repeat=1
gateway_flags=
build_dir=$root/build
baseline_bin=
baseline_flags=
do_build=1
keep=0
markdown=
json_dir=
secret=bench-secret-$$-0123456789abcdef0123456789  # at least the 32 bytes a proxy secret needs
command_line="bash tests/bench/compare.sh$(printf " %q" "$@")"

usage() {
  cat <<EOF
usage: $0 [options]
  --streams N            streams per target (default $streams)
  --per-user K           streams per user (default $per_user); users = N / K
  --rate R               NOTIFY/s in the latency phase (default $rate)
  --rate-seconds S       length of the latency phase (default $rate_seconds)
  --flat-seconds S       length of the flat-out phase (default $flat_seconds)
  --idle-seconds S       settle time before the idle RSS sample (default $idle_seconds)
  --gateway-threads L    comma list; one gateway run per value (default $gateway_threads)
  --fanout N             NOTIFYs on the gateway's broadcast channel, back to back
                         (each goes to every stream: the fan-out throughput that
                         --threads should grow; default $fanout, 0 skips it)
  --targets L            comma list of gateway (per-user channels, one run per
                         --gateway-threads value), gateway-shared (--channel-mode
                         shared + a broadcast channel, same thread counts), nchan,
                         relay (sse-relay, the least a NOTIFY-to-SSE relay does:
                         the gateway's latency is judged against it per round),
                         floor, floor-shared (default $targets);
                         also gateway-turbo (the gateway with a --config holding the
                         Authy route and a Turbo route /live/turbo: the streams on
                         the Turbo route, spread over --rooms rooms, each opened with
                         its room's signed stream name; the events are Turbo Stream
                         HTML of --payload-bytes, NOTIFYed on the room's cable channel
                         as Action Cable encodes them; --gateway-threads applies) and
                         nchan-turbo (nchan, the same rooms, the same HTML POSTed to
                         /pub/<room>)
  --rooms N              Turbo rooms (default $rooms; at most --streams; stream i is
                         in room 1 + i mod N)
  --payload-bytes N      Turbo HTML size in bytes (default $payload_bytes)
  --sources RANGE        client source addresses (default $sources)
  --workers W            sse-load processes (default: one per 9,500 streams)
  --gateway-flags "F"    extra sse-gateway flags for every gateway run (after the
                         defaults, so they override them), e.g. "--heartbeat 600"
  --repeat N             run every target N times, interleaved, each round starting
                         at the next target (use a multiple of their number); the table shows
                         the median of each figure (default 1)
  --baseline-bin PATH    also run this sse-gateway binary (say, an older commit's
                         build) as gateway-tN-baseline right after each gateway run,
                         interleaved in every round: a regression shows side by side
  --baseline-flags "F"   extra sse-gateway flags for the baseline runs only: with
                         --baseline-bin the same binary, another setting is compared
  --build-dir DIR        CMake build tree (default build/; created with scripts/build.sh)
  --no-build             use the binaries already in the build tree
  --small                --streams 600 --rooms 150 --rate-seconds 3 --flat-seconds 2
                         --idle-seconds 1
  --markdown FILE        also write the report to FILE
  --json-dir DIR         keep every raw JSON line here, and the gateway's /metrics
                         after the rate phase and at the end
  --keep                 keep the temp dir (logs, configs)
EOF
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --streams) streams=$2; shift 2 ;;
    --per-user) per_user=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rate-seconds) rate_seconds=$2; shift 2 ;;
    --flat-seconds) flat_seconds=$2; shift 2 ;;
    --idle-seconds) idle_seconds=$2; shift 2 ;;
    --gateway-threads) gateway_threads=$2; shift 2 ;;
    --fanout) fanout=$2; shift 2 ;;
    --rooms) rooms=$2; shift 2 ;;
    --payload-bytes) payload_bytes=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --sources) sources=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --gateway-flags) gateway_flags=$2; shift 2 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --baseline-bin) baseline_bin=$(realpath -m "$2"); shift 2 ;;
    --baseline-flags) baseline_flags=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --small) streams=600; rooms=150; rate_seconds=3; flat_seconds=2; idle_seconds=1; shift ;;
    --markdown) markdown=$(realpath -m "$2"); shift 2 ;;
    --json-dir) json_dir=$(realpath -m "$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
users=$((streams / per_user))
if (( users < 1 || users * per_user != streams )); then
  echo "compare.sh: --streams must be a multiple of --per-user" >&2; exit 2
fi
if [[ ,$targets, == *-turbo,* ]] && (( rooms < 1 || rooms > streams )); then
  echo "compare.sh: --rooms must be between 1 and --streams" >&2; exit 2
fi

# shellcheck source=bench_lib.sh
source "$here/bench_lib.sh"
log() { printf '[compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- what it needs -------------------------------------------------------------
find_nchan() {
  local d
  for d in /usr/lib/nginx/modules /usr/share/nginx/modules; do
    [[ -f $d/ngx_nchan_module.so ]] && { echo "$d/ngx_nchan_module.so"; return 0; }
  done
  return 1
}
if [[ ,$targets, == *,nchan,* || ,$targets, == *,nchan-turbo,* ]] && { [[ ! -x /usr/sbin/nginx ]] || ! find_nchan >/dev/null; }; then
  [[ $(id -u) -eq 0 ]] || die "nginx and libnginx-mod-nchan are missing and installing them needs root"
  log "installing nginx libnginx-mod-nchan"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends nginx libnginx-mod-nchan >/dev/null ||
    { apt-get update -qq && apt-get install -y --no-install-recommends nginx libnginx-mod-nchan >/dev/null; }
  # The distribution's own nginx service is not ours: leave it stopped.
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
  fi
fi
nchan_so=$(find_nchan || true)

if (( do_build )); then
  if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    log "configuring $build_dir"
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  log "building the gateway and the bench tools in $build_dir"
  cmake --build "$build_dir" -j"$(nproc)" --target sse-gateway sse-load sse-notify-pub sse-pg-floor sse-relay >/dev/null
fi
gateway_bin=$build_dir/gateway/sse-gateway
load_bin=$build_dir/tests/bench/sse-load
pub_bin=$build_dir/tests/bench/sse-notify-pub
floor_bin=$build_dir/tests/bench/sse-pg-floor
relay_bin=$build_dir/tests/bench/sse-relay
for b in "$gateway_bin" "$load_bin" "$pub_bin" "$floor_bin" "$relay_bin" ${baseline_bin:+"$baseline_bin"}; do
  [[ -x $b ]] || die "missing $b (build first or drop --no-build)"
done

# Every process here holds up to ~19,000 sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= 19500 || streams < 15000 )) ||
  die "open-file limit $(ulimit -n) is too low for $streams streams in one server process"

# ---- temp dir, cleanup -----------------------------------------------------------
tmp=$(mktemp -d /tmp/sse-bench.XXXXXX)
chmod 755 "$tmp" # tmp-postgres.sh runs the server as the postgres user
server_pid=
pg_dir=$tmp/pg

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  finish_run "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ---- the driver: one workload against one receiver ---------------------------------
# The receiver (sse-load or sse-pg-floor) runs as a coprocess: commands in,
# one JSON line back for each.
results=$tmp/results.jsonl
: >"$results"

record() { # kind json
  printf '{"target":"%s","round":%d,"kind":"%s","data":%s}\n' "$label" "${round:-0}" "$1" "$2" >>"$results"
}

publish() { # mode extra-args...
  local mode=$1 out sent
  shift
  out=$("$pub_bin" "${pub_target[@]}" --users "1-$load_users" --mode "$mode" --state "$tmp/$label.r$round.state" "$@" \
        2>>"$tmp/$label.pub.err") || die "$label: publisher ($mode) failed: $out $(tail -2 "$tmp/$label.pub.err")"
  record "publish_$mode" "$out"
  sent=$(json_field "$out" sent)
  log "$label: $mode published $sent ($(json_field "$out" rate | cut -d. -f1)/s)"
}

phase() { # name
  send "phase $1"
  receive 30 >/dev/null
}

sync_all() { # seconds: wait until every open stream has everything published for its user
  local reply
  send "sync $tmp/$label.r$round.state $1"
  reply=$(receive $(($1 + 30)))
  record sync "$reply"
  [[ $(json_field "$reply" ok) == True ]] ||
    log "$label: $(json_field "$reply" missing) events still missing after $1 s"
}

run_workload() { # uses label, receiver_cmd, pub_target, broadcast_channel
  local ready report saved_target=("${pub_target[@]}")
  log "$label: opening $streams streams"
  coproc RUN { exec "${receiver_cmd[@]}" 2>>"$tmp/$label.receiver.err"; }
  ready=$(receive 900)
  record ready "$ready"
  log "$label: $(json_field "$ready" established) established, $(json_field "$ready" failed) failed, in $(json_field "$ready" establish_s) s"
  [[ $(json_field "$ready" established) -gt 0 ]] || die "$label: no stream could be opened: $(json_field "$ready" first_error)"

  phase idle
  sleep "$idle_seconds"
  phase rate
  publish rate --rate "$rate" --duration "$rate_seconds" --seed 1
  sync_all 60
  save_metrics rate
  # Events belong to the phase they were sent in, so no pause is needed between
  # phases; each phase's CPU window ends when the next one starts.
  phase broadcast
  publish broadcast
  sync_all 120
  if [[ -n $broadcast_channel ]]; then
    pub_target=(--database-url "$db_url" --channel-template "$broadcast_channel")
    phase broadcast_channel
    publish single --user 0
    sync_all 120
    if (( fanout > 0 )); then
      phase fanout
      publish single --user 0 --count "$fanout"
      sync_all 120
    fi
    pub_target=("${saved_target[@]}")
  fi
  phase flat
  publish flat --duration "$flat_seconds" --seed 2
  sync_all 300
  send "report $tmp/$label.r$round.state"
  report=$(receive 120)
  record report "$report"
  log "$label: lost $(json_field "$report" lost), misrouted $(json_field "$report" misrouted), duplicates $(json_field "$report" duplicates)"
  send quit
  wait "$RUN_PID" 2>/dev/null || true
  RUN_PID=
}

# The gateway's own view of the run so far (notify->write, loop time per tick), in
# Prometheus text: kept with --keep, copied to --json-dir. Other targets have none.
metrics_port=
save_metrics() { # when
  [[ -n $metrics_port ]] || return 0
  curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$tmp/$label.r$round.$1.metrics" 2>/dev/null || true
}

run_gateway() { # gateway flags...; uses label, pub_target; the binary is $run_bin or $gateway_bin
  local extra=()
  read -r -a extra <<<"$gateway_flags"
  "${run_bin:-$gateway_bin}" --listen 127.0.0.1:0 --database-url "$db_url" --proxy-secret "$secret" --heartbeat 15 "$@" \
    "${extra[@]}" >"$tmp/$label.log" 2>&1 &
  server_pid=$!
  port=$(wait_for_port_in_log "$tmp/$label.log" "$server_pid") || die "gateway did not start: $(tail -3 "$tmp/$label.log")"
  ready_endpoint "$port" /readyz || die "gateway never became ready"
  metrics_port=$port
  # The backend serving the gateway's LISTEN connection: its CPU share says whether
  # the database or the gateway is the bottleneck flat out.
  local backend
  backend=$(psql "$db_url" -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'sse-gateway'" | head -1)
  load_cmd "$port" "${gateway_load_args[@]}" ${backend:+--backend-pid "$backend"}
  run_workload
  save_metrics end
  metrics_port=
  stop_pid "$server_pid" TERM 30
  server_pid=
}

ready_endpoint() { # port path: wait for 200
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request
url = "http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2])
for _ in range(300):
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
}

load_cmd() { # port + extra sse-load args
  local port=$1
  shift
  receiver_cmd=("$load_bin" --port "$port" --users "1-$load_users" "${spread[@]}" --sources "$sources"
                --server-pid "$server_pid" "$@")
  [[ -n $workers ]] && receiver_cmd+=(--workers "$workers")
  return 0
}

run_nchan() { # shared-memory size, extra publisher args...; uses label
  local shm=$1
  shift
  [[ -n $nchan_so ]] || die "ngx_nchan_module.so not found"
  mkdir -p "$tmp/nginx/tmp"
  port=$(free_port)
  user_line=
  [[ $(id -u) -eq 0 ]] && user_line="user root;"
  # Equivalent to the gateway's defaults: per-user channel, EventSource,
  # a 15 s heartbeat comment, a 64-message / 300 s replay buffer.
  # worker_connections may exceed the fd limit, and must: with 20,000 this
  # nchan ran out of connection slots at 18,747 subscribers (18,759 fds).
  # nginx preallocates those slots at start, so they are in its baseline RSS,
  # not in the per-stream figure.
  cat >"$tmp/nginx/nginx.conf" <<EOF
load_module $nchan_so;
$user_line
worker_processes 1;
worker_rlimit_nofile 20000;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
daemon off;
events {
  worker_connections $((streams * 13 / 10 + 1000));
  use epoll;
}
http {
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 3600s;
  client_body_temp_path $tmp/nginx/tmp;
  nchan_shared_memory_size $shm;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location ~ ^/sub/(\d+)\$ {
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
      nchan_subscriber_first_message newest;
      nchan_eventsource_ping_interval 15;
      nchan_eventsource_ping_comment "hb";
    }
    location ~ ^/pub/(\d+)\$ {
      nchan_publisher;
      nchan_channel_id \$1;
      nchan_message_buffer_length 64;
      nchan_message_timeout 300s;
    }
  }
}
EOF
  /usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/stdout.log" 2>&1 &
  master_pid=$!
  server_pid=$master_pid
  nginx_worker=
  for ((i = 0; i < 100; i++)); do
    nginx_worker=$(pgrep -P "$master_pid" | head -1 || true)
    [[ -n $nginx_worker ]] && break
    sleep 0.1
  done
  [[ -n $nginx_worker ]] || die "nginx did not start: $(tail -3 "$tmp/nginx/error.log" "$tmp/nginx/stdout.log")"
  sleep 0.3
  # The worker serves every stream and publish: it is the process measured.
  server_pid=$nginx_worker
  load_cmd "$port" --path '/sub/{user}'
  server_pid=$master_pid
  pub_target=(--http "127.0.0.1:$port" --path-template '/pub/{user}' "$@")
  run_workload
  stop_pid "$master_pid" QUIT 30
  server_pid=
}

# Turbo: a secret_key_base, the --config (the Authy route as the flags make it plus
# a Turbo route), and every room's signed stream name, URL-escaped, for sse-load's
# --names, made once per run by turbo_demo.py's signer (ActiveSupport's).
turbo_config=
turbo_setup() {
  [[ -z $turbo_config ]] || return 0
  mkdir -p "$tmp/turbo"
  turbo_config=$tmp/turbo/sse-gateway.toml
  /usr/bin/python3 - "$root/deploy/demo" "$tmp/turbo" "$rooms" <<'EOF'
import os, secrets, sys, urllib.parse
sys.path.insert(0, sys.argv[1])
from turbo_demo import sign
d, rooms = sys.argv[2], int(sys.argv[3])
key = secrets.token_hex(64)
with open(os.open(os.path.join(d, "secret_key_base"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    f.write(key + "\n")
with open(os.path.join(d, "sse-gateway.toml"), "w") as f:
    f.write('rails-secret-key-base-file = "%s"\n\n[[route]]\npath = "/authy/live_status"\n\n'
            '[[route]]\npath = "/live/turbo"\nkey = "turbo-signed-stream"\nchannel-prefix = "bench"\n'
            % os.path.join(d, "secret_key_base"))
with open(os.path.join(d, "names"), "w") as f:
    for room in range(1, rooms + 1):
        f.write("%d %s\n" % (room, urllib.parse.quote(sign(key, "room_%d" % room), safe="")))
EOF
}

# ---- run ---------------------------------------------------------------------------
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
db_url=$(bash "$root/scripts/tmp-postgres.sh" start "$pg_dir") || die "cannot start PostgreSQL"
log "PostgreSQL at $db_url"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

IFS=, read -r -a target_list <<<"$targets"
IFS=, read -r -a thread_list <<<"$gateway_threads"
for ((round = 1; round <= repeat; round++)); do
(( repeat == 1 )) || log "round $round of $repeat"
# Round r starts at the r-th target (the list rotated by r - 1), so every target
# runs in every position equally often over a multiple of the number of targets.
# Position matters on this VM: in an A/A run (the same gateway binary twice per
# round, right after the relay and right after itself) the one after the relay
# was ~27 µs slower at the median in 4 rounds of 5 (BENCHMARKS.md).
round_targets=("${target_list[@]:$(( (round - 1) % ${#target_list[@]} ))}" \
               "${target_list[@]:0:$(( (round - 1) % ${#target_list[@]} ))}")
for target in "${round_targets[@]}"; do
  # What the receivers and the publisher count in: users, each with --per-user
  # streams (Turbo targets: rooms, the streams dealt to them in turn).
  load_users=$users
  spread=(--per-user "$per_user")
  gateway_load_args=(--header 'X-User-Id: {user}' --header "X-Gateway-Secret: $secret")
  case $target in
    gateway)
      for threads in "${thread_list[@]}"; do
        label=gateway-t$threads
        pub_target=(--database-url "$db_url")
        broadcast_channel=sse_bench_broadcast
        run_gateway --threads "$threads" --broadcast-channel "$broadcast_channel"
        if [[ -n $baseline_bin ]]; then
          label=gateway-t$threads-baseline
          # shellcheck disable=SC2086  # word splitting of the extra flags is wanted
          run_bin=$baseline_bin run_gateway --threads "$threads" --broadcast-channel "$broadcast_channel" \
            $baseline_flags
        fi
        broadcast_channel=
      done
      ;;
    gateway-shared)
      # Shared channel mode: one LISTEN, the user in a JSON payload. Both gateway
      # families also get a broadcast channel: --fanout NOTIFYs that every stream must get.
      for threads in "${thread_list[@]}"; do
        label=gateway-shared-t$threads
        pub_target=(--database-url "$db_url" --channel-template "$shared_channel" --payload json)
        broadcast_channel=sse_bench_broadcast
        run_gateway --threads "$threads" --channel-mode shared --shared-channel "$shared_channel" \
          --broadcast-channel "$broadcast_channel"
        broadcast_channel=
      done
      ;;
    nchan)
      label=nchan
      run_nchan 256m
      ;;
    nchan-turbo)
      # The same HTML as gateway-turbo's, raw: nchan publishes what it is POSTed.
      # 64 messages of ~4 KiB kept per room need more than the 256m the small
      # events get (nchan refuses a publish when its shared memory is full).
      label=nchan-turbo
      load_users=$rooms
      spread=(--streams "$streams")
      run_nchan 1024m --payload turbo --payload-bytes "$payload_bytes"
      ;;
    gateway-turbo)
      # Both routes are served; the load is on the Turbo route. The channel is
      # cable.yml's prefix ":" the stream name, as Rails' PostgreSQL adapter names it.
      turbo_setup
      for threads in "${thread_list[@]}"; do
        label=gateway-turbo-t$threads
        load_users=$rooms
        spread=(--streams "$streams")
        gateway_load_args=(--path '/live/turbo?signed_stream_name={name}' --names "$tmp/turbo/names")
        pub_target=(--database-url "$db_url" --channel-template 'bench:room_{user}' --payload turbo-cable
                    --payload-bytes "$payload_bytes")
        run_gateway --threads "$threads" --config "$turbo_config"
      done
      ;;
    relay)
      # The yardstick for latency: one LISTEN connection on every user's channel,
      # each payload written to the user's sockets as a data: line (relay.cpp).
      label=relay
      "$relay_bin" --database-url "$db_url" --users "1-$users" >"$tmp/relay.log" 2>&1 &
      server_pid=$!
      port=$(wait_for_port_in_log "$tmp/relay.log" "$server_pid") || die "relay did not start: $(tail -3 "$tmp/relay.log")"
      backend=$(psql "$db_url" -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'sse-relay'" | head -1)
      load_cmd "$port" --path '/sub/{user}' ${backend:+--backend-pid "$backend"}
      pub_target=(--database-url "$db_url")
      run_workload
      stop_pid "$server_pid" TERM 10
      server_pid=
      ;;
    floor)
      label=floor
      receiver_cmd=("$floor_bin" --database-url "$db_url" --users "1-$users")
      pub_target=(--database-url "$db_url")
      run_workload
      ;;
    floor-shared)
      label=floor-shared
      receiver_cmd=("$floor_bin" --database-url "$db_url" --users "1-$users" --shared-channel "$shared_channel")
      pub_target=(--database-url "$db_url" --channel-template "$shared_channel" --payload json)
      run_workload
      ;;
    *) die "unknown target $target" ;;
  esac
done
done

meta=$(/usr/bin/python3 - "$command_line" "$load_at_start" "$streams" "$per_user" "$rate" "$rate_seconds" \
        "$flat_seconds" "$idle_seconds" "$repeat" "$fanout" "$rooms" "$payload_bytes" <<'EOF'
import json, os, platform, subprocess, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print(json.dumps({
    "command": sys.argv[1], "load_at_start": sys.argv[2], "load_at_end": open("/proc/loadavg").read().split()[:3],
    "streams": int(sys.argv[3]), "per_user": int(sys.argv[4]), "rate": float(sys.argv[5]),
    "rate_seconds": float(sys.argv[6]), "flat_seconds": float(sys.argv[7]), "idle_seconds": float(sys.argv[8]),
    "repeat": int(sys.argv[9]), "fanout": int(sys.argv[10]),
    "rooms": int(sys.argv[11]), "payload_bytes": int(sys.argv[12]),
    "nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 1048576, 1),
    "kernel": platform.release(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    "nginx": subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip(),
}))
EOF
)
label=meta
round=0
record meta "$meta"
if [[ -n $json_dir ]]; then
  mkdir -p "$json_dir"
  cp "$results" "$json_dir/results.jsonl"
  cp "$tmp"/*.metrics "$json_dir/" 2>/dev/null || true
fi
/usr/bin/python3 "$here/compare_table.py" "$results" | tee ${markdown:+"$markdown"}
