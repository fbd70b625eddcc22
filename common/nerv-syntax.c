/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Normative format code: the group packet's payload (docs/bitstream.md).
 */
#include "nerv-syntax.h"
#include "nerv-grid.h"

#include <math.h>
#include <string.h>

/* ---- embeddings ------------------------------------------------------- */

static inline gint32
embed_qmax (int bits)
{
  return (1 << (bits - 1)) - 1;
}

/* frame f's integers predicted from frame f - 1's, rescaled to f's step
 * (steps are exact doubles; a product and a quotient of them round the
 * same on every IEEE machine) */
static inline gint32
embed_predict (gint32 prev, int e_prev, int e, gint32 qmax)
{
  double p;
  if (e == e_prev)
    return prev;
  p = nearbyint (prev * nerv_quant_step (e_prev) / nerv_quant_step (e));
  return (gint32) CLAMP (p, -qmax, qmax);
}

/* the prediction of value i of frame f */
static inline gint32
embed_pred (const gint32 * q, const int *exps, int f, size_t esize, size_t i,
    guint mode, gint32 qmax)
{
  if (!mode || !f)
    return 0;
  return embed_predict (q[esize * (f - 1) + i], exps[f - 1], exps[f], qmax);
}

void
nerv_embed_write (NervRangeEncoder * rc, const gint32 * q, const int *exps,
    int n, size_t esize, int bits, guint mode)
{
  const gint32 qmax = embed_qmax (bits);
  NervIntModel *m = g_new (NervIntModel, 2);

  nerv_range_encode_direct (rc, mode, 1);
  nerv_int_model_init (&m[0]);
  nerv_int_model_init (&m[1]);
  for (int f = 0; f < n; f++)
    nerv_int_model_encode (&m[0], rc, exps[f] - (f ? exps[f - 1] : 0));
  for (int f = 0; f < n; f++)
    for (size_t i = 0; i < esize; i++)
      nerv_int_model_encode (&m[1], rc, q[esize * f + i] -
          embed_pred (q, exps, f, esize, i, mode, qmax));
  g_free (m);
}

gboolean
nerv_embed_read (NervRangeDecoder * rc, gint32 * q, int *exps, int n,
    size_t esize, int bits, guint * mode)
{
  const gint32 qmax = embed_qmax (bits);
  NervIntModel *m = g_new (NervIntModel, 2);
  gboolean ok;

  *mode = nerv_range_decode_direct (rc, 1);
  ok = nerv_range_decoder_ok (rc);
  nerv_int_model_init (&m[0]);
  nerv_int_model_init (&m[1]);
  for (int f = 0; ok && f < n; f++) {
    gint32 d;
    gint64 e;
    ok = nerv_int_model_decode (&m[0], rc, &d);
    e = (gint64) d + (f ? exps[f - 1] : 0);
    if (e < NERV_QUANT_EXP_MIN || e > NERV_QUANT_EXP_MAX)
      ok = FALSE;
    else
      exps[f] = (int) e;
  }
  for (int f = 0; ok && f < n; f++) {
    for (size_t i = 0; ok && i < esize; i++) {
      gint32 r;
      gint64 x;
      ok = nerv_int_model_decode (&m[1], rc, &r);
      x = (gint64) embed_pred (q, exps, f, esize, i, *mode, qmax) + r;
      if (x < -qmax || x > qmax)
        ok = FALSE;
      else
        q[esize * f + i] = (gint32) x;
    }
  }
  g_free (m);
  return ok && nerv_range_decoder_ok (rc);
}

guint
nerv_embed_choose_mode (const gint32 * q, const int *exps, int n,
    size_t esize, int bits)
{
  size_t size[2];

  /* a trial of each (cheap beside training) */
  for (guint mode = 0; mode < 2; mode++) {
    GByteArray *a = g_byte_array_new ();
    NervRangeEncoder t;
    nerv_range_encoder_init (&t, a);
    nerv_embed_write (&t, q, exps, n, esize, bits, mode);
    size[mode] = nerv_range_encoder_finish (&t);
    g_byte_array_free (a, TRUE);
  }
  return size[1] < size[0];
}

/* ---- the group payload ------------------------------------------------ */

gboolean
nerv_group_payload_init (NervGroupPayload * p, const NervModelConfig * cfg,
    int group_size, int embed_bits)
{
  nerv_group_payload_clear (p);
  if (group_size < 1 || !nerv_group_embed_fits (cfg, group_size))
    return FALSE;
  p->n_tensors = nerv_model_tensors (cfg, p->t);
  for (int i = 0; i < p->n_tensors; i++)
    p->n_rows += p->t[i].rows;
  p->n_params = nerv_model_config_n_params (cfg);
  p->embed_size = nerv_model_config_embed_size (cfg);
  p->embed_bits = embed_bits;
  p->max_frames = group_size;
  if (cfg->kind == NERV_MODEL_GRID) {
    /* the ARM's three layers: weights and biases, six tensors */
    NervLayerTable lt;
    nerv_model_layers (cfg, &lt);
    p->arm_params = lt.layer[3].w_off;
    for (int i = 0; i < p->n_tensors && p->t[i].offset < p->arm_params; i++)
      p->arm_rows += p->t[i].rows;
  }
  /* sized by the stream header: not zeroed, pages are touched when used */
  p->row_exp = g_try_new (int, p->n_rows);
  p->ints = g_try_new (gint32, p->n_params);
  p->embed_exp = g_try_new (int, group_size);
  p->embed_ints = g_try_new (gint32, MAX (p->embed_size * group_size, 1));
  if (!p->row_exp || !p->ints || !p->embed_exp || !p->embed_ints) {
    nerv_group_payload_clear (p);
    return FALSE;
  }
  return TRUE;
}

