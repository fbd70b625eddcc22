#!/bin/sh
# The evaluation harness in one command: installs what it needs, builds,
# and runs tests/bench/rd.py (nervenc against x264enc, x265enc and av1enc
# through gst-launch-1.0; CSV, Markdown, PNG plots, BD-rate lines).
# SPDX-License-Identifier: LGPL-2.1-or-later
#   tests/bench/rd.sh [quick|full] [BUILD_DIR] [rd.py options...]
# quick: one clip, a few minutes on 2 cores; full: every clip of
# ../shared/media at 320x192 (up to an hour), and rewrites the table and
# plots in docs/performance.md.
set -eu
cd "$(dirname "$0")/../.."
profile=${1:-quick}
build=${2:-build}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

NERV_WITH_BENCH=1 scripts/install-deps.sh
[ -d "$build" ] || meson setup "$build" -Dbuildtype=release >/dev/null
ninja -C "$build" >/dev/null
export GST_PLUGIN_PATH="$PWD/$build/ext/nerv${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
cmd="tests/bench/rd.sh $profile"
if [ "$profile" = full ]; then
  set -- --doc docs/performance.md "$@"
fi
exec /usr/bin/python3 tests/bench/rd.py "$profile" --out "$build/rd-$profile" \
  --command "$cmd" "$@"
