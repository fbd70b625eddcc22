/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Kernels of thin layers (a few channels over many pixels: the latent
 * model's synthesis and ARM), single-threaded on a range; nerv-thin.c
 * splits the work. Compiled twice (common/meson.build): as the C
 * reference (the plain loops below, the build's flags) and for AVX2+FMA
 * (-mavx2 -mfma -O3 -ffp-contract=fast, NERV_THIN_BLOCKED), called only on
 * CPUs that have it, where the same sums are register-blocked: several
 * output channels share each load of an input row, and the weight
 * gradients keep a block of (output, input) channel pairs in vector
 * accumulators over a tile of pixels that stays in L1. The two agree to
 * rounding (test-dsp, "thin" kernels).
 */
#include "nerv-dsp.h"

#include <string.h>

#ifndef NERV_THIN_NAME
#error "build with -DNERV_THIN_NAME=c|avx2"
#endif

#define PASTE2(a, b) a ## b
#define PASTE(a, b) PASTE2 (a, b)
#define FN(name) PASTE (name ## _, NERV_THIN_NAME)
#define CHUNK 64


/* ---- the C reference (also the blocked kernels' tails) ---------------- */
/* y[co][i] = b[co] + sum_ci w[co][ci] x[ci][i], i < n (b may be NULL) */
static void
ref_pw_fwd (int cin, int cout, int n, const float *w, const float *b,
    const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy)
{
  for (int i0 = 0; i0 < n; i0 += CHUNK) {
    const int m = MIN (CHUNK, n - i0);
    for (int co = 0; co < cout; co++) {
      float acc[CHUNK];
      const float bias = b ? b[co] : 0.0f;
      const float *wr = w + (size_t) co * cin;
      for (int i = 0; i < m; i++)
        acc[i] = bias;
      for (int ci = 0; ci < cin; ci++) {
        const float wv = wr[ci];
        const float *xr = x + ci * ldx + i0;
        for (int i = 0; i < m; i++)
          acc[i] += wv * xr[i];
      }
      memcpy (y + co * ldy + i0, acc, sizeof (float) * m);
    }
  }
}

/* gw[co][ci] += sum_i dy[co][i] x[ci][i]; gb[co] += sum_i dy[co][i] */
static void
ref_pw_grad_w (int cin, int cout, int n, const float *x, ptrdiff_t ldx,
    const float *dy, ptrdiff_t lddy, float *gw, float *gb)
{
  for (int co = 0; co < cout; co++) {
    const float *d = dy + co * lddy;
    float s[8] = { 0 };
    int i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; l++)
        s[l] += d[i + l];
    for (; i < n; i++)
      s[0] += d[i];
    gb[co] += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (int ci = 0; ci < cin; ci++) {
      const float *xr = x + ci * ldx;
      float t[8] = { 0 };
      for (i = 0; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
          t[l] += d[i + l] * xr[i + l];
      for (; i < n; i++)
        t[0] += d[i] * xr[i];
      gw[(size_t) co * cin + ci] += ((t[0] + t[1]) + (t[2] + t[3])) +
          ((t[4] + t[5]) + (t[6] + t[7]));
    }
  }
}

/* One output row of a 3x3 convolution: out[co][c] = b[co] + sum_ci,ky,kx
 * w[co][ci][ky][kx] rows[ci*3+ky][c+kx], c < width; each row is padded
 * (width + 2 values, the first at column -1). */
static void
ref_c3_fwd_row (int cin, int cout, int width, const float *w, const float *b,
    const float *const *rows, float *const *out)
{
  for (int co = 0; co < cout; co++) {
    float *o = out[co];
    const float bias = b ? b[co] : 0.0f;
    for (int c = 0; c < width; c++)
      o[c] = bias;
    for (int ci = 0; ci < cin; ci++)
      for (int ky = 0; ky < 3; ky++) {
        const float *k = w + ((size_t) (co * cin + ci) * 3 + ky) * 3;
        const float k0 = k[0], k1 = k[1], k2 = k[2];
        const float *p = rows[ci * 3 + ky];
        for (int c = 0; c < width; c++)
          o[c] += k0 * p[c] + k1 * p[c + 1] + k2 * p[c + 2];
      }
  }
}

/* gw[co][ci][ky][kx] += sum_c dy[co][c] rows[ci*3+ky][c+kx];
 * gb[co] += sum_c dy[co][c] */
static void
ref_c3_grad_w_row (int cin, int cout, int width, const float *const *rows,
    const float *const *dy, float *gw, float *gb)
{
  for (int co = 0; co < cout; co++) {
    const float *d = dy[co];
    float s = 0;
    for (int c = 0; c < width; c++)
      s += d[c];
    gb[co] += s;
    for (int ci = 0; ci < cin; ci++)
      for (int ky = 0; ky < 3; ky++) {
        const float *p = rows[ci * 3 + ky];
        float *g = gw + ((size_t) (co * cin + ci) * 3 + ky) * 3;
        float t0 = 0, t1 = 0, t2 = 0;
        for (int c = 0; c < width; c++) {
          t0 += d[c] * p[c];
          t1 += d[c] * p[c + 1];
          t2 += d[c] * p[c + 2];
        }
        g[0] += t0;
        g[1] += t1;
        g[2] += t2;
      }
  }
}


#ifdef NERV_THIN_BLOCKED

/* VW floats a vector: GCC's vector extension, 8 wide with -mavx2 */
#define VW 8
typedef float vf __attribute__((vector_size (VW * 4)));
typedef float vfu __attribute__((vector_size (VW * 4), aligned (4)));

static inline vf
ld (const float *p)
{
  return *(const vfu *) p;
}

static inline void
st (float *p, vf v)
{
  *(vfu *) p = v;
}

static inline float
hsum (vf v)
{
  float s = 0;
  for (int l = 0; l < VW; l++)
    s += v[l];
  return s;
}

#define PB (2 * VW)             /* pixels of a forward block */

/* PB pixels of CB output channels from co: a CB x 2 block of vector
 * accumulators over the input channels */
#define PW_BLOCK(CB) \
static inline void \
pw_block ## CB (int cin, const float *w, const float *b, const float *x, \
    ptrdiff_t ldx, float *y, ptrdiff_t ldy) \
{ \
  vf a[CB][2]; \
  for (int k = 0; k < CB; k++) \
    a[k][0] = a[k][1] = (vf) { 0 } + (b ? b[k] : 0.0f); \
  for (int ci = 0; ci < cin; ci++) { \
    const vf x0 = ld (x + ci * ldx), x1 = ld (x + ci * ldx + VW); \
    for (int k = 0; k < CB; k++) { \
      const float wv = w[(size_t) k * cin + ci]; \
      a[k][0] += wv * x0; \
      a[k][1] += wv * x1; \
    } \
  } \
  for (int k = 0; k < CB; k++) { \
    st (y + k * ldy, a[k][0]); \
    st (y + k * ldy + VW, a[k][1]); \
  } \
}
PW_BLOCK (4)
PW_BLOCK (1)
#undef PW_BLOCK

static void
FN (pw_fwd) (int cin, int cout, int n, const float *w, const float *b,
    const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy)
{
  int i0 = 0;
  for (; i0 + PB <= n; i0 += PB) {
    int co = 0;
    for (; co + 4 <= cout; co += 4)
      pw_block4 (cin, w + (size_t) co * cin, b ? b + co : NULL, x + i0, ldx,
          y + co * ldy + i0, ldy);
    for (; co < cout; co++)
      pw_block1 (cin, w + (size_t) co * cin, b ? b + co : NULL, x + i0, ldx,
          y + co * ldy + i0, ldy);
  }
  if (i0 < n)
    ref_pw_fwd (cin, cout, n - i0, w, b, x + i0, ldx, y + i0, ldy);
}

#define TILE 256                /* pixels of a gradient tile (L1) */

/* over pixels [i0, i1): acc[k][j] += dy[co+k] * x[ci+j], vectors */
#define PW_GRAD_BLOCK(KB, JB) \
static inline void \
pw_grad_block ## KB ## x ## JB (int i0, int i1, const float *const *d, \
    const float *const *xr, vf (*acc)[JB]) \
{ \
  vf a[KB][JB]; \
  for (int k = 0; k < KB; k++) \
    for (int j = 0; j < JB; j++) \
      a[k][j] = acc[k][j]; \
  for (int i = i0; i < i1; i += VW) { \
    vf xv[JB]; \
    for (int j = 0; j < JB; j++) \
      xv[j] = ld (xr[j] + i); \
    for (int k = 0; k < KB; k++) { \
      const vf dv = ld (d[k] + i); \
      for (int j = 0; j < JB; j++) \
        a[k][j] += dv * xv[j]; \
    } \
  } \
  for (int k = 0; k < KB; k++) \
    for (int j = 0; j < JB; j++) \
      acc[k][j] = a[k][j]; \
}
PW_GRAD_BLOCK (4, 2)
PW_GRAD_BLOCK (1, 2)
PW_GRAD_BLOCK (4, 1)
PW_GRAD_BLOCK (1, 1)
#undef PW_GRAD_BLOCK

