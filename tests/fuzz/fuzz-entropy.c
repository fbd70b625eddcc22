/* gst-nerv: libFuzzer target: the range decoder and integer model
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: mode (1 byte), n (2 bytes LE, +1: 1..65536), then the coded
 * bytes. Mode bit 0 picks nerv_entropy_decode_ints() (one tensor) or the
 * shared-coder _rc API with up to four tensors; a decode that succeeds
 * is re-encoded and must give back the same integers.
 */
#include "fuzz-common.h"
#include "nerv-entropy.h"

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  size_t n, len;
  guint8 *buf;
  gint32 *v;

  if (size < 3)
    return 0;
  n = (size_t) (data[1] | (data[2] << 8)) + 1;
  len = size - 3;
  buf = g_malloc (MAX (len, 1));
  memcpy (buf, data + 3, len);
  v = g_new (gint32, n);

  if (!(data[0] & 1)) {
    if (nerv_entropy_decode_ints (buf, len, v, n)) {
      /* round trip: the integers code back to a stream that decodes
       * to the same values */
      GByteArray *re = g_byte_array_new ();
      gint32 *w = g_new (gint32, n);
      nerv_entropy_encode_ints (v, n, re);
      if (!nerv_entropy_decode_ints (re->data, re->len, w, n)
          || memcmp (v, w, n * sizeof (gint32)) != 0)
        __builtin_trap ();
      g_free (w);
      g_byte_array_free (re, TRUE);
    }
  } else {
    NervRangeDecoder rc;
    const int parts = 1 + ((data[0] >> 1) & 3);
    size_t done = 0;
    nerv_range_decoder_init (&rc, buf, len);
    for (int i = 0; i < parts && done < n; i++) {
      const size_t k = i == parts - 1 ? n - done : (n - done) / 2;
      if (!nerv_entropy_decode_ints_rc (&rc, v + done, k))
        break;
      done += k;
    }
    if (nerv_range_decoder_ok (&rc) && rc.pos > len)
      __builtin_trap ();
    /* a few raw bits and binary decisions after the tensors */
    {
      NervProb p[4];
      nerv_prob_init (p, 4);
      for (int i = 0; i < 16; i++)
        (void) nerv_range_decode_bit (&rc, &p[i & 3]);
      (void) nerv_range_decode_direct (&rc, (data[0] >> 3) & 31);
      (void) nerv_range_decode_direct (&rc, 32);
    }
  }
  g_free (v);
  g_free (buf);
  return 0;
}
