#!/usr/bin/env bash
# Push benchmark (issue 4): write-to-last-subscriber latency, lost or out-of-order
# deliveries and RSS per idle subscriber, for pollpush-server (file and :memory: store)
# and two baselines, stock warp::ws() (server/examples/stock_warp_ws.rs) and Node.js with the
# `ws` package (bench/node_ws_server.js), in one run.
#   bench/push.sh                                  # 100, 1000 and 10000 subscribers
#   bench/push.sh --subscribers 100 --writes 20    # any push_bench flag (--help)
#   PUSH_BENCH_SERVER_CPUS=0 taskset -c 1 bench/push.sh ...   # server on CPU 0, clients on CPU 1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p pollpush-server --bin pollpush-server \
  --example push_bench --example stock_warp_ws
# The Node.js baseline (bench/node_ws_server.js) needs the `ws` package.
[ -d "$root/bench/node_modules/ws" ] || (cd "$root/bench" && npm install -s --no-audit --no-fund >/dev/null)
# 10,000 client sockets in push_bench, as many in the server: lift the soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$CARGO_TARGET_DIR/release/examples/push_bench" "$@"
