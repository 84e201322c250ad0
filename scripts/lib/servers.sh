# Private servers for one run of a project script (scripts/test, loadtest/run-ingest-bench): a
# RabbitMQ node with its own epmd, a Redis server, all on free loopback ports, with their files
# in the run's temp dir, and the cleanup that stops them and anything else the run left behind.
#
# Sourced, not run. The caller sets TMP (a fresh temp dir) before starting anything, and installs
# `trap cleanup EXIT`. Processes started after `export BLACKHOLE_TEST_TMPDIR=$TMP` carry that mark
# in their environment; cleanup kills whatever still carries it.
# shellcheck shell=bash
# shellcheck disable=SC2317 # the cleanup functions run from the EXIT trap
# shellcheck disable=SC2034 # AMQP_URL, REDIS_URL, NODE, ... are read by the sourcing script

readonly RABBIT_BIN=/usr/lib/rabbitmq/bin
readonly START_TIMEOUT_S=90

say() { printf '==> %s\n' "$*" >&2; }

# Runs a command in the background and waits for it: bash runs traps only between foreground
# commands, so a long command would otherwise hold off a TERM (a CI timeout) until it ends.
run() {
    "$@" &
    wait $!
}

# --- install -----------------------------------------------------------------------------------

# Prints, one a line, the Debian packages of the servers that are missing here.
missing_server_packages() {
    command -v redis-server >/dev/null || echo redis-server
    [[ -x $RABBIT_BIN/rabbitmq-server ]] || echo rabbitmq-server
    return 0
}

