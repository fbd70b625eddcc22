/* gst-nerv: every kernel of the DSP table against its C reference
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * checkasm-style: for each level above C that this build and CPU offer,
 * each table entry that differs from the C reference runs on the same
 * random inputs (fixed seed) as the reference, over odd sizes, pointers
 * 0..3 elements past a 64-byte boundary, and with canary bytes around
 * every output that must survive the call. Entries that are the C
 * reference itself at some level (e.g. everything but sgemm in a build
 * without ORC) are skipped and reported, never compared with themselves.
 *
 * Tolerances (errors of the kernel against the C reference):
 *   sgemm     |c - ref| <= 1e-5 * (sum_k |a_ik * b_kj| + |c_ij before|)
 *   gelu_fwd  |y - ref| <= 2e-6 (absolute; x in [-10, 10])
 *   gelu_bwd  |dx - ref| <= 1e-5 * |dy|
 *   adam      |w - ref| <= 1e-6 * |ref| + 1e-37 for w, m and v after each
 *             of several steps (the slack covers flushed denormals; with
 *             the reference's operation order the results are exact)
 *   pw_fwd, pw_grad_w, c3_fwd_row, c3_grad_w_row (thin layers)
 *             |out - ref| <= 1e-5 * (sum of |products| + |value before|)
 *             over the shapes of thin_shapes, odd pixel counts and
 *             padded rows whose NaN padding must not be read
 *   u8_to_f32 and f32_to_u8: bit exact. The kernels use the reference's
 *             sequence (x * 255 + 0.5, clamp, truncate), so ties round
 *             up in both; no tie differences are expected.
 */
#include "nerv-check.h"
#include <libavutil/lfg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nerv-dsp.h"
#include "nerv-thin.h"

#define GUARD 64                /* canary bytes on each side */
#define CANARY 0xa5

static AVLFG lfg;
static char fail_msg[512];
static double worst_abs, worst_ratio;  /* largest error, and / tolerance */
static int fork_mode = 1;

#define FAIL(...) (g_snprintf (fail_msg, sizeof fail_msg, __VA_ARGS__), FALSE)

static float
frand (float lo, float hi)
{
  return lo + (hi - lo) * (float) (av_lfg_get (&lfg) * (1.0 / 4294967296.0));
}

/* ---- guarded buffers ---------------------------------------------------- */

/* n elements of elem bytes starting off elements past a 64-byte boundary,
 * with GUARD canary bytes before and after. */
typedef struct {
  guint8 *base, *p;
  size_t len, total;
} GBuf;

static void *
gbuf_new (GBuf * g, size_t elem, int n, int off)
{
  g->len = elem * n;
  g->total = 2 * GUARD + 3 * elem + g->len;
  g->base = (guint8 *) nerv_alloc_floats ((g->total + 3) / 4);
  memset (g->base, CANARY, g->total);
  g->p = g->base + GUARD + off * elem;
  return g->p;
}

static gboolean
gbuf_ok (const GBuf * g, const char *what)
{
  for (size_t i = 0; i < g->total; i++) {
    const guint8 *q = g->base + i;
    if (q >= g->p && q < g->p + g->len)
      continue;
    if (*q != CANARY)
      return FAIL ("%s: canary overwritten at byte %+td from the start", what,
          q - g->p);
  }
  return TRUE;
}

static void
gbuf_free (GBuf * g)
{
  nerv_free (g->base);
}

/* First element with |got - want| > tol(i), NaN counting as an error. */
static gboolean
compare (const char *what, const float *got, const float *want,
    const float *tol, int n)
{
  for (int i = 0; i < n; i++) {
    const double err = fabs ((double) got[i] - want[i]);
    if (!(err <= tol[i]))
      return FAIL ("%s[%d] = %.9g, reference %.9g (error %.3g > %.3g)", what,
          i, got[i], want[i], err, tol[i]);
    worst_abs = MAX (worst_abs, err);
    if (tol[i] > 0)
      worst_ratio = MAX (worst_ratio, err / tol[i]);
  }
  return TRUE;
}

/* ---- element-wise kernels ------------------------------------------------ */

/* One check of the entry of dsp against the one of ref: n elements (for
 * sgemm: case n) at offset off from a 64-byte boundary; variant selects
 * e.g. in-place. FALSE with fail_msg set on the first error; updates
 * worst_abs and worst_ratio. */
typedef gboolean (*KernelCheck) (const NervDsp * ref, const NervDsp * dsp,
    int n, int off, int variant);

static const float gelu_special[] = { 0.0f, -0.0f, 1e-30f, -1e-30f, 4.0f,
  -4.0f, 9.0f, -9.0f, 10.0f, -10.0f
};

static void
fill_gelu_x (float *x, int n)
{
  for (int i = 0; i < n; i++)
    x[i] = (i % 7 == 3) ? gelu_special[(i / 7) % G_N_ELEMENTS (gelu_special)]
        : frand (-10.0f, 10.0f);
}

