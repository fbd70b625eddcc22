/* gst-nerv: helpers shared by the tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-test-util.h"

void
nerv_test_make_frame (int n, int w, int h, guint8 * buf)
{
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  guint8 *y = buf, *u = buf + w * h, *v = u + cw * ch;
  for (int r = 0; r < h; r++)
    for (int c = 0; c < w; c++) {
      const gboolean sq = c >= 4 + 2 * n && c < 12 + 2 * n && r >= 8 && r < 16;
      y[r * w + c] = sq ? 230 : (guint8) (16 + 4 * c + 2 * r);
    }
  for (int i = 0; i < cw * ch; i++) {
    u[i] = (guint8) (100 + i % 16);
    v[i] = (guint8) (160 - i % 12);
  }
}

NervEncoderSettings
nerv_test_settings (int w, int h, int group, int key_interval)
{
  NervEncoderSettings s;
  nerv_encoder_settings_init (&s);
  s.width = w;
  s.height = h;
  s.params = 12000;
  s.group_size = group;
  s.key_interval = key_interval;
  s.epochs_key = 6;
  s.epochs_delta = 3;
  s.qat_epochs = 1;
  s.threads = 2;
  return s;
}

GByteArray *
nerv_test_join (GPtrArray * units)
{
  GByteArray *a = g_byte_array_new ();
  for (guint i = 0; i < units->len; i++) {
    gsize len;
    const guint8 *d = g_bytes_get_data (g_ptr_array_index (units, i), &len);
    g_byte_array_append (a, d, len);
  }
  return a;
}

GPtrArray *
nerv_test_encode (const NervEncoderSettings * s, int n,
    NervTestGroupFunc on_group, gpointer user_data)
{
  return nerv_test_encode_frames (s, n, nerv_test_make_frame, on_group,
      user_data);
}

GPtrArray *
nerv_test_encode_frames (const NervEncoderSettings * s, int n,
    NervTestFrameFunc make_frame, NervTestGroupFunc on_group,
    gpointer user_data)
{
  const int w = s->width, h = s->height;
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  GError *err = NULL;
  NervEncoder *enc = nerv_encoder_new (s, &err);
  GPtrArray *units = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint8 *buf = g_malloc ((gsize) w * h + 2 * cw * ch);

  g_assert_no_error (err);
  for (int i = 0; i <= n; i++) {
    NervEncodedFrame ef;
    gboolean coded;
    if (i < n) {
      const guint8 *planes[3] = { buf, buf + w * h, buf + w * h + cw * ch };
      const int strides[3] = { w, cw, cw };
      make_frame (i, w, h, buf);
      g_assert_true (nerv_encoder_push_frame (enc, planes, strides));
      coded = nerv_encoder_pending (enc) == 0;
    } else {
      coded = nerv_encoder_pending (enc) > 0;
      g_assert_true (nerv_encoder_finish (enc));
    }
    if (coded && on_group)
      on_group (enc, user_data);
    while (nerv_encoder_pop (enc, &ef)) {
      g_assert_cmpuint (ef.frame, ==, units->len);
      g_ptr_array_add (units, ef.data);
      ef.data = NULL;
    }
  }
  g_assert_cmpuint (units->len, ==, n);
  nerv_encoder_free (enc);
  g_free (buf);
  return units;
}
