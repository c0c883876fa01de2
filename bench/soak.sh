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
db=$(mktemp -d)/soak.db
port=${PORT:-$((20000 + RANDOM % 20000))}
"$server_bin" --addr "127.0.0.1:$port" --db "$db" --simulate 20 \
  2>"$out/soak-$allocator.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$(dirname "$db")"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
"$CARGO_TARGET_DIR/release/examples/soak" --server "http://127.0.0.1:$port" \
  --label "$allocator" --csv "$out/soak-$allocator.csv" --chart "$out/soak-$allocator.svg" "$@"
