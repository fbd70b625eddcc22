/* gst-nerv: what nervenc and nervdec share: raw formats and plane order
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstnervutils.h"

NervPixelFormat
gst_nerv_core_format_for (GstVideoFormat in)
{
  switch (in) {
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_NV12:
      return NERV_FORMAT_I420;
    case GST_VIDEO_FORMAT_Y42B:
    case GST_VIDEO_FORMAT_Y444:
      return NERV_FORMAT_Y444;
    case GST_VIDEO_FORMAT_GRAY8:
      return NERV_FORMAT_GRAY8;
    default:
      return NERV_FORMAT_RGB;
  }
}

GstVideoFormat
gst_nerv_video_format (NervPixelFormat f)
{
  switch (f) {
    case NERV_FORMAT_I420:
      return GST_VIDEO_FORMAT_I420;
    case NERV_FORMAT_Y444:
      return GST_VIDEO_FORMAT_Y444;
    case NERV_FORMAT_RGB:
      return GST_VIDEO_FORMAT_GBR;
    case NERV_FORMAT_GRAY8:
      return GST_VIDEO_FORMAT_GRAY8;
  }
  return GST_VIDEO_FORMAT_UNKNOWN;
}

guint
gst_nerv_frame_plane (NervPixelFormat f, guint c)
{
  static const guint gbr_plane[3] = { 2, 0, 1 };

  return f == NERV_FORMAT_RGB && c < 3 ? gbr_plane[c] : c;
}
