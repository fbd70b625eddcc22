/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-grid.h"
#include "nerv-thin.h"

#include <libavutil/lfg.h>
#include <math.h>
#include <string.h>

/* The context taps, nearest first (docs/bitstream.md). */
const gint8 nerv_arm_spatial_taps[NERV_ARM_SPATIAL][2] = {
  {0, -1}, {-1, 0}, {-1, -1}, {-1, 1}, {0, -2}, {-2, 0},
  {-1, -2}, {-1, 2}, {-2, -1}, {-2, 1}, {-2, -2}, {-2, 2},
};

const gint8 nerv_arm_ref_taps[NERV_ARM_REF][2] = {
  {0, 0}, {-1, 0}, {0, -1}, {0, 1}, {1, 0},
};

/* the layer table's GRID layers */
enum { ARM0, ARM1, ARM2, SKIP, BR0, BR1, BR2, N_GRID_LAYERS };

/* ---- layout ------------------------------------------------------------ */

void
nerv_grid_layout_init (NervGridLayout * lay, const NervModelConfig * cfg)
{
  size_t off = 0;
  int p = 0;

  memset (lay, 0, sizeof (*lay));
  lay->width = cfg->width;
  lay->height = cfg->height;
  lay->out_channels = cfg->out_channels;
  lay->n_levels = cfg->n_levels;
  for (int l = 0; l < cfg->n_levels; l++) {
    const int nc = l ? cfg->lat_c : cfg->lat_c0;
    for (int c = 0; c < nc; c++, p++) {
      lay->level[p] = l;
      lay->w[p] = nerv_ceil_div (cfg->width, 1 << l);
      lay->h[p] = nerv_ceil_div (cfg->height, 1 << l);
      lay->off[p] = off;
      lay->out_of[p] = MIN (c, cfg->out_channels - 1);
      off += (size_t) lay->w[p] * lay->h[p];
    }
  }
  lay->n_planes = p;
  lay->size = off;
}

void
nerv_grid_config_init (NervModelConfig * cfg, int width, int height,
    int out_channels, gboolean chroma_subsampled, int n_levels, int synth_c,
    int arm_c)
{
  memset (cfg, 0, sizeof (*cfg));
  cfg->kind = NERV_MODEL_GRID;
  cfg->width = width;
  cfg->height = height;
  cfg->out_channels = out_channels;
  cfg->n_levels = n_levels;
  cfg->lat_c = out_channels;
  cfg->lat_c0 = chroma_subsampled ? 1 : out_channels;
  cfg->synth_c = synth_c;
  cfg->arm_c = arm_c;
}

void
nerv_grid_config_default (NervModelConfig * cfg, int width, int height,
    int out_channels, gboolean chroma_subsampled)
{
  int levels = 1;
  while (levels < 7 && (MIN (width, height) >> levels) >= 2)
    levels++;
  nerv_grid_config_init (cfg, width, height, out_channels, chroma_subsampled,
      levels, 16, 8);
}

/* ---- upsampling -------------------------------------------------------- */

/* Bicubic (a = -0.75) x2 with the centres of the PyTorch/OpenCV
 * convention (align_corners false): output 2x takes inputs x-2..x+1 with
 * the even taps, output 2x+1 inputs x-1..x+2 with the odd ones; indices
 * are clamped to the plane. */
static const float up_even[4] = {
  -9 / 256.0f, 67 / 256.0f, 225 / 256.0f, -27 / 256.0f
};

static const float up_odd[4] = {
  -27 / 256.0f, 225 / 256.0f, 67 / 256.0f, -9 / 256.0f
};

