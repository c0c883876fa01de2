#!/usr/bin/env bash
# Server CPU per `304` poll (issue 20): TLS with keep-alive against plaintext,
# both HTTP/1.1, wrk -t1 -c50 with If-None-Match, each server a fresh release
# pollpush-server; CPU from its own /stats (process cpu_seconds) before and after.
#   bench/tls_poll.sh            # 2 rounds of 10 s each, alternated
#   ROUNDS=4 SECONDS_EACH=5 bench/tls_poll.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p pollpush-server --bin pollpush-server
bin=$CARGO_TARGET_DIR/release/pollpush-server
rounds=${ROUNDS:-2}
each=${SECONDS_EACH:-10}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# Starts a server (extra flags in $@), prints "URL CERT PID".
start() {
  "$bin" --addr 127.0.0.1:0 --db :memory: "$@" >"$dir/out" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.05; done
  local url cert
  url=$(sed -n 's/^listening on //p' "$dir/out")
  cert=$(sed -n 's/^self-signed certificate for localhost and 127.0.0.1: //p' "$dir/out")
  echo "$url ${cert:--} $pid"
}

cpu() { # URL CERT
  local args=(-s)
  [ "$2" != - ] && args+=(--cacert "$2")
  curl "${args[@]}" "$1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["process"]["cpu_seconds"])'
}

run() { # NAME FLAGS...
  local name=$1; shift
  read -r url cert pid < <(start "$@")
  local args=(-s -D-)
  [ "$cert" != - ] && args+=(--cacert "$cert")
  etag=$(curl "${args[@]}" -o /dev/null "$url/species/" | tr -d '\r' | sed -n 's/^etag: //Ip')
  local before after reqs
  before=$(cpu "$url" "$cert")
  reqs=$(wrk -t1 -c50 -d"${each}s" -H "If-None-Match: $etag" "$url/species/" | awk '/requests in/ {print $1}')
  after=$(cpu "$url" "$cert")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c "r=$reqs; c=$after-$before; print(f'$name: {r} requests, {c:.2f} s CPU, {c/r*1e6:.1f} us per 304, {r/$each:.0f} req/s')"
}

for round in $(seq "$rounds"); do
  echo "round $round"
  run "plaintext h1.1" 
  run "TLS h1.1 keep-alive" --tls-self-signed
done