static gboolean
check_gelu_fwd (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int inplace)
{
  GBuf gx, gy;
  float *x = gbuf_new (&gx, 4, n, off);
  float *y = gbuf_new (&gy, 4, n, (off + 1) % 4);
  float *want = nerv_alloc_floats (n), *tol = nerv_alloc_floats (n);
  gboolean ok;

  fill_gelu_x (x, n);
  ref->gelu_fwd (want, x, n);
  for (int i = 0; i < n; i++)
    tol[i] = 2e-6f;
  if (inplace) {
    memcpy (y, x, sizeof (float) * n);
    dsp->gelu_fwd (y, y, n);
  } else {
    dsp->gelu_fwd (y, x, n);
  }
  ok = gbuf_ok (&gy, "y") && compare ("y", y, want, tol, n);
  gbuf_free (&gx);
  gbuf_free (&gy);
  nerv_free (want);
  nerv_free (tol);
  return ok;
}

static gboolean
check_gelu_bwd (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int inplace)
{
  GBuf gx, gdy, gdx;
  float *x = gbuf_new (&gx, 4, n, off);
  float *dy = gbuf_new (&gdy, 4, n, (off + 2) % 4);
  float *dx = gbuf_new (&gdx, 4, n, (off + 3) % 4);
  float *want = nerv_alloc_floats (n), *tol = nerv_alloc_floats (n);
  gboolean ok;

  fill_gelu_x (x, n);
  for (int i = 0; i < n; i++) {
    dy[i] = (i % 3 == 0) ? 1.0f : frand (-2.0f, 2.0f);
    tol[i] = 1e-5f * fabsf (dy[i]);
  }
  ref->gelu_bwd (want, x, dy, n);
  if (inplace) {
    memcpy (dx, dy, sizeof (float) * n);
    dsp->gelu_bwd (dx, x, dx, n);
  } else {
    dsp->gelu_bwd (dx, x, dy, n);
  }
  ok = gbuf_ok (&gdx, "dx") && compare ("dx", dx, want, tol, n);
  gbuf_free (&gx);
  gbuf_free (&gdy);
  gbuf_free (&gdx);
  nerv_free (want);
  nerv_free (tol);
  return ok;
}

/* Four Adam steps (bias corrections of t = 1..4) from a random state;
 * both sides keep their own state, so drift would accumulate. */
static gboolean
check_adam (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int variant)
{
  GBuf gw, gm, gv;
  float *w = gbuf_new (&gw, 4, n, off);
  float *m = gbuf_new (&gm, 4, n, (off + 1) % 4);
  float *v = gbuf_new (&gv, 4, n, (off + 2) % 4);
  float *g = nerv_alloc_floats (n + 3) + (off + 3) % 4;
  float *rw = nerv_alloc_floats (n), *rm = nerv_alloc_floats (n);
  float *rv = nerv_alloc_floats (n), *tol = nerv_alloc_floats (n);
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f;
  gboolean ok = TRUE;

  for (int i = 0; i < n; i++) {
    rw[i] = w[i] = frand (-1.0f, 1.0f);
    rm[i] = m[i] = variant ? frand (-0.1f, 0.1f) : 0.0f;
    rv[i] = v[i] = variant ? frand (0.0f, 0.01f) : 0.0f;
  }
  for (int t = 1; ok && t <= 4; t++) {
    const NervAdamStep p = {
      .step = lr / (1.0f - powf (b1, t)),
      .beta1 = b1,.beta2 = b2,
      .vscale = 1.0f / sqrtf (1.0f - powf (b2, t)),
      .eps = 1e-8f,
    };
    for (int i = 0; i < n; i++)
      g[i] = (i % 11 == 5) ? 0.0f : (i % 13 == 7) ? 1e-12f : frand (-1, 1);
    ref->adam (rw, rm, rv, g, n, &p);
    dsp->adam (w, m, v, g, n, &p);
    ok = gbuf_ok (&gw, "w") && gbuf_ok (&gm, "m") && gbuf_ok (&gv, "v");
    for (int k = 0; ok && k < 3; k++) {
      const float *got = k == 0 ? w : k == 1 ? m : v;
      const float *want = k == 0 ? rw : k == 1 ? rm : rv;
      char what[32];
      for (int i = 0; i < n; i++)
        tol[i] = 1e-6f * fabsf (want[i]) + 1e-37f;
      g_snprintf (what, sizeof what, "step %d %c", t, "wmv"[k]);
      ok = compare (what, got, want, tol, n);
    }
  }
  gbuf_free (&gw);
  gbuf_free (&gm);
  gbuf_free (&gv);
  nerv_free (g - (off + 3) % 4);
  nerv_free (rw);
  nerv_free (rm);
  nerv_free (rv);
  nerv_free (tol);
  return ok;
}

