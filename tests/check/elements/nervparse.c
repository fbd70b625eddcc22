/* gst-nerv: nervparse and the nerv typefinder
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A tiny stream from the core encoder (32x24, 11 frames in groups of 3, a
 * key group every 2 groups: key frames 0 and 6) is pushed through
 * nervparse whole, in random chunks, behind garbage with corrupt packets,
 * concatenated with itself, cut short, and with a damaged stream header;
 * each time the output must be one buffer per frame with the input's bytes
 * (less what was damaged), timestamps from the frame numbers and
 * DELTA_UNIT on exactly the non-key frames. Then files in pull mode:
 * duration, seeks onto key frames, parsebin autoplugging through the
 * typefinder.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/base/gsttypefindhelper.h>
#include <glib/gstdio.h>
#include <libavutil/crc.h>
#include <dlfcn.h>
#include <string.h>

#include "nerv-codec.h"
#include "nerv-hostile.h"
#include "nerv-test-util.h"

#define W 32
#define H 24
#define GROUP 3
#define KEYINT 2
#define N 11                    /* 4 groups, the last one partial */
#define DUR (GST_SECOND / 25)   /* the encoder's default rate */

static GByteArray *stream;
static gsize frame_end[N];      /* offset after each frame's packets */

static gsize
frame_start (int i)
{
  return i ? frame_end[i - 1] : 0;
}

static gboolean
is_key (guint64 frame)
{
  return frame % (GROUP * KEYINT) == 0;
}

/* runs once, in the parent process, before the tests fork */
static void
make_stream (void)
{
  NervEncoderSettings s = nerv_test_settings (W, H, GROUP, KEYINT);
  GPtrArray *units = nerv_test_encode (&s, N, NULL, NULL);

  stream = g_byte_array_new ();
  for (guint i = 0; i < units->len; i++) {
    gsize len;
    const guint8 *d = g_bytes_get_data (g_ptr_array_index (units, i), &len);
    g_byte_array_append (stream, d, len);
    frame_end[i] = stream->len;
  }
  g_assert_cmpint (units->len, ==, N);
  g_ptr_array_unref (units);
}

static void
free_stream (void)
{
  g_byte_array_free (stream, TRUE);
}

/* a copy of frames [from, to) of the stream */
static GByteArray *
stream_copy (int from, int to)
{
  GByteArray *a = g_byte_array_new ();
  g_byte_array_append (a, stream->data + frame_start (from),
      frame_end[to - 1] - frame_start (from));
  return a;
}

/* offset of the 'F' packet (the last one) of frame i in the stream */
static gsize
frame_packet (int i)
{
  gsize pos = frame_start (i), last = pos;
  while (pos < frame_end[i]) {
    NervPacket pkt;
    size_t used;
    fail_unless_equals_int (nerv_packet_parse (stream->data + pos,
            frame_end[i] - pos, &pkt, &used), NERV_OK);
    last = pos;
    pos += used;
  }
  fail_unless_equals_int (stream->data[last + 3], 'F');
  return last;
}

/* rewrite a packet's CRC after a deliberate change */
static void
fix_crc (guint8 * pkt)
{
  const guint32 len = nerv_read_u32le (pkt + 4);
  nerv_write_u32le (pkt + 8 + len, av_crc (av_crc_get_table
          (AV_CRC_32_IEEE_LE), 0, pkt + 3, 5 + len));
}

/* ---- harness ------------------------------------------------------------ */

static GstHarness *
new_parser (GstFormat upstream_format)
{
  GstHarness *h = gst_harness_new ("nervparse");
  GstSegment seg;

  /* typefind's caps: no "parsed" */
  gst_harness_set_src_caps_str (h, "video/x-nerv");
  gst_segment_init (&seg, upstream_format);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  return h;
}

