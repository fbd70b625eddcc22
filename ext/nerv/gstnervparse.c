/* gst-nerv: .nerv stream parser
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-nervparse
 * @title: nervparse
 * @see_also: nervdec, nervenc
 *
 * Splits a `.nerv` byte stream (see docs/bitstream.md) into one buffer per
 * frame: every packet up to and including the frame's `F` packet, so the
 * first frame of a group is `[S] G F` and the others are `F`, the
 * alignment nervenc produces and nervdec takes. Packets whose CRC does not
 * check are dropped and the parser resynchronises at the next packet.
 *
 * Timestamps come from the frame numbers and the stream header's frame
 * rate. Frames that start a key group are marked as sync points; the others
 * carry `DELTA_UNIT`. Where frames end and which are key frames is decided
 * by the core's splitter (nerv_splitter_next()), the rules every reader of
 * a stream follows. When the stream is read from a file (pull mode), the
 * parser splits the whole file once by the same rules, which gives the
 * exact duration and an index of the key frames, so seeks land on a key
 * frame at or before the target.
 *
 * ## Example pipeline
 * |[
 * gst-launch-1.0 filesrc location=video.nerv ! nervparse ! nervdec ! videoconvert ! autovideosink
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstnervparse.h"
#include "gstnervelements.h"
#include "nerv.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_nerv_parse_debug);
#define GST_CAT_DEFAULT gst_nerv_parse_debug

/* Timestamps of a stream whose header leaves the frame rate unknown (0/1)
 * assume this rate, as the encoder does for its rates. */
#define FALLBACK_FPS_N 25
#define FALLBACK_FPS_D 1

/* bytes read at a time when scanning a file */
#define SCAN_BLOCK (64 * 1024)

/* The largest frame unit (stream header, group, unknown packets and frame
 * packet) by default: more than two packets of the largest size. */
#define DEFAULT_MAX_FRAME_SIZE (256u << 20)
#define MIN_MAX_FRAME_SIZE (64u << 10)

enum
{
  PROP_0,
  PROP_MAX_FRAME_SIZE,
  PROP_WARNINGS,
  PROP_SKIPPED_BYTES,
};

/* Maps frame numbers onto time: linear from a base, rebased where the frame
 * rate changes or the numbers step back (concatenated streams restart at
 * frame 0), so that time never goes back within continuous data. */
typedef struct
{
  guint64 base_frame;
  GstClockTime base_time;
  guint fps_n, fps_d;           /* 0/0 before the first frame */
  gboolean have_next;
  GstClockTime next_time;
} GstNervTimeline;

/* where the file scan rebased its timeline: holds for the frames whose 'F'
 * packet is at or after @offset */
typedef struct
{
  guint64 offset;
  guint64 base_frame;
  GstClockTime base_time;
  guint fps_n, fps_d;
} GstNervRebase;

typedef struct
{
  GstClockTime ts;
  guint64 offset;
} GstNervKeyFrame;

struct _GstNervParse
{
  GstBaseParse parent;

  /* the stream header in force */
  gboolean have_header;
  gint width, height;
  guint fps_n, fps_d;           /* as in the header, 0/1 when unknown */
  NervModelKind kind;

  NervSplitter splitter;        /* where frame units end (push and pull) */
  GstNervTimeline timeline;
  guint64 next_offset;          /* input offset after what was consumed */
  gboolean discont;             /* packets were dropped since the last frame */
  gboolean timeline_discont;    /* the input jumped (seek, flush) */

  /* The frame unit so far when it spans calls: the packets of it that were
   * checked, copied out of the base class's adapter (which then holds only
   * what is not checked yet), so that each byte is walked once. */
  GByteArray *unit;
  guint64 unit_offset;          /* input offset of its first byte */
  gboolean in_damage;           /* the last thing walked was damage */

  /* properties (object lock) */
  guint max_frame_size;
  guint warnings;
  guint64 skipped_bytes;

  /* pull mode: every packet header of the file, read once */
  gboolean scanned;
  gint scan_complete;           /* atomic; the index covers the whole file */
  GArray *rebases;              /* GstNervRebase, by offset */
  GArray *keyframes;            /* GstNervKeyFrame, by time */

  guint bitrate;                 /* of the whole file, 0 if unknown */

  /* timestamps of the frame being finished, for pre_push_frame */
  GstClockTime pts, duration;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_NERV_CAPS_NAME));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_NERV_CAPS_NAME ", parsed = (boolean) true, "
        "width = (int) [ 1, 8192 ], height = (int) [ 1, 8192 ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

#define parent_class gst_nerv_parse_parent_class
G_DEFINE_TYPE (GstNervParse, gst_nerv_parse, GST_TYPE_BASE_PARSE);
GST_ELEMENT_REGISTER_DEFINE (nervparse, "nervparse", GST_RANK_PRIMARY,
    GST_TYPE_NERV_PARSE);

static gboolean gst_nerv_parse_start (GstBaseParse * parse);
static gboolean gst_nerv_parse_stop (GstBaseParse * parse);
static GstFlowReturn gst_nerv_parse_handle_frame (GstBaseParse * parse,
    GstBaseParseFrame * frame, gint * skipsize);
static GstFlowReturn gst_nerv_parse_pre_push_frame (GstBaseParse * parse,
    GstBaseParseFrame * frame);
static GstCaps *gst_nerv_parse_get_sink_caps (GstBaseParse * parse,
    GstCaps * filter);
