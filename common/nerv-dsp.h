/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The kernel table. Every hot loop has a plain C reference; nerv_dsp_init()
 * fills the table with those first and then upgrades entries by what the
 * build and the CPU offer (ORC, then AVX2/FMA), as dav1d does. The
 * environment variable NERV_DSP=c|orc|avx2|avx512 caps the level, for
 * tests and benchmarks.
 */
#ifndef NERV_DSP_H
#define NERV_DSP_H

#include "nerv-common.h"

G_BEGIN_DECLS

typedef enum {
  NERV_DSP_C = 0,               /* plain C references only */
  NERV_DSP_ORC = 1,             /* + ORC kernels (SSE, no FMA) */
  NERV_DSP_AVX2 = 2,            /* + AVX2/FMA GEMM core */
  NERV_DSP_AVX512 = 3,          /* + AVX-512 GEMM core */
} NervDspLevel;

/* One Adam step, precomputed per step by the caller:
 *   m = beta1*m + (1-beta1)*g
 *   v = beta2*v + (1-beta2)*g*g
 *   w = w - step * m / (sqrt(v)*vscale + eps)
 * with step = lr/(1-beta1^t) and vscale = 1/sqrt(1-beta2^t). */
typedef struct {
  float step;
  float beta1, beta2;
  float vscale;
  float eps;
} NervAdamStep;

typedef struct {
  /* C[M][N] = (accumulate ? C : 0) + A[M][K] * B[K][N]; row-major with
   * leading dimensions in elements. Single-threaded: callers split work. */
  void (*sgemm) (int M, int N, int K, const float *A, ptrdiff_t lda,
      const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate);
  /* y = x * Phi(x), the exact (erf) GELU. y may equal x. */
  void (*gelu_fwd) (float *y, const float *x, int n);
  /* dx = dy * (Phi(x) + x * phi(x)). dx may equal dy. */
  void (*gelu_bwd) (float *dx, const float *x, const float *dy, int n);
  void (*adam) (float *w, float *m, float *v, const float *g, int n,
      const NervAdamStep * p);
  /* dst = src / 255 */
  void (*u8_to_f32) (float *dst, const guint8 * src, int n);
  /* dst = clamp(round-half-up(src * 255), 0, 255); NaN gives 0 */
  void (*f32_to_u8) (guint8 * dst, const float *src, int n);

  /* thin layers (nerv-thin-kernels.c), single-threaded on a range:
   * y[co][i] = b[co] + sum_ci w[co][ci] x[ci][i] (b may be NULL) */
  void (*pw_fwd) (int cin, int cout, int n, const float *w, const float *b,
      const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy);
  /* gw[co][ci] += sum_i dy[co][i] x[ci][i]; gb[co] += sum_i dy[co][i] */
  void (*pw_grad_w) (int cin, int cout, int n, const float *x, ptrdiff_t ldx,
      const float *dy, ptrdiff_t lddy, float *gw, float *gb);
  /* one output row of a 3x3 convolution from padded input rows
   * (rows[ci*3+ky][0] is column -1): out[co][c] = b[co] + sum w rows */
  void (*c3_fwd_row) (int cin, int cout, int width, const float *w,
      const float *b, const float *const *rows, float *const *out);
  /* its weight gradient: gw[co][ci][ky][kx] += sum_c dy[co][c]
   * rows[ci*3+ky][c+kx], gb[co] += sum_c dy[co][c] */
  void (*c3_grad_w_row) (int cin, int cout, int width,
      const float *const *rows, const float *const *dy, float *gw, float *gb);

  NervDspLevel level;           /* what was asked for (after the CPU check) */
  const char *sgemm_name;       /* "c", "orc", "avx2" or "avx512" */
} NervDsp;

/* Fill dsp with the best kernels up to max_level that this build and CPU
 * have. Returns the level actually reached. */
NervDspLevel nerv_dsp_init (NervDsp * dsp, NervDspLevel max_level);

/* The process-wide table: best level, capped by NERV_DSP. */
const NervDsp *nerv_dsp_get (void);

/* Highest level this build and CPU support. */
NervDspLevel nerv_dsp_max_level (void);
const char *nerv_dsp_level_name (NervDspLevel level);

/* C references (also used directly by tests). */
void nerv_sgemm_c (int M, int N, int K, const float *A, ptrdiff_t lda,
    const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate);
void nerv_gelu_fwd_c (float *y, const float *x, int n);
void nerv_gelu_bwd_c (float *dx, const float *x, const float *dy, int n);
void nerv_adam_c (float *w, float *m, float *v, const float *g, int n,
    const NervAdamStep * p);
void nerv_u8_to_f32_c (float *dst, const guint8 * src, int n);
void nerv_f32_to_u8_c (guint8 * dst, const float *src, int n);

/* Per-path initialisers (each file upgrades the entries it implements). */
void nerv_dsp_init_orc (NervDsp * dsp);         /* nerv-dsp-orc.c: element-wise */
void nerv_gemm_init_orc (NervDsp * dsp);        /* nerv-gemm-orc.c */
void nerv_gemm_init_avx2 (NervDsp * dsp);       /* nerv-gemm-x86.c, twice */
void nerv_gemm_init_avx512 (NervDsp * dsp);
void nerv_thin_init_c (NervDsp * dsp);          /* nerv-thin-kernels.c, twice */
void nerv_thin_init_avx2 (NervDsp * dsp);

G_END_DECLS
#endif
