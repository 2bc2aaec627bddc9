#!/usr/bin/env bash
# Side-by-side load bench: the same axum route served
#   (a) bare, (b) behind permiso, (c) behind tower-oauth2-resource-server,
#   (d) behind jwt-authorizer (axum 0.7), (e) behind a hand-written jsonwebtoken middleware,
#   (f) behind permiso checking revocation in a redis-server on loopback (default policy),
#   (j) the payments gRPC service bare and behind permiso (grpc-bare, grpc-permiso; HTTP/2,
#       loaded by load-client's gRPC mode),
#   (i) behind permiso with a DPoP-bound token and a fresh proof per request (permiso-dpop,
#       loaded by load-client; compare with LOADGEN=rust),
#   (h) behind permiso with a Prometheus recorder and a rate limit that never triggers
#       (permiso-observed), and with the recorder alone (permiso-metrics),
#   (g) behind permiso requiring permiso's request signatures (loaded by load-client, since
#       wrk cannot sign; LOADGEN=rust loads every variant with it, for a like-for-like run),
#       and plain permiso sent the same signed requests, which it does not check
#       (permiso-sent-signed: what the bigger requests and the signing client cost alone),
#   (k) behind one permiso AuthLayer with every stage on: revocation in Redis, required
#       signatures, a rate limit that never triggers and a Prometheus recorder
#       (permiso-everything; loaded by load-client, since it signs),
#   (l) behind permiso judging an opaque token by RFC 7662 introspection at the key server,
#       answered from the answer cache after the first call (permiso-introspection; rs256
#       round only, since the token is opaque),
#   (n) behind oauth-resource-server 0.4 (its axum AuthLayer as its README wires it; rs256
#       only: it refuses shared secrets),
#   (o) behind huskarl-resource-server 0.11 (its RFC 9068 validator as its README builds it,
#       called from a middleware as its example calls it: it ships no axum layer; the same
#       claims as an at+jwt token; rs256 only),
#   (m) behind permiso with a certificate-bound token (RFC 8705) whose certificate comes in
#       the X-Client-Cert header as nginx forwards it (URL-encoded PEM), from a trusted
#       proxy address (permiso-mtls); and plain permiso sent the same header and served the
#       same way, with an unbound token and no binding (permiso-proxied: what the bigger
#       request costs a deployment behind the proxy without binding),
# each with the same token (RS256 from a JWKS on loopback, then HS256 where the peer can),
# loaded with wrk in interleaved rounds (a b c d e a b c d e ...).
#
# Usage: benches/load.sh [ROUNDS] [SECONDS]      (defaults: 3 rounds of 10 s per variant)
#        VARIANTS="bare permiso permiso-revocation" benches/load.sh 3 10   (a subset)
#        LOADGEN=rust VARIANTS="bare permiso permiso-signed" benches/load.sh 3 10
#        RATE=12000 VARIANTS="bare permiso permiso-signed permiso-observed" benches/load.sh 3 8
#            (every variant offered the same 12,000 requests/s by load-client: CPU per request
#            compared at equal batching; a variant that cannot keep up runs flat out)
#        VARIANTS="bare permiso permiso-observed" benches/load.sh 5 10
#        LOADGEN=rust VARIANTS="bare permiso permiso-dpop" benches/load.sh 5 10
#        LOADGEN=rust VARIANTS="bare permiso permiso-everything" benches/load.sh 5 10
#        BIN=/tmp/before-bin VARIANTS="bare permiso" benches/load.sh 3 10   (binaries built elsewhere)
#        VARIANTS="grpc-bare grpc-permiso" benches/load.sh 5 10
#        VARIANTS="bare permiso permiso-introspection" benches/load.sh 5 10
#        VARIANTS="bare permiso permiso-proxied permiso-mtls" benches/load.sh 5 10
#        VARIANTS="bare permiso tower-oauth2 oauth-resource-server handwritten" benches/load.sh 3 8
#
# The server is pinned to core 0 and wrk to core 1. Besides requests/s and latency, it reports
# the server's CPU time per request from /proc/PID/task/*/schedstat, which is far steadier than
# requests/s on a shared machine. Medians over rounds; ratios against (a) from the same run.
# Everything listens on 127.0.0.1 and every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
if [ -n "${RATE:-}" ]; then export PERMISO_LOAD_RATE=$RATE LOADGEN=rust; fi
SECONDS_PER_RUN=${2:-10}
CONNECTIONS=64
export CARGO_TARGET_DIR="$PWD/target/load"
# BIN=dir runs the binaries already in dir (e.g. a build of an earlier commit, for a
# before/after run); by default they are built here first.
PREBUILT=${BIN:+1}
BIN=${BIN:-$CARGO_TARGET_DIR/release}