static gboolean
check_u8_to_f32 (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int variant)
{
  GBuf gs, gd;
  guint8 *src = gbuf_new (&gs, 1, n, off);
  float *dst = gbuf_new (&gd, 4, n, (off + 1) % 4);
  float *want = nerv_alloc_floats (n);
  gboolean ok = TRUE;

  for (int i = 0; i < n; i++)
    src[i] = (i & 1) ? (guint8) i : (guint8) (av_lfg_get (&lfg) >> 24);
  ref->u8_to_f32 (want, src, n);
  dsp->u8_to_f32 (dst, src, n);
  ok = gbuf_ok (&gd, "dst");
  for (int i = 0; ok && i < n; i++)
    if (memcmp (&dst[i], &want[i], 4))
      ok = FAIL ("dst[%d] = %.9g for %d, reference %.9g", i, dst[i], src[i],
          want[i]);
  gbuf_free (&gs);
  gbuf_free (&gd);
  nerv_free (want);
  return ok;
}

static gboolean
check_f32_to_u8 (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int variant)
{
  static const float special[] = { 0.0f, -0.0f, 1.0f, -1.0f, 2.0f, 0.5f,
    1e30f, -1e30f, 1e-40f, -1e-40f, 0.5f / 255.0f, 254.5f / 255.0f,
    1.5f / 255.0f, 127.5f / 255.0f, INFINITY, -INFINITY, NAN, -NAN
  };
  GBuf gs, gd;
  float *src = gbuf_new (&gs, 4, n, off);
  guint8 *dst = gbuf_new (&gd, 1, n, (off + 1) % 4);
  guint8 *want = g_malloc (n);
  gboolean ok = TRUE;

  for (int i = 0; i < n; i++) {
    const int k = av_lfg_get (&lfg) % 256;
    switch (i % 5) {
      case 0:                  /* near k/255, both sides of the step */
        src[i] = nextafterf ((float) k / 255.0f, (i & 8) ? 2.0f : -1.0f);
        break;
      case 1:                  /* near a tie (k + 0.5) / 255 */
        src[i] = nextafterf ((k + 0.5f) / 255.0f, (i & 8) ? 2.0f : -1.0f);
        if (i & 16)
          src[i] = (k + 0.5f) / 255.0f;
        break;
      case 2:
        src[i] = special[(i / 5) % G_N_ELEMENTS (special)];
        break;
      default:
        src[i] = frand (-0.5f, 1.5f);
    }
  }
  ref->f32_to_u8 (want, src, n);
  dsp->f32_to_u8 (dst, src, n);
  ok = gbuf_ok (&gd, "dst");
  for (int i = 0; ok && i < n; i++)
    if (dst[i] != want[i])
      ok = FAIL ("dst[%d] = %d for %.9g, reference %d", i, dst[i], src[i],
          want[i]);
  gbuf_free (&gs);
  gbuf_free (&gd);
  g_free (want);
  return ok;
}

/* ---- sgemm --------------------------------------------------------------- */

typedef struct {
  int M, N, K;
} Shape;

static const Shape gemm_shapes[] = {
  {1, 1, 1}, {1, 1, 7}, {1, 7, 1}, {7, 1, 1}, {1, 17, 33}, {2, 3, 5},
  {5, 6, 7}, {6, 16, 1}, {6, 16, 16}, {6, 16, 17}, {7, 17, 13}, {12, 32, 4},
  {13, 13, 13}, {16, 16, 16}, {17, 17, 17}, {5, 33, 100}, {33, 5, 100},
  {100, 5, 33}, {6, 100, 257}, {257, 6, 7}, {13, 257, 5}, {1, 257, 257},
  {257, 1, 257}, {257, 257, 1}, {33, 33, 33}, {63, 65, 31}, {100, 100, 100},
  {96, 64, 256}, {97, 65, 257}, {2, 513, 5}, {3, 1030, 9}, {7, 2049, 3},
  {95, 1025, 20}, {7, 48, 300}, {193, 33, 129}, {16, 7, 513}, {100, 257, 17},
  {257, 257, 257}, {31, 1024, 64}, {18, 18, 512},
};

/* Pads after each row of A, B and C (leading dimension minus row length). */
static const int gemm_pads[][3] = {
  {0, 0, 0}, {1, 3, 2}, {5, 1, 7}, {16, 16, 16}, {0, 5, 1},
};