static gboolean gst_nerv_parse_sink_event (GstBaseParse * parse,
    GstEvent * event);
static gboolean gst_nerv_parse_src_event (GstBaseParse * parse,
    GstEvent * event);

static void
gst_nerv_parse_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstNervParse *self = GST_NERV_PARSE (object);

  switch (prop_id) {
    case PROP_MAX_FRAME_SIZE:
      GST_OBJECT_LOCK (self);
      self->max_frame_size = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_nerv_parse_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstNervParse *self = GST_NERV_PARSE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MAX_FRAME_SIZE:
      g_value_set_uint (value, self->max_frame_size);
      break;
    case PROP_WARNINGS:
      g_value_set_uint (value, self->warnings);
      break;
    case PROP_SKIPPED_BYTES:
      g_value_set_uint64 (value, self->skipped_bytes);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_nerv_parse_finalize (GObject * object)
{
  GstNervParse *self = GST_NERV_PARSE (object);

  nerv_splitter_clear (&self->splitter);
  if (self->unit)
    g_byte_array_free (self->unit, TRUE);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_nerv_parse_class_init (GstNervParseClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBaseParseClass *parse_class = GST_BASE_PARSE_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_nerv_parse_set_property;
  gobject_class->get_property = gst_nerv_parse_get_property;
  gobject_class->finalize = gst_nerv_parse_finalize;
  g_object_class_install_property (gobject_class, PROP_MAX_FRAME_SIZE,
      g_param_spec_uint ("max-frame-size", "Maximum frame size",
          "Largest frame unit (all packets up to a frame packet) in bytes; "
          "a larger one is dropped with a warning and the parser "
          "resynchronises", MIN_MAX_FRAME_SIZE, G_MAXUINT,
          DEFAULT_MAX_FRAME_SIZE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
          | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_WARNINGS,
      g_param_spec_uint ("warnings", "Warnings",
          "Warnings posted: damaged data skipped, frame units dropped "
          "(invalid stream header, too large), a truncated end", 0, G_MAXUINT,
          0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SKIPPED_BYTES,
      g_param_spec_uint64 ("skipped-bytes", "Skipped bytes",
          "Input bytes skipped or dropped (damage, dropped frame units, "
          "a truncated end)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  parse_class->start = GST_DEBUG_FUNCPTR (gst_nerv_parse_start);
  parse_class->stop = GST_DEBUG_FUNCPTR (gst_nerv_parse_stop);
  parse_class->handle_frame = GST_DEBUG_FUNCPTR (gst_nerv_parse_handle_frame);
  parse_class->pre_push_frame =
      GST_DEBUG_FUNCPTR (gst_nerv_parse_pre_push_frame);
  parse_class->get_sink_caps = GST_DEBUG_FUNCPTR (gst_nerv_parse_get_sink_caps);
  parse_class->sink_event = GST_DEBUG_FUNCPTR (gst_nerv_parse_sink_event);
  parse_class->src_event = GST_DEBUG_FUNCPTR (gst_nerv_parse_src_event);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "NeRV parser",
      "Codec/Parser/Converter/Video",
      "Splits .nerv neural video streams into frames",
      "gst-nerv developers");

  GST_DEBUG_CATEGORY_INIT (gst_nerv_parse_debug, "nervparse", 0,
      ".nerv stream parser");
}

static void
gst_nerv_parse_init (GstNervParse * self)
{
  GstBaseParse *parse = GST_BASE_PARSE (self);

  /* every frame gets its time from its frame number */
  gst_base_parse_set_pts_interpolation (parse, FALSE);
  gst_base_parse_set_infer_ts (parse, FALSE);

  GST_PAD_SET_ACCEPT_INTERSECT (GST_BASE_PARSE_SINK_PAD (self));
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_BASE_PARSE_SINK_PAD (self));
  self->max_frame_size = DEFAULT_MAX_FRAME_SIZE;
}

/* forget the frame unit collected so far */
static void
gst_nerv_parse_drop_unit (GstNervParse * self)
{
  if (self->unit) {
    g_byte_array_free (self->unit, TRUE);
    self->unit = NULL;
  }
  nerv_splitter_begin_unit (&self->splitter);
}

static void
gst_nerv_parse_reset (GstNervParse * self)
{
  self->have_header = FALSE;
  self->width = self->height = 0;
  self->fps_n = 0;
  self->fps_d = 1;
  self->kind = NERV_MODEL_HNERV;
  nerv_splitter_clear (&self->splitter);
  if (self->unit)
    g_byte_array_free (self->unit, TRUE);
  self->unit = NULL;
  self->in_damage = FALSE;
  memset (&self->timeline, 0, sizeof (self->timeline));
  self->next_offset = 0;
  /* the first frame is a discontinuity (the base class marks the first
   * buffer it finishes, which can be a consumed part of a unit) */
  self->discont = TRUE;
  self->timeline_discont = FALSE;
  GST_OBJECT_LOCK (self);
  self->warnings = 0;
  self->skipped_bytes = 0;
  GST_OBJECT_UNLOCK (self);
  self->scanned = FALSE;
  g_atomic_int_set (&self->scan_complete, FALSE);
  g_clear_pointer (&self->rebases, g_array_unref);
  g_clear_pointer (&self->keyframes, g_array_unref);
  self->bitrate = 0;
  self->pts = self->duration = GST_CLOCK_TIME_NONE;
}

static gboolean
gst_nerv_parse_start (GstBaseParse * parse)
{
  GstNervParse *self = GST_NERV_PARSE (parse);

  GST_DEBUG_OBJECT (self, "start");
  gst_nerv_parse_reset (self);
  gst_base_parse_set_min_frame_size (parse, NERV_PACKET_HEADER);
  return TRUE;
}

static gboolean
gst_nerv_parse_stop (GstBaseParse * parse)
{
  GstNervParse *self = GST_NERV_PARSE (parse);

  GST_DEBUG_OBJECT (self, "stop");
  gst_nerv_parse_reset (self);
  return TRUE;
}

/* ---- timeline ---------------------------------------------------------- */

static void
effective_fps (guint fps_n, guint fps_d, guint * n, guint * d)
{
  if (fps_n == 0 || fps_d == 0) {
    *n = FALLBACK_FPS_N;
    *d = FALLBACK_FPS_D;
  } else {
    *n = fps_n;
    *d = fps_d;
  }
}

/* Timestamps stay below this (146 years): the time of a frame number near
 * NERV_MAX_FRAME_NUMBER, or at a slow rate, does not fit a GstClockTime;
 * such a frame starts the timeline again (as a stream that restarts). */
#define MAX_TIME (G_GUINT64_CONSTANT (1) << 62)

/* GST_CLOCK_TIME_NONE when beyond MAX_TIME */
static GstClockTime
frames_to_time (guint64 frames, guint fps_n, guint fps_d)
{
  const guint64 t = gst_util_uint64_scale (frames, (guint64) fps_d *
      GST_SECOND, fps_n);
  return t <= MAX_TIME ? t : GST_CLOCK_TIME_NONE;
}

/* a + b, GST_CLOCK_TIME_NONE when either is or the sum is beyond MAX_TIME */
static GstClockTime
add_time (GstClockTime a, GstClockTime b)
{
  if (!GST_CLOCK_TIME_IS_VALID (a) || !GST_CLOCK_TIME_IS_VALID (b)
      || a + b > MAX_TIME)
    return GST_CLOCK_TIME_NONE;
  return a + b;
}

/* Time of frame number @f at the (effective) rate @fps_n/@fps_d. After a
 * discontinuity (seek, flush) a step back is taken as it comes. Returns
 * TRUE if the timeline was rebased at this frame. */
static gboolean
gst_nerv_timeline_frame (GstNervTimeline * tl, guint64 f, guint fps_n,
    guint fps_d, gboolean discont, GstClockTime * pts, GstClockTime * duration)
{
  gboolean rebased = FALSE;
  GstClockTime t;

  if (discont)
    tl->have_next = FALSE;
  if (fps_n != tl->fps_n || fps_d != tl->fps_d) {
    /* frame f stays where the old rate put it */
    if (tl->fps_n == 0 || f < tl->base_frame)
      t = frames_to_time (f, fps_n, fps_d);
    else
      t = add_time (tl->base_time, frames_to_time (f - tl->base_frame,
              tl->fps_n, tl->fps_d));
    if (!GST_CLOCK_TIME_IS_VALID (t))
      t = tl->have_next ? tl->next_time : 0;
    tl->base_frame = f;
    tl->base_time = t;
    tl->fps_n = fps_n;
    tl->fps_d = fps_d;
    rebased = TRUE;
  }
  if (f < tl->base_frame) {
    tl->base_time = tl->have_next ? tl->next_time :
        frames_to_time (f, fps_n, fps_d);
    if (!GST_CLOCK_TIME_IS_VALID (tl->base_time))
      tl->base_time = 0;
    tl->base_frame = f;
    rebased = TRUE;
  }
  t = add_time (tl->base_time, frames_to_time (f - tl->base_frame, fps_n,
          fps_d));
  if (!GST_CLOCK_TIME_IS_VALID (t)) {
    /* beyond any timeline: this frame starts one after what came before
     * (or at 0 when that is at the limit too) */
    tl->base_frame = f;
    tl->base_time = t = tl->have_next && tl->next_time <= MAX_TIME ?
        tl->next_time : 0;
    tl->have_next = FALSE;
    rebased = TRUE;
  }
  if (tl->have_next && t < tl->next_time) {
    /* frame numbers went back: a new stream was appended */
    tl->base_frame = f;
    tl->base_time = t = tl->next_time;
    rebased = TRUE;
  }
  *pts = t;
  /* (one frame lasts at most a day: the header parser's limit) */
  *duration = gst_util_uint64_scale (f + 1 - tl->base_frame, (guint64) fps_d
      * GST_SECOND, fps_n) - gst_util_uint64_scale (f - tl->base_frame,
      (guint64) fps_d * GST_SECOND, fps_n);
  tl->next_time = t + *duration;
  tl->have_next = TRUE;
  return rebased;
}

/* the file scan's rebase that holds at input offset @offset */
static const GstNervRebase *
gst_nerv_parse_find_rebase (GstNervParse * self, guint64 offset)
{
  const GstNervRebase *r;
  guint lo = 0, hi;

  if (!self->rebases || self->rebases->len == 0)
    return NULL;
  r = (const GstNervRebase *) self->rebases->data;
  hi = self->rebases->len;
  if (offset < r[0].offset)
    return NULL;
  while (hi - lo > 1) {
    const guint mid = (lo + hi) / 2;
    if (r[mid].offset <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return &r[lo];
}

/* the parser's tags: codec, and the file's bitrate once known (then posted
 * instead of the base class's running estimate) */
static void
gst_nerv_parse_update_tags (GstNervParse * self)
{
  GstTagList *tags = gst_tag_list_new (GST_TAG_VIDEO_CODEC,
      self->kind == NERV_MODEL_NERV ? "NeRV neural video" :
      "HNeRV neural video", NULL);

  if (self->bitrate)
    gst_tag_list_add (tags, GST_TAG_MERGE_REPLACE, GST_TAG_BITRATE,
        self->bitrate, NULL);
  gst_base_parse_merge_tags (GST_BASE_PARSE (self), tags,
      GST_TAG_MERGE_REPLACE);
  gst_tag_list_unref (tags);
}

/* ---- file scan (pull mode) --------------------------------------------- */

typedef struct
{
  GstPad *pad;
  guint64 size;                 /* G_MAXUINT64 if unknown */
  GstBuffer *buf;
  GstMapInfo map;
  guint64 offset;               /* of buf */
  GstFlowReturn flow;
} GstNervReader;

static void
gst_nerv_reader_clear (GstNervReader * r)
{
  if (r->buf) {
    gst_buffer_unmap (r->buf, &r->map);
    gst_buffer_unref (r->buf);
    r->buf = NULL;
  }
}

/* [off, off + len) of the upstream data, or NULL at the end or on error
 * (then r->flow says which). Valid until the next call. */
static const guint8 *
gst_nerv_reader_get (GstNervReader * r, guint64 off, guint len, gsize * avail)
{
  if (!r->buf || off < r->offset || off + len > r->offset + r->map.size) {
    gst_nerv_reader_clear (r);
    if (off >= r->size || len > r->size - off) {
      r->flow = GST_FLOW_EOS;
      return NULL;
    }
    /* with room: a walk over candidate packets whose ends step forward
     * reads each byte a bounded number of times */
    r->flow = gst_pad_pull_range (r->pad, off, MAX (len + len / 2,
            SCAN_BLOCK), &r->buf);
    if (r->flow != GST_FLOW_OK) {
      r->buf = NULL;
      return NULL;
    }
    if (!gst_buffer_map (r->buf, &r->map, GST_MAP_READ)) {
      gst_buffer_unref (r->buf);
      r->buf = NULL;
      r->flow = GST_FLOW_ERROR;
      return NULL;
    }
    r->offset = off;
    if (r->map.size < len) {
      gst_nerv_reader_clear (r);
      r->flow = GST_FLOW_EOS;
      return NULL;
    }
  }
  if (avail)
    *avail = r->offset + r->map.size - off;
  return r->map.data + (off - r->offset);
}

/* Reads every packet from @start to the end, split into frame units by the
 * rules handle_frame follows: the timeline (rebases), the key frames
 * (index entries) and the duration. */
static void
gst_nerv_parse_scan (GstNervParse * self, guint64 start)
{
  GstNervReader r = { NULL, };
  GstNervTimeline tl = { 0, };
  GArray *rebases = g_array_new (FALSE, FALSE, sizeof (GstNervRebase));
  GArray *keys = g_array_new (FALSE, FALSE, sizeof (GstNervKeyFrame));
  NervSplitter sp;
  guint64 off = start, frames = 0;
  gboolean done = FALSE;
  gint64 size = -1;
  GstClockTime end = 0;

  r.pad = GST_BASE_PARSE_SINK_PAD (self);
  r.size = G_MAXUINT64;
  if (gst_pad_peer_query_duration (r.pad, GST_FORMAT_BYTES, &size) && size > 0)
    r.size = (guint64) size;
  nerv_splitter_init (&sp);

  GST_DEBUG_OBJECT (self, "scanning packets from offset %" G_GUINT64_FORMAT
      " of %" G_GINT64_FORMAT, start, size);

  while (TRUE) {
    gsize avail;
    const guint8 *p = gst_nerv_reader_get (&r, off, 1, &avail);
    NervSplit sk;
    NervSplitResult res = NERV_SPLIT_NEED_MORE;

    while (p) {
      res = nerv_splitter_next (&sp, p, avail, off, off + avail >= r.size, &sk);
      if (res != NERV_SPLIT_NEED_MORE)
        break;
      /* the whole packet (or what the file has of it) */
      p = gst_nerv_reader_get (&r, off, (guint) MIN (sk.size, r.size - off),
          &avail);
    }
    if (!p) {
      done = r.flow == GST_FLOW_EOS;
      break;
    }
    if (res == NERV_SPLIT_DAMAGE)
      GST_DEBUG_OBJECT (self, "damage at offset %" G_GUINT64_FORMAT, off);
    if (res == NERV_SPLIT_FRAME) {
      GstClockTime pts, dur;
      guint fps_n, fps_d;

      effective_fps (sp.header.fps_n, sp.header.fps_d, &fps_n, &fps_d);
      if (gst_nerv_timeline_frame (&tl, sp.frame, fps_n, fps_d, FALSE, &pts,
              &dur)) {
        GstNervRebase rb = { off, tl.base_frame, tl.base_time, fps_n, fps_d };
        g_array_append_val (rebases, rb);
      }
      if (sp.key) {
        GstNervKeyFrame k = { pts, sp.key_offset };
        g_array_append_val (keys, k);
        gst_base_parse_add_index_entry (GST_BASE_PARSE (self), sp.key_offset,
            pts, TRUE, TRUE);
      }
      end = pts + dur;
      frames++;
    }
    off += sk.size;
  }
  gst_nerv_reader_clear (&r);
  nerv_splitter_clear (&sp);

  if (r.flow == GST_FLOW_FLUSHING) {
    /* a seek or a state change interrupted us: try again later */
    GST_DEBUG_OBJECT (self, "scan interrupted");
    g_array_unref (rebases);
    g_array_unref (keys);
    return;
  }
  self->scanned = TRUE;
  g_clear_pointer (&self->rebases, g_array_unref);
  g_clear_pointer (&self->keyframes, g_array_unref);
  self->rebases = rebases;
  self->keyframes = keys;
  if (!done) {
    GST_WARNING_OBJECT (self, "could not read the whole stream (%s); "
        "the duration will be estimated", gst_flow_get_name (r.flow));
    return;
  }
  GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " frames, %u key frames, "
      "duration %" GST_TIME_FORMAT, frames, keys->len, GST_TIME_ARGS (end));
  if (frames > 0 && end > 0) {
    gst_base_parse_set_duration (GST_BASE_PARSE (self), GST_FORMAT_TIME, end,
        0);
    if (size > 0 && (guint64) size > start) {
      /* the whole stream's rate: posted as is, rather than the base
       * class's running estimate */
      self->bitrate = (guint) MIN (gst_util_uint64_scale (size - start,
              8 * GST_SECOND, end), G_MAXUINT);
      gst_base_parse_set_average_bitrate (GST_BASE_PARSE (self),
          self->bitrate);
      gst_nerv_parse_update_tags (self);
    }
  }
  g_atomic_int_set (&self->scan_complete, TRUE);
}

/* ---- caps -------------------------------------------------------------- */

static void
gst_nerv_parse_set_header (GstNervParse * self, const NervStreamHeader * h)
{
  GstBaseParse *parse = GST_BASE_PARSE (self);
  GstPad *srcpad = GST_BASE_PARSE_SRC_PAD (self);
  GstCaps *caps, *current;
  guint fps_n = h->fps_n, fps_d = h->fps_d;
  const gboolean new_kind = !self->have_header || self->kind != h->model.kind;

  /* (the header parser read a rate no fraction can hold as unknown) */
  if (fps_n == 0 || fps_d == 0) {
    fps_n = 0;
    fps_d = 1;
  }
  if (!self->have_header || self->fps_n != fps_n || self->fps_d != fps_d)
    gst_base_parse_set_frame_rate (parse, fps_n, fps_d, 0, 0);

  self->have_header = TRUE;
  self->width = h->model.width;
  self->height = h->model.height;
  self->fps_n = fps_n;
  self->fps_d = fps_d;
  self->kind = h->model.kind;
  if (new_kind)
    gst_nerv_parse_update_tags (self);

  caps = gst_caps_new_simple (GST_NERV_CAPS_NAME,
      "parsed", G_TYPE_BOOLEAN, TRUE,
      "width", G_TYPE_INT, self->width,
      "height", G_TYPE_INT, self->height,
      "framerate", GST_TYPE_FRACTION, (gint) fps_n, (gint) fps_d, NULL);
  current = gst_pad_get_current_caps (srcpad);
  if (!current || !gst_caps_is_strictly_equal (caps, current)) {
    GST_INFO_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);
    gst_pad_set_caps (srcpad, caps);
  }
  gst_clear_caps (&current);
  gst_caps_unref (caps);
}

static void
remove_fields (GstCaps * caps)
{
  for (guint i = 0; i < gst_caps_get_size (caps); i++)
    gst_structure_remove_field (gst_caps_get_structure (caps, i), "parsed");
}

static GstCaps *
gst_nerv_parse_get_sink_caps (GstBaseParse * parse, GstCaps * filter)
{
  GstCaps *templ = gst_pad_get_pad_template_caps (GST_BASE_PARSE_SINK_PAD
      (parse));
  GstCaps *fcopy = NULL, *peercaps, *res;

  if (filter) {
    fcopy = gst_caps_copy (filter);
    remove_fields (fcopy);
  }
  peercaps = gst_pad_peer_query_caps (GST_BASE_PARSE_SRC_PAD (parse), fcopy);
  if (peercaps) {
    peercaps = gst_caps_make_writable (peercaps);
    remove_fields (peercaps);
    res = gst_caps_intersect_full (peercaps, templ, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (peercaps);
    gst_caps_unref (templ);
  } else {
    res = templ;
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, res,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (res);
    res = tmp;
  }
  gst_clear_caps (&fcopy);
  return res;
}

/* ---- frames ------------------------------------------------------------ */

typedef struct
{
  gsize offset, size;
} Range;

/* the ranges of map that belong to the unit, and their total */
typedef struct
{
  GArray *ranges;
  gsize bytes;
} Kept;

static void
keep_range (Kept * kept, gsize start, gsize end)
{
  if (end > start) {
    Range r = { start, end - start };
    g_array_append_val (kept->ranges, r);
    kept->bytes += r.size;
  }
}

static void
kept_clear (Kept * kept)
{
  g_array_set_size (kept->ranges, 0);
  kept->bytes = 0;
}

/* counts @bytes as skipped and posts a warning (with counting) when @warn */
static void
gst_nerv_parse_skipped (GstNervParse * self, guint64 bytes, gboolean warn)
{
  GST_OBJECT_LOCK (self);
  self->skipped_bytes += bytes;
  if (warn)
    self->warnings++;
  GST_OBJECT_UNLOCK (self);
}

/* Damage (no valid packet) at input offset @offset: one warning for a run
 * of it */
static void
gst_nerv_parse_damage (GstNervParse * self, guint64 offset, NervStatus status,
    gsize size)
{
  const gboolean warn = !self->in_damage;

  gst_nerv_parse_skipped (self, size, warn);
  self->discont = TRUE;
  if (!warn)
    return;
  self->in_damage = TRUE;
  if (status == NERV_ERR_NEED_MORE)
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("The .nerv stream is truncated: it ends inside a packet; the "
            "frame of that packet is lost."),
        ("incomplete packet at offset %" G_GUINT64_FORMAT, offset));
  else
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Corrupt .nerv data (%s); skipping to the next valid packet. "
            "Frames up to the next key frame may be lost.",
            nerv_status_string (status)),
        ("damage at offset %" G_GUINT64_FORMAT, offset));
}

/* at the end of the stream: the unit so far has no frame */
static void
gst_nerv_parse_truncated (GstNervParse * self)
{
  const gboolean warn = !self->in_damage;        /* else just said */

  if (!self->unit)
    return;
  gst_nerv_parse_skipped (self, self->unit->len, warn);
  if (warn)
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("The .nerv stream is truncated: %u bytes at its end hold no "
            "complete frame.", self->unit->len),
        ("packets without a frame packet at the end"));
  gst_nerv_parse_drop_unit (self);
}

/* The input arrives at handle_frame in the base class's buffer; each call
 * walks the packets from where the last call stopped (the unit so far is
 * in self->unit), so that the work is linear in the input however large a
 * unit grows. */
static GstFlowReturn
gst_nerv_parse_handle_frame (GstBaseParse * parse, GstBaseParseFrame * frame,
    gint * skipsize)
{
  GstNervParse *self = GST_NERV_PARSE (parse);
  NervSplitter *sp = &self->splitter;
  const gboolean draining = GST_BASE_PARSE_DRAINING (parse);
  const gboolean pull = GST_PAD_MODE (GST_BASE_PARSE_SINK_PAD (self)) ==
      GST_PAD_MODE_PULL;
  GstFlowReturn ret = GST_FLOW_OK;
  GstMapInfo map;
  Kept kept = { g_array_new (FALSE, FALSE, sizeof (Range)), 0 };
  gsize pos = 0, run = 0, end = 0, need = NERV_PACKET_HEADER, consume = 0;
  guint max_size;
  GstClockTime pts, duration;
  guint fps_n, fps_d;
  GstBuffer *out;

  if (!gst_buffer_map (frame->buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL),
        ("Could not map the input buffer"));
    g_array_unref (kept.ranges);
    return GST_FLOW_ERROR;
  }
  GST_OBJECT_LOCK (self);
  max_size = self->max_frame_size;
  GST_OBJECT_UNLOCK (self);

  if (frame->offset != self->next_offset) {
    /* a seek or a flush: the unit so far does not go on here */
    GST_DEBUG_OBJECT (self, "input jumped from %" G_GUINT64_FORMAT " to %"
        G_GUINT64_FORMAT, self->next_offset, frame->offset);
    gst_nerv_parse_drop_unit (self);
    nerv_splitter_forget_bytes (sp);
    self->timeline_discont = TRUE;
    self->discont = TRUE;
    self->in_damage = FALSE;
    self->next_offset = frame->offset;
  }

  while (end == 0) {
    NervSplit sk;
    gsize unit_size;

    if (pos >= map.size) {
      /* no frame packet yet */
      /* (draining: what was walked goes to the unit, and EOS finds it) */
      break;
    }

    switch (nerv_splitter_next (sp, map.data + pos, map.size - pos,
            frame->offset + pos, draining, &sk)) {
      case NERV_SPLIT_NEED_MORE:
        need = sk.size;
        goto walked;
      case NERV_SPLIT_DAMAGE:
        /* damage, or a packet cut by the end of the stream: resynchronise
         * at the next marker */
        GST_DEBUG_OBJECT (self, "%s at %" G_GUINT64_FORMAT ": %" G_GSIZE_FORMAT
            " bytes skipped", nerv_status_string (sk.status),
            frame->offset + pos, sk.size);
        gst_nerv_parse_damage (self, frame->offset + pos, sk.status, sk.size);
        keep_range (&kept, run, pos);
        pos += sk.size;
        run = pos;
        continue;
      case NERV_SPLIT_RESET:
        if (sk.status == NERV_ERR_VERSION) {
          NervStreamHeader h;
          nerv_stream_header_parse (sk.pkt.payload, sk.pkt.size, &h);
          GST_ELEMENT_ERROR (self, STREAM, FORMAT,
              ("This .nerv stream has format version %d.%d; this version of "
                  "gst-nerv reads versions %d.x to %d.x only. A newer "
                  "gst-nerv is needed to play it.", h.version_major,
                  h.version_minor, NERV_VERSION_MAJOR_MIN, NERV_VERSION_MAJOR),
              ("unsupported major version %d", h.version_major));
          ret = GST_FLOW_ERROR;
          goto out;
        }
        GST_ELEMENT_WARNING (self, STREAM, DECODE,
            ("Invalid .nerv stream header (%s); frames up to the next key "
                "group are skipped.", nerv_status_string (sk.status)),
            ("stream header at offset %" G_GUINT64_FORMAT,
                frame->offset + pos));
        /* it and the unit so far are dropped */
        gst_nerv_parse_skipped (self, (self->unit ? self->unit->len : 0) +
            kept.bytes + (pos - run) + sk.size, TRUE);
        gst_nerv_parse_drop_unit (self);
        kept_clear (&kept);
        self->have_header = FALSE;
        self->discont = TRUE;
        pos += sk.size;
        run = pos;
        break;
      case NERV_SPLIT_DROP:
        if (sk.status == NERV_ERR_NO_HEADER)
          GST_DEBUG_OBJECT (self, "dropping packet '%c' before a stream "
              "header", g_ascii_isprint (sk.pkt.type) ? sk.pkt.type : '?');
        else
          /* the CRC checks but the fields do not: written wrong */
          GST_WARNING_OBJECT (self, "dropping a '%c' packet with invalid "
              "fields", sk.pkt.type);
        gst_nerv_parse_skipped (self, sk.size, FALSE);
        self->discont = TRUE;
        self->in_damage = FALSE;
        keep_range (&kept, run, pos);
        pos += sk.size;
        run = pos;
        break;
      case NERV_SPLIT_PACKET:
        if (sk.pkt.type != NERV_PACKET_STREAM
            && sk.pkt.type != NERV_PACKET_GROUP)
          GST_LOG_OBJECT (self, "passing on a packet of unknown type 0x%02x",
              sk.pkt.type);
        self->in_damage = FALSE;
        pos += sk.size;
        break;
      case NERV_SPLIT_FRAME:
        self->in_damage = FALSE;
        end = pos + sk.size;
        pos = end;
        break;
    }

    unit_size = (self->unit ? self->unit->len : 0) + kept.bytes +
        (pos - run);
    if (unit_size > max_size) {
      GST_ELEMENT_WARNING (self, STREAM, DECODE,
          ("A .nerv frame unit is larger than max-frame-size (%u bytes); it "
              "is dropped and the parser resynchronises.", max_size),
          ("%" G_GSIZE_FORMAT " bytes at offset %" G_GUINT64_FORMAT, unit_size,
              frame->offset + pos));
      gst_nerv_parse_skipped (self, unit_size, TRUE);
      gst_nerv_parse_drop_unit (self);
      kept_clear (&kept);
      self->discont = TRUE;
      run = pos;
      end = 0;
    }
  }

walked:
  if (end == 0) {
    /* No frame yet: what was walked moves out of the adapter, the unit's
     * packets into self->unit. The base class calls again once @need more
     * bytes are there. */
    keep_range (&kept, run, pos);
    for (guint i = 0; i < kept.ranges->len; i++) {
      const Range *r = &g_array_index (kept.ranges, Range, i);
      if (!self->unit) {
        self->unit = g_byte_array_new ();
        self->unit_offset = frame->offset + r->offset;
      }
      g_byte_array_append (self->unit, map.data + r->offset, r->size);
    }
    consume = pos;
    if (draining && pos >= map.size)
      gst_nerv_parse_truncated (self);
    gst_base_parse_set_min_frame_size (parse, need);
    goto out;
  }

  /* a frame: self->unit, then [0, end) of map less what was dropped */
  if (sp->unit_has_header)
    gst_nerv_parse_set_header (self, &sp->unit_header);
  if (!self->scanned && pull)
    gst_nerv_parse_scan (self, self->unit ? self->unit_offset : frame->offset);

  effective_fps (self->fps_n, self->fps_d, &fps_n, &fps_d);
  {
    const GstNervRebase *rb = gst_nerv_parse_find_rebase (self,
        sp->frame_offset);
    gboolean discont = self->timeline_discont;

    if (rb) {
      /* the file scan knows where this frame is on the timeline */
      self->timeline.base_frame = rb->base_frame;
      self->timeline.base_time = rb->base_time;
      self->timeline.fps_n = rb->fps_n;
      self->timeline.fps_d = rb->fps_d;
      discont = TRUE;
    }
    gst_nerv_timeline_frame (&self->timeline, sp->frame, fps_n, fps_d,
        discont, &pts, &duration);
    self->timeline_discont = FALSE;
  }

  keep_range (&kept, run, end);
  if (self->unit || kept.ranges->len != 1 || kept.bytes != end) {
    GByteArray *a = self->unit ? self->unit : g_byte_array_new ();
    const guint64 offset = self->unit ? self->unit_offset : frame->offset;
    gsize len;

    for (guint i = 0; i < kept.ranges->len; i++) {
      const Range *r = &g_array_index (kept.ranges, Range, i);
      g_byte_array_append (a, map.data + r->offset, r->size);
    }
    self->unit = NULL;
    len = a->len;
    out = gst_buffer_new_wrapped (g_byte_array_free (a, FALSE), len);
    GST_BUFFER_FLAGS (out) = GST_BUFFER_FLAGS (frame->buffer);
    GST_BUFFER_OFFSET (out) = offset;
    frame->out_buffer = out;
  } else {
    out = frame->buffer;
  }
  if (self->discont)
    GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
  self->discont = FALSE;
  GST_BUFFER_PTS (out) = pts;
  GST_BUFFER_DTS (out) = pts;
  GST_BUFFER_DURATION (out) = duration;
  if (sp->key)
    GST_BUFFER_FLAG_UNSET (out, GST_BUFFER_FLAG_DELTA_UNIT);
  else
    GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DELTA_UNIT);
  self->pts = pts;
  self->duration = duration;

  GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT "%s, %" G_GSIZE_FORMAT
      " bytes, pts %" GST_TIME_FORMAT, sp->frame, sp->key ? " (key)" : "",
      gst_buffer_get_size (out), GST_TIME_ARGS (pts));

