/* gst-nerv: nervenc
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_NERV_ENC_H
#define GST_NERV_ENC_H

#include <gst/gst.h>
#include <gst/video/video.h>

#include "nerv.h"

G_BEGIN_DECLS

#define GST_TYPE_NERV_ENC (gst_nerv_enc_get_type ())
G_DECLARE_FINAL_TYPE (GstNervEnc, gst_nerv_enc, GST, NERV_ENC, GstVideoEncoder)

struct _GstNervEnc
{
  GstVideoEncoder parent;

  /* properties (object lock): the core's settings, which most properties
   * write straight into, and the two that decide its epochs */
  NervEncoderSettings settings;
  NervSpeedPreset preset;
  guint epochs;                 /* 0: the preset's */

  /* streaming */
  GstVideoCodecState *input_state;
  GstVideoInfo conv_info;       /* what the core takes */
  GstVideoConverter *convert;   /* NULL when the input is taken as it is */
  NervPixelFormat core_format;
  NervEncoder *core;            /* set and cleared under the object lock:
                                 * other threads interrupt it */
  gboolean training;             /* a progress run was started */
  gboolean bitrate_changed;     /* bitrate set while the core runs (object
                                 * lock); applied before the next frame */
  GstCaps *failed_caps;         /* the caps the core could not be set up
                                 * for (the error was posted) */
  guint64 raw_bytes, coded_bytes;       /* of the stream so far */
  gboolean warned_size, warned_floor;
  GstClockTime group_latency;   /* a group's duration */
  GstClockTime latency;         /* reported: a group and its training */
  /* progress of the stream */
  guint64 expected_frames;      /* from the duration; 0: not known */
  guint64 frames_coded;
  gint64 t_start;               /* the first training report */
  int duration_group;           /* the group the duration was asked in */
  int epochs_delta, qat_epochs;
};

G_END_DECLS
#endif
