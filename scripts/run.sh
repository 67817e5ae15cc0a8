#!/usr/bin/env bash
# Builds sse-gateway and runs it in the foreground against PostgreSQL.
# Without DATABASE_URL, SSE_GATEWAY_DATABASE_URL or PGHOST, a throwaway cluster is
# started for the run and removed afterwards. Extra arguments go to the gateway.
# With nginx installed, the OneTouch demo page (deploy/demo/) is served too; with
# the throwaway cluster, the gateway runs from a --config file of two routes (the
# OneTouch status and Turbo Streams, proto_docs/routes.md) and the Turbo page is
# served beside the OneTouch one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only what running needs: the build group plus PostgreSQL, nginx, curl and npm (the
# `run` group), and the one target. scripts/test.sh installs and builds the rest.
bash scripts/install-deps.sh build run
# A tree scripts/build.sh configured is reused as it is; a new one is configured
# without the tests, whose packages are not installed (build.sh turns them back on).
[[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSE_GATEWAY_TESTS=OFF
cmake --build build -j"$(nproc)" --target sse-gateway

pgdir=
demodir=
confdir=
gateway_pid=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ -n $gateway_pid ]]; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  if [[ -n $demodir ]]; then
    bash deploy/demo/nginx.sh stop "$demodir" || true
    rm -rf "$demodir"
  fi
  if [[ -n $pgdir ]]; then
    bash scripts/tmp-postgres.sh stop "$pgdir" || true
  fi
  [[ -z $confdir ]] || rm -rf "$confdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

db_args=()
if [[ -n ${SSE_GATEWAY_DATABASE_URL:-} ]]; then
  db_url=$SSE_GATEWAY_DATABASE_URL        # the gateway reads it itself
elif [[ -n ${DATABASE_URL:-} ]]; then
  db_url=$DATABASE_URL
  db_args=(--database-url "$db_url")
elif [[ -n ${PGHOST:-} ]]; then
  db_url=                                 # libpq environment variables
else
  pgdir=$(mktemp -d)
  db_url=$(bash scripts/tmp-postgres.sh start "$pgdir")
  db_args=(--database-url "$db_url")
  # The reference app's users table with the NOTIFY trigger, for the demo; each new
  # stream gets the user's current status first.
  PGOPTIONS='-c client_min_messages=warning' psql "$db_url" -qX -v ON_ERROR_STOP=1 \
    -f deploy/sql/demo_users.sql -f deploy/sql/authy_status_notify.sql >/dev/null
fi

# The address to print: the last --listen given wins, as in the gateway. A --config
# of the caller's own replaces the demo's.
listen=${SSE_GATEWAY_LISTEN:-0.0.0.0:8080}
own_config=${SSE_GATEWAY_CONFIG:-}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --listen=*) listen=${args[i]#--listen=} ;;
    --listen) listen=${args[i + 1]:-$listen} ;;
    --config=* | --config) own_config=yes ;;
  esac
done

# With the throwaway cluster, the demo's two routes from a config file: the OneTouch
# status at its usual path (the flags' defaults: channel user_<id>, event
# authy_status) with its snapshot, and Turbo Streams for an app whose cable.yml says
# `adapter: postgresql` and `channel_prefix: sse_gateway_demo`, verified with a
# secret_key_base made here.
turbo_prefix=sse_gateway_demo
turbo_stream=messages
turbo_signed=
if [[ -n $pgdir && -z $own_config ]]; then
  confdir=$(mktemp -d)
  demo_config=$(/usr/bin/python3 deploy/demo/turbo_demo.py config "$confdir" "$turbo_prefix")
  db_args+=(--config "$demo_config")
  # Turbo::StreamsChannel.signed_stream_name("messages") of that app, made with
  # python3 (the run group has it; ruby is only in the test group).
  turbo_signed=$(/usr/bin/python3 deploy/demo/turbo_demo.py sign "$(<"$confdir/secret_key_base")" "$turbo_stream")
elif [[ -n $pgdir ]]; then
  # shellcheck disable=SC2016  # $1 is the query's parameter, for PostgreSQL
  db_args+=(--snapshot-sql 'SELECT authy_status FROM users WHERE id = $1')
fi

