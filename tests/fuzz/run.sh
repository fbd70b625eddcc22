#!/bin/sh
# gst-nerv: build and run every fuzz target
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Builds into build/fuzz, writes the seed corpora there (once), then runs
# each target for the given time (default 60 s) on its corpus with the
# dictionary, and prints its last status line (execs, cov, ft). Crashes
# are written to build/fuzz/artifacts/.
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$SRC/build/fuzz
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-fuzz-packet fuzz-entropy fuzz-decoder}

"$SRC/tests/fuzz/build.sh" "$OUT"
if [ ! -d "$OUT/seeds" ]; then
  "$OUT/gen-corpus" "$OUT/seeds"
fi
mkdir -p "$OUT/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for t in $TARGETS; do
  seeds=$OUT/seeds/${t#fuzz-}
  corpus=$OUT/corpus/${t#fuzz-}
  mkdir -p "$corpus"
  log=$OUT/$t.log
  echo "== $t: $SECS s"
  # -rss_limit_mb / -malloc_limit_mb: one input must not take ~2 GB;
  # -timeout: nor more than a second
  if ! "$OUT/$t" "$corpus" "$seeds" -dict="$SRC/tests/fuzz/nerv.dict" \
      -max_total_time="$SECS" -timeout=1 -rss_limit_mb=2048 \
      -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$OUT/artifacts/$t-" >"$log" 2>&1; then
    echo "   FAILED: see $log"
    status=1
  fi
  grep -E '^#[0-9]+' "$log" | tail -n 1 || true
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
done
exit $status
