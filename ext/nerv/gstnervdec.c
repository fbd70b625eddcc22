/* gst-nerv: nervdec, the neural video decoder element
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-nervdec
 * @title: nervdec
 * @see_also: nervenc, nervparse
 *
 * Decodes a .nerv stream: rebuilds each group's network from its weights
 * and runs it forward for every frame. After a flush, a seek or a corrupt
 * packet it resumes at the next key group; corrupt packets count against
 * the `max-errors` property of the base class.
 *
 * ## Example pipeline
 * |[
 * gst-launch-1.0 filesrc location=test.nerv ! nervparse ! nervdec ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstnervdec.h"
#include "gstnervelements.h"
#include "gstnervutils.h"

GST_DEBUG_CATEGORY_STATIC (gst_nerv_dec_debug);
#define GST_CAT_DEFAULT gst_nerv_dec_debug

enum
{
  PROP_0,
  PROP_THREADS,
  PROP_WARNINGS,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_NERV_CAPS_NAME ", parsed = (boolean) true"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format = (string) { I420, Y444, GBR, GRAY8 }, "
        "width = (int) [ 1, 8192 ], height = (int) [ 1, 8192 ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

#define gst_nerv_dec_parent_class parent_class
G_DEFINE_TYPE (GstNervDec, gst_nerv_dec, GST_TYPE_VIDEO_DECODER);
GST_ELEMENT_REGISTER_DEFINE (nervdec, "nervdec", GST_RANK_PRIMARY,
    GST_TYPE_NERV_DEC);

static void
gst_nerv_dec_init (GstNervDec * self)
{
  GstVideoDecoder *dec = GST_VIDEO_DECODER (self);
  self->threads = (guint) nerv_setting_info (NERV_SETTING_THREADS)->def;
  gst_video_decoder_set_packetized (dec, TRUE);
  gst_video_decoder_set_needs_format (dec, TRUE);
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_VIDEO_DECODER_SINK_PAD (self));
}

static void
gst_nerv_dec_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstNervDec *self = GST_NERV_DEC (object);
  switch (prop_id) {
    case PROP_THREADS:
      GST_OBJECT_LOCK (self);
      self->threads = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_nerv_dec_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstNervDec *self = GST_NERV_DEC (object);
  switch (prop_id) {
    case PROP_THREADS:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->threads);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_WARNINGS:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->warnings);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static gboolean
gst_nerv_dec_start (GstVideoDecoder * decoder)
{
  GstNervDec *self = GST_NERV_DEC (decoder);
  guint threads;
  GST_OBJECT_LOCK (self);
  threads = self->threads;
  GST_OBJECT_UNLOCK (self);
  self->core = nerv_decoder_new ((int) threads);
  self->waiting_for_key = TRUE;
  self->quiet_wait = FALSE;
  self->warned_wait = FALSE;
  GST_OBJECT_LOCK (self);
  self->warnings = 0;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_nerv_dec_stop (GstVideoDecoder * decoder)
{
  GstNervDec *self = GST_NERV_DEC (decoder);
  g_clear_pointer (&self->core, nerv_decoder_free);
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  g_clear_pointer (&self->output_state, gst_video_codec_state_unref);
  return TRUE;
}

static gboolean
gst_nerv_dec_set_format (GstVideoDecoder * decoder, GstVideoCodecState * state)
{
  GstNervDec *self = GST_NERV_DEC (decoder);
  if (self->input_state)
    gst_video_codec_state_unref (self->input_state);
  self->input_state = gst_video_codec_state_ref (state);
  return TRUE;
}

static gboolean
gst_nerv_dec_flush (GstVideoDecoder * decoder)
{
  GstNervDec *self = GST_NERV_DEC (decoder);
  if (self->core)
    nerv_decoder_reset (self->core);
  self->waiting_for_key = TRUE;
  self->quiet_wait = TRUE;
  self->warned_wait = FALSE;
  return TRUE;
}

static gboolean
ensure_output_state (GstNervDec * self, const NervDecodedFrame * f)
{
  GstVideoDecoder *decoder = GST_VIDEO_DECODER (self);
  const GstVideoFormat fmt = gst_nerv_video_format (f->format);
  const GstVideoInfo *info = self->output_state ? &self->output_state->info : NULL;

  if (info && GST_VIDEO_INFO_FORMAT (info) == fmt
      && GST_VIDEO_INFO_WIDTH (info) == f->width
      && GST_VIDEO_INFO_HEIGHT (info) == f->height)
    return TRUE;
  g_clear_pointer (&self->output_state, gst_video_codec_state_unref);
  self->output_state = gst_video_decoder_set_output_state (decoder, fmt,
      f->width, f->height, self->input_state);
  {
    const NervStreamHeader *h = nerv_decoder_header (self->core);
    if (h && h->fps_n > 0 && h->fps_d > 0
        && GST_VIDEO_INFO_FPS_N (&self->output_state->info) == 0) {
      GST_VIDEO_INFO_FPS_N (&self->output_state->info) = (gint) h->fps_n;
      GST_VIDEO_INFO_FPS_D (&self->output_state->info) = (gint) h->fps_d;
    }
  }
  return gst_video_decoder_negotiate (decoder);
}

static GstFlowReturn
copy_frame (GstNervDec * self, const NervDecodedFrame * f,
    GstVideoCodecFrame * frame)
{
  GstVideoDecoder *decoder = GST_VIDEO_DECODER (self);
  GstVideoFrame vf;
  GstFlowReturn ret;

  if (!ensure_output_state (self, f))
    return GST_FLOW_NOT_NEGOTIATED;
  ret = gst_video_decoder_allocate_output_frame (decoder, frame);
  if (ret != GST_FLOW_OK)
    return ret;
  if (!gst_video_frame_map (&vf, &self->output_state->info,
          frame->output_buffer, GST_MAP_WRITE))
    return GST_FLOW_ERROR;
  for (int c = 0; c < f->n_planes; c++) {
    const guint p = gst_nerv_frame_plane (f->format, c);
    const int rows = GST_VIDEO_FRAME_COMP_HEIGHT (&vf, p);
    const int width = GST_VIDEO_FRAME_COMP_WIDTH (&vf, p);
    guint8 *dst = GST_VIDEO_FRAME_PLANE_DATA (&vf, p);
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p);
    for (int y = 0; y < rows; y++)
      memcpy (dst + (gsize) y * stride, f->planes[c] + (gsize) y * f->strides[c],
          width);
  }
  gst_video_frame_unmap (&vf);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_nerv_dec_handle_frame (GstVideoDecoder * decoder, GstVideoCodecFrame * frame)
{
  GstNervDec *self = GST_NERV_DEC (decoder);
  GstMapInfo map;
  NervSplitter sp;
  gsize pos = 0;
  gboolean got = FALSE;
  NervStatus error = NERV_OK;
  NervDecodedFrame f;
  GstFlowReturn ret = GST_FLOW_OK;

  if (!gst_buffer_map (frame->input_buffer, &map, GST_MAP_READ)) {
    gst_video_decoder_drop_frame (decoder, frame);
    return GST_FLOW_ERROR;
  }
  /* the buffer is cut into packets by the splitter, which resynchronises
   * over damage in time linear in the buffer's size; the decoder gets the
   * packets whose CRC checks */
  nerv_splitter_init (&sp);
  while (pos < map.size) {
    NervSplit sk;
    size_t used = 0;
    NervStatus st;

    if (nerv_splitter_next (&sp, map.data + pos, map.size - pos, pos, TRUE,
            &sk) == NERV_SPLIT_DAMAGE) {
      if (error == NERV_OK)
        error = sk.status == NERV_ERR_NEED_MORE ? NERV_ERR_TRUNCATED :
            sk.status;
      nerv_decoder_lost_bytes (self->core);
      pos += sk.size;
      continue;
    }
    st = nerv_decoder_decode (self->core, map.data + pos, sk.size, &used);
    if (st != NERV_OK && error == NERV_OK)
      error = st;
    pos += sk.size;
    if (!got && nerv_decoder_get_frame (self->core, &f)) {
      got = TRUE;
      ret = copy_frame (self, &f, frame);
    }
  }
  nerv_splitter_clear (&sp);
  gst_buffer_unmap (frame->input_buffer, &map);

  if (got && ret == GST_FLOW_OK) {
    self->waiting_for_key = FALSE;
    self->quiet_wait = FALSE;
    self->warned_wait = FALSE;
    if (f.key)
      GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT (frame);
    return gst_video_decoder_finish_frame (decoder, frame);
  }
  if (ret != GST_FLOW_OK && got) {
    gst_video_decoder_drop_frame (decoder, frame);
    return ret;
  }
  if (error == NERV_ERR_NO_KEY && self->waiting_for_key) {
    /* Frames before the next key group cannot be decoded: after a flush or
     * seek that is no news; at the start of a stream (cut, or a damaged
     * key group) it is said once. */
    GST_DEBUG_OBJECT (self, "waiting for a key group");
    if (!self->quiet_wait && !self->warned_wait) {
      self->warned_wait = TRUE;
      GST_OBJECT_LOCK (self);
      self->warnings++;
      GST_OBJECT_UNLOCK (self);
      GST_ELEMENT_WARNING (self, STREAM, DECODE,
          ("The .nerv stream does not start with a decodable key frame; "
              "frames up to the next key frame are dropped."),
          ("frame %" G_GUINT64_FORMAT " has no key group before it",
              (guint64) frame->system_frame_number));
    }
    gst_video_decoder_drop_frame (decoder, frame);
    return GST_FLOW_OK;
  }
  self->waiting_for_key = TRUE;
  self->warned_wait = TRUE;     /* this error is the wait's warning */
  GST_OBJECT_LOCK (self);
  self->warnings++;
  GST_OBJECT_UNLOCK (self);
  gst_video_decoder_request_sync_point (decoder, frame,
      GST_VIDEO_DECODER_REQUEST_SYNC_POINT_DISCARD_INPUT);
  GST_VIDEO_DECODER_ERROR (self, 1, STREAM, DECODE, ("Corrupt .nerv data"),
      ("%s; resuming at the next key group",
          error != NERV_OK ? nerv_status_string (error) : "no frame in buffer"),
      ret);
  gst_video_decoder_drop_frame (decoder, frame);
  return ret;
}

