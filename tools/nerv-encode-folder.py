#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Encode every video in a folder to .nerv with nervenc, printing progress.

usage: nerv-encode-folder.py DIR [BITRATE_KBPS] [WIDTHxHEIGHT]
"""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

VIDEO_EXT = (".mp4", ".mkv", ".webm", ".mpg", ".mov", ".y4m", ".avi")


def encode(path, bitrate, size):
    out = os.path.splitext(path)[0] + ".nerv"
    w, h = size
    desc = (f'filesrc location="{path}" ! decodebin ! videoconvert ! videoscale ! '
            f'video/x-raw,width={w},height={h} ! '
            f'nervenc bitrate={bitrate} ! filesink location="{out}"')
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    ok = True
    while True:
        msg = bus.timed_pop_filtered(
            Gst.CLOCK_TIME_NONE,
            Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg.type == Gst.MessageType.EOS:
            break
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"{path}: error: {err.message} ({dbg})", file=sys.stderr)
            ok = False
            break
        s = msg.get_structure()
        if s is None:
            continue
        if s.get_name() == "nerv-progress":
            print(f"{os.path.basename(path)}: group {s.get_value('group')} "
                  f"epoch {s.get_value('epoch')}/{s.get_value('epochs')} "
                  f"PSNR-Y {s.get_value('psnr-y'):.2f} dB, "
                  f"{s.get_value('seconds-left'):.0f} s left", flush=True)
        elif s.get_name() == "nerv-group":
            print(f"{os.path.basename(path)}: group {s.get_value('group')} coded: "
                  f"{s.get_value('bits')} bits, PSNR-Y {s.get_value('psnr-y'):.2f} dB",
                  flush=True)
    pipeline.set_state(Gst.State.NULL)
    return ok


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    folder = sys.argv[1]
    bitrate = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    size = (320, 192)
    if len(sys.argv) > 3:
        size = tuple(int(v) for v in sys.argv[3].split("x"))
    Gst.init(None)
    if Gst.ElementFactory.find("nervenc") is None:
        print("nervenc not found: set GST_PLUGIN_PATH to the built plugin", file=sys.stderr)
        return 1
    failed = 0
    for name in sorted(os.listdir(folder)):
        if name.lower().endswith(VIDEO_EXT):
            failed += not encode(os.path.join(folder, name), bitrate, size)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
