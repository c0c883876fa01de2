#!/usr/bin/env bash
# REST benchmark (issue 3): `wrk -t1 -c50 -d10s` on GET /species/ of the talk's Flask
# server and of pollpush-server in the same run, their ratio, then pollpush's latency
# at a fixed 200 requests/s (examples/paced_get.rs; Debian has no wrk2), twice: at normal
# priority, then (as root, with chrt) with server and client at SCHED_FIFO priority 20, which
# shows the server's own latency apart from whatever else the (2-core, shared) machine runs.
#   bench/rest.sh                         # DURATION=10s RATE=200 by default
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
peers=${PEERS_DIR:-$root/../shared/peers}
venv=${PEERS_VENV:-/tmp/peers-venv}
duration=${DURATION:-10s}
rate=${RATE:-200}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bash "$peers/setup.sh" >/dev/null
cargo build --release -q -p pollpush-server --bin pollpush-server --example paced_get

. "$root/bench/servers.sh"
# Requests/sec of wrk's report in $1.
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }

flask_port=$(free_port)
PORT=$flask_port "$venv/bin/python" "$peers/seed_rest.py" >"$tmp/flask.log" 2>&1 &
pids+=($!)
pp_port=$(free_port)
"$CARGO_TARGET_DIR/release/pollpush-server" --addr "127.0.0.1:$pp_port" --db "$tmp/bench.db" \
  >"$tmp/pollpush.log" 2>&1 &
pp_pid=$!
pids+=($pp_pid)
flask_url=http://127.0.0.1:$flask_port/species/
pp_url=http://127.0.0.1:$pp_port/species/
wait_ready "$flask_url"
wait_ready "$pp_url"

echo "== wrk -t1 -c50 -d$duration $flask_url (Flask, the talk's server)"
wrk -t1 -c50 -d"$duration" "$flask_url" | tee "$tmp/flask.wrk"
echo "== wrk -t1 -c50 -d$duration $pp_url (pollpush-server)"
wrk -t1 -c50 -d"$duration" "$pp_url" | tee "$tmp/pollpush.wrk"
alive() {
  kill -0 "$pp_pid" 2>/dev/null && return 0
  echo "pollpush-server ($pp_pid) is gone; its log:" >&2
  cat "$tmp/pollpush.log" >&2
  exit 1
}
alive
echo "== pollpush-server at a fixed $rate req/s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
paced=("$CARGO_TARGET_DIR/release/examples/paced_get" --url "$pp_url" --rate "$rate" --seconds 10)
"${paced[@]}" | tee "$tmp/paced.txt"
alive
grep -q ' 0 errors' "$tmp/paced.txt" || { echo "paced run had errors" >&2; exit 1; }
rt_p99=n/a
if [ "$(id -u)" = 0 ] && command -v chrt >/dev/null && chrt -a -f -p 20 "$pp_pid" >/dev/null; then
  echo "== the same, server and client at SCHED_FIFO 20"
  chrt -f 20 "${paced[@]}" | tee "$tmp/paced-rt.txt"
  alive
  rt_p99=$(sed -n 's/.*p99 \([0-9.]*\) ms, p99.9.*/\1/p' "$tmp/paced-rt.txt")
fi

flask=$(rps "$tmp/flask.wrk")
pp=$(rps "$tmp/pollpush.wrk")
p99=$(sed -n 's/.*p99 \([0-9.]*\) ms, p99.9.*/\1/p' "$tmp/paced.txt")
echo
echo "| server | GET /species/ req/s (wrk -t1 -c50 -d$duration) |"
echo "|---|---:|"
echo "| Flask (talk) | $flask |"
echo "| pollpush | $pp |"
awk -v f="$flask" -v p="$pp" -v l="$p99" -v rt="$rt_p99" -v r="$rate" 'BEGIN {
  ratio = p / f
  printf "\nratio pollpush / Flask: %.1fx (target >= 30x: %s)\n", ratio, (ratio >= 30 ? "met" : "NOT met")
  printf "pollpush p99 at %d req/s: %s ms (target <= 1 ms: %s)\n", r, l, (l <= 1 ? "met" : "NOT met")
  if (rt != "n/a") printf "pollpush p99 at %d req/s, SCHED_FIFO: %s ms (target <= 1 ms: %s)\n", r, rt, (rt <= 1 ? "met" : "NOT met")
}'
