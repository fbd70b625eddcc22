/* gst-nerv: libFuzzer target: a frame's motion and latents (kind 2)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: fuzz-latent.h's header, then one coder stream. The stream is read
 * as the decoder reads a frame packet: the motion vector (frames with a
 * reference), then the latents under the integer ARM. What decodes must
 * be within the format's ranges, and written again with the encoder's
 * functions and read back it must give the same values (the writer and
 * the reader are one syntax); the encoder's bit estimate of it is finite.
 */
#include <math.h>

#include "fuzz-common.h"
#include "fuzz-latent.h"

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  FuzzLatent f;
  NervRangeDecoder rc;
  guint8 *buf;
  gint32 *lat;
  int mvx = 0, mvy = 0;
  size_t n;
  gboolean ok;

  if (size < FUZZ_LATENT_HEADER)
    return 0;
  fuzz_latent_init (&f, data[0], data[1] | (data[2] << 8) | (data[3] << 16) |
      ((guint32) data[4] << 24));
  n = size - FUZZ_LATENT_HEADER;
  buf = g_malloc (MAX (n, 1));  /* exactly sized: ASan sees an overread */
  memcpy (buf, data + FUZZ_LATENT_HEADER, n);
  lat = g_new0 (gint32, f.lay.size);

  nerv_range_decoder_init (&rc, buf, n);
  ok = !f.ref || nerv_motion_read (&rc, &mvx, &mvy);
  ok = ok && nerv_latents_decode (&rc, &f.lay, &f.arm, lat, f.ref)
      && nerv_range_decoder_ok (&rc);
  if (ok) {
    GByteArray *re = g_byte_array_new ();
    NervRangeEncoder enc;
    gint32 *lat2 = g_new0 (gint32, f.lay.size);
    int mvx2 = 0, mvy2 = 0;

    if (mvx < -NERV_MV_MAX || mvx > NERV_MV_MAX || mvy < -NERV_MV_MAX
        || mvy > NERV_MV_MAX)
      __builtin_trap ();
    for (size_t i = 0; i < f.lay.size; i++)
      if (lat[i] < -NERV_LATENT_MAX || lat[i] > NERV_LATENT_MAX)
        __builtin_trap ();
    if (!isfinite (nerv_latents_bits (&f.lay, &f.arm, lat, f.ref)))
      __builtin_trap ();
    nerv_range_encoder_init (&enc, re);
    if (f.ref)
      nerv_motion_write (&enc, mvx, mvy);
    nerv_latents_encode (&enc, &f.lay, &f.arm, lat, f.ref);
    nerv_range_encoder_finish (&enc);
    nerv_range_decoder_init (&rc, re->data, re->len);
    if ((f.ref && !nerv_motion_read (&rc, &mvx2, &mvy2))
        || !nerv_latents_decode (&rc, &f.lay, &f.arm, lat2, f.ref)
        || !nerv_range_decoder_ok (&rc) || mvx2 != mvx || mvy2 != mvy
        || memcmp (lat, lat2, sizeof (gint32) * f.lay.size))
      __builtin_trap ();
    g_free (lat2);
    g_byte_array_free (re, TRUE);
  }
  g_free (lat);
  g_free (buf);
  fuzz_latent_clear (&f);
  return 0;
}