out:
  gst_buffer_unmap (frame->buffer, &map);
  g_array_unref (kept.ranges);
  if (consume > 0) {
    /* checked bytes without a frame: consumed, nothing pushed (the unit's
     * packets were copied) */
    self->next_offset = frame->offset + consume;
    frame->flags |= GST_BASE_PARSE_FRAME_FLAG_DROP;
    ret = gst_base_parse_finish_frame (parse, frame, consume);
  }
  if (end > 0) {
    self->next_offset = frame->offset + end;
    gst_base_parse_set_min_frame_size (parse, NERV_PACKET_HEADER);
    ret = gst_base_parse_finish_frame (parse, frame, end);
  }
  return ret;
}

static GstFlowReturn
gst_nerv_parse_pre_push_frame (GstBaseParse * parse, GstBaseParseFrame * frame)
{
  GstNervParse *self = GST_NERV_PARSE (parse);
  GstBuffer *buf = frame->out_buffer ? frame->out_buffer : frame->buffer;

  frame->flags |= GST_BASE_PARSE_FRAME_FLAG_CLIP;

  /* upstream in TIME without timestamps: keep the stream's own */
  if (buf && !GST_BUFFER_PTS_IS_VALID (buf)
      && GST_CLOCK_TIME_IS_VALID (self->pts)) {
    GST_BUFFER_PTS (buf) = self->pts;
    GST_BUFFER_DTS (buf) = self->pts;
    GST_BUFFER_DURATION (buf) = self->duration;
  }
  return GST_FLOW_OK;
}

