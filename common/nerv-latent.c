/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-latent.h"

#include <math.h>
#include <string.h>

/* ---- the frequency tables ------------------------------------------------ */

#define LN2_Q32 G_GUINT64_CONSTANT (2977044472)    /* round (ln 2 * 2^32) */

guint64
nerv_exp_neg_q32 (guint64 t)
{
  /* e^-t = 2^-n e^-r, t = n ln 2 + r, 0 <= r < ln 2; e^-r by its series
   * to r^13/13! (below 2^-32 for r < ln 2) */
  const guint64 n = t / LN2_Q32;
  const guint64 r = t - n * LN2_Q32;
  guint64 term = G_GUINT64_CONSTANT (1) << 32;
  gint64 sum = (gint64) term;

  if (n >= 40)
    return 0;
  for (int k = 1; k <= 13 && term; k++) {
    term = (term * r >> 32) / (guint64) k;
    sum += (k & 1) ? -(gint64) term : (gint64) term;
  }
  if (n == 0)
    return (guint64) sum;
  return ((guint64) sum + (G_GUINT64_CONSTANT (1) << (n - 1))) >> n;
}

static guint32 tables[NERV_LAPLACE_SCALES][NERV_LAPLACE_FRACS]
    [NERV_LAPLACE_SYMBOLS + 1];

/* 1/b = e^(-si/8) in units of 2^-24 */
static guint64
inv_scale_q24 (int si)
{
  if (si >= 0)
    return nerv_exp_neg_q32 ((guint64) si << 29) >> 8;
  return (G_GUINT64_CONSTANT (1) << 56) / nerv_exp_neg_q32 ((guint64) (-si)
      << 29);
}

/* The CDF at y of a Laplace with mean mu and 1/b = inv_b, all in units of
 * 2^-16 except inv_b (2^-24); the result in units of 2^-32. */
static guint64
cdf_q32 (gint64 y_q16, gint64 mu_q16, guint64 inv_b_q24)
{
  const gint64 d = y_q16 - mu_q16;
  const guint64 t = ((guint64) (d < 0 ? -d : d) * inv_b_q24) >> 8;   /* Q32 */
  const guint64 half = nerv_exp_neg_q32 (t) >> 1;
  return d < 0 ? half : (G_GUINT64_CONSTANT (1) << 32) - half;
}

static void
build_table (int si, int fi, guint32 * cum)
{
  const guint64 inv_b = inv_scale_q24 (si);
  const gint64 mu = (gint64) (2 * fi - 15) * 2048;       /* (fi - 7.5) / 16 */
  const guint32 total = 1u << NERV_LAPLACE_TOTAL_BITS;
  const int S = NERV_LAPLACE_SYMBOLS, K = NERV_LAPLACE_K;
  guint64 mass[NERV_LAPLACE_SYMBOLS];
  guint32 freq[NERV_LAPLACE_SYMBOLS], sum = 0;
  int best = 0;

  for (int s = 0; s < 2 * K + 1; s++) {
    const gint64 d = s - K;
    mass[s] = cdf_q32 ((2 * d + 1) * 32768, mu, inv_b) -
        cdf_q32 ((2 * d - 1) * 32768, mu, inv_b);
  }
  mass[S - 1] = cdf_q32 ((gint64) (-2 * K - 1) * 32768, mu, inv_b) +
      ((G_GUINT64_CONSTANT (1) << 32) - cdf_q32 ((gint64) (2 * K + 1) * 32768,
          mu, inv_b));
  for (int s = 0; s < S; s++) {
    freq[s] = 1 + (guint32) ((mass[s] * (total - S)) >> 32);
    sum += freq[s];
    if (mass[s] > mass[best])
      best = s;
  }
  freq[best] += total - sum;
  cum[0] = 0;
  for (int s = 0; s < S; s++)
    cum[s + 1] = cum[s] + freq[s];
}

static gpointer
build_tables (gpointer data)
{
  for (int si = 0; si < NERV_LAPLACE_SCALES; si++)
    for (int fi = 0; fi < NERV_LAPLACE_FRACS; fi++)
      build_table (si + NERV_LAPLACE_SCALE_MIN, fi, tables[si][fi]);
  return NULL;
}

static void
ensure_tables (void)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, build_tables, NULL);
}

const guint32 *
nerv_laplace_table (int si, int fi)
{
  ensure_tables ();
  si = CLAMP (si, NERV_LAPLACE_SCALE_MIN, NERV_LAPLACE_SCALE_MAX);
  return tables[si - NERV_LAPLACE_SCALE_MIN][fi & (NERV_LAPLACE_FRACS - 1)];
}

/* ---- from the ARM's output to a table ------------------------------------ */

typedef struct {
  gint32 m;                     /* the mean, rounded */
  const guint32 *cum;
} Dist;

