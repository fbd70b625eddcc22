/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoder's settings and its progress report: what the elements and
 * tools fill in and what the encoder (nerv-codec.c) and its rate control
 * (nerv-ratecontrol.c) read. Every numeric setting's range and default,
 * and the speed presets, are written once, in nerv-settings.c's tables:
 * nerv_encoder_settings_init() sets the defaults, nerv_encoder_new()
 * checks the ranges (nerv_encoder_settings_check()), nervenc's property
 * specs and nerv-tool's options and help read both from there.
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
  size_t params;                /* decoder parameter budget (no bitrate);
                                 * 0: from the picture size,
                                 * nerv_default_params() */
  int group_size;               /* frames per group; 0: chosen from the
                                 * bitrate (8 without one) */
  int key_interval;             /* groups per key period */
  int key_frames;               /* most frames from one key group to the
                                 * next (groups shortened to fit); 0:
                                 * key_interval groups */
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
  float lambda;                 /* kind 2: the rate-distortion trade-off
                                 * (MSE + lambda x bits per pixel); 0: from
                                 * the bitrate, or the default without one */
  int threads;                  /* 0: all */
  guint32 seed;
  NervEncoderProgressFunc progress;
  gpointer user_data;
} NervEncoderSettings;

/* The defaults: every numeric setting its table default, 25 fps I420
 * HNeRV, no frame size (the caller sets width and height). */
void nerv_encoder_settings_init (NervEncoderSettings * s);

/* The learning rate and the embeddings' factor a model of this many
 * parameters trains with when lr and embed_lr are 0 (measured,
 * docs/design.md: small models want a large rate, and their embeddings a
 * larger one). */
float nerv_default_lr (size_t params);
/* The parameter budget of params 0 (no bitrate): in proportion to the
 * picture, 20000 at 320x192 (the measured default of that size). */
size_t nerv_default_params (int width, int height);
float nerv_default_embed_lr (size_t params);

/* ---- the numeric settings: ranges and defaults ------------------------ */

typedef enum {
  NERV_SETTING_BITRATE,
  NERV_SETTING_PARAMS,
  NERV_SETTING_GROUP_SIZE,
  NERV_SETTING_KEY_INTERVAL,
  NERV_SETTING_EPOCHS_KEY,
  NERV_SETTING_EPOCHS_DELTA,
  NERV_SETTING_QAT_EPOCHS,
  NERV_SETTING_WEIGHT_BITS,
  NERV_SETTING_EMBED_BITS,
  NERV_SETTING_LR,
  NERV_SETTING_EMBED_LR,
  NERV_SETTING_DELTA_LR,
  NERV_SETTING_DEADZONE,
  NERV_SETTING_THREADS,
  NERV_SETTING_SEED,
  NERV_SETTING_LAMBDA,
  NERV_SETTING_KEY_FRAMES,
  NERV_N_SETTINGS
} NervSetting;

typedef struct {
  const char *name;             /* as options spell it: "group-size" */
  const char *blurb;            /* what it does, one line for help texts */
  double min, max;              /* what nerv_encoder_new() accepts */
  double def;                   /* what nerv_encoder_settings_init() sets */
  gboolean whole;               /* a whole number (else a fraction) */
  gboolean min_open;            /* min itself is refused: (min, max] */
} NervSettingInfo;

/* id < NERV_N_SETTINGS */
const NervSettingInfo *nerv_setting_info (NervSetting id);
double nerv_encoder_settings_get (const NervEncoderSettings * s, NervSetting id);
/* Sets the setting to v; FALSE (error set, s unchanged) when v is not
 * within its range or not a whole number where one is needed. */
gboolean nerv_encoder_settings_set (NervEncoderSettings * s, NervSetting id,
    double v, GError ** error);
/* Every setting within its range (params only without a bitrate, where it
 * is used), the frame size and format; FALSE with the first that is not. */
gboolean nerv_encoder_settings_check (const NervEncoderSettings * s,
    GError ** error);

/* ---- speed presets: training effort ----------------------------------- */

typedef enum {
  NERV_PRESET_ULTRAFAST = 1,
  NERV_PRESET_VERYFAST,
  NERV_PRESET_FAST,
  NERV_PRESET_MEDIUM,
  NERV_PRESET_SLOW,
  NERV_PRESET_VERYSLOW,
} NervSpeedPreset;

#define NERV_PRESET_FIRST NERV_PRESET_ULTRAFAST
#define NERV_PRESET_LAST NERV_PRESET_VERYSLOW
/* the one whose epochs nerv_encoder_settings_init() sets */
#define NERV_PRESET_DEFAULT NERV_PRESET_MEDIUM

typedef struct {
  const char *name;             /* "ultrafast" */
  int epochs_key, epochs_delta;
} NervPresetInfo;

/* NULL for a value that is not a preset */
const NervPresetInfo *nerv_preset_info (NervSpeedPreset p);
/* The preset named so, 0 when none is. */
NervSpeedPreset nerv_preset_from_name (const char *name);
/* The preset's epochs_key and epochs_delta; nothing else changes. */
void nerv_encoder_settings_apply_preset (NervEncoderSettings * s,
    NervSpeedPreset p);
/* One number for the training effort: epochs from scratch, and a fifth of
 * them (at least 1) for groups started from the last (nervenc's
 * `epochs`). */
void nerv_encoder_settings_apply_epochs (NervEncoderSettings * s, int epochs);

G_END_DECLS
#endif