static inline int
clampi (int v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* One row of n inputs -> m outputs (m <= 2n). The taps read
 * in[clamp (x)]: the row is extended by two repeated values each side. */
static void
up_row (const float *in, int n, float *out, int m, float *ext)
{
  ext[0] = ext[1] = in[0];
  memcpy (ext + 2, in, sizeof (float) * n);
  ext[n + 2] = ext[n + 3] = in[n - 1];
  /* output 2x reads ext[x .. x+3] with the even taps, 2x+1 ext[x+1 ..
   * x+4] with the odd ones */
  for (int x = 0; 2 * x < m; x++) {
    const float *e = ext + x;
    out[2 * x] = up_even[0] * e[0] + up_even[1] * e[1] + up_even[2] * e[2] +
        up_even[3] * e[3];
    if (2 * x + 1 < m)
      out[2 * x + 1] = up_odd[0] * e[1] + up_odd[1] * e[2] + up_odd[2] * e[3] +
          up_odd[3] * e[4];
  }
}

/* Its adjoint: in[0..n) = the gradient from out[0..m) (written). g is
 * m + 8 floats of scratch. */
static void
up_row_adjoint (float *in, int n, const float *out, int m, float *g)
{
  /* ext[i] (i = 0 .. n+3) gets the taps that read it: from the even
   * outputs 2x with x = i-3 .. i and the odd ones 2x+1 with x = i-4 .. i-1;
   * gp[o + 8] = out[o], zeros around */
  float *gp = g;
  memset (gp, 0, sizeof (float) * 8);
  memcpy (gp + 8, out, sizeof (float) * m);
  memset (gp + 8 + m, 0, sizeof (float) * 10);
  for (int i = 0; i < n + 4; i++) {
    const float *q = gp + 8 + 2 * i;
    /* even: x = i - k reads ext[i] with tap k; odd: x = i - 1 - k reads
     * ext[i] with odd tap k (output 2x+1 = 2i - 1 - 2k) */
    const float v = up_even[0] * q[0] + up_even[1] * q[-2] +
        up_even[2] * q[-4] + up_even[3] * q[-6] + up_odd[0] * q[-1] +
        up_odd[1] * q[-3] + up_odd[2] * q[-5] + up_odd[3] * q[-7];
    if (i < 2)
      in[0] = (i ? in[0] : 0.0f) + v;
    else if (i < n + 2)
      in[i - 2] = (i - 2 == 0 ? in[0] : 0.0f) + v;
    else
      in[n - 1] += v;
  }
}

void
nerv_grid_up2 (const float *src, int w, int h, float *dst, int W, int H,
    float *tmp)
{
  float *ext = tmp + (size_t) h * W;
  for (int y = 0; y < h; y++)
    up_row (src + (size_t) y * w, w, tmp + (size_t) y * W, W, ext);
  /* vertically: output row 2y reads rows y-2..y+1 (clamped), 2y+1 rows
   * y-1..y+2 */
  for (int Y = 0; Y < H; Y++) {
    const int y = Y >> 1, first = (Y & 1) ? y - 1 : y - 2;
    const float *t = (Y & 1) ? up_odd : up_even;
    const float *r0 = tmp + (size_t) clampi (first, 0, h - 1) * W;
    const float *r1 = tmp + (size_t) clampi (first + 1, 0, h - 1) * W;
    const float *r2 = tmp + (size_t) clampi (first + 2, 0, h - 1) * W;
    const float *r3 = tmp + (size_t) clampi (first + 3, 0, h - 1) * W;
    float *o = dst + (size_t) Y * W;
    for (int x = 0; x < W; x++)
      o[x] = t[0] * r0[x] + t[1] * r1[x] + t[2] * r2[x] + t[3] * r3[x];
  }
}

/* the adjoint of nerv_grid_up2: src = the gradient from dst */
static void
up2_adjoint (float *src, int w, int h, const float *dst, int W, int H,
    float *tmp)
{
  float *g = tmp + (size_t) h * W;
  memset (tmp, 0, sizeof (float) * (size_t) h * W);
  for (int Y = 0; Y < H; Y++) {
    const int y = Y >> 1, first = (Y & 1) ? y - 1 : y - 2;
    const float *t = (Y & 1) ? up_odd : up_even;
    const float *d = dst + (size_t) Y * W;
    for (int k = 0; k < 4; k++) {
      float *r = tmp + (size_t) clampi (first + k, 0, h - 1) * W;
      const float tk = t[k];
      for (int x = 0; x < W; x++)
        r[x] += tk * d[x];
    }
  }
  for (int y = 0; y < h; y++)
    up_row_adjoint (src + (size_t) y * w, w, tmp + (size_t) y * W, W, g);
}

size_t
nerv_grid_upsample_tmp_size (const NervGridLayout * lay)
{
  /* two ping-pong planes of the next level's size (at most the frame's),
   * the row pass's [h][W] and a padded row */
  const size_t frame = (size_t) lay->width * lay->height;
  return 3 * frame + 2 * (size_t) lay->width + 32;
}

/* the size of level l */
static inline void
level_size (const NervGridLayout * lay, int l, int *w, int *h)
{
  *w = nerv_ceil_div (lay->width, 1 << l);
  *h = nerv_ceil_div (lay->height, 1 << l);
}

void
nerv_grid_upsample_plane (const NervGridLayout * lay, int p, const float *lat,
    float *dst, float *tmp)
{
  const size_t frame = (size_t) lay->width * lay->height;
  const float *src = lat + lay->off[p];
  float *bufs[2] = { tmp, tmp + frame };
  float *row = tmp + 2 * frame;
  int w = lay->w[p], h = lay->h[p];

  if (lay->level[p] == 0) {
    memcpy (dst, src, sizeof (float) * frame);
    return;
  }
  for (int l = lay->level[p] - 1, i = 0; l >= 0; l--, i++) {
    int W, H;
    float *out = l == 0 ? dst : bufs[i & 1];
    level_size (lay, l, &W, &H);
    nerv_grid_up2 (src, w, h, out, W, H, row);
    src = out;
    w = W;
    h = H;
  }
}

void
nerv_grid_upsample_plane_backward (const NervGridLayout * lay, int p,
    const float *dsrc, float *dlat, float *tmp)
{
  const size_t frame = (size_t) lay->width * lay->height;
  float *bufs[2] = { tmp, tmp + frame };
  float *row = tmp + 2 * frame;
  const float *g = dsrc;
  int W = lay->width, H = lay->height;

  if (lay->level[p] == 0) {
    memcpy (dlat + lay->off[p], dsrc, sizeof (float) * frame);
    return;
  }
  for (int l = 1, i = 0; l <= lay->level[p]; l++, i++) {
    int w, h;
    float *out = l == lay->level[p] ? dlat + lay->off[p] : bufs[i & 1];
    level_size (lay, l, &w, &h);
    up2_adjoint (out, w, h, g, W, H, row);
    g = out;
    W = w;
    H = h;
  }
}

/* ---- motion --------------------------------------------------------------- */

/* floor (a / 2^n) for any sign */
static inline gint32
floor_shift (gint32 a, int n)
{
  return a >= 0 ? a >> n : ~((~a) >> n);
}

/* plane p's fraction bits and its motion on that grid */
static inline int
warp_grid (const NervGridLayout * lay, int p, int mvx, int mvy, int *mx,
    int *my)
{
  const int l = lay->level[p];
  const int F = MIN (2 + l, 6);
  /* mv / (4 2^l) pixels of the plane, times 2^F */
  if (2 + l <= 6) {
    *mx = mvx;
    *my = mvy;
  } else {
    const int sh = l - 4;
    *mx = floor_shift (mvx + (1 << (sh - 1)), sh);
    *my = floor_shift (mvy + (1 << (sh - 1)), sh);
  }
  return F;
}

/* source index and weight of the next one for output index x */
static inline void
warp_pos (int x, int m, int F, int n, int *i0, int *i1, int *f)
{
  const int s = x * (1 << F) - m;
  const int i = floor_shift (s, F);
  *f = s - i * (1 << F);
  *i0 = clampi (i, 0, n - 1);
  *i1 = clampi (i + 1, 0, n - 1);
}

void
nerv_grid_warp_int (const NervGridLayout * lay, const gint32 * ref, int mvx,
    int mvy, gint32 * pred)
{
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p];
    const gint32 *src = ref + lay->off[p];
    gint32 *dst = pred + lay->off[p];
    int mx, my;
    const int F = warp_grid (lay, p, mvx, mvy, &mx, &my), one = 1 << F;
    for (int y = 0; y < h; y++) {
      int y0, y1, fy;
      warp_pos (y, my, F, h, &y0, &y1, &fy);
      for (int x = 0; x < w; x++) {
        int x0, x1, fx;
        gint32 v;
        warp_pos (x, mx, F, w, &x0, &x1, &fx);
        v = (one - fx) * (one - fy) * src[(size_t) y0 * w + x0] +
            fx * (one - fy) * src[(size_t) y0 * w + x1] +
            (one - fx) * fy * src[(size_t) y1 * w + x0] +
            fx * fy * src[(size_t) y1 * w + x1];
        dst[(size_t) y * w + x] = floor_shift (v + (1 << (2 * F - 1)), 2 * F);
      }
    }
  }
}