# Installs the given Debian packages (none: does nothing); needs root.
install_packages() {
    (($#)) || return 0
    if ((EUID != 0)); then
        say "missing packages: $*; run as root (or install them) first"
        exit 1
    fi
    say "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

# --- free ports ----------------------------------------------------------------------------------

# Prints N distinct free loopback ports, kept out of 35672-35682: the fixed range on which every
# rabbitmqctl call listens for Erlang distribution.
free_ports() {
    if command -v python3 >/dev/null; then
        # The sockets are held open together so that the kernel cannot hand out a port twice.
        python3 - "$1" <<'PY'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    port = s.getsockname()[1]
    if not 35672 <= port <= 35682:
        ports.append(port)
print(" ".join(map(str, ports)))
PY
    else
        # Below the kernel's ephemeral range (32768+), so outgoing connections cannot take them.
        local ports=() p
        while ((${#ports[@]} < $1)); do
            p=$((20000 + RANDOM % 12000))
            [[ " ${ports[*]} " == *" $p "* ]] && continue
            (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
            ports+=("$p")
        done
        echo "${ports[*]}"
    fi
}

# --- cleanup -------------------------------------------------------------------------------------

TMP=""
RABBIT_PID=""
EPMD_PID=""
EPMD_PORT=""
NODE=""
RABBIT_HOME=""
AMQP_URL=""
REDIS_PID=""
REDIS_URL=""
CLEANED=0

# Pids of processes (not this shell) whose environment carries this run's temp dir: everything
# started after BLACKHOLE_TEST_TMPDIR was exported (cargo, test binaries, the project's binaries,
# redis-servers, stray rabbitmqctl calls). Redis rewrites its own command line, so the
# environment is the reliable mark.
marked_pids() {
    local env pid
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}
        pid=${pid%/environ}
        ((pid == $$ || pid == BASHPID)) && continue
        if grep -qszxF "BLACKHOLE_TEST_TMPDIR=$TMP" "$env"; then
            echo "$pid"
        fi
    done
    return 0
}

# Redis servers whose working directory (its --dir) is inside the temp dir, in case a test
# started one with an environment of its own.
redis_pids_in_tmp() {
    local pid cwd
    for pid in $(pgrep -x redis-server || true); do
        cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
        [[ $cwd == "$TMP"/* || $cwd == "$TMP" ]] && echo "$pid"
    done
    return 0
}

wait_gone() { # pid seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

cleanup() {
    local rc=$?
    ((CLEANED)) && return "$rc"
    CLEANED=1
    trap '' INT TERM
    # Best effort from here on: one failed step must not leave the rest running.
    set +e +o pipefail
    # From here on nothing we spawn may carry the mark that marked_pids looks for.
    unset BLACKHOLE_TEST_TMPDIR
    # Clients first (after a TERM they may still run), so they do not watch the servers go away.
    if [[ -n $TMP ]]; then
        local leftovers
        # The run's own Redis also lives in the temp dir; it is stopped below, without a word.
        leftovers=$( { marked_pids; redis_pids_in_tmp; } | grep -vxF "${REDIS_PID:-none}" |
            sort -u | tr '\n' ' ')
        if [[ -n ${leftovers// /} ]]; then
            say "killing leftover processes: $leftovers"
            # shellcheck disable=SC2086
            kill -KILL $leftovers 2>/dev/null || true
        fi
    fi
    if [[ -n $REDIS_PID ]]; then
        kill -KILL "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    if [[ -n $RABBIT_PID ]] && kill -0 "$RABBIT_PID" 2>/dev/null; then
        say "stopping rabbitmq"
        rmqctl stop >/dev/null 2>&1 || true
        if ! wait_gone "$RABBIT_PID" 15; then
            # The pid is rabbitmq-server's sh wrapper; the Erlang VM is its child.
            pkill -KILL -P "$RABBIT_PID" 2>/dev/null || true
            kill -KILL "$RABBIT_PID" 2>/dev/null || true
        fi
        wait "$RABBIT_PID" 2>/dev/null || true
    fi
    if [[ -n $EPMD_PID ]]; then
        kill "$EPMD_PID" 2>/dev/null || true
        wait "$EPMD_PID" 2>/dev/null || true
    fi
    # Should an `epmd -daemon` have won the race anyway, it carries our port in its environment.
    if [[ -n $EPMD_PORT ]]; then
        local pid
        for pid in $(pgrep -x epmd || true); do
            if grep -qszxF "ERL_EPMD_PORT=$EPMD_PORT" "/proc/$pid/environ"; then
                kill "$pid" 2>/dev/null || true
            fi
        done
    fi
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ ${BLACKHOLE_KEEP_TMP:-0} == 1 ]]; then
            say "kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    return "$rc"
}

# --- rabbitmq ------------------------------------------------------------------------------------

# rabbitmqctl for our node: it needs the node's HOME (the Erlang cookie) and epmd, but the rest
# of the script (cargo, rustup) must keep the real HOME, so these are set per call.
rmqctl() {
    HOME="$RABBIT_HOME" ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT" \
        timeout 60 "$RABBIT_BIN/rabbitmqctl" -n "$NODE" "$@"
}

# Starts the node in $TMP/rabbitmq and waits until it is ready; sets AMQP_URL, NODE, RABBIT_HOME
# and EPMD_PORT.
start_rabbitmq() {
    local amqp_port dist_port r="$TMP/rabbitmq"
    read -r amqp_port dist_port EPMD_PORT < <(free_ports 3)
    NODE="bhtest-$$@localhost"
    RABBIT_HOME="$r/home"
    mkdir -p "$RABBIT_HOME" "$r/mnesia" "$r/log"
    echo '[].' >"$r/enabled_plugins"

    # Our own foreground epmd, so its pid is ours to stop: the one erl would start daemonizes
    # and outlives the node.
    epmd -port "$EPMD_PORT" -address 127.0.0.1 >"$r/epmd.log" 2>&1 &
    EPMD_PID=$!
    # Until it listens, erl would start a daemon of its own and ours would fail to bind.
    local i
    for ((i = 0; i < 100; i++)); do
        (: <"/dev/tcp/127.0.0.1/$EPMD_PORT") 2>/dev/null && break
        kill -0 "$EPMD_PID" 2>/dev/null || break
        sleep 0.05
    done

    local started=$SECONDS
    HOME="$RABBIT_HOME" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_EPMD_PORT=$EPMD_PORT \
    RABBITMQ_NODENAME=$NODE \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$amqp_port \
    RABBITMQ_DIST_PORT=$dist_port \
    RABBITMQ_MNESIA_BASE="$r/mnesia" \
    RABBITMQ_LOG_BASE="$r/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$r/rabbitmq" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        "$RABBIT_BIN/rabbitmq-server" >"$r/stdout.log" 2>&1 &
    RABBIT_PID=$!

    # await_startup fails at once until the node has registered with epmd, hence the loop.
    until rmqctl await_startup --timeout 30 >"$r/await.log" 2>&1; do
        if ! kill -0 "$RABBIT_PID" 2>/dev/null || ((SECONDS - started >= START_TIMEOUT_S)); then
            say "rabbitmq did not start within $((SECONDS - started)) s; its logs:"
            tail -n 60 "$r/stdout.log" "$r/log/"*.log "$r/await.log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    say "rabbitmq ready on 127.0.0.1:$amqp_port ($((SECONDS - started)) s; node $NODE, epmd port $EPMD_PORT)"
    AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp_port/%2f"
}

# The pid of the node's Erlang VM (the child of rabbitmq-server's sh wrapper), whose CPU time is
# the broker's.
rabbitmq_vm_pid() {
    pgrep -x beam.smp -P "$RABBIT_PID"
}

# --- redis ---------------------------------------------------------------------------------------

# Starts a redis-server in $TMP/redis exactly as the end-to-end tests start theirs
# (tests/src/servers/redis.rs: loopback, no persistence) and waits for PING; sets REDIS_URL.
start_redis() {
    local port dir="$TMP/redis" i
    read -r port < <(free_ports 1)
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" >/dev/null 2>&1 &
    REDIS_PID=$!
    for ((i = 0; i < 200; i++)); do
        [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break
        if ! kill -0 "$REDIS_PID" 2>/dev/null || ((i == 199)); then
            say "redis-server did not start; its log:"
            tail -n 30 "$dir/redis.log" >&2 || true
            exit 1
        fi
        sleep 0.05
    done
    say "redis ready on 127.0.0.1:$port"
    REDIS_URL="redis://127.0.0.1:$port"
}