#define MAX_ACC 1024            /* (co, ci) pairs kept in vectors */
#define MAX_COUT 64

static void
FN (pw_grad_w) (int cin, int cout, int n, const float *x, ptrdiff_t ldx,
    const float *dy, ptrdiff_t lddy, float *gw, float *gb)
{
  const int nv = n / VW * VW;   /* the vector part; the rest is scalar */

  /* [co][ci] vector accumulators over the whole range, then one
   * horizontal sum each; larger layers go by the reference */
  if ((size_t) cin * cout > MAX_ACC || cout > MAX_COUT) {
    ref_pw_grad_w (cin, cout, n, x, ldx, dy, lddy, gw, gb);
    return;
  }
  {
    vf acc[MAX_ACC], accb[MAX_COUT];
    for (int k = 0; k < cin * cout; k++)
      acc[k] = (vf) { 0 };
    for (int co = 0; co < cout; co++)
      accb[co] = (vf) { 0 };
    for (int t0 = 0; t0 < nv; t0 += TILE) {
      const int t1 = MIN (nv, t0 + TILE);
      for (int co = 0; co < cout; co++) {
        const float *d = dy + co * lddy;
        vf s = accb[co];
        for (int i = t0; i < t1; i += VW)
          s += ld (d + i);
        accb[co] = s;
      }
      for (int co = 0; co < cout;) {
        const int kb = co + 4 <= cout ? 4 : 1;
        const float *d[4];
        for (int k = 0; k < kb; k++)
          d[k] = dy + (co + k) * lddy;
        for (int ci = 0; ci < cin;) {
          const int jb = ci + 2 <= cin ? 2 : 1;
          const float *xr[2] = { x + ci * ldx, x + (ci + jb - 1) * ldx };
          vf blk[4][2];
          for (int k = 0; k < kb; k++)
            for (int j = 0; j < jb; j++)
              blk[k][j] = acc[(co + k) * cin + ci + j];
          if (kb == 4 && jb == 2)
            pw_grad_block4x2 (t0, t1, d, xr, blk);
          else if (kb == 4) {
            vf b1[4][1] = { {blk[0][0]}, {blk[1][0]}, {blk[2][0]},
            {blk[3][0]}
            };
            pw_grad_block4x1 (t0, t1, d, xr, b1);
            for (int k = 0; k < 4; k++)
              blk[k][0] = b1[k][0];
          } else if (jb == 2)
            pw_grad_block1x2 (t0, t1, d, xr, blk);
          else
            pw_grad_block1x1 (t0, t1, d, xr, (vf (*)[1]) blk);
          for (int k = 0; k < kb; k++)
            for (int j = 0; j < jb; j++)
              acc[(co + k) * cin + ci + j] = blk[k][j];
          ci += jb;
        }
        co += kb;
      }
    }
    for (int co = 0; co < cout; co++) {
      const float *d = dy + co * lddy;
      float s = hsum (accb[co]);
      for (int i = nv; i < n; i++)
        s += d[i];
      gb[co] += s;
      for (int ci = 0; ci < cin; ci++) {
        float t = hsum (acc[co * cin + ci]);
        for (int i = nv; i < n; i++)
          t += d[i] * x[ci * ldx + i];
        gw[(size_t) co * cin + ci] += t;
      }
    }
  }
}

