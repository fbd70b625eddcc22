/* gst-nerv: nervdec and whole-pipeline tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Encode videotestsrc frames through nervenc ! nervparse ! nervdec and
 * check PSNR against the same frames; a file round trip through decodebin;
 * gst-discoverer's view of a file; a seek into the middle of a file; a
 * corrupt file that still decodes from the next key group.
 */
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <unistd.h>
#include <libavutil/crc.h>
#include <math.h>
#include <string.h>

#include "nerv-codec.h"
#include "nerv-test-util.h"

#define W 64
#define H 48
#define N 12
#define SRC "videotestsrc num-buffers=%d pattern=ball motion=wavy ! " \
  "video/x-raw,format=I420,width=64,height=48,framerate=25/1"
#define ENC "nervenc params=12000 epochs=120 group-size=4 keyframe-interval=2 seed=3"

/* run a pipeline to EOS; frames from its appsink "sink" (may be NULL) */
static GPtrArray *
run (const char *desc, gboolean collect)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  GstBus *bus;
  GstMessage *m;
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref);
  GstAppSink *sink;

  fail_unless (p != NULL, "%s: %s", desc, err ? err->message : "");
  sink = collect ? GST_APP_SINK (gst_bin_get_by_name (GST_BIN (p), "sink")) : NULL;
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_ASYNC);
  if (sink) {
    GstSample *s;
    while ((s = gst_app_sink_pull_sample (sink)))
      g_ptr_array_add (frames, s);
    gst_object_unref (sink);
  }
  bus = gst_element_get_bus (p);
  m = gst_bus_timed_pop_filtered (bus, 300 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "%s: timed out", desc);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    GError *e;
    gchar *dbg;
    gst_message_parse_error (m, &e, &dbg);
    fail ("%s: %s (%s)", desc, e->message, dbg);
  }
  gst_message_unref (m);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  return frames;
}

static double
psnr_y (GstSample * a, GstSample * b)
{
  GstVideoInfo ia, ib;
  GstVideoFrame fa, fb;
  double se = 0;
  gst_video_info_from_caps (&ia, gst_sample_get_caps (a));
  gst_video_info_from_caps (&ib, gst_sample_get_caps (b));
  fail_unless (gst_video_frame_map (&fa, &ia, gst_sample_get_buffer (a), GST_MAP_READ));
  fail_unless (gst_video_frame_map (&fb, &ib, gst_sample_get_buffer (b), GST_MAP_READ));
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      const double d = (double) GST_VIDEO_FRAME_COMP_DATA (&fa, 0)[y *
          GST_VIDEO_FRAME_COMP_STRIDE (&fa, 0) + x] -
          GST_VIDEO_FRAME_COMP_DATA (&fb, 0)[y * GST_VIDEO_FRAME_COMP_STRIDE (&fb, 0) + x];
      se += d * d;
    }
  gst_video_frame_unmap (&fa);
  gst_video_frame_unmap (&fb);
  se /= W * H;
  return se > 0 ? 10 * log10 (255.0 * 255.0 / se) : 100;
}

static gchar *
encode_file (void)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "nerv-test-XXXXXX.nerv", NULL);
  gchar *desc;
  int fd = g_mkstemp (path);
  close (fd);
  desc = g_strdup_printf (SRC " ! " ENC " ! filesink location=%s", N, path);
  g_ptr_array_unref (run (desc, FALSE));
  g_free (desc);
  return path;
}

