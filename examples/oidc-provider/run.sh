#!/usr/bin/env bash
# DPoP against a real third-party issuer, by hand: panva's oidc-provider 9 (DPoP on, nonces
# required) on loopback issues a DPoP-bound RFC 9068 token to permiso's calling side, which
# calls payment_service (DPoP required) with a fresh proof per request.
#
#   bash examples/oidc-provider/run.sh
#
# Needs node and npm (Debian's nodejs and npm); installs oidc-provider from the npm registry
# into examples/oidc-provider/node_modules on first use. Exits non-zero unless every call
# succeeds with a DPoP-bound token.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required (apt-get install -y nodejs npm)" >&2; exit 2; }
[ -d node_modules/oidc-provider ] || npm install --no-audit --no-fund >/dev/null
cd ../..

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
op_port=$(free_port); svc_port=$(free_port)
secret=payment-secret-for-the-oidc-provider-check
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

out=$(mktemp)
PAYMENT_CLIENT_SECRET=$secret node "$here/provider.mjs" "$op_port" >"$out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$out" && break; sleep 0.1; done
grep -q '^ready' "$out" || { cat "$out" >&2; exit 1; }
echo "oidc-provider at http://127.0.0.1:$op_port"

cargo build --quiet --example payment_service --features redis
cargo build --quiet --example client --features client
svc_out=$(mktemp)
PERMISO_ISSUER="http://127.0.0.1:$op_port" PERMISO_AUDIENCE=payments \
PERMISO_DISCOVERY_URL="http://127.0.0.1:$op_port" PERMISO_REQUIRE_AT_JWT=true \
PERMISO_SERVICE_TOKEN='sub==client_id' PERMISO_DPOP=required \
PERMISO_PUBLIC_BASE_URL="http://127.0.0.1:$svc_port" \
PERMISO_BIND="127.0.0.1:$svc_port" target/debug/examples/payment_service >"$svc_out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$svc_out" && break; sleep 0.1; done
echo "payment_service (PERMISO_DPOP=required) at http://127.0.0.1:$svc_port"

result=$(PAYMENT_TOKEN_URL="http://127.0.0.1:$op_port/token" PAYMENT_CLIENT_ID=payment-service \
  PAYMENT_CLIENT_SECRET=$secret PAYMENT_SCOPES=read:transactions \
  PAYMENT_RESOURCE=https://payments.example/ PAYMENT_DPOP=true \
  PAYMENT_SERVICE_URL="http://127.0.0.1:$svc_port" target/debug/examples/client) || { echo "$result"; cat "$svc_out" >&2; exit 1; }
echo "$result"
[ "$(grep -c '200 OK.*"dpop_bound":true' <<<"$result")" = 3 ] || { echo "expected three DPoP-bound 200s" >&2; cat "$svc_out" >&2; exit 1; }
echo "ok: oidc-provider issued a DPoP-bound token; payment_service accepted each proof"
