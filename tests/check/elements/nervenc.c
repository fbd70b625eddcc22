/* gst-nerv: nervenc element tests (GstHarness)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "nerv.h"

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

START_TEST (test_latency_chosen_group)
{
  /* group-size=0 with a bitrate: the core chooses the group, and the
   * latency is that group (at this rate the longest, to pay a model) */
  GstHarness *h = gst_harness_new ("nervenc");
  NervEncoderSettings s, r;
  NervEncoder *core;
  GstClockTime min, max;

  g_object_set (h->element, "bitrate", 1, "group-size", 0, "epochs", 5,
      "threads", 2, NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  fail_unless_equals_int (gst_harness_push (h, make_frame (0)), GST_FLOW_OK);
  gst_video_encoder_get_latency (GST_VIDEO_ENCODER (h->element), &min, &max);

  nerv_encoder_settings_init (&s);
  s.width = 32;
  s.height = 24;
  s.bitrate = 1;
  s.group_size = 0;
  core = nerv_encoder_new (&s, NULL);
  nerv_encoder_get_settings (core, &r);
  nerv_encoder_free (core);
  fail_unless (r.group_size > 8);
  fail_unless_equals_uint64 (min, r.group_size * FRAME_DUR);
  fail_unless_equals_uint64 (max, r.group_size * FRAME_DUR);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_defaults_are_the_cores)
{
  /* every property that is a core setting starts at the core's default
   * and has the core's range */
  GstElement *e = gst_element_factory_make ("nervenc", NULL);
  NervEncoderSettings s;
  const struct
  {
    const gchar *prop;
    NervSetting id;
  } props[] = {
    {"bitrate", NERV_SETTING_BITRATE}, {"params", NERV_SETTING_PARAMS},
    {"group-size", NERV_SETTING_GROUP_SIZE},
    {"keyframe-interval", NERV_SETTING_KEY_INTERVAL},
    {"weight-bits", NERV_SETTING_WEIGHT_BITS},
    {"embed-bits", NERV_SETTING_EMBED_BITS},
    {"threads", NERV_SETTING_THREADS}, {"seed", NERV_SETTING_SEED},
  };
  guint epochs;
  gint preset;

  nerv_encoder_settings_init (&s);
  for (guint i = 0; i < G_N_ELEMENTS (props); i++) {
    GParamSpecUInt *p = G_PARAM_SPEC_UINT (g_object_class_find_property
        (G_OBJECT_GET_CLASS (e), props[i].prop));
    const NervSettingInfo *info = nerv_setting_info (props[i].id);
    guint v;
    g_object_get (e, props[i].prop, &v, NULL);
    fail_unless (v == nerv_encoder_settings_get (&s, props[i].id), "%s",
        props[i].prop);
    fail_unless (p->minimum == info->min && p->maximum == info->max, "%s",
        props[i].prop);
  }
  /* epochs 0: the default preset's, which are the core's default epochs */
  g_object_get (e, "epochs", &epochs, "speed-preset", &preset, NULL);
  fail_unless_equals_int (epochs, 0);
  fail_unless_equals_int (preset, NERV_PRESET_DEFAULT);
  fail_unless_equals_int (nerv_preset_info (preset)->epochs_key, s.epochs_key);
  gst_object_unref (e);
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

START_TEST (test_state_changes)
{
  /* NULL <-> PLAYING in a loop, some of the changes in the middle of a
   * group's training: no crash, no hang, no leak of a started run */
  GstElement *p = gst_parse_launch ("videotestsrc ! video/x-raw,width=32,"
      "height=24,framerate=25/1 ! nervenc params=12000 epochs=3 group-size=2 "
      "! fakesink", NULL);
  fail_unless (p != NULL);
  for (int i = 0; i < 12; i++) {
    fail_if (gst_element_set_state (p, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    g_usleep (1000 * (i % 4) * 5);
    fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
  }
  gst_object_unref (p);
}
END_TEST;

START_TEST (test_caps_change)
{
  /* a new size mid-stream: what was collected is coded, and the new size
   * starts with a key group (a stream header with the new size) */
  GstHarness *h = make_harness (3, 4);
  GstVideoInfo info;
  GstBuffer *b;
  GstMapInfo map;
  NervStreamHeader hdr;
  NervPacket pkt;
  size_t used;

  for (int i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=I420,width=48,height=32,framerate=25/1");
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 48, 32);
  for (int i = 4; i < 6; i++) {
    b = gst_buffer_new_allocate (NULL, info.size, NULL);
    gst_buffer_memset (b, 0, 30 * i, info.size);
    GST_BUFFER_PTS (b) = i * FRAME_DUR;
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* nothing lost: 4 frames at 32x24, 2 at 48x32 */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 6);
  for (int i = 0; i < 6; i++) {
    b = gst_harness_pull (h);
    if (i == 4) {
      fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT));
      gst_buffer_map (b, &map, GST_MAP_READ);
      fail_unless_equals_int (nerv_packet_parse (map.data, map.size, &pkt,
              &used), NERV_OK);
      fail_unless_equals_int (pkt.type, 'S');
      fail_unless_equals_int (nerv_stream_header_parse (pkt.payload, pkt.size,
              &hdr), NERV_OK);
      fail_unless_equals_int (hdr.model.width, 48);
      fail_unless_equals_int (hdr.model.height, 32);
      gst_buffer_unmap (b, &map);
    }
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
}
END_TEST;

static GstPadProbeReturn
count_buffers (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
  return GST_PAD_PROBE_OK;
}

START_TEST (test_eos_interrupt_keeps_groups)
{
  /* what `gst-launch-1.0 -e` does on Ctrl-C: an EOS into a running encode
   * of an endless source. Every frame that reached the encoder is in the
   * file, and the file decodes whole. */
  gchar *path = g_build_filename (g_get_tmp_dir (), "nerv-eos-XXXXXX", NULL);
  int fd = g_mkstemp (path);
  gchar *desc = g_strdup_printf ("videotestsrc pattern=ball ! video/x-raw,"
      "format=I420,width=32,height=24,framerate=25/1 ! nervenc name=enc "
      "params=12000 epochs=3 group-size=3 keyframe-interval=2 ! "
      "filesink location=%s", path);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstElement *enc = gst_bin_get_by_name (GST_BIN (p), "enc");
  GstPad *sink = gst_element_get_static_pad (enc, "sink");
  gint in = 0;
  GstMessage *m;
  GstBus *bus;
  gchar *data;
  gsize len, pos = 0;
  NervDecoder *dec;
  int frames = 0;

  close (fd);
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &in, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  while (g_atomic_int_get (&in) < 7)    /* mid-group: 7 = 2 groups + 1 */
    g_usleep (1000);
  gst_element_send_event (p, gst_event_new_eos ());
  bus = gst_element_get_bus (p);
  m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);

  fail_unless (g_file_get_contents (path, &data, &len, NULL));
  dec = nerv_decoder_new (1);
  while (pos < len) {
    size_t used = 0;
    NervDecodedFrame f;
    fail_unless_equals_int (nerv_decoder_decode (dec, (guint8 *) data + pos,
            len - pos, &used), NERV_OK);
    pos += used;
    if (nerv_decoder_get_frame (dec, &f))
      frames++;
  }
  /* the source may have pushed a few more frames before the EOS took */
  fail_unless (frames >= 7 && frames == g_atomic_int_get (&in),
      "%d frames decoded, %d went in", frames, g_atomic_int_get (&in));
  nerv_decoder_free (dec);
  g_free (data);
  gst_object_unref (sink);
  gst_object_unref (enc);
  gst_object_unref (p);
  g_unlink (path);
  g_free (path);
  g_free (desc);
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
  tcase_add_test (tc, test_latency_chosen_group);
  tcase_add_test (tc, test_defaults_are_the_cores);
  tcase_add_test (tc, test_flush_restarts_with_key);
  tcase_add_test (tc, test_progress_messages);
  tcase_add_test (tc, test_other_formats);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_caps_change);
  tcase_add_test (tc, test_eos_interrupt_keeps_groups);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (nervenc);
