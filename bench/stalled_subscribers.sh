#!/usr/bin/env bash
# What 30 /ws subscribers that stop reading leave in the kernel while 10,000 writes go by:
# the server side's Send-Q (ss -tn) and the resyncs /stats counts.
# usage: bench/stalled_subscribers.sh [SEND_BUFFER_BYTES] (0: kernel autotuning; default 65536)
# needs: python3, ss, curl; SERVER (default target/debug/pollpush-server).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
SERVER=${SERVER:-$root/target/debug/pollpush-server}
SB=${1:-65536}; PORT=${PORT:-5081}
"$SERVER" --db :memory: --addr 127.0.0.1:$PORT --send-buffer "$SB" >/dev/null 2>&1 & srv=$!
python3 "$here/stall_clients.py" $PORT 30 600 >/dev/null & stall=$!
trap 'kill $stall $srv 2>/dev/null' EXIT
sleep 1
python3 - $PORT <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
body = json.dumps({"name": "N" * 100})
for i in range(10000):
    c.request("POST", "/species", body, {"content-type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
sleep 1
ss -tn state established "( sport = :$PORT )" | awk 'NR>1 {n++; s+=$2; if ($2>m) m=$2} END {printf "server side: %d sockets, Send-Q mean %d B, max %d B\n", n, s/n, m}'
ss -tn state established "( dport = :$PORT )" | awk 'NR>1 {n++; s+=$1; if ($1>m) m=$1} END {printf "client side: Recv-Q mean %d B\n", s/n}'
curl -s http://127.0.0.1:$PORT/stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print("resyncs", d["ws"]["resyncs"], "of", d["ws"]["subscribers"], "subscribers")'
