#!/usr/bin/env bash
# Lanes benchmark: SSE and long-poll against /ws in one run, N clients per lane,
# each lane on a fresh `pollpush-server --db :memory:` (server/examples/lanes_bench):
# write-to-last-client latency, server CPU per write, RSS per idle subscriber or
# held long-poll, lost or out-of-order deliveries, and each lane's ratio to /ws.
#   bench/lanes.sh                                  # 1000 clients per lane
#   bench/lanes.sh --clients 1000,10000 --writes 30 # any lanes_bench flag (--help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p pollpush-server --bin pollpush-server --example lanes_bench
# 10,000 client sockets here and as many in the server: lift the soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$CARGO_TARGET_DIR/release/examples/lanes_bench" "$@"
