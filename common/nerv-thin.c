/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-thin.h"

#include <string.h>

#define PW_TASK 2048            /* pixels a forward task */

typedef struct {
  const NervDsp *dsp;
  int cin, cout;
  size_t n;
  const float *w, *b, *x;
  ptrdiff_t ldx, ldy;
  float *y;
  /* backward */
  const float *dy;
  ptrdiff_t lddy;
  float *slots;
  size_t slot_size;
} PwJob;

static void
pw_fwd_task (gpointer data, int task, int thread)
{
  const PwJob *j = data;
  const size_t i0 = (size_t) task * PW_TASK, i1 = MIN (j->n, i0 + PW_TASK);
  j->dsp->pw_fwd (j->cin, j->cout, (int) (i1 - i0), j->w, j->b, j->x + i0,
      j->ldx, j->y + i0, j->ldy);
}

void
nerv_thin_pw_forward (NervScratch * s, int cin, int cout, size_t n,
    const float *w, const float *b, const float *x, ptrdiff_t ldx, float *y,
    ptrdiff_t ldy)
{
  PwJob j = { .dsp = s->dsp, .cin = cin, .cout = cout, .n = n, .w = w,
    .b = b, .x = x, .ldx = ldx, .ldy = ldy, .y = y };
  nerv_pool_run (s->pool, pw_fwd_task, &j, (int) ((n + PW_TASK - 1) / PW_TASK));
}

/* slot k: the gradients of columns [k n / S, (k+1) n / S) */
static void
pw_grad_task (gpointer data, int slot, int thread)
{
  const PwJob *j = data;
  const size_t i0 = j->n * slot / NERV_REDUCE_SLOTS;
  const size_t i1 = j->n * (slot + 1) / NERV_REDUCE_SLOTS;
  float *gw = j->slots + j->slot_size * slot;
  memset (gw, 0, sizeof (float) * j->slot_size);
  j->dsp->pw_grad_w (j->cin, j->cout, (int) (i1 - i0), j->x + i0, j->ldx,
      j->dy + i0, j->lddy, gw, gw + (size_t) j->cout * j->cin);
}

/* dst[i] += the slots' values, in slot order */
static void
reduce_slots (const float *slots, size_t slot_size, size_t n, float *dst)
{
  for (size_t i = 0; i < n; i++) {
    float acc = 0;
    for (int k = 0; k < NERV_REDUCE_SLOTS; k++)
      acc += slots[slot_size * k + i];
    dst[i] += acc;
  }
}

static void
reserve_slots (NervScratch * s, size_t size)
{
  if (size > s->slot_size) {
    nerv_free (s->slots);
    s->slots = nerv_alloc_floats (size * NERV_REDUCE_SLOTS);
    s->slot_size = size;
  }
}

static float *
reserve_wtmp (NervScratch * s, size_t size)
{
  if (size > s->wtmp_size) {
    nerv_free (s->wtmp);
    s->wtmp = nerv_alloc_floats (size);
    s->wtmp_size = size;
  }
  return s->wtmp;
}

void
nerv_thin_pw_backward (NervScratch * s, int cin, int cout, size_t n,
    const float *w, const float *x, ptrdiff_t ldx, const float *dy,
    ptrdiff_t lddy, float *gw, float *gb, float *dx, ptrdiff_t lddx)
{
  const size_t nw = (size_t) cin * cout;
  PwJob j = { .dsp = s->dsp, .cin = cin, .cout = cout, .n = n, .w = w,
    .x = x, .ldx = ldx, .dy = dy, .lddy = lddy };

  if (gw) {
    reserve_slots (s, nw + cout);
    j.slots = s->slots;
    j.slot_size = s->slot_size;
    nerv_pool_run (s->pool, pw_grad_task, &j, NERV_REDUCE_SLOTS);
    reduce_slots (s->slots, s->slot_size, nw, gw);
    /* the biases sit after the weights in each slot */
    for (int co = 0; co < cout; co++) {
      float acc = 0;
      for (int k = 0; k < NERV_REDUCE_SLOTS; k++)
        acc += s->slots[s->slot_size * k + nw + co];
      gb[co] += acc;
    }
  }
  if (dx) {
    float *wt = reserve_wtmp (s, nw);
    for (int co = 0; co < cout; co++)
      for (int ci = 0; ci < cin; ci++)
        wt[(size_t) ci * cout + co] = w[(size_t) co * cin + ci];
    nerv_thin_pw_forward (s, cout, cin, n, wt, NULL, dy, lddy, dx, lddx);
  }
}

/* ---- 3x3 ---------------------------------------------------------------- */

typedef struct {
  const NervDsp *dsp;
  int cin, cout, h, w;
  const float *wt, *b;
  const float *xpad;            /* [cin][h+2][w+2] */
  float *y;
  const float *src;             /* padding: the planes to pad */
  /* backward */
  const float *dy;
  float *slots;
  size_t slot_size;
} C3Job;

