/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-model.h"

#include <libavutil/lfg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- configuration ---------------------------------------------------- */

void
nerv_shape_rules_for_budget (NervShapeRules * r, size_t budget)
{
  memset (r, 0, sizeof (*r));
  r->n_stages = 5;
  r->pe_levels = 40;
  if (budget >= 100000) {
    r->max_kernel = 5;
    r->min_width = 12;
    r->embed_c = 16;
    r->mlp_hidden = 256;
  } else if (budget >= 12000) {
    r->max_kernel = 3;
    r->min_width = 8;
    r->embed_c = 8;
    r->mlp_hidden = 64;
  } else {
    r->max_kernel = 3;
    r->min_width = 4;
    r->embed_c = 4;
    r->mlp_hidden = 32;
  }
}

void
nerv_choose_strides (int width, int height, int n_stages, int *strides)
{
  static const int firsts[] = { 5, 4, 3, 2 };
  gint64 best_area = G_MAXINT64;
  int best_first = 2, best_prod = 0;

  for (guint f = 0; f < G_N_ELEMENTS (firsts); f++) {
    const int prod = firsts[f] << (n_stages - 1);
    const gint64 area = (gint64) nerv_ceil_div (width, prod) * prod *
        nerv_ceil_div (height, prod) * prod;
    if (area < best_area || (area == best_area && prod > best_prod)) {
      best_area = area;
      best_first = firsts[f];
      best_prod = prod;
    }
  }
  strides[0] = best_first;
  for (int i = 1; i < n_stages; i++)
    strides[i] = 2;
}

gboolean
nerv_model_config_init (NervModelConfig * cfg, NervModelKind kind, int width,
    int height, int out_channels, int fc_dim, const NervShapeRules * rules,
    const int *strides, GError ** error)
{
  int prod = 1, c;

  memset (cfg, 0, sizeof (*cfg));
  if (rules->n_stages < 1 || rules->n_stages > NERV_MAX_STAGES) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
        "number of stages %d not in 1..%d", rules->n_stages, NERV_MAX_STAGES);
    return FALSE;
  }
  cfg->kind = kind;
  cfg->width = width;
  cfg->height = height;
  cfg->out_channels = out_channels;
  cfg->embed_c = rules->embed_c;
  cfg->fc_dim = fc_dim;
  cfg->n_stages = rules->n_stages;
  cfg->head_kernel = 3;
  cfg->pe_levels = rules->pe_levels;
  cfg->mlp_hidden = rules->mlp_hidden;
  if (strides)
    memcpy (cfg->strides, strides, sizeof (int) * rules->n_stages);
  else
    nerv_choose_strides (width, height, rules->n_stages, cfg->strides);
  c = fc_dim;
  for (int i = 0; i < cfg->n_stages; i++) {
    prod *= MAX (cfg->strides[i], 1);
    cfg->kernels[i] = MIN (1 + 2 * i, rules->max_kernel);
    c = MAX ((int) nearbyint (c / 1.2), rules->min_width);
    cfg->channels[i] = c;
  }
  cfg->embed_h = nerv_ceil_div (height, prod);
  cfg->embed_w = nerv_ceil_div (width, prod);
  return nerv_model_config_validate (cfg, error);
}

gboolean
nerv_model_config_for_budget (NervModelConfig * cfg, NervModelKind kind,
    int width, int height, int out_channels, size_t budget, GError ** error)
{
  NervShapeRules rules;
  NervModelConfig trial;
  int best = 0;

  nerv_shape_rules_for_budget (&rules, budget);
  for (int fc = 4; fc <= 1024; fc++) {
    if (!nerv_model_config_init (&trial, kind, width, height, out_channels,
            fc, &rules, NULL, error))
      return FALSE;
    if (nerv_model_config_n_params (&trial) > budget)
      break;
    best = fc;
  }
  if (!best) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
        "a budget of %zu parameters is too small for a %dx%d frame",
        budget, width, height);
    return FALSE;
  }
  return nerv_model_config_init (cfg, kind, width, height, out_channels, best,
      &rules, NULL, error);
}

void
nerv_model_config_anchor (NervModelConfig * cfg)
{
  static const int strides[] = { 5, 2, 2, 2, 2 };
  NervShapeRules rules;

  nerv_shape_rules_for_budget (&rules, 480000);
  nerv_model_config_init (cfg, NERV_MODEL_HNERV, 320, 160, 3, 61, &rules,
      strides, NULL);
}

