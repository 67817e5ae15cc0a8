# Shell helpers shared by compare.sh, relisten.sh, smoke.sh and soak.sh (sourced,
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

# The receiver (sse-load or sse-pg-floor) runs as the coprocess RUN: one command
# line in, one JSON line back.
send() { printf '%s\n' "$1" >&"${RUN[1]}"; }
receive() { # seconds
  local line
  IFS= read -r -t "$1" line <&"${RUN[0]}" ||
    die "${label:+$label: }no answer from the receiver within $1 s${tmp:+ (see $tmp)}"
  printf '%s\n' "$line"
}
