# Sourced (not run) by the benchmarks that start servers: a temporary folder `$tmp`, the processes they start
# (`pids+=($!)`, all killed on exit, with `$tmp` removed), free loopback ports and a readiness wait.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits (at most 20 s) until GET $1 answers 200.
wait_ready() {
  for _ in $(seq 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}
# The address a pollpush-server logged in $1 ("listening on http://ADDR"), within
# $2 tenths of a second (default 300); the log and a failure if it never did.
listening() {
  for _ in $(seq "${2:-300}"); do
    addr=$(sed -n 's#^listening on http://\([0-9.:]*\).*#\1#p' "$1" | head -1)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.1
  done
  echo "a server did not start; its log:" >&2; cat "$1" >&2; exit 1
}