/* One output row of a 3x3 convolution (as the reference's): each input
 * row's three shifted vectors feed up to 4 output channels at once */
static void
FN (c3_fwd_row) (int cin, int cout, int width, const float *w, const float *b,
    const float *const *rows, float *const *out)
{
  int c0 = 0;
  for (; c0 + VW <= width; c0 += VW) {
    for (int co = 0; co < cout; co += 4) {
      const int kb = MIN (4, cout - co);
      vf a[4];
      for (int k = 0; k < kb; k++)
        a[k] = (vf) { 0 } + (b ? b[co + k] : 0.0f);
      for (int r = 0; r < 3 * cin; r++) {
        const float *p = rows[r] + c0;
        const vf p0 = ld (p), p1 = ld (p + 1), p2 = ld (p + 2);
        const int ci = r / 3, ky = r % 3;
        for (int k = 0; k < kb; k++) {
          const float *kk = w + ((size_t) ((co + k) * cin + ci) * 3 + ky) * 3;
          a[k] += kk[0] * p0 + kk[1] * p1 + kk[2] * p2;
        }
      }
      for (int k = 0; k < kb; k++)
        st (out[co + k] + c0, a[k]);
    }
  }
  if (c0 < width) {             /* the last columns by the reference */
    const float *r2[3 * MAX_COUT];
    float *o2[MAX_COUT];
    for (int r = 0; r < 3 * cin; r++)
      r2[r] = rows[r] + c0;
    for (int co = 0; co < cout; co++)
      o2[co] = out[co] + c0;
    ref_c3_fwd_row (cin, cout, width - c0, w, b, r2, o2);
  }
}

