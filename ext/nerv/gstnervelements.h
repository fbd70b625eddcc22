/* gst-nerv: GStreamer elements of the neural video codec
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_NERV_ELEMENTS_H
#define GST_NERV_ELEMENTS_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* caps of a .nerv stream; parsed=true: one buffer per frame */
#define GST_NERV_CAPS_NAME "video/x-nerv"

GST_ELEMENT_REGISTER_DECLARE (nervenc);
GST_ELEMENT_REGISTER_DECLARE (nervdec);
GST_ELEMENT_REGISTER_DECLARE (nervparse);
GST_TYPE_FIND_REGISTER_DECLARE (nerv);

G_END_DECLS
#endif
