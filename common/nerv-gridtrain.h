/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Training a group of frames of the latent-grid model (docs/design.md,
 * "Latent grids"): the network (synthesis and ARM) and every frame's
 * latents, on distortion + lambda x rate.
 *
 * Frame i's latents are a chain: y_i = W_i (y_(i-1)) + t_i, y_(-1) = base,
 * W_i the shift by frame i's motion (nerv_grid_warp_int), where base
 * is what the decoder holds before the group (the previous frame's
 * integer latents; zeros at a key group) and t_i is what frame i codes:
 * at a key group t_0 is the first frame's latents (intra: the ARM has no
 * reference), every other t_i is the change from the frame before, coded
 * with that frame's latents as the ARM's reference. Training starts every
 * change at zero: each frame starts from the frame before.
 *
 * One step trains one frame i: the quantised chain through the synthesis
 * against the frame (the format's weighted MSE) and the bits of t_i under
 * the ARM; its gradient reaches the network, t_i and every t_j before it.
 * Quantisation in training: soft rounding with noise (C3's recipe,
 * temperature 0.35 -> 0.08, noise 0.22 -> 0.15), then plain rounding
 * (straight through) with the network's weights fake-quantised for the
 * last share of the epochs.
 */
#ifndef NERV_GRIDTRAIN_H
#define NERV_GRIDTRAIN_H

#include "nerv-grid.h"
#include "nerv-train.h"

G_BEGIN_DECLS

typedef struct {
  int epochs;                   /* every frame once an epoch */
  float lr;                     /* network */
  float latent_lr;
  float lambda;                 /* loss = MSE + lambda * bits / pixels */
  float warmup;                 /* share of steps of linear warm-up */
  float hard;                   /* share of the last epochs with plain
                                 * rounding and fake-quantised weights */
  guint32 seed;
  NervProgressFunc progress;    /* after every epoch; FALSE stops */
  gpointer user_data;
} NervGridTrainParams;

void nerv_grid_train_params_init (NervGridTrainParams * p);

/* The latents whose synthesis is the frame: a Laplacian pyramid (2x2
 * means down, the model's bicubic up), divided by step, the top level
 * less 1/2 (the skip's bias). frame: the clip format's planes; 4:2:0
 * chroma enters at level 1. */
void nerv_grid_laplacian (const NervModelConfig * cfg,
    const NervFrameFormat * fmt, const float *frame, float step, float *lat);

typedef struct _NervGridTrainer NervGridTrainer;

/* params: the model's parameters (layer table order), trained in place.
 * base: the latents before the group (integers as floats), NULL at a key
 * group. init0: where the first frame's latents start at a key group
 * (NULL: zeros); ignored with a base. */
NervGridTrainer *nerv_grid_trainer_new (const NervModelConfig * cfg,
    NervScratch * s, float *params, const NervClip * clip,
    const float *base, const float *init0, const NervGridTrainParams * p);
void nerv_grid_trainer_free (NervGridTrainer * t);
/* The motion of each frame from the one before (quarter pixels; for
 * frame 0 of a group with a base, from the base), [n][2]; none: zero. */
void nerv_grid_trainer_set_motion (NervGridTrainer * t, const int *mv);
/* Fake quantisation of the weights in the hard phase (in place, on a
 * copy of the parameters); NULL: none. */
void nerv_grid_trainer_set_fake_quant (NervGridTrainer * t,
    NervQuantFunc func, gpointer user_data);
/* The schedule; FALSE if the progress callback stopped it. */
gboolean nerv_grid_trainer_run (NervGridTrainer * t);
/* Lambda from now on (rate control between epochs). */
void nerv_grid_trainer_set_lambda (NervGridTrainer * t, float lambda);
float nerv_grid_trainer_get_lambda (NervGridTrainer * t);
/* The last epoch's mean bits per frame (training's estimate). */
double nerv_grid_trainer_bits (NervGridTrainer * t);
/* What frame i codes, rounded: t_i (latent size integers). */
void nerv_grid_trainer_coded (NervGridTrainer * t, int i, gint32 * out);

G_END_DECLS
#endif