if ! command -v wrk >/dev/null; then
  echo "installing wrk..."
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

read -r -a variants <<<"${VARIANTS:-bare permiso permiso-revocation tower-oauth2 jwt-authorizer handwritten}"
wants() { [[ " ${variants[*]} " == *" $1 "* ]]; }

if [ -z "$PREBUILT" ]; then
  echo "building release servers..."
  (cd benches/load/servers && cargo build --release --quiet)
  if wants jwt-authorizer; then (cd benches/load/jwt-authorizer && cargo build --release --quiet); fi
fi
if { wants permiso-revocation || wants permiso-everything; } && ! command -v redis-server >/dev/null; then
  echo "installing redis-server..."
  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The key server, on core 1 with wrk (it is idle during the runs: every variant caches keys).
issuer_out=$(mktemp)
taskset -c 1 "$BIN/load-issuer" >"$issuer_out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$issuer_out" && break; sleep 0.1; done
val() { sed -n "s/^$1=//p" "$issuer_out"; }
ISS=$(val iss); JWKS=$(val jwks); SECRET=$(val secret)
# The introspection endpoint and the resource server's client there (permiso-introspection).
export PERMISO_LOAD_INTROSPECT_URL=$(val introspect)
AUD=keystone-auth
# The payment-service client's secret, for the permiso-signed variant and its load-client.
SIGNING_SECRET=load-bench-signing-secret
export PERMISO_LOAD_SIGNING_SECRET=$SIGNING_SECRET

if wants permiso-revocation || wants permiso-everything; then
  # Redis on loopback, no persistence, on core 1 with wrk; the token's jti is never revoked.
  redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  export PERMISO_LOAD_REDIS_URL="redis://127.0.0.1:$redis_port"
fi