/* push data in chunks of 1..max bytes (max 0: whole), then EOS */
static void
push_data (GstHarness * h, const guint8 * data, gsize len, gsize max,
    GRand * rand)
{
  gsize pos = 0;
  while (pos < len) {
    gsize n = max ? (gsize) g_rand_int_range (rand, 1, max + 1) : len;
    n = MIN (n, len - pos);
    fail_unless_equals_int (gst_harness_push (h,
            gst_buffer_new_memdup (data + pos, n)), GST_FLOW_OK);
    pos += n;
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
}

typedef struct
{
  guint64 frame;                /* timeline position: pts = frame * DUR */
  guint64 stream_frame;         /* frame number in the stream */
  gboolean discont;
} Expect;

/* Checks one output buffer per expected frame, their bytes (together equal
 * to @bytes), timestamps, DELTA_UNIT and DISCONT flags, and the caps. */
static void
check_output (GstHarness * h, const Expect * ex, guint n, const guint8 * bytes,
    gsize len)
{
  GByteArray *all = g_byte_array_new ();
  GstCaps *caps;
  GstStructure *s;
  gint v, fn, fd;
  gboolean parsed = FALSE;
  guint n_caps = 0;
  GstEvent *ev;

  fail_unless_equals_int (gst_harness_buffers_in_queue (h), n);
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstMapInfo map;
    NervPacket pkt;
    size_t used, pos = 0;
    guint64 fnum = G_MAXUINT64;

    fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
    /* whole packets, the last one the frame */
    while (pos < map.size) {
      fail_unless_equals_int (nerv_packet_parse (map.data + pos,
              map.size - pos, &pkt, &used), NERV_OK);
      if (pkt.type == 'F') {
        fail_unless_equals_int (pos + used, map.size);
        fnum = nerv_read_u64le (pkt.payload);
      }
      pos += used;
    }
    fail_unless_equals_uint64 (fnum, ex[i].stream_frame);
    g_byte_array_append (all, map.data, map.size);
    gst_buffer_unmap (b, &map);

    fail_unless_equals_clocktime (GST_BUFFER_PTS (b), ex[i].frame * DUR);
    fail_unless_equals_clocktime (GST_BUFFER_DTS (b), ex[i].frame * DUR);
    fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), DUR);
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b,
            GST_BUFFER_FLAG_DELTA_UNIT), !is_key (ex[i].stream_frame));
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT),
        ex[i].discont);
    gst_buffer_unref (b);
  }
  fail_unless_equals_int (all->len, len);
  fail_unless (memcmp (all->data, bytes, len) == 0,
      "output bytes differ from the input");
  g_byte_array_free (all, TRUE);

  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (caps != NULL);
  s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "video/x-nerv"));
  fail_unless (gst_structure_get_boolean (s, "parsed", &parsed) && parsed);
  fail_unless (gst_structure_get_int (s, "width", &v) && v == W);
  fail_unless (gst_structure_get_int (s, "height", &v) && v == H);
  fail_unless (gst_structure_get_fraction (s, "framerate", &fn, &fd));
  fail_unless (fn == 25 && fd == 1);
  gst_caps_unref (caps);

  /* caps are sent once while they do not change */
  while ((ev = gst_harness_try_pull_event (h))) {
    n_caps += GST_EVENT_TYPE (ev) == GST_EVENT_CAPS;
    gst_event_unref (ev);
  }
  fail_unless_equals_int (n_caps, 1);
}

/* frames from..to-1 of the stream, in order, the first DISCONT */
static guint
expect_frames (Expect * ex, int from, int to, guint64 timeline_offset)
{
  guint n = 0;
  for (int i = from; i < to; i++, n++) {
    ex[n].frame = i + timeline_offset;
    ex[n].stream_frame = i;
    ex[n].discont = n == 0;
  }
  return n;
}

static void
run_clean (gsize chunk, guint32 seed)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GRand *rand = g_rand_new_with_seed (seed);
  Expect ex[N];

  push_data (h, stream->data, stream->len, chunk, rand);
  check_output (h, ex, expect_frames (ex, 0, N, 0), stream->data,
      stream->len);
  g_rand_free (rand);
  gst_harness_teardown (h);
}

GST_START_TEST (test_parse_whole)
{
  run_clean (0, 0);
}

GST_END_TEST;

GST_START_TEST (test_parse_split)
{
  run_clean (7, 1);
  run_clean (64, 2);
  run_clean (1, 3);
}

GST_END_TEST;

GST_START_TEST (test_parse_upstream_time)
{
  /* upstream in TIME without timestamps (no BYTES segment): the stream's
   * own timestamps are kept */
  GstHarness *h = new_parser (GST_FORMAT_TIME);
  Expect ex[N];

  push_data (h, stream->data, stream->len, 0, NULL);
  check_output (h, ex, expect_frames (ex, 0, N, 0), stream->data,
      stream->len);
  gst_harness_teardown (h);
}

GST_END_TEST;

static void
run_damaged (gsize chunk, guint32 seed)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GRand *rand = g_rand_new_with_seed (seed);
  GByteArray *in = g_byte_array_new (), *want = g_byte_array_new ();
  const gsize f3 = frame_packet (3), f7 = frame_packet (7);
  const gsize f3_len = frame_end[3] - f3, f7_len = frame_end[7] - f7;
  /* a false marker with a plausible length, and one cut short */
  static const guint8 fake[] = { 'N', 'R', 'V', 'F', 4, 0, 0, 0,
    1, 2, 3, 4, 5, 6, 7, 8, 'x', 'N', 'R', 'V', 'S', 0xff
  };
  Expect ex[N];
  guint n;

  /* garbage with no marker in it */
  for (int i = 0; i < 300; i++) {
    guint8 b = (guint8) g_rand_int_range (rand, 0, 256);
    if (b == 'N')
      b = 'n';
    g_byte_array_append (in, &b, 1);
  }
  g_byte_array_append (in, fake, sizeof (fake));
  g_byte_array_append (in, stream->data, stream->len);
  /* frame 3 is [G F]: its frame packet goes bad, the group packet stays
   * and travels with frame 4; frame 7 is a lone F that goes bad */
  in->data[in->len - stream->len + f3 + 10] ^= 0x40;
  in->data[in->len - stream->len + f7 + 9] ^= 0x01;

  g_byte_array_append (want, stream->data, f3);
  g_byte_array_append (want, stream->data + f3 + f3_len, f7 - f3 - f3_len);
  g_byte_array_append (want, stream->data + f7 + f7_len,
      stream->len - f7 - f7_len);

  n = expect_frames (ex, 0, 3, 0);
  ex[n++] = (Expect) {
  4, 4, TRUE};                  /* data was dropped inside this frame */
  ex[n++] = (Expect) {
  5, 5, FALSE};
  ex[n++] = (Expect) {
  6, 6, FALSE};
  ex[n++] = (Expect) {
  8, 8, TRUE};                  /* after a skip */
  ex[n++] = (Expect) {
  9, 9, FALSE};
  ex[n++] = (Expect) {
  10, 10, FALSE};

  push_data (h, in->data, in->len, chunk, rand);
  check_output (h, ex, n, want->data, want->len);
  g_byte_array_free (in, TRUE);
  g_byte_array_free (want, TRUE);
  g_rand_free (rand);
  gst_harness_teardown (h);
}

