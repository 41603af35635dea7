#!/usr/bin/env bash
# Installs (if missing) and starts (if not running) the real servers the test suite uses:
# RabbitMQ, PostgreSQL, ffmpeg, nginx (installed only), versitygw (S3) and Elasticsearch 8.14. Idempotent: with
# everything up, `start` only checks and returns in a few seconds.
#
#   scripts/test-servers.sh [start|stop|status]      (default: start)
#
# `start` writes $REPO/.test-servers.env (export VAR=value lines; source it before pytest).
# State, data, pid files and logs live in $REPO/.test-servers/ (logs in .test-servers/logs/).
# Works on a fresh Debian 12 as root, without systemd or Docker.
# Overrides (rarely needed): LOA_TEST_STATE_DIR, LOA_TEST_ENV_FILE, LOA_TEST_S3_PORT,
# LOA_TEST_ES_HTTP_PORT, LOA_TEST_ES_TRANSPORT_PORT, LOA_TEST_ES_HEAP.
#
# RabbitMQ and tests: the node is the machine's one rabbitmq-server. Safe for tests:
#   rabbitmqctl stop_app / start_app (node stays up; a later `start` here runs start_app if the
#   app was left stopped), close_all_connections, list_queues, purge_queue, delete_queue, and
#   `rabbitmqctl reset` between stop_app and start_app (guest/guest is recreated on start_app).
# Not safe: `rabbitmqctl stop` / `shutdown` (kills the node; run this script again to bring it back),
#   deleting or changing the guest user.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LOA_TEST_STATE_DIR:-$REPO/.test-servers}"
LOGS="$STATE/logs"
ENV_FILE="${LOA_TEST_ENV_FILE:-$REPO/.test-servers.env}"
export PATH="/usr/local/go/bin:$HOME/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

AMQP_PORT=5672
RABBIT_MGMT_PORT=15672
PG_PORT=5432
S3_PORT="${LOA_TEST_S3_PORT:-9000}"
S3_ACCESS_KEY=loatest         # local test server only
S3_SECRET_KEY=loatestsecret   # local test server only
VERSITYGW_VERSION=v1.7.0
VERSITYGW_BIN="${GOBIN:-$HOME/go/bin}/versitygw"
ES_HTTP_PORT="${LOA_TEST_ES_HTTP_PORT:-9200}"
ES_TRANSPORT_PORT="${LOA_TEST_ES_TRANSPORT_PORT:-9300}"
ES_HEAP="${LOA_TEST_ES_HEAP:-1g}"
ES_SRC="$REPO/scripts/es-runner"

say() { printf '%-13s %s\n' "$1:" "$2"; }
die() { printf '%-13s FAILED: %s\n' "$1:" "$2" >&2; exit 1; }

port_open() { timeout 2 bash -c "</dev/tcp/$1/$2" 2>/dev/null; }

# wait_until NAME SECONDS CMD...: polls CMD every 0.5 s; dies naming the server on timeout.
wait_until() {
    local name=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            die "$name" "not ready after ${secs}s (waiting for: $*); see $LOGS/"
        fi
        sleep 0.5
    done
}

apt_install() {
    local name=$1; shift
    say "$name" "installing $* (apt)"
    if ! apt-get install -y -q "$@" >>"$LOGS/apt.log" 2>&1; then
        apt-get update -q >>"$LOGS/apt.log" 2>&1 || true
        apt-get install -y -q "$@" >>"$LOGS/apt.log" 2>&1 || die "$name" "apt-get install $* failed; see $LOGS/apt.log"
    fi
}

pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
    local name=$1 pidfile=$2 pid
    if ! pid_alive "$pidfile"; then
        rm -f "$pidfile"; say "$name" "not running (no live pid file)"; return 0
    fi
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$pidfile"
    say "$name" "stopped (pid $pid)"
}

# ---------------------------------------------------------------- RabbitMQ
rabbit_up() { port_open localhost $AMQP_PORT && port_open localhost $RABBIT_MGMT_PORT; }
rabbit_node_alive() { timeout 15 rabbitmqctl -q ping >/dev/null 2>&1 || timeout 15 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }

