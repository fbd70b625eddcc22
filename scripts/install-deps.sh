#!/bin/sh
# Install what gst-nerv needs to build, test and benchmark on Debian 12.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu

PKGS="meson ninja-build pkg-config gcc libglib2.0-dev liborc-0.4-dev liborc-0.4-dev-bin
libavutil-dev check ffmpeg libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-base-apps
gstreamer1.0-plugins-good"
[ "${NERV_WITH_TORCH:-0}" = 1 ] && PKGS="$PKGS python3-torch"
# tests/bench/rd.sh: the other codecs (x264enc: ugly; x265enc, av1enc: bad;
# avdec_h264/h265: libav) and the plots
[ "${NERV_WITH_BENCH:-0}" = 1 ] && PKGS="$PKGS gstreamer1.0-plugins-ugly
gstreamer1.0-plugins-bad gstreamer1.0-libav gnuplot-nox"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
  fi
  echo "install-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
