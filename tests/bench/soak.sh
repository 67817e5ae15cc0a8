#!/usr/bin/env bash
# The soak: holds N streams for a long while against one gateway with
# --snapshot-sql, while users keep arriving and leaving, events flow, slow
# readers get closed and the database goes away again and again; then checks
# that nothing leaked and nothing was lost.
#
#   bash tests/bench/soak.sh                 # 10,000 held streams, 30 minutes of cycles (~35 min)
#   bash tests/bench/soak.sh --short         # 1,000 streams, ~4 minutes
#   bash tests/bench/soak.sh --help
#
# What runs at once (all over loopback, one tmp-postgres.sh cluster):
#   sse-load     holds the N streams (users 1..N, one each) and checks every event
#   sse-churn    opens --churn-rate streams per second for users 1..2N, each held
#                1-10 s then left; and on command a few slow readers (one user,
#                a 4 KiB receive buffer, 512 B/s) the gateway must close
#   sse-notify-pub  UPDATEs users.authy_status at --event-rate per second (users
#                1..2N); the trigger in deploy/sql/authy_status_notify.sql NOTIFYs
#
# Timeline: warm-up -> measure -> --outages cycles -> measure -> SIGTERM.
# The warm-up does everything once, so that per-channel state and the allocator
# reach their working size: streams up, churn, events at --event-rate, one status
# UPDATE for every held user (each channel keeps its recent events for
# Last-Event-ID), a slow-reader round, and one pg_terminate_backend with its
# catch-up. Each cycle: events and a slow-reader round, then a sync (every held
# stream has its user's last status), then the outage (pg_terminate_backend of
# the LISTEN connection, or a PostgreSQL restart, fast or immediate, in turn) with
# UPDATEs committed while the gateway is not listening, then a sync again: every
# user's last status must arrive through the catch-up snapshot. "measure" pauses
# the churn until every churn stream has left, then reads the gateway's VmRSS and
# open fds (the same streams are open both times).
#
# Checks (exit 1 when one fails, the table says which): RSS and fds at the end
# within --tolerance of the warm-up's; every sync complete; no event misrouted or
# malformed, none lost outside the outages; no held or churn stream closed by the
# gateway; every close the gateway made was a slow reader's (metrics by reason
# and the JSON log's "stream close" lines); after the clients leave, SIGTERM ends
# the gateway with exit code 0 and no sanitizer report (--gateway-bin can name
# an AddressSanitizer build, whose LeakSanitizer then checks for leaks at exit).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

streams=10000
duration_min=30
warmup_s=120
outages=6
churn_rate=200
churn_hold=1-10
event_rate=50
slow=4
tolerance_pct=5
gateway_threads=2
build_dir=$root/build
gateway_bin=
keep=0
json_out=
secret=soak-secret-$$-0123456789abcdef0123456789  # at least the 32 bytes a proxy secret needs
command_line="bash tests/bench/soak.sh$(printf " %q" "$@")"

usage() {
  cat <<EOF
usage: $0 [options]
  --streams N          held streams, one per user (default $streams)
  --duration MIN       minutes of outage cycles after the warm-up (default $duration_min)
  --warmup S           seconds of warm-up before the first measurement (default $warmup_s)
  --outages K          database outages, spread over the duration (default $outages)
  --churn-rate R       streams opened per second by arriving users (default $churn_rate)
  --churn-hold MIN-MAX seconds each of them stays (default $churn_hold)
  --event-rate R       status UPDATEs per second (default $event_rate)
  --slow N             slow readers per round, one round per cycle (default $slow)
  --tolerance PCT      RSS and fds at the end vs after warm-up (default $tolerance_pct)
  --short              --streams 1000 --duration 3 --warmup 30 --outages 3
                       --churn-rate 50 --event-rate 20
  --gateway-threads T  the gateway's --threads (default $gateway_threads)
  --build-dir DIR      CMake tree with sse-gateway, sse-load, sse-notify-pub and
                       sse-churn (default build/; this script never builds)
  --gateway-bin FILE   another sse-gateway binary, e.g. from an ASan build
  --json FILE          also write the summary (one JSON object) to FILE
  --keep               keep the temp dir (gateway log, timeline, raw JSON)
On a shared machine hold /tmp/bench.lock around a full run:
  flock /tmp/bench.lock bash tests/bench/soak.sh
EOF
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --streams) streams=$2; shift 2 ;;
    --duration) duration_min=$2; shift 2 ;;
    --warmup) warmup_s=$2; shift 2 ;;
    --outages) outages=$2; shift 2 ;;
    --churn-rate) churn_rate=$2; shift 2 ;;
    --churn-hold) churn_hold=$2; shift 2 ;;
    --event-rate) event_rate=$2; shift 2 ;;
    --slow) slow=$2; shift 2 ;;
    --tolerance) tolerance_pct=$2; shift 2 ;;
    --short) streams=1000 duration_min=3 warmup_s=30 outages=3 churn_rate=50 event_rate=20; shift ;;
    --gateway-threads) gateway_threads=$2; shift 2 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --gateway-bin) gateway_bin=$(realpath -m "$2"); shift 2 ;;
    --json) json_out=$(realpath -m "$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in streams outages slow; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak.sh: bad --$v ${!v}" >&2; exit 2; }
