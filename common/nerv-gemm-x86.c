/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GEMM for x86 vector units, written once with GCC vector extensions and
 * compiled twice (see meson.build): for AVX2+FMA (8 floats a vector,
 * 6x16 micro-kernel, 12 accumulators) and for AVX-512 (16 floats, 12x32,
 * 24 accumulators). Each build is called only when the CPU has it.
 * Goto-style: B is packed into panels of NR columns, A into panels of MR
 * rows, and the micro-kernel keeps its MR x NR block of C in registers
 * over a K block, so each loaded B vector feeds MR FMAs.
 * This file is built with -ffp-contract=fast so that a*b+c is one FMA;
 * results agree with the C reference to rounding.
 */
#include "nerv-dsp.h"

#include <string.h>

#if !defined(NERV_GEMM_VW) || !defined(NERV_GEMM_NAME)
#error "build with -DNERV_GEMM_VW=8|16 -DNERV_GEMM_NAME=avx2|avx512"
#endif

#define VW NERV_GEMM_VW
#if VW == 8
#define MR 6
#else
#define MR 12
#endif
#define NR (2 * VW)
#define KC 256
#define MC (MR * 16)
#define NC 1024

#define PASTE2(a, b) a ## b
#define PASTE(a, b) PASTE2 (a, b)
#define STR2(a) #a
#define STR(a) STR2 (a)
#define FN(name) PASTE (name ## _, NERV_GEMM_NAME)

typedef float vf __attribute__((vector_size (VW * 4)));
typedef float vfu __attribute__((vector_size (VW * 4), aligned (4)));

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
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
          dst[r] = a[r * lda + k];
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
        *(vf *) dst = *(const vfu *) (b + k * ldb);
        *(vf *) (dst + VW) = *(const vfu *) (b + k * ldb + VW);
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
store_row (float *c, vf lo, vf hi, int nr, int beta)
{
  if (nr == NR) {
    if (beta) {
      lo += *(vfu *) c;
      hi += *(vfu *) (c + VW);
    }
    *(vfu *) c = lo;
    *(vfu *) (c + VW) = hi;
  } else {
    float tmp[NR] __attribute__((aligned (64)));
    *(vf *) tmp = lo;
    *(vf *) (tmp + VW) = hi;
    for (int j = 0; j < nr; j++)
      c[j] = beta ? c[j] + tmp[j] : tmp[j];
  }
}

static void
kernel (int kc, const float *ap, const float *bp, float *C, ptrdiff_t ldc,
    int mr, int nr, int beta)
{
  vf acc0[MR], acc1[MR];

#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
    acc0[r] = acc1[r] = (vf) { 0 };
  for (int k = 0; k < kc; k++) {
    const vf b0 = *(const vf *) bp;
    const vf b1 = *(const vf *) (bp + VW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const float a = ap[r];
      acc0[r] += a * b0;
      acc1[r] += a * b1;
    }
    ap += MR;
    bp += NR;
  }
  /* rows past mr belong to the zero padding of A: never stored */
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
    if (r < mr)
      store_row (C + r * ldc, acc0[r], acc1[r], nr, beta);
}

static void
sgemm (int M, int N, int K, const float *A, ptrdiff_t lda,
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
            kernel (kc, pb->a + (ptrdiff_t) ir * kc, bp,
                C + (ic + ir) * ldc + jc + jr, ldc,
                MIN (MR, mc - ir), MIN (NR, nc - jr), beta);
          }
        }
      }
    }
  }
}

void FN (nerv_gemm_init) (NervDsp * dsp)
{
  dsp->sgemm = sgemm;
  dsp->sgemm_name = STR (NERV_GEMM_NAME);
}
