# Shared by the benchmark scripts (sourced): a scratch directory cleaned up on exit with every
# server started, free loopback ports, and waiting for a server to answer.
work=$(mktemp -d)
pids=()
# Servers started inside $(...) cannot add to pids: they write their pid to this file.
cleanup() {
  for pid in "${pids[@]}" $(cat "$work/pids" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits until GET $1 answers 200, at most $2 seconds (default 10).
wait_ready() {
  for _ in $(seq 1 $(( ${2:-10} * 100 ))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.01
  done
  echo "not ready: $1" >&2; return 1
}
