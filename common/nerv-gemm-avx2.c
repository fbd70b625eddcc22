/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GEMM for AVX2 + FMA (this file alone is built with -mavx2 -mfma and is
 * only called when the CPU has both). Goto-style: B is packed into
 * panels of 16 columns, A into panels of 6 rows, and a 6x16 micro-kernel
 * keeps 12 accumulators in registers over a K block, so each loaded B
 * vector feeds 6 FMAs and each broadcast A value 2.
 */
#include "nerv-dsp.h"

#include <string.h>

#if defined(HAVE_AVX2)
#include <immintrin.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 96
#define NC 1024

typedef struct {
  float *a;                     /* MC x KC */
  float *b;                     /* KC x NC */
} PackBuf;

static void
packbuf_free (gpointer p)
{
  PackBuf *pb = p;
  nerv_free (pb->a);
  nerv_free (pb->b);
  g_free (pb);
}

static GPrivate pack_key = G_PRIVATE_INIT (packbuf_free);

static PackBuf *
get_packbuf (void)
{
  PackBuf *pb = g_private_get (&pack_key);
  if (!pb) {
    pb = g_new0 (PackBuf, 1);
    pb->a = nerv_alloc_floats (MC * KC);
    pb->b = nerv_alloc_floats (KC * NC);
    g_private_set (&pack_key, pb);
  }
  return pb;
}

/* A rows [0,mc) x cols [0,kc) into panels of MR rows, k-major inside. */
static void
pack_a (float *dst, const float *A, ptrdiff_t lda, int mc, int kc)
{
  for (int i0 = 0; i0 < mc; i0 += MR) {
    const int rows = MIN (MR, mc - i0);
    const float *a = A + i0 * lda;
    if (rows == MR) {
      for (int k = 0; k < kc; k++) {
        dst[0] = a[k];
        dst[1] = a[lda + k];
        dst[2] = a[2 * lda + k];
        dst[3] = a[3 * lda + k];
        dst[4] = a[4 * lda + k];
        dst[5] = a[5 * lda + k];
        dst += MR;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        for (int r = 0; r < MR; r++)
          dst[r] = r < rows ? a[r * lda + k] : 0.0f;
        dst += MR;
      }
    }
  }
}

/* B rows [0,kc) x cols [0,nc) into panels of NR columns, k-major inside. */
static void
pack_b (float *dst, const float *B, ptrdiff_t ldb, int kc, int nc)
{
  for (int j0 = 0; j0 < nc; j0 += NR) {
    const int cols = MIN (NR, nc - j0);
    const float *b = B + j0;
    if (cols == NR) {
      for (int k = 0; k < kc; k++) {
        _mm256_store_ps (dst, _mm256_loadu_ps (b + k * ldb));
        _mm256_store_ps (dst + 8, _mm256_loadu_ps (b + k * ldb + 8));
        dst += NR;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        int c = 0;
        for (; c < cols; c++)
          dst[c] = b[k * ldb + c];
        for (; c < NR; c++)
          dst[c] = 0.0f;
        dst += NR;
      }
    }
  }
}

static inline void
store_row (float *c, __m256 lo, __m256 hi, int nr, int beta)
{
  if (nr == NR) {
    if (beta) {
      lo = _mm256_add_ps (lo, _mm256_loadu_ps (c));
      hi = _mm256_add_ps (hi, _mm256_loadu_ps (c + 8));
    }
    _mm256_storeu_ps (c, lo);
    _mm256_storeu_ps (c + 8, hi);
  } else {
    float tmp[NR] __attribute__((aligned (32)));
    _mm256_store_ps (tmp, lo);
    _mm256_store_ps (tmp + 8, hi);
    for (int j = 0; j < nr; j++)
      c[j] = beta ? c[j] + tmp[j] : tmp[j];
  }
}