/* its weight gradient: for each input row, the three shifted vectors
 * against up to 4 output channels' dy, in vector accumulators over the
 * row */
static void
FN (c3_grad_w_row) (int cin, int cout, int width, const float *const *rows,
    const float *const *dy, float *gw, float *gb)
{
  const int wv = width / VW * VW;

  for (int co = 0; co < cout; co++) {
    const float *d = dy[co];
    vf s = { 0 };
    for (int c = 0; c < wv; c += VW)
      s += ld (d + c);
    gb[co] += hsum (s);
  }
  for (int co = 0; co < cout; co += 4) {
    const int kb = MIN (4, cout - co);
    for (int r = 0; r < 3 * cin; r++) {
      const float *p = rows[r];
      const int ci = r / 3, ky = r % 3;
      vf a[4][3];
      float *g[4];
      for (int k = 0; k < kb; k++) {
        a[k][0] = a[k][1] = a[k][2] = (vf) { 0 };
        g[k] = gw + ((size_t) ((co + k) * cin + ci) * 3 + ky) * 3;
      }
      for (int c = 0; c < wv; c += VW) {
        const vf p0 = ld (p + c), p1 = ld (p + c + 1), p2 = ld (p + c + 2);
        for (int k = 0; k < kb; k++) {
          const vf dv = ld (dy[co + k] + c);
          a[k][0] += dv * p0;
          a[k][1] += dv * p1;
          a[k][2] += dv * p2;
        }
      }
      for (int k = 0; k < kb; k++) {
        g[k][0] += hsum (a[k][0]);
        g[k][1] += hsum (a[k][1]);
        g[k][2] += hsum (a[k][2]);
      }
    }
  }
  if (wv < width) {             /* the last columns by the reference */
    const float *r2[3 * MAX_COUT], *d2[MAX_COUT];
    for (int r = 0; r < 3 * cin; r++)
      r2[r] = rows[r] + wv;
    for (int co = 0; co < cout; co++)
      d2[co] = dy[co] + wv;
    ref_c3_grad_w_row (cin, cout, width - wv, r2, d2, gw, gb);
  }
}

#endif

void FN (nerv_thin_init) (NervDsp * dsp);

void
FN (nerv_thin_init) (NervDsp * dsp)
{
#ifdef NERV_THIN_BLOCKED
  dsp->pw_fwd = FN (pw_fwd);
  dsp->pw_grad_w = FN (pw_grad_w);
  dsp->c3_fwd_row = FN (c3_fwd_row);
  dsp->c3_grad_w_row = FN (c3_grad_w_row);
#else
  dsp->pw_fwd = ref_pw_fwd;
  dsp->pw_grad_w = ref_pw_grad_w;
  dsp->c3_fwd_row = ref_c3_fwd_row;
  dsp->c3_grad_w_row = ref_c3_grad_w_row;
#endif
}
