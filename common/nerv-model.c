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
    /* shapes grow with fc: once one breaks a limit (channels, the
     * embedding grid), the largest valid one before it is the answer */
    if (!nerv_model_config_init (&trial, kind, width, height, out_channels,
            fc, &rules, NULL, best ? NULL : error)) {
      if (best)
        break;
      return FALSE;
    }
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

/* ---- the layer table -------------------------------------------------- */

size_t
nerv_layer_out_size (const NervLayerDesc * l)
{
  return (size_t) l->cout * l->in_h * l->in_w;
}

void
nerv_layer_table_add (NervLayerTable * t, NervLayerKind kind, NervActivation act,
    int cin, int cout, int k, int shuffle, int in_h, int in_w)
{
  NervLayerDesc *l;

  g_assert (t->n_layers < NERV_MAX_LAYERS);
  l = &t->layer[t->n_layers++];
  l->kind = kind;
  l->act = act;
  l->cin = cin;
  l->cout = cout;
  l->k = k;
  l->shuffle = shuffle;
  l->in_h = in_h;
  l->in_w = in_w;
  l->fan_in = cin * k * k;
  switch (kind) {
    case NERV_LAYER_POSENC:
      break;                    /* no parameters */
    case NERV_LAYER_LINEAR:
    case NERV_LAYER_CONV:
    case NERV_LAYER_CONV_SHUFFLE:
      l->n_w = (size_t) cout * l->fan_in;
      l->n_b = cout;
      break;
  }
  l->w_off = t->n_params;
  l->b_off = l->w_off + l->n_w;
  t->n_params = l->b_off + l->n_b;
}

int
nerv_model_config_latent_planes (const NervModelConfig * cfg)
{
  if (cfg->kind != NERV_MODEL_GRID || cfg->n_levels < 1)
    return 0;
  return cfg->lat_c0 + (cfg->n_levels - 1) * cfg->lat_c;
}

size_t
nerv_model_config_latent_size (const NervModelConfig * cfg)
{
  size_t n = 0;
  if (cfg->kind != NERV_MODEL_GRID)
    return 0;
  for (int l = 0; l < cfg->n_levels; l++)
    n += (size_t) (l ? cfg->lat_c : cfg->lat_c0) *
        nerv_ceil_div (cfg->height, 1 << l) * nerv_ceil_div (cfg->width, 1 << l);
  return n;
}

/* GRID: the ARM (three linear layers over each latent's context; the
 * first also reads a one-hot of the latent's plane and coding mode), then
 * the synthesis (a 1x1 skip from the upsampled planes to the output, and
 * a branch 1x1 -> ReLU -> 1x1 -> ReLU -> 3x3 added to it). The ARM layers
 * run once per latent: their grid is 1 x latents. */
static void
grid_layers (const NervModelConfig * cfg, NervLayerTable * t)
{
  const int planes = nerv_model_config_latent_planes (cfg);
  const int n = (int) MIN (nerv_model_config_latent_size (cfg), G_MAXINT);
  const int a = cfg->arm_c, c = cfg->synth_c, oc = cfg->out_channels;
  const int h = cfg->height, w = cfg->width;

  if (planes < 1 || a < 1 || c < 1)
    return;
  nerv_layer_table_add (t, NERV_LAYER_LINEAR, NERV_ACT_RELU,
      NERV_ARM_CONTEXT + 2 * planes, a, 1, 1, 1, n);
  nerv_layer_table_add (t, NERV_LAYER_LINEAR, NERV_ACT_RELU, a, a, 1, 1, 1, n);
  nerv_layer_table_add (t, NERV_LAYER_LINEAR, NERV_ACT_NONE, a, 2, 1, 1, 1, n);
  nerv_layer_table_add (t, NERV_LAYER_CONV, NERV_ACT_NONE, planes, oc, 1, 1, h,
      w);
  nerv_layer_table_add (t, NERV_LAYER_CONV, NERV_ACT_RELU, planes, c, 1, 1, h,
      w);
  nerv_layer_table_add (t, NERV_LAYER_CONV, NERV_ACT_RELU, c, c, 1, 1, h, w);
  nerv_layer_table_add (t, NERV_LAYER_CONV, NERV_ACT_NONE, c, oc, 3, 1, h, w);
}

