# gst-nerv: ORC programs for the GEMM core (C += A*B, B rows contiguous).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Register-blocked rank updates: each call updates up to 2 rows of C from
# up to 4 rows of B, with the A values as parameters, so every loaded B
# lane feeds 8 multiply-adds. ORC 0.4.33 has no FMA: mulf + addf.

.function nerv_orc_gemm_2x4
.dest 4 c0 float
.dest 4 c1 float
.source 4 b0 float
.source 4 b1 float
.source 4 b2 float
.source 4 b3 float
.floatparam 4 a00
.floatparam 4 a01
.floatparam 4 a02
.floatparam 4 a03
.floatparam 4 a10
.floatparam 4 a11
.floatparam 4 a12
.floatparam 4 a13
.temp 4 t
.temp 4 s0
.temp 4 s1
mulf s0, b0, a00
mulf s1, b0, a10
mulf t, b1, a01
addf s0, s0, t
mulf t, b1, a11
addf s1, s1, t
mulf t, b2, a02
addf s0, s0, t
mulf t, b2, a12
addf s1, s1, t
mulf t, b3, a03
addf s0, s0, t
mulf t, b3, a13
addf s1, s1, t
addf c0, c0, s0
addf c1, c1, s1

.function nerv_orc_gemm_1x4
.dest 4 c0 float
.source 4 b0 float
.source 4 b1 float
.source 4 b2 float
.source 4 b3 float
.floatparam 4 a0
.floatparam 4 a1
.floatparam 4 a2
.floatparam 4 a3
.temp 4 t
.temp 4 s0
mulf s0, b0, a0
mulf t, b1, a1
addf s0, s0, t
mulf t, b2, a2
addf s0, s0, t
mulf t, b3, a3
addf s0, s0, t
addf c0, c0, s0

.function nerv_orc_gemm_2x1
.dest 4 c0 float
.dest 4 c1 float
.source 4 b0 float
.floatparam 4 a0
.floatparam 4 a1
.temp 4 t
mulf t, b0, a0
addf c0, c0, t
mulf t, b0, a1
addf c1, c1, t

.function nerv_orc_gemm_1x1
.dest 4 c0 float
.source 4 b0 float
.floatparam 4 a0
.temp 4 t
mulf t, b0, a0
addf c0, c0, t
