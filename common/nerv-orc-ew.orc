# gst-nerv: element-wise ORC programs (activations, optimiser, pixels).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The C references in nerv-dsp.c are the specification. ORC 0.4.33 has
# no erf/exp and compiles to 128-bit SSE with 16 registers, and every
# .const or .floatparam holds a register for the whole loop: a program
# with more than ~13 of them fails to compile ("register overflow") and
# silently runs the slow backup C code. So the GELU kernels are split
# into small passes that nerv-dsp-orc.c runs over L1-sized chunks.
#
# GELU: Phi(x) = 1/2 + x * P(t) / Q(t), t = min(x*x, 32), clamped to
# [0, 1]. P has degree 6, Q degree 5 and is monic; the coefficients were
# fitted for this file (weighted minimax by Lawson iteration with
# Sanathanan-Koerner reweighting): |x| * |Phi - Phi_approx| < 3e-9 on
# |x| <= sqrt(32) with exact coefficients, 4.4e-8 once they are rounded
# to float (evaluated exactly); float arithmetic then adds a few ulp,
# so y is within 1.5e-6 of the libm erff reference for |x| <= 10. Beyond
# sqrt(32) the clamp makes Phi exactly 0 or 1 (the true tail is below
# 8e-9). Q has positive coefficients, so no poles.
#
# phi(x) = exp(-x*x/2) / sqrt(2 pi): y = max(-x*x/2, -87),
# n = round(y / ln 2) with the 1.5 * 2^23 trick, r = y - n*ln2 (ln2 in a
# hi part exact for |n| < 2^15 and a lo part), e^r / sqrt(2 pi) by a
# degree 6 polynomial fitted on |r| <= 0.35 (relative error 2e-9, 4.4e-8
# with float coefficients), times 2^n built as float bits
# ((n + 127) << 23). Where y <= -87 the factor is masked to 0, so phi is
# exactly 0 in the tail (and x*phi never grows).

.function nerv_orc_u8_to_f32
.dest 4 d1 float
.source 1 s1 guint8
.floatparam 4 p1
.temp 2 t1
.temp 4 t2
convubw t1, s1
convuwl t2, t1
convlf t2, t2
mulf d1, t2, p1

# p1 = 255. NaN is cleared by the self-compare mask, then +0.5, clamp,
# truncate: round half up, as the C reference.
.function nerv_orc_f32_to_u8
.dest 1 d1 guint8
.source 4 s1 float
.floatparam 4 p1
.const 4 c_zero 0x00000000
.const 4 c_half 0x3f000000
.const 4 c_255 0x437f0000
.temp 4 t1
.temp 4 t2
.temp 2 t3
mulf t1, s1, p1
cmpeqf t2, t1, t1
andl t1, t1, t2
addf t1, t1, c_half
maxf t1, t1, c_zero
minf t1, t1, c_255
convfl t2, t1
convlw t3, t2
convwb d1, t3

# One Adam step, same operation order as nerv_adam_c.
.function nerv_orc_adam
.dest 4 w float
.dest 4 m float
.dest 4 v float
.source 4 g float
.floatparam 4 b1
.floatparam 4 c1
.floatparam 4 b2
.floatparam 4 c2
.floatparam 4 step
.floatparam 4 vscale
.floatparam 4 eps
.temp 4 mi
.temp 4 vi
.temp 4 t
mulf mi, m, b1
mulf t, g, c1
addf mi, mi, t
mulf vi, v, b2
mulf t, g, g
mulf t, t, c2
addf vi, vi, t
copyl m, mi
copyl v, vi
mulf mi, mi, step
sqrtf vi, vi
mulf vi, vi, vscale
addf vi, vi, eps
divf mi, mi, vi
subf w, w, mi

# GELU pass 1: dt = min(x*x, 32), dn = P(dt).
.function nerv_orc_gelu_num
.dest 4 dn float
.dest 4 dt float
.source 4 x float
.const 4 c_tmax 0x42000000
.const 4 p0 0x483f4bf1
.const 4 p1 0x4679b6d8
.const 4 p2 0x4513734c
.const 4 p3 0x42a62813
.const 4 p4 0x40864545
.const 4 p5 0x3cd9f39e
.const 4 p6 0xb82257e2
.temp 4 t
.temp 4 a
mulf t, x, x
minf t, t, c_tmax
copyl dt, t
mulf a, t, p6
addf a, a, p5
mulf a, a, t
addf a, a, p4
mulf a, a, t
addf a, a, p3
mulf a, a, t
addf a, a, p2
mulf a, a, t
addf a, a, p1
mulf a, a, t
addf dn, a, p0

