/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Kernels of thin layers (a few channels over many pixels: the latent
 * model's synthesis and ARM), single-threaded on a range; nerv-thin.c
 * splits the work. Plain C written for the vectoriser, compiled twice
 * (common/meson.build): as the C reference (the build's flags) and for
 * AVX2+FMA (-mavx2 -mfma -O3 -ffp-contract=fast), called only on CPUs
 * that have it. The two agree to rounding (test-dsp).
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

/* y[co][i] = b[co] + sum_ci w[co][ci] x[ci][i], i < n (b may be NULL) */
static void
FN (pw_fwd) (int cin, int cout, int n, const float *w, const float *b,
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
FN (pw_grad_w) (int cin, int cout, int n, const float *x, ptrdiff_t ldx,
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
FN (c3_fwd_row) (int cin, int cout, int width, const float *w, const float *b,
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
FN (c3_grad_w_row) (int cin, int cout, int width, const float *const *rows,
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

void FN (nerv_thin_init) (NervDsp * dsp);

void
FN (nerv_thin_init) (NervDsp * dsp)
{
  dsp->pw_fwd = FN (pw_fwd);
  dsp->pw_grad_w = FN (pw_grad_w);
  dsp->c3_fwd_row = FN (c3_fwd_row);
  dsp->c3_grad_w_row = FN (c3_grad_w_row);
}