gboolean
nerv_model_config_validate (const NervModelConfig * cfg, GError ** error)
{
#define CHECK(cond, ...) G_STMT_START { if (!(cond)) { \
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID, __VA_ARGS__); \
    return FALSE; } } G_STMT_END
  gint64 size_h, size_w;

  CHECK (cfg->kind == NERV_MODEL_HNERV || cfg->kind == NERV_MODEL_NERV,
      "unknown model kind %d", cfg->kind);
  CHECK (cfg->width >= 1 && cfg->width <= NERV_MAX_DIM && cfg->height >= 1
      && cfg->height <= NERV_MAX_DIM, "frame size %dx%d not within 1..%d",
      cfg->width, cfg->height, NERV_MAX_DIM);
  CHECK (cfg->out_channels == 1 || cfg->out_channels == 3,
      "%d output channels (1 or 3)", cfg->out_channels);
  CHECK (cfg->n_stages >= 1 && cfg->n_stages <= NERV_MAX_STAGES,
      "%d stages (1..%d)", cfg->n_stages, NERV_MAX_STAGES);
  CHECK (cfg->fc_dim >= 1 && cfg->fc_dim <= NERV_MAX_CHANNELS,
      "fc_dim %d not within 1..%d", cfg->fc_dim, NERV_MAX_CHANNELS);
  CHECK (cfg->head_kernel >= 1 && cfg->head_kernel <= 7 && cfg->head_kernel % 2,
      "head kernel %d (odd, 1..7)", cfg->head_kernel);
  if (cfg->kind == NERV_MODEL_HNERV)
    CHECK (cfg->embed_c >= 1 && cfg->embed_c <= 256,
        "embedding channels %d (1..256)", cfg->embed_c);
  else
    CHECK (cfg->pe_levels >= 1 && cfg->pe_levels <= 64 && cfg->mlp_hidden >= 1
        && cfg->mlp_hidden <= NERV_MAX_CHANNELS, "NeRV MLP settings out of range");
  CHECK (cfg->embed_h >= 1 && cfg->embed_w >= 1 && cfg->embed_h <= 256
      && cfg->embed_w <= 256, "embedding grid %dx%d (1..256)",
      cfg->embed_w, cfg->embed_h);
  size_h = cfg->embed_h;
  size_w = cfg->embed_w;
  for (int i = 0; i < cfg->n_stages; i++) {
    CHECK (cfg->strides[i] >= 1 && cfg->strides[i] <= 5,
        "stride %d of stage %d (1..5)", cfg->strides[i], i);
    CHECK (cfg->kernels[i] >= 1 && cfg->kernels[i] <= 7 && cfg->kernels[i] % 2,
        "kernel %d of stage %d (odd, 1..7)", cfg->kernels[i], i);
    CHECK (cfg->channels[i] >= 1 && (gint64) cfg->channels[i] *
        cfg->strides[i] * cfg->strides[i] <= NERV_MAX_CHANNELS,
        "channels %d of stage %d (1..%d after shuffle)", cfg->channels[i], i,
        NERV_MAX_CHANNELS);
    size_h *= cfg->strides[i];
    size_w *= cfg->strides[i];
  }
  {
    /* memory: parameters and the activations kept for backward */
    gint64 acts = 0, hh = cfg->embed_h, ww = cfg->embed_w;
    for (int i = 0; i < cfg->n_stages; i++) {
      acts += 3 * (gint64) cfg->channels[i] * cfg->strides[i] * cfg->strides[i] * hh * ww;
      hh *= cfg->strides[i];
      ww *= cfg->strides[i];
    }
    CHECK (acts <= NERV_MAX_ACTIVATIONS, "the network would need %" G_GINT64_FORMAT
        " MiB of activations (limit %d MiB)", acts * 4 >> 20,
        (int) ((gint64) NERV_MAX_ACTIVATIONS * 4 >> 20));
    CHECK (nerv_model_config_n_params (cfg) <= NERV_MAX_PARAMS,
        "%zu parameters (limit %d)", nerv_model_config_n_params (cfg),
        NERV_MAX_PARAMS);
  }
  CHECK (size_h >= cfg->height && size_w >= cfg->width
      && size_h <= NERV_MAX_DIM + 1024 && size_w <= NERV_MAX_DIM + 1024,
      "the stages give %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
      " for a %dx%d frame", size_w, size_h, cfg->width, cfg->height);
  return TRUE;
#undef CHECK
}