void
nerv_group_payload_clear (NervGroupPayload * p)
{
  g_free (p->row_exp);
  g_free (p->ints);
  g_free (p->embed_exp);
  g_free (p->embed_ints);
  memset (p, 0, sizeof (*p));
}

size_t
nerv_group_payload_write (const NervGroupPayload * p, GByteArray * out)
{
  const NervGroupHeader *g = &p->header;
  const guint start = out->len;
  NervRangeEncoder rc;
  size_t wbytes;

  nerv_group_header_write (g, out);
  nerv_range_encoder_init (&rc, out);
  if (g->key) {
    /* the exponents: the first as it is, then differences */
    gint32 *d = g_new (gint32, p->n_rows);
    for (int r = 0; r < p->n_rows; r++)
      d[r] = p->row_exp[r] - (r ? p->row_exp[r - 1] : 0);
    nerv_entropy_encode_ints_rc (&rc, d, p->n_rows);
    g_free (d);
  }
  for (int t = 0; t < p->n_tensors; t++)
    nerv_entropy_encode_ints_rc (&rc, p->ints + p->t[t].offset,
        (size_t) p->t[t].rows * p->t[t].row_len);
  wbytes = out->len - start + (size_t) rc.cache_size;
  if (p->embed_size)
    nerv_embed_write (&rc, p->embed_ints, p->embed_exp, g->n_frames,
        p->embed_size, p->embed_bits, p->embed_mode);
  nerv_range_encoder_finish (&rc);
  return MIN (wbytes, out->len - start);
}

NervStatus
nerv_group_payload_read_header (NervGroupPayload * p, const guint8 * data,
    size_t size)
{
  const NervStatus st = nerv_group_header_parse (data, size, &p->header);
  if (st != NERV_OK)
    return st;
  return p->header.n_frames > p->max_frames ? NERV_ERR_INVALID : NERV_OK;
}

NervStatus
nerv_group_payload_read_body (NervGroupPayload * p)
{
  const NervGroupHeader *g = &p->header;
  NervRangeDecoder rc;
  gboolean ok = TRUE;

  nerv_range_decoder_init (&rc, g->body, g->body_size);
  p->exp_end = 0;
  if (g->key) {
    ok = nerv_entropy_decode_ints_rc (&rc, p->row_exp, p->n_rows);
    for (int r = 0; ok && r < p->n_rows; r++) {
      const gint64 e = (gint64) p->row_exp[r] + (r ? p->row_exp[r - 1] : 0);
      if (e < NERV_QUANT_EXP_MIN || e > NERV_QUANT_EXP_MAX)
        ok = FALSE;
      else
        p->row_exp[r] = (int) e;
    }
    p->exp_end = nerv_range_decoder_consumed (&rc);
  }
  for (int t = 0; ok && t < p->n_tensors; t++) {
    ok = nerv_entropy_decode_ints_rc (&rc, p->ints + p->t[t].offset,
        (size_t) p->t[t].rows * p->t[t].row_len);
    p->tensor_end[t] = nerv_range_decoder_consumed (&rc);
  }
  if (ok && p->embed_size)
    ok = nerv_embed_read (&rc, p->embed_ints, p->embed_exp, g->n_frames,
        p->embed_size, p->embed_bits, &p->embed_mode);
  /* the coder stream ends exactly at the end of the payload */
  if (!ok || !nerv_range_decoder_ok (&rc)
      || nerv_range_decoder_consumed (&rc) != g->body_size)
    return rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
  for (size_t i = 0; g->key && i < p->n_params; i++)
    if (p->ints[i] < -NERV_MAX_WEIGHT_INT || p->ints[i] > NERV_MAX_WEIGHT_INT)
      return NERV_ERR_INVALID;
  /* the ARM's rows on its fixed step, its integers in range */
  for (int r = 0; g->key && r < p->arm_rows; r++)
    if (p->row_exp[r] != NERV_ARM_WEIGHT_EXP)
      return NERV_ERR_INVALID;
  for (size_t i = 0; g->key && i < p->arm_params; i++)
    if (p->ints[i] < -NERV_ARM_MAX_WEIGHT || p->ints[i] > NERV_ARM_MAX_WEIGHT)
      return NERV_ERR_INVALID;
  return NERV_OK;
}

NervStatus
nerv_group_payload_read (NervGroupPayload * p, const guint8 * data,
    size_t size)
{
  const NervStatus st = nerv_group_payload_read_header (p, data, size);
  return st != NERV_OK ? st : nerv_group_payload_read_body (p);
}
