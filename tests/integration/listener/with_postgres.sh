#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL (scripts/tmp-postgres.sh), with
# DATABASE_URL pointing at it; the cluster is removed afterwards. A test that
# restarts the server runs `bash $TMP_POSTGRES_SCRIPT down|up $TMP_POSTGRES_DIR`.
#   with_postgres.sh SCRIPTS_DIR COMMAND [ARGS...]
set -euo pipefail
scripts=$1
shift
dir=$(mktemp -d /tmp/sse-listener-test.XXXXXX)
chmod 755 "$dir" # the server runs as the postgres user
trap 'bash "$scripts/tmp-postgres.sh" stop "$dir/pg" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
url=$(bash "$scripts/tmp-postgres.sh" start "$dir/pg")
DATABASE_URL=$url TMP_POSTGRES_SCRIPT=$scripts/tmp-postgres.sh TMP_POSTGRES_DIR=$dir/pg "$@"
