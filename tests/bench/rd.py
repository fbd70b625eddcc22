#!/usr/bin/python3
# gst-nerv: rate-distortion and speed of nervenc against x264enc, x265enc
# and av1enc, all through gst-launch-1.0 pipelines from one decoded source.
# SPDX-License-Identifier: LGPL-2.1-or-later
"""rd.py: the evaluation harness (docs/performance.md, "Evaluation").

For each clip: make one 8-bit 4:2:0 y4m (../shared/media/make_y4m.sh for
the public clips, ffmpeg for any other video), encode it with every codec
at the same target bitrates through gst-launch-1.0, decode every result
through gst-launch-1.0 to raw I420, and measure every decoded clip with
one tool, ffmpeg's psnr and ssim filters, against the same y4m:

  psnr_y, psnr_u, psnr_v  10 log10 (255^2 / mean over frames of the
                          plane's MSE) (ffmpeg's own summary figure)
  psnr_yuv                (6 psnr_y + psnr_u + psnr_v) / 8
  ssim_y                  mean over frames of ffmpeg's SSIM of the Y plane
  bpp                     8 * file size / (width * height * frames); the
                          files are elementary streams (H.264/H.265 Annex B,
                          AV1 OBUs, .nerv), so this is the coded bits
  enc_s                   wall time of the encode pipeline(s)
  dec_fps                 frames / (wall time of the decode pipeline minus
                          the start-up of an empty gst-launch-1.0)

and the Bjontegaard deltas of nervenc against each other codec (piecewise
cubic interpolation, PCHIP, integrated exactly over the overlap).

Writes OUT/rd.csv, OUT/rd.md and OUT/rd-CLIP.png (gnuplot), prints `rd`
and `bd` lines, and with --doc FILE rewrites the part of FILE between
<!-- rd:begin --> and <!-- rd:end --> with the tables and the plots.
"""

import argparse
import csv
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# ---- Bjontegaard deltas --------------------------------------------------


def pchip_slopes(x, y):
    """Slopes of the monotone piecewise cubic Hermite interpolant
    (Fritsch-Carlson, as scipy.interpolate.PchipInterpolator)."""
    n = len(x)
    h = [x[i + 1] - x[i] for i in range(n - 1)]
    delta = [(y[i + 1] - y[i]) / h[i] for i in range(n - 1)]
    if n == 2:
        return [delta[0], delta[0]]
    d = [0.0] * n
    for i in range(1, n - 1):
        if delta[i - 1] * delta[i] <= 0:
            d[i] = 0.0
        else:
            w1 = 2 * h[i] + h[i - 1]
            w2 = h[i] + 2 * h[i - 1]
            d[i] = (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i])

    def end(h0, h1, m0, m1):
        s = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if s * m0 <= 0:
            return 0.0
        if m0 * m1 <= 0 and abs(s) > abs(3 * m0):
            return 3 * m0
        return s

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return d


class Pchip:
    def __init__(self, x, y):
        pts = sorted(zip(x, y))
        self.x = [p[0] for p in pts]
        self.y = [p[1] for p in pts]
        if len(self.x) < 2 or any(
                b <= a for a, b in zip(self.x, self.x[1:])):
            raise ValueError("need two or more distinct abscissae")
        self.d = pchip_slopes(self.x, self.y)

    def __call__(self, t):
        x, y, d = self.x, self.y, self.d
        i = 0
        while i < len(x) - 2 and t > x[i + 1]:
            i += 1
        h = x[i + 1] - x[i]
        s = (t - x[i]) / h
        h00 = (1 + 2 * s) * (1 - s) ** 2
        h10 = s * (1 - s) ** 2
        h01 = s * s * (3 - 2 * s)
        h11 = s * s * (s - 1)
        return h00 * y[i] + h10 * h * d[i] + h01 * y[i + 1] + h11 * h * d[i + 1]

    def integral(self, a, b):
        """Exact integral over [a, b] within the knots: Simpson's rule is
        exact for a cubic, so apply it on each piece between knots."""
        cuts = [a] + [k for k in self.x if a < k < b] + [b]
        total = 0.0
        for lo, hi in zip(cuts, cuts[1:]):
            total += (hi - lo) / 6 * (self(lo) + 4 * self((lo + hi) / 2) + self(hi))
        return total