cpu_ns() { # total CPU time of every thread of $1, in ns
  local total=0 t
  for t in /proc/"$1"/task/*/schedstat; do total=$((total + $(cut -d' ' -f1 "$t"))); done
  echo "$total"
}

start_server() { # variant alg -> prints "PID URL"
  local variant=$1 alg=$2 out pid
  out=$(mktemp)
  if [ "$variant" = jwt-authorizer ]; then
    taskset -c 0 "$BIN/permiso-load-jwt-authorizer" "$alg" "$ISS" "$AUD" "$JWKS" "$SECRET" 127.0.0.1:0 >"$out" 2>&1 &
  else
    taskset -c 0 "$BIN/permiso-load-servers" "$variant" "$alg" "$ISS" "$AUD" "$JWKS" "$SECRET" 127.0.0.1:0 >"$out" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do grep -q '^listening on' "$out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if ! grep -q '^listening on' "$out"; then
    kill "$pid" 2>/dev/null || true
    return 1
  fi
  echo "$pid $(sed -n 's/^listening on //p' "$out")"
}

to_ms() { # wrk duration (850.00us, 1.20ms, 2.00s) -> ms
  awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1000; else if (d ~ /ms$/) v = v; else if (d ~ /s$/) v *= 1000; printf "%.3f", v }'
}

results=$(mktemp)
for alg in rs256 hs256; do
  for round in $(seq "$ROUNDS"); do
    for variant in "${variants[@]}"; do
      TOKEN=$(val "$alg")
      [ "$variant" = permiso-introspection ] && TOKEN=$(val opaque)
      [ "$variant" = huskarl-resource-server ] && TOKEN=$(val "${alg}_at")
      extra=()
      if [ "$variant" = permiso-mtls ]; then TOKEN=$(val "${alg}_mtls"); extra=(-H "X-Client-Cert: $(val mtls_cert)"); fi
      if [ "$variant" = permiso-proxied ]; then extra=(-H "X-Client-Cert: $(val mtls_cert)"); fi
      if ! started=$(start_server "$variant" "$alg"); then
        [ "$round" = 1 ] && echo "  $variant: does not support $alg, skipped"
        continue
      fi
      read -r pid url <<<"$started"
      pids+=("$pid")
      target="$url/api/v1/transactions"
      grpc=
      case "$variant" in grpc-*) grpc=1; target="$url" ;; esac
      # Sanity: the token is accepted, and (for protected variants) its absence is not.
      signs=
      case "$variant" in permiso-signed | permiso-everything | permiso-sent-signed) signs=1 ;; esac
      if [ -n "$signs" ]; then
        ok=$(taskset -c 1 "$BIN/load-client" "$target" "$TOKEN" 1 1 "$SIGNING_SECRET" | grep -q Non-2xx && echo 401 || echo 200)
      elif [ -n "$grpc" ]; then
        ok=$(PERMISO_LOAD_GRPC=1 taskset -c 1 "$BIN/load-client" "$target" "$TOKEN" 1 1 | grep -q Non-2xx && echo 401 || echo 200)
      elif [ "$variant" = permiso-dpop ]; then
        ok=$(PERMISO_LOAD_DPOP_KEY=$(val dpop_key) taskset -c 1 "$BIN/load-client" "$target" "$(val "${alg}_dpop")" 1 1 | grep -q Non-2xx && echo 401 || echo 200)
      else
        ok=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "${extra[@]}" "$target")
      fi
      if [ -n "$grpc" ]; then
        # Without a token the protected service answers grpc-status 16, never a reply.
        anon=$(PERMISO_LOAD_GRPC=1 taskset -c 1 "$BIN/load-client" "$target" none 1 1 | grep -q Non-2xx && echo 401 || echo 200)
      else
        anon=$(curl -s -o /dev/null -w '%{http_code}' "$target")
      fi
      if [ "$variant" = permiso-mtls ]; then
        # The bound token without its certificate is refused.
        stolen=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$target")
        [ "$stolen" = 401 ] || { echo "  $variant/$alg: the bound token passed without its certificate; skipped" >&2; kill "$pid"; continue; }
      fi
      if [ "$ok" != 200 ] || { [ "$variant" != bare ] && [ "$variant" != grpc-bare ] && [ "$anon" = 200 ]; }; then
        echo "  $variant/$alg: token answered $ok, no token answered $anon; skipped" >&2
        kill "$pid"; continue
      fi
      load() { # seconds -> the load generator's report
        if [ -n "$grpc" ]; then
          PERMISO_LOAD_GRPC=1 taskset -c 1 "$BIN/load-client" "$target" "$TOKEN" "$1" "$CONNECTIONS"
        elif [ "$variant" = permiso-dpop ]; then
          PERMISO_LOAD_DPOP_KEY=$(val dpop_key) taskset -c 1 "$BIN/load-client" "$target" "$(val "${alg}_dpop")" "$1" "$CONNECTIONS"
        elif [ "${LOADGEN:-wrk}" = rust ] || [ -n "$signs" ]; then
          local sign=()
          [ -n "$signs" ] && sign=("$SIGNING_SECRET")
          local header=
          [ ${#extra[@]} -gt 0 ] && header=${extra[1]}
          PERMISO_LOAD_HEADER=$header taskset -c 1 "$BIN/load-client" "$target" "$TOKEN" "$1" "$CONNECTIONS" "${sign[@]}"
        else
          taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$1s" --latency -H "Authorization: Bearer $TOKEN" "${extra[@]}" "$target"
        fi
      }
      load 2 >/dev/null
      before=$(cpu_ns "$pid")
      out=$(load "$SECONDS_PER_RUN")
      after=$(cpu_ns "$pid")
      rss_kb=$(awk '/^VmRSS/ {print $2}' /proc/"$pid"/status)
      kill "$pid"; wait "$pid" 2>/dev/null || true
      if grep -q 'Non-2xx' <<<"$out"; then
        echo "  $variant/$alg: wrk saw non-2xx answers; the run is not counted" >&2
        continue
      fi
      requests=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
      p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
      cpu_us=$(awk -v a="$after" -v b="$before" -v n="$requests" 'BEGIN { printf "%.2f", (a - b) / n / 1000 }')
      echo "$alg $variant $round $rps $p50 $p99 $cpu_us $rss_kb" >>"$results"
      printf '  %-6s round %d %-23s %9.0f req/s  p50 %6.3f ms  p99 %6.3f ms  %6.2f us CPU/req  RSS %6d kB\n' \
        "$alg" "$round" "$variant" "$rps" "$p50" "$p99" "$cpu_us" "$rss_kb"
    done
  done
done

echo
echo "Medians over $ROUNDS rounds of ${SECONDS_PER_RUN}s, $CONNECTIONS connections${RATE:+, offered $RATE requests/s by load-client}; ratios against bare (else grpc-bare, else the first variant) and against plain permiso (cpu÷plain), from the same run; the last two columns are the median over rounds of each round's own ratio (a round's variants run back to back, so this cancels the drift between rounds)."
for alg in rs256 hs256; do
  echo
  printf '%-6s %-23s %10s %9s %9s %12s %9s %10s %10s %10s %10s %10s\n' alg variant req/s p50_ms p99_ms cpu_us/req rss_kB 'req/s÷a' 'cpu÷a' 'cpu÷plain' 'round÷a' 'round÷plain'
  awk -v alg="$alg" -v rounds="$ROUNDS" '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    $1 == alg {
      if (!($2 in seen)) { seen[$2] = 1; order[++count] = $2 }
      rps[$2] = rps[$2] " " $4; p50[$2] = p50[$2] " " $5; p99[$2] = p99[$2] " " $6
      cpu[$2] = cpu[$2] " " $7; rss[$2] = rss[$2] " " $8
      at[$2, $3] = $7
    }
    function paired(v, w,   r, list) { # the median over rounds of CPU(v) ÷ CPU(w) in one round
      list = ""
      for (r = 1; r <= rounds; r++) if (((v, r) in at) && ((w, r) in at) && at[w, r] > 0) list = list " " at[v, r] / at[w, r]
      return list == "" ? "-" : sprintf("%.2f", median(list))
    }
    END {
      base = ("bare" in seen) ? "bare" : ("grpc-bare" in seen) ? "grpc-bare" : order[1]
      if (!(base in seen)) exit
      base_rps = median(rps[base]); base_cpu = median(cpu[base])
      plain = ("permiso" in seen) ? median(cpu["permiso"]) : 0
      for (i = 1; i <= count; i++) {
        v = order[i]
        printf "%-6s %-23s %10.0f %9.3f %9.3f %12.2f %9d %10.2f %10.2f %10s %10s %10s\n", alg, v, median(rps[v]),
          median(p50[v]), median(p99[v]), median(cpu[v]), median(rss[v]),
          median(rps[v]) / base_rps, median(cpu[v]) / base_cpu,
          plain ? sprintf("%.2f", median(cpu[v]) / plain) : "-",
          paired(v, base), plain ? paired(v, "permiso") : "-"
      }
    }' "$results"
done