# GELU forward pass 2: y = x * clamp(1/2 + x * num / Q(t), 0, 1).
.function nerv_orc_gelu_fwd_final
.dest 4 y float
.source 4 x float
.source 4 num float
.source 4 t float
.const 4 q0 0x48efc13a
.const 4 q1 0x47ee144d
.const 4 q2 0x465a0878
.const 4 q3 0x446d0415
.const 4 q4 0x422121fa
.const 4 c_half 0x3f000000
.const 4 c_zero 0x00000000
.const 4 c_one 0x3f800000
.temp 4 a
addf a, t, q4
mulf a, a, t
addf a, a, q3
mulf a, a, t
addf a, a, q2
mulf a, a, t
addf a, a, q1
mulf a, a, t
addf a, a, q0
divf a, num, a
mulf a, a, x
addf a, a, c_half
maxf a, a, c_zero
minf a, a, c_one
mulf y, a, x

# GELU backward pass 2: cdf = clamp(1/2 + x * num / Q(t), 0, 1).
.function nerv_orc_gelu_cdf
.dest 4 cdf float
.source 4 x float
.source 4 num float
.source 4 t float
.const 4 q0 0x48efc13a
.const 4 q1 0x47ee144d
.const 4 q2 0x465a0878
.const 4 q3 0x446d0415
.const 4 q4 0x422121fa
.const 4 c_half 0x3f000000
.const 4 c_zero 0x00000000
.const 4 c_one 0x3f800000
.temp 4 a
addf a, t, q4
mulf a, a, t
addf a, a, q3
mulf a, a, t
addf a, a, q2
mulf a, a, t
addf a, a, q1
mulf a, a, t
addf a, a, q0
divf a, num, a
mulf a, a, x
addf a, a, c_half
maxf a, a, c_zero
minf cdf, a, c_one

# GELU backward pass 3: range reduction for exp(-x*x/2).
# dr = r, ds = 2^n as float (0 where -x*x/2 <= -87).
.function nerv_orc_gelu_exp_reduce
.dest 4 dr float
.dest 4 ds float
.source 4 x float
.const 4 c_mhalf 0xbf000000
.const 4 c_ylo 0xc2ae0000
.const 4 c_log2e 0x3fb8aa3b
.const 4 c_magic 0x4b400000
.const 4 c_bias 0x4b3fff81
.const 4 c_ln2hi 0x3f318000
.const 4 c_ln2lo 0xb95e8083
.temp 4 y
.temp 4 k
.temp 4 nf
.temp 4 mask
mulf y, x, x
mulf y, y, c_mhalf
cmpltf mask, c_ylo, y
maxf y, y, c_ylo
mulf k, y, c_log2e
addf k, k, c_magic
subf nf, k, c_magic
subl k, k, c_bias
shll k, k, 23
andl ds, k, mask
mulf k, nf, c_ln2hi
subf y, y, k
mulf k, nf, c_ln2lo
subf dr, y, k

# GELU backward pass 4: dx = dy * (cdf + x * E(r) * s), where
# E(r) ~= e^r / sqrt(2 pi). Its first two coefficients round to the same
# float; orcc merges equal constants, so e0 serves for both.
.function nerv_orc_gelu_bwd_final
.dest 4 dx float
.source 4 dy float
.source 4 x float
.source 4 cdf float
.source 4 r float
.source 4 s float
.const 4 e0 0x3ecc422a
.const 4 e2 0x3e4c4227
.const 4 e3 0x3d882b93
.const 4 e4 0x3c882d77
.const 4 e5 0x3b5afb4f
.const 4 e6 0x3a10b205
.temp 4 a
mulf a, r, e6
addf a, a, e5
mulf a, a, r
addf a, a, e4
mulf a, a, r
addf a, a, e3
mulf a, a, r
addf a, a, e2
mulf a, a, r
addf a, a, e0
mulf a, a, r
addf a, a, e0
mulf a, a, s
mulf a, a, x
addf a, a, cdf
mulf dx, dy, a
