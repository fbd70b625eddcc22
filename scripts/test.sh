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

# the same suites under AddressSanitizer and UndefinedBehaviorSanitizer
if [ "${NERV_SANITIZE:-1}" = 1 ]; then
  san=$build-san
  [ -d "$san" ] || meson setup "$san" -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined >/dev/null
  ninja -C "$san"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # the core leak-checked; GStreamer keeps its type registrations to the end
  ASAN_OPTIONS=detect_leaks=1 meson test -C "$san" --suite core \
    --print-errorlogs --num-processes 1
  if meson test -C "$san" --list 2>/dev/null | grep -q elements; then
    ASAN_OPTIONS=detect_leaks=0 meson test -C "$san" --suite elements \
      --print-errorlogs --num-processes 1
  fi
fi
