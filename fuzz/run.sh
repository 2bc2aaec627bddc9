#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 600 s each, two at a time) and prints
# executions, corpus size and crashes per target. Crashes land in fuzz/artifacts/TARGET/.
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-600}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes -Z flags (sanitizers); this stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
targets=(token authorization_header jwks config)
cargo fuzz build --release
mkdir -p logs
run() {
  local t=$1
  mkdir -p "corpus/$t"
  cargo fuzz run --release "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || true
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  [ -n "${targets[i + 1]:-}" ] && run "${targets[i + 1]}" &
  wait
done
printf '%-22s %12s %8s %8s\n' target executions corpus crashes
for t in "${targets[@]}"; do
  execs=$( (grep -oE 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" || true) | grep -oE '[0-9]+$' | tail -1)
  [ -z "$execs" ] && execs=$( (grep -oE '^#[0-9]+' "logs/$t.log" || true) | tail -1 | tr -d '#')
  corpus=$(find "corpus/$t" -type f | wc -l)
  crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
  printf '%-22s %12s %8s %8s\n' "$t" "${execs:-?}" "$corpus" "$crashes"
done