static size_t
conv_params (int cin, int cout, int k)
{
  return (size_t) cin * cout * k * k + cout;
}

static int
stage_cin (const NervModelConfig * cfg, int i)
{
  return i == 0 ? cfg->fc_dim : cfg->channels[i - 1];
}

size_t
nerv_model_config_n_params (const NervModelConfig * cfg)
{
  size_t n = 0;
  const int grid = cfg->embed_h * cfg->embed_w;

  if (cfg->kind == NERV_MODEL_HNERV)
    n += conv_params (cfg->embed_c, cfg->fc_dim, 1);
  else
    n += conv_params (2 * cfg->pe_levels, cfg->mlp_hidden, 1) +
        conv_params (cfg->mlp_hidden, cfg->fc_dim * grid, 1);
  for (int i = 0; i < cfg->n_stages; i++)
    n += conv_params (stage_cin (cfg, i),
        cfg->channels[i] * cfg->strides[i] * cfg->strides[i], cfg->kernels[i]);
  n += conv_params (cfg->channels[cfg->n_stages - 1], cfg->out_channels,
      cfg->head_kernel);
  return n;
}

size_t
nerv_model_config_embed_size (const NervModelConfig * cfg)
{
  if (cfg->kind != NERV_MODEL_HNERV)
    return 0;
  return (size_t) cfg->embed_c * cfg->embed_h * cfg->embed_w;
}

int
nerv_model_config_out_width (const NervModelConfig * cfg)
{
  int w = cfg->embed_w;
  for (int i = 0; i < cfg->n_stages; i++)
    w *= cfg->strides[i];
  return w;
}

int
nerv_model_config_out_height (const NervModelConfig * cfg)
{
  int h = cfg->embed_h;
  for (int i = 0; i < cfg->n_stages; i++)
    h *= cfg->strides[i];
  return h;
}

double
nerv_model_forward_flops (const NervModelConfig * cfg)
{
  double f = 0;
  int h = cfg->embed_h, w = cfg->embed_w;

  if (cfg->kind == NERV_MODEL_HNERV)
    f += 2.0 * cfg->embed_c * cfg->fc_dim * h * w;
  else
    f += 2.0 * cfg->mlp_hidden * (2 * cfg->pe_levels + (double) cfg->fc_dim * h * w);
  for (int i = 0; i < cfg->n_stages; i++) {
    const int s = cfg->strides[i], k = cfg->kernels[i];
    f += 2.0 * stage_cin (cfg, i) * cfg->channels[i] * s * s * k * k * h * w;
    h *= s;
    w *= s;
  }
  f += 2.0 * cfg->channels[cfg->n_stages - 1] * cfg->out_channels *
      cfg->head_kernel * cfg->head_kernel * h * w;
  return f;
}

static void
write_list (FILE * f, const char *key, const int *v, int n)
{
  fprintf (f, "%s=", key);
  for (int i = 0; i < n; i++)
    fprintf (f, "%s%d", i ? "," : "", v[i]);
  fprintf (f, "\n");
}

gboolean
nerv_model_config_write (const NervModelConfig * cfg, int frames, float lr,
    int steps, const char *path, GError ** error)
{
  FILE *f = fopen (path, "w");
  if (!f) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_IO, "cannot write %s", path);
    return FALSE;
  }
  fprintf (f, "width=%d\nheight=%d\nframes=%d\n",
      nerv_model_config_out_width (cfg), nerv_model_config_out_height (cfg),
      frames);
  fprintf (f, "embed_c=%d\nembed_h=%d\nembed_w=%d\nfc_dim=%d\nn_stages=%d\n",
      cfg->embed_c, cfg->embed_h, cfg->embed_w, cfg->fc_dim, cfg->n_stages);
  write_list (f, "strides", cfg->strides, cfg->n_stages);
  write_list (f, "kernels", cfg->kernels, cfg->n_stages);
  write_list (f, "channels", cfg->channels, cfg->n_stages);
  fprintf (f, "head_kernel=%d\nout_channels=%d\nlr=%g\nsteps=%d\n",
      cfg->head_kernel, cfg->out_channels, lr, steps);
  if (fclose (f) != 0) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_IO, "cannot write %s", path);
    return FALSE;
  }
  return TRUE;
}

/* ---- the network ------------------------------------------------------ */

