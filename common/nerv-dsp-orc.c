/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Element-wise ORC kernels (GELU, Adam, pixel conversion). The programs
 * are in nerv-orc-ew.orc. GELU needs more constants than ORC can keep in
 * SSE registers, so it runs as 2 (forward) or 4 (backward) passes over
 * chunks that stay in L1; see the .orc file for the approximations.
 *
 * The generated functions take ORC_RESTRICT pointers, so the in-place
 * forms the header allows (y == x, dx == dy) copy the aliased chunk to
 * a private buffer first instead of passing one array twice.
 */
#include "nerv-dsp.h"

#include <string.h>

#ifndef DISABLE_ORC
#include "nerv-orc-ew.h"

#define CHUNK 256

static void
u8_to_f32_orc (float *dst, const guint8 * src, int n)
{
  if (n > 0)
    nerv_orc_u8_to_f32 (dst, src, 1.0f / 255.0f, n);
}

static void
f32_to_u8_orc (guint8 * dst, const float *src, int n)
{
  if (n > 0)
    nerv_orc_f32_to_u8 (dst, src, 255.0f, n);
}

static void
adam_orc (float *w, float *m, float *v, const float *g, int n,
    const NervAdamStep * p)
{
  if (n > 0)
    nerv_orc_adam (w, m, v, g, p->beta1, 1.0f - p->beta1, p->beta2,
        1.0f - p->beta2, p->step, p->vscale, p->eps, n);
}

static void
gelu_fwd_orc (float *y, const float *x, int n)
{
  _Alignas (64) float num[CHUNK];
  _Alignas (64) float t[CHUNK];
  _Alignas (64) float xcopy[CHUNK];

  for (int i = 0; i < n; i += CHUNK) {
    const int len = MIN (CHUNK, n - i);
    const float *xs = x + i;

    if (y == x) {
      memcpy (xcopy, xs, sizeof (float) * len);
      xs = xcopy;
    }
    nerv_orc_gelu_num (num, t, xs, len);
    nerv_orc_gelu_fwd_final (y + i, xs, num, t, len);
  }
}

static void
gelu_bwd_orc (float *dx, const float *x, const float *dy, int n)
{
  _Alignas (64) float num[CHUNK];
  _Alignas (64) float t[CHUNK];
  _Alignas (64) float cdf[CHUNK];
  _Alignas (64) float r[CHUNK];
  _Alignas (64) float s[CHUNK];
  _Alignas (64) float dycopy[CHUNK];

  for (int i = 0; i < n; i += CHUNK) {
    const int len = MIN (CHUNK, n - i);
    const float *xs = x + i, *dys = dy + i;

    if (dx == dy) {
      memcpy (dycopy, dys, sizeof (float) * len);
      dys = dycopy;
    }
    nerv_orc_gelu_num (num, t, xs, len);
    nerv_orc_gelu_cdf (cdf, xs, num, t, len);
    nerv_orc_gelu_exp_reduce (r, s, xs, len);
    nerv_orc_gelu_bwd_final (dx + i, dys, xs, cdf, r, s, len);
  }
}

void
nerv_dsp_init_orc (NervDsp * dsp)
{
  dsp->u8_to_f32 = u8_to_f32_orc;
  dsp->f32_to_u8 = f32_to_u8_orc;
  dsp->adam = adam_orc;
  dsp->gelu_fwd = gelu_fwd_orc;
  dsp->gelu_bwd = gelu_bwd_orc;
}
#endif
