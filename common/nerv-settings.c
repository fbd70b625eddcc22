/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The one place where the encoder's settings get their ranges, defaults
 * and presets. A default that changes is changed here; nervenc's property
 * specs, nerv-tool's options and nerv_encoder_new()'s checks follow (and
 * docs/elements.md, which the elements-docs test holds to the specs).
 */
#include "nerv-settings.h"
#include "nerv-bitstream.h"

#include <math.h>
#include <string.h>

/* the default preset's epochs, which are also the settings' defaults */
#define DEFAULT_EPOCHS_KEY 300
#define DEFAULT_EPOCHS_DELTA 60

typedef enum {
  FIELD_INT,
  FIELD_UINT,                   /* guint and guint32 */
  FIELD_SIZE,
  FIELD_FLOAT,
} FieldType;

typedef struct {
  NervSettingInfo info;
  size_t offset;                /* in NervEncoderSettings */
  FieldType type;
} SettingField;

#define FIELD(f, t) offsetof (NervEncoderSettings, f), t

static const SettingField fields[NERV_N_SETTINGS] = {
  [NERV_SETTING_BITRATE] = {{"bitrate",
          "Target bitrate in kbit/s; 0 codes with a fixed model size (params)",
          0, 1000000, 0, TRUE}, FIELD (bitrate, FIELD_UINT)},
  [NERV_SETTING_PARAMS] = {{"params",
          "Decoder network size in parameters when bitrate is 0; 0: from the "
          "picture size (20000 at 320x192)",
          0, NERV_MAX_PARAMS, 0, TRUE}, FIELD (params, FIELD_SIZE)},
  [NERV_SETTING_GROUP_SIZE] = {{"group-size",
          "Frames per group (one network each); 0: chosen from the bitrate "
          "(8 without one)", 0, NERV_MAX_GROUP, 0, TRUE},
      FIELD (group_size, FIELD_INT)},
  [NERV_SETTING_KEY_INTERVAL] = {{"key-interval",
          "Groups per key group (weights coded whole, a seek point)",
          1, 65535, 8, TRUE}, FIELD (key_interval, FIELD_INT)},
  [NERV_SETTING_EPOCHS_KEY] = {{"epochs-key",
          "Training epochs of a model from scratch (the first group)",
          1, 100000, DEFAULT_EPOCHS_KEY, TRUE}, FIELD (epochs_key, FIELD_INT)},
  [NERV_SETTING_EPOCHS_DELTA] = {{"epochs-delta",
          "Training epochs of a group that starts from the last",
          1, 100000, DEFAULT_EPOCHS_DELTA, TRUE},
      FIELD (epochs_delta, FIELD_INT)},
  [NERV_SETTING_QAT_EPOCHS] = {{"qat-epochs",
          "Quantisation-aware fine-tune epochs", 0, 100000, 10, TRUE},
      FIELD (qat_epochs, FIELD_INT)},
  [NERV_SETTING_WEIGHT_BITS] = {{"weight-bits",
          "Bits per quantised weight", 2, 16, 8, TRUE},
      FIELD (weight_bits, FIELD_INT)},
  [NERV_SETTING_EMBED_BITS] = {{"embed-bits",
          "Bits per quantised embedding value", 2, 16, 6, TRUE},
      FIELD (embed_bits, FIELD_INT)},
  [NERV_SETTING_LR] = {{"lr",
          "Learning rate; 0: by model size (2e-2 below 100k parameters, "
          "else 1e-3)", 0, 1, 0, FALSE}, FIELD (lr, FIELD_FLOAT)},
  [NERV_SETTING_EMBED_LR] = {{"embed-lr",
          "Embedding learning rate, times lr; 0: by model size (4 below 100k "
          "parameters, else 1)", 0, 1000, 0, FALSE},
      FIELD (embed_lr, FIELD_FLOAT)},
  [NERV_SETTING_DELTA_LR] = {{"delta-lr",
          "Learning rate of groups that start from the last, times lr",
          0, 10, 1, FALSE, TRUE}, FIELD (delta_lr, FIELD_FLOAT)},
  [NERV_SETTING_DEADZONE] = {{"deadzone",
          "Residual changes under this many steps are not coded (0.5: plain "
          "rounding)", 0, 1000, 0.5, FALSE}, FIELD (deadzone, FIELD_FLOAT)},
  [NERV_SETTING_THREADS] = {{"threads",
          "Threads; 0: one per processor", 0, 256, 0, TRUE},
      FIELD (threads, FIELD_INT)},
  [NERV_SETTING_SEED] = {{"seed",
          "Random seed: the same input and settings give the same stream",
          0, G_MAXUINT32, 1, TRUE}, FIELD (seed, FIELD_UINT)},
  [NERV_SETTING_LAMBDA] = {{"lambda",
          "Constant quality (latent-grid model): the rate-distortion "
          "trade-off, MSE + lambda x bits per pixel; larger is smaller and "
          "worse; 0: from the bitrate, or 0.004 without one",
          0, 1, 0, FALSE}, FIELD (lambda, FIELD_FLOAT)},
  [NERV_SETTING_KEY_FRAMES] = {{"key-int-max",
          "Most frames from one key group (seek point) to the next, groups "
          "shortened to fit; 0: key-interval groups", 0, 1 << 24, 0, TRUE},
      FIELD (key_frames, FIELD_INT)},
};

#undef FIELD