static gboolean
gst_nerv_parse_sink_event (GstBaseParse * parse, GstEvent * event)
{
  GstNervParse *self = GST_NERV_PARSE (parse);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    /* the base class drains (handle_frame) and sends the EOS on; what is
     * left of a unit after that is a truncated end */
    gboolean ret = GST_BASE_PARSE_CLASS (parent_class)->sink_event (parse,
        event);
    gst_nerv_parse_truncated (self);
    return ret;
  }

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    self->timeline.have_next = FALSE;
    /* the unit so far does not go on after a flush */
    gst_nerv_parse_drop_unit (self);
    nerv_splitter_forget_bytes (&self->splitter);
    self->in_damage = FALSE;
    self->discont = TRUE;
  }
  return GST_BASE_PARSE_CLASS (parent_class)->sink_event (parse, event);
}

/* the key frame a KEY_UNIT seek to @t snaps to */
static GstClockTime
gst_nerv_parse_snap (GstNervParse * self, GstClockTime t, GstSeekFlags flags)
{
  const GstNervKeyFrame *k = (const GstNervKeyFrame *) self->keyframes->data;
  const guint n = self->keyframes->len;
  guint i = 0;

  if (n == 0)
    return t;
  /* the first key frame after t */
  while (i < n && k[i].ts <= t)
    i++;
  if ((flags & GST_SEEK_FLAG_SNAP_NEAREST) == GST_SEEK_FLAG_SNAP_NEAREST) {
    if (i == n)
      return k[n - 1].ts;
    if (i == 0)
      return k[0].ts;
    return t - k[i - 1].ts <= k[i].ts - t ? k[i - 1].ts : k[i].ts;
  }
  if (flags & GST_SEEK_FLAG_SNAP_AFTER) {
    if (i > 0 && k[i - 1].ts == t)
      return t;
    return i < n ? k[i].ts : t;
  }
  return i > 0 ? k[i - 1].ts : k[0].ts;
}