static gboolean
grid_config_validate (const NervModelConfig * cfg, GError ** error)
{
#define CHECK(cond, ...) G_STMT_START { if (!(cond)) { \
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID, __VA_ARGS__); \
    return FALSE; } } G_STMT_END
  CHECK (cfg->n_levels >= 1 && cfg->n_levels <= NERV_GRID_MAX_LEVELS,
      "%d latent levels (1..%d)", cfg->n_levels, NERV_GRID_MAX_LEVELS);
  CHECK (cfg->lat_c0 >= 1 && cfg->lat_c0 <= 3 && cfg->lat_c >= 1
      && cfg->lat_c <= 3, "latent planes per level %d, %d (1..3)",
      cfg->lat_c0, cfg->lat_c);
  CHECK (cfg->synth_c >= 1 && cfg->synth_c <= NERV_GRID_MAX_WIDTH,
      "synthesis width %d (1..%d)", cfg->synth_c, NERV_GRID_MAX_WIDTH);
  CHECK (cfg->arm_c >= 1 && cfg->arm_c <= NERV_ARM_MAX_WIDTH,
      "ARM width %d (1..%d)", cfg->arm_c, NERV_ARM_MAX_WIDTH);
  {
    /* the synthesis keeps its input planes and two hidden layers for
     * backward: the same bound as the other kinds' activations */
    const gint64 acts = (gint64) (nerv_model_config_latent_planes (cfg) +
        2 * cfg->synth_c + 2 * cfg->out_channels) * cfg->width * cfg->height;
    CHECK (acts <= NERV_MAX_ACTIVATIONS, "the network would need %"
        G_GINT64_FORMAT " MiB of activations (limit %d MiB)", acts * 4 >> 20,
        (int) ((gint64) NERV_MAX_ACTIVATIONS * 4 >> 20));
  }
  return TRUE;
#undef CHECK
}

void
nerv_model_layers (const NervModelConfig * cfg, NervLayerTable * t)
{
  int h = cfg->embed_h, w = cfg->embed_w, c = cfg->fc_dim;

  memset (t, 0, sizeof (*t));
  if (cfg->kind == NERV_MODEL_GRID) {
    grid_layers (cfg, t);
    return;
  }
  if (cfg->n_stages < 1 || cfg->n_stages > NERV_MAX_STAGES)
    return;
  switch (cfg->kind) {
    case NERV_MODEL_HNERV:
      /* the frame's embedding -> 1x1 stem conv -> GELU */
      nerv_layer_table_add (t, NERV_LAYER_CONV, NERV_ACT_GELU, cfg->embed_c, c, 1, 1, h,
          w);
      break;
    case NERV_MODEL_NERV:
      /* t -> positional encoding -> linear -> GELU -> linear to
       * [fc_dim][h][w] -> GELU */
      nerv_layer_table_add (t, NERV_LAYER_POSENC, NERV_ACT_NONE, 0, 2 * cfg->pe_levels,
          1, 1, 1, 1);
      nerv_layer_table_add (t, NERV_LAYER_LINEAR, NERV_ACT_GELU, 2 * cfg->pe_levels,
          cfg->mlp_hidden, 1, 1, 1, 1);
      nerv_layer_table_add (t, NERV_LAYER_LINEAR, NERV_ACT_GELU, cfg->mlp_hidden,
          c * h * w, 1, 1, 1, 1);
      break;
    default:
      return;
  }
  for (int i = 0; i < cfg->n_stages; i++) {
    const int s = cfg->strides[i];
    nerv_layer_table_add (t, NERV_LAYER_CONV_SHUFFLE, NERV_ACT_GELU, c,
        cfg->channels[i] * s * s, cfg->kernels[i], s, h, w);
    c = cfg->channels[i];
    h *= s;
    w *= s;
  }
  nerv_layer_table_add (t, NERV_LAYER_CONV, NERV_ACT_HEAD, c, cfg->out_channels,
      cfg->head_kernel, 1, h, w);
}

/* multiply-adds count 2; the positional encoding and the activations
 * are not counted */
static double
layer_flops (const NervLayerDesc * l)
{
  switch (l->kind) {
    case NERV_LAYER_POSENC:
      return 0;
    case NERV_LAYER_LINEAR:
    case NERV_LAYER_CONV:
    case NERV_LAYER_CONV_SHUFFLE:
      return 2.0 * l->n_w * l->in_h * l->in_w;
  }
  return 0;
}

/* Activations a layer keeps for backward, as the memory bound counts
 * them: the blocks' conv output, shuffled values and GELU output. The
 * stem's, the head's and the MLP's buffers have never been counted (they
 * are small next to the blocks'); counting them now would refuse streams
 * that decode today. */