START_TEST (test_pipeline_psnr)
{
  gchar *desc = g_strdup_printf (SRC " ! appsink name=sink sync=false", N);
  GPtrArray *ref = run (desc, TRUE);
  GPtrArray *dec;
  double sum = 0;
  g_free (desc);
  desc = g_strdup_printf (SRC " ! " ENC " ! nervparse ! nervdec ! "
      "appsink name=sink sync=false", N);
  dec = run (desc, TRUE);
  g_free (desc);
  fail_unless_equals_int (ref->len, N);
  fail_unless_equals_int (dec->len, N);
  for (guint i = 0; i < N; i++) {
    GstBuffer *b = gst_sample_get_buffer (g_ptr_array_index (dec, i));
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * GST_SECOND / 25);
    sum += psnr_y (g_ptr_array_index (ref, i), g_ptr_array_index (dec, i));
  }
  /* a smooth synthetic picture: the small model must get it roughly */
  GST_INFO ("mean PSNR-Y %.2f dB", sum / N);
  fail_unless (sum / N > 20.0, "mean PSNR-Y %.2f dB", sum / N);
  g_ptr_array_unref (ref);
  g_ptr_array_unref (dec);
}
END_TEST;

START_TEST (test_file_decodebin)
{
  gchar *path = encode_file ();
  gchar *desc = g_strdup_printf ("filesrc location=%s ! decodebin ! "
      "videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false", path);
  GPtrArray *dec = run (desc, TRUE);
  fail_unless_equals_int (dec->len, N);
  g_ptr_array_unref (dec);
  g_free (desc);
  g_unlink (path);
  g_free (path);
}
END_TEST;

START_TEST (test_discoverer)
{
  gchar *path = encode_file ();
  gchar *uri = gst_filename_to_uri (path, NULL);
  GError *err = NULL;
  GstDiscoverer *d = gst_discoverer_new (60 * GST_SECOND, &err);
  GstDiscovererInfo *info;
  GList *streams;
  GstDiscovererVideoInfo *v;
  GstClockTime dur;

  info = gst_discoverer_discover_uri (d, uri, &err);
  fail_unless (info != NULL, "%s", err ? err->message : "");
  fail_unless_equals_int (gst_discoverer_info_get_result (info), GST_DISCOVERER_OK);
  streams = gst_discoverer_info_get_video_streams (info);
  fail_unless (streams != NULL);
  v = streams->data;
  fail_unless_equals_int (gst_discoverer_video_info_get_width (v), W);
  fail_unless_equals_int (gst_discoverer_video_info_get_height (v), H);
  fail_unless_equals_int (gst_discoverer_video_info_get_framerate_num (v), 25);
  dur = gst_discoverer_info_get_duration (info);
  /* 12 frames at 25 fps */
  fail_unless (dur >= 440 * GST_MSECOND && dur <= 520 * GST_MSECOND,
      "duration %" GST_TIME_FORMAT, GST_TIME_ARGS (dur));
  gst_discoverer_stream_info_list_free (streams);
  gst_discoverer_info_unref (info);
  g_object_unref (d);
  g_free (uri);
  g_unlink (path);
  g_free (path);
}
END_TEST;

START_TEST (test_seek_middle)
{
  gchar *path = encode_file ();
  gchar *desc = g_strdup_printf ("filesrc location=%s ! nervparse ! nervdec ! "
      "appsink name=sink sync=false", path);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstAppSink *sink = GST_APP_SINK (gst_bin_get_by_name (GST_BIN (p), "sink"));
  GstSample *s;
  GstClockTime first_pts = GST_CLOCK_TIME_NONE;
  int frames = 0;

  gst_element_set_state (p, GST_STATE_PAUSED);
  fail_unless_equals_int (gst_element_get_state (p, NULL, NULL, 60 * GST_SECOND),
      GST_STATE_CHANGE_SUCCESS);
  /* frame 9 is in the second key period (frames 8..11): a key-unit seek
   * lands on its key group */
  fail_unless (gst_element_seek_simple (p, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT, 9 * GST_SECOND / 25));
  gst_element_set_state (p, GST_STATE_PLAYING);
  while ((s = gst_app_sink_pull_sample (sink))) {
    GstBuffer *b = gst_sample_get_buffer (s);
    if (!GST_CLOCK_TIME_IS_VALID (first_pts))
      first_pts = GST_BUFFER_PTS (b);
    frames++;
    gst_sample_unref (s);
  }
  /* (not named 'first': gstcheck's macros declare that name) */
  fail_unless_equals_uint64 (first_pts, 8 * GST_SECOND / 25);
  fail_unless_equals_int (frames, N - 8);
  gst_object_unref (sink);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_free (desc);
  g_unlink (path);
  g_free (path);
}
END_TEST;

