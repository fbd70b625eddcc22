#!/bin/sh
# Time per MiB of the hostile streams of issue 15 in every reader: nerv-tool
# info and decode, nervparse in push mode (filesrc ! queue ! nervparse !
# nervdec) and decodebin (pull mode: the file scan, then the frames).
# SPDX-License-Identifier: LGPL-2.1-or-later
#   tests/bench/hostile.sh [BUILD_DIR] [SIZES_MIB...]   (default: build 1 4 16)
# Prints one line per pattern, size and reader: seconds and seconds per MiB.
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
[ $# -gt 0 ] && shift
sizes=${*:-1 4 16}
tool=$build/tools/nerv-tool
gen=$build/tests/bench/nerv-hostile
export GST_PLUGIN_PATH=$PWD/$build/ext/nerv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

secs() { # command...: wall seconds
  t0=$(date +%s.%N)
  "$@" > /dev/null 2>&1 || true
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

printf '%-12s %6s %-10s %9s %9s\n' pattern MiB reader seconds s/MiB
for pattern in resync interleaved unknown; do
  for mib in $sizes; do
    f=$work/$pattern-$mib.nerv
    "$gen" $pattern $((mib * 1048576)) "$f"
    for reader in info decode push decodebin; do
      case $reader in
        info) s=$(secs "$tool" info "$f") ;;
        decode) s=$(secs "$tool" decode -y "$f" "$work/o.y4m") ;;
        push) s=$(secs gst-launch-1.0 -q filesrc location="$f" ! queue ! \
            nervparse ! nervdec ! fakesink) ;;
        decodebin) s=$(secs gst-launch-1.0 -q filesrc location="$f" ! \
            decodebin ! fakesink) ;;
      esac
      printf '%-12s %6s %-10s %9s %9s\n' $pattern $mib $reader $s \
        "$(awk -v s="$s" -v m="$mib" 'BEGIN { printf "%.3f", s / m }')"
    done
  done
done