static gboolean
check_sgemm (const NervDsp * ref, const NervDsp * dsp, Shape s,
    const int *pad, int off, int accumulate)
{
  const int M = s.M, N = s.N, K = s.K;
  const ptrdiff_t lda = K + pad[0], ldb = N + pad[1], ldc = N + pad[2];
  const size_t nc = (M - 1) * ldc + N;
  float *a0 = nerv_alloc_floats (M * lda + 3);
  float *b0 = nerv_alloc_floats (K * ldb + 3);
  float *A = a0 + off, *B = b0 + (off + 1) % 4;
  float *cref = nerv_alloc_floats (nc), *tol = nerv_alloc_floats (nc);
  GBuf gc;
  float *C = gbuf_new (&gc, 4, nc, (off + 2) % 4);
  gboolean ok = TRUE;

  /* padding of A and B is NaN: reading it would poison the result */
  for (int i = 0; i < M * lda; i++)
    A[i] = (i % lda < K) ? frand (-1, 1) : NAN;
  for (int i = 0; i < K * ldb; i++)
    B[i] = (i % ldb < N) ? frand (-1, 1) : NAN;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      C[i * ldc + j] = accumulate ? frand (-1, 1) : NAN;
  memcpy (cref, C, sizeof (float) * nc);

  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double bound = accumulate ? fabs (C[i * ldc + j]) : 0.0;
      for (int k = 0; k < K; k++)
        bound += fabs ((double) A[i * lda + k] * B[k * ldb + j]);
      tol[i * ldc + j] = 1e-5 * bound;
    }
  ref->sgemm (M, N, K, A, lda, B, ldb, cref, ldc, accumulate);
  dsp->sgemm (M, N, K, A, lda, B, ldb, C, ldc, accumulate);

  ok = gbuf_ok (&gc, "C");
  for (int i = 0; ok && i < M; i++) {
    char what[48];
    g_snprintf (what, sizeof what, "C row %d", i);
    ok = compare (what, C + i * ldc, cref + i * ldc, tol + i * ldc, N);
    for (int j = N; ok && i + 1 < M && j < ldc; j++)
      if (((guint32 *) C)[i * ldc + j] != 0xa5a5a5a5u)
        ok = FAIL ("padding C[%d][%d] overwritten", i, j);
  }
  gbuf_free (&gc);
  nerv_free (a0);
  nerv_free (b0);
  nerv_free (cref);
  nerv_free (tol);
  return ok;
}

/* Case c: a shape (the fixed list, then random ones made once by
 * make_gemm_cases), pads and offset follow from c; variant = accumulate. */
static Shape gemm_cases[G_N_ELEMENTS (gemm_shapes) + 24];

static void
make_gemm_cases (void)
{
  int n = 0;

  av_lfg_init (&lfg, 0x67656d6d);
  for (size_t i = 0; i < G_N_ELEMENTS (gemm_shapes); i++)
    gemm_cases[n++] = gemm_shapes[i];
  while (n < (int) G_N_ELEMENTS (gemm_cases)) { /* log-uniform sizes */
    const Shape s = { (int) exp2f (frand (0, 8.5f)),
      (int) exp2f (frand (0, 10.5f)), (int) exp2f (frand (0, 9.0f))
    };
    if ((double) s.M * s.N * s.K <= 4e6)
      gemm_cases[n++] = s;
  }
}

static gboolean
check_sgemm_case (const NervDsp * ref, const NervDsp * dsp, int c, int off,
    int accumulate)
{
  const int *pad = gemm_pads[(c + accumulate) % G_N_ELEMENTS (gemm_pads)];
  const Shape s = gemm_cases[c];
  char msg[sizeof fail_msg];

  if (check_sgemm (ref, dsp, s, pad, off, accumulate))
    return TRUE;
  g_strlcpy (msg, fail_msg, sizeof msg);
  return FAIL ("M=%d N=%d K=%d pads=%d,%d,%d accumulate=%d: %s", s.M, s.N,
      s.K, pad[0], pad[1], pad[2], accumulate, msg);
}

/* ---- thin layers --------------------------------------------------------- */

/* (cin, cout) of the thin-layer cases: the synthesis' and the ARM's
 * shapes, and odd ones around the kernels' blocks of 4 and 2 */
static const int thin_shapes[][2] = {
  {1, 1}, {19, 3}, {19, 16}, {16, 16}, {16, 3}, {3, 16}, {55, 8}, {8, 2},
  {5, 7}, {2, 9},
  {33, 33}, {2, 70},            /* the blocked 1x1 gradient's fallback */
};

/* shapes the 3x3 layers do not take (only the 1x1 ones) */
#define THIN_C3_SKIP(cin, cout) \
  ((cin) > NERV_THIN_MAX_C || (cout) > NERV_THIN_MAX_C || (cin) * (cout) > 1024)

/* fail_msg prefixed with the shape */
static gboolean
thin_fail (int cin, int cout)
{
  char msg[sizeof fail_msg];
  g_strlcpy (msg, fail_msg, sizeof msg);
  return FAIL ("cin=%d cout=%d: %s", cin, cout, msg);
}

#define THIN_SHAPES G_N_ELEMENTS (thin_shapes)

