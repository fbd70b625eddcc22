/* gst-nerv: writes the seed corpora of the fuzz targets
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: gen-corpus DIR; creates DIR/{packet,entropy,decoder,group,latent}/
 * with a few small valid inputs (32x24 I420 frames, the tests' tiny
 * settings, HNeRV, NeRV and latent-grid streams; frames' latents on
 * fuzz-latent.h's layouts): the seeds of fuzz-packet, fuzz-entropy,
 * fuzz-decoder, fuzz-group and fuzz-latent. A build target
 * (tests/fuzz/meson.build) whose output is DIR.
 */
#include <stdio.h>
#include <utime.h>
#include <glib/gstdio.h>

#include "nerv-entropy.h"
#include "nerv-test-util.h"
#include "fuzz-latent.h"

static void
write_seed (const char *dir, const char *sub, const char *name, guint8 flags,
    const guint8 * d, size_t n)
{
  char *sd = g_build_filename (dir, sub, NULL);
  char *path = g_build_filename (sd, name, NULL);
  GByteArray *a = g_byte_array_new ();
  GError *err = NULL;

  g_mkdir_with_parents (sd, 0755);
  g_byte_array_append (a, &flags, 1);
  g_byte_array_append (a, d, n);
  if (!g_file_set_contents (path, (const char *) a->data, a->len, &err))
    g_error ("%s", err->message);
  g_byte_array_free (a, TRUE);
  g_free (path);
  g_free (sd);
}

static GByteArray *
stream (int frames, int group, int keyint, NervModelKind kind,
    NervPixelFormat format)
{
  NervEncoderSettings s = nerv_test_settings (32, 24, group, keyint);
  GByteArray *out;
  GPtrArray *units;

  s.kind = kind;
  if (kind == NERV_MODEL_NERV)
    s.params = 40000;          /* the MLP needs more than 12k */
  s.format = format;
  s.epochs_key = 2;
  s.epochs_delta = 1;
  units = nerv_test_encode (&s, frames, NULL, NULL);
  out = nerv_test_join (units);
  g_ptr_array_unref (units);
  return out;
}

int
main (int argc, char **argv)
{
  struct {
    const char *name;
    int frames, group, keyint;
    NervModelKind kind;
  } cfg[] = {
    {"hnerv-key-residual", 5, 2, 2, NERV_MODEL_HNERV},
    {"hnerv-two-keys", 4, 2, 1, NERV_MODEL_HNERV},
    {"nerv", 3, 2, 2, NERV_MODEL_NERV},
    {"grid-key-residual", 6, 2, 2, NERV_MODEL_GRID},
  };

  if (argc != 2) {
    fprintf (stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (guint i = 0; i < G_N_ELEMENTS (cfg); i++) {
    GByteArray *st = stream (cfg[i].frames, cfg[i].group, cfg[i].keyint,
        cfg[i].kind, NERV_FORMAT_I420);
    char *name;
    for (guint8 flags = 0; flags < 2; flags++) {
      name = g_strdup_printf ("%s-%u", cfg[i].name, flags);
      write_seed (argv[1], "packet", name, flags, st->data, st->len);
      write_seed (argv[1], "decoder", name, flags, st->data, st->len);
      write_seed (argv[1], "group", name, flags, st->data, st->len);
      g_free (name);
    }
    g_byte_array_free (st, TRUE);
  }

  /* entropy: mode, n - 1 (u16 LE), stream */
  {
    static const int sizes[] = { 1, 17, 300, 4000 };
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
      const int n = sizes[i];
      gint32 *v = g_new (gint32, n);
      GByteArray *a = g_byte_array_new ();
      guint8 hdr[2] = { (guint8) ((n - 1) & 0xff), (guint8) ((n - 1) >> 8) };
      char *name;
      for (int k = 0; k < n; k++)
        v[k] = (k * 7919 % 23) - 11 + (k % 97 == 0 ? 100000 * (k + 1) : 0);
      g_byte_array_append (a, hdr, 2);
      nerv_entropy_encode_ints (v, n, a);
      name = g_strdup_printf ("ints-%d", n);
      write_seed (argv[1], "entropy", name, 0, a->data, a->len);
      g_free (name);
      /* the same stream through the _rc API, as two tensors */
      name = g_strdup_printf ("ints-rc-%d", n);
      write_seed (argv[1], "entropy", name, 1 | (1 << 1), a->data, a->len);
      g_free (name);
      g_byte_array_free (a, TRUE);
      g_free (v);
    }
  }
  /* latent: fuzz-latent.h's header, then a frame's motion and latents as
   * the encoder writes them, for each layout, intra and with a reference */
  for (guint8 flags = 0; flags < 8; flags++) {
    const guint32 seed = 0x6c61740a + flags;
    FuzzLatent f;
    GByteArray *a = g_byte_array_new ();
    NervRangeEncoder enc;
    AVLFG lfg;
    gint32 *lat;
    guint8 hdr[FUZZ_LATENT_HEADER] = { flags, (guint8) seed,
      (guint8) (seed >> 8), (guint8) (seed >> 16), (guint8) (seed >> 24)
    };
    char *name;

    fuzz_latent_init (&f, flags, seed);
    lat = g_new (gint32, f.lay.size);
    av_lfg_init (&lfg, seed);
    for (size_t i = 0; i < f.lay.size; i++) /* mostly small, a few large */
      lat[i] = i % 37 == 0 ? (gint32) (av_lfg_get (&lfg) % 2001) - 1000 :
          (gint32) (av_lfg_get (&lfg) % 7) - 3;
    g_byte_array_append (a, hdr, sizeof hdr);
    nerv_range_encoder_init (&enc, a);
    if (f.ref)
      nerv_motion_write (&enc, 5 - 3 * flags, flags);
    nerv_latents_encode (&enc, &f.lay, &f.arm, lat, f.ref);
    nerv_range_encoder_finish (&enc);
    name = g_strdup_printf ("latent-%u", flags);
    write_seed (argv[1], "latent", name, flags, a->data + 1, a->len - 1);
    g_free (name);
    g_byte_array_free (a, TRUE);
    g_free (lat);
    fuzz_latent_clear (&f);
  }
  /* DIR is the build's output: newer than the generator once written */
  if (g_utime (argv[1], NULL) != 0) {
    perror (argv[1]);
    return 1;
  }
  return 0;
}