GST_START_TEST (test_parse_garbage_and_damage)
{
  run_damaged (0, 10);
  run_damaged (13, 11);
  run_damaged (200, 12);
}

GST_END_TEST;

/* 3 MiB packets: a valid one before the first stream header (dropped) and
 * a damaged one between frames 4 and 5 (skipped). The base class gives up
 * on a stream after one skip of more than 2 MiB: the parser must not. */
#define BIG (3 << 20)

static GByteArray *
stream_with_big_packets (void)
{
  GByteArray *in = g_byte_array_new ();
  guint8 *zeros = g_malloc0 (BIG);
  guint8 hdr[8] = { 'N', 'R', 'V', 'X' };
  const guint8 bad_crc[4] = { 0 };

  nerv_packet_write (in, 'X', zeros, BIG);
  g_byte_array_append (in, stream->data, frame_start (5));
  nerv_write_u32le (hdr + 4, BIG);
  g_byte_array_append (in, hdr, sizeof (hdr));
  g_byte_array_append (in, zeros, BIG);
  g_byte_array_append (in, bad_crc, sizeof (bad_crc));
  g_byte_array_append (in, stream->data + frame_start (5),
      stream->len - frame_start (5));
  g_free (zeros);
  return in;
}

GST_START_TEST (test_parse_big_packets)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = stream_with_big_packets ();
  GRand *rand = g_rand_new_with_seed (60);
  Expect ex[N];

  expect_frames (ex, 0, N, 0);
  ex[5].discont = TRUE;
  push_data (h, in->data, in->len, 100000, rand);
  check_output (h, ex, N, stream->data, stream->len);
  g_rand_free (rand);
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_parse_concatenated)
{
  /* a second stream appended restarts at frame 0: time goes on */
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GRand *rand = g_rand_new_with_seed (20);
  GByteArray *in = stream_copy (0, N);
  Expect ex[2 * N];
  guint n;

  g_byte_array_append (in, stream->data, stream->len);
  n = expect_frames (ex, 0, N, 0);
  n += expect_frames (ex + n, 0, N, N);
  ex[N].discont = FALSE;
  push_data (h, in->data, in->len, 50, rand);
  check_output (h, ex, n, in->data, in->len);
  g_byte_array_free (in, TRUE);
  g_rand_free (rand);
  gst_harness_teardown (h);
}

GST_END_TEST;

static void
run_truncated (gsize len, int frames, guint32 seed)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GRand *rand = g_rand_new_with_seed (seed);
  Expect ex[N];

  push_data (h, stream->data, len, 9, rand);
  check_output (h, ex, expect_frames (ex, 0, frames, 0), stream->data,
      frame_end[frames - 1]);
  g_rand_free (rand);
  gst_harness_teardown (h);
}

GST_START_TEST (test_parse_truncated)
{
  /* every whole frame comes out, no error: the last packet cut... */
  run_truncated (stream->len - 5, N - 1, 30);
  /* ... or whole stream header and group packets with no frame after */
  run_truncated (frame_packet (6), 6, 31);
}

GST_END_TEST;

GST_START_TEST (test_parse_starts_mid_stream)
{
  /* cut in the middle of a key period: frames wait for a stream header */
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = stream_copy (3, N);
  Expect ex[N];

  push_data (h, in->data, in->len, 0, NULL);
  check_output (h, ex, expect_frames (ex, 6, N, 0),
      stream->data + frame_start (6), stream->len - frame_start (6));
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Stream header of frame @bad (0 or 6) with width 0 and a CRC that checks:
 * a warning, and frames wait for the next valid header. */
static void
run_invalid_header (int bad, int from, int to)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = stream_copy (0, N);
  guint8 *pkt = in->data + frame_start (bad);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;
  Expect ex[N];

  gst_element_set_bus (h->element, bus);
  fail_unless (memcmp (pkt, "NRVS", 4) == 0);
  pkt[8 + 2] = pkt[8 + 3] = 0;
  fix_crc (pkt);
  push_data (h, in->data, in->len, 0, NULL);
  check_output (h, ex, expect_frames (ex, from, to, 0),
      stream->data + frame_start (from), frame_end[to - 1] - frame_start (from));

  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (msg != NULL);
  gst_message_parse_warning (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_DECODE));
  g_clear_error (&err);
  gst_message_unref (msg);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR) == NULL);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_START_TEST (test_parse_invalid_header)
{
  run_invalid_header (0, 6, N);
  /* the frames after a bad header do not go out under the old one */
  run_invalid_header (6, 0, 6);
}

GST_END_TEST;

