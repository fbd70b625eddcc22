/* gst-nerv: libFuzzer target: packet framing and the header parsers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: one flags byte (bit 0: rewrite every packet's CRC first), then
 * a byte stream. Every packet found is parsed with the parser of its
 * type; after SYNC or CRC errors the scan resumes at the next marker.
 */
#include "fuzz-common.h"

static void
parse_one (const NervPacket * pkt)
{
  NervStreamHeader h;
  NervGroupHeader g;
  NervFrameHeader f;
  NervStatus st;

  /* every parser on every payload: a parser must not trust the type */
  st = nerv_stream_header_parse (pkt->payload, pkt->size, &h);
  if (st == NERV_OK) {
    /* a header that parses must describe a valid network */
    if (!nerv_model_config_validate (&h.model, NULL))
      __builtin_trap ();
    if (h.group_size < 1 || h.group_size > NERV_MAX_GROUP)
      __builtin_trap ();
  }
  st = nerv_group_header_parse (pkt->payload, pkt->size, &g);
  if (st == NERV_OK && (g.body + g.body_size > pkt->payload + pkt->size
          || g.body < pkt->payload))
    __builtin_trap ();
  st = nerv_frame_header_parse (pkt->payload, pkt->size, &f);
  if (st == NERV_OK && (f.body + f.body_size > pkt->payload + pkt->size
          || f.body < pkt->payload))
    __builtin_trap ();
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  guint8 *buf;
  size_t pos = 0, n;

  if (size < 1)
    return 0;
  n = size - 1;
  /* a private, exactly sized copy so ASan sees any overread */
  buf = g_malloc (MAX (n, 1));
  memcpy (buf, data + 1, n);
  if (data[0] & 1)
    nerv_fuzz_fix_crcs (buf, n);

  while (pos < n) {
    NervPacket pkt;
    size_t used = 0, skip;
    NervStatus st = nerv_packet_parse (buf + pos, n - pos, &pkt, &used);

    if (st == NERV_OK) {
      if (used < NERV_PACKET_OVERHEAD || used > n - pos)
        __builtin_trap ();
      parse_one (&pkt);
      pos += used;
      continue;
    }
    if (st == NERV_ERR_NEED_MORE && buf[pos] == 'N')
      break;
    skip = nerv_packet_find_sync (buf + pos, n - pos);
    if (skip == 0 || skip > n - pos)
      __builtin_trap ();
    pos += skip;
  }
  g_free (buf);
  return 0;
}
