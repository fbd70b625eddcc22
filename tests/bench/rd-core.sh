#!/bin/sh
# Rate-distortion of the codec core on the public clips (nerv-tool, no
# GStreamer), the protocol of ../shared/docs/ANCHORS.md: 320x192, city
# frames 0-115, tears START=2 46 frames. One line per point:
#   rd clip=C target_kbps=T kbps=K bpp=B psnr_y=Y psnr_yuv=U enc_s=E dec_fps=D
# then, per clip, the autoregressive start against training every group
# from scratch for the same number of epochs in all.
# SPDX-License-Identifier: LGPL-2.1-or-later
#   tests/bench/rd-core.sh [BUILD_DIR] [full|quick|ar]
# (ar: only the autoregressive-against-scratch comparison; the rate points
# of the whole plugin come from tests/bench/rd.sh)
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
profile=${2:-full}
media=${NERV_MEDIA_DIR:-../shared/media}
tool=$build/tools/nerv-tool
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# settings shared by every point (defaults of nerv-tool otherwise); the
# group size is chosen by the encoder from the rate (-g 0) except for the
# autoregressive comparison, which uses groups of 8
# (epochs as nervenc's speed-preset=fast; quick: veryfast)
G=0; K=8; EK=150; ED=30
if [ "$profile" = quick ]; then EK=60; ED=15; fi

point() { # clip y4m frames target_kbps extra-args...
  clip=$1 y4m=$2 n=$3 kbps=$4; shift 4
  t0=$(date +%s.%N)
  "$tool" encode -y "$y4m" "$work/o.nerv" -n "$n" -b "$kbps" -g $G -k $K \
    --epochs-key $EK --epochs-delta $ED "$@" > "$work/enc.log"
  t1=$(date +%s.%N)
  dec=$("$tool" decode -y "$work/o.nerv" "$work/o.y4m")
  psnr=$("$tool" psnr "$y4m" "$work/o.y4m")
  bytes=$(wc -c < "$work/o.nerv")
  fps=$(sed -n 's/.* F\([0-9]*\):\([0-9]*\).*/\1 \2/p' "$y4m" | head -n 1)
  awk -v clip="$clip" -v t="$kbps" -v b="$bytes" -v n="$n" -v fps="$fps" \
      -v e="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v psnr="$psnr" -v dec="$dec" 'BEGIN {
    split(fps, f, " "); rate = f[1] / f[2];
    match(psnr, /psnr_y=[0-9.]+/); y = substr(psnr, RSTART + 7, RLENGTH - 7);
    match(psnr, /psnr_yuv=[0-9.]+/); u = substr(psnr, RSTART + 9, RLENGTH - 9);
    match(dec, /dec_fps=[0-9.]+/); d = substr(dec, RSTART + 8, RLENGTH - 8);
    printf "rd clip=%s target_kbps=%d kbps=%.2f bpp=%.4f psnr_y=%.2f psnr_yuv=%.2f enc_s=%.1f dec_fps=%.1f\n",
      clip, t, b * 8 / (n / rate) / 1000, b * 8 / (320 * 192 * n), y, u, e, d }'
}

for spec in "city cityCC0.mpg 0 116" "tears tears_of_steel.webm 2 46"; do
  set -- $spec
  clip=$1 src=$2 start=$3 n=$4
  [ "$profile" = quick ] && [ "$clip" = tears ] && continue
  [ "$profile" = quick ] && n=32
  START=$start "$media/make_y4m.sh" "$media/$src" 320 192 "$n" "$work/$clip.y4m" >/dev/null
  fps=$(sed -n 's/.* F\([0-9]*\):\([0-9]*\).*/\1 \2/p' "$work/$clip.y4m" | head -n 1)
  for bpp in 0.01 0.03 0.08 0.2; do
    [ "$profile" = ar ] && break
    kbps=$(echo "$fps" | awk -v b=$bpp '{ printf "%d", b * 320 * 192 * $1 / $2 / 1000 + 0.5 }')
    point "$clip" "$work/$clip.y4m" "$n" "$kbps"
  done
  # the autoregressive start against from-scratch groups, at 0.2 bpp in
  # groups of 8: the same epochs in all ($EK + (groups-1) * $ED) spread
  # over the groups
  G=8
  kbps=$(echo "$fps" | awk '{ printf "%d", 0.2 * 320 * 192 * $1 / $2 / 1000 + 0.5 }')
  groups=$(( (n + G - 1) / G ))
  per=$(( (EK + (groups - 1) * ED) / groups ))
  echo "ar clip=$clip mode=autoregressive $(point "$clip" "$work/$clip.y4m" "$n" "$kbps" | cut -d' ' -f3-)"
  echo "ar clip=$clip mode=from-scratch epochs_per_group=$per $(point "$clip" "$work/$clip.y4m" "$n" "$kbps" --from-scratch --epochs-key $per | cut -d' ' -f3-)"
  G=0
done