/* n floats in [-1, 1] followed by pad NaNs per row, rows rows */
static float *
thin_rows (int rows, int n, int pad, int off)
{
  float *p = nerv_alloc_floats ((size_t) rows * (n + pad) + 4) + off;
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < n + pad; i++)
      p[(size_t) r * (n + pad) + i] = i < n ? frand (-1, 1) : NAN;
  return p;
}

/* the output rows: compared, and their padding and canaries intact */
static gboolean
thin_out_ok (const char *what, const GBuf * g, const float *got,
    const float *want, const float *tol, int rows, int n, ptrdiff_t ld)
{
  gboolean ok = gbuf_ok (g, what);
  for (int r = 0; ok && r < rows; r++) {
    char w[48];
    g_snprintf (w, sizeof w, "%s row %d", what, r);
    ok = compare (w, got + r * ld, want + r * ld, tol + r * ld, n);
    for (ptrdiff_t i = n; ok && r + 1 < rows && i < ld; i++)
      if (((const guint32 *) got)[r * ld + i] != 0xa5a5a5a5u)
        ok = FAIL ("%s padding [%d][%td] overwritten", what, r, i);
  }
  return ok;
}

/* pw_fwd: y = b + w x over n pixels, rows of x and y padded; variant:
 * the shape (odd variants without a bias) */
static gboolean
check_pw_fwd (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int variant)
{
  const int cin = thin_shapes[variant / 2][0];
  const int cout = thin_shapes[variant / 2][1];
  const gboolean bias = variant % 2 == 0;
  const int padx = off + 1, pady = 3 - off;
  const ptrdiff_t ldx = n + padx, ldy = n + pady;
  const size_t ny = (size_t) (cout - 1) * ldy + n;
  float *x = thin_rows (cin, n, padx, off);
  float *w = thin_rows (1, cin * cout, 0, 0), *b = thin_rows (1, cout, 0, 0);
  float *want = nerv_alloc_floats (ny), *tol = nerv_alloc_floats (ny);
  GBuf gy;
  float *y = gbuf_new (&gy, 4, ny, (off + 2) % 4);
  gboolean ok;

  for (int co = 0; co < cout; co++)
    for (int i = 0; i < n; i++) {
      double bound = bias ? fabs (b[co]) : 0;
      for (int ci = 0; ci < cin; ci++)
        bound += fabs ((double) w[co * cin + ci] * x[ci * ldx + i]);
      tol[co * ldy + i] = 1e-5 * bound + 1e-30;
    }
  memcpy (want, y, sizeof (float) * ny);
  ref->pw_fwd (cin, cout, n, w, bias ? b : NULL, x, ldx, want, ldy);
  dsp->pw_fwd (cin, cout, n, w, bias ? b : NULL, x, ldx, y, ldy);
  ok = thin_out_ok ("y", &gy, y, want, tol, cout, n, ldy);
  if (!ok) {
    char msg[sizeof fail_msg];
    g_strlcpy (msg, fail_msg, sizeof msg);
    (void) FAIL ("cin=%d cout=%d bias=%d: %s", cin, cout, bias, msg);
  }
  gbuf_free (&gy);
  nerv_free (x - off);
  nerv_free (w);
  nerv_free (b);
  nerv_free (want);
  nerv_free (tol);
  return ok;
}

/* pw_grad_w: gw += dy x^T and gb += the sums of dy, onto random values */
static gboolean
check_pw_grad_w (const NervDsp * ref, const NervDsp * dsp, int n, int off,
    int variant)
{
  const int cin = thin_shapes[variant][0], cout = thin_shapes[variant][1];
  const ptrdiff_t ldx = n + 2 + off, lddy = n + 3 - off;
  const int nw = cin * cout;
  float *x = thin_rows (cin, n, ldx - n, off);
  float *dy = thin_rows (cout, n, lddy - n, (off + 1) % 4);
  float *want = thin_rows (1, nw + cout, 0, 0);
  float *tol = nerv_alloc_floats (nw + cout);
  GBuf gg;
  float *g = gbuf_new (&gg, 4, nw + cout, (off + 3) % 4);
  gboolean ok;

  memcpy (g, want, sizeof (float) * (nw + cout));
  for (int co = 0; co < cout; co++) {
    double bb = fabs (want[nw + co]);
    for (int i = 0; i < n; i++)
      bb += fabs (dy[co * lddy + i]);
    tol[nw + co] = 1e-5 * bb;
    for (int ci = 0; ci < cin; ci++) {
      double bound = fabs (want[co * cin + ci]);
      for (int i = 0; i < n; i++)
        bound += fabs ((double) dy[co * lddy + i] * x[ci * ldx + i]);
      tol[co * cin + ci] = 1e-5 * bound;
    }
  }
  ref->pw_grad_w (cin, cout, n, x, ldx, dy, lddy, want, want + nw);
  dsp->pw_grad_w (cin, cout, n, x, ldx, dy, lddy, g, g + nw);
  ok = gbuf_ok (&gg, "gw") && compare ("gw", g, want, tol, nw) &&
      compare ("gb", g + nw, want + nw, tol + nw, cout);
  if (!ok)
    thin_fail (cin, cout);
  gbuf_free (&gg);
  nerv_free (x - off);
  nerv_free (dy - (off + 1) % 4);
  nerv_free (want);
  nerv_free (tol);
  return ok;
}