typedef struct {
  NervConvShape shape;
  size_t w_off, b_off;          /* into params/grads */
  int h, w;                     /* input grid */
  int stride;                   /* pixel shuffle after it (1: none) */
  float *x;                     /* input (borrowed: previous layer's output) */
  float *z;                     /* conv output */
  float *pre;                   /* shuffled, before GELU */
  float *y;                     /* after GELU */
} Stage;

struct _NervModel {
  NervModelConfig cfg;
  NervScratch *scratch;
  float *params, *grads;
  size_t n_params;

  /* NeRV MLP */
  size_t fc1_w, fc1_b, fc2_w, fc2_b;
  float *pe, *h1, *a1, *h2;
  /* HNeRV stem (stage index -1 in spirit): 1x1 conv + GELU */
  Stage stem;
  Stage stages[NERV_MAX_STAGES];
  Stage head;                   /* z = logits, y = output */
  float *embed_copy;            /* the stem's input, kept for backward */
  float *dbuf[2];               /* gradient ping-pong buffers */
  size_t dbuf_size;
};

const NervModelConfig *
nerv_model_config (const NervModel * m)
{
  return &m->cfg;
}

static size_t
add_conv (NervModel * m, size_t off, Stage * st, int cin, int cout, int k)
{
  st->shape.cin = cin;
  st->shape.cout = cout;
  st->shape.k = k;
  st->w_off = off;
  st->b_off = off + (size_t) cin * cout * k * k;
  return st->b_off + cout;
}

static NervModel *model_new (const NervModelConfig * cfg,
    NervScratch * scratch, gboolean training);

NervModel *
nerv_model_new (const NervModelConfig * cfg, NervScratch * scratch)
{
  return model_new (cfg, scratch, TRUE);
}

NervModel *
nerv_model_new_inference (const NervModelConfig * cfg, NervScratch * scratch)
{
  return model_new (cfg, scratch, FALSE);
}

static NervModel *
model_new (const NervModelConfig * cfg, NervScratch * scratch,
    gboolean training)
{
  NervModel *m;
  size_t off = 0, grid;
  int h = cfg->embed_h, w = cfg->embed_w;
  Stage *prev;

  g_return_val_if_fail (nerv_model_config_validate (cfg, NULL), NULL);
  m = g_new0 (NervModel, 1);
  m->cfg = *cfg;
  m->scratch = scratch;
  grid = (size_t) h * w;

  if (cfg->kind == NERV_MODEL_NERV) {
    m->fc1_w = off;
    m->fc1_b = off + (size_t) cfg->mlp_hidden * 2 * cfg->pe_levels;
    off = m->fc1_b + cfg->mlp_hidden;
    m->fc2_w = off;
    m->fc2_b = off + (size_t) cfg->fc_dim * grid * cfg->mlp_hidden;
    off = m->fc2_b + cfg->fc_dim * grid;
    m->pe = nerv_alloc_floats (2 * cfg->pe_levels);
    m->h1 = nerv_alloc_floats (cfg->mlp_hidden);
    m->a1 = nerv_alloc_floats (cfg->mlp_hidden);
    m->h2 = nerv_alloc_floats (cfg->fc_dim * grid);
    /* the stem slot only carries the MLP output into stage 0 */
    m->stem.y = nerv_alloc_floats (cfg->fc_dim * grid);
  } else {
    off = add_conv (m, off, &m->stem, cfg->embed_c, cfg->fc_dim, 1);
    m->stem.h = h;
    m->stem.w = w;
    m->stem.stride = 1;
    m->embed_copy = nerv_alloc_floats (nerv_model_config_embed_size (cfg));
    m->stem.x = m->embed_copy;
    m->stem.z = nerv_alloc_floats (cfg->fc_dim * grid);
    m->stem.y = nerv_alloc_floats (cfg->fc_dim * grid);
  }
  m->dbuf_size = MAX ((size_t) cfg->embed_c, (size_t) cfg->fc_dim) * grid +
      cfg->mlp_hidden;

  prev = &m->stem;
  for (int i = 0; i < cfg->n_stages; i++) {
    Stage *st = &m->stages[i];
    const int s = cfg->strides[i];
    const int cout = cfg->channels[i] * s * s;
    const size_t zsize = (size_t) cout * h * w;
    off = add_conv (m, off, st, stage_cin (cfg, i), cout, cfg->kernels[i]);
    st->h = h;
    st->w = w;
    st->stride = s;
    st->x = prev->y;
    /* written before they are read: not zeroed, so a model's pages are
     * only touched when frames run through it. Inference shuffles into y
     * and applies GELU in place (no pre-activation kept). */
    st->z = nerv_alloc_floats_uninit (zsize);
    st->y = nerv_alloc_floats_uninit (zsize);
    st->pre = training ? nerv_alloc_floats_uninit (zsize) : st->y;
    m->dbuf_size = MAX (m->dbuf_size, zsize);
    h *= s;
    w *= s;
    prev = st;
  }
  off = add_conv (m, off, &m->head, cfg->channels[cfg->n_stages - 1],
      cfg->out_channels, cfg->head_kernel);
  m->head.h = h;
  m->head.w = w;
  m->head.stride = 1;
  m->head.x = prev->y;
  m->head.z = nerv_alloc_floats_uninit ((size_t) cfg->out_channels * h * w);
  m->head.y = nerv_alloc_floats_uninit ((size_t) cfg->out_channels * h * w);
  m->dbuf_size = MAX (m->dbuf_size, (size_t) cfg->out_channels * h * w);

  g_assert (off == nerv_model_config_n_params (cfg));
  m->n_params = off;
  m->params = nerv_alloc_floats (off);
  if (training) {
    m->grads = nerv_alloc_floats (off);
    m->dbuf[0] = nerv_alloc_floats_uninit (m->dbuf_size);
    m->dbuf[1] = nerv_alloc_floats_uninit (m->dbuf_size);
  }
  return m;
}

