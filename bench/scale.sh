#!/usr/bin/env bash
# The scale run (issue 23): 100,000 subscribers on a cluster of pollpush-server
# nodes (PostgreSQL + Redis) on this one machine, held by one
# `pollpush load --workers 6`: 70,000 /ws, 20,000 SSE, 10,000 socket.io.
# 30 writes, one every 3 s, on the first node; after the 20th, the last node is
# killed with SIGKILL and its subscribers resume on the others with `since`.
#
# Reported (one JSON line on stdout, the load's full report in $OUT/scale-report.json):
# connect time; RSS per connection per node; server CPU per delivery; write to
# the last subscriber of the cluster, p50/p99, before the kill and over the run;
# lost deliveries (a change that did not reach every subscriber, or a gap);
# the time from the kill until every subscriber is connected again.
#
# Why 7 nodes by default, not 6: a process here may hold at most 20,000 open
# files, and the hard limit cannot be raised. 100,000 subscribers on the 5
# survivors of 6 nodes would be 20,000 each, over the limit with the node's own
# files; on the 6 survivors of 7 they are 16,700 each.
#
#   bench/scale.sh                                  # the full run (about 5 minutes)
#   WS=7000 SSE=2000 IO=1000 bench/scale.sh         # a tenth of it
#   NODES=6 KILL_AFTER=0 bench/scale.sh             # 6 nodes, no kill
# Env: NODES WORKERS WS SSE IO WRITES EVERY (seconds) KILL_AFTER (write number; 0: no kill)
#      POLLPUSH_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test), OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
NODES=${NODES:-7} WORKERS=${WORKERS:-6}
WS=${WS:-70000} SSE=${SSE:-20000} IO=${IO:-10000}
WRITES=${WRITES:-30} EVERY=${EVERY:-3} KILL_AFTER=${KILL_AFTER:-20}
PG=${POLLPUSH_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
OUT=${OUT:-$(mktemp -d)}
TOTAL=$((WS + SSE + IO))
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is needed (apt-get install postgresql-client)" >&2; exit 1; }
cargo build --release -q -p pollpush-server --bin pollpush-server -p pollpush-client --bin pollpush
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SERVER=$CARGO_TARGET_DIR/release/pollpush-server
LOAD=$CARGO_TARGET_DIR/release/pollpush
mkdir -p "$OUT"

db="pollpush_scale_$$"
. "$(dirname "$0")/servers.sh"
# servers.sh's cleanup, then this run's database.
trap 'cleanup; psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT INT TERM
# Every node's /stats as one JSON line per node: url rss connections.
stats() {
  for url in "$@"; do
    curl -fs --max-time 5 "$url/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sys.argv[1], s["process"]["rss_bytes"], s["ws"]["subscribers"] + s["sse"]["connections"] + s["socketio"]["connections"])
' "$url" || echo "$url 0 0"
  done
}
connected() { stats "$@" | awk '{n += $3} END {print n + 0}'; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=("$!")
psql "$PG" -qc "CREATE DATABASE $db" >/dev/null
store="${PG%/*}/$db"
urls=() node_pids=()
for n in $(seq "$NODES"); do
  RUST_LOG=warn "$SERVER" --addr 127.0.0.1:0 --db "$store" --broker "redis://127.0.0.1:$rport" \
    >"$OUT/node-$n.log" 2>&1 &
  pids+=("$!") node_pids+=("$!")
done
for n in $(seq "$NODES"); do urls+=("http://$(listening "$OUT/node-$n.log")"); done
servers=$(IFS=,; echo "${urls[*]}")
stats "${urls[@]}" >"$OUT/idle.txt"
echo "## $NODES nodes, $TOTAL subscribers ($WS /ws, $SSE SSE, $IO socket.io) from $WORKERS workers, $(nproc) cores" >&2

window=$((WRITES * EVERY + 45))
started=$(date +%s.%N)
"$LOAD" load --server "$servers" --workers "$WORKERS" \
  --subscribers "$WS" --sse "$SSE" --socketio "$IO" --duration "${window}s" \
  --source-addrs 127.0.0.2-127.0.0.20 --format json >"$OUT/scale-report.json" 2>"$OUT/load.log" &
load=$!
pids+=("$load")
until [ "$(connected "${urls[@]}")" -ge "$TOTAL" ]; do
  kill -0 "$load" 2>/dev/null || { echo "the load stopped before connecting everyone:" >&2; cat "$OUT/load.log" >&2; exit 1; }
  sleep 0.5
done
connect_s=$(python3 -c "import time; print(round(time.time() - $started, 1))")
echo "connected $TOTAL in ${connect_s} s" >&2
# The workers start their window when all are ready; writes wait for it.
sleep 5
stats "${urls[@]}" >"$OUT/loaded.txt"
back_s=null killed=null
for i in $(seq "$WRITES"); do
  curl -fs -o /dev/null -X POST -H 'content-type: application/json' \
    -d "{\"name\":\"scale-$i\"}" "${urls[0]}/species/"
  if [ "$i" -eq "$KILL_AFTER" ]; then
    stats "${urls[@]}" >"$OUT/loaded.txt"
    killed=$(curl -fs "${urls[0]}/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
    victim=$((NODES - 1))
    kill -9 "${node_pids[$victim]}"
    wait "${node_pids[$victim]}" 2>/dev/null || true # reaped quietly, no "Killed" line
    kill_at=$(date +%s.%N)
    survivors=("${urls[@]:0:$victim}")
    until [ "$(connected "${survivors[@]}")" -ge "$TOTAL" ]; do
      if python3 -c "import time,sys; sys.exit(time.time() - $kill_at < 60)"; then
        echo "not everyone was back 60 s after the kill" >&2; break
      fi
      sleep 0.1
    done
    back_s=$(python3 -c "import time; print(round(time.time() - $kill_at, 2))")
    echo "node $NODES killed after write $i (revision $killed); everyone back in ${back_s} s" >&2
  fi
  sleep "$EVERY"
done
wait "$load" || { echo "the load failed:" >&2; cat "$OUT/load.log" >&2; exit 1; }

python3 - "$OUT" "$TOTAL" "$connect_s" "$back_s" "$killed" "$NODES" <<'EOF'
import json, math, sys
out, total, connect_s, back_s, killed, nodes = sys.argv[1:7]
total = int(total)
run = json.load(open(f"{out}/scale-report.json"))["runs"][0]
idle = {l.split()[0]: int(l.split()[1]) for l in open(f"{out}/idle.txt")}
per_node = []
for line in open(f"{out}/loaded.txt"):
    url, rss, conns = line.split()
    if int(conns):
        per_node.append({"node": url, "connections": int(conns),
                         "rss_per_connection_bytes": round((int(rss) - idle[url]) / int(conns))})
changes = run["changes"]
def pct(values, q):
    values = sorted(values)
    return values[max(0, math.ceil(len(values) * q) - 1)] if values else None
before = [c["last_ms"] for c in changes if killed == "null" or c["revision"] <= int(killed)]
everyone = [c["last_ms"] for c in changes]
lanes = [l for l in ("ws", "sse", "socketio") if l in run]
deliveries = sum(c["deliveries"] for c in changes)
short = [c["revision"] for c in changes if c["deliveries"] < total]
print(json.dumps({
    "nodes": int(nodes), "workers": run["workers"], "subscribers": total,
    "clients": {l: run[l]["clients"] for l in lanes},
    "worker_failures": run.get("worker_failures", []),
    "connect_s": float(connect_s),
    "changes": len(changes),
    "write_to_last_ms_before_kill": {"p50": pct(before, 0.5), "p99": pct(before, 0.99), "max": max(before, default=None)},
    "write_to_last_ms_all": {"p50": pct(everyone, 0.5), "p99": pct(everyone, 0.99), "max": max(everyone, default=None)},
    "changes_missed": sum(run[l]["changes_missed"] for l in lanes),
    "changes_not_reaching_everyone": short,
    "deliveries": deliveries,
    "server_cpu_seconds": run["server"]["cpu_seconds"],
    "server_cpu_us_per_delivery": round(run["server"]["cpu_seconds"] / max(deliveries, 1) * 1e6, 2),
    "rss_per_node": per_node,
    "killed_after_revision": None if killed == "null" else int(killed),
    "back_after_kill_s": None if back_s == "null" else float(back_s),
    "reconnects": sum(run[l]["reconnects"] for l in lanes),
    "errors": {l: run[l]["errors"] for l in lanes},
}))
EOF
