#!/bin/sh
# Build gst-nerv and run its test suite (installs Debian packages first).
# SPDX-License-Identifier: LGPL-2.1-or-later
#   scripts/test.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}

scripts/install-deps.sh
if [ -d "$build" ]; then
  meson setup --reconfigure "$build" >/dev/null
else
  meson setup "$build" -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 1
