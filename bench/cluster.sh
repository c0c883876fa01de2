#!/usr/bin/env bash
# Cluster benchmark: what spreading push over several nodes costs, in one run.
#  1. /ws (server/examples/cluster_bench): one SQLite node, one PostgreSQL node, three
#     nodes over PostgreSQL + Redis, and the three with Redis killed for the middle third
#     of the writes. SUBSCRIBERS per node, writes on node A; time from the write to the
#     last subscriber of each node, lost / out of order, server CPU per change per node.
#  2. socket.io across nodes: subscribers on node B, writes on node A, for pollpush
#     (socket.io and /ws) and for the talk's way, two Flask-SocketIO processes sharing a
#     Redis message queue (bench/flask_socketio_fanout.py with MESSAGE_QUEUE).
#
#   bench/cluster.sh                                   # 1,000 subscribers per node
#   SUBSCRIBERS=100 WRITES=50 bench/cluster.sh
#   PARTS=2 bench/cluster.sh                           # socket.io across nodes only
# Env: PARTS (default "1 2"), SUBSCRIBERS WRITES (part 1), CLIENTS IO_WRITES INTERVAL_MS (part 2),
# POLLPUSH_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test),
# PEERS_VENV (../shared/peers/setup.sh; part 2 is skipped without it). Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
SUBSCRIBERS=${SUBSCRIBERS:-1000} WRITES=${WRITES:-200}
CLIENTS=${CLIENTS:-1000} IO_WRITES=${IO_WRITES:-30} INTERVAL_MS=${INTERVAL_MS:-200}
PG=${POLLPUSH_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
V=${PEERS_VENV:-/tmp/peers-venv}
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
cargo build --release -q -p pollpush-server --bin pollpush-server --example cluster_bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SERVER=$CARGO_TARGET_DIR/release/pollpush-server

PARTS=${PARTS:-1 2}
if [[ " $PARTS " == *" 1 "* ]]; then
  echo "## /ws across nodes ($SUBSCRIBERS subscribers per node, $WRITES writes on node A, $(nproc) cores)"
  "$CARGO_TARGET_DIR/release/examples/cluster_bench" --subscribers "$SUBSCRIBERS" --writes "$WRITES" --postgres "$PG"
fi
[[ " $PARTS " == *" 2 "* ]] || exit 0

if ! [ -x "$V/bin/python" ] || ! "$V/bin/python" -c 'import flask_socketio, redis' 2>/dev/null; then
  echo "skipped part 2: no Flask-SocketIO + redis venv at $V (run ../shared/peers/setup.sh)" >&2
  exit 0
fi
[ -d "$here/node_modules/socket.io-client" ] || (cd "$here" && npm install -s --no-audit --no-fund >/dev/null)

work=$(mktemp -d)
db="pollpush_bench_io_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
free_port() { "$V/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { # log -> ADDR, within 20 s
  for _ in $(seq 200); do
    addr=$(sed -n 's#^listening on http://\([0-9.:]*\).*#\1#p' "$1" | head -1)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.1
  done
  echo "a server did not start; its log:" >&2; cat "$1" >&2; exit 1
}
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=("$!")
psql "$PG" -qc "CREATE DATABASE $db" >/dev/null
store="${PG%/*}/$db"
for n in a b; do
  RUST_LOG=warn "$SERVER" --addr 127.0.0.1:0 --db "$store" --broker "redis://127.0.0.1:$rport" >"$work/$n.log" 2>&1 &
  pids+=("$!"); eval "pid_$n=$!"
  MESSAGE_QUEUE="redis://127.0.0.1:$rport/1" PORT=$(free_port) "$V/bin/python" "$here/flask_socketio_fanout.py" >"$work/flask-$n.log" 2>&1 &
  pids+=("$!"); eval "fpid_$n=$!"
done
a="http://$(listening "$work/a.log")" b="http://$(listening "$work/b.log")"
fa="http://$(listening "$work/flask-a.log")" fb="http://$(listening "$work/flask-b.log")"
echo "## socket.io across nodes ($CLIENTS subscribers on node B, $IO_WRITES writes on node A, ${INTERVAL_MS} ms apart)"
run() { # label proto subscribe-url write-url pid
  node "$here/socketio_fanout.js" --label "$1" --proto "$2" --url "$3" --write-url "$4" --pid "$5" \
    --clients "$CLIENTS" --writes "$IO_WRITES" --interval-ms "$INTERVAL_MS" --workers 2 | tee -a "$work/results.jsonl"
}
run pollpush-socketio-across socketio "$b" "$a" "$pid_b"
run pollpush-ws-across ws "$b" "$a" "$pid_b"
run flask-socketio-message-queue socketio "$fb" "$fa" "$fpid_b"
node -e '
const rs = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const by = Object.fromEntries(rs.map((r) => [r.label, r]));
console.log("\n| stack, node A to node B | subscribed | to the last subscriber p50 / p99 / max (ms) | lost | out of order |");
console.log("|---|---|---|---|---|");
for (const r of rs) console.log(`| ${r.label} | ${r.subscribed}/${r.target} | ${r.last_ms.p50} / ${r.last_ms.p99} / ${r.last_ms.max} | ${r.lost} | ${r.out_of_order} |`);
const p = by["pollpush-socketio-across"], f = by["flask-socketio-message-queue"];
if (p && f && p.last_ms.p50) {
  const x = f.last_ms.p50 / p.last_ms.p50;
  console.log(`\nFlask-SocketIO + message queue / pollpush socket.io across nodes, p50: ${x.toFixed(1)}x (target >= 20x: ${x >= 20 && p.lost === 0 ? "met" : "NOT met"})`);
}' "$work/results.jsonl"
