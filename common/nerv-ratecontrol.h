/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Rate control (docs/design.md, "Rate control"): the arithmetic of what a
 * key period and each of its groups may spend. At each key group the
 * period's bits (less half the overspend so far, the embeddings and the
 * packets' fixed costs), divided by the expected bits per parameter, give
 * a parameter budget and so a model; each group's allowance is its share
 * of what the period has left, in proportion to its expected cost; after
 * each group the rate model (bits per weight of key and residual groups,
 * bits per embedding value) is refined from what the group cost. The
 * encoder (nerv-codec.c) fits each group to its allowance by coarser steps
 * or dead zones.
 */
#ifndef NERV_RATECONTROL_H
#define NERV_RATECONTROL_H

#include "nerv-settings.h"

G_BEGIN_DECLS

typedef struct {
  /* from the settings */
  double frame_bits;            /* the target's bits per frame */
  int group_size, key_interval;
  guint64 expected_frames;      /* 0: not known */
  NervModelKind kind;           /* the model family a budget picks from */
  int width, height, n_planes;

  /* the rate model: measured, starting from priors */
  double key_bpp, res_bpp;      /* bits per parameter, key and residual */
  double embed_bpv;             /* bits per embedding value */

  /* spending */
  double bits_spent, bits_target;
  double period_left;           /* bits the key period has left */
  int groups_left;              /* groups the key period has left */
  size_t budget;                /* the last parameter budget (before the
                                 * slack to the nearest model) */
  gboolean at_floor;            /* the smallest model is above the target */
} NervRateControl;

/* s->bitrate > 0; n_planes of the settings' format */
void nerv_rate_control_init (NervRateControl * rc,
    const NervEncoderSettings * s, int n_planes);

/* The model for the key period that starts at frame first_frame: the
 * largest at most 8 % above the period's parameter budget, else (at_floor)
 * the smallest there is. FALSE (error set) if there is none. */
gboolean nerv_rate_control_pick_model (NervRateControl * rc,
    guint64 first_frame, NervModelConfig * cfg, GError ** error);

/* group_size 0: the shortest group, from 8 frames doubling up to 256,
 * whose budget reaches a useful model (the model is paid once a group).
 * Sets rc->group_size and returns it. */
int nerv_rate_control_pick_group_size (NervRateControl * rc);

/* What a group of n frames of a model of np parameters (esize embedding
 * values a frame) may spend. */
double nerv_rate_control_allowance (const NervRateControl * rc, gboolean key,
    int n, size_t np, size_t esize);

/* After the group: what it cost in all, and of that its weights (with the
 * headers) and its embeddings. */
void nerv_rate_control_update (NervRateControl * rc, gboolean key, int n,
    size_t np, size_t esize, size_t bits, size_t weight_bits,
    size_t embed_bits);

/* ---- the latent-grid model: rate by lambda ---------------------------- */

/* The default lambda without a bitrate. */
#define NERV_GRID_DEFAULT_LAMBDA 4e-3f

/* The first lambda for the target: from a prior of the bits a lambda
 * gives (bpp ~ 0.15 (lambda / 4e-3)^-0.6 at 320x192, measured on the
 * groups of 8 frames of docs/performance.md). */
float nerv_rate_control_grid_lambda (const NervRateControl * rc);
/* The bits a group of n frames may spend: its frames' share, corrected by
 * half of what was overspent so far. */
double nerv_rate_control_grid_allowance (const NervRateControl * rc, int n);
/* After a group: its bits in all. */
void nerv_rate_control_grid_update (NervRateControl * rc, int n, size_t bits);

G_END_DECLS
#endif