static void
gst_nerv_dec_class_init (GstNervDecClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstVideoDecoderClass *vdec_class = GST_VIDEO_DECODER_CLASS (klass);
  const NervSettingInfo *threads = nerv_setting_info (NERV_SETTING_THREADS);

  gobject_class->set_property = gst_nerv_dec_set_property;
  gobject_class->get_property = gst_nerv_dec_get_property;
  /* the thread pool is the encoder's: the same range */
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads", threads->blurb,
          (guint) threads->min, (guint) threads->max, (guint) threads->def,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_DOC_SHOW_DEFAULT | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_WARNINGS,
      g_param_spec_uint ("warnings", "Warnings",
          "Warnings posted: corrupt or undecodable frames, frames dropped "
          "before the first key frame", 0, G_MAXUINT, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Neural network video decoder", "Codec/Decoder/Video",
      "Decodes video coded as neural networks (.nerv)", "gst-nerv developers");

  vdec_class->start = GST_DEBUG_FUNCPTR (gst_nerv_dec_start);
  vdec_class->stop = GST_DEBUG_FUNCPTR (gst_nerv_dec_stop);
  vdec_class->set_format = GST_DEBUG_FUNCPTR (gst_nerv_dec_set_format);
  vdec_class->flush = GST_DEBUG_FUNCPTR (gst_nerv_dec_flush);
  vdec_class->handle_frame = GST_DEBUG_FUNCPTR (gst_nerv_dec_handle_frame);

  GST_DEBUG_CATEGORY_INIT (gst_nerv_dec_debug, "nervdec", 0, "nervdec");
}
