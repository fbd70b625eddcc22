/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Convolution is im2col + GEMM over bands of output rows: a band's
 * column tile [cin*k*k][npix] is built in per-thread scratch and
 * multiplied by the weight matrix [cout][cin*k*k]. A 1x1 convolution
 * multiplies the input plane directly. The weight gradient is
 * dy[cout][npix] x col^T[npix][cin*k*k], summed over bands through a
 * fixed number of slots (so the sum order does not depend on threads),
 * and the input gradient is a forward convolution of dy with the
 * transposed, flipped kernel (same padding, stride 1).
 */
#include "nerv-layers.h"

#include <math.h>
#include <string.h>

/* Output pixels per band: enough for the GEMM to run at full speed, few
 * enough that several bands keep both cores busy. */
#define BAND_PIXELS 512

NervScratch *
nerv_scratch_new (NervPool * pool, const NervDsp * dsp)
{
  NervScratch *s = g_new0 (NervScratch, 1);
  s->pool = pool;
  s->dsp = dsp ? dsp : nerv_dsp_get ();
  s->n_threads = nerv_pool_n_threads (pool);
  s->col = g_new0 (float *, s->n_threads);
  return s;
}

void
nerv_scratch_free (NervScratch * s)
{
  if (!s)
    return;
  for (int i = 0; i < s->n_threads; i++)
    nerv_free (s->col[i]);
  g_free (s->col);
  nerv_free (s->slots);
  nerv_free (s->wtmp);
  nerv_free (s->pad);
  g_free (s);
}

static int
band_rows (int h, int w)
{
  return CLAMP (BAND_PIXELS / MAX (w, 1), 1, h);
}

void
nerv_scratch_reserve_conv (NervScratch * s, int cin, int cout, int k,
    int height, int width)
{
  const int rows = band_rows (height, width);
  const size_t npix = (size_t) rows * width;
  const size_t kk = (size_t) MAX (cin, cout) * k * k;
  /* col tile + its transpose; also covers one output plane of a shuffle */
  size_t col = MAX (2 * kk * npix, (size_t) height * width);
  size_t slot = (size_t) cout * cin * k * k + cout;
  size_t wt = (size_t) cout * cin * k * k;

  if (col > s->col_size) {
    for (int i = 0; i < s->n_threads; i++) {
      nerv_free (s->col[i]);
      s->col[i] = nerv_alloc_floats (col);
    }
    s->col_size = col;
  }
  if (slot > s->slot_size) {
    nerv_free (s->slots);
    s->slots = nerv_alloc_floats (slot * NERV_REDUCE_SLOTS);
    s->slot_size = slot;
  }
  if (wt > s->wtmp_size) {
    nerv_free (s->wtmp);
    s->wtmp = nerv_alloc_floats (wt);
    s->wtmp_size = wt;
  }
}

/* col[(ci*k+ky)*k+kx][(y-y0)*w+x] = x[ci][y+ky-pad][x+kx-pad], 0 outside */
static void
im2col (const float *src, int cin, int h, int w, int k, int y0, int y1,
    float *col)
{
  const int pad = (k - 1) / 2;
  const size_t npix = (size_t) (y1 - y0) * w;

  for (int ci = 0; ci < cin; ci++) {
    const float *plane = src + (size_t) ci * h * w;
    for (int ky = 0; ky < k; ky++) {
      for (int kx = 0; kx < k; kx++) {
        float *row = col + ((size_t) (ci * k + ky) * k + kx) * npix;
        const int dx = kx - pad;
        const int xa = MAX (0, -dx), xb = MIN (w, w - dx);
        for (int y = y0; y < y1; y++, row += w) {
          const int sy = y + ky - pad;
          if (sy < 0 || sy >= h || xa >= xb) {
            memset (row, 0, sizeof (float) * w);
            continue;
          }
          if (xa > 0)
            memset (row, 0, sizeof (float) * xa);
          memcpy (row + xa, plane + (size_t) sy * w + xa + dx,
              sizeof (float) * (xb - xa));
          if (xb < w)
            memset (row + xb, 0, sizeof (float) * (w - xb));
        }
      }
    }
  }
}