void
nerv_grid_warp_float (const NervGridLayout * lay, const float *ref, int mvx,
    int mvy, float *pred)
{
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p];
    const float *src = ref + lay->off[p];
    float *dst = pred + lay->off[p];
    int mx, my;
    const int F = warp_grid (lay, p, mvx, mvy, &mx, &my);
    const float k = 1.0f / (1 << F);
    for (int y = 0; y < h; y++) {
      int y0, y1, fy;
      float wy;
      warp_pos (y, my, F, h, &y0, &y1, &fy);
      wy = fy * k;
      for (int x = 0; x < w; x++) {
        int x0, x1, fx;
        float wx;
        warp_pos (x, mx, F, w, &x0, &x1, &fx);
        wx = fx * k;
        dst[(size_t) y * w + x] =
            (1 - wx) * (1 - wy) * src[(size_t) y0 * w + x0] +
            wx * (1 - wy) * src[(size_t) y0 * w + x1] +
            (1 - wx) * wy * src[(size_t) y1 * w + x0] +
            wx * wy * src[(size_t) y1 * w + x1];
      }
    }
  }
}

void
nerv_grid_warp_adjoint (const NervGridLayout * lay, const float *dpred,
    int mvx, int mvy, float *dref)
{
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p];
    const float *g = dpred + lay->off[p];
    float *d = dref + lay->off[p];
    int mx, my;
    const int F = warp_grid (lay, p, mvx, mvy, &mx, &my);
    const float k = 1.0f / (1 << F);
    for (int y = 0; y < h; y++) {
      int y0, y1, fy;
      float wy;
      warp_pos (y, my, F, h, &y0, &y1, &fy);
      wy = fy * k;
      for (int x = 0; x < w; x++) {
        int x0, x1, fx;
        float wx;
        const float v = g[(size_t) y * w + x];
        warp_pos (x, mx, F, w, &x0, &x1, &fx);
        wx = fx * k;
        d[(size_t) y0 * w + x0] += (1 - wx) * (1 - wy) * v;
        d[(size_t) y0 * w + x1] += wx * (1 - wy) * v;
        d[(size_t) y1 * w + x0] += (1 - wx) * wy * v;
        d[(size_t) y1 * w + x1] += wx * wy * v;
      }
    }
  }
}

/* ---- synthesis --------------------------------------------------------- */

struct _NervGridSynth {
  NervModelConfig cfg;
  NervGridLayout lay;
  NervLayerTable t;
  NervScratch *s;
  gboolean training;
  size_t frame;                 /* pixels */
  float *stack;                 /* [planes][frame] */
  float *a, *b;                 /* branch hidden layers, after ReLU */
  float *out;                   /* [oc][frame] */
  float *o3;                    /* the branch's output */
  float *da, *db, *dstack1, *dstack2;   /* backward */
  float **tmp;                  /* per thread upsampling scratch */
  /* job state */
  const float *lat;
  float *dlat;
};

NervGridSynth *
nerv_grid_synth_new (const NervModelConfig * cfg, NervScratch * s,
    gboolean training)
{
  NervGridSynth *g = g_new0 (NervGridSynth, 1);
  const int c = cfg->synth_c;

  g->cfg = *cfg;
  g->s = s;
  g->training = training;
  nerv_grid_layout_init (&g->lay, cfg);
  nerv_model_layers (cfg, &g->t);
  g_assert (g->t.n_layers == N_GRID_LAYERS);
  g->frame = (size_t) cfg->width * cfg->height;
  g->stack = nerv_alloc_floats_uninit (g->frame * g->lay.n_planes);
  g->a = nerv_alloc_floats_uninit (g->frame * c);
  g->b = nerv_alloc_floats_uninit (g->frame * c);
  g->out = nerv_alloc_floats_uninit (g->frame * cfg->out_channels);
  g->o3 = nerv_alloc_floats_uninit (g->frame * cfg->out_channels);
  if (training) {
    g->da = nerv_alloc_floats_uninit (g->frame * c);
    g->db = nerv_alloc_floats_uninit (g->frame * c);
    g->dstack1 = nerv_alloc_floats_uninit (g->frame * g->lay.n_planes);
    g->dstack2 = nerv_alloc_floats_uninit (g->frame * g->lay.n_planes);
  }
  g->tmp = g_new0 (float *, s->n_threads);
  for (int i = 0; i < s->n_threads; i++)
    g->tmp[i] = nerv_alloc_floats_uninit (nerv_grid_upsample_tmp_size (&g->lay));
  return g;
}