GST_START_TEST (test_parse_unknown_packet)
{
  /* packets of a type from a later version, CRC intact: passed on inside
   * the frame they precede */
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = g_byte_array_new ();
  GRand *rand = g_rand_new_with_seed (50);
  static const guint8 payload[] = "a later version's packet";
  Expect ex[N];

  g_byte_array_append (in, stream->data, frame_start (4));
  nerv_packet_write (in, 'X', payload, sizeof (payload));
  g_byte_array_append (in, stream->data + frame_start (4),
      frame_start (6) - frame_start (4));
  nerv_packet_write (in, 0xf0, NULL, 0);
  g_byte_array_append (in, stream->data + frame_start (6),
      stream->len - frame_start (6));
  push_data (h, in->data, in->len, 11, rand);
  check_output (h, ex, expect_frames (ex, 0, N, 0), in->data, in->len);
  g_rand_free (rand);
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_parse_unsupported_version)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = stream_copy (0, N);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;

  gst_element_set_bus (h->element, bus);
  in->data[8] = NERV_VERSION_MAJOR + 1;        /* version major */
  fix_crc (in->data);
  fail_unless_equals_int (gst_harness_push (h,
          gst_buffer_new_memdup (in->data, in->len)), GST_FLOW_ERROR);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);

  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_FORMAT));
  {
    gchar *want = g_strdup_printf ("version %d.0", NERV_VERSION_MAJOR + 1);
    fail_unless (strstr (err->message, want) != NULL, "%s", err->message);
    g_free (want);
  }
  g_clear_error (&err);
  gst_message_unref (msg);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- typefinder --------------------------------------------------------- */

static GstCaps *
typefind (const guint8 * data, gsize len, GstTypeFindProbability * prob)
{
  *prob = GST_TYPE_FIND_NONE;
  return gst_type_find_helper_for_data (NULL, data, len, prob);
}

static gboolean
is_nerv (GstCaps * caps)
{
  return caps && gst_structure_has_name (gst_caps_get_structure (caps, 0),
      "video/x-nerv");
}

GST_START_TEST (test_typefind)
{
  GstTypeFindProbability prob;
  GByteArray *in = stream_copy (0, N);
  GRand *rand = g_rand_new_with_seed (40);
  guint8 noise[4096];
  GstCaps *caps;

  caps = typefind (in->data, in->len, &prob);
  fail_unless (is_nerv (caps));
  fail_unless_equals_int (prob, GST_TYPE_FIND_MAXIMUM);
  gst_caps_unref (caps);

  /* too short to check the CRC: magic and version only */
  caps = typefind (in->data, 9, &prob);
  fail_unless (is_nerv (caps));
  fail_unless_equals_int (prob, GST_TYPE_FIND_NEARLY_CERTAIN);
  gst_caps_unref (caps);

  /* a damaged first packet */
  in->data[12] ^= 1;
  caps = typefind (in->data, in->len, &prob);
  fail_unless (is_nerv (caps));
  fail_unless_equals_int (prob, GST_TYPE_FIND_LIKELY);
  gst_caps_unref (caps);

  /* random bytes are not .nerv, nor is a bare marker */
  for (guint i = 0; i < sizeof (noise); i++)
    noise[i] = (guint8) g_rand_int_range (rand, 0, 256);
  caps = typefind (noise, sizeof (noise), &prob);
  fail_if (is_nerv (caps));
  gst_clear_caps (&caps);
  memcpy (noise, "NRVS\xff\xff\xff\xff", 8);
  caps = typefind (noise, sizeof (noise), &prob);
  fail_if (is_nerv (caps));
  gst_clear_caps (&caps);

  g_rand_free (rand);
  g_byte_array_free (in, TRUE);
}

GST_END_TEST;

/* ---- files (pull mode) -------------------------------------------------- */

typedef struct
{
  GMutex lock;
  GArray *pts;                  /* GstClockTime of buffers since the last flush */
  GArray *delta;                /* gboolean */
  GstClockTime segment_start;
} Record;

static GstPadProbeReturn
record_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Record *r = user_data;

  g_mutex_lock (&r->lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime t = GST_BUFFER_PTS (b);
    gboolean d = GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
    g_array_append_val (r->pts, t);
    g_array_append_val (r->delta, d);
  } else {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP) {
      g_array_set_size (r->pts, 0);
      g_array_set_size (r->delta, 0);
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      const GstSegment *seg;
      gst_event_parse_segment (ev, &seg);
      r->segment_start = seg->start;
    }
  }
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static gchar *
write_file (const guint8 * data, gsize len)
{
  GError *err = NULL;
  gchar *path = NULL;
  const gint fd = g_file_open_tmp ("nervparse-XXXXXX.nerv", &path, &err);

  fail_unless (fd >= 0, "%s", err ? err->message : "");
  close (fd);
  fail_unless (g_file_set_contents (path, (const gchar *) data, len, &err));
  return path;
}

typedef struct
{
  GstElement *pipe;
  GstBus *bus;
  Record rec;
} Player;

