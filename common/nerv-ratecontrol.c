/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-ratecontrol.h"
#include "nerv-bitstream.h"

#include <math.h>
#include <string.h>

/* Rate model priors (bits per parameter of a key and a residual group,
 * measured at 8 bits on cityCC0: 7.9 and 5.5-6.6, on tears_of_steel with
 * 15-epoch residual groups: 7.2-7.5), refined from each coded group. */
#define PRIOR_KEY_BITS_PER_PARAM(wb) ((wb) - 0.1)
#define PRIOR_RES_BITS_PER_PARAM(wb) ((wb) - 1.5)
/* Embedding bits per value (exponents included) at 6 embedding bits,
 * measured on cityCC0 and tears_of_steel at 320x192: 1.7-3.5, depending
 * on the model (docs/design.md); refined from each coded group. Scaled by
 * bits / 6 for other embedding bits. */
#define PRIOR_EMBED_BITS_PER_VALUE(eb) (2.5 * (eb) / 6.0)
/* fixed costs: a frame packet (header, CRC, frame number), a group packet
 * (header, CRC, fields, coder flush), a stream header packet */
#define FRAME_PACKET_BITS (8 * NERV_FRAME_PACKET_SIZE)
#define GROUP_PACKET_BITS (8 * (NERV_PACKET_OVERHEAD + 15 + 4))
#define STREAM_PACKET_BITS (8 * (NERV_PACKET_OVERHEAD + 64))
/* a model size below which quality falls fast (320x192, docs/performance.md) */
#define GOOD_MODEL 15000

void
nerv_rate_control_init (NervRateControl * rc, const NervEncoderSettings * s,
    int n_planes)
{
  const double fps = s->fps_n && s->fps_d ? (double) s->fps_n / s->fps_d : 25.0;

  memset (rc, 0, sizeof (*rc));
  rc->frame_bits = s->bitrate * 1000.0 / fps;
  rc->group_size = s->group_size;
  rc->key_interval = s->key_interval;
  rc->expected_frames = s->expected_frames;
  rc->kind = s->kind;
  rc->width = s->width;
  rc->height = s->height;
  rc->n_planes = n_planes;
  rc->key_bpp = PRIOR_KEY_BITS_PER_PARAM (s->weight_bits);
  rc->res_bpp = PRIOR_RES_BITS_PER_PARAM (s->weight_bits);
  rc->embed_bpv = PRIOR_EMBED_BITS_PER_VALUE (s->embed_bits);
}

static gboolean
model_for_budget (const NervRateControl * rc, size_t budget,
    NervModelConfig * cfg, GError ** error)
{
  return nerv_model_config_for_budget (cfg, rc->kind, rc->width, rc->height,
      rc->n_planes, budget, error);
}

