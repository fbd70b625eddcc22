/* gst-nerv: nervenc
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_NERV_ENC_H
#define GST_NERV_ENC_H

#include <gst/gst.h>
#include <gst/video/video.h>

#include "nerv-codec.h"

G_BEGIN_DECLS

#define GST_TYPE_NERV_ENC (gst_nerv_enc_get_type ())
G_DECLARE_FINAL_TYPE (GstNervEnc, gst_nerv_enc, GST, NERV_ENC, GstVideoEncoder)

typedef enum {
  GST_NERV_ENC_MODEL_HNERV = 0,
  GST_NERV_ENC_MODEL_NERV = 1,
} GstNervEncModel;

typedef enum {
  GST_NERV_ENC_PRESET_ULTRAFAST = 1,
  GST_NERV_ENC_PRESET_VERYFAST = 2,
  GST_NERV_ENC_PRESET_FAST = 3,
  GST_NERV_ENC_PRESET_MEDIUM = 4,
  GST_NERV_ENC_PRESET_SLOW = 5,
  GST_NERV_ENC_PRESET_VERYSLOW = 6,
} GstNervEncPreset;

struct _GstNervEnc
{
  GstVideoEncoder parent;

  /* properties (object lock) */
  guint bitrate;
  guint params;
  GstNervEncModel model;
  GstNervEncPreset preset;
  guint epochs;
  guint group_size;
  guint keyframe_interval;
  guint weight_bits;
  guint embed_bits;
  guint threads;
  guint seed;

  /* streaming */
  GstVideoCodecState *input_state;
  GstVideoInfo conv_info;       /* what the core takes */
  GstVideoConverter *convert;   /* NULL when the input is taken as it is */
  NervPixelFormat core_format;
  NervEncoder *core;
  gboolean training;             /* a progress run was started */
};

G_END_DECLS
#endif