static inline Dist
dist_from_arm (gint32 mu_q, gint32 logb_q)
{
  const gint32 lim = NERV_LATENT_MAX << NERV_ARM_FRAC;
  gint32 v, si;
  Dist d;

  mu_q = CLAMP (mu_q, -lim, lim);
  /* m = floor (mu + 1/2); the fraction mu - m in [-1/2, 1/2) to 16ths */
  v = mu_q + (NERV_ARM_ONE >> 1);
  d.m = v >= 0 ? v >> NERV_ARM_FRAC : ~((~v) >> NERV_ARM_FRAC);
  v = mu_q - d.m * NERV_ARM_ONE + (NERV_ARM_ONE >> 1);        /* 0..255 */
  /* si = floor ((logb + 1/16) * 8) */
  si = logb_q + 16;
  si = si >= 0 ? si >> 5 : ~((~si) >> 5);
  d.cum = tables[CLAMP (si, NERV_LAPLACE_SCALE_MIN, NERV_LAPLACE_SCALE_MAX) -
      NERV_LAPLACE_SCALE_MIN][v >> 4];
  return d;
}

/* ---- frames -------------------------------------------------------------- */

/* Walks a frame's latents in coding order, with each latent's
 * distribution; a latent whose context is all zeros reuses its plane's
 * zero-context distribution (the ARM is a function of its inputs). */
typedef struct {
  const NervGridLayout *lay;
  const NervArmInt *arm;
  const gint32 *ref;
} Walk;

static inline gboolean
ctx_zero (const gint32 * ctx)
{
  gint32 any = 0;
  for (int j = 0; j < NERV_ARM_CONTEXT; j++)
    any |= ctx[j];
  return any == 0;
}

static inline Dist
latent_dist (const Walk * wk, const gint32 * plane, const gint32 * ref,
    int w, int h, int y, int x, int onehot, const Dist * zero)
{
  gint32 ctx[NERV_ARM_CONTEXT], mu, lb;
  nerv_arm_context_int (plane, ref, w, h, y, x, ctx);
  if (ctx_zero (ctx))
    return *zero;
  nerv_arm_eval_int (wk->arm->wq, wk->arm->arm_c, wk->arm->n_in, ctx, onehot,
      &mu, &lb);
  return dist_from_arm (mu, lb);
}

static inline Dist
zero_dist (const Walk * wk, int onehot)
{
  static const gint32 zeros[NERV_ARM_CONTEXT];
  gint32 mu, lb;
  nerv_arm_eval_int (wk->arm->wq, wk->arm->arm_c, wk->arm->n_in, zeros,
      onehot, &mu, &lb);
  return dist_from_arm (mu, lb);
}

static void
encode_one (NervRangeEncoder * rc, const Dist * d, gint32 x)
{
  const int K = NERV_LAPLACE_K;
  const gint32 diff = x - d->m;
  const int s = diff >= -K && diff <= K ? diff + K : NERV_LAPLACE_SYMBOLS - 1;

  nerv_range_encode_freq (rc, d->cum[s], d->cum[s + 1] - d->cum[s],
      NERV_LAPLACE_TOTAL_BITS);
  if (s == NERV_LAPLACE_SYMBOLS - 1) {
    /* sign, then |diff| - K - 1 as Exp-Golomb (order 0) */
    const guint32 e = (guint32) ABS (diff) - K;       /* >= 1 */
    const int n = g_bit_storage (e);
    nerv_range_encode_direct (rc, diff < 0, 1);
    for (int i = 1; i < n; i++)
      nerv_range_encode_direct (rc, 1, 1);
    nerv_range_encode_direct (rc, 0, 1);
    nerv_range_encode_direct (rc, e & ((1u << (n - 1)) - 1), n - 1);
  }
}

static gboolean
decode_one (NervRangeDecoder * rc, const Dist * d, gint32 * x)
{
  const int K = NERV_LAPLACE_K;
  const guint32 v = nerv_range_decode_freq_target (rc, NERV_LAPLACE_TOTAL_BITS);
  int lo = 0, hi = NERV_LAPLACE_SYMBOLS - 1;
  gint64 r;

  /* the symbol s with cum[s] <= v < cum[s + 1] */
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (d->cum[mid] <= v)
      lo = mid;
    else
      hi = mid - 1;
  }
  nerv_range_decode_freq_update (rc, d->cum[lo], d->cum[lo + 1] - d->cum[lo],
      NERV_LAPLACE_TOTAL_BITS);
  if (lo < NERV_LAPLACE_SYMBOLS - 1) {
    r = (gint64) d->m + lo - K;
  } else {
    const guint neg = nerv_range_decode_direct (rc, 1);
    guint32 e;
    int n = 1;
    while (n <= 17 && nerv_range_decode_direct (rc, 1))
      n++;
    if (n > 17)
      return FALSE;
    e = (1u << (n - 1)) | nerv_range_decode_direct (rc, n - 1);
    r = (gint64) d->m + (neg ? -(gint64) (e + K) : (gint64) (e + K));
  }
  if (r < -NERV_LATENT_MAX || r > NERV_LATENT_MAX)
    return FALSE;
  *x = (gint32) r;
  return nerv_range_decoder_ok (rc);
}

