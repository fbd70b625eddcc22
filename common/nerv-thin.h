/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Thin layers: 1x1 ("pointwise") and 3x3 convolutions of a few channels
 * over many pixels, as the latent model's synthesis and ARM have them.
 * The GEMM path of nerv-layers.h spends its time packing and transposing
 * at these shapes; these run the kernels of nerv-thin-kernels.c directly
 * over ranges of pixels. Weight gradients are summed over a fixed number
 * of slots in a fixed order, so results do not depend on the threads.
 */
#ifndef NERV_THIN_H
#define NERV_THIN_H

#include "nerv-layers.h"

G_BEGIN_DECLS

#define NERV_THIN_MAX_C 64       /* channels of a 3x3 thin layer */

/* y[co][i] = b[co] + sum_ci w[co][ci] x[ci][i] for i < n; rows of x and y
 * are ldx and ldy floats apart; b may be NULL. */
void nerv_thin_pw_forward (NervScratch * s, int cin, int cout, size_t n,
    const float *w, const float *b, const float *x, ptrdiff_t ldx, float *y,
    ptrdiff_t ldy);
/* gw [cout][cin], gb [cout] += the gradients from dy (skipped when gw is
 * NULL); dx = w^T dy (skipped when NULL). */
void nerv_thin_pw_backward (NervScratch * s, int cin, int cout, size_t n,
    const float *w, const float *x, ptrdiff_t ldx, const float *dy,
    ptrdiff_t lddy, float *gw, float *gb, float *dx, ptrdiff_t lddx);

/* 3x3 convolution, stride 1, zero padding, on [c][h][w] planes;
 * w [cout][cin][3][3]. */
void nerv_thin_c3_forward (NervScratch * s, int cin, int cout, int h, int w,
    const float *wt, const float *b, const float *x, float *y);
/* gw, gb: as nerv_thin_pw_backward's */
void nerv_thin_c3_backward (NervScratch * s, int cin, int cout, int h, int w,
    const float *wt, const float *x, const float *dy, float *gw, float *gb,
    float *dx);

G_END_DECLS
#endif
