#!/usr/bin/env bash
# `pollpush load --gateway`: N pollers polling an upstream REST API directly,
# against N WebSocket subscribers of a spawned `pollpush-server --feed g=URL`,
# for each N in COUNTS. The upstream (tui-client/examples/changing_upstream.rs)
# changes one of its 20 items every second and stamps it (`updated_at`), which
# both runs' delays are measured against. Prints one CSV row per run (the
# JSON report, with each run's own figures: the same command without --format csv).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
COUNTS=${COUNTS:-1000,10000}
DURATION=${DURATION:-30s}
. bench/servers.sh
PORT=${PORT:-$(free_port)}
cargo build -q --release -p pollpush-client -p pollpush-server \
  --bin pollpush --bin pollpush-server --example changing_upstream
"$target/release/examples/changing_upstream" "127.0.0.1:$PORT" 1s 20 >/dev/null 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$PORT/items"
first=1
for n in ${COUNTS//,/ }; do
  "$target/release/pollpush" load --gateway "http://127.0.0.1:$PORT/items" --pollers "$n" \
    --interval 1s --duration "$DURATION" --time-field /updated_at --format csv |
    if [ $first = 1 ]; then cat; else sed 1d; fi
  first=0
done
