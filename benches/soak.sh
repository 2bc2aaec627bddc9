#!/usr/bin/env bash
# Soak: 64 connections for 60 s against the payment_service example (configured only from
# the environment, keys from a JWKS on loopback), mixing valid, expired, forged, random-kid
# tokens and tokens of a key that is rotated in at t=20 s, while the key server goes down
# from t=30 s to t=40 s. Prints the answers by status per token class, the unexpected ones,
# how often the JWKS was fetched, and the service's RSS at the start and the end.
#
# Usage: benches/soak.sh [SECONDS]        (default 60; the timeline is fixed at 20/30/40 s)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-60}
WARMUP=3
export CARGO_TARGET_DIR="$PWD/target/load"
BIN="$CARGO_TARGET_DIR/release"

if ! command -v wrk >/dev/null; then
  echo "installing wrk..."
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi

echo "building release binaries..."
(cd benches/load/servers && cargo build --release --quiet --bin soak-issuer)
cargo build --release --quiet --example payment_service

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$BIN/soak-issuer" "$work" "$WARMUP" >"$work/issuer.log" 2>&1 &
issuer=$!
pids+=("$issuer")
for _ in $(seq 100); do grep -q '^jwks=' "$work/issuer.log" && break; sleep 0.1; done
ISS=$(sed -n 's/^iss=//p' "$work/issuer.log")
JWKS=$(sed -n 's/^jwks=//p' "$work/issuer.log")

PERMISO_ISSUER="$ISS" PERMISO_AUDIENCE=keystone-auth PERMISO_JWKS_URL="$JWKS" PERMISO_BIND=127.0.0.1:0 \
  "$BIN/examples/payment_service" >"$work/service.log" 2>&1 &
service=$!
pids+=("$service")
for _ in $(seq 100); do grep -q '^listening on' "$work/service.log" && break; sleep 0.05; done
URL="$(sed -n 's/^listening on //p' "$work/service.log")/api/v1/transactions"
curl -s -o /dev/null -H "Authorization: Bearer $(head -1 "$work/valid.txt")" "$URL"
sleep 1
rss_start=$(awk '/^VmRSS/ {print $2}' /proc/"$service"/status)

# Connections per class (64 in all).
declare -A conns=([valid]=24 [rotated]=8 [expired]=8 [forged]=8 [random]=16)
sleep $((WARMUP - 1))
for class in valid rotated expired forged random; do
  SOAK_TOKENS="$work/$class.txt" wrk -t1 -c"${conns[$class]}" -d"${DURATION}s" -s benches/soak.lua "$URL" \
    >"$work/wrk-$class.log" 2>&1 &
  pids+=($!)
done
# RSS every 5 s: after the first seconds (connections open, buffers allocated) it should stay
# flat; growth from there to the end is what a leak would show.
rss_series=()
for _ in $(seq $((DURATION / 5))); do
  sleep 5
  rss_series+=("$(awk '/^VmRSS/ {print $2}' /proc/"$service"/status)")
done
wait "${pids[@]:2}" 2>/dev/null || true
rss_end=$(awk '/^VmRSS/ {print $2}' /proc/"$service"/status)
rss_loaded=${rss_series[0]}
kill -INT "$issuer"
wait "$issuer" 2>/dev/null || true

echo
echo "timeline:"
sed -n 's/^t=/  t=/p' "$work/issuer.log"
echo
printf '%-8s %8s %8s %8s %8s %8s %8s %8s %10s\n' class 200 401 403 503 5xx other socket unexpected
unexpected_total=0
for class in valid rotated expired forged random; do
  read -r c200 c401 c403 c503 c5xx cother csock < <(sed -n 's/^counts 200=\([0-9]*\) 401=\([0-9]*\) 403=\([0-9]*\) 503=\([0-9]*\) 5xx=\([0-9]*\) other=\([0-9]*\) socket_errors=\([0-9]*\)/\1 \2 \3 \4 \5 \6 \7/p' "$work/wrk-$class.log")
  # Expected: valid tokens 200 (stale keys carry them through the outage); the rotated key's
  # tokens 401 until the verifier has its key, then 200; everything else 401. 503 is allowed
  # only if no usable key is left (never, with the 1 h stale window); other 5xx never.
  case $class in
    valid) unexpected=$((c401 + c403 + c5xx + cother)) ;;
    rotated) unexpected=$((c403 + c5xx + cother)) ;;
    *) unexpected=$((c200 + c403 + c5xx + cother)) ;;
  esac
  unexpected_total=$((unexpected_total + unexpected))
  printf '%-8s %8d %8d %8d %8d %8d %8d %8d %10d\n' "$class" "$c200" "$c401" "$c403" "$c503" "$c5xx" "$cother" "$csock" "$unexpected"
done
echo
echo "unexpected statuses: $unexpected_total"
echo "JWKS $(sed -n 's/^jwks_fetches=/fetches: /p' "$work/issuer.log")"
echo "service RSS every 5 s (kB): ${rss_series[*]}"
awk -v idle="$rss_start" -v a="$rss_loaded" -v b="$rss_end" 'BEGIN {
  printf "service RSS: %d kB idle before the load, %d kB after 5 s of load, %d kB at the end\n", idle, a, b
  printf "growth under load (5 s to end): %+.1f%%\n", (b - a) * 100 / a
}'
