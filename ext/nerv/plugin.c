/* gst-nerv: GStreamer elements of the neural video codec
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * plugin-nerv:
 *
 * Video coded as neural networks: `nervenc` trains a small convolutional
 * decoder network per group of frames, `nervdec` runs it, `nervparse` and
 * the `nerv` typefinder make `.nerv` files play in playbin and decodebin.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstnervelements.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (nervenc, plugin);
  ret |= GST_ELEMENT_REGISTER (nervdec, plugin);
  ret |= GST_ELEMENT_REGISTER (nervparse, plugin);
  ret |= GST_TYPE_FIND_REGISTER (nerv, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, nerv,
    "Neural network video codec (HNeRV/NeRV)", plugin_init, PACKAGE_VERSION,
    "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
