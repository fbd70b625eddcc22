#!/bin/sh
# gst-nerv: build the libFuzzer targets (standalone, not part of meson)
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: tests/fuzz/build.sh [OUTDIR]   (default: build/fuzz)
# The core is compiled with clang, -fsanitize=fuzzer,address,undefined,
# ORC disabled and without the x86 GEMM (plain C kernels only), so every
# line the sanitizers see is ours.
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRC/build/fuzz}
CC=${CC:-clang}
mkdir -p "$OUT/obj"

PKGS="glib-2.0 libavutil"
CFLAGS_COMMON="-std=c11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE \
  -DDISABLE_ORC=1 -ffp-contract=off -Wno-unused-parameter \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  $(pkg-config --cflags $PKGS) -I$SRC/common"
LIBS="$(pkg-config --libs $PKGS) -lm -lpthread"

CORE="nerv-common nerv-dsp nerv-dsp-orc nerv-gemm-orc nerv-pool nerv-layers \
  nerv-model nerv-train nerv-entropy nerv-quant nerv-bitstream nerv-syntax \
  nerv-ratecontrol nerv-codec nerv-y4m"

OBJS=""
for f in $CORE; do
  o="$OUT/obj/$f.o"
  if [ ! -f "$o" ] || [ "$SRC/common/$f.c" -nt "$o" ]; then
    $CC $CFLAGS_COMMON -fsanitize=fuzzer-no-link -c "$SRC/common/$f.c" -o "$o"
  fi
  OBJS="$OBJS $o"
done

for t in fuzz-packet fuzz-entropy fuzz-decoder fuzz-group; do
  $CC $CFLAGS_COMMON -fsanitize=fuzzer "$SRC/tests/fuzz/$t.c" $OBJS $LIBS \
    -o "$OUT/$t"
done

# the seed-corpus generator: a normal (non-fuzzer) program
$CC $CFLAGS_COMMON "$SRC/tests/fuzz/gen-corpus.c" \
  "$SRC/tests/check/nerv-test-util.c" -I"$SRC/tests/check" $OBJS $LIBS \
  -o "$OUT/gen-corpus"
echo "built in $OUT"