/* The smallest budget that gives a model for this frame */
static size_t
smallest_budget (const NervRateControl * rc)
{
  NervModelConfig c;
  size_t lo = 100, hi = NERV_MAX_PARAMS;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (model_for_budget (rc, mid, &c, NULL))
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* The parameter budget of the key period from first_frame; sets the
 * period's bits and groups. */
static size_t
period_budget (NervRateControl * rc, guint64 first_frame)
{
  const int K = rc->key_interval, G = rc->group_size;
  /* the frames of the next key period: a whole period, or what is left of
   * a clip of known length (its model is paid by fewer frames) */
  double frames = (double) G * K;
  double period, embed, per_param;
  int groups;
  size_t budget = 1000;
  NervModelConfig trial;

  if (rc->expected_frames > first_frame)
    frames = MIN (frames, (double) (rc->expected_frames - first_frame));
  groups = (int) ceil (frames / G);
  /* what the period may spend, corrected by what was overspent */
  period = rc->frame_bits * frames;
  if (rc->bits_target > 0)
    period = MAX (period * 0.25, period + (rc->bits_target - rc->bits_spent) * 0.5);
  per_param = rc->key_bpp + (groups - 1) * rc->res_bpp;
  /* the embeddings depend on the shape: two passes settle it */
  for (int pass = 0; pass < 2; pass++) {
    if (!model_for_budget (rc, budget, &trial, NULL))
      model_for_budget (rc, 1 << 20, &trial, NULL);
    embed = frames * ((double) nerv_model_config_embed_size (&trial) *
        rc->embed_bpv + FRAME_PACKET_BITS) + groups * GROUP_PACKET_BITS +
        STREAM_PACKET_BITS;
    budget = (size_t) MAX ((period - embed) / per_param, 1000.0);
  }
  rc->period_left = period;
  rc->groups_left = groups;
  return budget;
}

gboolean
nerv_rate_control_pick_model (NervRateControl * rc, guint64 first_frame,
    NervModelConfig * cfg, GError ** error)
{
  rc->budget = period_budget (rc, first_frame);
  rc->at_floor = FALSE;
  /* model sizes come in steps of up to 30 %: a model up to 8 % above the
   * budget is nearer to it than the next one below, and a key group
   * absorbs that much by coarser steps (nerv-codec.c) */
  if (model_for_budget (rc, (size_t) (rc->budget * 1.08), cfg, NULL))
    return TRUE;
  /* a rate below what the smallest model needs: the smallest model, and
   * the rate will be above the target */
  if (!model_for_budget (rc, smallest_budget (rc), cfg, error))
    return FALSE;
  rc->at_floor = TRUE;
  return TRUE;
}

int
nerv_rate_control_pick_group_size (NervRateControl * rc)
{
  NervModelConfig c;

  for (rc->group_size = 8; rc->group_size < 256; rc->group_size *= 2)
    if (nerv_rate_control_pick_model (rc, 0, &c, NULL)
        && rc->budget >= GOOD_MODEL)
      break;
  return rc->group_size;
}

/* Its share of what the period has left, in proportion to its expected
 * cost among the period's remaining groups (so that a wrong guess of the
 * later groups' cost does not squeeze this one) */
double
nerv_rate_control_allowance (const NervRateControl * rc, gboolean key, int n,
    size_t np, size_t esize)
{
  const double frames = (double) n * (esize * rc->embed_bpv +
      FRAME_PACKET_BITS) + GROUP_PACKET_BITS;
  const double later = rc->res_bpp * np + frames;
  const double self = (key ? rc->key_bpp : rc->res_bpp) * np + frames +
      (key ? STREAM_PACKET_BITS : 0);
  return rc->period_left * self / (self + MAX (rc->groups_left - 1, 0) *
      later);
}

void
nerv_rate_control_update (NervRateControl * rc, gboolean key, int n,
    size_t np, size_t esize, size_t bits, size_t weight_bits,
    size_t embed_bits)
{
  const double wbits = weight_bits;

  rc->bits_spent += bits;
  rc->bits_target += rc->frame_bits * n;
  if (key)
    rc->key_bpp = 0.5 * rc->key_bpp + 0.5 * wbits / np;
  else
    rc->res_bpp = 0.5 * rc->res_bpp + 0.5 * wbits / np;
  if (esize)
    rc->embed_bpv = 0.5 * rc->embed_bpv + 0.5 * embed_bits /
        ((double) esize * n);
  rc->period_left -= bits;
  rc->groups_left--;
}

/* ---- the latent-grid model -------------------------------------------- */

float
nerv_rate_control_grid_lambda (const NervRateControl * rc)
{
  const double bpp = rc->frame_bits / ((double) rc->width * rc->height);
  const double lambda = 4e-3 * pow (MAX (bpp, 1e-4) / 0.15, -1.0 / 0.6);
  return (float) CLAMP (lambda, 1e-6, 1.0);
}

double
nerv_rate_control_grid_allowance (const NervRateControl * rc, int n)
{
  const double share = rc->frame_bits * n;
  return MAX (0.25 * share, share + 0.5 * (rc->bits_target - rc->bits_spent));
}

void
nerv_rate_control_grid_update (NervRateControl * rc, int n, size_t bits)
{
  rc->bits_spent += bits;
  rc->bits_target += rc->frame_bits * n;
}