static gboolean
gst_nerv_parse_src_event (GstBaseParse * parse, GstEvent * event)
{
  GstNervParse *self = GST_NERV_PARSE (parse);

  /* With every key frame indexed, make the base class seek by the index:
   * to the key frame at or before the target, keeping the requested
   * segment (or snapping it for KEY_UNIT seeks). */
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEEK
      && g_atomic_int_get (&self->scan_complete)) {
    gdouble rate;
    GstFormat format;
    GstSeekFlags flags;
    GstSeekType start_type, stop_type;
    gint64 start, stop;

    gst_event_parse_seek (event, &rate, &format, &flags, &start_type, &start,
        &stop_type, &stop);
    if (format == GST_FORMAT_TIME && rate > 0.0
        && start_type == GST_SEEK_TYPE_SET && start >= 0) {
      GstEvent *seek;

      if (flags & GST_SEEK_FLAG_KEY_UNIT)
        start = gst_nerv_parse_snap (self, start, flags);
      flags &= ~(GST_SEEK_FLAG_KEY_UNIT | GST_SEEK_FLAG_SNAP_BEFORE |
          GST_SEEK_FLAG_SNAP_AFTER);
      flags |= GST_SEEK_FLAG_ACCURATE;
      seek = gst_event_new_seek (rate, format, flags, start_type, start,
          stop_type, stop);
      gst_event_set_seqnum (seek, gst_event_get_seqnum (event));
      GST_DEBUG_OBJECT (self, "seek to %" GST_TIME_FORMAT " by the index",
          GST_TIME_ARGS (start));
      gst_event_unref (event);
      event = seek;
    }
  }
  return GST_BASE_PARSE_CLASS (parent_class)->src_event (parse, event);
}