static void
pad_task (gpointer data, int c, int thread)
{
  const C3Job *j = data;
  const int pw = j->w + 2;
  float *d = (float *) j->xpad + (size_t) c * pw * (j->h + 2);
  const float *sp = j->src + (size_t) c * j->w * j->h;
  memset (d, 0, sizeof (float) * pw);
  for (int y = 0; y < j->h; y++) {
    float *r = d + (size_t) (y + 1) * pw;
    r[0] = r[j->w + 1] = 0;
    memcpy (r + 1, sp + (size_t) y * j->w, sizeof (float) * j->w);
  }
  memset (d + (size_t) (j->h + 1) * pw, 0, sizeof (float) * pw);
}

/* [c][h][w] -> s->pad [c][h+2][w+2] with zeros around */
static const float *
pad_planes (NervScratch * s, int c, int h, int w, const float *src)
{
  const size_t size = (size_t) c * (h + 2) * (w + 2);
  C3Job j = { 0 };
  if (size > s->pad_size) {
    nerv_free (s->pad);
    s->pad = nerv_alloc_floats_uninit (size);
    s->pad_size = size;
  }
  j.h = h;
  j.w = w;
  j.xpad = s->pad;
  j.src = src;
  nerv_pool_run (s->pool, pad_task, &j, c);
  return s->pad;
}

static void
row_pointers (const C3Job * j, int y, const float **rows)
{
  const size_t plane = (size_t) (j->h + 2) * (j->w + 2);
  for (int ci = 0; ci < j->cin; ci++)
    for (int ky = 0; ky < 3; ky++)
      rows[ci * 3 + ky] = j->xpad + plane * ci + (size_t) (y + ky) * (j->w + 2);
}

static void
c3_fwd_task (gpointer data, int y, int thread)
{
  const C3Job *j = data;
  const float *rows[3 * NERV_THIN_MAX_C];
  float *out[NERV_THIN_MAX_C];
  row_pointers (j, y, rows);
  for (int co = 0; co < j->cout; co++)
    out[co] = j->y + ((size_t) co * j->h + y) * j->w;
  j->dsp->c3_fwd_row (j->cin, j->cout, j->w, j->wt, j->b, rows, out);
}

void
nerv_thin_c3_forward (NervScratch * s, int cin, int cout, int h, int w,
    const float *wt, const float *b, const float *x, float *y)
{
  C3Job j = { .dsp = s->dsp, .cin = cin, .cout = cout, .h = h, .w = w,
    .wt = wt, .b = b, .y = y };
  g_return_if_fail (cin <= NERV_THIN_MAX_C && cout <= NERV_THIN_MAX_C);
  j.xpad = pad_planes (s, cin, h, w, x);
  nerv_pool_run (s->pool, c3_fwd_task, &j, h);
}

static void
c3_grad_task (gpointer data, int slot, int thread)
{
  const C3Job *j = data;
  const int y0 = j->h * slot / NERV_REDUCE_SLOTS;
  const int y1 = j->h * (slot + 1) / NERV_REDUCE_SLOTS;
  float *gw = j->slots + j->slot_size * slot;
  const size_t nw = (size_t) j->cout * j->cin * 9;
  memset (gw, 0, sizeof (float) * j->slot_size);
  for (int y = y0; y < y1; y++) {
    const float *rows[3 * NERV_THIN_MAX_C];
    const float *dy[NERV_THIN_MAX_C];
    row_pointers (j, y, rows);
    for (int co = 0; co < j->cout; co++)
      dy[co] = j->dy + ((size_t) co * j->h + y) * j->w;
    j->dsp->c3_grad_w_row (j->cin, j->cout, j->w, rows, dy, gw, gw + nw);
  }
}

void
nerv_thin_c3_backward (NervScratch * s, int cin, int cout, int h, int w,
    const float *wt, const float *x, const float *dy, float *gw, float *gb,
    float *dx)
{
  const size_t nw = (size_t) cout * cin * 9;
  C3Job j = { .dsp = s->dsp, .cin = cin, .cout = cout, .h = h, .w = w,
    .wt = wt };

  g_return_if_fail (cin <= NERV_THIN_MAX_C && cout <= NERV_THIN_MAX_C);
  if (gw) {
    reserve_slots (s, nw + cout);
    j.xpad = pad_planes (s, cin, h, w, x);
    j.dy = dy;
    j.slots = s->slots;
    j.slot_size = s->slot_size;
    nerv_pool_run (s->pool, c3_grad_task, &j, NERV_REDUCE_SLOTS);
    reduce_slots (s->slots, s->slot_size, nw, gw);
    for (int co = 0; co < cout; co++) {
      float acc = 0;
      for (int k = 0; k < NERV_REDUCE_SLOTS; k++)
        acc += s->slots[s->slot_size * k + nw + co];
      gb[co] += acc;
    }
  }
  if (dx) {
    /* a 3x3 convolution of dy with the transposed, flipped kernel */
    float *t = reserve_wtmp (s, nw);
    for (int co = 0; co < cout; co++)
      for (int ci = 0; ci < cin; ci++)
        for (int k = 0; k < 9; k++)
          t[((size_t) ci * cout + co) * 9 + k] =
              wt[((size_t) co * cin + ci) * 9 + (8 - k)];
    nerv_thin_c3_forward (s, cout, cin, h, w, t, NULL, dy, dx);
  }
}
