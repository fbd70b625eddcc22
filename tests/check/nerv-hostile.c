/* gst-nerv: hostile .nerv streams
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-hostile.h"

#include <string.h>

void
nerv_hostile_resync (GByteArray * out, gsize len, gsize tail)
{
  const gsize start = out->len, n = len / 8;

  for (gsize i = 0; i < n; i++) {
    guint8 c[8] = { 'N', 'R', 'V', 'S' };
    /* from this candidate to the end of the data */
    const gsize total = (n - i) * 8 + tail;
    nerv_write_u32le (c + 4, (guint32) MIN (total - NERV_PACKET_OVERHEAD,
            NERV_MAX_PAYLOAD));
    g_byte_array_append (out, c, sizeof (c));
  }
  g_assert (out->len - start == n * 8);
}

void
nerv_hostile_interleaved (GByteArray * out, gsize len, gsize tail,
    guint * n_valid)
{
  /* a candidate (8 bytes) and a valid empty packet of type 'x' (12) */
  const gsize unit = 8 + NERV_PACKET_OVERHEAD, n = len / unit;
  guint valid = 0;

  for (gsize i = 0; i < n; i++) {
    guint8 c[8] = { 'N', 'R', 'V', 'G' };
    const gsize total = (n - i) * unit + tail;
    nerv_write_u32le (c + 4, (guint32) MIN (total - NERV_PACKET_OVERHEAD,
            NERV_MAX_PAYLOAD));
    g_byte_array_append (out, c, sizeof (c));
    nerv_packet_write (out, 'x', NULL, 0);
    valid++;
  }
  if (n_valid)
    *n_valid = valid;
}

void
nerv_hostile_unknown (GByteArray * out, const guint8 * stream,
    gsize stream_len, gsize len, gsize pkt_size)
{
  NervPacket pkt;
  size_t first;
  guint8 *payload = g_malloc0 (pkt_size - NERV_PACKET_OVERHEAD);

  g_assert (pkt_size > NERV_PACKET_OVERHEAD);
  g_assert (nerv_packet_parse (stream, stream_len, &pkt, &first) == NERV_OK);
  g_assert (pkt.type == NERV_PACKET_STREAM);
  g_byte_array_append (out, stream, first);
  for (gsize done = 0; done < len; done += pkt_size) {
    memcpy (payload, &done, MIN (sizeof (done), pkt_size -
            NERV_PACKET_OVERHEAD));
    nerv_packet_write (out, 'X', payload, pkt_size - NERV_PACKET_OVERHEAD);
  }
  g_byte_array_append (out, stream + first, stream_len - first);
  g_free (payload);
}

void
nerv_hostile_big_header (GByteArray * out, int width, int height,
    size_t params, int variant)
{
  NervStreamHeader h;
  GByteArray *pl = g_byte_array_new ();

  memset (&h, 0, sizeof (h));
  h.version_major = 2;          /* kinds 0 and 1 are 2.x streams */
  h.format = NERV_FORMAT_RGB;
  h.fps_n = 25;
  h.fps_d = 1;
  h.group_size = 1;
  h.key_interval = 1;
  h.weight_bits = 8;
  h.embed_bits = variant ? 7 : 6;
  g_assert (nerv_model_config_for_budget (&h.model, NERV_MODEL_HNERV, width,
          height, 3, params, NULL));
  nerv_stream_header_write (&h, pl);
  nerv_packet_write (out, NERV_PACKET_STREAM, pl->data, pl->len);
  g_byte_array_free (pl, TRUE);
}

void
nerv_hostile_headers (GByteArray * out, int reps)
{
  GByteArray *a = g_byte_array_new (), *b = g_byte_array_new ();
  GByteArray *f = g_byte_array_new ();
  NervFrameHeader fh = { 0, };

  nerv_hostile_big_header (a, 8192, 8192, 2000000, 0);
  nerv_hostile_big_header (b, 8192, 8192, 2000000, 1);
  nerv_frame_header_write (&fh, f);
  for (int i = 0; i < reps; i++) {
    g_byte_array_append (out, a->data, a->len);
    nerv_packet_write (out, NERV_PACKET_FRAME, f->data, f->len);
    g_byte_array_append (out, b->data, b->len);
    nerv_packet_write (out, NERV_PACKET_FRAME, f->data, f->len);
  }
  g_byte_array_free (a, TRUE);
  g_byte_array_free (b, TRUE);
  g_byte_array_free (f, TRUE);
}
