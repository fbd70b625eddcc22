/* gst-nerv: nervdec
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_NERV_DEC_H
#define GST_NERV_DEC_H

#include <gst/gst.h>
#include <gst/video/video.h>

#include "nerv.h"

G_BEGIN_DECLS

#define GST_TYPE_NERV_DEC (gst_nerv_dec_get_type ())
G_DECLARE_FINAL_TYPE (GstNervDec, gst_nerv_dec, GST, NERV_DEC, GstVideoDecoder)

struct _GstNervDec
{
  GstVideoDecoder parent;

  guint threads;                /* property (object lock) */
  guint warnings;               /* read-only property (object lock) */

  GstVideoCodecState *input_state;
  GstVideoCodecState *output_state;
  NervDecoder *core;
  gboolean waiting_for_key;     /* after a flush or an error */
  gboolean quiet_wait;          /* the wait is for a flush or seek: frames
                                 * dropped before the key are no news */
  gboolean warned_wait;         /* the frames of this wait were warned of */
};

G_END_DECLS
#endif
