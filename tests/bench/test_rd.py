#!/usr/bin/python3
# gst-nerv: checks of the evaluation harness's measuring code (rd.py)
# against answers known without it.
# SPDX-License-Identifier: LGPL-2.1-or-later
#   test_rd.py NERV_TOOL
"""BD-rate / BD-PSNR on synthetic curves whose deltas are known in closed
form, the PCHIP interpolant on data it must reproduce, and PSNR / SSIM as
rd.py measures them (ffmpeg) against frames with known errors and against
nerv-tool psnr (independent C code)."""

import math
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rd  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures += 1


def close(a, b, tol):
    return a is not None and abs(a - b) <= tol


# ---- interpolation -------------------------------------------------------

x = [0.0, 1.0, 2.5, 4.0]
lin = [3 - 2 * v for v in x]
f = rd.Pchip(x, lin)
check(all(close(f(v), 3 - 2 * v, 1e-12) for v in (0.3, 1.7, 3.9)),
      "PCHIP reproduces a line between the knots")
check(close(f.integral(0.5, 3.2), (3 * 3.2 - 3.2 ** 2) - (3 * 0.5 - 0.25), 1e-12),
      "PCHIP integral of a line over a span crossing knots")
y = [0.0, 1.0, 1.0, 5.0]
g = rd.Pchip(x, y)
check(all(close(g(a), b, 1e-12) for a, b in zip(x, y)), "PCHIP passes through its points")
check(all(0.0 <= g(1.0 + 1.5 * k / 10) <= 1.0 + 1e-12 for k in range(11)),
      "PCHIP keeps a flat stretch flat (no overshoot: monotone)")
# a cubic through 4 points is not what PCHIP gives, but the Hermite pieces
# are cubics: Simpson on each must equal a fine Riemann sum
fine = sum(g(0.5 + (k + 0.5) * 3.0 / 20000) for k in range(20000)) * 3.0 / 20000
check(close(g.integral(0.5, 3.5), fine, 1e-7), "PCHIP integral matches a fine midpoint sum")

# ---- Bjontegaard ---------------------------------------------------------

rates = [100.0, 180.0, 330.0, 600.0]
q = [30.0, 32.5, 34.7, 37.2]
check(close(rd.bd_rate(rates, q, [0.8 * r for r in rates], q), -20.0, 1e-9),
      "BD-rate of the same curve at 0.8x the bits is -20 %")
check(close(rd.bd_rate(rates, q, [1.25 * r for r in rates], q), 25.0, 1e-9),
      "BD-rate of the same curve at 1.25x the bits is +25 %")
check(close(rd.bd_psnr(rates, q, rates, [v + 0.5 for v in q]), 0.5, 1e-12),
      "BD-PSNR of the same curve 0.5 dB higher is +0.5 dB")
# two lines in (log10 rate, PSNR) with different slopes:
#   anchor q = 20 + 10 log10 R,  test q = 18 + 11 log10 R
# on the common PSNR range [qa, qb] the log-rate difference is linear in q,
# so its mean is its value at the middle of the range
ra = [50.0, 100.0, 200.0, 400.0, 800.0]
qa = [20 + 10 * math.log10(r) for r in ra]
rt = [60.0, 110.0, 260.0, 500.0]
qt = [18 + 11 * math.log10(r) for r in rt]
lo, hi = max(min(qa), min(qt)), min(max(qa), max(qt))
mid = (lo + hi) / 2
want = (10 ** ((mid - 18) / 11 - (mid - 20) / 10) - 1) * 100
check(close(rd.bd_rate(ra, qa, rt, qt), want, 1e-9),
      "BD-rate of two lines of different slopes = %.4f %% (closed form)" % want)
la, lb = max(math.log10(min(ra)), math.log10(min(rt))), min(math.log10(max(ra)), math.log10(max(rt)))
lm = (la + lb) / 2
check(close(rd.bd_psnr(ra, qa, rt, qt), (18 + 11 * lm) - (20 + 10 * lm), 1e-9),
      "BD-PSNR of the same two lines (closed form)")