void
nerv_latents_encode (NervRangeEncoder * rc, const NervGridLayout * lay,
    const NervArmInt * arm, const gint32 * lat, const gint32 * ref)
{
  Walk wk = { lay, arm, ref };

  ensure_tables ();
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p];
    const int onehot = 2 * p + (ref ? 1 : 0);
    const gint32 *pl = lat + lay->off[p];
    const gint32 *rp = ref ? ref + lay->off[p] : NULL;
    const Dist zero = zero_dist (&wk, onehot);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        const Dist d = latent_dist (&wk, pl, rp, w, h, y, x, onehot, &zero);
        encode_one (rc, &d, pl[(size_t) y * w + x]);
      }
  }
}

gboolean
nerv_latents_decode (NervRangeDecoder * rc, const NervGridLayout * lay,
    const NervArmInt * arm, gint32 * lat, const gint32 * ref)
{
  Walk wk = { lay, arm, ref };

  ensure_tables ();
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p];
    const int onehot = 2 * p + (ref ? 1 : 0);
    gint32 *pl = lat + lay->off[p];
    const gint32 *rp = ref ? ref + lay->off[p] : NULL;
    const Dist zero = zero_dist (&wk, onehot);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        const Dist d = latent_dist (&wk, pl, rp, w, h, y, x, onehot, &zero);
        /* the context reads only decoded latents; the ones after this
         * are written before they are read */
        if (!decode_one (rc, &d, &pl[(size_t) y * w + x]))
          return FALSE;
      }
  }
  return TRUE;
}

double
nerv_latents_bits (const NervGridLayout * lay, const NervArmInt * arm,
    const gint32 * lat, const gint32 * ref)
{
  return nerv_latents_plane_bits (lay, arm, lat, ref, NULL);
}

double
nerv_latents_plane_bits (const NervGridLayout * lay, const NervArmInt * arm,
    const gint32 * lat, const gint32 * ref, double *plane_bits)
{
  Walk wk = { lay, arm, ref };
  const int K = NERV_LAPLACE_K;
  double bits = 0;

  ensure_tables ();
  for (int p = 0; p < lay->n_planes; p++) {
    const int w = lay->w[p], h = lay->h[p];
    const int onehot = 2 * p + (ref ? 1 : 0);
    const gint32 *pl = lat + lay->off[p];
    const gint32 *rp = ref ? ref + lay->off[p] : NULL;
    const Dist zero = zero_dist (&wk, onehot);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        const Dist d = latent_dist (&wk, pl, rp, w, h, y, x, onehot, &zero);
        const gint32 diff = pl[(size_t) y * w + x] - d.m;
        const int s = diff >= -K && diff <= K ? diff + K :
            NERV_LAPLACE_SYMBOLS - 1;
        bits += NERV_LAPLACE_TOTAL_BITS - log2 ((double) (d.cum[s + 1] -
                d.cum[s]));
        if (s == NERV_LAPLACE_SYMBOLS - 1)
          bits += 2.0 * g_bit_storage ((guint32) ABS (diff) - K);
      }
    if (plane_bits)
      plane_bits[p] = bits;
  }
  return bits;
}

/* ---- motion -------------------------------------------------------------- */

/* e >= 1 as Exp-Golomb: n - 1 ones, a zero, the n - 1 bits below the top */
static void
write_eg (NervRangeEncoder * rc, guint32 e)
{
  const int n = g_bit_storage (e);
  for (int i = 1; i < n; i++)
    nerv_range_encode_direct (rc, 1, 1);
  nerv_range_encode_direct (rc, 0, 1);
  nerv_range_encode_direct (rc, e & ((1u << (n - 1)) - 1), n - 1);
}

/* 0 on a code longer than max_bits */
static guint32
read_eg (NervRangeDecoder * rc, int max_bits)
{
  int n = 1;
  while (n <= max_bits && nerv_range_decode_direct (rc, 1))
    n++;
  if (n > max_bits)
    return 0;
  return (1u << (n - 1)) | nerv_range_decode_direct (rc, n - 1);
}

void
nerv_motion_write (NervRangeEncoder * rc, int mvx, int mvy)
{
  const int v[2] = { mvx, mvy };
  for (int i = 0; i < 2; i++)
    write_eg (rc, (v[i] >= 0 ? 2u * v[i] : 2u * -v[i] - 1) + 1);
}

gboolean
nerv_motion_read (NervRangeDecoder * rc, int *mvx, int *mvy)
{
  int v[2];
  for (int i = 0; i < 2; i++) {
    const guint32 e = read_eg (rc, 12);
    if (!e)
      return FALSE;
    v[i] = (e - 1) & 1 ? -(int) ((e - 1 + 1) / 2) : (int) ((e - 1) / 2);
    if (v[i] < -NERV_MV_MAX || v[i] > NERV_MV_MAX)
      return FALSE;
  }
  *mvx = v[0];
  *mvy = v[1];
  return nerv_range_decoder_ok (rc);
}
