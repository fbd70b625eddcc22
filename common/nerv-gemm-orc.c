/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GEMM on ORC rank updates. C is walked in column chunks that keep two
 * rows of C and four rows of B in L1; inside a chunk the whole K loop
 * runs, four rows of B at a time (nerv_orc_gemm_2x4: 16 FLOP per lane,
 * 6 loads and 2 stores). Note the summation order differs from the C
 * reference (four products are summed before being added to C), so the
 * two agree to rounding, not bit for bit.
 */
#include "nerv-dsp.h"

#include <string.h>

#ifndef DISABLE_ORC
#include "nerv-orc-gemm.h"

#define CHUNK 512

static void
sgemm_orc (int M, int N, int K, const float *A, ptrdiff_t lda,
    const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
  for (int j0 = 0; j0 < N; j0 += CHUNK) {
    const int n = MIN (CHUNK, N - j0);
    int i = 0;

    for (; i + 2 <= M; i += 2) {
      float *c0 = C + i * ldc + j0, *c1 = c0 + ldc;
      const float *a0 = A + i * lda, *a1 = a0 + lda;
      int k = 0;
      if (!accumulate) {
        memset (c0, 0, sizeof (float) * n);
        memset (c1, 0, sizeof (float) * n);
      }
      for (; k + 4 <= K; k += 4) {
        const float *b = B + k * ldb + j0;
        nerv_orc_gemm_2x4 (c0, c1, b, b + ldb, b + 2 * ldb, b + 3 * ldb,
            a0[k], a0[k + 1], a0[k + 2], a0[k + 3],
            a1[k], a1[k + 1], a1[k + 2], a1[k + 3], n);
      }
      for (; k < K; k++)
        nerv_orc_gemm_2x1 (c0, c1, B + k * ldb + j0, a0[k], a1[k], n);
    }
    for (; i < M; i++) {
      float *c0 = C + i * ldc + j0;
      const float *a0 = A + i * lda;
      int k = 0;
      if (!accumulate)
        memset (c0, 0, sizeof (float) * n);
      for (; k + 4 <= K; k += 4) {
        const float *b = B + k * ldb + j0;
        nerv_orc_gemm_1x4 (c0, b, b + ldb, b + 2 * ldb, b + 3 * ldb,
            a0[k], a0[k + 1], a0[k + 2], a0[k + 3], n);
      }
      for (; k < K; k++)
        nerv_orc_gemm_1x1 (c0, B + k * ldb + j0, a0[k], n);
    }
  }
}

void
nerv_gemm_init_orc (NervDsp * dsp)
{
  dsp->sgemm = sgemm_orc;
  dsp->sgemm_name = "orc";
}
#endif
