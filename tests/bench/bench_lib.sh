# Shell helpers shared by compare.sh, relisten.sh, scaleout.sh, smoke.sh and soak.sh (sourced,
# not run). The sourcing script defines die() (used by receive) and log() (used by
# finish_tmp) before calling them.

stop_pid() { # pid, signal, seconds to wait before SIGKILL
  local pid=$1 sig=${2:-TERM} wait=${3:-15} i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The end of an EXIT trap: removes $tmp, or keeps it (and says where) when
# $keep asks for it or the run failed; then exits with rc.
finish_tmp() { # rc
  if (( ${keep:-0} || $1 != 0 )); then
    log "logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$1"
}

# The end every script's EXIT trap shares: the receiver coprocess ($RUN_PID), the
# gateway ($server_pid), the PostgreSQL cluster ($pg_dir, when started), then
# finish_tmp.
finish_run() { # rc
  if [[ -n ${RUN_PID:-} ]]; then stop_pid "$RUN_PID" TERM 5; fi
  stop_pid "${server_pid:-}" TERM 15
  [[ -n ${pg_dir:-} ]] && bash "$root/scripts/tmp-postgres.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  finish_tmp "$1"
}

json_field() { # json, field -> number/string value (flat keys only)
  /usr/bin/python3 -c 'import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print("" if v is None else v)' "$1" "$2"
}

wait_for_port_in_log() { # logfile pid -> the port of the gateway's "listening" line
  local i port
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$1" | head -1)
    [[ -n $port ]] && { echo "$port"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The start the scripts that run built binaries share: each binary present in
# the build tree, psql on the PATH, the open-file limit raised to the hard one
# and enough for one gateway process holding `streams` sockets.
check_setup() { # build_dir streams relpath...
  local dir=$1 streams=$2 b names=()
  shift 2
  for b in "$@"; do names+=("${b##*/}"); done
  for b in "$@"; do
    [[ -x $dir/$b ]] || die "missing $dir/$b (build it first: cmake --build $dir --target ${names[*]})"
  done
  command -v psql >/dev/null || die "psql is missing"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (( $(ulimit -n) >= streams + 500 || streams < 15000 )) ||
    die "open-file limit $(ulimit -n) is too low for $streams streams in one gateway process"
}

make_tmp() { # name: sets tmp to a new /tmp/sse-NAME.XXXXXX that tmp-postgres.sh's
  # postgres user can enter
  tmp=$(mktemp -d "/tmp/sse-$1.XXXXXX")
  chmod 755 "$tmp"
}

# Private copies of the gateway, sse-load and sse-notify-pub in $tmp/bin (a
# rebuild of the tree during the run must not swap binaries under it); sets
# gateway_bin, load_bin and pub_bin.
# shellcheck disable=SC2034  # sets the caller's variables
private_binaries() { # build_dir
  mkdir -p "$tmp/bin"
  cp "$1/gateway/sse-gateway" "$1/tests/bench/sse-load" "$1/tests/bench/sse-notify-pub" "$tmp/bin/"
  gateway_bin=$tmp/bin/sse-gateway
  load_bin=$tmp/bin/sse-load
  pub_bin=$tmp/bin/sse-notify-pub
}

# What a channel mode changes: the channels one gateway listens on, its flags
# and the publisher's target. Sets channels, flags and pub (declare them local
# in the caller).
# shellcheck disable=SC2034  # sets the caller's variables
channel_mode_setup() { # mode users-per-gateway db_url shared_channel
  case $1 in
    per-user)
      channels=$2
      flags=()
      pub=(--database-url "$3")
      ;;
    shared)
      # One LISTEN on the bearer channel; every user's entry rides on it.
      channels=1
      flags=(--channel-mode shared --shared-channel "$4")
      pub=(--database-url "$3" --channel-template "$4" --payload json)
      ;;
    *) die "unknown channel mode $1" ;;
  esac
}

wait_ready() { # port: until the gateway's /readyz answers 200 (30 s at most)
  local i
  for ((i = 0; i < 300; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz" || true) == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# The PostgreSQL backends serving gateways' LISTEN connections (the listener
# connects with application_name sse-gateway; query connections use another).
gateway_backend_pids() { # database url -> pids, one per line
  psql -X "$1" -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'sse-gateway' ORDER BY pid"
}

rss_kb_sum() { # pid... -> the sum of their VmRSS, KiB (0 for a pid that is gone)
  local pid total=0 kb
  for pid in "$@"; do
    kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# CPU time on the clock's resolution (utime + stime count 10 ms ticks): the sum
# over every thread of the processes of /proc/PID/task/TID/schedstat's first
# field, the nanoseconds they ran.
cpu_ns_sum() { # pid... -> ns (threads that are gone count 0)
  local pid f total=0 ns rest
  for pid in "$@"; do
    for f in /proc/"$pid"/task/*/schedstat; do
      { read -r ns rest <"$f"; } 2>/dev/null || continue
      total=$((total + ns))
    done
  done
  echo "$total"
}

# The receiver (sse-load or sse-pg-floor) runs as the coprocess RUN: one command
# line in, one JSON line back.
send() { printf '%s\n' "$1" >&"${RUN[1]}"; }
receive() { # seconds
  local line
  IFS= read -r -t "$1" line <&"${RUN[0]}" ||
    die "${label:+$label: }no answer from the receiver within $1 s${tmp:+ (see $tmp)}"
  printf '%s\n' "$line"
}