void
nerv_grid_synth_free (NervGridSynth * g)
{
  if (!g)
    return;
  nerv_free (g->stack);
  nerv_free (g->a);
  nerv_free (g->b);
  nerv_free (g->out);
  nerv_free (g->o3);
  nerv_free (g->dstack1);
  nerv_free (g->da);
  nerv_free (g->db);
  nerv_free (g->dstack2);
  for (int i = 0; i < g->s->n_threads; i++)
    nerv_free (g->tmp[i]);
  g_free (g->tmp);
  g_free (g);
}

static void
up_task (gpointer data, int p, int thread)
{
  NervGridSynth *g = data;
  nerv_grid_upsample_plane (&g->lay, p, g->lat, g->stack + g->frame * p,
      g->tmp[thread]);
}

static void
up_bwd_task (gpointer data, int p, int thread)
{
  NervGridSynth *g = data;
  const float *ds = g->dstack2 + g->frame * p;
  nerv_grid_upsample_plane_backward (&g->lay, p, ds, g->dlat, g->tmp[thread]);
}

static void
relu_inplace (float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx *= (y > 0) */
static void
relu_mask (float *dx, const float *y, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!(y[i] > 0.0f))
      dx[i] = 0.0f;
}

static inline NervConvShape
conv_shape (const NervLayerDesc * d)
{
  NervConvShape c = { d->cin, d->cout, d->k };
  return c;
}

const float *
nerv_grid_synth_forward (NervGridSynth * g, const float *params,
    const float *lat)
{
  const NervLayerDesc *L = g->t.layer;
  const int h = g->cfg.height, w = g->cfg.width;
  const int c = g->cfg.synth_c, oc = g->cfg.out_channels;

  g->lat = lat;
  nerv_pool_run (g->s->pool, up_task, g, g->lay.n_planes);
  nerv_thin_pw_forward (g->s, L[SKIP].cin, oc, g->frame,
      params + L[SKIP].w_off, params + L[SKIP].b_off, g->stack, g->frame,
      g->out, g->frame);
  nerv_thin_pw_forward (g->s, L[BR0].cin, c, g->frame, params + L[BR0].w_off,
      params + L[BR0].b_off, g->stack, g->frame, g->a, g->frame);
  relu_inplace (g->a, g->frame * c);
  nerv_thin_pw_forward (g->s, c, c, g->frame, params + L[BR1].w_off,
      params + L[BR1].b_off, g->a, g->frame, g->b, g->frame);
  relu_inplace (g->b, g->frame * c);
  /* the 3x3 output layer, added to the skip */
  nerv_thin_c3_forward (g->s, c, oc, h, w, params + L[BR2].w_off,
      params + L[BR2].b_off, g->b, g->o3);
  for (size_t i = 0; i < g->frame * oc; i++)
    g->out[i] += g->o3[i];
  return g->out;
}

void
nerv_grid_synth_backward (NervGridSynth * g, const float *params,
    const float *dout, float *grads, float *dlat)
{
  const NervLayerDesc *L = g->t.layer;
  const int h = g->cfg.height, w = g->cfg.width;
  const int c = g->cfg.synth_c, oc = g->cfg.out_channels;
  const size_t n = g->frame * g->lay.n_planes;

  g_return_if_fail (g->training);
  /* branch: 3x3, ReLU, 1x1, ReLU, 1x1 */
#define G(l, o) (grads ? grads + L[l].o : NULL)
  nerv_thin_c3_backward (g->s, c, oc, h, w, params + L[BR2].w_off, g->b,
      dout, G (BR2, w_off), G (BR2, b_off), g->db);
  relu_mask (g->db, g->b, g->frame * c);
  nerv_thin_pw_backward (g->s, c, c, g->frame, params + L[BR1].w_off, g->a,
      g->frame, g->db, g->frame, G (BR1, w_off), G (BR1, b_off), g->da,
      g->frame);
  relu_mask (g->da, g->a, g->frame * c);
  nerv_thin_pw_backward (g->s, L[BR0].cin, c, g->frame,
      params + L[BR0].w_off, g->stack, g->frame, g->da, g->frame,
      G (BR0, w_off), G (BR0, b_off), g->dstack2, g->frame);
  /* skip, its input gradient added */
  nerv_thin_pw_backward (g->s, L[SKIP].cin, oc, g->frame,
      params + L[SKIP].w_off, g->stack, g->frame, dout, g->frame,
      G (SKIP, w_off), G (SKIP, b_off), g->dstack1, g->frame);
#undef G
  for (size_t i = 0; i < n; i++)
    g->dstack2[i] += g->dstack1[i];
  g->dlat = dlat;
  nerv_pool_run (g->s->pool, up_bwd_task, g, g->lay.n_planes);
}

double
nerv_grid_synth_flops (const NervModelConfig * cfg)
{
  NervLayerTable t;
  NervGridLayout lay;
  double f = 0, frame = (double) cfg->width * cfg->height;

  nerv_model_layers (cfg, &t);
  nerv_grid_layout_init (&lay, cfg);
  for (int i = SKIP; i < t.n_layers; i++)
    f += 2.0 * t.layer[i].n_w * frame;
  /* upsampling: 8 multiply-adds an output of each x2 step */
  for (int p = 0; p < lay.n_planes; p++)
    for (int l = lay.level[p] - 1; l >= 0; l--)
      f += 16.0 * nerv_ceil_div (cfg->width, 1 << l) *
          nerv_ceil_div (cfg->height, 1 << l);
  return f;
}