static const NervPresetInfo presets[] = {
  [NERV_PRESET_ULTRAFAST] = {"ultrafast", 30, 8},
  [NERV_PRESET_VERYFAST] = {"veryfast", 60, 15},
  [NERV_PRESET_FAST] = {"fast", 150, 30},
  [NERV_PRESET_MEDIUM] = {"medium", DEFAULT_EPOCHS_KEY, DEFAULT_EPOCHS_DELTA},
  [NERV_PRESET_SLOW] = {"slow", 600, 120},
  [NERV_PRESET_VERYSLOW] = {"veryslow", 1200, 240},
};

const NervSettingInfo *
nerv_setting_info (NervSetting id)
{
  g_return_val_if_fail (id < NERV_N_SETTINGS, NULL);
  return &fields[id].info;
}

double
nerv_encoder_settings_get (const NervEncoderSettings * s, NervSetting id)
{
  const SettingField *f = &fields[id];
  const char *p = (const char *) s + f->offset;

  switch (f->type) {
    case FIELD_INT:
      return *(const int *) p;
    case FIELD_UINT:
      return *(const guint *) p;
    case FIELD_SIZE:
      return (double) *(const size_t *) p;
    case FIELD_FLOAT:
      return *(const float *) p;
  }
  return 0;
}

/* v within the range of setting id; error set when not */
static gboolean
check_value (NervSetting id, double v, GError ** error)
{
  const NervSettingInfo *i = &fields[id].info;
  const gboolean above_min = i->min_open ? v > i->min : v >= i->min;

  if (!above_min || !(v <= i->max))
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
        i->min_open ? "%s %.10g not within (%.10g, %.10g]" :
        "%s %.10g not within %.10g..%.10g", i->name, v, i->min, i->max);
  else if (i->whole && v != floor (v))
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
        "%s %.10g is not a whole number", i->name, v);
  else
    return TRUE;
  return FALSE;
}

static void
set_value (NervEncoderSettings * s, NervSetting id, double v)
{
  const SettingField *f = &fields[id];
  char *p = (char *) s + f->offset;

  switch (f->type) {
    case FIELD_INT:
      *(int *) p = (int) v;
      break;
    case FIELD_UINT:
      *(guint *) p = (guint) v;
      break;
    case FIELD_SIZE:
      *(size_t *) p = (size_t) v;
      break;
    case FIELD_FLOAT:
      *(float *) p = (float) v;
      break;
  }
}

gboolean
nerv_encoder_settings_set (NervEncoderSettings * s, NervSetting id, double v,
    GError ** error)
{
  g_return_val_if_fail (id < NERV_N_SETTINGS, FALSE);
  if (!check_value (id, v, error))
    return FALSE;
  set_value (s, id, v);
  return TRUE;
}

void
nerv_encoder_settings_init (NervEncoderSettings * s)
{
  memset (s, 0, sizeof (*s));
  s->format = NERV_FORMAT_I420;
  s->fps_n = 25;
  s->fps_d = 1;
  s->kind = NERV_MODEL_HNERV;
  for (int id = 0; id < NERV_N_SETTINGS; id++)
    set_value (s, id, fields[id].info.def);
}

gboolean
nerv_encoder_settings_check (const NervEncoderSettings * s, GError ** error)
{
  if (s->width < 1 || s->width > NERV_MAX_DIM || s->height < 1
      || s->height > NERV_MAX_DIM) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
        "frame size %dx%d not within 1..%d", s->width, s->height,
        NERV_MAX_DIM);
    return FALSE;
  }
  if (s->format > NERV_FORMAT_GRAY8) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID, "unknown pixel format");
    return FALSE;
  }
  for (int id = 0; id < NERV_N_SETTINGS; id++) {
    /* with a bitrate the rate control picks the model: params is unused */
    if (id == NERV_SETTING_PARAMS && s->bitrate > 0)
      continue;
    if (!check_value (id, nerv_encoder_settings_get (s, id), error))
      return FALSE;
  }
  return TRUE;
}

size_t
nerv_default_params (int width, int height)
{
  const double p = 20000.0 * width * height / (320.0 * 192.0);
  return (size_t) CLAMP (p, 100.0, (double) NERV_MAX_PARAMS);
}

float
nerv_default_lr (size_t params)
{
  return params < 100000 ? 2e-2f : 1e-3f;
}

float
nerv_default_embed_lr (size_t params)
{
  return params < 100000 ? 4.0f : 1.0f;
}

/* ---- presets ---------------------------------------------------------- */

const NervPresetInfo *
nerv_preset_info (NervSpeedPreset p)
{
  return p >= NERV_PRESET_FIRST && p <= NERV_PRESET_LAST ? &presets[p] : NULL;
}

NervSpeedPreset
nerv_preset_from_name (const char *name)
{
  for (NervSpeedPreset p = NERV_PRESET_FIRST; p <= NERV_PRESET_LAST; p++)
    if (name && !strcmp (name, presets[p].name))
      return p;
  return 0;
}

void
nerv_encoder_settings_apply_preset (NervEncoderSettings * s,
    NervSpeedPreset p)
{
  const NervPresetInfo *info = nerv_preset_info (p);

  g_return_if_fail (info != NULL);
  s->epochs_key = info->epochs_key;
  s->epochs_delta = info->epochs_delta;
}

void
nerv_encoder_settings_apply_epochs (NervEncoderSettings * s, int epochs)
{
  s->epochs_key = epochs;
  s->epochs_delta = MAX (1, epochs / 5);
}