start_rabbitmq() {
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq rabbitmq-server
    ln -sfn /var/log/rabbitmq "$LOGS/rabbitmq"
    if rabbit_up; then say rabbitmq "up (amqp :$AMQP_PORT, management :$RABBIT_MGMT_PORT)"; return 0; fi

    local plugins_on=0
    grep -qs rabbitmq_management /etc/rabbitmq/enabled_plugins && plugins_on=1
    if rabbit_node_alive; then
        # Node up but app stopped (e.g. a test ran stop_app) or plugin off.
        ((plugins_on)) || timeout 60 rabbitmq-plugins enable rabbitmq_management >>"$LOGS/rabbitmq-start.log" 2>&1 \
            || die rabbitmq "could not enable rabbitmq_management"
        timeout 60 rabbitmqctl start_app >>"$LOGS/rabbitmq-start.log" 2>&1 || die rabbitmq "rabbitmqctl start_app failed"
    else
        ((plugins_on)) || rabbitmq-plugins enable --offline rabbitmq_management >>"$LOGS/rabbitmq-start.log" 2>&1 \
            || die rabbitmq "could not enable rabbitmq_management (offline)"
        rabbitmq-server -detached >>"$LOGS/rabbitmq-start.log" 2>&1 || die rabbitmq "rabbitmq-server -detached failed; see $LOGS/rabbitmq-start.log"
    fi
    timeout 120 rabbitmqctl -q await_startup >>"$LOGS/rabbitmq-start.log" 2>&1 || true
    wait_until rabbitmq 120 rabbit_up
    say rabbitmq "started (amqp :$AMQP_PORT, management :$RABBIT_MGMT_PORT)"
}

stop_rabbitmq() {
    if command -v rabbitmqctl >/dev/null && rabbit_node_alive; then
        timeout 60 rabbitmqctl -q stop >/dev/null 2>&1 || die rabbitmq "rabbitmqctl stop failed"
        say rabbitmq "stopped"
    else
        say rabbitmq "not running"
    fi
}

status_rabbitmq() { if rabbit_up; then say rabbitmq "up"; else say rabbitmq "DOWN"; return 1; fi; }

# ---------------------------------------------------------------- PostgreSQL
pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }
pg_ready() { pg_isready -q -h localhost -p $PG_PORT; }
pg_sql() { runuser -u postgres -- psql -X -q -p $PG_PORT -tAc "$1"; }

start_postgres() {
    [[ -x /usr/lib/postgresql/$(pg_version)/bin/postgres ]] 2>/dev/null || apt_install postgres postgresql
    local v; v=$(pg_version)
    [[ -n $v ]] || die postgres "no PostgreSQL under /usr/lib/postgresql after install"
    if ! pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="main"' | grep -q .; then
        pg_createcluster -p $PG_PORT "$v" main >>"$LOGS/postgres-start.log" 2>&1 || die postgres "pg_createcluster $v main failed"
    fi
    ln -sfn "/var/log/postgresql/postgresql-$v-main.log" "$LOGS/postgres.log"
    local started=0
    if ! pg_ready; then
        pg_ctlcluster "$v" main start >>"$LOGS/postgres-start.log" 2>&1 || die postgres "pg_ctlcluster $v main start failed; see $LOGS/postgres.log"
        wait_until postgres 60 pg_ready
        started=1
    fi
    # max_connections: the services each hold pools; raise it once (needs a restart).
    if [[ $(pg_sql "SHOW max_connections") != 300 ]]; then
        pg_sql "ALTER SYSTEM SET max_connections = 300" || die postgres "ALTER SYSTEM failed"
        pg_ctlcluster "$v" main restart >>"$LOGS/postgres-start.log" 2>&1 || die postgres "restart for max_connections failed"
        wait_until postgres 60 pg_ready
    fi
    if [[ -z $(pg_sql "SELECT 1 FROM pg_roles WHERE rolname = 'loa'") ]]; then
        pg_sql "CREATE ROLE loa LOGIN SUPERUSER CREATEDB PASSWORD 'loa'" || die postgres "CREATE ROLE loa failed"
    fi
    if [[ -z $(pg_sql "SELECT 1 FROM pg_database WHERE datname = 'loa_test'") ]]; then
        pg_sql "CREATE DATABASE loa_test OWNER loa" || die postgres "CREATE DATABASE loa_test failed"
    fi
    PGPASSWORD=loa psql -X -q -h localhost -p $PG_PORT -U loa -d loa_test -tAc 'SELECT 1' >/dev/null \
        || die postgres "cannot log in as loa/loa to loa_test on localhost:$PG_PORT"
    say postgres "$( ((started)) && echo started || echo up) ($v, :$PG_PORT, db loa_test, max_connections 300)"
}

stop_postgres() {
    local v; v=$(pg_version)
    if [[ -n $v ]] && pg_ready; then
        pg_ctlcluster "$v" main stop || die postgres "pg_ctlcluster $v main stop failed"
        say postgres "stopped"
    else
        say postgres "not running"
    fi
}