/* ---- initialisation ------------------------------------------------------ */

static void
uniform_fill (AVLFG * lfg, float *x, size_t n, float bound)
{
  for (size_t i = 0; i < n; i++)
    x[i] = ((av_lfg_get (lfg) / 4294967296.0) * 2.0 - 1.0) * bound;
}

void
nerv_grid_init_params (const NervModelConfig * cfg, float *params, float step,
    guint32 seed)
{
  NervLayerTable t;
  NervGridLayout lay;
  AVLFG lfg;

  nerv_model_layers (cfg, &t);
  nerv_grid_layout_init (&lay, cfg);
  av_lfg_init (&lfg, seed);
  memset (params, 0, sizeof (float) * t.n_params);
  for (int i = 0; i < t.n_layers; i++) {
    const NervLayerDesc *d = &t.layer[i];
    const float bound = 1.0f / sqrtf ((float) d->fan_in);
    if (i == ARM2 || i == SKIP || i == BR2)
      continue;
    uniform_fill (&lfg, params + d->w_off, d->n_w, bound);
    uniform_fill (&lfg, params + d->b_off, d->n_b, bound);
  }
  /* ARM: no one-hot or bias offsets at first */
  for (int k = 0; k < cfg->arm_c; k++) {
    float *row = params + t.layer[ARM0].w_off + (size_t) k * t.layer[ARM0].cin;
    for (int j = NERV_ARM_CONTEXT; j < t.layer[ARM0].cin; j++)
      row[j] = 0.0f;
  }
  /* the skip: a Laplacian pyramid's reconstruction */
  for (int p = 0; p < lay.n_planes; p++) {
    const int c = lay.out_of[p];
    params[t.layer[SKIP].w_off + (size_t) c * lay.n_planes + p] = step;
  }
  for (int c = 0; c < cfg->out_channels; c++)
    params[t.layer[SKIP].b_off + c] = 0.5f;
}

/* ---- the ARM: integer (normative) ---------------------------------------- */

static inline gint32
clamp_ctx (gint32 v)
{
  return v < -NERV_ARM_MAX_INPUT ? -NERV_ARM_MAX_INPUT :
      v > NERV_ARM_MAX_INPUT ? NERV_ARM_MAX_INPUT : v;
}

void
nerv_arm_context_int (const gint32 * plane, const gint32 * ref, int w, int h,
    int y, int x, gint32 * ctx)
{
  for (int j = 0; j < NERV_ARM_SPATIAL; j++) {
    const int yy = y + nerv_arm_spatial_taps[j][0];
    const int xx = x + nerv_arm_spatial_taps[j][1];
    ctx[j] = yy >= 0 && xx >= 0 && xx < w ?
        clamp_ctx (plane[(size_t) yy * w + xx]) : 0;
  }
  for (int j = 0; j < NERV_ARM_REF; j++) {
    const int yy = y + nerv_arm_ref_taps[j][0];
    const int xx = x + nerv_arm_ref_taps[j][1];
    ctx[NERV_ARM_SPATIAL + j] = ref && yy >= 0 && yy < h && xx >= 0
        && xx < w ? clamp_ctx (ref[(size_t) yy * w + xx]) : 0;
  }
}

/* floor (x / 2^NERV_ARM_FRAC + 1/2), without relying on >> of negatives */
static inline gint32
arm_round (gint32 x)
{
  const gint32 v = x + (NERV_ARM_ONE >> 1);
  return v >= 0 ? v >> NERV_ARM_FRAC : ~((~v) >> NERV_ARM_FRAC);
}

void
nerv_arm_eval_int (const gint32 * wq, int arm_c, int n_in, const gint32 * ctx,
    int onehot, gint32 * mu_q, gint32 * logb_q)
{
  const int a = arm_c;
  const gint32 *w0 = wq, *b0 = w0 + (size_t) a * n_in;
  const gint32 *w1 = b0 + a, *b1 = w1 + (size_t) a * a;
  const gint32 *w2 = b1 + a, *b2 = w2 + 2 * a;
  gint32 h1[NERV_ARM_MAX_WIDTH], h2[NERV_ARM_MAX_WIDTH];

  for (int k = 0; k < a; k++) {
    const gint32 *row = w0 + (size_t) k * n_in;
    gint32 acc = b0[k] + row[NERV_ARM_CONTEXT + onehot];
    for (int j = 0; j < NERV_ARM_CONTEXT; j++)
      acc += row[j] * ctx[j];
    h1[k] = acc < 0 ? 0 : acc > NERV_ARM_MAX_HIDDEN ? NERV_ARM_MAX_HIDDEN : acc;
  }
  for (int k = 0; k < a; k++) {
    const gint32 *row = w1 + (size_t) k * a;
    gint32 acc = 0, v;
    for (int j = 0; j < a; j++)
      acc += row[j] * h1[j];
    v = arm_round (acc) + b1[k];
    v = (v < 0 ? 0 : v) + h1[k];
    h2[k] = v > NERV_ARM_MAX_HIDDEN ? NERV_ARM_MAX_HIDDEN : v;
  }
  for (int o = 0; o < 2; o++) {
    const gint32 *row = w2 + (size_t) o * a;
    gint32 acc = 0;
    for (int j = 0; j < a; j++)
      acc += row[j] * h2[j];
    acc = arm_round (acc) + b2[o];
    if (o)
      *logb_q = acc;
    else
      *mu_q = acc;
  }
}

/* ---- Laplace bits (training) --------------------------------------------- */

