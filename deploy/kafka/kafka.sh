#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft) on 127.0.0.1 for local development and integration tests,
# run from jars fetched with Maven (no Kafka install, no Docker). `kafka.sh --help` explains.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="kafka.sh"
POM="$HERE/pom.xml"
TEMPLATE="$HERE/server.properties"
LOG4J_CONFIG="$HERE/log4j2.properties"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"
CACHE_ROOT="${SOCIALPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/socialpulse}"
KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
MARKER="$KAFKA_HOME/libs.complete"

DEFAULT_PORT=19092
START_TIMEOUT=90
STOP_TIMEOUT=30
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
MIN_JAVA=17

usage() {
    cat <<EOF
Usage: $PROG COMMAND [OPTIONS]

A single-node Apache Kafka $KAFKA_VERSION (KRaft: broker and controller in one JVM) listening on
127.0.0.1 only. Needs Java $MIN_JAVA+ and Maven; the jars come from Maven Central into
  $LIBS
(set SOCIALPULSE_CACHE or XDG_CACHE_HOME to move it). Storage is formatted afresh on every start:
the broker always starts empty.

Commands:
  fetch                    Download the broker's jars into the cache (skipped when complete).
  run   [--port P] [--controller-port C] [--data DIR]
                           Fetch if needed, format fresh storage and run the broker in the
                           foreground (Ctrl-C stops it). This is \`make kafka\`.
  start [--port P] [--controller-port C] [--data DIR] [--pidfile F] [--log F] [--timeout S]
        [SASL_SSL options]
                           The same in the background: waits until the broker has started and
                           accepts connections on P, then prints the bootstrap address.
  stop  [--pidfile F | --data DIR]
                           SIGTERM the broker started by \`start\`, SIGKILL it after ${STOP_TIMEOUT}s.

Options:
  --port P             client port (default $DEFAULT_PORT)
  --controller-port C  KRaft controller port (default P+1)
  --data DIR           working directory: server.properties, the log directory kraft-logs/
                       (wiped on every start; nothing else in DIR is touched), and for
                       \`start\` kafka.pid and kafka.log
                       (default for run/start: $KAFKA_HOME/data-P)
  --pidfile F          pid file of a background broker (default DIR/kafka.pid)
  --log F              broker output of \`start\` (default DIR/kafka.log)
  --timeout S          how long \`start\` waits for the broker (default ${START_TIMEOUT}s)
  -h, --help           this help

SASL_SSL options (run and start): a second client listener with TLS and SASL PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512, beside the PLAINTEXT one (which the broker keeps for itself):
  --sasl-ssl-port S    its port on 127.0.0.1
  --keystore F         PKCS12 keystore with the broker's key and certificate (for 127.0.0.1)
  --store-password W   password of the keystore (and truststore)
  --truststore F       PKCS12 truststore: clients must then present a certificate it trusts
  --user NAME:PASSWORD a client login for every mechanism (repeatable; letters, digits, . _ -)

Environment:
  SOCIALPULSE_CACHE    cache root (default \${XDG_CACHE_HOME:-~/.cache}/socialpulse)
  KAFKA_HEAP_OPTS      JVM heap (default "-Xms256m -Xmx768m")
  JAVA                 java executable (default: java on PATH)
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

JAVA_BIN="${JAVA:-java}"
COMMAND=""
CLEANUP=() # paths removed when the script exits (a partial download)
cleanup() { ((${#CLEANUP[@]} == 0)) || rm -rf "${CLEANUP[@]}"; }
trap cleanup EXIT

check_java() {
    command -v "$JAVA_BIN" >/dev/null 2>&1 ||
        die "Java $MIN_JAVA or newer is needed, but '$JAVA_BIN' is not on PATH (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)."
    local line version major
    line="$("$JAVA_BIN" -version 2>&1 | head -n 1)" || true
    version="$(printf '%s\n' "$line" | sed -n 's/.*version "\([^"]*\)".*/\1/p')"
    [[ -n "$version" ]] || die "could not read the Java version from: $line"
    major="${version%%.*}"
    major="${major%%[!0-9]*}"
    if [[ "$major" == 1 ]]; then # 1.8.0_x style
        major="$(printf '%s' "$version" | cut -d. -f2)"
    fi
    [[ "$major" =~ ^[0-9]+$ ]] || die "could not read the Java version from: $line"
    ((major >= MIN_JAVA)) || die "Kafka $KAFKA_VERSION needs Java $MIN_JAVA or newer; '$JAVA_BIN' is Java $version."
}

check_maven() {
    command -v mvn >/dev/null 2>&1 ||
        die "Maven ('mvn') is needed to download Kafka's jars but is not on PATH (Debian/Ubuntu: apt-get install maven)."
}

fetched() { [[ -f "$MARKER" && -d "$LIBS" ]] && [[ "$(cat "$MARKER")" == "$(pom_digest)" ]]; }

pom_digest() { cksum <"$POM" | cut -d' ' -f1,2; }

cmd_fetch() {
    check_java
    if fetched; then
        say "Kafka $KAFKA_VERSION jars already in $LIBS"
        return 0
    fi
    check_maven
    mkdir -p "$KAFKA_HOME"
    # One download at a time (two test sessions may start at once); the lock's descriptor is
    # open only for the download, so a broker started afterwards does not inherit it.
    download 9>"$KAFKA_HOME/fetch.lock"
}

download() {
    if command -v flock >/dev/null 2>&1; then
        flock 9
        if fetched; then
            say "Kafka $KAFKA_VERSION jars already in $LIBS (fetched meanwhile)"
            return 0
        fi
    fi
    local tmp
    tmp="$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")"
    chmod 755 "$tmp"
    CLEANUP=("$tmp" "$tmp.mvn.log")
    say "downloading Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (about 30 s) ..."
    if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$tmp.mvn.log" 2>&1; then
        cat "$tmp.mvn.log" >&2
        die "Maven could not download the Kafka jars (output above)."
    fi
    compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null ||
        die "Maven finished but left no kafka_2.13-$KAFKA_VERSION.jar in $tmp"
    rm -rf "$LIBS" "$MARKER" "$tmp.mvn.log"
    mv "$tmp" "$LIBS"
    CLEANUP=()
    pom_digest >"$MARKER"
    say "fetched $(find "$LIBS" -name '*.jar' | wc -l | tr -d ' ') jars into $LIBS"
}

ensure_fetched() {
    if fetched; then
        check_java
    else
        cmd_fetch
    fi
}

# Options shared by run, start and stop.
PORT=""
CONTROLLER_PORT=""
DATA=""
PIDFILE=""
LOGFILE=""
SASL_SSL_PORT=""
KEYSTORE=""
TRUSTSTORE=""
STORE_PASSWORD=""
USERS=()

parse_options() {
    while (($#)); do
        case "$1" in
        --port) PORT="${2:?--port needs a value}" && shift 2 ;;
        --controller-port) CONTROLLER_PORT="${2:?--controller-port needs a value}" && shift 2 ;;
        --data) DATA="${2:?--data needs a value}" && shift 2 ;;
        --pidfile) PIDFILE="${2:?--pidfile needs a value}" && shift 2 ;;
        --log) LOGFILE="${2:?--log needs a value}" && shift 2 ;;
        --timeout) START_TIMEOUT="${2:?--timeout needs a value}" && shift 2 ;;
        --sasl-ssl-port) SASL_SSL_PORT="${2:?--sasl-ssl-port needs a value}" && shift 2 ;;
        --keystore) KEYSTORE="${2:?--keystore needs a value}" && shift 2 ;;
        --truststore) TRUSTSTORE="${2:?--truststore needs a value}" && shift 2 ;;
        --store-password) STORE_PASSWORD="${2:?--store-password needs a value}" && shift 2 ;;
        --user) USERS+=("${2:?--user needs NAME:PASSWORD}") && shift 2 ;;
        -h | --help) usage && exit 0 ;;
        *) die "unknown option '$1' (see $PROG --help)" ;;
        esac
    done
    PORT="${PORT:-$DEFAULT_PORT}"
    local p
    for p in "$PORT" "$CONTROLLER_PORT" "$START_TIMEOUT" "$SASL_SSL_PORT"; do
        [[ -z "$p" || "$p" =~ ^[0-9]+$ ]] || die "'$p' is not a number"
    done
    CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 1))}"
    ((PORT > 0 && PORT < 65536 && CONTROLLER_PORT > 0 && CONTROLLER_PORT < 65536)) ||
        die "ports must be between 1 and 65535"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "--port and --controller-port must differ"
    check_sasl_ssl_options
    DATA="${DATA:-$KAFKA_HOME/data-$PORT}"
    if [[ "$COMMAND" != stop ]]; then
        mkdir -p "$DATA"
        DATA="$(cd "$DATA" && pwd)"
    fi
    PIDFILE="${PIDFILE:-$DATA/kafka.pid}"
    LOGFILE="${LOGFILE:-$DATA/kafka.log}"
}

check_sasl_ssl_options() {
    if [[ -z "$SASL_SSL_PORT" ]]; then
        [[ -z "$KEYSTORE$TRUSTSTORE$STORE_PASSWORD" && ${#USERS[@]} -eq 0 ]] ||
            die "--keystore, --truststore, --store-password and --user need --sasl-ssl-port"
        return 0
    fi
    ((SASL_SSL_PORT > 0 && SASL_SSL_PORT < 65536)) || die "ports must be between 1 and 65535"
    [[ "$SASL_SSL_PORT" != "$PORT" && "$SASL_SSL_PORT" != "$CONTROLLER_PORT" ]] ||
        die "--sasl-ssl-port must differ from --port and --controller-port"
    [[ -n "$KEYSTORE" && -f "$KEYSTORE" ]] || die "--sasl-ssl-port needs --keystore FILE (PKCS12) that exists"
    [[ -z "$TRUSTSTORE" || -f "$TRUSTSTORE" ]] || die "truststore $TRUSTSTORE does not exist"
    [[ -n "$STORE_PASSWORD" ]] || die "--sasl-ssl-port needs --store-password"
    ((${#USERS[@]} > 0)) || die "--sasl-ssl-port needs at least one --user NAME:PASSWORD"
    local user
    for user in "${USERS[@]}"; do
        [[ "$user" =~ ^[A-Za-z0-9._-]+:[A-Za-z0-9._-]+$ ]] ||
            die "--user '$user' is not NAME:PASSWORD of letters, digits, '.', '_' and '-'"
    done
    KEYSTORE="$(cd "$(dirname "$KEYSTORE")" && pwd)/$(basename "$KEYSTORE")"
    [[ -z "$TRUSTSTORE" ]] || TRUSTSTORE="$(cd "$(dirname "$TRUSTSTORE")" && pwd)/$(basename "$TRUSTSTORE")"
}

# server.properties lines for the SASL_SSL listener (later keys override the template's).
sasl_ssl_properties() {
    local plain_users="" user
    for user in "${USERS[@]}"; do
        plain_users+=" user_${user%%:*}=\"${user#*:}\""
    done
    local prefix=listener.name.sasl_ssl
    cat <<PROPS

# SASL_SSL listener added by kafka.sh --sasl-ssl-port: TLS, then PLAIN or SCRAM logins.
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
$prefix.ssl.keystore.type=PKCS12
$prefix.ssl.keystore.location=$KEYSTORE
$prefix.ssl.keystore.password=$STORE_PASSWORD
$prefix.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
$prefix.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
$prefix.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS
    if [[ -n "$TRUSTSTORE" ]]; then
        cat <<PROPS
$prefix.ssl.client.auth=required
$prefix.ssl.truststore.type=PKCS12
$prefix.ssl.truststore.location=$TRUSTSTORE
$prefix.ssl.truststore.password=$STORE_PASSWORD
PROPS
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random 22-character cluster id (the URL-safe base64 of 16 random bytes, as Kafka's own
# `kafka-storage random-uuid`), never starting with '-' so no parser takes it for an option.
cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
        [[ "$id" != -* ]] && break
    done
    printf '%s' "$id"
}

java_cmd() {
    # shellcheck disable=SC2206 # word splitting of the heap options is intended
    local heap=($HEAP_OPTS)
    JAVA_CMD=("$JAVA_BIN" "${heap[@]}" -XX:+UseG1GC -Djava.awt.headless=true
        -Djava.net.preferIPv4Stack=true "-Dlog4j2.configurationFile=$LOG4J_CONFIG"
        -cp "$LIBS/*")
}

# Write DATA/server.properties from the template and format fresh, empty storage.
prepare() {
    local port
    for port in "$PORT" "$CONTROLLER_PORT" $SASL_SSL_PORT; do
        ! port_open "$port" || die "port $port on 127.0.0.1 is already in use (another broker running? pick another with --port / --controller-port)"
    done
    local logdir="$DATA/kraft-logs"
    rm -rf "$logdir"
    local props
    props="$(<"$TEMPLATE")"
    props="${props//@PORT@/"$PORT"}"
    props="${props//@CONTROLLER_PORT@/"$CONTROLLER_PORT"}"
    props="${props//@LOG_DIR@/"$logdir"}"
    printf '%s\n' "$props" >"$DATA/server.properties"
    # SCRAM credentials are KRaft metadata: written into the storage as it is formatted.
    local scram=() user mechanism
    if [[ -n "$SASL_SSL_PORT" ]]; then
        sasl_ssl_properties >>"$DATA/server.properties"
        chmod 600 "$DATA/server.properties"
        for user in "${USERS[@]}"; do
            for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
                scram+=(--add-scram "$mechanism=[name=${user%%:*},password=${user#*:}]")
            done
        done
    fi
    java_cmd
    local out
    if ! out="$("${JAVA_CMD[@]}" kafka.tools.StorageTool format -t "$(cluster_id)" \
        -c "$DATA/server.properties" "${scram[@]}" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "formatting the storage in $logdir failed (output above)."
    fi
}

cmd_run() {
    parse_options "$@"
    ensure_fetched
    prepare
    say "Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (controller $CONTROLLER_PORT, data $DATA); Ctrl-C stops it"
    exec "${JAVA_CMD[@]}" kafka.Kafka "$DATA/server.properties"
}

# True while process $1 exists and is not a zombie waiting for a parent to reap it.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(ps -p "$1" -o stat= 2>/dev/null)" || return 1
    [[ "$state" != Z* ]]
}

running_pid() {
    # The pid in $PIDFILE if that process is alive and is a Kafka broker, else nothing.
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    [[ -n "$pid" ]] || return 0
    alive "$pid" || return 0
    local args
    args="$(ps -ww -p "$pid" -o args= 2>/dev/null)" || return 0
    [[ "$args" == *kafka.Kafka* ]] || return 0
    printf '%s' "$pid"
}

tail_log() {
    say "last lines of $LOGFILE:"
    tail -n 40 "$LOGFILE" >&2 || true
}

cmd_start() {
    parse_options "$@"
    local pid
    pid="$(running_pid)"
    [[ -z "$pid" ]] || die "a broker from $PIDFILE is already running (pid $pid); stop it first"
    ensure_fetched
    prepare
    mkdir -p "$(dirname "$LOGFILE")" "$(dirname "$PIDFILE")"
    : >"$LOGFILE"
    # Its own session (when setsid exists), so a Ctrl-C or hang-up meant for the caller does not
    # reach the broker; `stop` ends it. No descriptor of ours is inherited: callers that capture
    # this script's output see EOF as soon as it exits.
    local launcher=()
    command -v setsid >/dev/null 2>&1 && launcher=(setsid)
    "${launcher[@]}" "${JAVA_CMD[@]}" kafka.Kafka "$DATA/server.properties" \
        </dev/null >>"$LOGFILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"
    say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT${SASL_SSL_PORT:+ and SASL_SSL 127.0.0.1:$SASL_SSL_PORT} (pid $pid, log $LOGFILE) ..."
    local waited=0
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            tail_log
            die "the broker exited during start-up (log above)."
        fi
        if grep -q 'Kafka Server started' "$LOGFILE" && port_open "$PORT" &&
            { [[ -z "$SASL_SSL_PORT" ]] || port_open "$SASL_SSL_PORT"; }; then
            break
        fi
        if ((waited >= START_TIMEOUT * 4)); then
            tail_log
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            die "the broker did not start within ${START_TIMEOUT}s (log above); killed it."
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    say "ready after ~$((waited / 4))s"
    printf '127.0.0.1:%s\n' "$PORT"
}

cmd_stop() {
    parse_options "$@"
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDFILE"
        say "no broker running from $PIDFILE"
        return 0
    fi
    say "stopping the broker (pid $pid) ..."
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while alive "$pid"; do
        if ((waited >= STOP_TIMEOUT * 4)); then
            say "still running after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    rm -f "$PIDFILE"
    say "stopped"
}

main() {
    [[ -n "$KAFKA_VERSION" ]] || die "no <kafka.version> in $POM"
    COMMAND="${1:-}"
    (($# == 0)) || shift
    case "$COMMAND" in
    fetch)
        case "${1:-}" in
        "") cmd_fetch ;;
        -h | --help) usage ;;
        *) die "fetch takes no options (see $PROG --help)" ;;
        esac
        ;;
    run) cmd_run "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    -h | --help | help) usage ;;
    "") usage >&2 && exit 2 ;;
    *) die "unknown command '$COMMAND' (see $PROG --help)" ;;
    esac
}

main "$@"