def bd_rate(rate_a, q_a, rate_b, q_b):
    """Average rate difference of B against A at equal quality, in per
    cent (negative: B needs fewer bits). None when the quality ranges do
    not overlap."""
    fa = Pchip(q_a, [math.log10(r) for r in rate_a])
    fb = Pchip(q_b, [math.log10(r) for r in rate_b])
    lo = max(min(q_a), min(q_b))
    hi = min(max(q_a), max(q_b))
    if hi <= lo:
        return None
    avg = (fb.integral(lo, hi) - fa.integral(lo, hi)) / (hi - lo)
    return (10 ** avg - 1) * 100


def bd_psnr(rate_a, q_a, rate_b, q_b):
    """Average quality difference of B against A at equal rate (dB)."""
    la = [math.log10(r) for r in rate_a]
    lb = [math.log10(r) for r in rate_b]
    fa = Pchip(la, q_a)
    fb = Pchip(lb, q_b)
    lo = max(min(la), min(lb))
    hi = min(max(la), max(lb))
    if hi <= lo:
        return None
    return (fb.integral(lo, hi) - fa.integral(lo, hi)) / (hi - lo)


def monotone(points):
    """The points sorted by rate, less each point whose quality is not
    above the last one kept (a codec's RD curve must rise for the deltas
    to mean anything)."""
    out = []
    for r, q in sorted(points):
        if not out or q > out[-1][1]:
            out.append((r, q))
    return out


# ---- metrics --------------------------------------------------------------


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw)


def psnr_from_mse(mse):
    return 100.0 if mse <= 0 else 10 * math.log10(255.0 * 255.0 / mse)


def measure(ref_y4m, dec, width, height, frames, workdir):
    """PSNR per plane, PSNR-YUV (6:1:1) and SSIM-Y of dec (raw I420 of
    width x height, or a y4m) against ref_y4m, by ffmpeg."""
    pfile = os.path.join(workdir, "psnr.log")
    sfile = os.path.join(workdir, "ssim.log")
    if dec.endswith(".y4m"):
        dec_in = ["-i", dec]
    else:
        dec_in = ["-f", "rawvideo", "-pix_fmt", "yuv420p",
                  "-s", "%dx%d" % (width, height), "-i", dec]
    # frames are paired by index, whatever the time stamps say
    graph = ("[0:v]settb=1,setpts=N,split[a0][a1];"
             "[1:v]settb=1,setpts=N,split[b0][b1];"
             "[a0][b0]psnr=stats_file=%s;[a1][b1]ssim=stats_file=%s"
             % (pfile, sfile))
    run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"] +
        dec_in + ["-i", ref_y4m, "-lavfi", graph, "-f", "null", "-"])
    mse = [0.0, 0.0, 0.0]
    n = 0
    with open(pfile) as f:
        for line in f:
            kv = dict(p.split(":", 1) for p in line.split() if ":" in p)
            for i, c in enumerate("yuv"):
                mse[i] += float(kv["mse_" + c])
            n += 1
    ssim = 0.0
    ns = 0
    with open(sfile) as f:
        for line in f:
            kv = dict(p.split(":", 1) for p in line.split() if ":" in p)
            ssim += float(kv["Y"])
            ns += 1
    if n != frames or ns != frames:
        raise RuntimeError("measured %d/%d frames, expected %d" % (n, ns, frames))
    p = [psnr_from_mse(m / n) for m in mse]
    return {"psnr_y": p[0], "psnr_u": p[1], "psnr_v": p[2],
            "psnr_yuv": (6 * p[0] + p[1] + p[2]) / 8, "ssim_y": ssim / ns}


# ---- codecs ---------------------------------------------------------------