double
nerv_laplace_bits (float x, float mu, float log_b, float *dx, float *dmu,
    float *dlog_b)
{
  /* P = F(u + 1/2) - F(u - 1/2), u = x - mu, F the Laplace CDF; by
   * symmetry u >= 0. Float: this runs for every latent of every step. */
  const gboolean clamped = log_b < NERV_LAPLACE_LOG_B_MIN
      || log_b > NERV_LAPLACE_LOG_B_MAX;
  const float lb = CLAMP (log_b, NERV_LAPLACE_LOG_B_MIN,
      NERV_LAPLACE_LOG_B_MAX);
  const float ib = expf (-lb);  /* 1/b */
  float u = x - mu, sign = 1.0f, p, dp_du, dp_dlb;
  float ea, ec, a, c;

  if (u < 0) {
    u = -u;
    sign = -1.0f;
  }
  a = u + 0.5f;
  c = u - 0.5f;
  ea = expf (-a * ib);          /* 2 (1 - F(a)) */
  if (c >= 0) {
    ec = expf (-c * ib);        /* 2 (1 - F(c)) */
    p = 0.5f * (ec - ea);
  } else {
    ec = expf (c * ib);         /* 2 F(c) */
    p = 1.0f - 0.5f * ea - 0.5f * ec;
  }
  /* f(t) = e^(-|t|/b) / 2b; d F(t) / d log b = -t f(t) */
  dp_du = 0.5f * (ea - ec) * ib;
  dp_dlb = c >= 0 ? 0.5f * (ec * c - ea * a) * ib :
      -0.5f * (ea * a - ec * c) * ib;
  if (p < 1.0f / 65536) {
    /* the coder's smallest probability: no gradient below it */
    if (dx)
      *dx = 0;
    if (dmu)
      *dmu = 0;
    if (dlog_b)
      *dlog_b = 0;
    return 16.0;
  }
  {
    const float k = -1.0f / (p * (float) G_LN2);        /* d bits / dp */
    if (dx)
      *dx = k * dp_du * sign;
    if (dmu)
      *dmu = -k * dp_du * sign;
    if (dlog_b)
      *dlog_b = clamped ? 0.0f : k * dp_dlb;
  }
  return -log2f (p);
}

/* ---- the ARM in float (training) ------------------------------------------ */

#define ARM_ROW 256             /* columns per row of the latent "image" */

struct _NervGridArm {
  NervModelConfig cfg;
  NervGridLayout lay;
  NervLayerTable t;
  NervScratch *s;
  int a, n_in;
  size_t n, npad;               /* latents, padded to ARM_ROW */
  float *ctx;                   /* [CONTEXT][npad] */
  float *pad;                   /* per plane: its values with 2 rows and 2
                                 * columns of zeros around ([planes] views
                                 * at pad_off) */
  float *rpad;                  /* the same of the reference */
  size_t *pad_off;
  float *dbits;                 /* [3][n] d bits / d (x, mu, log b) */
  float *h1, *h2pre, *h2;       /* [a][npad] */
  float *o;                     /* [2][npad] */
  float *dO, *dh;               /* backward */
  float *dctx;
  float *w0, *gw0;              /* the context part of W0, contiguous */
  const float *coded;
  gboolean have_ref;
};

NervGridArm *
nerv_grid_arm_new (const NervModelConfig * cfg, NervScratch * s)
{
  NervGridArm *a = g_new0 (NervGridArm, 1);
  a->cfg = *cfg;
  a->s = s;
  nerv_grid_layout_init (&a->lay, cfg);
  nerv_model_layers (cfg, &a->t);
  a->a = cfg->arm_c;
  a->n_in = a->t.layer[ARM0].cin;
  a->n = a->lay.size;
  a->npad = (a->n + ARM_ROW - 1) / ARM_ROW * ARM_ROW;
  a->ctx = nerv_alloc_floats (NERV_ARM_CONTEXT * a->npad);
  a->pad_off = g_new (size_t, a->lay.n_planes + 1);
  a->pad_off[0] = 0;
  for (int p = 0; p < a->lay.n_planes; p++)
    a->pad_off[p + 1] = a->pad_off[p] +
        (size_t) (a->lay.w[p] + 4) * (a->lay.h[p] + 4);
  a->pad = nerv_alloc_floats (a->pad_off[a->lay.n_planes]);
  a->rpad = nerv_alloc_floats (a->pad_off[a->lay.n_planes]);
  a->dbits = nerv_alloc_floats (3 * a->n);
  a->h1 = nerv_alloc_floats (a->a * a->npad);
  a->h2pre = nerv_alloc_floats (a->a * a->npad);
  a->h2 = nerv_alloc_floats (a->a * a->npad);
  a->o = nerv_alloc_floats (2 * a->npad);
  a->dO = nerv_alloc_floats (2 * a->npad);
  a->dh = nerv_alloc_floats (a->a * a->npad);
  a->dctx = nerv_alloc_floats (NERV_ARM_CONTEXT * a->npad);
  a->w0 = nerv_alloc_floats ((size_t) a->a * NERV_ARM_CONTEXT);
  a->gw0 = nerv_alloc_floats ((size_t) a->a * NERV_ARM_CONTEXT);
  return a;
}

void
nerv_grid_arm_free (NervGridArm * a)
{
  if (!a)
    return;
  nerv_free (a->ctx);
  g_free (a->pad_off);
  nerv_free (a->pad);
  nerv_free (a->rpad);
  nerv_free (a->dbits);
  nerv_free (a->h1);
  nerv_free (a->h2pre);
  nerv_free (a->h2);
  nerv_free (a->o);
  nerv_free (a->dO);
  nerv_free (a->dh);
  nerv_free (a->dctx);
  nerv_free (a->w0);
  nerv_free (a->gw0);
  g_free (a);
}

