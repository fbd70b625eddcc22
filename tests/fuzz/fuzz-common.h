/* gst-nerv: helpers shared by the libFuzzer targets
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef NERV_FUZZ_COMMON_H
#define NERV_FUZZ_COMMON_H

#include <stdint.h>
#include <string.h>
#include <libavutil/crc.h>

#include "nerv-bitstream.h"

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

/* Rewrites the CRC of every complete packet that starts at a sync
 * marker, so mutations reach the parsers behind the CRC check. */
static inline void
nerv_fuzz_fix_crcs (guint8 * d, size_t n)
{
  const AVCRC *tab = av_crc_get_table (AV_CRC_32_IEEE_LE);
  size_t pos = 0;

  while (pos + NERV_PACKET_OVERHEAD <= n) {
    guint32 len;
    if (memcmp (d + pos, NERV_SYNC, NERV_SYNC_SIZE)) {
      pos++;
      continue;
    }
    len = nerv_read_u32le (d + pos + 4);
    if (len > n - pos - NERV_PACKET_OVERHEAD) {
      pos++;
      continue;
    }
    nerv_write_u32le (d + pos + NERV_PACKET_HEADER + len,
        av_crc (tab, 0, d + pos + 3, 5 + len));
    pos += NERV_PACKET_OVERHEAD + len;
  }
}

/* The stream of an input (one flags byte, then the stream) in a private,
 * exactly sized copy so ASan sees any overread, its CRCs rewritten when
 * bit 0 of the flags is set. NULL for an empty input; free with g_free. */
static inline guint8 *
nerv_fuzz_stream (const uint8_t * data, size_t size, size_t * n)
{
  guint8 *buf;

  if (size < 1)
    return NULL;
  *n = size - 1;
  buf = g_malloc (MAX (*n, 1));
  memcpy (buf, data + 1, *n);
  if (data[0] & 1)
    nerv_fuzz_fix_crcs (buf, *n);
  return buf;
}

#endif
