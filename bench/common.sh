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

# The settings that point the handler at destination port $2 through API $1 (li or dc).
destination_settings() {
  if [ "$1" = li ]; then
    echo "LOGS_INGESTION_ENDPOINT=http://127.0.0.1:$2 LOGS_INGESTION_DCR_ID=dcr-00000000000000000000000000000000" \
      "IDENTITY_ENDPOINT=http://127.0.0.1:$2/msi/token IDENTITY_HEADER=bench"
  else
    echo "LOG_ANALYTICS_WORKSPACE_ID=11111111-2222-3333-4444-555555555555 LOG_ANALYTICS_SHARED_KEY=dGVzdA==" \
      "LOG_ANALYTICS_ENDPOINT=http://127.0.0.1:$2"
  fi
}

# CPU time (user + system) a process has used, in microseconds.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000000 / hz }' "/proc/$1/stat"; }