/* plane p of v into its padded view (zeros around, as outside a plane) */
static void
arm_pad_plane (const NervGridArm * a, int p, const float *v, float *pad)
{
  const int w = a->lay.w[p], h = a->lay.h[p], pw = w + 4;
  float *d = pad + a->pad_off[p];
  memset (d, 0, sizeof (float) * pw * 2);
  for (int y = 0; y < h; y++) {
    float *row = d + (size_t) (y + 2) * pw;
    row[0] = row[1] = row[w + 2] = row[w + 3] = 0;
    memcpy (row + 2, v + a->lay.off[p] + (size_t) y * w, sizeof (float) * w);
  }
  memset (d + (size_t) (h + 2) * pw, 0, sizeof (float) * pw * 2);
}

typedef struct {
  NervGridArm *a;
  gboolean ref;
} CtxJob;

/* context rows of one plane: ctx[j][i] for its latents i */
static void
ctx_task (gpointer data, int p, int thread)
{
  const CtxJob *cj = data;
  NervGridArm *a = cj->a;
  const int w = a->lay.w[p], h = a->lay.h[p], pw = w + 4;
  const float m = NERV_ARM_MAX_INPUT;

  for (int j = 0; j < NERV_ARM_CONTEXT; j++) {
    const gboolean spatial = j < NERV_ARM_SPATIAL;
    const gint8 *tap = spatial ? nerv_arm_spatial_taps[j] :
        nerv_arm_ref_taps[j - NERV_ARM_SPATIAL];
    const float *src = (spatial ? a->pad : a->rpad) + a->pad_off[p];
    float *dst = a->ctx + (size_t) j * a->npad + a->lay.off[p];
    if (!spatial && !cj->ref) {
      memset (dst, 0, sizeof (float) * w * h);
      continue;
    }
    for (int y = 0; y < h; y++) {
      const float *r = src + (size_t) (y + 2 + tap[0]) * pw + 2 + tap[1];
      float *o = dst + (size_t) y * w;
      for (int x = 0; x < w; x++)
        o[x] = MIN (MAX (r[x], -m), m);
    }
  }
}

/* the context matrix: ctx[j][i] for latent i */
static void
arm_build_context (NervGridArm * a, const float *coded, const float *ref)
{
  CtxJob cj = { a, ref != NULL };
  for (int p = 0; p < a->lay.n_planes; p++) {
    arm_pad_plane (a, p, coded, a->pad);
    if (ref)
      arm_pad_plane (a, p, ref, a->rpad);
  }
  nerv_pool_run (a->s->pool, ctx_task, &cj, a->lay.n_planes);
}

typedef struct {
  NervGridArm *a;
  const float *coded;
  double bits[64];
} BitsJob;

#define BITS_TASKS 64

/* bits of each latent and their derivatives (kept for backward) */
static void
bits_task (gpointer data, int task, int thread)
{
  BitsJob *j = data;
  NervGridArm *a = j->a;
  const size_t n = a->n;
  const size_t i0 = n * task / BITS_TASKS, i1 = n * (task + 1) / BITS_TASKS;
  double sum = 0;
  for (size_t i = i0; i < i1; i++)
    sum += nerv_laplace_bits (j->coded[i], a->o[i], a->o[a->npad + i],
        &a->dbits[i], &a->dbits[n + i], &a->dbits[2 * n + i]);
  j->bits[task] = sum;
}

double
nerv_grid_arm_forward (NervGridArm * a, const float *params,
    const float *coded, const float *ref)
{
  const NervLayerDesc *L = a->t.layer;
  const NervGridLayout *lay = &a->lay;
  const int A = a->a;
  BitsJob bj;
  double bits = 0;

  a->coded = coded;
  a->have_ref = ref != NULL;
  arm_build_context (a, coded, ref);
  /* h1 = clamp (W0 [ctx, onehot] + b0, 0, 64) */
  for (int k = 0; k < A; k++)
    memcpy (a->w0 + (size_t) k * NERV_ARM_CONTEXT,
        params + L[ARM0].w_off + (size_t) k * a->n_in,
        sizeof (float) * NERV_ARM_CONTEXT);
  nerv_thin_pw_forward (a->s, NERV_ARM_CONTEXT, A, a->n, a->w0,
      params + L[ARM0].b_off, a->ctx, a->npad, a->h1, a->npad);
  for (int p = 0; p < lay->n_planes; p++) {
    const int oh = 2 * p + (ref ? 1 : 0);
    const size_t n = (size_t) lay->w[p] * lay->h[p];
    for (int k = 0; k < A; k++) {
      const float off = params[L[ARM0].w_off + (size_t) k * a->n_in +
          NERV_ARM_CONTEXT + oh];
      float *h = a->h1 + (size_t) k * a->npad + lay->off[p];
      for (size_t i = 0; i < n; i++)
        h[i] = CLAMP (h[i] + off, 0.0f, NERV_ARM_MAX_HIDDEN / 256.0f);
    }
  }
  /* h2 = min (relu (W1 h1 + b1) + h1, 64) */
  nerv_thin_pw_forward (a->s, A, A, a->n, params + L[ARM1].w_off,
      params + L[ARM1].b_off, a->h1, a->npad, a->h2pre, a->npad);
  for (size_t i = 0; i < (size_t) A * a->npad; i++)
    a->h2[i] = MIN (MAX (a->h2pre[i], 0.0f) + a->h1[i],
        NERV_ARM_MAX_HIDDEN / 256.0f);
  /* (mu, log b) */
  nerv_thin_pw_forward (a->s, A, 2, a->n, params + L[ARM2].w_off,
      params + L[ARM2].b_off, a->h2, a->npad, a->o, a->npad);
  bj.a = a;
  bj.coded = coded;
  nerv_pool_run (a->s->pool, bits_task, &bj, BITS_TASKS);
  for (int t = 0; t < BITS_TASKS; t++)
    bits += bj.bits[t];
  return bits;
}

