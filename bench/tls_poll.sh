#!/usr/bin/env bash
# Server CPU per `304` poll (issue 20): TLS with keep-alive against plaintext,
# and both again with a new connection per poll (`Connection: close`, so wrk
# reconnects for every request and TLS handshakes each time), all HTTP/1.1,
# wrk -t1 -c50 with If-None-Match, each server a fresh release pollpush-server;
# CPU from its own /stats (process cpu_seconds) before and after, and the TLS
# handshakes, full and resumed, from /stats `tls`.
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

handshakes() { # URL CERT: "full F, resumed R" from /stats tls
  [ "$2" = - ] && return 0
  curl -s --cacert "$2" "$1/stats" | python3 -c 'import json,sys; t=json.load(sys.stdin)["tls"]; print(", %d full and %d resumed handshakes" % (t["handshakes_full"], t["handshakes_resumed"]))'
}

run() { # NAME WRK_HEADER FLAGS... (WRK_HEADER "" or e.g. "Connection: close")
  local name=$1 extra=$2; shift 2
  local wrk_args=(-t1 -c50 -d"${each}s")
  [ -n "$extra" ] && wrk_args+=(-H "$extra")
  read -r url cert pid < <(start "$@")
  local args=(-s -D-)
  [ "$cert" != - ] && args+=(--cacert "$cert")
  etag=$(curl "${args[@]}" -o /dev/null "$url/species/" | tr -d '\r' | sed -n 's/^etag: //Ip')
  local before after reqs
  before=$(cpu "$url" "$cert")
  reqs=$(wrk "${wrk_args[@]}" -H "If-None-Match: $etag" "$url/species/" | awk '/requests in/ {print $1}')
  after=$(cpu "$url" "$cert")
  local shakes
  shakes=$(handshakes "$url" "$cert")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c "r=$reqs; c=$after-$before; print(f'$name: {r} requests, {c:.2f} s CPU, {c/r*1e6:.1f} us per 304, {r/$each:.0f} req/s$shakes')"
}

for round in $(seq "$rounds"); do
  echo "round $round"
  run "plaintext h1.1 keep-alive" ""
  run "TLS h1.1 keep-alive" "" --tls-self-signed
  run "plaintext h1.1 new connection per poll" "Connection: close"
  run "TLS h1.1 new connection per poll" "Connection: close" --tls-self-signed
done
