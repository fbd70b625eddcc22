/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-quant.h"

#include <math.h>
#include <string.h>

int
nerv_model_tensors (const NervModelConfig * cfg, NervTensorInfo * t)
{
  NervLayerTable layers;
  int n = 0;

  nerv_model_layers (cfg, &layers);
  for (int i = 0; i < layers.n_layers; i++) {
    const NervLayerDesc *l = &layers.layer[i];
    if (l->n_w) {
      t[n].offset = l->w_off;
      t[n].rows = l->cout;
      t[n].row_len = l->fan_in;
      t[n].is_bias = FALSE;
      n++;
    }
    if (l->n_b) {
      t[n].offset = l->b_off;
      t[n].rows = 1;
      t[n].row_len = l->cout;
      t[n].is_bias = TRUE;
      n++;
    }
  }
  return n;
}

NervQuant *
nerv_quant_new (const NervModelConfig * cfg, int weight_bits)
{
  NervQuant *q = g_new0 (NervQuant, 1);
  q->n_tensors = nerv_model_tensors (cfg, q->t);
  for (int i = 0; i < q->n_tensors; i++)
    q->n_rows += q->t[i].rows;
  q->row_exp = g_new0 (int, q->n_rows);
  q->weight_bits = weight_bits;
  return q;
}

void
nerv_quant_free (NervQuant * q)
{
  if (!q)
    return;
  g_free (q->row_exp);
  g_free (q);
}

double
nerv_quant_step (int e)
{
  /* 2^(i/8), i = 0..7, correctly rounded doubles */
  static const double frac[8] = {
    1.0, 1.0905077326652577, 1.1892071150027210, 1.2968395546510096,
    1.4142135623730951, 1.5422108254079407, 1.6817928305074290,
    1.8340080864093424
  };
  const int q = e >= 0 ? e / 8 : -((-e + 7) / 8);
  return ldexp (frac[e - 8 * q], q);
}

int
nerv_quant_choose_exp (const float *x, size_t n, int qmax)
{
  float m = 0;
  int e;

  for (size_t i = 0; i < n; i++)
    m = MAX (m, fabsf (x[i]));
  if (!(m > 0))
    return NERV_QUANT_EXP_MIN;
  e = (int) ceil (8.0 * log2 (m / qmax));
  e = CLAMP (e, NERV_QUANT_EXP_MIN, NERV_QUANT_EXP_MAX);
  /* the smallest exponent that keeps max|x| below qmax + 1/2 steps (so
   * it rounds to at most qmax), whatever log2's rounding did */
  while (e < NERV_QUANT_EXP_MAX && m / nerv_quant_step (e) > qmax + 0.5)
    e++;
  while (e > NERV_QUANT_EXP_MIN && m / nerv_quant_step (e - 1) < qmax + 0.5)
    e--;
  return e;
}

static int
row_qmax (const NervQuant * q, const NervTensorInfo * t)
{
  const int bits = MIN (q->weight_bits + (t->is_bias ? 8 : 0), 24);
  return (1 << (bits - 1)) - 1;
}

void
nerv_quant_choose_steps (NervQuant * q, const float *params)
{
  int r = 0;
  for (int i = 0; i < q->n_tensors; i++) {
    const NervTensorInfo *t = &q->t[i];
    const int qmax = row_qmax (q, t);
    for (int row = 0; row < t->rows; row++, r++)
      q->row_exp[r] = nerv_quant_choose_exp (params + t->offset +
          (size_t) row * t->row_len, t->row_len, qmax);
  }
}

void
nerv_quant_apply (const NervQuant * q, const float *params, gint32 * ints,
    gint32 limit)
{
  int r = 0;
  for (int i = 0; i < q->n_tensors; i++) {
    const NervTensorInfo *t = &q->t[i];
    const gint32 lim = limit > 0 ? limit : row_qmax (q, t);
    for (int row = 0; row < t->rows; row++, r++) {
      const double inv = 1.0 / nerv_quant_step (q->row_exp[r]);
      const size_t base = t->offset + (size_t) row * t->row_len;
      for (int k = 0; k < t->row_len; k++) {
        double v = nearbyint (params[base + k] * inv);
        ints[base + k] = (gint32) CLAMP (v, -lim, lim);
      }
    }
  }
}

void
nerv_quant_dequant (const NervQuant * q, const gint32 * ints, float *params)
{
  int r = 0;
  for (int i = 0; i < q->n_tensors; i++) {
    const NervTensorInfo *t = &q->t[i];
    for (int row = 0; row < t->rows; row++, r++) {
      const double step = nerv_quant_step (q->row_exp[r]);
      const size_t base = t->offset + (size_t) row * t->row_len;
      for (int k = 0; k < t->row_len; k++)
        params[base + k] = (float) (ints[base + k] * step);
    }
  }
}

void
nerv_quant_keep_small_changes (const NervQuant * q, const float *params,
    const gint32 * prev_ints, gint32 * ints, float deadzone)
{
  int r = 0;
  if (deadzone <= 0.5f)
    return;
  for (int i = 0; i < q->n_tensors; i++) {
    const NervTensorInfo *t = &q->t[i];
    for (int row = 0; row < t->rows; row++, r++) {
      const double inv = 1.0 / nerv_quant_step (q->row_exp[r]);
      const size_t base = t->offset + (size_t) row * t->row_len;
      for (int k = 0; k < t->row_len; k++) {
        const double d = params[base + k] * inv - prev_ints[base + k];
        if (fabs (d) < deadzone)
          ints[base + k] = prev_ints[base + k];
      }
    }
  }
}

void
nerv_quant_fake (const NervQuant * q, float *params)
{
  int r = 0;
  for (int i = 0; i < q->n_tensors; i++) {
    const NervTensorInfo *t = &q->t[i];
    const int lim = row_qmax (q, t);
    for (int row = 0; row < t->rows; row++, r++) {
      const double step = nerv_quant_step (q->row_exp[r]);
      float *p = params + t->offset + (size_t) row * t->row_len;
      for (int k = 0; k < t->row_len; k++) {
        const double v = CLAMP (nearbyint (p[k] / step), -lim, lim);
        p[k] = (float) (v * step);
      }
    }
  }
}

int
nerv_quant_vector (const float *x, size_t n, int bits, gint32 * ints)
{
  const int qmax = (1 << (bits - 1)) - 1;
  const int e = nerv_quant_choose_exp (x, n, qmax);
  const double inv = 1.0 / nerv_quant_step (e);
  for (size_t i = 0; i < n; i++)
    ints[i] = (gint32) CLAMP (nearbyint (x[i] * inv), -qmax, qmax);
  return e;
}

void
nerv_dequant_vector (const gint32 * ints, size_t n, int e, float *x)
{
  const double step = nerv_quant_step (e);
  for (size_t i = 0; i < n; i++)
    x[i] = (float) (ints[i] * step);
}

void
nerv_fake_quant_vector (float *x, size_t n, int bits)
{
  gint32 *tmp = g_new (gint32, MAX (n, 1));
  const int e = nerv_quant_vector (x, n, bits, tmp);
  nerv_dequant_vector (tmp, n, e, x);
  g_free (tmp);
}