SRC = "filesrc location={src} ! y4mdec ! queue"


def two_pass(src, out, element):
    """Wall time of a two-pass encode; element(pass, stats file) is the
    encoder and its output caps for that pass (the first pass's stream is
    dropped)."""
    stats = out + ".stats"
    t = 0.0
    for p in (1, 2):
        sink = "fakesink" if p == 1 else "filesink location=" + out
        t += gst(SRC.format(src=src) + " ! %s ! %s" % (element(p, stats), sink))
    return t


def _x264(preset):
    def enc(src, out, kbps, ctx):
        return two_pass(src, out, lambda p, stats: (
            "x264enc bitrate=%d speed-preset=%s pass=pass%d "
            "multipass-cache-file=%s ! video/x-h264,stream-format=byte-stream"
            % (kbps, preset, p, stats)))
    return {"enc": enc, "ext": "h264",
            "dec": "h264parse ! avdec_h264 direct-rendering=false",
            "desc": "x264enc speed-preset=%s, two-pass ABR "
                    "(pass=pass1, pass=pass2)" % preset}


def _x265(src, out, kbps, ctx):
    return two_pass(src, out, lambda p, stats: (
        "x265enc bitrate=%d speed-preset=medium option-string=\"pass=%d:stats=%s\" "
        "! video/x-h265,stream-format=byte-stream" % (kbps, p, stats)))


def _av1(src, out, kbps, ctx):
    """av1enc (libaom) in GStreamer 1.22 does not follow target-bitrate
    (measured on 32 city frames: 20/100/400 kbit/s asked, 77/77/79 given
    with lag-in-frames=19; 150/488/686 without), so the rate is met as a
    two-pass encoder would: the finest constant quantizer whose stream
    fits the target, by bisection. enc_s is the final encode only."""
    def encode(q):
        return gst(SRC.format(src=src) + " ! av1enc end-usage=q cpu-used=4 "
                   "min-quantizer=%d max-quantizer=%d lag-in-frames=19 "
                   "keyframe-max-dist=9999 threads=%d row-mt=true ! av1parse ! "
                   "video/x-av1,stream-format=obu-stream ! filesink location=%s"
                   % (q, q, ctx["threads"], out))
    budget = kbps * 1000 / 8 * ctx["frames"] / ctx["fps"]
    lo, hi = 0, 63                 # answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        encode(mid)
        if os.path.getsize(out) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return encode(lo)


def _nerv(model):
    def enc(src, out, kbps, ctx):
        return gst(SRC.format(src=src) + " ! nervenc bitrate=%d model=%s "
                   "group-size=0 speed-preset=%s ! filesink location=%s"
                   % (kbps, model, ctx["nerv_preset"], out))
    return {"enc": enc, "ext": "nerv", "dec": "nervparse ! nervdec",
            "desc": "nervenc model=%s group-size=0 (from the rate), "
                    "speed-preset from the profile" % model}


CODECS = {
    "nervenc": _nerv("hnerv"),
    "nervenc-nerv": _nerv("nerv"),
    "x264-medium": _x264("medium"),
    "x264-veryslow": _x264("veryslow"),
    "x265-medium": {"enc": _x265, "ext": "h265",
                    "dec": "h265parse ! avdec_h265 direct-rendering=false",
                    "desc": "x265enc speed-preset=medium, two-pass ABR "
                            "(option-string pass=1, pass=2)"},
    "av1enc": {"enc": _av1, "ext": "obu",
               "dec": "video/x-av1,stream-format=obu-stream ! av1parse ! av1dec",
               "desc": "av1enc (libaom) cpu-used=4 lag-in-frames=19, the "
                       "finest constant quantizer under the target (bisection)"},
}

# ---- clips and profiles ---------------------------------------------------

MEDIA = os.environ.get("NERV_MEDIA_DIR",
                       os.path.join(ROOT, "..", "shared", "media"))

