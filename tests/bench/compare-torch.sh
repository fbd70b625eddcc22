#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Compare gst-nerv's HNeRV training/decode speed with PyTorch (Debian python3-torch)
# on the same decoder, for the anchor model and the small model.
#
# Usage (from the repo root): tests/bench/compare-torch.sh [BUILD_DIR] [THREADS]
#   defaults: BUILD_DIR=build THREADS=2
# Last line: "ratio train=X decode=Y" for the anchor model (torch time / our time;
# above 1 means we are faster).
set -eu

BUILD_DIR=${1:-build}
THREADS=${2:-2}
PY=/usr/bin/python3
BENCH=$BUILD_DIR/tests/bench/nerv-bench
TORCH_SCRIPT=tests/bench/torch_hnerv.py

if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "error: $PY cannot import torch; install it with: apt-get install python3-torch" >&2
    exit 1
fi
if [ ! -x "$BENCH" ]; then
    echo "error: $BENCH not found; build first (meson compile -C $BUILD_DIR)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# value KEY FILE: the number after "KEY=" on the first matching line
value() {
    sed -n "s/.*$1=\([0-9.eE+-]*\).*/\1/p" "$2" | head -n 1
}

# run_model NAME TORCH_CONFIG: run both benches, print a table, leave ratios in $tmp/NAME.ratio
run_model() {
    name=$1
    config=$2
    echo "== $name: nerv-bench --model $name --threads $THREADS"
    "$BENCH" --model "$name" --threads "$THREADS" | tee "$tmp/$name.nerv"
    echo "== $name: torch_hnerv.py bench --threads $THREADS --config $config"
    OMP_NUM_THREADS=$THREADS "$PY" "$TORCH_SCRIPT" bench --threads "$THREADS" \
        --config "$config" | tee "$tmp/$name.torch"

    ours_train=$(value "nerv train_ms_per_frame" "$tmp/$name.nerv")
    ours_dec=$(value "nerv decode_ms_per_frame" "$tmp/$name.nerv")
    torch_train=$(value "torch train_ms_per_frame" "$tmp/$name.torch")
    torch_dec=$(value "torch decode_ms_per_frame" "$tmp/$name.torch")
    for v in ours_train ours_dec torch_train torch_dec; do
        if [ -z "${!v}" ]; then
            echo "error: $name: could not read $v from the bench output" >&2
            exit 1
        fi
    done

    echo
    echo "$name model, $THREADS threads (ms per frame; ratio = torch / ours)"
    awk -v ot="$ours_train" -v od="$ours_dec" -v tt="$torch_train" -v td="$torch_dec" \
        -v out="$tmp/$name.ratio" 'BEGIN {
        printf "  %-8s %12s %12s %8s\n", "", "ours", "torch", "ratio"
        printf "  %-8s %12.3f %12.3f %8.2f\n", "train", ot, tt, tt / ot
        printf "  %-8s %12.3f %12.3f %8.2f\n", "decode", od, td, td / od
        printf "ratio train=%.2f decode=%.2f\n", tt / ot, td / od > out
    }'
    echo
}

run_model anchor anchor
"$BENCH" --model small --write-config "$tmp/small.txt" >/dev/null
run_model small "$tmp/small.txt"

cat "$tmp/anchor.ratio"
