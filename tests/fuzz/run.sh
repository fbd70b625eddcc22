#!/bin/sh
# gst-nerv: fuzz every target with libFuzzer and report each one
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: tests/fuzz/run.sh [-j JOBS] [SECONDS_PER_TARGET] [TARGET...]
#
# Sets up (once) a clang build with -Dfuzzing=true and ASan + UBSan in
# build-fuzz/ (FUZZ_BUILD overrides), with ORC and the x86 GEMM off so
# every kernel that runs is C the sanitizers see, and builds the targets
# (default: all of tests/fuzz/targets) and their seeds. Each target then
# runs for SECONDS_PER_TARGET (default 60) on its own corpus,
# build-fuzz/fuzz/corpus/NAME/ (new inputs go there), and its seeds,
# build-fuzz/tests/fuzz/seeds/NAME/, with the dictionary; JOBS targets at
# a time (default 1), each a process of its own with its own log,
# build-fuzz/fuzz/logs/TARGET.log. Crashes go to build-fuzz/fuzz/artifacts/.
# At the end one line per target: executions, exec/s, covered edges and
# features at start and end, corpus size, peak RSS, artifacts. The exit
# status is 1 when a target failed (a crash, leak, timeout or OOM).
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${FUZZ_BUILD:-$SRC/build-fuzz}
OUT=$B/fuzz

# one target (the worker that the main script runs JOBS at a time)
if [ "${1:-}" = --one ]; then
  t=$2
  name=${t#fuzz-}
  mkdir -p "$OUT/corpus/$name"
  # -rss_limit_mb / -malloc_limit_mb: one input must not take ~2 GB;
  # -timeout: nor more than a second
  if "$B/tests/fuzz/$t" "$OUT/corpus/$name" "$B/tests/fuzz/seeds/$name" \
      -dict="$SRC/tests/fuzz/nerv.dict" -max_total_time="$SECS" -timeout=1 \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" \
      >"$OUT/logs/$t.log" 2>&1; then
    echo 0 >"$OUT/logs/$t.status"
  else
    echo $? >"$OUT/logs/$t.status"
  fi
  echo "== $t done"
  exit 0
fi

JOBS=1
if [ "${1:-}" = -j ]; then
  JOBS=$2
  shift 2
fi
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-$(grep -v '^#' "$SRC/tests/fuzz/targets")}

mkdir -p "$OUT/artifacts" "$OUT/logs"
build_log=$OUT/logs/build.log
if [ ! -f "$B/build.ninja" ]; then
  CC=clang meson setup "$B" -Dbuildtype=debugoptimized -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=undefined \
    -Dorc=disabled -Davx2=disabled -Dgst=disabled -Dtests=enabled \
    >"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
fi
build_targets=tests/fuzz/seeds
for t in $TARGETS; do
  build_targets="$build_targets tests/fuzz/$t"
done
# shellcheck disable=SC2086
ninja -C "$B" $build_targets >"$build_log" 2>&1 || { cat "$build_log"; exit 1; }

export SECS
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzzing $(echo $TARGETS | wc -w) targets, $SECS s each, $JOBS at a time"
# shellcheck disable=SC2086
printf '%s\n' $TARGETS | xargs -P "$JOBS" -I TARGET sh "$0" --one TARGET

status=0
printf '%-14s %11s %7s %13s %13s %7s %8s %9s\n' target executions exec/s \
  cov ft corpus rss artifacts
for t in $TARGETS; do
  artifacts=$(find "$OUT/artifacts" -name "$t-*" | wc -l)
  # INITED: the seeds loaded; the last #N line: where the run ended
  awk -v t="$t" -v artifacts="$artifacts" '
    function field(key,   i) {
      for (i = 1; i < NF; i++) if ($i == key) return $(i + 1)
      return "?"
    }
    BEGIN { cov0 = cov1 = ft0 = ft1 = corp = execs = eps = rss = "?" }
    /INITED/ { cov0 = field("cov:"); ft0 = field("ft:") }
    /^#[0-9]+/ { cov1 = field("cov:"); ft1 = field("ft:"); corp = field("corp:") }
    /^stat::number_of_executed_units:/ { execs = $2 }
    /^stat::average_exec_per_sec:/ { eps = $2 }
    /^stat::peak_rss_mb:/ { rss = $2 }
    END {
      sub("/.*", "", corp)
      printf "%-14s %11s %7s %13s %13s %7s %6s MB %9d\n", t, execs, eps,
        cov0 " -> " cov1, ft0 " -> " ft1, corp, rss, artifacts
    }' "$OUT/logs/$t.log"
  if [ "$(cat "$OUT/logs/$t.status")" != 0 ]; then
    echo "   $t FAILED: see $OUT/logs/$t.log"
    status=1
  fi
done
exit $status