/* dst[c][r] = src[r][c] for a rows x cols matrix with row stride lds,
 * in 8x8 blocks */
static void
transpose (const float *src, ptrdiff_t lds, int rows, int cols, float *dst)
{
  for (int r0 = 0; r0 < rows; r0 += 8) {
    const int r1 = MIN (rows, r0 + 8);
    for (int c0 = 0; c0 < cols; c0 += 8) {
      const int c1 = MIN (cols, c0 + 8);
      for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++)
          dst[(size_t) c * rows + r] = src[r * lds + c];
    }
  }
}

typedef struct {
  NervScratch *s;
  int cin, cout, k, h, w;
  const float *x, *weight, *bias;
  float *y;
  int rows, n_bands, mblock;
} ConvFwdJob;

static void
conv_fwd_task (gpointer data, int task, int thread)
{
  const ConvFwdJob *j = data;
  const int band = task % j->n_bands, mb = task / j->n_bands;
  const int y0 = band * j->rows, y1 = MIN (j->h, y0 + j->rows);
  const int npix = (y1 - y0) * j->w;
  const int m0 = mb * j->mblock, m1 = MIN (j->cout, m0 + j->mblock);
  const int K = j->cin * j->k * j->k;
  const ptrdiff_t plane = (ptrdiff_t) j->h * j->w;
  const float *B;
  ptrdiff_t ldb;
  float *C = j->y + m0 * plane + (ptrdiff_t) y0 * j->w;

  if (j->k == 1) {
    B = j->x + (ptrdiff_t) y0 * j->w;
    ldb = plane;
  } else {
    float *col = j->s->col[thread];
    im2col (j->x, j->cin, j->h, j->w, j->k, y0, y1, col);
    B = col;
    ldb = npix;
  }
  for (int m = m0; m < m1; m++) {
    float *c = C + (m - m0) * plane;
    const float b = j->bias ? j->bias[m] : 0.0f;
    for (int i = 0; i < npix; i++)
      c[i] = b;
  }
  j->s->dsp->sgemm (m1 - m0, npix, K, j->weight + (ptrdiff_t) m0 * K, K,
      B, ldb, C, plane, 1);
}

static void
conv_forward_impl (NervScratch * s, int cin, int cout, int k, const float *x,
    int h, int w, const float *weight, const float *bias, float *y)
{
  ConvFwdJob j = { s, cin, cout, k, h, w, x, weight, bias, y, 0, 0, cout };
  int n_mblocks = 1;

  nerv_scratch_reserve_conv (s, cin, cout, k, h, w);
  j.rows = band_rows (h, w);
  j.n_bands = nerv_ceil_div (h, j.rows);
  /* few pixels but many channels (the first stages): split the channels */
  if (j.n_bands < 2 * s->n_threads && cout >= 48 && s->n_threads > 1) {
    n_mblocks = MIN (nerv_ceil_div (2 * s->n_threads, j.n_bands), cout / 24);
    j.mblock = nerv_ceil_div (cout, n_mblocks);
    j.mblock = nerv_ceil_div (j.mblock, 6) * 6;
    n_mblocks = nerv_ceil_div (cout, j.mblock);
  }
  nerv_pool_run (s->pool, conv_fwd_task, &j, j.n_bands * n_mblocks);
}

void
nerv_conv2d_forward (NervScratch * s, const NervConvShape * c,
    const float *x, int h, int w, const float *weight, const float *bias,
    float *y)
{
  conv_forward_impl (s, c->cin, c->cout, c->k, x, h, w, weight, bias, y);
}

