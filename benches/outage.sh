#!/usr/bin/env bash
# What a Redis outage costs a service checking revocation (the default policy: 1 s staleness,
# 100 ms timeout, reject): the load bench's permiso-revocation server, 64 connections of wrk,
# first with Redis up, then after Redis is killed (every answer a 503 then, by policy). With
# the shared handle's breaker a 503 comes at once; without it each waited for the timeout.
#
# Usage: benches/outage.sh [SECONDS] [ROUNDS]   (defaults: 10 s, 3 rounds of up/down)
#        BIN=/path/to/release benches/outage.sh   (servers built elsewhere, e.g. from an
#        older checkout, to compare in the same session; nothing is built then)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-10}
ROUNDS=${2:-3}
export CARGO_TARGET_DIR="$PWD/target/load"
for tool in wrk redis-server taskset; do
  command -v "$tool" >/dev/null || { echo "benches/outage.sh needs $tool (benches/load.sh installs wrk and redis-server)" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
  echo "building release servers..."
  (cd benches/load/servers && cargo build --release --quiet)
  BIN="$CARGO_TARGET_DIR/release"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

issuer_out=$(mktemp)
taskset -c 1 "$BIN/load-issuer" >"$issuer_out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^hs256=' "$issuer_out" && break; sleep 0.1; done
val() { sed -n "s/^$1=//p" "$issuer_out"; }
TOKEN=$(val hs256)

printf '%-5s %-6s %10s %9s %9s %10s\n' round redis req/s p50_ms p99_ms non-2xx
for round in $(seq "$ROUNDS"); do
  port=$(free_port)
  taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  redis=$!
  pids+=("$redis")
  for _ in $(seq 100); do redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  out=$(mktemp)
  PERMISO_LOAD_REDIS_URL="redis://127.0.0.1:$port" taskset -c 0 "$BIN/permiso-load-servers" \
    permiso-revocation hs256 "$(val iss)" keystone-auth "$(val jwks)" "$(val secret)" 127.0.0.1:0 >"$out" 2>&1 &
  server=$!
  pids+=("$server")
  for _ in $(seq 100); do grep -q '^listening on' "$out" && break; sleep 0.05; done
  url="$(sed -n 's/^listening on //p' "$out")/api/v1/transactions"
  for state in up down; do
    if [ "$state" = down ]; then kill "$redis"; wait "$redis" 2>/dev/null || true; sleep 1.5; fi
    report=$(taskset -c 1 wrk -t1 -c64 -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $TOKEN" "$url")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$report")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$report")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$report")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$report")
    printf '%-5s %-6s %10.0f %9s %9s %10s\n' "$round" "$state" "$rps" "$p50" "$p99" "${non2xx:-0}"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
done