done
(( streams >= 1 && outages >= 1 )) || { echo "soak.sh: --streams and --outages must be positive" >&2; exit 2; }
[[ $churn_hold =~ ^[0-9.]+-([0-9.]+)$ ]] || { echo "soak.sh: bad --churn-hold $churn_hold" >&2; exit 2; }
hold_max=${BASH_REMATCH[1]}

# shellcheck source=bench_lib.sh
source "$here/bench_lib.sh"
log() { printf '[soak %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for b in gateway/sse-gateway tests/bench/sse-load tests/bench/sse-notify-pub tests/bench/sse-churn; do
  [[ -x $build_dir/$b || ( $b == gateway/sse-gateway && -x $gateway_bin ) ]] || die "missing $build_dir/$b (build it first: cmake --build $build_dir --target sse-gateway sse-load sse-notify-pub sse-churn)"
done
command -v psql >/dev/null || die "psql is missing"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- temp dir, cleanup ---------------------------------------------------------------
tmp=$(mktemp -d /tmp/sse-soak.XXXXXX)
chmod 755 "$tmp" # tmp-postgres.sh runs the server as the postgres user
server_pid= churn_pid= sampler_pid= pub_pid= pg_dir= churn_w= churn_r=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$pub_pid" TERM 5
  stop_pid "$sampler_pid" TERM 2
  [[ -n $churn_w ]] && exec {churn_w}>&- 2>/dev/null
  stop_pid "$churn_pid" TERM 5
  finish_run "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies: a rebuild of the tree during the run must not swap binaries under it.
mkdir -p "$tmp/bin"
cp "${gateway_bin:-$build_dir/gateway/sse-gateway}" "$build_dir/tests/bench/sse-load" \
  "$build_dir/tests/bench/sse-notify-pub" "$build_dir/tests/bench/sse-churn" "$tmp/bin/"
bin=$tmp/bin
results=$tmp/results.jsonl
: >"$results"
record() { printf '%s\n' "$1" >>"$results"; }
py() { /usr/bin/python3 "$here/soak_report.py" "$@"; }

# ---- PostgreSQL: the users table, every soak user, the NOTIFY trigger -----------------
churn_users=$((2 * streams))
slow_user=$((churn_users + 1))
pg_dir=$tmp/pg
db_url=$(bash "$root/scripts/tmp-postgres.sh" start "$pg_dir") || die "cannot start PostgreSQL"
# Every status starts as "<id>:0:0", a payload sse-load can read (seq 0), so the
# first snapshot is checked like any event; the trigger comes after it.
{
  echo "SET client_min_messages = warning;"
  cat "$root/deploy/sql/demo_users.sql"
  echo "INSERT INTO users (id, email) SELECT g, 'soak' || g || '@example.com'"
  echo "  FROM generate_series(1, $slow_user) AS g ON CONFLICT (id) DO NOTHING;"
  echo "UPDATE users SET authy_status = id || ':0:0';"
  cat "$root/deploy/sql/authy_status_notify.sql"
} | psql -X -q -v ON_ERROR_STOP=1 "$db_url" >/dev/null || die "cannot load the schema"
psql_c() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$db_url" -c "$1"; }

# ---- the gateway --------------------------------------------------------------------
gw_log=$tmp/gateway.log
"$bin/sse-gateway" --listen 127.0.0.1:0 --database-url "$db_url" --proxy-secret "$secret" \
  --threads "$gateway_threads" --snapshot-sql 'SELECT authy_status FROM users WHERE id = $1::bigint' \
  --max-queue-bytes 65536 --drain-seconds 2 >"$gw_log" 2>&1 &
server_pid=$!
port=$(wait_for_port_in_log "$gw_log" "$server_pid") || die "gateway did not start: $(tail -3 "$gw_log")"
gw() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$1" || true; }
wait_ready() { # seconds -> 0 once /readyz answers 200
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    [[ $(gw /readyz) == 200 ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || die "the gateway died (see $gw_log)"
    sleep 0.1
  done
  return 1
}
wait_ready 30 || die "the gateway never became ready"
metric() { py metric "$port" "$1"; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, load $load_start; gateway pid $server_pid port $port; PostgreSQL $db_url"
record "$(py config "$command_line" "$streams" "$duration_min" "$warmup_s" "$outages" "$churn_rate" \
  "$churn_hold" "$event_rate" "$slow" "$tolerance_pct" "$gateway_threads" "$load_start")"

/usr/bin/python3 "$here/soak_report.py" sample "$port" "$server_pid" "$tmp/timeline.jsonl" 10 >/dev/null 2>&1 &
sampler_pid=$!

# ---- held streams: sse-load as the coprocess RUN ------------------------------------
log "opening $streams held streams"
coproc RUN { exec "$bin/sse-load" --port "$port" --users "1-$streams" --per-user 1 --sources 127.0.0.2-127.0.0.5 \
  --header 'X-User-Id: {user}' --header "X-Gateway-Secret: $secret" --server-pid "$server_pid" 2>>"$tmp/load.err"; }
label=sse-load
ready=$(receive 900)
record "{\"kind\":\"held_ready\",\"ready\":$ready}"
log "held: $(json_field "$ready" established) established, $(json_field "$ready" failed) failed, in $(json_field "$ready" establish_s) s"
[[ $(json_field "$ready" established) == "$streams" ]] || die "not every held stream opened: $ready"
# Each held stream's first event is its snapshot. Events committed while that query
# waits are held and sent after it, so they can arrive after a snapshot that already
# reflects them (delivery.md, "duplicates around a snapshot"): no status changes
# until every held snapshot is in, so that the sequence checks stay exact.
for ((i = 0; i < 1200; i++)); do
  (( $(py sub "$(metric snapshots_total)" "$streams") >= 0 )) && break
  sleep 0.1
done

# ---- arriving and leaving users: sse-churn over two FIFOs ----------------------------
mkfifo "$tmp/churn.in" "$tmp/churn.out"
"$bin/sse-churn" --port "$port" --users "1-$churn_users" --rate "$churn_rate" --hold "$churn_hold" \
  --sources 127.0.0.6-127.0.0.9 --header 'X-User-Id: {user}' --header "X-Gateway-Secret: $secret" \
  --slow-user "$slow_user" <"$tmp/churn.in" >"$tmp/churn.out" 2>>"$tmp/churn.err" &
churn_pid=$!
exec {churn_w}>"$tmp/churn.in"
exec {churn_r}<"$tmp/churn.out"
churn() { # command -> its JSON line
  local line
  printf '%s\n' "$1" >&"$churn_w"
  IFS= read -r -t 30 line <&"$churn_r" || die "sse-churn did not answer '$1' (see $tmp/churn.err)"
  printf '%s\n' "$line"
}
churn_field() { json_field "$(churn stats)" "$1"; }
log "churn: $churn_rate streams/s for users 1-$churn_users, each held $churn_hold s"

# ---- events ---------------------------------------------------------------------------
state=$tmp/status.state
pub_seed=0
outage_pub_s=15 # seconds of UPDATEs around an outage
publish_bg() { # seconds: UPDATE statuses at --event-rate in the background
  pub_seed=$((pub_seed + 1))
  "$bin/sse-notify-pub" --database-url "$db_url" --users "1-$churn_users" --mode rate --rate "$event_rate" \
    --duration "$1" --state "$state" --seed "$pub_seed" --channel-template '{user}' \
    --statement 'UPDATE users SET authy_status = $2 WHERE id = $1::bigint' \
    >"$tmp/pub-$pub_seed.json" 2>>"$tmp/pub.err" &
  pub_pid=$!
}
update_every_held_user() { # one UPDATE per held user, pipelined
  pub_seed=$((pub_seed + 1))
  "$bin/sse-notify-pub" --database-url "$db_url" --users "1-$streams" --mode broadcast --state "$state" \
    --channel-template '{user}' --statement 'UPDATE users SET authy_status = $2 WHERE id = $1::bigint' \
    >"$tmp/pub-$pub_seed.json" 2>>"$tmp/pub.err" &
  pub_pid=$!
}
publish_wait() { # label -> records the publisher's line; fails the run if it failed
  local rc=0
  wait "$pub_pid" || rc=$?
  pub_pid=
  record "{\"kind\":\"publish\",\"label\":\"$1\",\"rc\":$rc,\"out\":$(tail -1 "$tmp/pub-$pub_seed.json" || echo null)}"
  (( rc == 0 )) || die "$1: the publisher failed ($(tail -2 "$tmp/pub.err" | tr '\n' ' '))"
}
sync_held() { # label, seconds -> records whether every held stream has its user's last status
  local reply
  send "sync $state $2"
  reply=$(receive $(($2 + 60)))
  record "{\"kind\":\"sync\",\"label\":\"$1\",\"reply\":$reply}"
  [[ $(json_field "$reply" ok) == True ]] ||
    log "$1: $(json_field "$reply" missing) statuses missing after $2 s"
}

# ---- a slow-reader round ---------------------------------------------------------------
slow_round() { # label
  local before after i got=0 reply
  before=$(metric 'stream_closes_total{reason="slow_consumer"}')
  churn "slow $slow" >/dev/null
  for ((i = 0; i < 300; i++)); do
    reply=$(churn stats)
    (( $(json_field "$reply" slow_live) >= slow )) && break
    sleep 0.1
  done
  # Each flood is 1,000 distinct 7.9 KB NOTIFYs (~8 MB per stream). The first few MB
  # only fill the kernel's send buffer (on loopback it autotunes up to tcp_wmem's
  # 4 MiB); then the gateway's own queue grows past --max-queue-bytes.
  for ((i = 0; i < 10; i++)); do
    psql_c "SELECT count(pg_notify('user_$slow_user', g || ':' || repeat('x', 7900)))
            FROM generate_series(1, 1000) AS g" >/dev/null || die "the slow readers' flood failed"
    after=$(metric 'stream_closes_total{reason="slow_consumer"}')
    got=$(py sub "$after" "$before")
    (( got >= slow )) && break
    sleep 1
  done
  churn slow-drain >/dev/null
  for ((i = 0; i < 300; i++)); do
    reply=$(churn stats)
    (( $(json_field "$reply" slow_live) == 0 )) && break
    sleep 0.1
  done
  record "{\"kind\":\"slow\",\"label\":\"$1\",\"asked\":$slow,\"gateway_closed\":$got,\"churn\":$reply}"
  log "$1: $got of $slow slow readers closed by the gateway"
}

# ---- an outage: the LISTEN connection cut, or PostgreSQL restarted ---------------------
outage() { # label kind
  local reconnects_before reconnects_after cut_at n ready_s
  send "phase outage-$1"; receive 30 >/dev/null
  reconnects_before=$(metric pg_reconnects_total)
  cut_at=$(date +%s.%N)
  case $2 in
    terminate)
      # UPDATEs go on while the gateway notices and reconnects: their NOTIFYs are gone,
      # the catch-up snapshot must bring each user's last status.
      publish_bg "$outage_pub_s"
      sleep 3
      cut_at=$(date +%s.%N)
      n=$(psql_c "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sse-gateway'")
      [[ $n == 1 ]] || log "outage $1: terminated $n LISTEN backends"
      ;;
    restart-*)
      bash "$root/scripts/tmp-postgres.sh" down "$pg_dir" "${2#restart-}" || die "cannot stop PostgreSQL"
      sleep 3
      bash "$root/scripts/tmp-postgres.sh" up "$pg_dir" || die "cannot restart PostgreSQL"
      # Committed at once, while the gateway is still in its reconnect backoff.
      publish_bg "$outage_pub_s"
      ;;
  esac
  ready_s=
  if wait_ready 120; then ready_s=$(py sub "$(date +%s.%N)" "$cut_at"); fi
  publish_wait "outage-$1"
  sync_held "outage-$1" 90
  reconnects_after=$(metric pg_reconnects_total)
  record "{\"kind\":\"outage\",\"k\":\"$1\",\"type\":\"$2\",\"cut_to_ready_s\":${ready_s:-null},\"pg_reconnects\":$(py sub "$reconnects_after" "$reconnects_before")}"
  log "outage $1 ($2): /readyz 200 again after ${ready_s:-never} s"
}

# ---- measure: churn paused until every churn stream has left -------------------------
measure() { # label
  local i reply streams_now
  churn pause >/dev/null
  for ((i = 0; i < (${hold_max%.*} + 60) * 10; i++)); do
    reply=$(churn stats)
    (( $(json_field "$reply" live) == 0 && $(json_field "$reply" inflight) == 0 && $(json_field "$reply" slow_live) == 0 )) && break
    sleep 0.1
  done
  for ((i = 0; i < 300; i++)); do
    streams_now=$(metric streams)
    [[ $streams_now == "$streams" ]] && break
    sleep 0.1
  done
  sleep 3
  record "$(py measure "$1" "$port" "$server_pid")"
  log "$1: $(tail -1 "$results" | cut -c1-200)"
  churn resume >/dev/null
}

# ---- warm-up ---------------------------------------------------------------------------
send "phase warmup"; receive 30 >/dev/null
log "warm-up: ${warmup_s} s"
update_every_held_user
publish_wait warmup-every-user
publish_bg "$warmup_s"
sleep $((warmup_s / 2))
slow_round warmup
publish_wait warmup
sync_held warmup 60
outage warmup terminate
measure warmup

# ---- the cycles --------------------------------------------------------------------------
cycle_s=$(awk -v d="$duration_min" -v k="$outages" 'BEGIN { printf "%d", d * 60 / k }')
kinds=(terminate restart-fast terminate restart-immediate)
for ((k = 1; k <= outages; k++)); do
  kind=${kinds[$(((k - 1) % ${#kinds[@]}))]}
  steady_s=$((cycle_s - outage_pub_s - 15))
  ((steady_s >= 20)) || steady_s=20
  send "phase steady-$k"; receive 30 >/dev/null
  log "cycle $k/$outages: ${steady_s} s of events, then $kind"
  publish_bg "$steady_s"
  sleep $((steady_s / 2))
  slow_round "slow-$k"
  publish_wait "steady-$k"
  sync_held "steady-$k" 60

  outage "$k" "$kind"
done

# ---- the end -------------------------------------------------------------------------------
send "phase final"; receive 30 >/dev/null
publish_bg 20
publish_wait final
sync_held final 60
measure end
send "report $state"
record "{\"kind\":\"load_report\",\"report\":$(receive 120)}"
record "{\"kind\":\"churn_final\",\"stats\":$(churn pause)}"
record "{\"kind\":\"metrics_end\",\"metrics\":$(py metrics "$port")}"
kill -0 "$server_pid" 2>/dev/null || die "the gateway died (see $gw_log)"
stop_pid "$sampler_pid" TERM 2
sampler_pid=

# The clients leave first, so that SIGTERM finds nothing to drain; then the gateway
# must exit 0 (an ASan build also runs LeakSanitizer at exit).
send quit
wait "$RUN_PID" 2>/dev/null || true
RUN_PID=
churn quit >/dev/null
wait "$churn_pid" 2>/dev/null || true
churn_pid=
for ((i = 0; i < 600; i++)); do # until the gateway has seen every client go
  [[ $(metric streams) == 0 ]] && break
  sleep 0.1
done
kill -TERM "$server_pid"
exit_code=0
wait "$server_pid" || exit_code=$?
server_pid=
record "{\"kind\":\"exit\",\"code\":$exit_code}"

rc=0
py summary "$results" "$gw_log" "$tmp/timeline.jsonl" ${json_out:+--json "$json_out"} || rc=$?
exit "$rc"
