#!/usr/bin/env bash
# RSS per idle websocket, plain (ws://) against TLS (wss://), on the release edge (issue 5:
# "an idle TLS websocket must not keep large buffers").
#
# For each mode a fresh `blackhole-edge --demo` (no Redis) is started on loopback; one Node
# process (the `ws` package from tests/node/node_modules) opens one warm-up socket, the edge's
# VmRSS is read, then N more Socket.IO websockets (Engine.IO 4 open + Socket.IO CONNECT, no
# subscription, heartbeats answered) are opened and left idle, and VmRSS is read again once it
# has settled. The TLS edge serves an EC P-256 leaf from a throwaway CA (openssl CLI).
# A fresh process per mode, because memory freed by one mode's sockets would be reused by the
# other's and hide its cost.
#
# Usage: loadtest/tls-idle-rss.sh [N]   (default 2000; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
SETTLE_SECS=${SETTLE_SECS:-5}

[[ -d tests/node/node_modules/ws ]] || { echo "tests/node/node_modules is missing: run ./scripts/test once" >&2; exit 1; }
cargo build --release -q -p blackhole-edge
EDGE=target/release/blackhole-edge
# Two sockets per connection in this test (the edge's and the client's), plus slack.
ulimit -n "$(( N * 2 + 1024 > $(ulimit -Hn) ? $(ulimit -Hn) : N * 2 + 1024 ))"

tmp=$(mktemp -d -t tls-idle-rss.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- certificates ------------------------------------------------------------------------------
(
    cd "$tmp"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 2 -subj "/CN=tls-idle-rss CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
        -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 0x1D1E -days 2 \
        -extfile leaf.ext -out leaf.pem 2>/dev/null
)

# --- the client --------------------------------------------------------------------------------
cat > "$tmp/idle-clients.js" <<'JS'
// argv: URL N [CA_FILE]. Prints "warm" after one socket is up, waits for "go" on stdin, then
// opens N more in batches and prints "ready <open>"; "close" ends everything.
'use strict';
const fs = require('fs');
const readline = require('readline');
const WebSocket = require('ws');
const [url, n, caFile] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const options = { perMessageDeflate: false, ...(caFile ? { ca: fs.readFileSync(caFile) } : {}) };
const sockets = [];
let failures = 0;

// One Socket.IO socket: Engine.IO open ("0{...}"), then CONNECT ("40"), answering pings ("2").
function open() {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text[0] === '0') ws.send('40');
      else if (text === '2') ws.send('3');
      else if (text.startsWith('40')) resolve(true);
    });
    ws.on('error', () => { failures++; resolve(false); });
    ws.on('close', () => resolve(false));
    sockets.push(ws);
  });
}

async function openMany(count) {
  let ok = 0;
  for (let i = 0; i < count; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 100); j++) batch.push(open());
    ok += (await Promise.all(batch)).filter(Boolean).length;
  }
  return ok;
}

(async () => {
  if (!(await open())) { console.log('failed warm-up'); process.exit(1); }
  console.log('warm');
  readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line === 'go') {
      const ok = await openMany(n);
      const stillOpen = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
      console.log(`ready ${ok} ${stillOpen} ${failures}`);
    } else if (line === 'close') {
      sockets.forEach((s) => s.terminate());
      process.exit(0);
    }
  });
})();
JS

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# measure MODE: prints "MODE before_kb after_kb open per_conn_kb"
measure() {
    local mode=$1 port admin tls url ca=() edge_pid
    port=$(free_port); admin=$(free_port); tls=$(free_port)
    "$EDGE" --demo --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --tls-listen "127.0.0.1:$tls" --tls-cert "$tmp/leaf.pem" --tls-key "$tmp/leaf.key" \
        --max-connections-per-ip 1000000 --auth-timeout-secs 3600 >"$tmp/edge-$mode.log" 2>&1 &
    edge_pid=$!
    pids+=("$edge_pid")
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null && break
        sleep 0.1
    done
    if [[ $mode == tls ]]; then
        url="wss://127.0.0.1:$tls/socket.io/?EIO=4&transport=websocket"
        ca=("$tmp/ca.pem")
    else
        url="ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket"
    fi
    coproc CLIENT { NODE_PATH=tests/node/node_modules exec node "$tmp/idle-clients.js" "$url" "$N" "${ca[@]}"; }
    # shellcheck disable=SC2153 # CLIENT_PID is set by coproc.
    local client_pid=$CLIENT_PID line before after
    pids+=("$client_pid")
    read -r line <&"${CLIENT[0]}"
    [[ $line == warm ]] || { echo "$mode: client said: $line" >&2; cat "$tmp/edge-$mode.log" >&2; exit 1; }
    sleep 1
    before=$(rss_kb "$edge_pid")
    echo go >&"${CLIENT[1]}"
    read -r line <&"${CLIENT[0]}"
    read -r _ ok still failures <<<"$line"
    # Let allocator and kernel accounting settle (the edge's per-socket state is all allocated
    # by the time each CONNECT is acknowledged).
    sleep "$SETTLE_SECS"
    after=$(rss_kb "$edge_pid")
    local now_open
    now_open=$(curl -fs "http://127.0.0.1:$admin/metrics" \
        | awk '/^blackhole_edge_connections\{/ {s += $2} END {print s + 0}')
    echo close >&"${CLIENT[1]}"
    wait "$client_pid" 2>/dev/null || true
    kill "$edge_pid"
    wait "$edge_pid" 2>/dev/null || true
    # `still` counts the warm-up socket too.
    if (( ok != N || still != N + 1 )); then
        echo "$mode: only $ok of $N sockets connected ($still open, $failures errors)" >&2
        exit 1
    fi
    awk -v m="$mode" -v b="$before" -v a="$after" -v n="$N" -v c="$now_open" \
        'BEGIN { printf "%-5s sockets %d (edge gauge %d)  VmRSS %d KB -> %d KB  = %.1f KB per idle socket\n", m, n, c, b, a, (a - b) / n }'
}

echo "blackhole-edge $(git rev-parse --short HEAD 2>/dev/null || echo '?') release, N=$N idle Socket.IO websockets, settle ${SETTLE_SECS}s, $(nproc) CPUs"
plain=$(measure plain)
echo "$plain"
tls=$(measure tls)
echo "$tls"
awk -v p="$plain" -v t="$tls" 'BEGIN {
    split(p, a, "= "); split(t, b, "= ");
    printf "TLS overhead: %.1f KB per idle socket\n", b[2] - a[2]
}'