/* 3*cin padded input rows of width + 2 (column -1 first), each from its
 * own allocation at its own offset */
static const float **
c3_rows (int cin, int width, int off)
{
  const float **rows = g_new (const float *, 3 * cin);
  for (int r = 0; r < 3 * cin; r++)
    rows[r] = thin_rows (1, width + 2, 0, (off + r) % 4);
  return rows;
}

static void
c3_rows_free (const float **rows, int cin, int off)
{
  for (int r = 0; r < 3 * cin; r++)
    nerv_free ((float *) rows[r] - (off + r) % 4);
  g_free (rows);
}

/* c3_fwd_row: one output row of a 3x3 convolution; variant: the shape */
static gboolean
check_c3_fwd_row (const NervDsp * ref, const NervDsp * dsp, int width,
    int off, int variant)
{
  const int cin = thin_shapes[variant][0], cout = thin_shapes[variant][1];
  const float **rows;
  float *w, *b, *want, *tol, *got;
  float *wrow[NERV_THIN_MAX_C], *grow[NERV_THIN_MAX_C];
  GBuf gy;
  gboolean ok;

  if (THIN_C3_SKIP (cin, cout))
    return TRUE;
  rows = c3_rows (cin, width, off);
  w = thin_rows (1, cout * cin * 9, 0, 0);
  b = thin_rows (1, cout, 0, 0);
  want = nerv_alloc_floats ((size_t) cout * width);
  tol = nerv_alloc_floats ((size_t) cout * width);
  got = gbuf_new (&gy, 4, cout * width, off);
  for (int co = 0; co < cout; co++) {
    wrow[co] = want + (size_t) co * width;
    grow[co] = got + (size_t) co * width;
    for (int c = 0; c < width; c++) {
      double bound = fabs (b[co]);
      for (int r = 0; r < 3 * cin; r++)
        for (int k = 0; k < 3; k++)
          bound += fabs ((double) w[(co * cin + r / 3) * 9 + r % 3 * 3 + k] *
              rows[r][c + k]);
      tol[co * width + c] = 1e-5 * bound;
    }
  }
  ref->c3_fwd_row (cin, cout, width, w, b, rows, wrow);
  dsp->c3_fwd_row (cin, cout, width, w, b, rows, grow);
  ok = gbuf_ok (&gy, "out") && compare ("out", got, want, tol, cout * width);
  if (!ok)
    thin_fail (cin, cout);
  gbuf_free (&gy);
  c3_rows_free (rows, cin, off);
  nerv_free (w);
  nerv_free (b);
  nerv_free (want);
  nerv_free (tol);
  return ok;
}

/* c3_grad_w_row: the 3x3 weight and bias gradients of one row, onto
 * random values */
static gboolean
check_c3_grad_w_row (const NervDsp * ref, const NervDsp * dsp, int width,
    int off, int variant)
{
  const int cin = thin_shapes[variant][0], cout = thin_shapes[variant][1];
  const int nw = cout * cin * 9;
  const float **rows, **dy;
  float *want, *tol, *g;
  GBuf gg;
  gboolean ok;

  if (THIN_C3_SKIP (cin, cout))
    return TRUE;
  rows = c3_rows (cin, width, off);
  dy = g_new (const float *, cout);
  for (int co = 0; co < cout; co++)
    dy[co] = thin_rows (1, width, 0, (off + co + 1) % 4);
  want = thin_rows (1, nw + cout, 0, 0);
  tol = nerv_alloc_floats (nw + cout);
  g = gbuf_new (&gg, 4, nw + cout, (off + 1) % 4);
  memcpy (g, want, sizeof (float) * (nw + cout));
  for (int co = 0; co < cout; co++) {
    double bb = fabs (want[nw + co]);
    for (int c = 0; c < width; c++)
      bb += fabs (dy[co][c]);
    tol[nw + co] = 1e-5 * bb;
    for (int r = 0; r < 3 * cin; r++)
      for (int k = 0; k < 3; k++) {
        const int i = (co * cin + r / 3) * 9 + r % 3 * 3 + k;
        double bound = fabs (want[i]);
        for (int c = 0; c < width; c++)
          bound += fabs ((double) dy[co][c] * rows[r][c + k]);
        tol[i] = 1e-5 * bound;
      }
  }
  ref->c3_grad_w_row (cin, cout, width, rows, dy, want, want + nw);
  dsp->c3_grad_w_row (cin, cout, width, rows, dy, g, g + nw);
  ok = gbuf_ok (&gg, "gw") && compare ("gw", g, want, tol, nw) &&
      compare ("gb", g + nw, want + nw, tol + nw, cout);
  if (!ok)
    thin_fail (cin, cout);
  gbuf_free (&gg);
  c3_rows_free (rows, cin, off);
  for (int co = 0; co < cout; co++)
    nerv_free ((float *) dy[co] - (off + co + 1) % 4);
  g_free (dy);
  nerv_free (want);
  nerv_free (tol);
  return ok;
}

