/* gst-nerv: nervenc element tests (GstHarness)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <string.h>

#define CAPS "video/x-raw,format=I420,width=32,height=24,framerate=25/1"
#define FRAME_DUR (GST_SECOND / 25)

static GstHarness *
make_harness (guint group, guint keyint)
{
  GstHarness *h = gst_harness_new ("nervenc");
  /* settings first: the caps set the encoder up */
  g_object_set (h->element, "params", 12000, "epochs", 5, "group-size", group,
      "keyframe-interval", keyint, "threads", 2, NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static GstBuffer *
make_frame (int n)
{
  GstVideoInfo info;
  GstBuffer *b;
  GstMapInfo map;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 32, 24);
  b = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8) ((i * 7 + n * 13) & 0xff);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = GST_BUFFER_DTS (b) = n * FRAME_DUR + 1000;
  GST_BUFFER_DURATION (b) = FRAME_DUR;
  return b;
}

START_TEST (test_encode_timestamps_flags)
{
  /* 3 groups of 3, a key group every 2 groups, the last group partial */
  GstHarness *h = make_harness (3, 2);
  const int n = 8;
  GstCaps *caps;
  GstStructure *s;
  gint w = 0, hh = 0;

  for (int i = 0; i < n; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  /* nothing is lost at EOS: the partial group is coded */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), n);
  for (int i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    const gboolean key = i % 6 == 0;
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * FRAME_DUR + 1000);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), FRAME_DUR);
    fail_unless (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT) != key,
        "frame %d: key %d but delta flag %d", i, key,
        GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT));
    /* the buffer holds .nerv packets: a key buffer starts with the stream
     * header, a group start with a group packet, others with a frame */
    {
      GstMapInfo map;
      gst_buffer_map (b, &map, GST_MAP_READ);
      fail_unless (map.size > 12 && !memcmp (map.data, "NRV", 3));
      fail_unless_equals_int (map.data[3], key ? 'S' : (i % 3 == 0 ? 'G' : 'F'));
      gst_buffer_unmap (b, &map);
    }
    gst_buffer_unref (b);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "video/x-nerv"));
  fail_unless (gst_structure_get_int (s, "width", &w) && w == 32);
  fail_unless (gst_structure_get_int (s, "height", &hh) && hh == 24);
  gst_caps_unref (caps);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_refused_caps)
{
  GstHarness *h = gst_harness_new ("nervenc");
  GstCaps *yuy2 = gst_caps_from_string
      ("video/x-raw,format=YUY2,width=32,height=24,framerate=25/1");
  GstCaps *tiny = gst_caps_from_string
      ("video/x-raw,format=I420,width=8,height=8,framerate=25/1");
  GstCaps *ok = gst_caps_from_string (CAPS);
  fail_if (gst_pad_query_accept_caps (h->srcpad->peer, yuy2));
  fail_if (gst_pad_query_accept_caps (h->srcpad->peer, tiny));
  fail_unless (gst_pad_query_accept_caps (h->srcpad->peer, ok));
  gst_caps_unref (yuy2);
  gst_caps_unref (tiny);
  gst_caps_unref (ok);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_latency)
{
  GstHarness *h = make_harness (4, 2);
  GstClockTime min, max;

  /* the encoder is set up by the first frame's caps; it holds a group */
  fail_unless_equals_int (gst_harness_push (h, make_frame (0)), GST_FLOW_OK);
  gst_video_encoder_get_latency (GST_VIDEO_ENCODER (h->element), &min, &max);
  fail_unless_equals_uint64 (min, 4 * FRAME_DUR);
  fail_unless_equals_uint64 (max, 4 * FRAME_DUR);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_flush_restarts_with_key)
{
  GstHarness *h = make_harness (3, 4);
  GstBuffer *b;

  for (int i = 0; i < 2; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, CAPS);
  {
    GstSegment seg;
    gst_segment_init (&seg, GST_FORMAT_TIME);
    fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  }
  for (int i = 10; i < 13; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* the two frames before the flush are dropped, the rest is coded and
   * starts with a key group */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 3);
  b = gst_harness_pull (h);
  fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 10 * FRAME_DUR + 1000);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_progress_messages)
{
  GstHarness *h = make_harness (2, 2);
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  gboolean progress = FALSE, group = FALSE;

  gst_element_set_bus (h->element, bus);
  for (int i = 0; i < 2; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  while ((m = gst_bus_pop (bus))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && s) {
      if (gst_structure_has_name (s, "nerv-progress")) {
        gint epochs = 0;
        double psnr = 0;
        const gchar *phase = gst_structure_get_string (s, "phase");
        fail_unless (phase != NULL);
        /* 5 epochs of training, then the quantisation-aware fine-tune */
        fail_unless (gst_structure_get_int (s, "epochs", &epochs)
            && epochs == (!strcmp (phase, "train") ? 5 : 10));
        fail_unless (gst_structure_get_double (s, "psnr-y", &psnr) && psnr > 0);
        fail_unless (gst_structure_has_field (s, "seconds-left"));
        progress = TRUE;
      } else if (gst_structure_has_name (s, "nerv-group")) {
        guint64 bits = 0;
        fail_unless (gst_structure_get_uint64 (s, "bits", &bits) && bits > 0);
        group = TRUE;
      }
    }
    gst_message_unref (m);
  }
  fail_unless (progress, "no nerv-progress message");
  fail_unless (group, "no nerv-group message");
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_other_formats)
{
  /* RGB and grey go through the converter / the grey path */
  static const char *caps[] = {
    "video/x-raw,format=RGBx,width=32,height=24,framerate=25/1",
    "video/x-raw,format=GRAY8,width=33,height=17,framerate=25/1",
    "video/x-raw,format=NV12,width=32,height=24,framerate=25/1",
  };
  for (guint c = 0; c < G_N_ELEMENTS (caps); c++) {
    GstHarness *h = gst_harness_new ("nervenc");
    GstVideoInfo info;
    GstCaps *cc = gst_caps_from_string (caps[c]);
    gst_video_info_from_caps (&info, cc);
    gst_caps_unref (cc);
    g_object_set (h->element, "params", 12000, "epochs", 2, "group-size", 2, NULL);
    gst_harness_set_src_caps_str (h, caps[c]);
    for (int i = 0; i < 3; i++) {
      GstBuffer *b = gst_buffer_new_allocate (NULL, info.size, NULL);
      gst_buffer_memset (b, 0, 40 * (i + 1), info.size);
      GST_BUFFER_PTS (b) = i * FRAME_DUR;
      fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
    }
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    fail_unless_equals_int (gst_harness_buffers_received (h), 3);
    gst_harness_teardown (h);
  }
}
END_TEST;

static Suite *
nervenc_suite (void)
{
  Suite *s = suite_create ("nervenc");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_encode_timestamps_flags);
  tcase_add_test (tc, test_refused_caps);
  tcase_add_test (tc, test_latency);
  tcase_add_test (tc, test_flush_restarts_with_key);
  tcase_add_test (tc, test_progress_messages);
  tcase_add_test (tc, test_other_formats);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (nervenc);