secret=${SSE_GATEWAY_PROXY_SECRET:-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}
secret_args=()
[[ -n ${SSE_GATEWAY_PROXY_SECRET:-} ]] || secret_args=(--proxy-secret "$secret")

host=${listen%:*}
port=${listen##*:}
case $host in
  0.0.0.0 | '') host=127.0.0.1 ;;
  '[::]') host='[::1]' ;;
esac

if [[ -n $db_url ]]; then
  psql_cmd="psql '$db_url'"
else
  psql_cmd="psql"
fi
cat >&2 <<INFO

sse-gateway on $listen. Try it, in two other terminals:
  curl -N -H 'X-User-Id: 42' -H 'X-Gateway-Secret: $secret' http://$host:$port/authy/live_status
  $psql_cmd -c "NOTIFY user_42, 'approved'"

INFO

# The demos: nginx serves the OneTouch login page (and the Turbo page, with Turbo
# copied from deploy/demo/node_modules) and proxies the stream routes here.
if [[ -x /usr/sbin/nginx && $port != 0 ]]; then
  demodir=$(mktemp -d)
  turbo_args=()
  if [[ -n $turbo_signed ]]; then
    if bash deploy/demo/setup.sh; then
      turbo_args=("$turbo_signed" "$turbo_stream")
    else
      echo "(Turbo demo page not served: installing @hotwired/turbo with npm failed)" >&2
    fi
  fi
  demo_url=$(bash deploy/demo/nginx.sh start "$demodir" "${SSE_GATEWAY_DEMO_PORT:-8081}" "$host:$port" "$secret" "${turbo_args[@]}" 2>/dev/null ||
             bash deploy/demo/nginx.sh start "$demodir" 0 "$host:$port" "$secret" "${turbo_args[@]}") || demo_url=
  if [[ -n $demo_url && -n $pgdir ]]; then
    cat >&2 <<INFO
OneTouch demo: open $demo_url and log in as user 42 (any id 1-1000), then
  approve: $psql_cmd -c "UPDATE users SET authy_status='approved' WHERE id=42"
  deny:    $psql_cmd -c "UPDATE users SET authy_status='denied' WHERE id=42"
  reset:   $psql_cmd -c "UPDATE users SET authy_status='unverified' WHERE id=42"

INFO
    if [[ ${#turbo_args[@]} -gt 0 ]]; then
      # The NOTIFY of Rails' PostgreSQL Action Cable adapter for
      # Turbo::StreamsChannel.broadcast_append_to("messages", target: "messages", html: ...).
      turbo_line=$(/usr/bin/python3 deploy/demo/turbo_demo.py psql-line "$psql_cmd" "$turbo_prefix" "$turbo_stream" \
        '<turbo-stream action="append" target="messages"><template><p>Hello from PostgreSQL</p></template></turbo-stream>')
      cat >&2 <<INFO
Turbo Streams demo: open ${demo_url}turbo, then broadcast to it as a Rails app with
\`adapter: postgresql\` (channel_prefix $turbo_prefix) does for broadcast_append_to("$turbo_stream", ...):
  $turbo_line

INFO
    fi
  elif [[ -n $demo_url ]]; then
    cat >&2 <<INFO
OneTouch demo: open $demo_url, log in as user 42, then approve with the NOTIFY line above.

INFO
  else
    echo "(OneTouch demo not started: nginx failed, see $demodir)" >&2
  fi
fi

# Job control puts the gateway in its own process group: a terminal's Ctrl-C reaches
# only this script, which forwards it once (and the gateway does not start with
# SIGINT ignored, as background commands of a non-interactive shell otherwise do).
set -m
build/gateway/sse-gateway "${db_args[@]}" "${secret_args[@]}" "$@" &
gateway_pid=$!
set +m
trap 'kill -INT "$gateway_pid" 2>/dev/null || true' INT
trap 'kill -TERM "$gateway_pid" 2>/dev/null || true' TERM
# wait returns early when a trapped signal arrives: keep waiting until the gateway exits.
rc=0
while kill -0 "$gateway_pid" 2>/dev/null; do
  wait "$gateway_pid" && rc=0 || rc=$?
done
gateway_pid=
exit "$rc"