# name: (file, start frame, frames, input options of a headerless file)
# (../shared/media/MEDIA.md)
CLIPS = {
    "city": ("cityCC0.mpg", 0, 116, None),
    "tears": ("tears_of_steel.webm", 2, 46, None),
    "cisco": ("CiscoVT2people_320x192_12fps.yuv", 0, 9,
              ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "320x192", "-r", "12"]),
}

PROFILES = {
    # one clip, few frames: a few minutes on 2 cores, before every merge
    "quick": {"clips": [("city", 32)], "size": (320, 192),
              "bpp": [0.05, 0.1, 0.2, 0.4], "anchor_low_bpp": [0.0125, 0.025],
              "nerv_preset": "veryfast",
              "codecs": ["nervenc", "x264-medium", "x264-veryslow",
                         "x265-medium", "av1enc"]},
    # the clips and sizes of docs/performance.md (ANCHORS.md's protocol)
    "full": {"clips": [("city", 116), ("tears", 46), ("cisco", 9)],
             "size": (320, 192), "bpp": [0.01, 0.03, 0.08, 0.2],
             "anchor_low_bpp": [0.004],
             "bpp_short": [0.1, 0.2, 0.4, 0.8], "nerv_preset": "fast",
             "codecs": ["nervenc", "nervenc-nerv", "x264-medium",
                        "x264-veryslow", "x265-medium", "av1enc"]},
}


def gst(pipeline):
    t0 = time.monotonic()
    # shlex keeps a quoted option-string one argument
    r = subprocess.run(["gst-launch-1.0", "-q", "-e"] + shlex.split(pipeline),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.monotonic() - t0
    if r.returncode != 0 or "ERROR" in r.stderr:
        raise RuntimeError("pipeline failed: %s\n%s%s" % (pipeline, r.stdout, r.stderr))
    return t


def startup_s():
    ts = sorted(gst("fakesrc num-buffers=1 ! fakesink") for _ in range(3))
    return ts[1]


def make_source(name, path, start, frames, size, work, raw=None):
    """One y4m, 8-bit 4:2:0, WxH, `frames` frames from `start`: by
    make_y4m.sh for the compressed clips of ../shared/media, else by the
    same Lanczos scale and centre crop in ffmpeg (raw: the input options of
    a headerless clip)."""
    w, h = size
    out = os.path.join(work, "%s.y4m" % name)
    if raw is None and os.path.basename(path) in [c[0] for c in CLIPS.values()]:
        env = dict(os.environ, START=str(start))
        run([os.path.join(MEDIA, "make_y4m.sh"), path, str(w), str(h),
             str(frames), out], env=env)
        return out
    vf = ("select=gte(n\\,%d),setpts=N/FRAME_RATE/TB,scale=%d:%d:force_original_aspect_ratio="
          "increase:flags=lanczos,crop=%d:%d,format=yuv420p" % (start, w, h, w, h))
    run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"] +
        (raw or []) + ["-i", path] +
        ["-vf", vf, "-frames:v", str(frames), "-f", "yuv4mpegpipe",
         "-strict", "-1", out])
    return out


def y4m_fps(path):
    with open(path, "rb") as f:
        head = f.readline().decode()
    for tok in head.split():
        if tok.startswith("F"):
            n, d = tok[1:].split(":")
            return int(n) / int(d)
    return 25.0


def y4m_frames(path, w, h):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = len(f.readline())
    return (size - head) // (6 + w * h * 3 // 2)


# ---- one run ----------------------------------------------------------------


