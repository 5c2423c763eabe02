# Shared settings of the local services (sourced by up, down and the Makefile targets).
# Every value can be overridden from the environment.

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LOCAL_DIR/../.." && pwd)

# Under /tmp by default so the unprivileged postgres user can reach it wherever the clone lives;
# one state dir per clone (the path's checksum) so two checkouts never share servers by accident.
STATE_DIR=${BRIDGE_STATE_DIR:-${TMPDIR:-/tmp}/pgbridge-$(id -u)-$(printf %s "$REPO_DIR" | cksum | cut -d' ' -f1)}
CACHE_DIR=${BRIDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgbridge}

PG_BIN=${BRIDGE_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${BRIDGE_PG_PORT:-54329}
PG_USER=${BRIDGE_PG_USER:-bridge}
PG_PASSWORD=${BRIDGE_PG_PASSWORD:-bridge}
PG_DB=${BRIDGE_PG_DB:-bridge}
PG_DATA=$STATE_DIR/pg/data
PG_LOG=$STATE_DIR/pg/postgres.log

KAFKA_PORT=${BRIDGE_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${BRIDGE_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_LIBS=$CACHE_DIR/kafka-libs
KAFKA_DIR=$STATE_DIR/kafka
KAFKA_LOG=$KAFKA_DIR/logs/server.log
KAFKA_STDOUT=$KAFKA_DIR/logs/stdout.log
KAFKA_PID=$KAFKA_DIR/kafka.pid
KAFKA_HEAP=${BRIDGE_KAFKA_HEAP:--Xms256m -Xmx768m}

say() { echo "[local] $*" >&2; }

# True while process $1 runs. A zombie has exited (its files and sockets are closed), however long
# the init process takes to reap it (some container inits reap only every second or two).
process_alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a command as the unprivileged postgres user when we are root (PostgreSQL refuses root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "${BRIDGE_PG_OS_USER:-postgres}" -- "$@"
    else
        "$@"
    fi
}
