/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Layers with forward and backward passes. Float32, one image (NCHW with
 * N = 1), buffers from nerv_alloc_floats(). Backward passes *accumulate*
 * parameter gradients (so a batch is a sum over frames) and *write* input
 * gradients. Work is split over a NervPool; results do not depend on the
 * number of threads (reductions go through a fixed number of slots).
 */
#ifndef NERV_LAYERS_H
#define NERV_LAYERS_H

#include "nerv-common.h"
#include "nerv-dsp.h"
#include "nerv-pool.h"

G_BEGIN_DECLS

#define NERV_REDUCE_SLOTS 8

/* Scratch memory shared by the layers of one network: per-thread im2col
 * tiles and the gradient reduction slots. */
typedef struct {
  NervPool *pool;
  const NervDsp *dsp;
  int n_threads;
  size_t col_size;              /* floats per thread */
  float **col;                  /* [n_threads] */
  size_t slot_size;             /* floats per slot */
  float *slots;                 /* [NERV_REDUCE_SLOTS][slot_size] */
  float *wtmp;                  /* flipped weights for the input gradient */
  size_t wtmp_size;
  float *pad;                   /* padded planes of the thin 3x3 layers */
  size_t pad_size;
} NervScratch;

NervScratch *nerv_scratch_new (NervPool * pool, const NervDsp * dsp);
void nerv_scratch_free (NervScratch * s);
/* Make sure the scratch fits a conv of these dimensions. */
void nerv_scratch_reserve_conv (NervScratch * s, int cin, int cout, int k,
    int height, int width);

/* 2-D convolution, stride 1, same padding (k odd), weights [cout][cin][k][k]. */
typedef struct {
  int cin, cout, k;
} NervConvShape;

/* y[cout][h][w] = conv(x[cin][h][w], w) + b */
void nerv_conv2d_forward (NervScratch * s, const NervConvShape * c,
    const float *x, int h, int w, const float *weight, const float *bias,
    float *y);
/* gw, gb += gradients; dx = input gradient (skipped when NULL). */
void nerv_conv2d_backward (NervScratch * s, const NervConvShape * c,
    const float *x, int h, int w, const float *weight, const float *dy,
    float *gw, float *gb, float *dx);

/* Pixel shuffle by r then GELU: z[c*r*r][h][w] -> pre[c][h*r][w*r] (the
 * shuffled values, kept for backward) and y = gelu(pre). */
void nerv_shuffle_gelu_forward (NervScratch * s, const float *z, int c,
    int h, int w, int r, float *pre, float *y);
/* dy (gradient at y) -> dz (gradient at z), using pre. */
void nerv_shuffle_gelu_backward (NervScratch * s, const float *pre,
    const float *dy, int c, int h, int w, int r, float *dz);

/* Plain pixel shuffle and its inverse (for tests and models without GELU). */
void nerv_pixel_shuffle (const float *z, int c, int h, int w, int r, float *y);
void nerv_pixel_unshuffle (const float *y, int c, int h, int w, int r, float *z);

/* In-place GELU helpers over n values (threaded). */
void nerv_gelu_forward (NervScratch * s, const float *x, float *y, size_t n);
void nerv_gelu_backward (NervScratch * s, const float *x, const float *dy,
    float *dx, size_t n);

/* Output head activation: y = tanh(x)/2 + 1/2; backward uses y. */
void nerv_head_act_forward (const float *x, float *y, size_t n);
void nerv_head_act_backward (const float *y, const float *dy, float *dx,
    size_t n);

/* Linear layer: y[out] = W[out][in] x[in] + b. */
void nerv_linear_forward (const NervDsp * dsp, int in, int out,
    const float *x, const float *weight, const float *bias, float *y);
void nerv_linear_backward (const NervDsp * dsp, int in, int out,
    const float *x, const float *weight, const float *dy, float *gw,
    float *gb, float *dx);

/* NeRV positional encoding of t: out[2l] = sin(1.25^l pi t),
 * out[2l+1] = cos(1.25^l pi t), l < levels. */
void nerv_positional_encoding (float t, int levels, float *out);

G_END_DECLS
#endif