def code_point(codec, clip, src, kbps, ctx, work):
    c = CODECS[codec]
    out = os.path.join(work, "%s-%s-%d.%s" % (clip, codec, kbps, c["ext"]))
    enc_s = c["enc"](src, out, kbps, ctx)
    raw = out + ".yuv"
    t = gst("filesrc location=%s ! %s ! videoconvert ! video/x-raw,format=I420 ! "
            "filesink location=%s" % (out, c["dec"], raw))
    w, h = ctx["size"]
    frames = ctx["frames"]
    if os.path.getsize(raw) != frames * w * h * 3 // 2:
        raise RuntimeError("%s decoded %d bytes, expected %d frames of %dx%d"
                           % (codec, os.path.getsize(raw), frames, w, h))
    m = measure(src, raw, w, h, frames, work)
    nbytes = os.path.getsize(out)
    os.unlink(raw)
    row = {"clip": clip, "codec": codec, "frames": frames, "width": w,
           "height": h, "target_kbps": kbps, "bytes": nbytes,
           "kbps": nbytes * 8 / (frames / ctx["fps"]) / 1000,
           "bpp": nbytes * 8 / (w * h * frames), "enc_s": enc_s,
           "dec_fps": frames / max(t - ctx["startup"], 1e-3)}
    row.update(m)
    return row


FIELDS = ["clip", "codec", "frames", "width", "height", "target_kbps", "bytes",
          "kbps", "bpp", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim_y",
          "enc_s", "dec_fps"]


def rd_line(r):
    return ("rd clip=%s codec=%s target_kbps=%d kbps=%.2f bpp=%.4f psnr_y=%.2f "
            "psnr_yuv=%.2f ssim_y=%.4f enc_s=%.1f dec_fps=%.1f" %
            (r["clip"], r["codec"], r["target_kbps"], r["kbps"], r["bpp"],
             r["psnr_y"], r["psnr_yuv"], r["ssim_y"], r["enc_s"], r["dec_fps"]))


def bd_rows(rows):
    out = []
    clips = []
    for r in rows:
        if r["clip"] not in clips:
            clips.append(r["clip"])
    for clip in clips:
        mine = [r for r in rows if r["clip"] == clip]
        tests = [c for c in ("nervenc", "nervenc-nerv") if any(
            r["codec"] == c for r in mine)]
        anchors = []
        for r in mine:
            if r["codec"] not in tests and r["codec"] not in anchors:
                anchors.append(r["codec"])
        for t in tests:
            for a in anchors:
                res = {"clip": clip, "test": t, "anchor": a}
                for metric in ("psnr_y", "psnr_yuv"):
                    pa = monotone([(r["bpp"], r[metric]) for r in mine if r["codec"] == a])
                    pt = monotone([(r["bpp"], r[metric]) for r in mine if r["codec"] == t])
                    br = bp = None
                    if len(pa) >= 2 and len(pt) >= 2:
                        br = bd_rate([p[0] for p in pa], [p[1] for p in pa],
                                     [p[0] for p in pt], [p[1] for p in pt])
                        bp = bd_psnr([p[0] for p in pa], [p[1] for p in pa],
                                     [p[0] for p in pt], [p[1] for p in pt])
                    res["bd_rate_" + metric] = br
                    res["bd_psnr_" + metric] = bp
                    if metric == "psnr_y" and br is not None:
                        # the common PSNR-Y range the BD-rate averages over
                        res["range_y"] = (max(min(p[1] for p in pa), min(p[1] for p in pt)),
                                          min(max(p[1] for p in pa), max(p[1] for p in pt)))
                out.append(res)
    return out


def fmt_opt(v, f):
    return "n/a" if v is None else f % v


def bd_line(b):
    return ("bd clip=%s test=%s anchor=%s bd_rate_y=%s bd_rate_yuv=%s "
            "bd_psnr_y=%s bd_psnr_yuv=%s range_y=%s" %
            (b["clip"], b["test"], b["anchor"],
             fmt_opt(b["bd_rate_psnr_y"], "%+.1f%%"),
             fmt_opt(b["bd_rate_psnr_yuv"], "%+.1f%%"),
             fmt_opt(b["bd_psnr_psnr_y"], "%+.2fdB"),
             fmt_opt(b["bd_psnr_psnr_yuv"], "%+.2fdB"), fmt_range(b)))


def fmt_range(b, sep="-"):
    r = b.get("range_y")
    return "n/a" if r is None else "%.1f%s%.1f" % (r[0], sep, r[1])


