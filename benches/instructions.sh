#!/usr/bin/env bash
# Instructions per request of the load bench's servers, counted by valgrind's callgrind:
# the same binary and requests give the same count within about 1 % whatever else the machine is doing, where
# CPU seconds (benches/load.sh) move by up to 30 % between rounds on a shared machine.
#
# Usage: benches/instructions.sh [REQUESTS]             (default 3200 requests per variant)
#        VARIANTS="permiso permiso-sent-signed permiso-signed" benches/instructions.sh 3200
#        ALG=hs256 benches/instructions.sh
#        BIN=/tmp/before-bin benches/instructions.sh       (binaries built elsewhere)
#        KEEP=/tmp/cg benches/instructions.sh              (keeps each variant's dump, as
#                                   KEEP/VARIANT.cg, for `callgrind_annotate --inclusive=yes`)
#
# Each variant's server (benches/load/servers, the same binary as benches/load.sh) runs under
# callgrind on 127.0.0.1; after a warm-up its counters are zeroed, load-client sends REQUESTS
# requests at 400 requests/s (signed for the signed variants), and the count is dumped:
# instructions per request = the dump's total / the requests answered. User-space only: the
# kernel's share of a request (about half of its CPU time in benches/load.sh) is not counted,
# and it is the same for every variant. Under valgrind the CPU's SHA and AES instructions are
# not offered, so HMAC and hashing run in software: the signed variants count high.
# The variants: bare, permiso, permiso-revocation, permiso-signed, permiso-sent-signed,
# permiso-metrics, permiso-observed, permiso-everything, permiso-introspection (rs256),
# tower-oauth2, oauth-resource-server, huskarl-resource-server (rs256) and handwritten.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${1:-3200}
RATE=400
ALG=${ALG:-rs256}
export CARGO_TARGET_DIR="$PWD/target/load"
PREBUILT=${BIN:+1}
BIN=${BIN:-$CARGO_TARGET_DIR/release}
read -r -a variants <<<"${VARIANTS:-bare permiso permiso-sent-signed permiso-signed permiso-revocation permiso-metrics permiso-everything handwritten}"
wants() { [[ " ${variants[*]} " == *" $1 "* ]]; }

if ! command -v valgrind >/dev/null; then
  echo "installing valgrind..."
  (apt-get update -qq && apt-get install -y -qq valgrind) >/dev/null
fi
if [ -z "$PREBUILT" ]; then
  echo "building release servers..."
  (cd benches/load/servers && cargo build --release --quiet)
fi
if { wants permiso-revocation || wants permiso-everything; } && ! command -v redis-server >/dev/null; then
  echo "installing redis-server..."
  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$BIN/load-issuer" >"$work/issuer" &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$work/issuer" && break; sleep 0.1; done
val() { sed -n "s/^$1=//p" "$work/issuer"; }
export PERMISO_LOAD_INTROSPECT_URL=$(val introspect)
export PERMISO_LOAD_SIGNING_SECRET=load-bench-signing-secret
# Under valgrind a request can wait seconds in the socket (callgrind_control stops the server
# to zero its counters): the signed variants accept a wider window than load.sh's 2 s.
export PERMISO_LOAD_SIGNING_WINDOW=60
if wants permiso-revocation || wants permiso-everything; then
  redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  export PERMISO_LOAD_REDIS_URL="redis://127.0.0.1:$redis_port"
fi

printf '%-23s %10s %14s %10s\n' variant requests 'instr/request' '÷first'
first=
for variant in "${variants[@]}"; do
  token=$(val "$ALG")
  [ "$variant" = permiso-introspection ] && token=$(val opaque)
  [ "$variant" = huskarl-resource-server ] && token=$(val "${ALG}_at")
  sign=()
  case "$variant" in permiso-signed | permiso-sent-signed | permiso-everything) sign=("$PERMISO_LOAD_SIGNING_SECRET") ;; esac
  out="$work/$variant.out"
  : >"$out"
  valgrind --tool=callgrind --callgrind-out-file="$work/$variant.cg" \
    "$BIN/permiso-load-servers" "$variant" "$ALG" "$(val iss)" keystone-auth "$(val jwks)" "$(val secret)" 127.0.0.1:0 \
    >"$out" 2>"$work/$variant.valgrind" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1200); do grep -q '^listening on' "$out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if ! grep -q '^listening on' "$out"; then
    echo "  $variant/$ALG: did not start (see valgrind's report below), skipped" >&2
    tail -5 "$work/$variant.valgrind" >&2
    kill "$pid" 2>/dev/null || true
    continue
  fi
  target="$(sed -n 's/^listening on //p' "$out")/api/v1/transactions"
  # Warm-up: the first request fetches keys and verifies cold; then the counters start at 0.
  PERMISO_LOAD_RATE=$RATE "$BIN/load-client" "$target" "$token" 2 8 "${sign[@]}" >/dev/null
  callgrind_control --zero "$pid" >/dev/null 2>&1
  sleep 1
  seconds=$(( (REQUESTS + RATE - 1) / RATE ))
  report=$(PERMISO_LOAD_RATE=$RATE "$BIN/load-client" "$target" "$token" "$seconds" 8 "${sign[@]}")
  callgrind_control --dump "$pid" >/dev/null 2>&1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -q 'Non-2xx' <<<"$report"; then
    echo "  $variant/$ALG: refused requests; not counted" >&2
    continue
  fi
  answered=$(awk '/requests in/ {print $1}' <<<"$report")
  # The dump after --zero holds the counted requests (callgrind names it FILE.N).
  dump=$(ls -t "$work/$variant.cg".* 2>/dev/null | head -1)
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$dump" "$KEEP/$variant.cg"; fi
  total=$(awk '/^summary:|^totals:/ {print $2; exit}' "$dump")
  per=$(awk -v t="$total" -v n="$answered" 'BEGIN { printf "%.0f", t / n }')
  [ -z "$first" ] && first=$per
  printf '%-23s %10d %14d %10.2f\n' "$variant" "$answered" "$per" "$(awk -v a="$per" -v b="$first" 'BEGIN { print a / b }')"
done
