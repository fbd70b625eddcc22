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

START_TEST (test_latency_includes_training)
{
  /* a live pipeline waits for a group and for its training: once a group
   * is coded the latency includes what training it took */
  GstHarness *h = make_harness (4, 2);
  GstClockTime min, max;

  for (int i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  gst_video_encoder_get_latency (GST_VIDEO_ENCODER (h->element), &min, &max);
  fail_unless (min > 4 * FRAME_DUR, "latency %" GST_TIME_FORMAT,
      GST_TIME_ARGS (min));
  fail_unless_equals_uint64 (min, max);
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

static GstPadQueryFunction harness_query;

/* the harness's source answers the duration: 12 frames */
static gboolean
duration_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  if (GST_QUERY_TYPE (query) == GST_QUERY_DURATION) {
    gst_query_set_duration (query, GST_FORMAT_TIME, 12 * FRAME_DUR);
    return TRUE;
  }
  return harness_query (pad, parent, query);
}

START_TEST (test_progress_whole_stream)
{
  /* with the duration known, progress covers the whole stream (an ETA
   * and a percentage), and the text names the phase */
  GstHarness *h = gst_harness_new ("nervenc");
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  gboolean stream = FALSE, phase = FALSE;

  harness_query = GST_PAD_QUERYFUNC (h->srcpad);
  gst_pad_set_query_function (h->srcpad, duration_query);
  g_object_set (h->element, "params", 12000, "epochs", 5, "group-size", 3,
      "threads", 2, NULL);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, CAPS);
  for (int i = 0; i < 6; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  while ((m = gst_bus_pop (bus))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (s, "nerv-progress")) {
      double left = -1, percent = -1;
      fail_unless (gst_structure_get_double (s, "stream-seconds-left", &left));
      fail_unless (gst_structure_get_double (s, "stream-percent", &percent));
      fail_unless (left >= 0 && percent >= 0 && percent <= 100,
          "%f s left, %f %%", left, percent);
      stream = TRUE;
    } else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_PROGRESS) {
      gchar *text = NULL;
      gst_message_parse_progress (m, NULL, NULL, &text);
      if (strstr (text, "training epoch") || strstr (text, "fine-tune epoch"))
        phase = TRUE;
      if (strstr (text, "epoch"))
        fail_unless (strstr (text, "stream ") && strstr (text, "%"), "%s",
            text);
      g_free (text);
    }
    gst_message_unref (m);
  }
  fail_unless (stream && phase);
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

/* ---- issue 14: stopping, key units, live bitrate, defaults ----------- */

/* Waits up to 60 s for the encoder's first nerv-progress message: a
 * group is in training */
static gboolean
wait_training (GstBus * bus)
{
  gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < end) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, GST_SECOND / 10,
        GST_MESSAGE_ELEMENT);
    gboolean found = m && gst_structure_has_name (gst_message_get_structure
        (m), "nerv-progress");
    if (m)
      gst_message_unref (m);
    if (found)
      return TRUE;
  }
  return FALSE;
}

/* a group that would train for minutes (100000 epochs) */
#define ENDLESS_TRAINING "params=12000 epochs=100000 threads=1"

