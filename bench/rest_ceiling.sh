#!/usr/bin/env bash
# REST ceiling (issue 14): `wrk -t1 -c50` on GET /species/ of pollpush-server and of a bare
# hyper 1 server sending the same bytes (server/examples/bare_hyper.rs, fed the response captured
# from pollpush with `curl -si`), alternated in one run: a warm-up of each, then ROUNDS rounds
# (the order flips every round so neither always follows the other), each run's req/s and server
# CPU time per request (from /proc/PID/stat), and the ratios of the medians, pollpush / bare. The
# machine is shared: only ratios within one run count; CPU per request moves least with the load.
#   bench/rest_ceiling.sh                 # ROUNDS=4 DURATION=5s WARMUP=2s
#   POLLPUSH_BIN=/path/to/pollpush-server bench/rest_ceiling.sh   # another build, e.g. main's
# Nothing is pinned. To keep wrk off the servers' core, e.g. on 2 cores:
#   SERVER_CPUS=0 WRK_CPUS=1 bench/rest_ceiling.sh   # (taskset; both servers then get one core)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
rounds=${ROUNDS:-4}
duration=${DURATION:-5s}
warmup=${WARMUP:-2s}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${POLLPUSH_BIN:-}" ]; then
  cargo build --release -q -p pollpush-server --example bare_hyper
else
  cargo build --release -q -p pollpush-server --bin pollpush-server --example bare_hyper
fi
pollpush_bin=${POLLPUSH_BIN:-$CARGO_TARGET_DIR/release/pollpush-server}
server_pin=()
wrk_pin=()
[ -n "${SERVER_CPUS:-}" ] && server_pin=(taskset -c "$SERVER_CPUS")
[ -n "${WRK_CPUS:-}" ] && wrk_pin=(taskset -c "$WRK_CPUS")

. "$root/bench/servers.sh"
# CPU ticks (user + system) the process $1 has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One wrk run on $1 (server pid $2, for $3): "req/s CPU-µs-per-request" of the server.
run() {
  local before after
  before=$(ticks "$2")
  "${wrk_pin[@]}" wrk -t1 -c50 -d"$3" "$1" >"$tmp/wrk.txt"
  after=$(ticks "$2")
  grep -q 'Non-2xx\|Socket errors' "$tmp/wrk.txt" && { cat "$tmp/wrk.txt" >&2; return 1; }
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1} /^Requests\/sec:/ {r = $2}
    END {printf "%s %.2f\n", r, t / hz * 1e6 / n}' "$tmp/wrk.txt"
}

pp_port=$(free_port)
"${server_pin[@]}" "$pollpush_bin" --addr "127.0.0.1:$pp_port" --db "$tmp/bench.db" \
  >"$tmp/pollpush.log" 2>&1 &
pp_pid=$!
pids+=($pp_pid)
pp_url=http://127.0.0.1:$pp_port/species/
wait_ready "$pp_url"
curl -si "$pp_url" >"$tmp/species.http"
bare_port=$(free_port)
"${server_pin[@]}" "$CARGO_TARGET_DIR/release/examples/bare_hyper" \
  --addr "127.0.0.1:$bare_port" --response "$tmp/species.http" >"$tmp/bare.log" 2>&1 &
bare_pid=$!
pids+=($bare_pid)
bare_url=http://127.0.0.1:$bare_port/species/
wait_ready "$bare_url"
# The same bytes from both, but for the date.
if ! diff <(curl -si "$pp_url" | grep -iv '^date:') <(curl -si "$bare_url" | grep -iv '^date:') \
  >"$tmp/diff.txt"; then
  echo "the two servers answer differently:" >&2
  cat "$tmp/diff.txt" >&2
  exit 1
fi
echo "== same response from both ($(wc -c <"$tmp/species.http") bytes with headers);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"

run "$pp_url" "$pp_pid" "$warmup" >/dev/null
run "$bare_url" "$bare_pid" "$warmup" >/dev/null
pp_runs=()
bare_runs=()
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    pp_runs+=("$(run "$pp_url" "$pp_pid" "$duration")")
    bare_runs+=("$(run "$bare_url" "$bare_pid" "$duration")")
  else
    bare_runs+=("$(run "$bare_url" "$bare_pid" "$duration")")
    pp_runs+=("$(run "$pp_url" "$pp_pid" "$duration")")
  fi
  echo "round $round: pollpush ${pp_runs[-1]% *} req/s (${pp_runs[-1]#* } µs CPU/request)," \
    "bare hyper ${bare_runs[-1]% *} req/s (${bare_runs[-1]#* } µs CPU/request)"
done

python3 - "$duration" "${pp_runs[*]}" "${bare_runs[*]}" <<'EOF'
import statistics, sys
duration = sys.argv[1]
def runs(arg):
    v = [float(x) for x in arg.split()]
    return v[0::2], v[1::2]
pp, bare = runs(sys.argv[2]), runs(sys.argv[3])
print()
print(f"| server | GET /species/ req/s, wrk -t1 -c50 -d{duration}, each run | median req/s | median server CPU per request |")
print("|---|---|---:|---:|")
for name, (rps, cpu) in (("pollpush", pp), ("bare hyper", bare)):
    print(f"| {name} | {', '.join(f'{r:,.0f}' for r in rps)} | {statistics.median(rps):,.0f} | {statistics.median(cpu):.2f} µs |")
ratio = statistics.median(pp[0]) / statistics.median(bare[0])
cost = statistics.median(bare[1]) / statistics.median(pp[1])
print(f"\nratio of medians pollpush / bare hyper: {ratio:.2f}x req/s (target >= 0.9x: {'met' if ratio >= 0.9 else 'NOT met'}),"
      f" {cost:.2f}x requests per CPU second")
EOF