static void
stage_free (Stage * st)
{
  nerv_free (st->z);
  if (st->pre != st->y)
    nerv_free (st->pre);
  nerv_free (st->y);
}

void
nerv_model_free (NervModel * m)
{
  if (!m)
    return;
  stage_free (&m->stem);
  for (int i = 0; i < m->cfg.n_stages; i++)
    stage_free (&m->stages[i]);
  stage_free (&m->head);
  nerv_free (m->pe);
  nerv_free (m->h1);
  nerv_free (m->a1);
  nerv_free (m->h2);
  nerv_free (m->embed_copy);
  nerv_free (m->params);
  nerv_free (m->grads);
  nerv_free (m->dbuf[0]);
  nerv_free (m->dbuf[1]);
  g_free (m);
}

float *
nerv_model_params (NervModel * m, size_t * n)
{
  if (n)
    *n = m->n_params;
  return m->params;
}

float *
nerv_model_grads (NervModel * m, size_t * n)
{
  if (n)
    *n = m->n_params;
  return m->grads;
}

void
nerv_model_zero_grads (NervModel * m)
{
  if (m->grads)
    memset (m->grads, 0, sizeof (float) * m->n_params);
}

static void
init_uniform (AVLFG * lfg, float *p, size_t n, double bound)
{
  for (size_t i = 0; i < n; i++) {
    const double u = av_lfg_get (lfg) * (1.0 / 4294967296.0);
    p[i] = (float) ((2.0 * u - 1.0) * bound);
  }
}

static void
init_layer (AVLFG * lfg, float *params, size_t w_off, size_t b_off,
    size_t n_w, size_t n_b, int fan_in)
{
  const double bound = 1.0 / sqrt ((double) fan_in);
  init_uniform (lfg, params + w_off, n_w, bound);
  init_uniform (lfg, params + b_off, n_b, bound);
}

static void
init_conv (AVLFG * lfg, float *params, const Stage * st)
{
  const NervConvShape *c = &st->shape;
  init_layer (lfg, params, st->w_off, st->b_off,
      (size_t) c->cin * c->cout * c->k * c->k, c->cout, c->cin * c->k * c->k);
}

void
nerv_model_init_params (NervModel * m, guint32 seed)
{
  AVLFG lfg;
  const NervModelConfig *cfg = &m->cfg;

  av_lfg_init (&lfg, seed);
  if (cfg->kind == NERV_MODEL_NERV) {
    const int in = 2 * cfg->pe_levels;
    const size_t out2 = (size_t) cfg->fc_dim * cfg->embed_h * cfg->embed_w;
    init_layer (&lfg, m->params, m->fc1_w, m->fc1_b,
        (size_t) in * cfg->mlp_hidden, cfg->mlp_hidden, in);
    init_layer (&lfg, m->params, m->fc2_w, m->fc2_b,
        out2 * cfg->mlp_hidden, out2, cfg->mlp_hidden);
  } else {
    init_conv (&lfg, m->params, &m->stem);
  }
  for (int i = 0; i < cfg->n_stages; i++)
    init_conv (&lfg, m->params, &m->stages[i]);
  init_conv (&lfg, m->params, &m->head);
}