/* ---- running over levels and sizes --------------------------------------- */

static const int ew_sizes[] = { 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33,
  63, 64, 100, 255, 256, 257, 511, 513, 1000, 4097
};

/* pixels (or row widths) of the thin-layer kernels: around their
 * vector width 8, pixel block 16 and gradient tile 256 */
static const int thin_sizes[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100,
  255, 256, 257, 320, 513, 2049
};

typedef struct {
  const char *name;
  size_t field;                 /* offset of the entry in NervDsp */
  KernelCheck check;
  const int *sizes;             /* n for each run; NULL: 0..n_sizes-1 */
  int n_sizes;
  int all_offsets;              /* each size at offsets 0..3, or one */
  int variants;
} Kernel;

#define ENTRY(e) #e, G_STRUCT_OFFSET (NervDsp, e)
#define EW_SIZES ew_sizes, G_N_ELEMENTS (ew_sizes), 1

static const Kernel kernels[] = {
  {ENTRY (gelu_fwd), check_gelu_fwd, EW_SIZES, 2},      /* 1: y == x */
  {ENTRY (gelu_bwd), check_gelu_bwd, EW_SIZES, 2},      /* 1: dx == dy */
  {ENTRY (adam), check_adam, EW_SIZES, 2},      /* 1: non-zero moments */
  {ENTRY (u8_to_f32), check_u8_to_f32, EW_SIZES, 1},
  {ENTRY (f32_to_u8), check_f32_to_u8, EW_SIZES, 1},
  {ENTRY (sgemm), check_sgemm_case, NULL, G_N_ELEMENTS (gemm_cases), 0, 2},
  {ENTRY (pw_fwd), check_pw_fwd, thin_sizes, G_N_ELEMENTS (thin_sizes), 1,
      2 * THIN_SHAPES},         /* shape and bias */
  {ENTRY (pw_grad_w), check_pw_grad_w, thin_sizes, G_N_ELEMENTS (thin_sizes),
      1, THIN_SHAPES},
  {ENTRY (c3_fwd_row), check_c3_fwd_row, thin_sizes,
      G_N_ELEMENTS (thin_sizes), 1, THIN_SHAPES},
  {ENTRY (c3_grad_w_row), check_c3_grad_w_row, thin_sizes,
      G_N_ELEMENTS (thin_sizes), 1, THIN_SHAPES},
};

/* Is the entry at byte offset field the same function in a and b? */
static gboolean
same_entry (const NervDsp * a, const NervDsp * b, size_t field)
{
  return !memcmp ((const char *) a + field, (const char *) b + field,
      sizeof (void (*)(void)));
}

/* One kernel at every level above C, over its sizes, offsets and variants,
 * with the same inputs at every level; fails with the first message. */
START_TEST (test_kernel)
{
  const Kernel *k = &kernels[_i];
  NervDsp ref, dsp;

  nerv_dsp_init (&ref, NERV_DSP_C);
  for (int l = NERV_DSP_C + 1; l <= (int) nerv_dsp_max_level (); l++) {
    const char *lname = nerv_dsp_level_name (l);

    if ((int) nerv_dsp_init (&dsp, l) != l)
      continue;
    if (same_entry (&ref, &dsp, k->field)) {
      printf ("%s [%s]: the C reference, skipped\n", k->name, lname);
      continue;
    }
    av_lfg_init (&lfg, 0x6e657276);
    worst_abs = worst_ratio = 0.0;
    for (int s = 0; s < k->n_sizes; s++)
      for (int o = 0; o < (k->all_offsets ? 4 : 1); o++)
        for (int v = 0; v < k->variants; v++) {
          const int n = k->sizes ? k->sizes[s] : s;
          const int off = k->all_offsets ? o : (s + 2 * v) % 4;
          if (!k->check (&ref, &dsp, n, off, v))
            ck_abort_msg ("%s [%s] %s=%d offset=%d variant=%d: %s", k->name,
                lname, k->sizes ? "n" : "case", n, off, v, fail_msg);
        }
    printf ("%s [%s]: max error %.3g (%.2f of the tolerance)\n", k->name,
        lname, worst_abs, worst_ratio);
  }
}
END_TEST;

/* ---- the table itself ---------------------------------------------------- */