START_TEST (test_corrupt_file_recovers)
{
  gchar *path = encode_file ();
  gchar *data, *desc;
  gsize len;
  GPtrArray *dec;

  fail_unless (g_file_get_contents (path, &data, &len, NULL));
  /* damage the first group packet: the first key period is lost, the
   * second decodes */
  data[80] ^= 0x55;
  fail_unless (g_file_set_contents (path, data, len, NULL));
  desc = g_strdup_printf ("filesrc location=%s ! nervparse ! nervdec max-errors=-1 ! "
      "appsink name=sink sync=false", path);
  dec = run (desc, TRUE);
  fail_unless (dec->len >= 4 && dec->len < N, "decoded %u frames", dec->len);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (gst_sample_get_buffer
          (g_ptr_array_index (dec, 0))), 8 * GST_SECOND / 25);
  g_ptr_array_unref (dec);
  g_free (desc);
  g_free (data);
  g_unlink (path);
  g_free (path);
}
END_TEST;

/* ---- GstHarness on nervdec alone ----------------------------------------- */

static void
count_handoff (guint * frames)
{
  (*frames)++;
}

/* a stream from the core encoder, one GBytes per frame */
static GPtrArray *
core_stream (int n)
{
  NervEncoderSettings s = nerv_test_settings (W, H, 3, 2);
  s.epochs_key = 4;
  s.epochs_delta = 2;
  return nerv_test_encode (&s, n, NULL, NULL);
}

static GstBuffer *
unit_buffer (GPtrArray * units, int i)
{
  GstBuffer *b = gst_buffer_new_wrapped_bytes (g_ptr_array_index (units, i));
  GST_BUFFER_PTS (b) = i * GST_SECOND / 25;
  GST_BUFFER_DURATION (b) = GST_SECOND / 25;
  if (i % 6)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  return b;
}

START_TEST (test_harness_decode)
{
  GstHarness *h = gst_harness_new ("nervdec");
  GPtrArray *units = core_stream (9);
  GstCaps *caps;
  GstVideoInfo info;
  GstCaps *unparsed = gst_caps_from_string ("video/x-nerv");

  /* the decoder takes parsed streams only */
  fail_if (gst_pad_query_accept_caps (h->srcpad->peer, unparsed));
  gst_caps_unref (unparsed);
  gst_harness_set_src_caps_str (h, "video/x-nerv,parsed=true,width=64,height=48,"
      "framerate=25/1");
  for (int i = 0; i < 9; i++)
    fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, i)),
        GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 9);
  for (int i = 0; i < 9; i++) {
    GstBuffer *b = gst_harness_pull (h);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * GST_SECOND / 25);
    gst_buffer_unref (b);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), GST_VIDEO_FORMAT_I420);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), W);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), H);
  gst_caps_unref (caps);

  /* after a flush the decoder waits for the next key group: frames 7 and
   * 8 (a residual group's) are dropped without error, not decoded with
   * stale weights */
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, "video/x-nerv,parsed=true,width=64,height=48,"
      "framerate=25/1");
  {
    GstSegment seg;
    gst_segment_init (&seg, GST_FORMAT_TIME);
    fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  }
  fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, 4)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, 5)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, 6)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  g_ptr_array_unref (units);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_harness_corrupt)
{
  GstHarness *h = gst_harness_new ("nervdec");
  GPtrArray *units = core_stream (7);
  GstBuffer *bad;
  GstMapInfo map;

  gst_harness_set_src_caps_str (h, "video/x-nerv,parsed=true,width=64,height=48,"
      "framerate=25/1");
  g_object_set (h->element, "max-errors", 5, NULL);
  fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, 0)), GST_FLOW_OK);
  /* frame 1 damaged: a warning, the frame dropped, decoding goes on at the
   * next key group (frame 6) */
  {
    GstBuffer *orig = unit_buffer (units, 1);
    bad = gst_buffer_copy_deep (orig);
    gst_buffer_unref (orig);
  }
  gst_buffer_map (bad, &map, GST_MAP_WRITE);
  map.data[map.size - 6] ^= 0x40;
  gst_buffer_unmap (bad, &map);
  fail_unless_equals_int (gst_harness_push (h, bad), GST_FLOW_OK);
  for (int i = 2; i < 7; i++)
    fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, i)),
        GST_FLOW_OK);
  /* frames 0 and 6 decode; 1 is corrupt, 2..5 wait for a key group */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  g_ptr_array_unref (units);
  gst_harness_teardown (h);
}
END_TEST;


