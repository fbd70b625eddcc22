/* gst-nerv: typefinder for .nerv streams
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A .nerv stream starts with its stream header packet: "NRV" 'S', the
 * payload length, then the version major byte (docs/bitstream.md). The
 * packet's CRC makes the match certain when the whole packet can be read.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstnervelements.h"
#include "nerv.h"

#include <string.h>

/* a stream header's payload is about 60 bytes; minor versions append */
#define MAX_STREAM_HEADER (64 * 1024)

static GstStaticCaps nerv_caps = GST_STATIC_CAPS (GST_NERV_CAPS_NAME);
#define NERV_CAPS (gst_static_caps_get (&nerv_caps))

static void
gst_nerv_type_find (GstTypeFind * tf, gpointer user_data)
{
  const guint8 *data = gst_type_find_peek (tf, 0, NERV_PACKET_HEADER + 1);
  NervPacket pkt;
  size_t used;
  guint32 len;

  if (!data || memcmp (data, "NRVS", 4) != 0)
    return;
  len = nerv_read_u32le (data + 4);
  if (len < 2 || len > MAX_STREAM_HEADER) {
    /* not a stream header a writer of any version makes */
    return;
  }

  data = gst_type_find_peek (tf, 0, NERV_PACKET_OVERHEAD + len);
  if (!data) {
    /* the packet cannot be checked: magic and version only */
    data = gst_type_find_peek (tf, 0, NERV_PACKET_HEADER + 1);
    if (data[NERV_PACKET_HEADER] == NERV_VERSION_MAJOR)
      gst_type_find_suggest (tf, GST_TYPE_FIND_NEARLY_CERTAIN, NERV_CAPS);
    return;
  }
  if (nerv_packet_parse (data, NERV_PACKET_OVERHEAD + len, &pkt, &used) ==
      NERV_OK) {
    /* another major version is still .nerv: nervparse then says which
     * version it would need */
    gst_type_find_suggest (tf, pkt.payload[0] == NERV_VERSION_MAJOR ?
        GST_TYPE_FIND_MAXIMUM : GST_TYPE_FIND_LIKELY, NERV_CAPS);
  } else if (data[NERV_PACKET_HEADER] == NERV_VERSION_MAJOR) {
    /* a damaged first packet: nervparse resynchronises */
    gst_type_find_suggest (tf, GST_TYPE_FIND_LIKELY, NERV_CAPS);
  }
}

GST_TYPE_FIND_REGISTER_DEFINE (nerv, GST_NERV_CAPS_NAME, GST_RANK_PRIMARY,
    gst_nerv_type_find, "nerv", NERV_CAPS, NULL, NULL);