/* "filesrc ! <middle> ! fakesink", paused */
static void
player_open (Player * p, const gchar * path, const gchar * middle)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! %s ! "
      "fakesink name=sink sync=false", path, middle);
  GError *err = NULL;
  GstElement *sink;
  GstPad *pad;

  p->pipe = gst_parse_launch (desc, &err);
  fail_unless (p->pipe != NULL, "%s", err ? err->message : "");
  g_free (desc);
  p->bus = gst_element_get_bus (p->pipe);
  g_mutex_init (&p->rec.lock);
  p->rec.pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  p->rec.delta = g_array_new (FALSE, FALSE, sizeof (gboolean));
  p->rec.segment_start = GST_CLOCK_TIME_NONE;
  sink = gst_bin_get_by_name (GST_BIN (p->pipe), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH,
      record_probe, &p->rec, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_element_set_state (p->pipe, GST_STATE_PAUSED);
  fail_unless_equals_int (gst_element_get_state (p->pipe, NULL, NULL,
          30 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
}

static void
player_run_to_eos (Player * p)
{
  GstMessage *m;

  gst_element_set_state (p->pipe, GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (p->bus, 30 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "timed out");
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    GError *e;
    gchar *dbg;
    gst_message_parse_error (m, &e, &dbg);
    fail ("%s (%s)", e->message, dbg);
  }
  gst_message_unref (m);
}

static void
player_seek (Player * p, GstClockTime t, GstSeekFlags flags)
{
  fail_unless (gst_element_seek_simple (p->pipe, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | flags, t));
  fail_unless_equals_int (gst_element_get_state (p->pipe, NULL, NULL,
          30 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
}

static void
player_close (Player * p)
{
  gst_element_set_state (p->pipe, GST_STATE_NULL);
  gst_object_unref (p->bus);
  gst_object_unref (p->pipe);
  g_array_unref (p->rec.pts);
  g_array_unref (p->rec.delta);
  g_mutex_clear (&p->rec.lock);
}

static gint64
player_duration (Player * p)
{
  gint64 dur = -1;
  fail_unless (gst_element_query_duration (p->pipe, GST_FORMAT_TIME, &dur));
  return dur;
}

/* the recorded buffers are the frames in @frames (timeline positions) */
static void
check_recorded_list (Player * p, const guint64 * frames, guint n)
{
  g_mutex_lock (&p->rec.lock);
  fail_unless_equals_int (p->rec.pts->len, n);
  for (guint i = 0; i < n; i++) {
    fail_unless_equals_clocktime (g_array_index (p->rec.pts, GstClockTime,
            i), frames[i] * DUR);
    fail_unless_equals_int (g_array_index (p->rec.delta, gboolean, i),
        !is_key (frames[i] % N));
  }
  g_mutex_unlock (&p->rec.lock);
}

/* the recorded buffers are frames from, from+1, ... to-1 */
static void
check_recorded (Player * p, guint64 from, guint64 to)
{
  guint64 frames[4 * N];
  guint n = 0;

  for (guint64 f = from; f < to; f++)
    frames[n++] = f;
  check_recorded_list (p, frames, n);
}

GST_START_TEST (test_file_duration_and_seek)
{
  gchar *path = write_file (stream->data, stream->len);
  Player p;
  GstElement *parse;
  GstPad *pad;

  player_open (&p, path, "nervparse name=parse");
  /* the file is read in pull mode, where the parser scans it */
  parse = gst_bin_get_by_name (GST_BIN (p.pipe), "parse");
  pad = gst_element_get_static_pad (parse, "sink");
  fail_unless_equals_int (GST_PAD_MODE (pad), GST_PAD_MODE_PULL);
  gst_object_unref (pad);
  gst_object_unref (parse);

  fail_unless_equals_int64 (player_duration (&p), N * DUR);

  /* between frames 7 and 8: from key frame 6, segment kept */
  player_seek (&p, 7 * DUR + DUR / 2, 0);
  player_run_to_eos (&p);
  check_recorded (&p, 6, N);
  fail_unless_equals_clocktime (p.rec.segment_start, 7 * DUR + DUR / 2);

  /* snapping to the key frame before */
  gst_element_set_state (p.pipe, GST_STATE_PAUSED);
  player_seek (&p, 10 * DUR, GST_SEEK_FLAG_KEY_UNIT |
      GST_SEEK_FLAG_SNAP_BEFORE);
  player_run_to_eos (&p);
  check_recorded (&p, 6, N);
  fail_unless_equals_clocktime (p.rec.segment_start, 6 * DUR);

  /* onto a key frame exactly */
  gst_element_set_state (p.pipe, GST_STATE_PAUSED);
  player_seek (&p, 6 * DUR, GST_SEEK_FLAG_ACCURATE);
  player_run_to_eos (&p);
  check_recorded (&p, 6, N);

  /* back to the start */
  gst_element_set_state (p.pipe, GST_STATE_PAUSED);
  player_seek (&p, 2 * DUR, 0);
  player_run_to_eos (&p);
  check_recorded (&p, 0, N);

  player_close (&p);
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_file_concatenated)
{
  /* two streams one after the other: 2N frames on one timeline */
  GByteArray *in = stream_copy (0, N);
  gchar *path;
  Player p;

  g_byte_array_append (in, stream->data, stream->len);
  path = write_file (in->data, in->len);
  player_open (&p, path, "nervparse");
  fail_unless_equals_int64 (player_duration (&p), 2 * N * DUR);
  player_run_to_eos (&p);
  check_recorded (&p, 0, 2 * N);

  /* into the second stream: its key frames are at N and N + 6 */
  gst_element_set_state (p.pipe, GST_STATE_PAUSED);
  player_seek (&p, (N + 8) * DUR, 0);
  player_run_to_eos (&p);
  check_recorded (&p, N + 6, 2 * N);

  gst_element_set_state (p.pipe, GST_STATE_PAUSED);
  player_seek (&p, (N + 2) * DUR, 0);
  player_run_to_eos (&p);
  check_recorded (&p, N, 2 * N);

  player_close (&p);
  g_unlink (path);
  g_free (path);
  g_byte_array_free (in, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_file_damaged)
{
  /* garbage in front, frame 7's packet with a bad CRC, frame 8's with a
   * bad length: the file scan resynchronises like the parser, so the
   * duration and the key frame index still hold */
  GByteArray *in = g_byte_array_new ();
  const guint64 played[] = { 0, 1, 2, 3, 4, 5, 6, 9, 10 };
  gchar *path;
  gsize base;
  Player p;

  for (int i = 0; i < 1000; i++) {
    const guint8 b = (guint8) (i * 7);
    g_byte_array_append (in, &b, 1);
  }
  base = in->len;
  g_byte_array_append (in, stream->data, stream->len);
  in->data[base + frame_packet (7) + 9] ^= 0x01;
  in->data[base + frame_packet (8) + 5] ^= 0x10;
  path = write_file (in->data, in->len);

  player_open (&p, path, "nervparse");
  fail_unless_equals_int64 (player_duration (&p), N * DUR);
  player_run_to_eos (&p);
  check_recorded_list (&p, played, G_N_ELEMENTS (played));

  gst_element_set_state (p.pipe, GST_STATE_PAUSED);
  player_seek (&p, 9 * DUR, 0);
  player_run_to_eos (&p);
  check_recorded_list (&p, played + 6, 3);

  player_close (&p);
  g_unlink (path);
  g_free (path);
  g_byte_array_free (in, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_file_big_packets)
{
  GByteArray *in = stream_with_big_packets ();
  gchar *path = write_file (in->data, in->len);
  Player p;

  player_open (&p, path, "nervparse");
  fail_unless_equals_int64 (player_duration (&p), N * DUR);
  player_run_to_eos (&p);
  check_recorded (&p, 0, N);
  player_close (&p);
  g_unlink (path);
  g_free (path);
  g_byte_array_free (in, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_file_parsebin)
{
  /* typefinder and parser autoplugged, as decodebin and playbin do
   * (parsebin exposes a parsed stream when a decoder for it exists: the
   * plugin's nervdec) */
  gchar *path = write_file (stream->data, stream->len);
  Player p;
  GstElement *sink;
  GstPad *pad;
  GstCaps *caps;
  gboolean parsed = FALSE;

  player_open (&p, path, "parsebin");
  sink = gst_bin_get_by_name (GST_BIN (p.pipe), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  caps = gst_pad_get_current_caps (pad);
  fail_unless (caps != NULL);
  fail_unless (gst_structure_get_boolean (gst_caps_get_structure (caps, 0),
          "parsed", &parsed) && parsed);
  gst_caps_unref (caps);
  gst_object_unref (pad);
  gst_object_unref (sink);
  fail_unless_equals_int64 (player_duration (&p), N * DUR);
  player_run_to_eos (&p);
  check_recorded (&p, 0, N);
  player_close (&p);
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;


/* ---- issue 15: linear work, bounded units, visible damage ---------------- */

/* The plugin's copy of the core (it links libnerv statically) counts the
 * bytes its packet checks CRC: its nerv_crc_bytes(). */
static guint64
plugin_crc_bytes (void)
{
  static guint64 (*fn) (void) = NULL;

  if (!fn) {
    GstPlugin *plugin = gst_registry_find_plugin (gst_registry_get (), "nerv");
    void *m;
    fail_unless (plugin != NULL);
    plugin = gst_plugin_load (plugin);
    /* the plugin is loaded: this only finds it (and keeps it open) */
    m = dlopen (gst_plugin_get_filename (plugin), RTLD_NOW);
    fail_unless (m != NULL, "%s", dlerror ());
    fn = (guint64 (*)(void)) dlsym (m, "nerv_crc_bytes");
    fail_unless (fn != NULL, "%s", dlerror ());
    gst_object_unref (plugin);
  }
  return fn ();
}

/* warning messages on @bus (popped) */
static guint
count_warnings (GstBus * bus)
{
  GstMessage *m;
  guint n = 0;

  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING))) {
    n++;
    gst_message_unref (m);
  }
  return n;
}

static guint
parser_warnings (GstElement * e)
{
  guint n = 0;
  g_object_get (e, "warnings", &n, NULL);
  return n;
}

/* The stream header, 2 MiB of valid packets of an unknown type, then the
 * stream: one frame unit of 2 MiB, pushed in 4 KiB buffers as filesrc
 * does. The parser walked the unit from its start at every buffer (and
 * asked for one byte more), which CRC'd ~n^2 / 8 KiB bytes (512 MiB here;
 * 300 s for 64 MiB); now each byte is walked once. (Packets of 200 bytes:
 * the CRCs of longer ones are cached by the splitter, which would hide the
 * walks, not their cost.) */
GST_START_TEST (test_parse_unknown_linear)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = g_byte_array_new ();
  GRand *rand = g_rand_new_with_seed (70);
  guint64 c0;
  gsize pos = 0;

  nerv_hostile_unknown (in, stream->data, stream->len, 2 << 20, 200);
  c0 = plugin_crc_bytes ();
  while (pos < in->len) {
    const gsize n = MIN (4096, in->len - pos);
    fail_unless_equals_int (gst_harness_push (h,
            gst_buffer_new_memdup (in->data + pos, n)), GST_FLOW_OK);
    pos += n;
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  {
    const guint64 crc = plugin_crc_bytes () - c0;
    fail_unless (crc <= 2 * (guint64) in->len, "%" G_GUINT64_FORMAT
        " bytes CRC'd for %u bytes of input", crc, in->len);
  }
  {
    Expect ex[N];
    check_output (h, ex, expect_frames (ex, 0, N, 0), in->data, in->len);
  }
  fail_unless_equals_int (parser_warnings (h->element), 0);
  g_rand_free (rand);
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* A unit larger than max-frame-size is dropped with a warning and the
 * parser resynchronises: frames come out again from the next key frame
 * (the dropped unit had the first stream header). */
GST_START_TEST (test_parse_max_frame_size)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = g_byte_array_new ();
  GstBus *bus = gst_bus_new ();
  GRand *rand = g_rand_new_with_seed (71);
  Expect ex[N];
  guint64 skipped = 0;

  gst_element_set_bus (h->element, bus);
  g_object_set (h->element, "max-frame-size", 1 << 20, NULL);
  nerv_hostile_unknown (in, stream->data, stream->len, 2 << 20, 4096);
  push_data (h, in->data, in->len, 8192, rand);
  check_output (h, ex, expect_frames (ex, 6, N, 0),
      stream->data + frame_start (6), stream->len - frame_start (6));
  fail_unless_equals_int (parser_warnings (h->element), 1);
  fail_unless_equals_int (count_warnings (bus), 1);
  g_object_get (h->element, "skipped-bytes", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, in->len - (stream->len -
          frame_start (6)));
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  g_rand_free (rand);
  g_byte_array_free (in, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Damage is not silent: one warning per damaged run (counted), the
 * skipped bytes counted; a cut inside a packet at the end warns of
 * truncation. */
GST_START_TEST (test_parse_warnings)
{
  GstHarness *h = new_parser (GST_FORMAT_BYTES);
  GByteArray *in = stream_copy (0, N);
  GstBus *bus = gst_bus_new ();
  GRand *rand = g_rand_new_with_seed (72);
  const gsize f3 = frame_packet (3), f7 = frame_packet (7);
  guint64 skipped = 0;
  GstMessage *m;
  GError *err = NULL;

  gst_element_set_bus (h->element, bus);
  /* frame 3's and frame 7's frame packets damaged; XOR 100 bytes of the
   * first group packet */
  in->data[f3 + 10] ^= 0x40;
  in->data[f7 + 9] ^= 0x01;
  push_data (h, in->data, in->len, 100, rand);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), N - 2);
  fail_unless_equals_int (parser_warnings (h->element), 2);
  g_object_get (h->element, "skipped-bytes", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, 2 * NERV_FRAME_PACKET_SIZE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL);
  gst_message_parse_warning (m, &err, NULL);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_DECODE));
  fail_unless (strstr (err->message, "Corrupt") != NULL, "%s", err->message);
  g_clear_error (&err);
  gst_message_unref (m);
  fail_unless_equals_int (count_warnings (bus), 1);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);

  /* truncated inside the last frame's packet, and after a group packet
   * without its frame */
  for (int k = 0; k < 2; k++) {
    const gsize cut = k ? frame_packet (6) : stream->len - 5;
    h = new_parser (GST_FORMAT_BYTES);
    gst_element_set_bus (h->element, bus);
    push_data (h, stream->data, cut, 9, rand);
    fail_unless_equals_int (gst_harness_buffers_in_queue (h), k ? 6 : N - 1);
    fail_unless_equals_int (parser_warnings (h->element), 1);
    m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
    fail_unless (m != NULL);
    gst_message_parse_warning (m, &err, NULL);
    fail_unless (strstr (err->message, "truncated") != NULL, "%s",
        err->message);
    g_clear_error (&err);
    gst_message_unref (m);
    gst_element_set_bus (h->element, NULL);
    gst_harness_teardown (h);
  }
  gst_object_unref (bus);
  g_rand_free (rand);
  g_byte_array_free (in, TRUE);
}

GST_END_TEST;

/* A valid stream, then 256 KiB of candidate packets (each "NRVS" and a
 * length to the end, every 8 bytes), read from a file as decodebin does
 * (pull mode: the file scan and the frames): linear CRC work. */
GST_START_TEST (test_file_hostile_linear)
{
  GByteArray *in = stream_copy (0, N);
  gchar *path;
  guint64 c0, crc;
  Player p;

  nerv_hostile_resync (in, 256 << 10, 0);
  path = write_file (in->data, in->len);
  c0 = plugin_crc_bytes ();
  player_open (&p, path, "nervparse");
  fail_unless_equals_int64 (player_duration (&p), N * DUR);
  player_run_to_eos (&p);
  check_recorded (&p, 0, N);
  crc = plugin_crc_bytes () - c0;
  fail_unless (crc <= 64 * (guint64) in->len, "%" G_GUINT64_FORMAT
      " bytes CRC'd for %u bytes of input", crc, in->len);
  player_close (&p);
  g_unlink (path);
  g_free (path);
  g_byte_array_free (in, TRUE);
}

GST_END_TEST;

/* ---- issue 15, item 7: rates and frame numbers at their limits ----------- */

static void
write_u64le (guint8 * p, guint64 v)
{
  nerv_write_u32le (p, (guint32) v);
  nerv_write_u32le (p + 4, (guint32) (v >> 32));
}

/* a copy of the stream with every frame number (and group's first frame)
 * + @base, and the rate @fps_n/@fps_d, CRCs fixed */
static GByteArray *
stream_renumbered (guint64 base, guint32 fps_n, guint32 fps_d)
{
  GByteArray *a = stream_copy (0, N);
  gsize pos = 0;

  while (pos < a->len) {
    NervPacket pkt;
    size_t used;
    guint8 *pl = a->data + pos + 8;
    fail_unless_equals_int (nerv_packet_parse (a->data + pos, a->len - pos,
            &pkt, &used), NERV_OK);
    if (pkt.type == 'S') {
      nerv_write_u32le (pl + 6, fps_n);
      nerv_write_u32le (pl + 10, fps_d);
    } else if (pkt.type == 'G') {
      write_u64le (pl + 7, nerv_read_u64le (pl + 7) + base);
    } else if (pkt.type == 'F') {
      write_u64le (pl, nerv_read_u64le (pl) + base);
    }
    fix_crc (a->data + pos);
    pos += used;
  }
  return a;
}

/* every buffer out: valid, increasing timestamps */
static void
check_timestamps (GstHarness * h, guint n, gint fps_n, gint fps_d)
{
  GstClockTime last = GST_CLOCK_TIME_NONE;
  GstCaps *caps;
  gint cn = -1, cd = -1;

  fail_unless_equals_int (gst_harness_buffers_in_queue (h), n);
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    fail_unless (GST_BUFFER_PTS_IS_VALID (b));
    fail_unless (GST_BUFFER_DURATION_IS_VALID (b));
    if (GST_CLOCK_TIME_IS_VALID (last))
      fail_unless (GST_BUFFER_PTS (b) > last);
    last = GST_BUFFER_PTS (b);
    gst_buffer_unref (b);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_structure_get_fraction (gst_caps_get_structure (caps, 0),
          "framerate", &cn, &cd));
  fail_unless_equals_int (cn, fps_n);
  fail_unless_equals_int (cd, fps_d);
  gst_caps_unref (caps);
}

GST_START_TEST (test_parse_rates_and_numbers)
{
  static const struct
  {
    guint64 base;
    guint32 fps_n, fps_d;
    gint caps_n, caps_d;
  } cases[] = {
    /* rates no fraction holds: unknown (a GStreamer-CRITICAL in nervdec,
     * caps of -1/1 before) */
    {0, 0x80000000u, 1, 0, 1},
    {0, 25, 0xffffffffu, 0, 1},
    /* frame numbers near the limit: times beyond a GstClockTime (the index
     * assertion GST_CLOCK_TIME_IS_VALID (ts) in pull mode, invalid
     * timestamps in push mode); the slowest rate there is */
    {NERV_MAX_FRAME_NUMBER - 2 * N, 25, 1, 25, 1},
    {1000, 1, 86400, 1, 86400},
    /* slower than a frame a day: unknown */
    {0, 1, 86401, 0, 1},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GByteArray *in = stream_renumbered (cases[i].base, cases[i].fps_n,
        cases[i].fps_d);
    GstHarness *h = new_parser (GST_FORMAT_BYTES);
    gchar *path;
    Player p;

    push_data (h, in->data, in->len, 0, NULL);
    check_timestamps (h, N, cases[i].caps_n, cases[i].caps_d);
    gst_harness_teardown (h);

    /* from a file (pull mode: the scan and its index) */
    path = write_file (in->data, in->len);
    player_open (&p, path, "nervparse");
    player_run_to_eos (&p);
    g_mutex_lock (&p.rec.lock);
    fail_unless_equals_int (p.rec.pts->len, N);
    for (guint k = 0; k < N; k++)
      fail_unless (GST_CLOCK_TIME_IS_VALID (g_array_index (p.rec.pts,
                  GstClockTime, k)));
    g_mutex_unlock (&p.rec.lock);
    player_close (&p);
    g_unlink (path);
    g_free (path);
    g_byte_array_free (in, TRUE);
  }
}

GST_END_TEST;

static Suite *
nervparse_suite (void)
{
  Suite *s = suite_create ("nervparse");
  TCase *tc = tcase_create ("parse");

  tcase_add_unchecked_fixture (tc, make_stream, free_stream);
  tcase_add_test (tc, test_parse_whole);
  tcase_add_test (tc, test_parse_split);
  tcase_add_test (tc, test_parse_upstream_time);
  tcase_add_test (tc, test_parse_garbage_and_damage);
  tcase_add_test (tc, test_parse_big_packets);
  tcase_add_test (tc, test_parse_concatenated);
  tcase_add_test (tc, test_parse_truncated);
  tcase_add_test (tc, test_parse_starts_mid_stream);
  tcase_add_test (tc, test_parse_invalid_header);
  tcase_add_test (tc, test_parse_unknown_packet);
  tcase_add_test (tc, test_parse_unsupported_version);
  tcase_add_test (tc, test_typefind);
  tcase_add_test (tc, test_file_duration_and_seek);
  tcase_add_test (tc, test_file_concatenated);
  tcase_add_test (tc, test_file_damaged);
  tcase_add_test (tc, test_file_big_packets);
  tcase_add_test (tc, test_file_parsebin);
  tcase_add_test (tc, test_parse_unknown_linear);
  tcase_add_test (tc, test_parse_max_frame_size);
  tcase_add_test (tc, test_parse_warnings);
  tcase_add_test (tc, test_file_hostile_linear);
  tcase_add_test (tc, test_parse_rates_and_numbers);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (nervparse);
