/* gst-nerv: libFuzzer target: the whole decoder core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: one flags byte (bit 0: rewrite every packet's CRC first; bit 1:
 * reset the decoder half-way), then a .nerv byte stream, fed to
 * nerv_decoder_decode() packet by packet as a demuxer would.
 *
 * Small limits: the decoder accepts any network within the NERV_MAX_*
 * limits (up to 1.5 GiB of activations), which is legal but useless for
 * fuzzing, so inputs whose stream headers describe a network above
 * FUZZ_MAX_* are skipped. Set NERV_FUZZ_NO_LIMIT=1 to fuzz without them
 * (then run with -rss_limit_mb and -timeout to catch what the core
 * allows).
 */
#include <stdlib.h>

#include "fuzz-common.h"
#include "nerv-codec.h"

#define FUZZ_MAX_PIXELS (256 * 256)
#define FUZZ_MAX_PARAMS (256 * 1024)
#define FUZZ_MAX_FLOPS 2e8

static gboolean
within_fuzz_limits (const guint8 * d, size_t n)
{
  size_t pos = 0;
  while (pos < n) {
    NervPacket pkt;
    NervStreamHeader h;
    size_t used = 0;
    if (nerv_packet_parse (d + pos, n - pos, &pkt, &used) != NERV_OK) {
      pos += nerv_packet_find_sync (d + pos, n - pos);
      continue;
    }
    pos += used;
    if (pkt.type != NERV_PACKET_STREAM
        || nerv_stream_header_parse (pkt.payload, pkt.size, &h) != NERV_OK)
      continue;
    if ((gint64) h.model.width * h.model.height > FUZZ_MAX_PIXELS
        || nerv_model_config_n_params (&h.model) > FUZZ_MAX_PARAMS
        || nerv_model_forward_flops (&h.model) > FUZZ_MAX_FLOPS)
      return FALSE;
  }
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  static int no_limit = -1;
  NervDecoder *dec;
  guint8 *buf;
  size_t pos = 0, n;
  int frames = 0, steps = 0;

  if (no_limit < 0)
    no_limit = g_getenv ("NERV_FUZZ_NO_LIMIT") != NULL;
  if (size < 1)
    return 0;
  n = size - 1;
  buf = g_malloc (MAX (n, 1));
  memcpy (buf, data + 1, n);
  if (data[0] & 1)
    nerv_fuzz_fix_crcs (buf, n);
  if (!no_limit && !within_fuzz_limits (buf, n)) {
    g_free (buf);
    return -1;                  /* not added to the corpus */
  }

  dec = nerv_decoder_new (1);
  while (pos < n) {
    size_t used = 0;
    NervDecodedFrame f;
    NervStatus st = nerv_decoder_decode (dec, buf + pos, n - pos, &used);

    if (st == NERV_ERR_NEED_MORE)
      break;
    /* the decoder must always make progress and stay in bounds */
    if (used > n - pos)
      __builtin_trap ();
    if (st != NERV_OK && used == 0)
      used = 1;
    if (st == NERV_OK && used == 0)
      __builtin_trap ();
    pos += used;
    if (nerv_decoder_get_frame (dec, &f)) {
      const NervStreamHeader *h = nerv_decoder_header (dec);
      volatile guint8 sum = 0;
      if (h == NULL || f.width != h->model.width || f.height != h->model.height
          || f.n_planes < 1 || f.n_planes > 3)
        __builtin_trap ();
      /* touch the frame so ASan checks its planes */
      for (int p = 0; p < f.n_planes; p++) {
        const int ph = p > 0 && f.format == NERV_FORMAT_I420 ?
            (f.height + 1) / 2 : f.height;
        sum += f.planes[p][(size_t) (ph - 1) * f.strides[p]];
      }
      frames++;
    }
    if ((data[0] & 2) && ++steps == 4)
      nerv_decoder_reset (dec);
  }
  (void) frames;
  nerv_decoder_free (dec);
  g_free (buf);
  return 0;
}