def markdown(rows, bds, meta):
    L = []
    L.append("Profile `%s`, %s; %s; %s." % (meta["profile"], meta["date"],
                                            meta["machine"], meta["versions"]))
    L.append("")
    L.append("    %s" % meta["command"])
    L.append("")
    L.append("| clip | codec | target kbit/s | kbit/s | bpp | PSNR-Y | PSNR-YUV | SSIM-Y | encode s | decode fps |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        L.append("| %s (%d f) | %s | %d | %.1f | %.4f | %.2f | %.2f | %.4f | %.1f | %.0f |" %
                 (r["clip"], r["frames"], r["codec"], r["target_kbps"], r["kbps"],
                  r["bpp"], r["psnr_y"], r["psnr_yuv"], r["ssim_y"], r["enc_s"],
                  r["dec_fps"]))
    L.append("")
    L.append("Bjontegaard deltas of nervenc against each codec (PCHIP; BD-rate: "
             "extra bits at equal PSNR, negative is better for nervenc; BD-PSNR: "
             "dB at equal bits; n/a: the curves do not overlap):")
    L.append("")
    L.append("| clip | nervenc | anchor | BD-rate Y | over PSNR-Y (dB) | BD-rate YUV | BD-PSNR Y | BD-PSNR YUV |")
    L.append("|---|---|---|---|---|---|---|---|")
    for b in bds:
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" %
                 (b["clip"], b["test"], b["anchor"],
                  fmt_opt(b["bd_rate_psnr_y"], "%+.1f %%"), fmt_range(b, " - "),
                  fmt_opt(b["bd_rate_psnr_yuv"], "%+.1f %%"),
                  fmt_opt(b["bd_psnr_psnr_y"], "%+.2f dB"),
                  fmt_opt(b["bd_psnr_psnr_yuv"], "%+.2f dB")))
    L.append("")
    L.append("Codec settings:")
    L.append("")
    for c in meta["codecs"]:
        L.append("- `%s`: %s" % (c, CODECS[c]["desc"]))
    return "\n".join(L) + "\n"


def plot(rows, clip, png, work):
    first = [r for r in rows if r["clip"] == clip][0]
    codecs = []
    for r in rows:
        if r["clip"] == clip and r["codec"] not in codecs:
            codecs.append(r["codec"])
    cmds = ["set terminal pngcairo size 960,420 font ',10'",
            "set output '%s'" % png, "set multiplot layout 1,2 title '%s (%d frames, %dx%d)'"
            % (clip, first["frames"], first["width"], first["height"]),
            "set grid", "set logscale x", "set key bottom right",
            "set xlabel 'bits per pixel'"]
    plots = {}
    for metric, label in (("psnr_y", "PSNR-Y (dB)"), ("ssim_y", "SSIM-Y")):
        parts = []
        for i, c in enumerate(codecs):
            dat = os.path.join(work, "%s-%s-%s.dat" % (clip, c, metric))
            with open(dat, "w") as f:
                for r in sorted((r for r in rows if r["clip"] == clip and r["codec"] == c),
                                key=lambda r: r["bpp"]):
                    f.write("%g %g\n" % (r["bpp"], r[metric]))
            parts.append("'%s' using 1:2 with linespoints lw 2 pt %d title '%s'"
                         % (dat, 5 + i, c))
        plots[metric] = "set ylabel '%s'\nplot %s" % (label, ", ".join(parts))
    script = "\n".join(cmds) + "\n" + plots["psnr_y"] + "\n" + plots["ssim_y"] + \
        "\nunset multiplot\n"
    run(["gnuplot"], input=script)


def lscpu_model():
    try:
        for line in run(["lscpu"]).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def versions():
    v = []
    for cmd in (["gst-launch-1.0", "--version"], ["ffmpeg", "-version"]):
        try:
            line = [l for l in run(cmd).stdout.splitlines() if l.strip()][0]
            v.append(line.split("version")[1].split()[0] if "version" in line else line)
        except (OSError, subprocess.CalledProcessError, IndexError):
            v.append("?")
    return "GStreamer %s, ffmpeg %s" % (v[0], v[1])