static void
kernel_6x16 (int kc, const float *ap, const float *bp, float *C,
    ptrdiff_t ldc, int mr, int nr, int beta)
{
  __m256 c00 = _mm256_setzero_ps (), c01 = _mm256_setzero_ps ();
  __m256 c10 = _mm256_setzero_ps (), c11 = _mm256_setzero_ps ();
  __m256 c20 = _mm256_setzero_ps (), c21 = _mm256_setzero_ps ();
  __m256 c30 = _mm256_setzero_ps (), c31 = _mm256_setzero_ps ();
  __m256 c40 = _mm256_setzero_ps (), c41 = _mm256_setzero_ps ();
  __m256 c50 = _mm256_setzero_ps (), c51 = _mm256_setzero_ps ();

  for (int k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps (bp);
    const __m256 b1 = _mm256_load_ps (bp + 8);
    __m256 a;
    a = _mm256_broadcast_ss (ap + 0);
    c00 = _mm256_fmadd_ps (a, b0, c00);
    c01 = _mm256_fmadd_ps (a, b1, c01);
    a = _mm256_broadcast_ss (ap + 1);
    c10 = _mm256_fmadd_ps (a, b0, c10);
    c11 = _mm256_fmadd_ps (a, b1, c11);
    a = _mm256_broadcast_ss (ap + 2);
    c20 = _mm256_fmadd_ps (a, b0, c20);
    c21 = _mm256_fmadd_ps (a, b1, c21);
    a = _mm256_broadcast_ss (ap + 3);
    c30 = _mm256_fmadd_ps (a, b0, c30);
    c31 = _mm256_fmadd_ps (a, b1, c31);
    a = _mm256_broadcast_ss (ap + 4);
    c40 = _mm256_fmadd_ps (a, b0, c40);
    c41 = _mm256_fmadd_ps (a, b1, c41);
    a = _mm256_broadcast_ss (ap + 5);
    c50 = _mm256_fmadd_ps (a, b0, c50);
    c51 = _mm256_fmadd_ps (a, b1, c51);
    ap += MR;
    bp += NR;
  }

  /* rows past mr belong to the zero padding of A: never stored */
  store_row (C, c00, c01, nr, beta);
  if (mr > 1)
    store_row (C + ldc, c10, c11, nr, beta);
  if (mr > 2)
    store_row (C + 2 * ldc, c20, c21, nr, beta);
  if (mr > 3)
    store_row (C + 3 * ldc, c30, c31, nr, beta);
  if (mr > 4)
    store_row (C + 4 * ldc, c40, c41, nr, beta);
  if (mr > 5)
    store_row (C + 5 * ldc, c50, c51, nr, beta);
}

static void
sgemm_avx2 (int M, int N, int K, const float *A, ptrdiff_t lda,
    const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
  PackBuf *pb;

  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    if (!accumulate)
      for (int i = 0; i < M; i++)
        memset (C + i * ldc, 0, sizeof (float) * N);
    return;
  }
  pb = get_packbuf ();

  for (int jc = 0; jc < N; jc += NC) {
    const int nc = MIN (NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = MIN (KC, K - pc);
      const int beta = accumulate || pc > 0;
      pack_b (pb->b, B + pc * ldb + jc, ldb, kc, nc);
      for (int ic = 0; ic < M; ic += MC) {
        const int mc = MIN (MC, M - ic);
        pack_a (pb->a, A + ic * lda + pc, lda, mc, kc);
        for (int jr = 0; jr < nc; jr += NR) {
          const float *bp = pb->b + (ptrdiff_t) jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            kernel_6x16 (kc, pb->a + (ptrdiff_t) ir * kc, bp,
                C + (ic + ir) * ldc + jc + jr, ldc,
                MIN (MR, mc - ir), MIN (NR, nc - jr), beta);
          }
        }
      }
    }
  }
}

void
nerv_gemm_init_avx2 (NervDsp * dsp)
{
  dsp->sgemm = sgemm_avx2;
  dsp->sgemm_name = "avx2";
}
#endif