static gint64
layer_kept_floats (const NervLayerDesc * l)
{
  switch (l->kind) {
    case NERV_LAYER_CONV_SHUFFLE:
      return 3 * (gint64) nerv_layer_out_size (l);
    case NERV_LAYER_POSENC:
    case NERV_LAYER_LINEAR:
    case NERV_LAYER_CONV:
      return 0;
  }
  return 0;
}

/* ---- configuration checks --------------------------------------------- */

gboolean
nerv_model_config_validate (const NervModelConfig * cfg, GError ** error)
{
#define CHECK(cond, ...) G_STMT_START { if (!(cond)) { \
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID, __VA_ARGS__); \
    return FALSE; } } G_STMT_END
  gint64 size_h, size_w;

  CHECK (cfg->kind == NERV_MODEL_HNERV || cfg->kind == NERV_MODEL_NERV
      || cfg->kind == NERV_MODEL_GRID, "unknown model kind %d", cfg->kind);
  CHECK (cfg->width >= 1 && cfg->width <= NERV_MAX_DIM && cfg->height >= 1
      && cfg->height <= NERV_MAX_DIM, "frame size %dx%d not within 1..%d",
      cfg->width, cfg->height, NERV_MAX_DIM);
  CHECK (cfg->out_channels == 1 || cfg->out_channels == 3,
      "%d output channels (1 or 3)", cfg->out_channels);
  if (cfg->kind == NERV_MODEL_GRID)
    return grid_config_validate (cfg, error);
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
    NervLayerTable t;
    gint64 acts = 0;
    nerv_model_layers (cfg, &t);
    for (int i = 0; i < t.n_layers; i++)
      acts += layer_kept_floats (&t.layer[i]);
    CHECK (acts <= NERV_MAX_ACTIVATIONS, "the network would need %" G_GINT64_FORMAT
        " MiB of activations (limit %d MiB)", acts * 4 >> 20,
        (int) ((gint64) NERV_MAX_ACTIVATIONS * 4 >> 20));
    CHECK (t.n_params <= NERV_MAX_PARAMS, "%zu parameters (limit %d)",
        t.n_params, NERV_MAX_PARAMS);
  }
  CHECK (size_h >= cfg->height && size_w >= cfg->width
      && size_h <= NERV_MAX_DIM + 1024 && size_w <= NERV_MAX_DIM + 1024,
      "the stages give %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
      " for a %dx%d frame", size_w, size_h, cfg->width, cfg->height);
  return TRUE;
#undef CHECK
}

size_t
nerv_model_config_n_params (const NervModelConfig * cfg)
{
  NervLayerTable t;
  nerv_model_layers (cfg, &t);
  return t.n_params;
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
  if (cfg->kind == NERV_MODEL_GRID)
    return cfg->width;
  for (int i = 0; i < cfg->n_stages; i++)
    w *= cfg->strides[i];
  return w;
}

int
nerv_model_config_out_height (const NervModelConfig * cfg)
{
  int h = cfg->embed_h;
  if (cfg->kind == NERV_MODEL_GRID)
    return cfg->height;
  for (int i = 0; i < cfg->n_stages; i++)
    h *= cfg->strides[i];
  return h;
}

