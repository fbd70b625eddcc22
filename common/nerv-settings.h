/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoder's settings and its progress report: what the elements and
 * tools fill in (nerv_encoder_settings_init gives the defaults) and what
 * the encoder (nerv-codec.c) and its rate control (nerv-ratecontrol.c)
 * read.
 */
#ifndef NERV_SETTINGS_H
#define NERV_SETTINGS_H

#include "nerv-frame.h"
#include "nerv-train.h"

G_BEGIN_DECLS

typedef struct {
  int group;                    /* group number */
  gboolean key;
  gboolean quantising;          /* the quantisation-aware fine-tune */
  const NervTrainProgress *train;
  const NervTrainParams *params;        /* the schedule in force */
} NervEncoderProgress;

typedef gboolean (*NervEncoderProgressFunc) (const NervEncoderProgress * p,
    gpointer user_data);

typedef struct {
  int width, height;
  NervPixelFormat format;
  guint32 fps_n, fps_d;         /* 0/1: unknown (25 assumed for rates) */
  NervModelKind kind;
  guint bitrate;                /* kbit/s target; 0: use params */
  guint64 expected_frames;      /* frames of the clip, when known (0: not):
                                 * the rate control pays the model over them */
  size_t params;                /* decoder parameter budget (no bitrate) */
  int group_size;               /* frames per group; 0: chosen from the
                                 * bitrate (8 without one) */
  int key_interval;             /* groups per key period */
  int epochs_key;               /* training epochs of a model from scratch */
  int epochs_delta;             /* epochs of a group started from the last */
  int qat_epochs;               /* quantisation-aware fine-tune epochs */
  int weight_bits, embed_bits;
  float lr, embed_lr;           /* 0: chosen by model size */
  float delta_lr;               /* lr of groups started from the last, x lr */
  gboolean from_scratch;        /* every group trained from the seed for
                                 * epochs_key (no autoregressive start; every
                                 * group a key group): for comparisons */
  float deadzone;               /* residual changes below this many steps
                                 * are not coded (0.5: plain rounding) */
  int threads;                  /* 0: all */
  guint32 seed;
  NervEncoderProgressFunc progress;
  gpointer user_data;
} NervEncoderSettings;

void nerv_encoder_settings_init (NervEncoderSettings * s);

G_END_DECLS
#endif
