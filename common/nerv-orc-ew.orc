# gst-nerv: element-wise ORC programs (activations, optimiser, pixels).
# SPDX-License-Identifier: LGPL-2.1-or-later

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