static void
assert_complete (const NervDsp * d)
{
  ck_assert (d->sgemm && d->gelu_fwd && d->gelu_bwd && d->adam);
  ck_assert (d->u8_to_f32 && d->f32_to_u8 && d->sgemm_name);
  ck_assert (d->pw_fwd && d->pw_grad_w && d->c3_fwd_row && d->c3_grad_w_row);
}

START_TEST (test_levels)
{
  const NervDspLevel max = nerv_dsp_max_level ();
  NervDsp d;

  for (int l = NERV_DSP_C; l <= (int) max + 1; l++) {
    NervDspLevel got = nerv_dsp_init (&d, l);
    ck_assert_int_le (got, l);
    ck_assert_int_eq (got, MIN (l, (int) max));
    ck_assert_int_eq (d.level, got);
    assert_complete (&d);
  }
  nerv_dsp_init (&d, NERV_DSP_C);
  ck_assert (d.sgemm == nerv_sgemm_c && d.gelu_fwd == nerv_gelu_fwd_c);
  ck_assert (d.adam == nerv_adam_c && d.f32_to_u8 == nerv_f32_to_u8_c);
}
END_TEST;

/* NERV_DSP=<level name> caps the process-wide table. nerv_dsp_get() is
 * initialised once per process, so this needs Check's fork mode: each
 * loop iteration is a fresh child. */
START_TEST (test_env_cap)
{
  const NervDspLevel max = nerv_dsp_max_level ();
  const NervDsp *d;

  if (!fork_mode)
    return;
  g_setenv ("NERV_DSP", nerv_dsp_level_name (_i), TRUE);
  d = nerv_dsp_get ();
  ck_assert_int_le (d->level, _i);
  ck_assert_int_eq (d->level, MIN (_i, (int) max));
  assert_complete (d);
}
END_TEST;

/* ---- the checks can fail ------------------------------------------------- */

static void
gelu_fwd_overrun (float *y, const float *x, int n)
{
  nerv_gelu_fwd_c (y, x, n + 1);        /* writes one element too many */
}

static void
gelu_fwd_off (float *y, const float *x, int n)
{
  nerv_gelu_fwd_c (y, x, n);
  y[n / 2] += 4e-6f;
}

static void
sgemm_pad (int M, int N, int K, const float *A, ptrdiff_t lda,
    const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
  nerv_sgemm_c (M, N + 1, K, A, lda, B, ldb, C, ldc, accumulate);
}

/* differs from the reference only at exact ties (2.5 -> 2) */
static void
f32_to_u8_lrint (guint8 * dst, const float *src, int n)
{
  for (int i = 0; i < n; i++) {
    const float t = src[i] * 255.0f;
    dst[i] = (guint8) lrintf (t == t ? CLAMP (t, 0.0f, 255.0f) : 0.0f);
  }
}

START_TEST (test_checks_fail)
{
  NervDsp ref, bad;
  const Shape s = { 3, 5, 4 };
  const int pad[3] = { 1, 1, 1 };

  av_lfg_init (&lfg, 1);
  nerv_dsp_init (&ref, NERV_DSP_C);
  bad = ref;
  bad.gelu_fwd = gelu_fwd_overrun;
  ck_assert (!check_gelu_fwd (&ref, &bad, 17, 1, 0));
  ck_assert (strstr (fail_msg, "canary"));
  bad.gelu_fwd = gelu_fwd_off;
  ck_assert (!check_gelu_fwd (&ref, &bad, 17, 1, 1));
  ck_assert (strstr (fail_msg, "reference"));
  bad.sgemm = sgemm_pad;
  ck_assert (!check_sgemm (&ref, &bad, s, pad, 1, 1));
  bad.f32_to_u8 = f32_to_u8_lrint;
  ck_assert (!check_f32_to_u8 (&ref, &bad, 1000, 0, 0));
  /* and the reference passes its own checks */
  ck_assert (check_gelu_fwd (&ref, &ref, 17, 1, 1));
  ck_assert (check_sgemm (&ref, &ref, s, pad, 1, 1));
}
END_TEST;

static Suite *
dsp_suite (void)
{
  Suite *s = suite_create ("dsp");
  TCase *tc = tcase_create ("kernels");
  TCase *tt = tcase_create ("table");

  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_kernel, 0, G_N_ELEMENTS (kernels));
  suite_add_tcase (s, tc);
  tcase_add_test (tt, test_levels);
  tcase_add_loop_test (tt, test_env_cap, NERV_DSP_C,
      nerv_dsp_max_level () + 1);
  tcase_add_test (tt, test_checks_fail);
  suite_add_tcase (s, tt);
  return s;
}

/* test_env_cap needs the fork mode; the random GEMM shapes are made once */
static void
before_run (SRunner * sr)
{
  fork_mode = srunner_fork_status (sr) != CK_NOFORK;
  make_gemm_cases ();
}

NERV_CHECK_MAIN_WITH_SETUP (dsp, before_run);
