/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-motion.h"

#include <math.h>
#include <string.h>

/* [h][w] -> 2x2 means, [ceil(h/2)][ceil(w/2)] */
static float *
half (const float *src, int w, int h, int *W, int *H)
{
  float *d;
  *W = nerv_ceil_div (w, 2);
  *H = nerv_ceil_div (h, 2);
  d = g_new (float, (size_t) *W * *H);
  for (int y = 0; y < *H; y++)
    for (int x = 0; x < *W; x++) {
      const int y1 = MIN (2 * y + 1, h - 1), x1 = MIN (2 * x + 1, w - 1);
      d[(size_t) y * *W + x] = 0.25f * (src[(size_t) 2 * y * w + 2 * x] +
          src[(size_t) 2 * y * w + x1] + src[(size_t) y1 * w + 2 * x] +
          src[(size_t) y1 * w + x1]);
    }
  return d;
}

/* mean squared difference of cur (x) and prev (x - d), d in 1/q pixels,
 * over the x where x - d is inside (bilinear for fractions); G_MAXDOUBLE
 * when they overlap less than half */
static double
shifted_mse (const float *prev, const float *cur, int w, int h, int dx,
    int dy, int q)
{
  double sum = 0;
  size_t n = 0;
  for (int y = 0; y < h; y++) {
    const int sy = y * q - dy;
    const int iy = sy >= 0 ? sy / q : -((-sy + q - 1) / q);
    const float fy = (float) (sy - iy * q) / q;
    if (iy < 0 || iy + (fy > 0) >= h)
      continue;
    for (int x = 0; x < w; x++) {
      const int sx = x * q - dx;
      const int ix = sx >= 0 ? sx / q : -((-sx + q - 1) / q);
      const float fx = (float) (sx - ix * q) / q;
      const float *r0 = prev + (size_t) iy * w + ix;
      const float *r1 = r0 + (fy > 0 ? w : 0);
      float v, e;
      if (ix < 0 || ix + (fx > 0) >= w)
        continue;
      v = (1 - fy) * ((1 - fx) * r0[0] + fx * r0[fx > 0]) +
          fy * ((1 - fx) * r1[0] + fx * r1[fx > 0]);
      e = cur[(size_t) y * w + x] - v;
      sum += e * e;
      n++;
    }
  }
  return 2 * n < (size_t) w * h ? G_MAXDOUBLE : sum / n;
}

/* the best d within +-r around (cx, cy), in 1/q pixels */
static void
search (const float *prev, const float *cur, int w, int h, int q, int cx,
    int cy, int r, int *bx, int *by)
{
  double best = G_MAXDOUBLE;
  *bx = cx;
  *by = cy;
  for (int dy = cy - r; dy <= cy + r; dy++)
    for (int dx = cx - r; dx <= cx + r; dx++) {
      const double e = shifted_mse (prev, cur, w, h, dx, dy, q);
      /* ties: the smaller vector */
      if (e < best || (e == best && abs (dx) + abs (dy) < abs (*bx) +
              abs (*by))) {
        best = e;
        *bx = dx;
        *by = dy;
      }
    }
}

void
nerv_motion_global (const float *prev, const float *cur, int w, int h,
    int range, int *mvx, int *mvy)
{
  int w1, h1, w2, h2, x, y;
  float *p1 = half (prev, w, h, &w1, &h1), *c1 = half (cur, w, h, &w1, &h1);
  float *p2 = half (p1, w1, h1, &w2, &h2), *c2 = half (c1, w1, h1, &w2, &h2);

  search (p2, c2, w2, h2, 1, 0, 0, MAX (1, range / 4), &x, &y);
  search (p1, c1, w1, h1, 1, 2 * x, 2 * y, 1, &x, &y);
  search (prev, cur, w, h, 1, 2 * x, 2 * y, 1, &x, &y);
  search (prev, cur, w, h, 4, 4 * x, 4 * y, 3, mvx, mvy);
  g_free (p1);
  g_free (c1);
  g_free (p2);
  g_free (c2);
}