status_postgres() { if pg_ready 2>/dev/null; then say postgres "up"; else say postgres "DOWN"; return 1; fi; }

# ---------------------------------------------------------------- ffmpeg
start_ffmpeg() {
    command -v ffmpeg >/dev/null || apt_install ffmpeg ffmpeg
    local ver; ver=$(ffmpeg -hide_banner -version | head -1) || die ffmpeg "ffmpeg -version failed"
    say ffmpeg "ok (${ver%% Copyright*})"
}
# ---------------------------------------------------------------- nginx (installed only)
# tests/security runs its own nginx (own config, prefix and port) in front of a gateway, to show
# that clients behind a proxy keep their own address; nothing is started here.
NGINX_BIN=/usr/sbin/nginx
start_nginx() {
    [[ -x $NGINX_BIN ]] || apt_install nginx nginx
    say nginx "ok ($("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //'))"
}
status_nginx() { if [[ -x $NGINX_BIN ]]; then say nginx "ok"; else say nginx "MISSING"; return 1; fi; }

status_ffmpeg() { if command -v ffmpeg >/dev/null && ffmpeg -version >/dev/null 2>&1; then say ffmpeg "ok"; else say ffmpeg "MISSING"; return 1; fi; }

# ---------------------------------------------------------------- versitygw (S3)
S3_PID="$STATE/versitygw.pid"
s3_answers() {
    # A signed ListBuckets: proves the server is up and takes our keys.
    curl -sf -m 5 -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "http://localhost:$S3_PORT/"
}
versitygw_ok() {
    [[ -x $VERSITYGW_BIN ]] || return 1
    # Built by `go install` with a module version: go can read it back. Without go, trust the binary.
    if command -v go >/dev/null; then
        go version -m "$VERSITYGW_BIN" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$VERSITYGW_VERSION[[:space:]]"
    fi
}

start_versitygw() {
    if ! versitygw_ok; then
        command -v go >/dev/null || die versitygw "Go not found (needs Go >= 1.25, e.g. /usr/local/go/bin/go)"
        say versitygw "installing $VERSITYGW_VERSION (go install)"
        GOBIN="$(dirname "$VERSITYGW_BIN")" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" \
            >>"$LOGS/versitygw-install.log" 2>&1 || die versitygw "go install failed; see $LOGS/versitygw-install.log"
    fi
    if pid_alive "$S3_PID" && s3_answers; then say versitygw "up (:$S3_PORT)"; return 0; fi
    if port_open localhost $S3_PORT; then
        s3_answers && { say versitygw "up (:$S3_PORT, not started by this script)"; return 0; }
        die versitygw "port $S3_PORT is taken by something that does not accept the test keys"
    fi
    mkdir -p "$STATE/s3/data"
    ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY nohup "$VERSITYGW_BIN" \
        --port "127.0.0.1:$S3_PORT" posix "$STATE/s3/data" >>"$LOGS/versitygw.log" 2>&1 </dev/null &
    echo $! >"$S3_PID"
    wait_until versitygw 30 s3_answers
    say versitygw "started (:$S3_PORT, data $STATE/s3/data)"
}

stop_versitygw() { stop_pidfile versitygw "$S3_PID"; }
status_versitygw() { if s3_answers; then say versitygw "up"; else say versitygw "DOWN"; return 1; fi; }

# ---------------------------------------------------------------- Elasticsearch
# A real Elasticsearch 8.14 node run in one JVM by scripts/es-runner (see its pom.xml for why this
# is not the codelibs cluster runner). The runner binds the HTTP port it is given: no offset.
ES_PID="$STATE/elasticsearch.pid"
ES_BUILD="$STATE/es/build"
ES_CP="$STATE/es/classpath.txt"
ES_STAMP="$STATE/es/source.sha256"
es_health() { curl -sf -m 5 "http://localhost:$ES_HTTP_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" | grep -Eq '"status":"(green|yellow)"'; }
es_source_hash() { (cd "$ES_SRC" && find pom.xml src -type f | sort | xargs sha256sum) | sha256sum | cut -d' ' -f1; }