check(rd.bd_rate(rates, q, rates, [v + 20 for v in q]) is None,
      "BD-rate without a common PSNR range is refused")
check(rd.monotone([(1, 30), (2, 29), (3, 31)]) == [(1, 30), (3, 31)],
      "points that lose quality with more bits are dropped from a curve")

# ---- PSNR and SSIM as measured -------------------------------------------

W, H, N = 32, 16, 2


def y4m(path, frames):
    with open(path, "wb") as fp:
        fp.write(b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg\n" % (W, H))
        for fr in frames:
            fp.write(b"FRAME\n" + bytes(fr))


rng = random.Random(7)
ref = [[rng.randrange(20, 236) for _ in range(W * H * 3 // 2)] for _ in range(N)]
ys, cs = W * H, W * H // 4
# Y: +2 everywhere in frame 0, -4 in frame 1 -> mean MSE (4 + 16) / 2 = 10
# U: +1 everywhere -> MSE 1; V: +3/-3 alternating -> MSE 9
dec = []
for n, fr in enumerate(ref):
    d = list(fr)
    for i in range(ys):
        d[i] += 2 if n == 0 else -4
    for i in range(ys, ys + cs):
        d[i] += 1
    for i in range(ys + cs, ys + 2 * cs):
        d[i] += 3 if i % 2 else -3
    dec.append(d)
work = tempfile.mkdtemp(prefix="nerv-test-rd-")
a, b = os.path.join(work, "ref.y4m"), os.path.join(work, "dec.y4m")
y4m(a, ref)
y4m(b, dec)
m = rd.measure(a, b, W, H, N, work)
py, pu, pv = (10 * math.log10(255 ** 2 / e) for e in (10.0, 1.0, 9.0))
check(close(m["psnr_y"], py, 1e-6), "PSNR-Y of known errors = %.4f dB (%.4f)" % (py, m["psnr_y"]))
check(close(m["psnr_u"], pu, 1e-6) and close(m["psnr_v"], pv, 1e-6),
      "PSNR-U/V of known errors = %.4f / %.4f dB" % (pu, pv))
check(close(m["psnr_yuv"], (6 * py + pu + pv) / 8, 1e-6), "PSNR-YUV weighs Y:U:V as 6:1:1")
same = rd.measure(a, a, W, H, N, work)
check(close(same["ssim_y"], 1.0, 1e-9) and same["psnr_y"] == 100.0,
      "identical clips: SSIM 1, PSNR at its cap")

# random errors: rd.measure (ffmpeg) against nerv-tool psnr (own C code)
noisy = [[min(255, max(0, v + rng.randrange(-9, 10))) for v in fr] for fr in ref]
c = os.path.join(work, "noisy.y4m")
y4m(c, noisy)
mine = rd.measure(a, c, W, H, N, work)
out = subprocess.run([sys.argv[1], "psnr", a, c], check=True, stdout=subprocess.PIPE,
                     text=True).stdout
theirs = dict(kv.split("=") for kv in out.split()[1:])
check(close(mine["psnr_y"], float(theirs["psnr_y"]), 2e-3) and
      close(mine["psnr_yuv"], float(theirs["psnr_yuv"]), 2e-3),
      "ffmpeg's PSNR as rd.py reads it = nerv-tool psnr (%.4f / %s dB)"
      % (mine["psnr_y"], theirs["psnr_y"]))
check(mine["ssim_y"] < m["ssim_y"] < 1.0,
      "SSIM-Y: noise (%.4f) below a brightness shift (%.4f) below 1"
      % (mine["ssim_y"], m["ssim_y"]))
bad = True
try:
    rd.measure(a, c, W, H, N + 1, work)
except RuntimeError:
    bad = False
check(not bad, "a frame count other than expected is an error")

for p in os.listdir(work):
    os.unlink(os.path.join(work, p))
os.rmdir(work)
print("%d failure(s)" % failures)
sys.exit(1 if failures else 0)
