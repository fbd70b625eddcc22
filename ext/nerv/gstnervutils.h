/* gst-nerv: what nervenc and nervdec share: raw formats and plane order
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_NERV_UTILS_H
#define GST_NERV_UTILS_H

#include <gst/video/video.h>

#include "nerv.h"

G_BEGIN_DECLS

/* The core format an input format is coded as: 4:2:0 stays 4:2:0, 4:2:2
 * and 4:4:4 become 4:4:4, grey stays grey, anything else (RGB) becomes
 * planar RGB. */
NervPixelFormat gst_nerv_core_format_for (GstVideoFormat in);

/* The raw format that holds the frames of a core format, planar in the
 * core's plane order up to gst_nerv_frame_plane(). */
GstVideoFormat gst_nerv_video_format (NervPixelFormat f);

/* The plane of a gst_nerv_video_format() frame that holds the core's
 * plane @c (the core's R, G, B are GBR's planes 2, 0, 1). */
guint gst_nerv_frame_plane (NervPixelFormat f, guint c);

G_END_DECLS
#endif