/* ---- issue 15, item 6: corrupt input is not silent ---------------------- */

/* Runs "filesrc ! nervparse ! nervdec ! fakesink" on @data: the frames out
 * (*frames), the warnings on the bus (returned); no error. */
static guint
run_file_warnings (const guint8 * data, gsize len, guint * frames,
    guint * parse_warnings, guint * dec_warnings)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "nerv-test-XXXXXX.nerv",
      NULL);
  const int fd = g_mkstemp (path);
  gchar *desc;
  GstElement *p;
  GstBus *bus;
  GstMessage *m;
  guint warnings = 0;
  GError *err = NULL;

  close (fd);
  fail_unless (g_file_set_contents (path, (const gchar *) data, len, NULL));
  desc = g_strdup_printf ("filesrc location=%s ! nervparse name=parse ! "
      "nervdec name=dec ! fakesink name=sink sync=false signal-handoffs=true",
      path);
  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL);
  *frames = 0;
  {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
    g_signal_connect_swapped (sink, "handoff", G_CALLBACK (count_handoff),
        frames);
    gst_object_unref (sink);
  }
  bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  while ((m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING))) {
    const GstMessageType t = GST_MESSAGE_TYPE (m);
    fail_if (t == GST_MESSAGE_ERROR, "error on the bus");
    gst_message_unref (m);
    if (t == GST_MESSAGE_EOS)
      break;
    warnings++;
  }
  {
    GstElement *parse = gst_bin_get_by_name (GST_BIN (p), "parse");
    GstElement *dec = gst_bin_get_by_name (GST_BIN (p), "dec");
    g_object_get (parse, "warnings", parse_warnings, NULL);
    g_object_get (dec, "warnings", dec_warnings, NULL);
    gst_object_unref (parse);
    gst_object_unref (dec);
  }
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_free (desc);
  g_unlink (path);
  g_free (path);
  return warnings;
}

START_TEST (test_corrupt_warns)
{
  GPtrArray *units = core_stream (7);
  GByteArray *a = nerv_test_join (units);
  guint frames, pw, dw, warnings;
  NervPacket pkt;
  size_t hlen;

  /* 100 bytes XORed inside the first key group packet (after the stream
   * header): its key period is lost, frame 6 decodes; this used to end
   * with no message at all */
  fail_unless_equals_int (nerv_packet_parse (a->data, a->len, &pkt, &hlen),
      NERV_OK);
  for (int i = 0; i < 100; i++)
    a->data[hlen + 30 + i] ^= 0x5a;
  warnings = run_file_warnings (a->data, a->len, &frames, &pw, &dw);
  fail_unless_equals_int (frames, 1);
  fail_unless (warnings >= 2, "%u warnings", warnings);
  fail_unless (pw >= 1 && dw >= 1, "parser %u, decoder %u warnings", pw, dw);
  fail_unless_equals_int (warnings, pw + dw);

  /* truncated inside the last frame's packet: the frames before it, and a
   * warning */
  for (int i = 0; i < 100; i++)
    a->data[hlen + 30 + i] ^= 0x5a;
  warnings = run_file_warnings (a->data, a->len - 3, &frames, &pw, &dw);
  fail_unless_equals_int (frames, 6);
  fail_unless_equals_int (pw, 1);
  fail_unless_equals_int (warnings, 1);
  g_byte_array_free (a, TRUE);
  g_ptr_array_unref (units);
}
END_TEST;