START_TEST (test_null_interrupts_training)
{
  /* going to NULL while the first group trains (in preroll) drops the
   * group at once instead of waiting for its training */
  GstElement *p = gst_parse_launch ("videotestsrc ! video/x-raw,format=I420,"
      "width=32,height=24,framerate=25/1 ! nervenc " ENDLESS_TRAINING
      " group-size=2 ! fakesink", NULL);
  GstBus *bus = gst_element_get_bus (p);
  gint64 t0;

  gst_element_set_state (p, GST_STATE_PLAYING);
  fail_unless (wait_training (bus));
  t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless (g_get_monotonic_time () - t0 < 3 * G_USEC_PER_SEC,
      "NULL took %.1f s", (g_get_monotonic_time () - t0) / 1e6);
  /* a dropped group is no error */
  fail_if (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
  gst_object_unref (bus);
  gst_object_unref (p);
}
END_TEST;

typedef struct
{
  GstHarness *h;
  int frame;
  GstFlowReturn ret;
} PushJob;

static gpointer
push_thread (gpointer data)
{
  PushJob *j = data;
  j->ret = gst_harness_push (j->h, make_frame (j->frame));
  return NULL;
}

static GstHarness *
endless_harness (guint group, GstBus ** bus)
{
  GstHarness *h = gst_harness_new ("nervenc");
  g_object_set (h->element, "params", 12000, "epochs", 100000, "group-size",
      group, "threads", 1, NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  *bus = gst_bus_new ();
  gst_element_set_bus (h->element, *bus);
  return h;
}

START_TEST (test_flush_interrupts_training)
{
  /* a flush (seek) while a group trains drops it at once; coding starts
   * again with a key group */
  GstBus *bus;
  GstHarness *h = endless_harness (2, &bus);
  PushJob job = { h, 1, GST_FLOW_OK };
  GThread *t;
  GstSegment seg;
  GstBuffer *b;
  gint64 t0;

  fail_unless_equals_int (gst_harness_push (h, make_frame (0)), GST_FLOW_OK);
  t = g_thread_new ("push", push_thread, &job);        /* fills the group */
  fail_unless (wait_training (bus));
  t0 = g_get_monotonic_time ();
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_thread_join (t);
  fail_unless (g_get_monotonic_time () - t0 < 3 * G_USEC_PER_SEC,
      "the flush took %.1f s", (g_get_monotonic_time () - t0) / 1e6);
  fail_unless_equals_int (job.ret, GST_FLOW_FLUSHING);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);

  g_object_set (h->element, "epochs", 2, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  for (int i = 10; i < 12; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  b = gst_harness_pull (h);
  fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT));
  gst_buffer_unref (b);
  fail_if (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
END_TEST;

/* Decodes the harness's output buffers; returns the frames decoded */
static int
decode_all (GstHarness * h)
{
  NervDecoder *dec = nerv_decoder_new (1);
  GstBuffer *b;
  int frames = 0;

  while ((b = gst_harness_try_pull (h))) {
    GstMapInfo map;
    size_t pos = 0;
    gst_buffer_map (b, &map, GST_MAP_READ);
    while (pos < map.size) {
      size_t used = 0;
      NervDecodedFrame f;
      fail_unless_equals_int (nerv_decoder_decode (dec, map.data + pos,
              map.size - pos, &used), NERV_OK);
      pos += used;
      if (nerv_decoder_get_frame (dec, &f))
        frames++;
    }
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
  }
  nerv_decoder_free (dec);
  return frames;
}

START_TEST (test_eos_interrupts_training)
{
  /* an EOS sent to the encoder while a group trains: the group is coded
   * with what it has learnt, within a second or two, and every frame
   * that reached the encoder decodes */
  GstBus *bus;
  GstHarness *h = endless_harness (3, &bus);
  PushJob job = { h, 2, GST_FLOW_OK };
  GThread *t;
  gint64 t0;

  for (int i = 0; i < 2; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  t = g_thread_new ("push", push_thread, &job);
  fail_unless (wait_training (bus));
  t0 = g_get_monotonic_time ();
  fail_unless (gst_element_send_event (h->element, gst_event_new_eos ()));
  g_thread_join (t);
  fail_unless (g_get_monotonic_time () - t0 < 3 * G_USEC_PER_SEC,
      "the EOS took %.1f s", (g_get_monotonic_time () - t0) / 1e6);
  fail_unless_equals_int (job.ret, GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 3);
  fail_unless_equals_int (decode_all (h), 3);
  fail_if (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
END_TEST;

/* Pulls n buffers; returns a mask of those that are key units (sync
 * points that start with a stream header) */
static guint
pull_key_mask (GstHarness * h, int n)
{
  guint mask = 0;
  for (int i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstMapInfo map;
    fail_unless (b != NULL);
    gst_buffer_map (b, &map, GST_MAP_READ);
    if (!GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT)) {
      fail_unless (map.size > 4 && map.data[3] == 'S', "key buffer %d", i);
      mask |= 1u << i;
    } else {
      fail_if (map.size > 4 && map.data[3] == 'S', "delta buffer %d", i);
    }
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
  }
  return mask;
}

static int
count_force_key_events (GstHarness * h)
{
  GstEvent *e;
  int n = 0;
  while ((e = gst_harness_try_pull_event (h))) {
    if (gst_video_event_is_force_key_unit (e))
      n++;
    gst_event_unref (e);
  }
  return n;
}

START_TEST (test_force_key_unit)
{
  /* groups of 4, one key group in 100: a key unit asked for from
   * downstream (before frame 5) and from upstream (at frame 10) starts a
   * key group at that frame; the frames before it are a shorter group */
  GstHarness *h = make_harness (4, 100);
  const GstClockTime t10 = 10 * FRAME_DUR + 1000;

  for (int i = 0; i < 5; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_upstream_event (h,
          gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE,
              TRUE, 1)));
  for (int i = 5; i < 10; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h,
          gst_video_event_new_downstream_force_key_unit (t10, t10, t10, TRUE,
              2)));
  for (int i = 10; i < 12; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 12);
  /* keys at 0, 5 and 10 */
  fail_unless_equals_int (pull_key_mask (h, 12), 1 | 1 << 5 | 1 << 10);
  /* and the base class tells downstream */
  fail_unless (count_force_key_events (h) >= 1);
  gst_harness_teardown (h);
}
END_TEST;

/* The params of every coded group, from the nerv-group messages */
static int
group_params (GstBus * bus, guint64 * params, int max)
{
  GstMessage *m;
  int n = 0;
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (gst_structure_has_name (s, "nerv-group") && n < max)
      fail_unless (gst_structure_get_uint64 (s, "params", &params[n++]));
    gst_message_unref (m);
  }
  return n;
}

static void
encode_two_groups (guint kbps1, guint kbps2, guint64 * params)
{
  GstHarness *h = gst_harness_new ("nervenc");
  GstBus *bus = gst_bus_new ();
  g_object_set (h->element, "bitrate", kbps1, "epochs", 2, "group-size", 4,
      "keyframe-interval", 1, "threads", 2, NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  gst_element_set_bus (h->element, bus);
  for (int i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  /* while playing */
  g_object_set (h->element, "bitrate", kbps2, NULL);
  for (int i = 4; i < 8; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless_equals_int (group_params (bus, params, 2), 2);
  fail_if (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR));
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

START_TEST (test_bitrate_while_playing)
{
  /* a bitrate set while playing applies from the next group: at a key
   * group every group, the next group's model is the new rate's */
  GstElement *e = gst_element_factory_make ("nervenc", NULL);
  GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "bitrate");
  guint64 same[2], lower[2];

  fail_unless (spec->flags & GST_PARAM_MUTABLE_PLAYING);
  gst_object_unref (e);
  encode_two_groups (1000, 1000, same);
  encode_two_groups (1000, 250, lower);
  fail_unless_equals_uint64 (same[0], lower[0]);
  fail_unless (lower[1] * 2 < same[1], "%" G_GUINT64_FORMAT " params at 250 "
      "kbit/s, %" G_GUINT64_FORMAT " at 1000", lower[1], same[1]);
}
END_TEST;

START_TEST (test_key_int_max_frames)
{
  /* key-int-max counts frames: at most 6 frames from key to key, whatever
   * keyframe-interval (in groups) says */
  GstHarness *h = gst_harness_new ("nervenc");
  g_object_set (h->element, "params", 12000, "epochs", 2, "group-size", 3,
      "keyframe-interval", 100, "key-int-max", 6, "threads", 2, NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  for (int i = 0; i < 13; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (pull_key_mask (h, 13), 1 | 1 << 6 | 1 << 12);
  gst_harness_teardown (h);
}
END_TEST;

/* Encodes n frames at w x h (I420) with the properties set by the caller
 * on a new harness; returns the bytes coded. Warnings and errors go to
 * *bus, which the caller unrefs. */
static gsize
encode_size (GstHarness * h, int w, int hh, int n, GstBus ** bus)
{
  GstVideoInfo info;
  gchar *caps = g_strdup_printf ("video/x-raw,format=I420,width=%d,height=%d,"
      "framerate=25/1", w, hh);
  GstBuffer *b;
  gsize bytes = 0;

  *bus = gst_bus_new ();
  gst_element_set_bus (h->element, *bus);
  gst_harness_set_src_caps_str (h, caps);
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, w, hh);
  for (int i = 0; i < n; i++) {
    b = gst_buffer_new_allocate (NULL, info.size, NULL);
    gst_buffer_memset (b, 0, 20 + 9 * i, info.size);
    GST_BUFFER_PTS (b) = i * FRAME_DUR;
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((b = gst_harness_try_pull (h))) {
    bytes += gst_buffer_get_size (b);
    gst_buffer_unref (b);
  }
  gst_element_set_bus (h->element, NULL);
  g_free (caps);
  return bytes;
}

/* Whether the bus holds a warning whose text has needle */
static gboolean
has_warning (GstBus * bus, const gchar * needle)
{
  GstMessage *m;
  gboolean found = FALSE;
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING))) {
    GError *err = NULL;
    gst_message_parse_warning (m, &err, NULL);
    if (strstr (err->message, needle))
      found = TRUE;
    g_error_free (err);
    gst_message_unref (m);
  }
  return found;
}

START_TEST (test_default_params_scale)
{
  /* without a bitrate the model scales with the picture: 8 frames of
   * 16x16 are not coded with the 20000 parameters of 320x192 */
  GstHarness *h = gst_harness_new ("nervenc");
  GstBus *bus;
  const gsize raw = 8 * 16 * 16 * 3 / 2;
  gsize bytes;

  g_object_set (h->element, "epochs", 2, "threads", 2, NULL);
  bytes = encode_size (h, 16, 16, 8, &bus);
  fail_unless (bytes < 2 * raw, "%" G_GSIZE_FORMAT " bytes for %"
      G_GSIZE_FORMAT " raw", bytes, raw);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_larger_than_raw_warns)
{
  /* a stream larger than the raw video says so */
  GstHarness *h = gst_harness_new ("nervenc");
  GstBus *bus;
  const gsize raw = 8 * 16 * 16 * 3 / 2;
  gsize bytes;

  g_object_set (h->element, "params", 20000, "epochs", 2, "threads", 2, NULL);
  bytes = encode_size (h, 16, 16, 8, &bus);
  fail_unless (bytes > raw);
  fail_unless (has_warning (bus, "larger than the raw video"));
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_below_floor_warns)
{
  /* a target below what the smallest model costs: a warning with the
   * floor in kbit/s */
  GstHarness *h = gst_harness_new ("nervenc");
  GstBus *bus;

  g_object_set (h->element, "bitrate", 1, "epochs", 2, "group-size", 4,
      "threads", 2, NULL);
  encode_size (h, 32, 24, 4, &bus);
  fail_unless (has_warning (bus, "kbit/s"));
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_group_from_rate_by_default)
{
  /* with a bitrate and group-size left alone, the group comes from the
   * rate: a low rate takes longer groups to pay a model */
  GstHarness *h = gst_harness_new ("nervenc");
  GstClockTime min, max;

  g_object_set (h->element, "bitrate", 20, "epochs", 2, "threads", 2, NULL);
  gst_harness_set_src_caps_str (h, CAPS);
  fail_unless_equals_int (gst_harness_push (h, make_frame (0)), GST_FLOW_OK);
  gst_video_encoder_get_latency (GST_VIDEO_ENCODER (h->element), &min, &max);
  fail_unless (min > 8 * FRAME_DUR, "latency %" GST_TIME_FORMAT,
      GST_TIME_ARGS (min));
  gst_harness_teardown (h);
}
END_TEST;

START_TEST (test_params_too_large)
{
  /* params inside the property's range but more than the picture can
   * take: one error, in the property's terms */
  GstHarness *h = gst_harness_new ("nervenc");
  GstBus *bus = gst_bus_new ();
  GstVideoInfo info;
  GstMessage *m;
  int errors = 0;

  gst_element_set_bus (h->element, bus);
  g_object_set (h->element, "params", 16777216, "epochs", 2, NULL);
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=I420,width=64,height=48,framerate=25/1");
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 64, 48);
  for (int i = 0; i < 7; i++)
    fail_if (gst_harness_push (h, gst_buffer_new_allocate (NULL, info.size,
                NULL)) == GST_FLOW_OK);
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR))) {
    GError *err = NULL;
    gst_message_parse_error (m, &err, NULL);
    fail_unless (strstr (err->message, "params 16777216 is too large for "
            "64x48: at most ") != NULL, "%s", err->message);
    g_error_free (err);
    gst_message_unref (m);
    errors++;
  }
  fail_unless_equals_int (errors, 1);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
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
  tcase_add_test (tc, test_latency_includes_training);
  tcase_add_test (tc, test_defaults_are_the_cores);
  tcase_add_test (tc, test_flush_restarts_with_key);
  tcase_add_test (tc, test_progress_messages);
  tcase_add_test (tc, test_progress_whole_stream);
  tcase_add_test (tc, test_other_formats);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_caps_change);
  tcase_add_test (tc, test_eos_interrupt_keeps_groups);
  tcase_add_test (tc, test_null_interrupts_training);
  tcase_add_test (tc, test_flush_interrupts_training);
  tcase_add_test (tc, test_eos_interrupts_training);
  tcase_add_test (tc, test_force_key_unit);
  tcase_add_test (tc, test_bitrate_while_playing);
  tcase_add_test (tc, test_key_int_max_frames);
  tcase_add_test (tc, test_default_params_scale);
  tcase_add_test (tc, test_larger_than_raw_warns);
  tcase_add_test (tc, test_below_floor_warns);
  tcase_add_test (tc, test_group_from_rate_by_default);
  tcase_add_test (tc, test_params_too_large);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (nervenc);
