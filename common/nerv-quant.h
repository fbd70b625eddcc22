/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Quantisation of weights and embeddings. Every row (a weight tensor's
 * output channel, or a whole bias vector, or a frame's embedding) has a
 * step 2^(e/8) with an integer exponent e; values become round(x / step).
 * Steps are computed from e exactly (a table of 2^(i/8) and ldexp), so
 * encoder and decoder agree on every machine.
 */
#ifndef NERV_QUANT_H
#define NERV_QUANT_H

#include "nerv-model.h"

G_BEGIN_DECLS

#define NERV_MAX_TENSORS (2 * NERV_MAX_LAYERS)   /* weights and biases */
#define NERV_QUANT_EXP_MIN (-400)
#define NERV_QUANT_EXP_MAX (200)

typedef struct {
  size_t offset;                /* into the parameter buffer */
  int rows, row_len;            /* bias: 1 row of cout values */
  gboolean is_bias;
} NervTensorInfo;

/* The model's parameter tensors in layer order (from the layer table):
 * each layer's weights [cout][fan_in], then its biases. Returns the count. */
int nerv_model_tensors (const NervModelConfig * cfg, NervTensorInfo * t);

typedef struct {
  int n_tensors;
  NervTensorInfo t[NERV_MAX_TENSORS];
  int n_rows;
  int *row_exp;                 /* [n_rows] step exponents */
  int weight_bits;
} NervQuant;

NervQuant *nerv_quant_new (const NervModelConfig * cfg, int weight_bits);
void nerv_quant_free (NervQuant * q);

/* 2^(e/8), exactly the same everywhere */
double nerv_quant_step (int e);
/* Smallest exponent whose step brings max|x| within qmax. */
int nerv_quant_choose_exp (const float *x, size_t n, int qmax);

/* Steps for every row from the current weights (key groups). Biases get
 * 8 more bits than weights. */
void nerv_quant_choose_steps (NervQuant * q, const float *params);
/* ints = round(params / step), clamped to +-limit (limit 0: the bits'
 * range for weights, which key groups use; residual groups pass a wider
 * one). */
void nerv_quant_apply (const NervQuant * q, const float *params, gint32 * ints,
    gint32 limit);
void nerv_quant_dequant (const NervQuant * q, const gint32 * ints,
    float *params);
/* Residual groups: where params moved by less than deadzone steps from
 * prev_ints, ints keeps prev_ints (no residual is coded). 0.5 or less:
 * plain rounding, nothing changes. */
void nerv_quant_keep_small_changes (const NervQuant * q, const float *params,
    const gint32 * prev_ints, gint32 * ints, float deadzone);
/* params = dequant(quant(params)) with the current steps (training with
 * quantised weights: the straight-through estimator). */
void nerv_quant_fake (const NervQuant * q, float *params);

/* One vector (an embedding): exponent chosen for bits, then values. */
int nerv_quant_vector (const float *x, size_t n, int bits, gint32 * ints);
void nerv_dequant_vector (const gint32 * ints, size_t n, int e, float *x);
void nerv_fake_quant_vector (float *x, size_t n, int bits);

G_END_DECLS
#endif