def update_doc(doc, text):
    with open(doc) as f:
        s = f.read()
    b, e = "<!-- rd:begin -->", "<!-- rd:end -->"
    if b not in s or e not in s:
        raise RuntimeError("%s has no %s ... %s block" % (doc, b, e))
    head, rest = s.split(b, 1)
    _, tail = rest.split(e, 1)
    with open(doc, "w") as f:
        f.write(head + b + "\n" + text + e + tail)


def check_elements(codecs):
    need = {"y4mdec", "videoconvert", "filesink"}
    for c in codecs:
        need |= {"nervenc": {"nervenc", "nervparse", "nervdec"},
                 "nervenc-nerv": {"nervenc", "nervparse", "nervdec"},
                 "x264-medium": {"x264enc", "h264parse", "avdec_h264"},
                 "x264-veryslow": {"x264enc", "h264parse", "avdec_h264"},
                 "x265-medium": {"x265enc", "h265parse", "avdec_h265"},
                 "av1enc": {"av1enc", "av1parse", "av1dec"}}[c]
    missing = [e for e in sorted(need)
               if subprocess.run(["gst-inspect-1.0", e], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode]
    if missing:
        sys.exit("rd.py: GStreamer elements missing: %s (NERV_WITH_BENCH=1 "
                 "scripts/install-deps.sh installs them; nerv*: set "
                 "GST_PLUGIN_PATH to the build's ext/nerv)" % " ".join(missing))
    for tool in ("ffmpeg", "gnuplot"):
        if not shutil.which(tool):
            sys.exit("rd.py: %s missing (NERV_WITH_BENCH=1 scripts/install-deps.sh)" % tool)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile", nargs="?", default="quick", choices=sorted(PROFILES))
    ap.add_argument("inputs", nargs="*",
                    help="videos or y4m files to code instead of the profile's clips")
    ap.add_argument("--frames", type=int, help="frames per clip")
    ap.add_argument("--size", help="WxH (default: the profile's)")
    ap.add_argument("--bpp", help="comma-separated target bits per pixel")
    ap.add_argument("--codecs", help="comma-separated, of: " + ",".join(CODECS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="rd-out")
    ap.add_argument("--doc", help="rewrite the rd block of this Markdown file "
                    "(and put the plots beside it in images/)")
    ap.add_argument("--command", help="the command to quote in the output")
    ap.add_argument("--from-csv", help="code nothing: report (BD lines, Markdown, "
                    "plots, --doc) from an rd.csv of an earlier run")
    a = ap.parse_args()

    prof = PROFILES[a.profile]
    size = tuple(int(v) for v in a.size.split("x")) if a.size else prof["size"]
    codecs = a.codecs.split(",") if a.codecs else prof["codecs"]
    for c in codecs:
        if c not in CODECS:
            sys.exit("rd.py: unknown codec %s (known: %s)" % (c, ", ".join(CODECS)))
    if not a.from_csv:
        check_elements(codecs)
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="nerv-rd-")
    clips = []
    if a.inputs:
        for p in a.inputs:
            if p.endswith(".yuv"):
                sys.exit("rd.py: %s: raw video has no size or rate in it; "
                         "give a y4m (ffmpeg -f rawvideo ... -i IN OUT.y4m)" % p)
            name = os.path.splitext(os.path.basename(p))[0]
            clips.append((name, p, 0, a.frames or 10 ** 9, None))
    else:
        for name, n in prof["clips"]:
            f, start, _, raw = CLIPS[name]
            clips.append((name, os.path.join(MEDIA, f), start, a.frames or n, raw))
    rows = []
    failed = []
    if a.from_csv:
        with open(a.from_csv) as f:
            for r in csv.DictReader(f):
                rows.append({k: (v if k in ("clip", "codec") else float(v))
                             for k, v in r.items()})
        ff = os.path.join(os.path.dirname(a.from_csv), "rd-failed.txt")
        if os.path.exists(ff):
            with open(ff) as f:
                failed = [l.strip() for l in f if l.strip()]
        clips = []
        for r in rows:
            if r["clip"] not in [c[0] for c in clips]:
                clips.append((r["clip"], None, 0, 0, None))
        codecs = []
        for r in rows:
            if r["codec"] not in codecs:
                codecs.append(r["codec"])
    startup = 0.0 if a.from_csv else startup_s()
    try:
        for name, path, start, n, raw in ([] if a.from_csv else clips):
            if not os.path.exists(path):
                sys.exit("rd.py: %s not found (NERV_MEDIA_DIR)" % path)
            src = make_source(name, path, start, n, size, work, raw)
            fps = y4m_fps(src)
            n = y4m_frames(src, *size)
            bpps = prof["bpp"]
            if "bpp_short" in prof and n < 16:
                bpps = prof["bpp_short"]   # a model paid by a few frames
            if a.bpp:
                bpps = [float(b) for b in a.bpp.split(",")]
            ctx = {"frames": n, "fps": fps, "size": size, "threads": a.threads,
                   "nerv_preset": prof["nerv_preset"], "startup": startup}
            for codec in codecs:
                # the other codecs also code below nervenc's lowest target,
                # so that their curves reach its quality and BD-rate exists
                low = [] if codec.startswith("nervenc") or a.bpp else \
                    [b for b in prof.get("anchor_low_bpp", []) if b < min(bpps)]
                for bpp in low + bpps:
                    kbps = max(1, int(round(bpp * size[0] * size[1] * fps / 1000)))
                    try:
                        r = code_point(codec, name, src, kbps, ctx, work)
                    except RuntimeError as e:
                        # e.g. x264's second pass refuses a rate below
                        # what it can reach: say so, keep going
                        msg = [m for m in str(e).splitlines() if m.startswith("ERROR")]
                        why = msg[0].split(": ", 1)[-1] if msg else str(e).splitlines()[0]
                        print("rd-failed clip=%s codec=%s target_kbps=%d: %s" %
                              (name, codec, kbps, why), flush=True)
                        failed.append("%s %s at %d kbit/s (%s)" % (name, codec, kbps, why))
                        continue
                    print(rd_line(r), flush=True)
                    rows.append(r)
        bds = bd_rows(rows)
        for b in bds:
            print(bd_line(b), flush=True)
        with open(os.path.join(a.out, "rd.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: (round(v, 6) if isinstance(v, float) else v)
                            for k, v in r.items()})
        meta = {"profile": a.profile, "date": time.strftime("%Y-%m-%d"),
                "machine": "%s, %d cores" % (lscpu_model(), os.cpu_count() or 0),
                "versions": versions(), "codecs": codecs,
                "command": a.command or " ".join(["tests/bench/rd.py"] + sys.argv[1:])}
        with open(os.path.join(a.out, "rd-failed.txt"), "w") as f:
            f.write("".join(l + "\n" for l in failed))
        md = markdown(rows, bds, meta)
        if failed:
            md += "\nPoints that could not be coded: %s.\n" % "; ".join(failed)
        pngs = []
        for name, *_ in clips:
            png = os.path.join(a.out, "rd-%s.png" % name)
            plot(rows, name, png, work)
            pngs.append(png)
        with open(os.path.join(a.out, "rd.md"), "w") as f:
            f.write(md)
            for p in pngs:
                f.write("\n![RD %s](%s)\n" % (p, os.path.basename(p)))
        if a.doc:
            img = os.path.join(os.path.dirname(a.doc), "images")
            os.makedirs(img, exist_ok=True)
            links = ""
            for p in pngs:
                shutil.copy(p, img)
                links += "\n![%s](images/%s)\n" % (os.path.basename(p), os.path.basename(p))
            update_doc(a.doc, md + links)
        print("rd.py: wrote %s/rd.csv, rd.md, %s" % (a.out, ", ".join(
            os.path.basename(p) for p in pngs)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