build_es_runner() {
    local want; want=$(es_source_hash)
    if [[ -s $ES_CP && -d $ES_BUILD/classes && $(cat "$ES_STAMP" 2>/dev/null) == "$want" ]]; then return 0; fi
    command -v java >/dev/null || apt_install elasticsearch openjdk-17-jre-headless
    command -v mvn >/dev/null || apt_install elasticsearch maven
    say elasticsearch "building runner (mvn; first time downloads Elasticsearch from Maven Central)"
    mkdir -p "$STATE/es"
    mvn -q -B -f "$ES_SRC/pom.xml" -Dloa.build.dir="$ES_BUILD" compile dependency:build-classpath \
        -Dmdep.outputFile="$ES_CP.tmp" >>"$LOGS/es-build.log" 2>&1 || die elasticsearch "mvn build failed; see $LOGS/es-build.log"
    mv "$ES_CP.tmp" "$ES_CP"
    echo "$want" >"$ES_STAMP"
}

start_elasticsearch() {
    build_es_runner
    if pid_alive "$ES_PID" && es_health; then say elasticsearch "up (http :$ES_HTTP_PORT)"; return 0; fi
    if port_open localhost $ES_HTTP_PORT; then
        es_health && { say elasticsearch "up (http :$ES_HTTP_PORT, not started by this script)"; return 0; }
        if ! pid_alive "$ES_PID"; then die elasticsearch "port $ES_HTTP_PORT is taken by something else"; fi
    fi
    if ! pid_alive "$ES_PID"; then
        mkdir -p "$STATE/es/node"
        # Bootstrap checks (vm.max_map_count etc.) do not apply: the node binds loopback only.
        nohup java -Xms"$ES_HEAP" -Xmx"$ES_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
            -Dfile.encoding=UTF-8 -Djava.io.tmpdir="$STATE/es/node" \
            -cp "$ES_BUILD/classes:$(cat "$ES_CP")" loa.esrunner.Main "$STATE/es/node" $ES_HTTP_PORT $ES_TRANSPORT_PORT \
            >>"$LOGS/elasticsearch.log" 2>&1 </dev/null &
        echo $! >"$ES_PID"
    fi
    local deadline=$((SECONDS + 120))
    until es_health; do
        pid_alive "$ES_PID" || die elasticsearch "JVM exited; see $LOGS/elasticsearch.log"
        ((SECONDS < deadline)) || die elasticsearch "not healthy after 120s; see $LOGS/elasticsearch.log"
        sleep 0.5
    done
    say elasticsearch "started (http :$ES_HTTP_PORT, 8.14.3, heap $ES_HEAP)"
}

stop_elasticsearch() { stop_pidfile elasticsearch "$ES_PID"; }
status_elasticsearch() { if es_health; then say elasticsearch "up (http :$ES_HTTP_PORT)"; else say elasticsearch "DOWN"; return 1; fi; }

# ---------------------------------------------------------------- main
write_env() {
    local tmp="$ENV_FILE.tmp.$$"
    cat >"$tmp" <<EOF
# Written by scripts/test-servers.sh start; local test servers only.
export LOA_TEST_AMQP_URI=amqp://guest:guest@localhost:$AMQP_PORT/
export LOA_TEST_RABBIT_MGMT=http://guest:guest@localhost:$RABBIT_MGMT_PORT
export LOA_TEST_POSTGRES_URL=postgresql+psycopg2://loa:loa@localhost:$PG_PORT/loa_test
export LOA_TEST_S3_ENDPOINT=localhost:$S3_PORT
export LOA_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY
export LOA_TEST_S3_SECRET_KEY=$S3_SECRET_KEY
export LOA_TEST_S3_SECURE=false
export LOA_TEST_ELASTICSEARCH_URL=http://localhost:$ES_HTTP_PORT
export LOA_TEST_FFMPEG=$(command -v ffmpeg)
export LOA_TEST_NGINX=$NGINX_BIN
EOF
    mv "$tmp" "$ENV_FILE"
}

main() {
    local cmd=${1:-start}
    mkdir -p "$LOGS"
    case $cmd in
        start)
            [[ $(id -u) == 0 ]] || die test-servers "run as root (installs packages, runs pg_ctlcluster)"
            start_ffmpeg
            start_nginx
            start_postgres
            start_rabbitmq
            start_versitygw
            start_elasticsearch
            write_env
            say env "$ENV_FILE"
            ;;
        stop)
            stop_elasticsearch
            stop_versitygw
            stop_rabbitmq
            stop_postgres
            ;;
        status)
            local rc=0
            status_ffmpeg || rc=1
            status_nginx || rc=1
            status_postgres || rc=1
            status_rabbitmq || rc=1
            status_versitygw || rc=1
            status_elasticsearch || rc=1
            return $rc
            ;;
        *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
    esac
}

main "$@"