typedef struct {
  NervScratch *s;
  int cin, cout, k, h, w;
  const float *x, *dy;
  int rows, n_bands, n_slots;
  gboolean transposed;          /* slots hold dW^T [K][cout] */
} ConvBwdJob;

/* Sum of n floats with 8 partial sums (the compiler may not reorder a
 * float sum by itself, so it would not vectorise a plain loop). */
static float
sum_floats (const float *p, int n)
{
  float acc[8] = { 0 };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++)
      acc[l] += p[i + l];
  for (; i < n; i++)
    acc[0] += p[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
      ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Weight gradient of the bands of one slot. Wide layers compute
 * dW^T[K][cout] = col[K][npix] x dy^T[npix][cout], transposing the small
 * dy band; narrow ones (the head) dW[cout][K] = dy x col^T, so that the
 * GEMM's N dimension is never tiny. The slot keeps the layout it used;
 * the reduction puts it back to [cout][K]. */
static void
conv_bwd_w_task (gpointer data, int slot, int thread)
{
  const ConvBwdJob *j = data;
  const int K = j->cin * j->k * j->k;
  const ptrdiff_t plane = (ptrdiff_t) j->h * j->w;
  float *gw = j->s->slots + slot * j->s->slot_size;
  float *gb = gw + (size_t) j->cout * K;
  float *col = j->s->col[thread];

  memset (gw, 0, sizeof (float) * ((size_t) j->cout * K + j->cout));
  for (int band = slot; band < j->n_bands; band += j->n_slots) {
    const int y0 = band * j->rows, y1 = MIN (j->h, y0 + j->rows);
    const int npix = (y1 - y0) * j->w;
    const float *dy = j->dy + (ptrdiff_t) y0 * j->w;
    const float *a = col;
    ptrdiff_t lda = npix;
    float *t = col + (size_t) K * npix;

    if (j->k == 1) {
      a = j->x + (ptrdiff_t) y0 * j->w;
      lda = plane;
    } else {
      im2col (j->x, j->cin, j->h, j->w, j->k, y0, y1, col);
    }
    if (j->transposed) {
      transpose (dy, plane, j->cout, npix, t);
      j->s->dsp->sgemm (K, j->cout, npix, a, lda, t, j->cout, gw, j->cout, 1);
    } else {
      transpose (a, lda, K, npix, t);
      j->s->dsp->sgemm (j->cout, K, npix, dy, plane, t, K, gw, K, 1);
    }
    for (int co = 0; co < j->cout; co++)
      gb[co] += sum_floats (dy + co * plane, npix);
  }
}

typedef struct {
  const float *slots;
  size_t slot_size;
  int n_slots;
  int cout, K;
  gboolean transposed;
  float *gw, *gb;
} ReduceJob;

/* gw[co][.] and gb[co] += the slots' sums, in slot order (one task per
 * output channel) */
static void
reduce_task (gpointer data, int co, int thread)
{
  const ReduceJob *r = data;
  const size_t nw = (size_t) r->cout * r->K;
  float *gw = r->gw + (size_t) co * r->K;

  for (int k = 0; k < r->K; k++) {
    const size_t i = r->transposed ? (size_t) k * r->cout + co :
        (size_t) co * r->K + k;
    float acc = 0.0f;
    for (int s = 0; s < r->n_slots; s++)
      acc += r->slots[s * r->slot_size + i];
    gw[k] += acc;
  }
  {
    float acc = 0.0f;
    for (int s = 0; s < r->n_slots; s++)
      acc += r->slots[s * r->slot_size + nw + co];
    r->gb[co] += acc;
  }
}

void
nerv_conv2d_backward (NervScratch * s, const NervConvShape * c,
    const float *x, int h, int w, const float *weight, const float *dy,
    float *gw, float *gb, float *dx)
{
  const int K = c->cin * c->k * c->k;
  ConvBwdJob j = { s, c->cin, c->cout, c->k, h, w, x, dy, 0, 0, 0, FALSE };
  ReduceJob r;

  nerv_scratch_reserve_conv (s, c->cin, c->cout, c->k, h, w);
  j.rows = band_rows (h, w);
  j.n_bands = nerv_ceil_div (h, j.rows);
  j.n_slots = MIN (NERV_REDUCE_SLOTS, j.n_bands);
  j.transposed = c->cout >= 16;
  nerv_pool_run (s->pool, conv_bwd_w_task, &j, j.n_slots);

  r.slots = s->slots;
  r.slot_size = s->slot_size;
  r.n_slots = j.n_slots;
  r.cout = c->cout;
  r.K = K;
  r.transposed = j.transposed;
  r.gw = gw;
  r.gb = gb;
  nerv_pool_run (s->pool, reduce_task, &r, c->cout);

  if (dx) {
    /* wt[ci][co][ky][kx] = w[co][ci][k-1-ky][k-1-kx] */
    const int k = c->k, kk = k * k;
    float *wt = s->wtmp;
    for (int co = 0; co < c->cout; co++)
      for (int ci = 0; ci < c->cin; ci++)
        for (int t = 0; t < kk; t++)
          wt[((size_t) ci * c->cout + co) * kk + t] =
              weight[((size_t) co * c->cin + ci) * kk + (kk - 1 - t)];
    conv_forward_impl (s, c->cout, c->cin, k, dy, h, w, wt, NULL, dx);
  }
}

void
nerv_pixel_shuffle (const float *z, int c, int h, int w, int r, float *y)
{
  const int W = w * r;
  for (int ch = 0; ch < c; ch++)
    for (int i = 0; i < r; i++)
      for (int jx = 0; jx < r; jx++) {
        const float *src = z + ((size_t) (ch * r + i) * r + jx) * h * w;
        for (int yy = 0; yy < h; yy++) {
          float *dst = y + ((size_t) ch * h * r + yy * r + i) * W + jx;
          for (int xx = 0; xx < w; xx++)
            dst[xx * r] = src[yy * w + xx];
        }
      }
}

void
nerv_pixel_unshuffle (const float *y, int c, int h, int w, int r, float *z)
{
  const int W = w * r;
  for (int ch = 0; ch < c; ch++)
    for (int i = 0; i < r; i++)
      for (int jx = 0; jx < r; jx++) {
        float *dst = z + ((size_t) (ch * r + i) * r + jx) * h * w;
        for (int yy = 0; yy < h; yy++) {
          const float *src = y + ((size_t) ch * h * r + yy * r + i) * W + jx;
          for (int xx = 0; xx < w; xx++)
            dst[yy * w + xx] = src[xx * r];
        }
      }
}

typedef struct {
  NervScratch *s;
  const float *a, *b;
  float *out, *out2;
  int c, h, w, r;
} ShuffleJob;

static void
shuffle_gelu_fwd_task (gpointer data, int ch, int thread)
{
  const ShuffleJob *j = data;
  const size_t in_plane = (size_t) j->h * j->w * j->r * j->r;
  float *pre = j->out + ch * in_plane;

  nerv_pixel_shuffle (j->a + ch * in_plane, 1, j->h, j->w, j->r, pre);
  j->s->dsp->gelu_fwd (j->out2 + ch * in_plane, pre, (int) in_plane);
}

void
nerv_shuffle_gelu_forward (NervScratch * s, const float *z, int c, int h,
    int w, int r, float *pre, float *y)
{
  ShuffleJob j = { s, z, NULL, pre, y, c, h, w, r };
  nerv_pool_run (s->pool, shuffle_gelu_fwd_task, &j, c);
}

static void
shuffle_gelu_bwd_task (gpointer data, int ch, int thread)
{
  const ShuffleJob *j = data;
  const size_t plane = (size_t) j->h * j->w * j->r * j->r;
  float *tmp = j->s->col[thread];

  j->s->dsp->gelu_bwd (tmp, j->a + ch * plane, j->b + ch * plane, (int) plane);
  nerv_pixel_unshuffle (tmp, 1, j->h, j->w, j->r, j->out + ch * plane);
}

void
nerv_shuffle_gelu_backward (NervScratch * s, const float *pre,
    const float *dy, int c, int h, int w, int r, float *dz)
{
  ShuffleJob j = { s, pre, dy, dz, NULL, c, h, w, r };
  /* the per-thread tile must hold one output plane */
  nerv_scratch_reserve_conv (s, 1, 1, 1, h * r, w * r);
  nerv_pool_run (s->pool, shuffle_gelu_bwd_task, &j, c);
}

typedef struct {
  const NervDsp *dsp;
  const float *x, *dy;
  float *y;
  size_t n;
  int fwd;
} EwJob;

#define EW_CHUNK 16384

static void
gelu_task (gpointer data, int task, int thread)
{
  const EwJob *j = data;
  const size_t i0 = (size_t) task * EW_CHUNK;
  const int n = (int) MIN ((size_t) EW_CHUNK, j->n - i0);
  if (j->fwd)
    j->dsp->gelu_fwd (j->y + i0, j->x + i0, n);
  else
    j->dsp->gelu_bwd (j->y + i0, j->x + i0, j->dy + i0, n);
}

void
nerv_gelu_forward (NervScratch * s, const float *x, float *y, size_t n)
{
  EwJob j = { s->dsp, x, NULL, y, n, 1 };
  nerv_pool_run (s->pool, gelu_task, &j, (int) ((n + EW_CHUNK - 1) / EW_CHUNK));
}

void
nerv_gelu_backward (NervScratch * s, const float *x, const float *dy,
    float *dx, size_t n)
{
  EwJob j = { s->dsp, x, dy, dx, n, 0 };
  nerv_pool_run (s->pool, gelu_task, &j, (int) ((n + EW_CHUNK - 1) / EW_CHUNK));
}

void
nerv_head_act_forward (const float *x, float *y, size_t n)
{
  for (size_t i = 0; i < n; i++)
    y[i] = 0.5f * tanhf (x[i]) + 0.5f;
}

void
nerv_head_act_backward (const float *y, const float *dy, float *dx, size_t n)
{
  /* d/dx (tanh(x)/2 + 1/2) = (1 - tanh^2)/2 = 2 y (1 - y) */
  for (size_t i = 0; i < n; i++)
    dx[i] = dy[i] * 2.0f * y[i] * (1.0f - y[i]);
}

void
nerv_linear_forward (const NervDsp * dsp, int in, int out, const float *x,
    const float *weight, const float *bias, float *y)
{
  for (int o = 0; o < out; o++) {
    const float *wr = weight + (size_t) o * in;
    float acc = bias ? bias[o] : 0.0f;
    for (int i = 0; i < in; i++)
      acc += wr[i] * x[i];
    y[o] = acc;
  }
}

void
nerv_linear_backward (const NervDsp * dsp, int in, int out, const float *x,
    const float *weight, const float *dy, float *gw, float *gb, float *dx)
{
  if (dx)
    memset (dx, 0, sizeof (float) * in);
  for (int o = 0; o < out; o++) {
    const float d = dy[o];
    float *g = gw + (size_t) o * in;
    const float *wr = weight + (size_t) o * in;
    for (int i = 0; i < in; i++)
      g[i] += d * x[i];
    if (gb)
      gb[o] += d;
    if (dx)
      for (int i = 0; i < in; i++)
        dx[i] += wr[i] * d;
  }
}

void
nerv_positional_encoding (float t, int levels, float *out)
{
  double base = 1.0;
  for (int l = 0; l < levels; l++) {
    const double a = base * G_PI * t;
    out[2 * l] = (float) sin (a);
    out[2 * l + 1] = (float) cos (a);
    base *= 1.25;
  }
}