static void
conv_fwd (NervModel * m, Stage * st)
{
  nerv_conv2d_forward (m->scratch, &st->shape, st->x, st->h, st->w,
      m->params + st->w_off, m->params + st->b_off, st->z);
}

const float *
nerv_model_forward (NervModel * m, const float *embed, float t)
{
  const NervModelConfig *cfg = &m->cfg;
  const size_t grid = (size_t) cfg->embed_h * cfg->embed_w;
  Stage *hd = &m->head;

  if (cfg->kind == NERV_MODEL_NERV) {
    const int in = 2 * cfg->pe_levels;
    nerv_positional_encoding (t, cfg->pe_levels, m->pe);
    nerv_linear_forward (m->scratch->dsp, in, cfg->mlp_hidden, m->pe,
        m->params + m->fc1_w, m->params + m->fc1_b, m->h1);
    m->scratch->dsp->gelu_fwd (m->a1, m->h1, cfg->mlp_hidden);
    nerv_linear_forward (m->scratch->dsp, cfg->mlp_hidden,
        (int) (cfg->fc_dim * grid), m->a1, m->params + m->fc2_w,
        m->params + m->fc2_b, m->h2);
    m->scratch->dsp->gelu_fwd (m->stem.y, m->h2, (int) (cfg->fc_dim * grid));
  } else {
    memcpy (m->embed_copy, embed,
        sizeof (float) * nerv_model_config_embed_size (cfg));
    conv_fwd (m, &m->stem);
    nerv_gelu_forward (m->scratch, m->stem.z, m->stem.y, cfg->fc_dim * grid);
  }
  for (int i = 0; i < cfg->n_stages; i++) {
    Stage *st = &m->stages[i];
    conv_fwd (m, st);
    nerv_shuffle_gelu_forward (m->scratch, st->z, cfg->channels[i], st->h,
        st->w, st->stride, st->pre, st->y);
  }
  conv_fwd (m, hd);
  nerv_head_act_forward (hd->z, hd->y,
      (size_t) cfg->out_channels * hd->h * hd->w);
  return hd->y;
}

static void
conv_bwd (NervModel * m, Stage * st, const float *dz, float *dx)
{
  nerv_conv2d_backward (m->scratch, &st->shape, st->x, st->h, st->w,
      m->params + st->w_off, dz, m->grads + st->w_off, m->grads + st->b_off,
      dx);
}

void
nerv_model_backward (NervModel * m, const float *dout, float *dembed)
{
  const NervModelConfig *cfg = &m->cfg;
  const size_t grid = (size_t) cfg->embed_h * cfg->embed_w;
  Stage *hd = &m->head;
  float *d = m->dbuf[0], *dz = m->dbuf[1];

  g_return_if_fail (m->grads != NULL);   /* not an inference model */

  /* d holds the gradient at the current layer's output y */
  nerv_head_act_backward (hd->y, dout, dz,
      (size_t) cfg->out_channels * hd->h * hd->w);
  conv_bwd (m, hd, dz, d);
  for (int i = cfg->n_stages - 1; i >= 0; i--) {
    Stage *st = &m->stages[i];
    nerv_shuffle_gelu_backward (m->scratch, st->pre, d, cfg->channels[i],
        st->h, st->w, st->stride, dz);
    conv_bwd (m, st, dz, d);
  }
  if (cfg->kind == NERV_MODEL_NERV) {
    const int in = 2 * cfg->pe_levels;
    const int n2 = (int) (cfg->fc_dim * grid);
    float *da1 = dz + n2;
    m->scratch->dsp->gelu_bwd (dz, m->h2, d, n2);
    nerv_linear_backward (m->scratch->dsp, cfg->mlp_hidden, n2, m->a1,
        m->params + m->fc2_w, dz, m->grads + m->fc2_w, m->grads + m->fc2_b,
        da1);
    m->scratch->dsp->gelu_bwd (da1, m->h1, da1, cfg->mlp_hidden);
    nerv_linear_backward (m->scratch->dsp, in, cfg->mlp_hidden, m->pe,
        m->params + m->fc1_w, da1, m->grads + m->fc1_w, m->grads + m->fc1_b,
        NULL);
  } else {
    nerv_gelu_backward (m->scratch, m->stem.z, d, dz, cfg->fc_dim * grid);
    conv_bwd (m, &m->stem, dz, dembed);
  }
}

NervScratch *
nerv_model_scratch (NervModel * m)
{
  return m->scratch;
}