double
nerv_model_forward_flops (const NervModelConfig * cfg)
{
  NervLayerTable t;
  double f = 0;

  nerv_model_layers (cfg, &t);
  for (int i = 0; i < t.n_layers; i++)
    f += layer_flops (&t.layer[i]);
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

/* A layer of the table with its buffers. */
typedef struct {
  NervLayerDesc d;
  NervConvShape shape;          /* the conv kinds' */
  const float *x;               /* input: the previous layer's y (borrowed) */
  float *z;                     /* the operation's output */
  float *pre;                   /* CONV_SHUFFLE: shuffled, before GELU */
  float *y;                     /* after the activation (z when none) */
} Layer;

struct _NervModel {
  NervModelConfig cfg;
  NervScratch *scratch;
  float *params, *grads;
  size_t n_params;
  int n_layers;
  Layer layers[NERV_MAX_LAYERS];
  float *input;                 /* the first layer's input (HNeRV: the
                                 * embedding), kept for backward */
  size_t input_size;
  float *dbuf[2];               /* gradient ping-pong buffers */
};

const NervModelConfig *
nerv_model_config (const NervModel * m)
{
  return &m->cfg;
}

/* Does the layer read its predecessor's output (or the model input)? */
static gboolean
layer_has_input (const NervLayerDesc * l)
{
  return l->kind != NERV_LAYER_POSENC;
}

/* Does a gradient at its output go anywhere (parameters or input)? */
static gboolean
layer_has_backward (const NervLayerDesc * l)
{
  return l->n_w > 0 || layer_has_input (l);
}

static void
layer_setup (Layer * l, const NervLayerDesc * d, const float *x,
    gboolean training)
{
  const size_t n = nerv_layer_out_size (d);

  l->d = *d;
  l->shape.cin = d->cin;
  l->shape.cout = d->cout;
  l->shape.k = d->k;
  l->x = x;
  /* written before they are read: not zeroed, so a model's pages are only
   * touched when frames run through it */
  if (d->kind == NERV_LAYER_POSENC) {
    l->y = nerv_alloc_floats_uninit (n);
    return;
  }
  l->z = nerv_alloc_floats_uninit (n);
  l->y = d->act == NERV_ACT_NONE ? l->z : nerv_alloc_floats_uninit (n);
  /* inference shuffles into y and applies GELU in place (no shuffled
   * values kept) */
  if (d->kind == NERV_LAYER_CONV_SHUFFLE)
    l->pre = training ? nerv_alloc_floats_uninit (n) : l->y;
}

static void
layer_free (Layer * l)
{
  if (l->pre != l->y)
    nerv_free (l->pre);
  if (l->y != l->z)
    nerv_free (l->y);
  nerv_free (l->z);
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
  NervLayerTable table;
  const NervLayerDesc *first;
  NervModel *m;
  size_t dbuf_size = 0;

  g_return_val_if_fail (nerv_model_config_validate (cfg, NULL), NULL);
  m = g_new0 (NervModel, 1);
  m->cfg = *cfg;
  m->scratch = scratch;
  nerv_model_layers (cfg, &table);
  first = &table.layer[0];
  if (layer_has_input (first)) {
    m->input_size = (size_t) first->cin * first->in_h * first->in_w;
    m->input = nerv_alloc_floats (m->input_size);
  }
  m->n_layers = table.n_layers;
  for (int i = 0; i < table.n_layers; i++) {
    layer_setup (&m->layers[i], &table.layer[i],
        i ? m->layers[i - 1].y : m->input, training);
    dbuf_size = MAX (dbuf_size, nerv_layer_out_size (&table.layer[i]));
  }
  m->n_params = table.n_params;
  m->params = nerv_alloc_floats (m->n_params);
  if (training) {
    m->grads = nerv_alloc_floats (m->n_params);
    m->dbuf[0] = nerv_alloc_floats_uninit (dbuf_size);
    m->dbuf[1] = nerv_alloc_floats_uninit (dbuf_size);
  }
  return m;
}

void
nerv_model_free (NervModel * m)
{
  if (!m)
    return;
  for (int i = 0; i < m->n_layers; i++)
    layer_free (&m->layers[i]);
  nerv_free (m->input);
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

void
nerv_model_init_params (NervModel * m, guint32 seed)
{
  AVLFG lfg;

  av_lfg_init (&lfg, seed);
  for (int i = 0; i < m->n_layers; i++) {
    const NervLayerDesc *d = &m->layers[i].d;
    const double bound = 1.0 / sqrt ((double) d->fan_in);
    if (!d->n_w)
      continue;
    init_uniform (&lfg, m->params + d->w_off, d->n_w, bound);
    init_uniform (&lfg, m->params + d->b_off, d->n_b, bound);
  }
}

static void
layer_forward (NervModel * m, Layer * l, float t)
{
  const NervLayerDesc *d = &l->d;
  const NervDsp *dsp = m->scratch->dsp;
  const size_t n = nerv_layer_out_size (d);
  const float *w = m->params + d->w_off;
  const float *b = d->n_b ? m->params + d->b_off : NULL;

  switch (d->kind) {
    case NERV_LAYER_POSENC:
      nerv_positional_encoding (t, d->cout / 2, l->y);
      return;
    case NERV_LAYER_LINEAR:
      nerv_linear_forward (dsp, d->cin, d->cout, l->x, w, b, l->z);
      break;
    case NERV_LAYER_CONV:
    case NERV_LAYER_CONV_SHUFFLE:
      nerv_conv2d_forward (m->scratch, &l->shape, l->x, d->in_h, d->in_w, w,
          b, l->z);
      break;
  }
  if (d->kind == NERV_LAYER_CONV_SHUFFLE) {
    nerv_shuffle_gelu_forward (m->scratch, l->z,
        d->cout / (d->shuffle * d->shuffle), d->in_h, d->in_w, d->shuffle,
        l->pre, l->y);
    return;
  }
  switch (d->act) {
    case NERV_ACT_NONE:
      break;
    case NERV_ACT_GELU:
      /* vectors on the calling thread, grids over the pool */
      if (d->kind == NERV_LAYER_LINEAR)
        dsp->gelu_fwd (l->y, l->z, (int) n);
      else
        nerv_gelu_forward (m->scratch, l->z, l->y, n);
      break;
    case NERV_ACT_HEAD:
      nerv_head_act_forward (l->z, l->y, n);
      break;
    case NERV_ACT_RELU:
      for (size_t i = 0; i < n; i++)
        l->y[i] = MAX (l->z[i], 0.0f);
      break;
  }
}

const float *
nerv_model_forward (NervModel * m, const float *embed, float t)
{
  if (m->input_size)
    memcpy (m->input, embed, sizeof (float) * m->input_size);
  for (int i = 0; i < m->n_layers; i++)
    layer_forward (m, &m->layers[i], t);
  return m->layers[m->n_layers - 1].y;
}

/* The gradient at z from dy, the gradient at y: written to dz, or dy
 * itself when the layer has no activation. */
static const float *
act_backward (NervModel * m, const Layer * l, const float *dy, float *dz)
{
  const NervLayerDesc *d = &l->d;
  const size_t n = nerv_layer_out_size (d);

  if (d->kind == NERV_LAYER_CONV_SHUFFLE) {
    nerv_shuffle_gelu_backward (m->scratch, l->pre, dy,
        d->cout / (d->shuffle * d->shuffle), d->in_h, d->in_w, d->shuffle, dz);
    return dz;
  }
  switch (d->act) {
    case NERV_ACT_NONE:
      return dy;
    case NERV_ACT_GELU:
      if (d->kind == NERV_LAYER_LINEAR)
        m->scratch->dsp->gelu_bwd (dz, l->z, dy, (int) n);
      else
        nerv_gelu_backward (m->scratch, l->z, dy, dz, n);
      return dz;
    case NERV_ACT_HEAD:
      nerv_head_act_backward (l->y, dy, dz, n);
      return dz;
    case NERV_ACT_RELU:
      for (size_t i = 0; i < n; i++)
        dz[i] = l->z[i] > 0.0f ? dy[i] : 0.0f;
      return dz;
  }
  g_assert_not_reached ();
}

/* From dz, the gradient at z: accumulates the parameter gradients and
 * writes the input gradient dx (skipped when NULL). */
static void
op_backward (NervModel * m, const Layer * l, const float *dz, float *dx)
{
  const NervLayerDesc *d = &l->d;
  const float *w = m->params + d->w_off;
  float *gw = m->grads + d->w_off;
  float *gb = d->n_b ? m->grads + d->b_off : NULL;

  switch (d->kind) {
    case NERV_LAYER_POSENC:
      break;
    case NERV_LAYER_LINEAR:
      nerv_linear_backward (m->scratch->dsp, d->cin, d->cout, l->x, w, dz,
          gw, gb, dx);
      break;
    case NERV_LAYER_CONV:
    case NERV_LAYER_CONV_SHUFFLE:
      nerv_conv2d_backward (m->scratch, &l->shape, l->x, d->in_h, d->in_w, w,
          dz, gw, gb, dx);
      break;
  }
}

/* the ping-pong buffer that p is not */
static float *
other_dbuf (NervModel * m, const float *p)
{
  return p == m->dbuf[1] ? m->dbuf[0] : m->dbuf[1];
}

void
nerv_model_backward (NervModel * m, const float *dout, float *dembed)
{
  const float *dy = dout;       /* the gradient at the current layer's y */

  g_return_if_fail (m->grads != NULL);   /* not an inference model */

  for (int i = m->n_layers - 1; i >= 0; i--) {
    const Layer *l = &m->layers[i];
    const float *dz;
    float *dx;

    if (!layer_has_backward (&l->d))
      break;
    dz = act_backward (m, l, dy, other_dbuf (m, dy));
    if (i == 0)
      dx = dembed;
    else if (layer_has_backward (&m->layers[i - 1].d))
      dx = other_dbuf (m, dz);
    else
      dx = NULL;
    op_backward (m, l, dz, dx);
    dy = dx;
  }
}

NervScratch *
nerv_model_scratch (NervModel * m)
{
  return m->scratch;
}
