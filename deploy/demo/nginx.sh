#!/usr/bin/env bash
# Runs the demo pages behind Debian's nginx, proxying the stream routes to a
# gateway on loopback. Everything (config, pid, logs, temp files, the rendered Turbo
# page) lives in DIR.
#   deploy/demo/nginx.sh start DIR PORT GATEWAY SECRET [SIGNED_STREAM_NAME STREAM_NAME]
#       PORT 0 picks a free port; prints http://127.0.0.1:PORT/ once nginx listens.
#       GATEWAY is the gateway's HOST:PORT, or a port on 127.0.0.1.
#       With a signed stream name, /turbo is the Turbo Streams page subscribed to
#       it, and /turbo.js is @hotwired/turbo copied from deploy/demo/node_modules
#       (deploy/demo/setup.sh installs it); without, both answer 404.
#   deploy/demo/nginx.sh stop DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
usage() { echo "usage: $0 start DIR PORT GATEWAY SECRET [SIGNED_STREAM_NAME STREAM_NAME] | stop DIR" >&2; exit 2; }
TURBO_JS=$here/node_modules/@hotwired/turbo/dist/turbo.es2017-umd.js

free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

render() { # port gateway secret
  local user_line='# (not root: workers run as the current user)'
  # As root, nginx would switch its workers to "nobody", who may not reach the page
  # files or DIR; the demo keeps them as root (loopback only, a throwaway config).
  [[ $(id -u) -eq 0 ]] && user_line='user root;'
  local secret=${3//\\/\\\\}
  secret=${secret//\"/\\\"}
  secret=${secret//&/\\&}
  secret=${secret//|/\\|}
  sed -e "s|@USER_LINE@|$user_line|" \
      -e "s|@RUN_DIR@|$dir|g" \
      -e "s|@DEMO_ROOT@|$here|g" \
      -e "s|@LISTEN@|127.0.0.1:$1|g" \
      -e "s|@GATEWAY@|$2|g" \
      -e "s|@SECRET@|$secret|g" \
      "$here/nginx.conf.in" >"$dir/nginx.conf"
}

# The Turbo page with its signed stream name, and Turbo itself beside it: the page
# loads nothing from anywhere else.
turbo_page() { # signed_name stream_name
  [[ -f $TURBO_JS ]] || { echo "demo-nginx: $TURBO_JS not found (run deploy/demo/setup.sh)" >&2; exit 1; }
  mkdir -p "$dir/www"
  cp "$TURBO_JS" "$dir/www/turbo.js"
  /usr/bin/python3 "$here/turbo_demo.py" page "$here/turbo.html" "$dir/www/turbo.html" "$1" "$2"
}

start() { # port gateway secret [signed_name stream_name]
  local gateway=$2
  [[ $gateway == *:* ]] || gateway=127.0.0.1:$gateway
  [[ -x $NGINX ]] || { echo "demo-nginx: $NGINX not found (scripts/install-deps.sh installs nginx)" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ $# -lt 5 ]] || turbo_page "$4" "$5"
  local port=$1 attempt
  for attempt in 1 2 3 4 5; do
    [[ $1 == 0 ]] && port=$(free_port)
    render "$port" "$gateway" "$3"
    # With `daemon on` nginx returns once its socket is bound and the master runs.
    if "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/start.log"; then
      echo "http://127.0.0.1:$port/"
      return 0
    fi
    [[ $1 == 0 ]] || break   # a fixed port that is taken stays taken
    echo "demo-nginx: start attempt $attempt on port $port failed" >&2
  done
  cat "$dir/start.log" >&2 || true
  exit 1
}

stop() {
  local pid
  pid=$(cat "$dir/nginx.pid" 2>/dev/null || true)
  # TERM is nginx's fast shutdown (QUIT would wait for the open streams).
  if [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
case $cmd in
  start) [[ $# -eq 5 || $# -eq 7 ]] || usage; start "${@:3}" ;;
  stop) [[ $# -eq 2 ]] || usage; stop ;;
  *) usage ;;
esac
