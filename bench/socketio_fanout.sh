#!/usr/bin/env bash
# Push fan-out, one run, three stacks side by side (issue 7, "Performance"):
#   pollpush socket.io (socketioxide)  |  pollpush native /ws  |  the talk's Flask-SocketIO
# Each gets CLIENTS subscribers in turn (the others idle), then WRITES paced REST writes;
# the number is the time from a write's POST to its arrival at the LAST subscriber.
#
#   bench/socketio_fanout.sh                      # 1,000 subscribers, 30 writes, 200 ms apart
#   CLIENTS=200 WRITES=10 bench/socketio_fanout.sh
# Env: CLIENTS WRITES INTERVAL_MS WORKERS UPGRADE (client processes) PEERS_VENV (python with
# flask-socketio; ../shared/peers/setup.sh makes it) SERVER (a pollpush-server binary;
# default: the release build in $CARGO_TARGET_DIR or target/). Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
CLIENTS=${CLIENTS:-1000} WRITES=${WRITES:-30} INTERVAL_MS=${INTERVAL_MS:-200} WORKERS=${WORKERS:-2}
V=${PEERS_VENV:-/tmp/peers-venv}
SERVER=${SERVER:-${CARGO_TARGET_DIR:-$root/target}/release/pollpush-server}

[ -x "$V/bin/python" ] && "$V/bin/python" -c 'import flask_socketio, simple_websocket' ||
  { echo "no Flask-SocketIO venv at $V: run ../shared/peers/setup.sh (or set PEERS_VENV)" >&2; exit 1; }
if [ ! -x "$SERVER" ]; then
  (cd "$root" && cargo build --release --bin pollpush-server)
fi
[ -d "$here/node_modules/socket.io-client" ] && [ -d "$here/node_modules/ws" ] ||
  (cd "$here" && npm install -s --no-audit --no-fund >/dev/null)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
touch "$work/pollpush.log" "$work/flask.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Waits (up to 20 s) for "listening on http://ADDR" in a log, prints ADDR.
listening() {
  for _ in $(seq 200); do
    addr=$(sed -n 's#^listening on http://\([0-9.:]*\).*#\1#p' "$1" | head -1)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.1
  done
  echo "server did not start; its log:" >&2; cat "$1" >&2; exit 1
}
free_port() { "$V/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# With POLLPUSH_TOKEN set the server is guarded and socketio_fanout.js sends the token.
RUST_LOG=warn "$SERVER" --addr 127.0.0.1:0 --db :memory: ${POLLPUSH_TOKEN:+--write-token "$POLLPUSH_TOKEN"} >"$work/pollpush.log" 2>&1 &
pollpush_pid=$!; pids+=("$pollpush_pid")
PORT=$(free_port) "$V/bin/python" "$here/flask_socketio_fanout.py" >"$work/flask.log" 2>&1 &
flask_pid=$!; pids+=("$flask_pid")
pollpush="http://$(listening "$work/pollpush.log")"
flask="http://$(listening "$work/flask.log")"
echo "pollpush $pollpush (pid $pollpush_pid), Flask-SocketIO $flask (pid $flask_pid)" >&2
echo "$CLIENTS subscribers, $WRITES writes ${INTERVAL_MS} ms apart, $WORKERS client processes, $(nproc) cores" >&2

run() { # label proto url pid [transports]
  node "$here/socketio_fanout.js" --label "$1" --proto "$2" --url "$3" --pid "$4" \
    --clients "$CLIENTS" --writes "$WRITES" --interval-ms "$INTERVAL_MS" --workers "$WORKERS" \
    --transports "${5:-websocket}" | tee -a "$work/results.jsonl"
}
run pollpush-socketio socketio "$pollpush" "$pollpush_pid"
# UPGRADE=1: also socket.io's default transports (long-polling, then the upgrade), which
# take socketioxide's queued path rather than the direct writes.
if [ "${UPGRADE:-0}" = 1 ]; then
  run pollpush-socketio-upgrade socketio "$pollpush" "$pollpush_pid" polling,websocket
fi
run pollpush-ws ws "$pollpush" "$pollpush_pid"
# The same socket.io packets read by a hand-written Engine.IO client over `ws`: the server's
# socket.io path without socket.io-client's own per-message cost.
run pollpush-socketio-raw eio "$pollpush" "$pollpush_pid"
run flask-socketio socketio "$flask" "$flask_pid"

# The table, and the ratio the issue asks for.
node -e '
const rs = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const by = Object.fromEntries(rs.map((r) => [r.label, r]));
console.log("\n| stack | subscribed | to the last subscriber p50 / p99 / max (ms) | each delivery p50 (ms) | POST p50 (ms) | lost | out of order | server CPU s: connect + writes | server RSS MiB | rest of machine CPU s / phase s |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rs) console.log(`| ${r.label} | ${r.subscribed}/${r.target} | ${r.last_ms.p50} / ${r.last_ms.p99} / ${r.last_ms.max} | ${r.each_ms.p50} | ${r.post_ms.p50} | ${r.lost} | ${r.out_of_order} | ${r.connect_cpu_s} + ${r.write_cpu_s} | ${r.server_rss_mib} | ${r.rest_of_machine_cpu_s} / ${r.phase_s} |`);
const a = by["pollpush-socketio"], w = by["pollpush-ws"], f = by["flask-socketio"];
const whole = (r) => r && r.last_ms.p50 && r.subscribed === r.target;
if (whole(a) && whole(f)) {
  const x = f.last_ms.p50 / a.last_ms.p50;
  console.log(`\nFlask-SocketIO / pollpush socket.io, p50 to the last subscriber: ${x.toFixed(1)}x (target >= 20x: ${x >= 20 ? "met" : "NOT met"})`);
}
if (whole(a) && whole(w)) {
  const x = a.last_ms.p50 / w.last_ms.p50;
  console.log(`pollpush socket.io / pollpush /ws, p50 to the last subscriber: ${x.toFixed(2)}x (target <= 1.3x: ${x <= 1.3 ? "met" : "NOT met"})`);
}
const raw = by["pollpush-socketio-raw"];
if (whole(raw) && whole(w)) {
  const x = raw.last_ms.p50 / w.last_ms.p50;
  console.log(`pollpush socket.io read without socket.io-client / pollpush /ws, p50: ${x.toFixed(2)}x`);
}
' "$work/results.jsonl"
