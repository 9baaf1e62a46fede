#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the storage contract tests.
#
#   scripts/pg-test.sh          start (initdb on first use), print the test URL last
#   scripts/pg-test.sh stop     stop it
#   scripts/pg-test.sh status   exit 0 when it is accepting connections
#
# Data lives in <repo>/var/pg/data (trust auth, 127.0.0.1 only). The port is
# 55432 unless PGPORT is set. When run as root the server runs as the
# `postgres` user (PostgreSQL refuses to run as root). Idempotent: running
# it again reuses a running server and an existing cluster, role and database.
#
#   export MINHU_TEST_POSTGRES_URL="$(scripts/pg-test.sh)"
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGROOT="$REPO/var/pg"
DATA="$PGROOT/data"
LOGFILE="$PGROOT/server.log"
PORT="${PGPORT:-55432}"
HOST=127.0.0.1
DB=minhu_test
ROLE=minhu
ACTION="${1:-start}"

log() { printf '[pg-test] %s\n' "$*" >&2; }

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

ensure_server_binaries() {
    if BINDIR="$(find_bindir)"; then
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install the 'postgresql' package"
        exit 1
    fi
    log "installing PostgreSQL server binaries (apt-get install postgresql)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2; then
        log "install failed; running apt-get update and retrying"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
    fi
    # The Debian package may start a cluster of its own on 5432; ours is separate.
    BINDIR="$(find_bindir)" || { log "PostgreSQL still not found after install"; exit 1; }
}

# Run a command as the user that owns the cluster.
RUN_AS=()
pick_user() {
    if [[ "$(id -u)" -eq 0 ]]; then
        if ! id postgres >/dev/null 2>&1; then
            log "creating system user 'postgres'"
            useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        fi
        RUN_AS=(runuser -u postgres --)
        mkdir -p "$PGROOT"
        chown postgres: "$PGROOT"
        # The server user must be able to reach the data directory.
        local dir="$PGROOT"
        while [[ "$dir" != "/" ]]; do
            dir="$(dirname "$dir")"
            chmod o+x "$dir" 2>/dev/null || true
        done
    else
        RUN_AS=()
        mkdir -p "$PGROOT"
    fi
}

as_owner() { "${RUN_AS[@]}" "$@"; }

is_ready() { "$BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }

psql_super() {
    as_owner "$BINDIR/psql" -v ON_ERROR_STOP=1 -q -X -h "$HOST" -p "$PORT" -U postgres -d postgres "$@"
}

start() {
    ensure_server_binaries
    pick_user
    if [[ ! -s "$DATA/PG_VERSION" ]]; then
        log "initdb into $DATA"
        as_owner mkdir -p "$DATA"
        chmod 700 "$DATA"
        as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
            || as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust \
                --encoding=UTF8 --locale=C >&2
    fi
    if is_ready; then
        log "already running on $HOST:$PORT"
    else
        if as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
            log "a server is running from $DATA but not on port $PORT; restarting it"
            as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2
        fi
        log "starting on $HOST:$PORT"
        # Socket in the data dir: /var/run/postgresql may not exist or be writable.
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 \
            -o "-c listen_addresses=$HOST -p $PORT -k $DATA -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >&2 \
            || { log "start failed; see $LOGFILE"; tail -n 20 "$LOGFILE" >&2; exit 1; }
    fi
    for _ in $(seq 1 60); do
        is_ready && break
        sleep 0.5
    done
    is_ready || { log "server did not become ready; see $LOGFILE"; exit 1; }

    if [[ "$(psql_super -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]]; then
        log "creating role $ROLE"
        psql_super -c "CREATE ROLE $ROLE LOGIN"
    fi
    if [[ "$(psql_super -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
        log "creating database $DB"
        psql_super -c "CREATE DATABASE $DB OWNER $ROLE ENCODING 'UTF8' TEMPLATE template0"
    fi
    echo "postgresql+asyncpg://$ROLE@$HOST:$PORT/$DB"
}

stop() {
    BINDIR="$(find_bindir)" || { log "no PostgreSQL binaries; nothing to stop"; return 0; }
    if [[ ! -s "$DATA/PG_VERSION" ]]; then
        log "no cluster in $DATA; nothing to stop"
        return 0
    fi
    pick_user
    if as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2
        log "stopped"
    else
        log "not running"
    fi
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    status)
        BINDIR="$(find_bindir)" || exit 1
        is_ready
        ;;
    *)
        log "usage: $0 [start|stop|status]"
        exit 2
        ;;
esac
