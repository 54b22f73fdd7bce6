#!/usr/bin/env bash
# The production shape of deploy/compose.yaml without Docker, on this machine: a database on
# the local PostgreSQL (created when missing), migrated; `honeytrace serve` and `honeytrace
# worker` as separate processes with the same settings the compose services get; then waits
# until GET /readyz answers ready. Ctrl-C (or SIGTERM) stops both processes, each finishing
# what it is doing first. The database and the state directory are kept.
#
#   deploy/run-local.sh [--database NAME] [--port PORT] [--state DIR]
#
#   --database  PostgreSQL database (default honeytrace_local), reached as PGUSER (postgres)
#               at PGHOST:PGPORT (127.0.0.1:5432) without a password (trust or ~/.pgpass)
#   --port      port serve listens on, on 127.0.0.1 (default 8000)
#   --state     directory of the secret key, scan spool, evidence blobs and logs (default a
#               new temporary directory); its secret_key is made on first use and kept
#
# `honeytrace` is taken from PATH (or HONEYTRACE_BIN); createdb and psql from PATH.
set -euo pipefail

database=honeytrace_local
port=8000
state=
while (($#)); do
    case $1 in
        --database) database=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --state) state=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "run-local: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ ! $database =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
    echo "run-local: the database name must be lower-case letters, digits and _" >&2
    exit 2
fi
if [[ ! $port =~ ^[0-9]{1,5}$ ]]; then
    echo "run-local: --port must be a number" >&2
    exit 2
fi
honeytrace=${HONEYTRACE_BIN:-$(command -v honeytrace || true)}
if [[ -z $honeytrace ]]; then
    echo "run-local: honeytrace is not on PATH (activate its virtualenv or set HONEYTRACE_BIN)" >&2
    exit 2
fi
pghost=${PGHOST:-127.0.0.1}
pgport=${PGPORT:-5432}
pguser=${PGUSER:-postgres}

state=${state:-$(mktemp -d -t honeytrace-local.XXXXXX)}
umask 077
mkdir -p "$state/spool" "$state/evidence"
state=$(cd "$state" && pwd)
if [[ ! -s $state/secret_key ]]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$state/secret_key"
fi

exists=$(psql -h "$pghost" -p "$pgport" -U "$pguser" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$database'")
if [[ $exists == 1 ]]; then
    echo "database $database exists: migrating it"
else
    createdb -h "$pghost" -p "$pgport" -U "$pguser" "$database"
    echo "database $database created"
fi

# What every honeytrace process gets (compose.yaml's x-honeytrace environment).
export HONEYTRACE_ENVIRONMENT=production
export HONEYTRACE_DATABASE_URL="postgresql+psycopg://$pguser@$pghost:$pgport/$database"
HONEYTRACE_SECRET_KEY=$(<"$state/secret_key")
export HONEYTRACE_SECRET_KEY
export HONEYTRACE_PUBLIC_URL=${HONEYTRACE_PUBLIC_URL:-http://127.0.0.1:$port}
export HONEYTRACE_TIME_ZONE=${HONEYTRACE_TIME_ZONE:-Asia/Shanghai}
export HONEYTRACE_SCAN_SPOOL_DIR=$state/spool
export HONEYTRACE_EVIDENCE_DIR=$state/evidence
# Run where no stray .env is read.
cd "$state"

"$honeytrace" db upgrade

# Each process keeps its own canary index, as separate containers or hosts would.
serve_only=(HONEYTRACE_HOST=127.0.0.1 "HONEYTRACE_PORT=$port" "HONEYTRACE_INDEX_PATH=$state/serve.keys")
worker_only=("HONEYTRACE_INDEX_PATH=$state/worker.keys")
env "${serve_only[@]}" "$honeytrace" serve >>"$state/serve.log" 2>&1 &
serve_pid=$!
env "${worker_only[@]}" "$honeytrace" worker >>"$state/worker.log" 2>&1 &
worker_pid=$!
names() { grep -o '^HONEYTRACE_[A-Z_]*' | sort -u | tr '\n' ' '; }
echo "serve settings: $(env "${serve_only[@]}" env | names)"
echo "worker settings: $(env "${worker_only[@]}" env | names)"

stop() {
    trap - INT TERM
    kill -TERM "$serve_pid" "$worker_pid" 2>/dev/null || true
    local serve_status=0 worker_status=0
    wait "$serve_pid" || serve_status=$?
    wait "$worker_pid" || worker_status=$?
    echo "stopped: serve exited $serve_status, worker exited $worker_status (logs in $state)"
    # uvicorn re-raises the SIGTERM it shut down gracefully on: 143 is a clean stop.
    [[ $serve_status =~ ^(0|143)$ && $worker_status == 0 ]]
}
trap 'stop; exit $?' INT TERM

ready() {
    python3 -c 'import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=4) as answer:
    sys.exit(0 if b"\"ready\"" in answer.read() else 1)' "http://127.0.0.1:$port/readyz" \
        2>/dev/null
}
for _ in $(seq 600); do
    if ready; then
        break
    fi
    if ! kill -0 "$serve_pid" 2>/dev/null || ! kill -0 "$worker_pid" 2>/dev/null; then
        echo "run-local: a process ended before ready; its log:" >&2
        tail -n 20 "$state/serve.log" "$state/worker.log" >&2
        stop || true
        exit 1
    fi
    sleep 0.1
done
if ! ready; then
    echo "run-local: /readyz did not answer ready within a minute" >&2
    stop || true
    exit 1
fi
echo "ready: http://127.0.0.1:$port (serve pid $serve_pid, worker pid $worker_pid, state $state)"

# Until stopped, or until one process ends by itself (then the other is stopped too).
wait -n "$serve_pid" "$worker_pid" || true
echo "run-local: a process ended by itself" >&2
stop || true
exit 1
