/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Clips of frames, the loss, and the training loop.
 */
#ifndef NERV_TRAIN_H
#define NERV_TRAIN_H

#include "nerv-frame.h"
#include "nerv-model.h"

G_BEGIN_DECLS

/* Float frames in [0,1], laid out as nerv-frame.h says. */
typedef struct {
  NervFrameFormat fmt;
  int n_frames;
  size_t frame_size;            /* floats per frame, all planes */
  float *data;                  /* [n_frames][frame_size] */
} NervClip;

NervClip *nerv_clip_new (const NervFrameFormat * fmt, int n_frames);
void nerv_clip_free (NervClip * clip);
float *nerv_clip_plane (const NervClip * clip, int frame, int plane);
/* Read frames from an 8-bit YUV4MPEG2 (4:2:0 or mono) file. max_frames 0:
 * all. start: frames to skip. */
NervClip *nerv_clip_load_y4m (const char *path, int start, int max_frames,
    GError ** error);
/* Read frames of a headerless 8-bit I420 file. */
NervClip *nerv_clip_load_i420 (const char *path, int width, int height,
    int start, int max_frames, GError ** error);
/* A crop (x, y, w, h) of every frame; x, y even for subsampled formats. */
NervClip *nerv_clip_crop (const NervClip * clip, int x, int y, int w, int h,
    int start, int n_frames);

/* Per-plane squared error of a network output [c][out_h][out_w] (the
 * frame is its top-left corner; subsampled planes compare the 2x2 mean of
 * the output) against a frame. Writes the gradient of the weighted loss
 *   L = sum_c w_c MSE_c / sum_c w_c
 * scaled by grad_scale into dout (padding gets 0), when dout is not NULL.
 * Returns L; mse[c] gets each plane's MSE. */
double nerv_frame_loss (const NervFrameFormat * fmt, const float *out,
    int out_w, int out_h, const float *frame, float grad_scale, float *dout,
    double *mse);

/* The frame a network output shows: plane c is output channel c, cropped
 * to the frame, subsampled planes as 2x2 means (float, not clamped). */
void nerv_frame_from_output (const NervFrameFormat * fmt, const float *out,
    int out_w, int out_h, float *frame);

typedef struct {
  int epoch, n_epochs;
  int step, n_steps;
  double loss;                  /* mean loss of the epoch */
  double psnr_y, psnr_yuv;      /* from the epoch's mean plane MSEs */
  double elapsed_s;
} NervTrainProgress;

/* Return FALSE to stop training early. */
typedef gboolean (*NervProgressFunc) (const NervTrainProgress * p,
    gpointer user_data);

typedef struct {
  int epochs;
  int batch;                    /* frames per optimiser step */
  float lr;
  float warmup;                 /* share of the steps with linear warm-up */
  float embed_lr_scale;         /* embedding lr = lr * this */
  float embed_init;             /* embeddings start U(-a, a) */
  guint32 seed;
  gboolean shuffle;             /* frame order shuffled per epoch */
  NervProgressFunc progress;
  gpointer user_data;
} NervTrainParams;

void nerv_train_params_init (NervTrainParams * p);

/* Learning rate of step t of n: linear warm-up from 0.1 lr over the first
 * warmup*n steps, then cosine decay to 0 (HNeRV's schedule). */
float nerv_lr_at (const NervTrainParams * p, int t, int n);

typedef struct _NervTrainer NervTrainer;

/* Model parameters are initialised from the seed unless init_from_model
 * is TRUE (then the model's current weights are the start). */
NervTrainer *nerv_trainer_new (NervModel * model, const NervClip * clip,
    const NervTrainParams * params, gboolean init_from_model);
void nerv_trainer_free (NervTrainer * t);
/* Change the schedule (epochs, lr, ...) for a further phase; weights,
 * embeddings and Adam state are kept. */
void nerv_trainer_set_params (NervTrainer * t, const NervTrainParams * params);

/* Quantisation-aware training: each step runs forward and backward on
 * quant(params) (in place, e.g. nerv_quant_fake) and on embeddings
 * quantised to embed_bits (0: not), and applies the gradient to the float
 * weights (straight-through estimator). func NULL: off. */
typedef void (*NervQuantFunc) (float *params, gpointer user_data);
void nerv_trainer_set_fake_quant (NervTrainer * t, NervQuantFunc func,
    gpointer user_data, int embed_bits);

/* [n_frames][embed_size] (HNeRV), NULL for NeRV */
float *nerv_trainer_embeddings (NervTrainer * t);
/* One optimiser step on the given frames (batch = n). Returns the loss. */
double nerv_trainer_step (NervTrainer * t, const int *frames, int n,
    float lr, double *mse);
/* The whole schedule; returns FALSE if the callback stopped it. */
gboolean nerv_trainer_run (NervTrainer * t);
/* Forward every frame; mean plane MSEs over the clip (float output). */
void nerv_trainer_evaluate (NervTrainer * t, double *mse);
/* As evaluate, with the output rounded to 8 bits, as a decoder shows it. */
void nerv_trainer_evaluate_u8 (NervTrainer * t, double *mse);

G_END_DECLS
#endif