/* A stream that starts with no key frame: one warning for the frames
 * dropped before the first key frame (not one each); after a flush the
 * same wait is quiet. */
START_TEST (test_harness_no_key_warns)
{
  GstHarness *h = gst_harness_new ("nervdec");
  GPtrArray *units = core_stream (7);
  guint warnings = 0;

  gst_harness_set_src_caps_str (h, "video/x-nerv,parsed=true,width=64,"
      "height=48,framerate=25/1");
  for (int i = 1; i < 7; i++)
    fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, i)),
        GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  g_object_get (h->element, "warnings", &warnings, NULL);
  fail_unless_equals_int (warnings, 1);

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, "video/x-nerv,parsed=true,width=64,"
      "height=48,framerate=25/1");
  {
    GstSegment seg;
    gst_segment_init (&seg, GST_FORMAT_TIME);
    fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  }
  for (int i = 1; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, unit_buffer (units, i)),
        GST_FLOW_OK);
  g_object_get (h->element, "warnings", &warnings, NULL);
  fail_unless_equals_int (warnings, 1);
  g_ptr_array_unref (units);
  gst_harness_teardown (h);
}
END_TEST;

/* ---- issue 15, item 7: a rate no fraction holds ------------------------- */

/* fps_n = 0x80000000 gave a GStreamer-CRITICAL (passed value smaller than
 * -G_MAXINT), which fails this test; the rate is read as unknown now */
START_TEST (test_harness_bad_rate)
{
  GstHarness *h = gst_harness_new ("nervdec");
  GPtrArray *units = core_stream (3);
  GByteArray *a = g_byte_array_new ();
  GstBuffer *b;
  GstCaps *caps;
  gint fn = -1, fd = -1;
  gsize len;
  const guint8 *d = g_bytes_get_data (g_ptr_array_index (units, 0), &len);

  g_byte_array_append (a, d, len);
  fail_unless (memcmp (a->data, "NRVS", 4) == 0);
  nerv_write_u32le (a->data + 8 + 6, 0x80000000u);
  {
    const guint32 plen = nerv_read_u32le (a->data + 4);
    nerv_write_u32le (a->data + 8 + plen, av_crc (av_crc_get_table
            (AV_CRC_32_IEEE_LE), 0, a->data + 3, 5 + plen));
  }
  gst_harness_set_src_caps_str (h, "video/x-nerv,parsed=true,width=64,"
      "height=48");
  b = gst_buffer_new_memdup (a->data, a->len);
  GST_BUFFER_PTS (b) = 0;
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_structure_get_fraction (gst_caps_get_structure (caps, 0),
          "framerate", &fn, &fd));
  fail_unless (fn >= 0 && fd > 0, "framerate %d/%d", fn, fd);
  gst_caps_unref (caps);
  g_byte_array_free (a, TRUE);
  g_ptr_array_unref (units);
  gst_harness_teardown (h);
}
END_TEST;

static Suite *
nervdec_suite (void)
{
  Suite *s = suite_create ("nervdec");
  TCase *tc = tcase_create ("pipelines");
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_pipeline_psnr);
  tcase_add_test (tc, test_file_decodebin);
  tcase_add_test (tc, test_discoverer);
  tcase_add_test (tc, test_seek_middle);
  tcase_add_test (tc, test_corrupt_file_recovers);
  tcase_add_test (tc, test_harness_decode);
  tcase_add_test (tc, test_harness_corrupt);
  tcase_add_test (tc, test_corrupt_warns);
  tcase_add_test (tc, test_harness_no_key_warns);
  tcase_add_test (tc, test_harness_bad_rate);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (nervdec);