const float *
nerv_grid_arm_outputs (NervGridArm * a, size_t * stride)
{
  *stride = a->npad;
  return a->o;
}

void
nerv_grid_arm_backward (NervGridArm * a, const float *params, float scale,
    float *grads, float *dcoded)
{
  const NervLayerDesc *L = a->t.layer;
  const NervGridLayout *lay = &a->lay;
  const int A = a->a;
  const float hmax = NERV_ARM_MAX_HIDDEN / 256.0f;
  const size_t n = a->n;

  /* the latents' own bins, and d(bits)/d(mu, log b) */
  memset (a->dO, 0, sizeof (float) * 2 * a->npad);
  for (size_t i = 0; i < n; i++) {
    if (dcoded)
      dcoded[i] += scale * a->dbits[i];
    a->dO[i] = scale * a->dbits[n + i];
    a->dO[a->npad + i] = scale * a->dbits[2 * n + i];
  }

  /* output layer: dh (at h2) */
#define G(l, o) (grads ? grads + L[l].o : NULL)
  nerv_thin_pw_backward (a->s, A, 2, n, params + L[ARM2].w_off, a->h2,
      a->npad, a->dO, a->npad, G (ARM2, w_off), G (ARM2, b_off), a->dh,
      a->npad);
  /* through the min (.., 64): dh (at h2) -> zero where clamped; then the
   * hidden layer's pre-activation gradient into dO's room is too small,
   * so h2pre's gradient goes to h2 (reused: h2 is not needed further) */
  for (size_t i = 0; i < (size_t) A * a->npad; i++) {
    const gboolean live = MAX (a->h2pre[i], 0.0f) + a->h1[i] < hmax;
    const float g = live ? a->dh[i] : 0.0f;
    a->dh[i] = g;               /* d at h1 through the residual */
    a->h2[i] = a->h2pre[i] > 0.0f ? g : 0.0f;   /* d at h2pre */
  }
  {
    /* dh1 = dh (residual) + W1^T d(h2pre) */
    float *t = a->h2pre;        /* reused as the input gradient */
    nerv_thin_pw_backward (a->s, A, A, n, params + L[ARM1].w_off, a->h1,
        a->npad, a->h2, a->npad, G (ARM1, w_off), G (ARM1, b_off), t,
        a->npad);
    for (size_t i = 0; i < (size_t) A * a->npad; i++) {
      const float g = a->dh[i] + t[i];
      /* through clamp (.., 0, 64) */
      a->dh[i] = a->h1[i] > 0.0f && a->h1[i] < hmax ? g : 0.0f;
    }
  }
  /* the one-hot columns */
  for (int p = 0; grads && p < lay->n_planes; p++) {
    const int oh = 2 * p + (a->have_ref ? 1 : 0);
    const size_t n = (size_t) lay->w[p] * lay->h[p];
    for (int k = 0; k < A; k++) {
      const float *d = a->dh + (size_t) k * a->npad + lay->off[p];
      double sum = 0;
      for (size_t i = 0; i < n; i++)
        sum += d[i];
      grads[L[ARM0].w_off + (size_t) k * a->n_in + NERV_ARM_CONTEXT + oh] +=
          (float) sum;
    }
  }
  /* the context part of W0 (contiguous copy), and d at the contexts */
  for (int k = 0; k < A; k++)
    memcpy (a->w0 + (size_t) k * NERV_ARM_CONTEXT,
        params + L[ARM0].w_off + (size_t) k * a->n_in,
        sizeof (float) * NERV_ARM_CONTEXT);
  memset (a->gw0, 0, sizeof (float) * A * NERV_ARM_CONTEXT);
  nerv_thin_pw_backward (a->s, NERV_ARM_CONTEXT, A, n, a->w0, a->ctx,
      a->npad, a->dh, a->npad, grads ? a->gw0 : NULL, G (ARM0, b_off),
      dcoded ? a->dctx : NULL, a->npad);
#undef G
  for (int k = 0; grads && k < A; k++)
    for (int j = 0; j < NERV_ARM_CONTEXT; j++)
      grads[L[ARM0].w_off + (size_t) k * a->n_in + j] +=
          a->gw0[(size_t) k * NERV_ARM_CONTEXT + j];
  if (!dcoded)
    return;
  /* scatter: tap j of latent i read the latent at i + offset, within
   * +-NERV_ARM_MAX_INPUT (else clamped: no gradient); through the padded
   * view, whose border is dropped */
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p], pw = w + 4;
    const float m = NERV_ARM_MAX_INPUT;
    const float *v = a->pad + a->pad_off[p];
    float *gp = a->rpad + a->pad_off[p];        /* reused: ref is done */
    memset (gp, 0, sizeof (float) * (a->pad_off[p + 1] - a->pad_off[p]));
    for (int j = 0; j < NERV_ARM_SPATIAL; j++) {
      const int dy = nerv_arm_spatial_taps[j][0], dx = nerv_arm_spatial_taps[j][1];
      const float *g = a->dctx + (size_t) j * a->npad + lay->off[p];
      for (int y = 0; y < h; y++) {
        const size_t r = (size_t) (y + 2 + dy) * pw + 2 + dx;
        const float *gy = g + (size_t) y * w;
        for (int x = 0; x < w; x++)
          gp[r + x] += fabsf (v[r + x]) < m ? gy[x] : 0.0f;
      }
    }
    for (int y = 0; y < h; y++) {
      const float *gy = gp + (size_t) (y + 2) * pw + 2;
      float *d = dcoded + lay->off[p] + (size_t) y * w;
      for (int x = 0; x < w; x++)
        d[x] += gy[x];
    }
  }
}
