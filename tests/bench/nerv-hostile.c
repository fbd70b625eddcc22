/* gst-nerv: nerv-hostile, writes the hostile streams of tests/check/nerv-hostile.h
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   nerv-hostile resync|interleaved|unknown BYTES OUT.nerv
 *   nerv-hostile headers REPS OUT.nerv
 *
 * resync: a valid stream (the tests' tiny encoder, 32x24, 6 frames), then
 * BYTES of "NRVS" + a length reaching the end, every 8 bytes (every
 * candidate complete, every CRC failing). interleaved: the valid stream,
 * BYTES of such candidates each followed by a valid empty packet, then
 * the valid stream again. unknown:
 * the valid stream's header, BYTES of valid packets of an unknown type
 * (4 KiB each), then the rest of the stream: one frame unit of BYTES.
 * headers: (S(A) F0 S(B) F0) x REPS, A and B 8192x8192 RGB headers that
 * differ in one field.
 */
#include <stdlib.h>
#include <string.h>

#include "nerv-hostile.h"
#include "nerv-test-util.h"

static GByteArray *
valid_stream (void)
{
  NervEncoderSettings s = nerv_test_settings (32, 24, 2, 2);
  GPtrArray *units;
  GByteArray *a;

  s.epochs_key = 2;
  s.epochs_delta = 1;
  units = nerv_test_encode (&s, 6, NULL, NULL);
  a = nerv_test_join (units);
  g_ptr_array_unref (units);
  return a;
}

int
main (int argc, char **argv)
{
  GByteArray *out = g_byte_array_new (), *v = NULL;
  GError *err = NULL;
  gsize n;

  if (argc != 4) {
    g_printerr ("usage: nerv-hostile resync|interleaved|unknown BYTES OUT\n"
        "       nerv-hostile headers REPS OUT\n");
    return 2;
  }
  n = g_ascii_strtoull (argv[2], NULL, 10);
  if (!strcmp (argv[1], "headers")) {
    nerv_hostile_headers (out, (int) n);
  } else {
    v = valid_stream ();
    if (!strcmp (argv[1], "resync")) {
      g_byte_array_append (out, v->data, v->len);
      nerv_hostile_resync (out, n, 0);
    } else if (!strcmp (argv[1], "interleaved")) {
      /* (a valid stream first, so typefinding takes the file) */
      g_byte_array_append (out, v->data, v->len);
      nerv_hostile_interleaved (out, n, v->len, NULL);
      g_byte_array_append (out, v->data, v->len);
    } else if (!strcmp (argv[1], "unknown")) {
      nerv_hostile_unknown (out, v->data, v->len, n, 4096);
    } else {
      g_printerr ("nerv-hostile: no pattern %s\n", argv[1]);
      return 2;
    }
    g_byte_array_free (v, TRUE);
  }
  if (!g_file_set_contents (argv[3], (const gchar *) out->data, out->len,
          &err)) {
    g_printerr ("nerv-hostile: %s\n", err->message);
    return 1;
  }
  g_byte_array_free (out, TRUE);
  return 0;
}
