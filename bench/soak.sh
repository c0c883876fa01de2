#!/usr/bin/env bash
# The churn soak (issue 19): a fresh pollpush-server (SQLite file, --simulate 20),
# 200 /ws subscribers dropping and resubscribing with `since` every 0.5-4 s, 50 of
# them reading slower than changes arrive, 4 REST writers: about 100 changes and
# 65 reconnections a second. RSS, the allocator's heap and the backlog are sampled
# every 10 s into a CSV and a chart (server/examples/soak).
#   bench/soak.sh                        # 30 minutes, the system allocator (the default build)
#   bench/soak.sh --duration 5m          # any soak flag (--help)
#   ALLOCATOR=jemalloc bench/soak.sh ... # the same with jemalloc (--features jemalloc)
#   OUT=/tmp/soak bench/soak.sh ...      # where the CSV, chart and server log go
#   FEED=1 bench/soak.sh ...             # the gateway instead: the subscribers churn on an
#                                        # upstream feed that changes 20 times a second
#                                        # (tui-client/examples/changing_upstream), polled
#                                        # every 50 ms, its history in the SQLite file
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
out=${OUT:-$root/bench}
allocator=${ALLOCATOR:-system}
server_bin=$CARGO_TARGET_DIR/release/pollpush-server
if [ "$allocator" = jemalloc ]; then
  # Built with the jemalloc feature and kept under its own name (the next
  # default build puts the system allocator's back in place).
  cargo build --release -q -p pollpush-server --features jemalloc --bin pollpush-server
  cp "$server_bin" "$server_bin-jemalloc"
  server_bin=$server_bin-jemalloc
else
  cargo build --release -q -p pollpush-server --bin pollpush-server
fi
cargo build --release -q -p pollpush-server --example soak
. "$root/bench/servers.sh"
db=$tmp/soak.db
port=${PORT:-$(free_port)}
label=$allocator
if [ "${FEED:-0}" = 1 ]; then
  cargo build --release -q -p pollpush-client --example changing_upstream
  up_port=$(free_port)
  "$CARGO_TARGET_DIR/release/examples/changing_upstream" "127.0.0.1:$up_port" 50ms 20 >/dev/null 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$up_port/items"
  source_args=(--feed "up=http://127.0.0.1:$up_port/items" --feed-every 50ms)
  soak_args=(--room up --writers 0)
  label=$allocator-feed
else
  source_args=(--simulate 20)
  soak_args=()
fi
"$server_bin" --addr "127.0.0.1:$port" --db "$db" "${source_args[@]}" \
  2>"$out/soak-$label.log" &
pids+=($!)
wait_ready "http://127.0.0.1:$port/healthz"
"$CARGO_TARGET_DIR/release/examples/soak" --server "http://127.0.0.1:$port" "${soak_args[@]}" \
  --label "$label" --csv "$out/soak-$label.csv" --chart "$out/soak-$label.svg" "$@"
