/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Kernel table set-up and the plain C reference kernels.
 */
#include "nerv-dsp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
nerv_sgemm_c (int M, int N, int K, const float *A, ptrdiff_t lda,
    const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
  for (int i = 0; i < M; i++) {
    float *c = C + i * ldc;
    if (!accumulate)
      memset (c, 0, sizeof (float) * N);
    for (int k = 0; k < K; k++) {
      const float a = A[i * lda + k];
      const float *b = B + k * ldb;
      for (int j = 0; j < N; j++)
        c[j] += a * b[j];
    }
  }
}

void
nerv_gelu_fwd_c (float *y, const float *x, int n)
{
  for (int i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + erff (v * (float) M_SQRT1_2));
  }
}

void
nerv_gelu_bwd_c (float *dx, const float *x, const float *dy, int n)
{
  const float inv_sqrt_2pi = 0.3989422804014327f;
  for (int i = 0; i < n; i++) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + erff (v * (float) M_SQRT1_2));
    const float pdf = inv_sqrt_2pi * expf (-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

void
nerv_adam_c (float *w, float *m, float *v, const float *g, int n,
    const NervAdamStep * p)
{
  const float b1 = p->beta1, b2 = p->beta2;
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (int i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] - p->step * mi / (sqrtf (vi) * p->vscale + p->eps);
  }
}

void
nerv_u8_to_f32_c (float *dst, const guint8 * src, int n)
{
  const float s = 1.0f / 255.0f;
  for (int i = 0; i < n; i++)
    dst[i] = (float) src[i] * s;
}

void
nerv_f32_to_u8_c (guint8 * dst, const float *src, int n)
{
  for (int i = 0; i < n; i++) {
    float t = src[i] * 255.0f;
    if (!(t == t))
      t = 0.0f;
    t += 0.5f;
    t = t < 0.0f ? 0.0f : (t > 255.0f ? 255.0f : t);
    dst[i] = (guint8) t;        /* truncation after +0.5: round half up */
  }
}

NervDspLevel
nerv_dsp_max_level (void)
{
  NervDspLevel level = NERV_DSP_C;
#ifndef DISABLE_ORC
  level = NERV_DSP_ORC;
#endif
#if defined(HAVE_AVX2)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    level = NERV_DSP_AVX2;
  if (level == NERV_DSP_AVX2 && __builtin_cpu_supports ("avx512f"))
    level = NERV_DSP_AVX512;
#endif
  return level;
}

const char *
nerv_dsp_level_name (NervDspLevel level)
{
  switch (level) {
    case NERV_DSP_C:
      return "c";
    case NERV_DSP_ORC:
      return "orc";
    case NERV_DSP_AVX2:
      return "avx2";
    case NERV_DSP_AVX512:
      return "avx512";
  }
  return "?";
}

NervDspLevel
nerv_dsp_init (NervDsp * dsp, NervDspLevel max_level)
{
  NervDspLevel level = MIN (max_level, nerv_dsp_max_level ());

  memset (dsp, 0, sizeof (*dsp));
  dsp->sgemm = nerv_sgemm_c;
  dsp->sgemm_name = "c";
  dsp->gelu_fwd = nerv_gelu_fwd_c;
  dsp->gelu_bwd = nerv_gelu_bwd_c;
  dsp->adam = nerv_adam_c;
  dsp->u8_to_f32 = nerv_u8_to_f32_c;
  dsp->f32_to_u8 = nerv_f32_to_u8_c;
  nerv_thin_init_c (dsp);

#ifndef DISABLE_ORC
  if (level >= NERV_DSP_ORC) {
    nerv_dsp_init_orc (dsp);
    nerv_gemm_init_orc (dsp);
  }
#endif
#if defined(HAVE_AVX2)
  if (level >= NERV_DSP_AVX2) {
    nerv_gemm_init_avx2 (dsp);
    nerv_thin_init_avx2 (dsp);
  }
  if (level >= NERV_DSP_AVX512)
    nerv_gemm_init_avx512 (dsp);
#endif
  dsp->level = level;
  return level;
}

static NervDsp global_dsp;

static gpointer
init_global (gpointer data)
{
  NervDspLevel max = NERV_DSP_AVX512;
  const char *env = g_getenv ("NERV_DSP");

  if (env) {
    if (!g_ascii_strcasecmp (env, "c"))
      max = NERV_DSP_C;
    else if (!g_ascii_strcasecmp (env, "orc"))
      max = NERV_DSP_ORC;
    else if (!g_ascii_strcasecmp (env, "avx2"))
      max = NERV_DSP_AVX2;
    else if (!g_ascii_strcasecmp (env, "avx512"))
      max = NERV_DSP_AVX512;
    else
      g_warning ("NERV_DSP=%s not understood (c, orc, avx2, avx512); "
          "using the best", env);
  }
  nerv_dsp_init (&global_dsp, max);
  return &global_dsp;
}

const NervDsp *
nerv_dsp_get (void)
{
  static GOnce once = G_ONCE_INIT;
  return g_once (&once, init_global, NULL);
}
