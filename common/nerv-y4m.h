/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reading 8-bit YUV4MPEG2 files (4:2:0, 4:4:4 or mono), for the tools and
 * the training loop.
 */
#ifndef NERV_Y4M_H
#define NERV_Y4M_H

#include <stdio.h>

#include "nerv-frame.h"

G_BEGIN_DECLS

typedef struct {
  FILE *f;
  int width, height;
  guint32 fps_n, fps_d;         /* 25/1 when the header has none */
  NervPixelFormat format;       /* I420, Y444 or GRAY8 */
  NervFrameFormat fmt;
  size_t frame_size;            /* bytes of one frame, all planes */
} NervY4m;

/* Opens the file and reads its header; on failure nothing stays open. */
gboolean nerv_y4m_open (NervY4m * y, const char *path, GError ** error);
/* The next frame's bytes (planes one after the other); FALSE at the end
 * or on a short frame. */
gboolean nerv_y4m_read_frame (NervY4m * y, guint8 * buf);
void nerv_y4m_close (NervY4m * y);

G_END_DECLS
#endif
