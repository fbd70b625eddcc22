/* gst-nerv: what a user of nerv.h alone can do with the settings
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The settings' table is the one place of every range, default and
 * preset: the defaults lie in their ranges and are what
 * nerv_encoder_settings_init() sets, the setter and nerv_encoder_new()
 * refuse what lies outside, and the encoder says what it resolved.
 */
#include "nerv.h"

#include <string.h>

static NervEncoderSettings
small_settings (void)
{
  NervEncoderSettings s;
  nerv_encoder_settings_init (&s);
  s.width = 32;
  s.height = 24;
  s.threads = 1;
  return s;
}

static void
test_table (void)
{
  NervEncoderSettings s;

  nerv_encoder_settings_init (&s);
  for (NervSetting id = 0; id < NERV_N_SETTINGS; id++) {
    const NervSettingInfo *i = nerv_setting_info (id);
    NervEncoderSettings t = s;
    GError *err = NULL;
    const double below = i->whole ? i->min - 1 : i->min - 1e-3;

    g_assert_nonnull (i->name);
    g_assert_nonnull (i->blurb);
    g_assert_cmpfloat (i->min, <=, i->def);
    g_assert_cmpfloat (i->def, <=, i->max);
    g_assert_cmpfloat (nerv_encoder_settings_get (&s, id), ==, i->def);
    /* the ends of the range, and beyond them */
    g_assert_true (nerv_encoder_settings_set (&t, id, i->max, NULL));
    g_assert_cmpfloat (nerv_encoder_settings_get (&t, id), ==, i->max);
    g_assert_true (nerv_encoder_settings_set (&t, id, i->min, NULL) !=
        i->min_open);
    g_assert_false (nerv_encoder_settings_set (&t, id, i->max + 1, &err));
    g_assert_error (err, NERV_ERROR, NERV_ERROR_INVALID);
    g_assert_nonnull (strstr (err->message, i->name));
    g_clear_error (&err);
    g_assert_false (nerv_encoder_settings_set (&t, id, below, NULL));
    if (i->whole)
      g_assert_false (nerv_encoder_settings_set (&t, id, i->def + 0.5, NULL));
  }
}

static void
test_presets (void)
{
  NervEncoderSettings s;
  const NervPresetInfo *def = nerv_preset_info (NERV_PRESET_DEFAULT);

  /* the default epochs are the default preset's */
  nerv_encoder_settings_init (&s);
  g_assert_cmpint (s.epochs_key, ==, def->epochs_key);
  g_assert_cmpint (s.epochs_delta, ==, def->epochs_delta);
  for (NervSpeedPreset p = NERV_PRESET_FIRST; p <= NERV_PRESET_LAST; p++) {
    const NervPresetInfo *info = nerv_preset_info (p);
    g_assert_nonnull (info);
    g_assert_cmpint (nerv_preset_from_name (info->name), ==, p);
    nerv_encoder_settings_apply_preset (&s, p);
    g_assert_cmpint (s.epochs_key, ==, info->epochs_key);
    g_assert_cmpint (s.epochs_delta, ==, info->epochs_delta);
    s.width = 32;
    s.height = 24;
    g_assert_true (nerv_encoder_settings_check (&s, NULL));
    if (p > NERV_PRESET_FIRST)
      g_assert_cmpint (info->epochs_key, >, nerv_preset_info (p - 1)->epochs_key);
  }
  g_assert_null (nerv_preset_info (NERV_PRESET_LAST + 1));
  g_assert_cmpint (nerv_preset_from_name ("warp"), ==, 0);
  nerv_encoder_settings_apply_epochs (&s, 100);
  g_assert_cmpint (s.epochs_key, ==, 100);
  g_assert_cmpint (s.epochs_delta, ==, 20);
  nerv_encoder_settings_apply_epochs (&s, 3);
  g_assert_cmpint (s.epochs_delta, ==, 1);
}

/* nerv_encoder_new() checks with the table */
static void
test_encoder_refuses (void)
{
  NervEncoderSettings s[6];
  GError *err = NULL;
  NervEncoder *enc;

  for (guint i = 0; i < G_N_ELEMENTS (s); i++)
    s[i] = small_settings ();
  s[0].group_size = NERV_MAX_GROUP + 1;
  s[1].key_interval = 0;
  s[2].weight_bits = 17;
  s[3].delta_lr = 0;
  s[4].threads = 257;
  s[5].width = 0;
  for (guint i = 0; i < G_N_ELEMENTS (s); i++) {
    g_assert_null (nerv_encoder_new (&s[i], &err));
    g_assert_error (err, NERV_ERROR, NERV_ERROR_INVALID);
    g_clear_error (&err);
  }
  /* with a bitrate the parameter budget is not used, nor checked */
  s[0] = small_settings ();
  s[0].bitrate = 100;
  s[0].params = 10;
  enc = nerv_encoder_new (&s[0], &err);
  g_assert_no_error (err);
  nerv_encoder_free (enc);
}

static void
test_resolved (void)
{
  NervEncoderSettings s = small_settings (), r;
  NervEncoder *enc;

  /* no bitrate, params 0: a model for the picture, smaller than the
   * 20000 of 320x192 at this 32x24 */
  g_assert_cmpuint (s.params, ==, 0);
  enc = nerv_encoder_new (&s, NULL);
  nerv_encoder_get_settings (enc, &r);
  g_assert_cmpuint (r.params, >, 0);
  g_assert_cmpuint (r.params, <, 20000);
  nerv_encoder_free (enc);

  /* no bitrate: groups of 8 for 0, the budget's model */
  s.group_size = 0;
  s.params = 20000;
  enc = nerv_encoder_new (&s, NULL);
  nerv_encoder_get_settings (enc, &r);
  g_assert_cmpint (r.group_size, ==, 8);
  g_assert_cmpuint (r.params, <=, s.params);
  g_assert_cmpuint (r.params, >, s.params / 2);
  g_assert_cmpfloat (r.lr, >, 0);
  g_assert_cmpfloat (r.embed_lr, >, 0);
  g_assert_cmpint (r.epochs_key, ==, s.epochs_key);
  nerv_encoder_free (enc);

  /* a low rate: the longest group, to pay for a model at all */
  s.bitrate = 1;
  enc = nerv_encoder_new (&s, NULL);
  nerv_encoder_get_settings (enc, &r);
  g_assert_cmpint (r.group_size, ==, 256);
  g_assert_cmpuint (r.bitrate, ==, 1);
  nerv_encoder_free (enc);

  /* a size given is kept */
  s.group_size = 5;
  enc = nerv_encoder_new (&s, NULL);
  nerv_encoder_get_settings (enc, &r);
  g_assert_cmpint (r.group_size, ==, 5);
  nerv_encoder_free (enc);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/settings/table", test_table);
  g_test_add_func ("/settings/presets", test_presets);
  g_test_add_func ("/settings/encoder-refuses", test_encoder_refuses);
  g_test_add_func ("/settings/resolved", test_resolved);
  return g_test_run ();
}
