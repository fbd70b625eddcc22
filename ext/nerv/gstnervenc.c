/* gst-nerv: nervenc, the neural video encoder element
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-nervenc
 * @title: nervenc
 * @see_also: nervdec, nervparse
 *
 * Encodes raw video into a .nerv stream by training a small convolutional
 * decoder network (HNeRV or NeRV) per group of frames. Each group starts
 * from the previous group's weights; key groups code the weights whole,
 * the others as residuals. Training takes time: the element posts
 * `nerv-progress` element messages (and progress messages) at least once a
 * second, and a `nerv-group` message with the size and PSNR of every
 * coded group.
 *
 * ## Example pipeline
 * |[
 * gst-launch-1.0 -e videotestsrc num-buffers=64 ! video/x-raw,width=320,height=192 ! \
 *     nervenc bitrate=300 speed-preset=fast ! filesink location=test.nerv
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstnervenc.h"
#include "gstnervelements.h"
#include "gstnervutils.h"

GST_DEBUG_CATEGORY_STATIC (gst_nerv_enc_debug);
#define GST_CAT_DEFAULT gst_nerv_enc_debug

#define DEFAULT_BITRATE 0
#define DEFAULT_PARAMS 20000
#define DEFAULT_MODEL GST_NERV_ENC_MODEL_HNERV
#define DEFAULT_PRESET GST_NERV_ENC_PRESET_MEDIUM
#define DEFAULT_EPOCHS 0
#define DEFAULT_GROUP_SIZE 8
#define DEFAULT_KEYFRAME_INTERVAL 8
#define DEFAULT_WEIGHT_BITS 8
#define DEFAULT_EMBED_BITS 6
#define DEFAULT_THREADS 0
#define DEFAULT_SEED 1

enum
{
  PROP_0,
  PROP_BITRATE,
  PROP_PARAMS,
  PROP_MODEL,
  PROP_SPEED_PRESET,
  PROP_EPOCHS,
  PROP_GROUP_SIZE,
  PROP_KEYFRAME_INTERVAL,
  PROP_WEIGHT_BITS,
  PROP_EMBED_BITS,
  PROP_THREADS,
  PROP_SEED,
};

#define SINK_FORMATS "{ I420, NV12, Y42B, Y444, RGB, BGR, RGBx, BGRx, xRGB, GRAY8 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format = (string) " SINK_FORMATS ", "
        "width = (int) [ 16, 8192 ], height = (int) [ 16, 8192 ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_NERV_CAPS_NAME ", parsed = (boolean) true, "
        "width = (int) [ 16, 8192 ], height = (int) [ 16, 8192 ], "
        "framerate = (fraction) [ 0/1, MAX ]"));

#define GST_TYPE_NERV_ENC_MODEL (gst_nerv_enc_model_get_type ())
static GType
gst_nerv_enc_model_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_NERV_ENC_MODEL_HNERV, "HNeRV: a per-frame embedding drives the decoder", "hnerv"},
    {GST_NERV_ENC_MODEL_NERV, "NeRV: the frame position drives the decoder", "nerv"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstNervEncModel", values));
  return type;
}

#define GST_TYPE_NERV_ENC_PRESET (gst_nerv_enc_preset_get_type ())
static GType
gst_nerv_enc_preset_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_NERV_ENC_PRESET_ULTRAFAST, "30 epochs from scratch, 8 per group after", "ultrafast"},
    {GST_NERV_ENC_PRESET_VERYFAST, "60 and 15 epochs", "veryfast"},
    {GST_NERV_ENC_PRESET_FAST, "150 and 30 epochs", "fast"},
    {GST_NERV_ENC_PRESET_MEDIUM, "300 and 60 epochs", "medium"},
    {GST_NERV_ENC_PRESET_SLOW, "600 and 120 epochs", "slow"},
    {GST_NERV_ENC_PRESET_VERYSLOW, "1200 and 240 epochs", "veryslow"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstNervEncPreset", values));
  return type;
}

static const int preset_epochs[][2] = {
  {300, 60}, {30, 8}, {60, 15}, {150, 30}, {300, 60}, {600, 120}, {1200, 240}
};

#define gst_nerv_enc_parent_class parent_class
G_DEFINE_TYPE (GstNervEnc, gst_nerv_enc, GST_TYPE_VIDEO_ENCODER);
GST_ELEMENT_REGISTER_DEFINE (nervenc, "nervenc", GST_RANK_PRIMARY,
    GST_TYPE_NERV_ENC);

static void
gst_nerv_enc_init (GstNervEnc * self)
{
  self->bitrate = DEFAULT_BITRATE;
  self->params = DEFAULT_PARAMS;
  self->model = DEFAULT_MODEL;
  self->preset = DEFAULT_PRESET;
  self->epochs = DEFAULT_EPOCHS;
  self->group_size = DEFAULT_GROUP_SIZE;
  self->keyframe_interval = DEFAULT_KEYFRAME_INTERVAL;
  self->weight_bits = DEFAULT_WEIGHT_BITS;
  self->embed_bits = DEFAULT_EMBED_BITS;
  self->threads = DEFAULT_THREADS;
  self->seed = DEFAULT_SEED;
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_VIDEO_ENCODER_SINK_PAD (self));
}

static void
gst_nerv_enc_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstNervEnc *self = GST_NERV_ENC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BITRATE:
      self->bitrate = g_value_get_uint (value);
      break;
    case PROP_PARAMS:
      self->params = g_value_get_uint (value);
      break;
    case PROP_MODEL:
      self->model = g_value_get_enum (value);
      break;
    case PROP_SPEED_PRESET:
      self->preset = g_value_get_enum (value);
      break;
    case PROP_EPOCHS:
      self->epochs = g_value_get_uint (value);
      break;
    case PROP_GROUP_SIZE:
      self->group_size = g_value_get_uint (value);
      break;
    case PROP_KEYFRAME_INTERVAL:
      self->keyframe_interval = g_value_get_uint (value);
      break;
    case PROP_WEIGHT_BITS:
      self->weight_bits = g_value_get_uint (value);
      break;
    case PROP_EMBED_BITS:
      self->embed_bits = g_value_get_uint (value);
      break;
    case PROP_THREADS:
      self->threads = g_value_get_uint (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_nerv_enc_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstNervEnc *self = GST_NERV_ENC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BITRATE:
      g_value_set_uint (value, self->bitrate);
      break;
    case PROP_PARAMS:
      g_value_set_uint (value, self->params);
      break;
    case PROP_MODEL:
      g_value_set_enum (value, self->model);
      break;
    case PROP_SPEED_PRESET:
      g_value_set_enum (value, self->preset);
      break;
    case PROP_EPOCHS:
      g_value_set_uint (value, self->epochs);
      break;
    case PROP_GROUP_SIZE:
      g_value_set_uint (value, self->group_size);
      break;
    case PROP_KEYFRAME_INTERVAL:
      g_value_set_uint (value, self->keyframe_interval);
      break;
    case PROP_WEIGHT_BITS:
      g_value_set_uint (value, self->weight_bits);
      break;
    case PROP_EMBED_BITS:
      g_value_set_uint (value, self->embed_bits);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, self->threads);
      break;
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- progress --------------------------------------------------------- */

static gboolean
core_progress (const NervEncoderProgress * p, gpointer user_data)
{
  GstNervEnc *self = user_data;
  const NervTrainProgress *t = p->train;
  const double done = t->n_steps ? (double) t->step / t->n_steps : 1.0;
  const double left = done > 0 ? t->elapsed_s / done - t->elapsed_s : 0;
  GstStructure *s;
  gchar *text;

  s = gst_structure_new ("nerv-progress",
      "group", G_TYPE_INT, p->group,
      "key", G_TYPE_BOOLEAN, p->key,
      "phase", G_TYPE_STRING, p->quantising ? "quantise" : "train",
      "epoch", G_TYPE_INT, t->epoch + 1,
      "epochs", G_TYPE_INT, t->n_epochs,
      "loss", G_TYPE_DOUBLE, t->loss,
      "psnr-y", G_TYPE_DOUBLE, t->psnr_y,
      "psnr-yuv", G_TYPE_DOUBLE, t->psnr_yuv,
      "elapsed", G_TYPE_DOUBLE, t->elapsed_s,
      "seconds-left", G_TYPE_DOUBLE, left, NULL);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
  /* progress messages go in START .. CONTINUE .. COMPLETE runs, one per
   * group (gst-launch waits for a started run to complete) */
  text = g_strdup_printf ("group %d epoch %d/%d, %.2f dB, %.0f s left",
      p->group, t->epoch + 1, t->n_epochs, t->psnr_y, left);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), self->training ?
          GST_PROGRESS_TYPE_CONTINUE : GST_PROGRESS_TYPE_START, "nerv-train",
          text));
  self->training = TRUE;
  g_free (text);
  return TRUE;
}

static void
end_progress (GstNervEnc * self)
{
  if (!self->training)
    return;
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_CANCELED,
          "nerv-train", "training interrupted"));
  self->training = FALSE;
}

static void
free_core (GstNervEnc * self)
{
  end_progress (self);
  g_clear_pointer (&self->core, nerv_encoder_free);
  g_clear_pointer (&self->convert, gst_video_converter_free);
}

static gboolean
create_core (GstNervEnc * self)
{
  NervEncoderSettings s;
  GError *err = NULL;
  const GstVideoInfo *info = &self->input_state->info;

  nerv_encoder_settings_init (&s);
  s.width = GST_VIDEO_INFO_WIDTH (info);
  s.height = GST_VIDEO_INFO_HEIGHT (info);
  s.format = self->core_format;
  s.fps_n = GST_VIDEO_INFO_FPS_N (info);
  s.fps_d = GST_VIDEO_INFO_FPS_D (info) ? GST_VIDEO_INFO_FPS_D (info) : 1;
  GST_OBJECT_LOCK (self);
  s.kind = self->model == GST_NERV_ENC_MODEL_NERV ? NERV_MODEL_NERV : NERV_MODEL_HNERV;
  s.bitrate = self->bitrate;
  s.params = self->params;
  s.group_size = (int) self->group_size;
  s.key_interval = (int) self->keyframe_interval;
  s.epochs_key = self->epochs ? (int) self->epochs : preset_epochs[self->preset][0];
  s.epochs_delta = self->epochs ? MAX (1, (int) self->epochs / 5) :
      preset_epochs[self->preset][1];
  s.weight_bits = (int) self->weight_bits;
  s.embed_bits = (int) self->embed_bits;
  s.threads = (int) self->threads;
  s.seed = self->seed;
  GST_OBJECT_UNLOCK (self);
  s.progress = core_progress;
  s.user_data = self;
  {
    /* a clip of known length (a file): the rate control pays the model
     * over its frames */
    gint64 dur = -1;
    if (s.fps_n > 0 && gst_pad_peer_query_duration (GST_VIDEO_ENCODER_SINK_PAD
            (self), GST_FORMAT_TIME, &dur) && dur > 0)
      s.expected_frames = gst_util_uint64_scale (dur, s.fps_n, s.fps_d * GST_SECOND);
  }

  self->core = nerv_encoder_new (&s, &err);
  if (!self->core) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Cannot set up the encoder"),
        ("%s", err->message));
    g_error_free (err);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "model with %zu parameters",
      nerv_model_config_n_params (nerv_encoder_model (self->core)));
  return TRUE;
}

/* ---- output ----------------------------------------------------------- */

static void
post_group_stats (GstNervEnc * self)
{
  NervGroupStats gs;
  if (!nerv_encoder_last_group (self->core, &gs))
    return;
  if (self->training) {
    gchar *text = g_strdup_printf ("group %d coded: %" G_GSIZE_FORMAT
        " bits, %.2f dB", gs.group, gs.bits, gs.psnr_y);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_progress (GST_OBJECT (self),
            GST_PROGRESS_TYPE_COMPLETE, "nerv-train", text));
    g_free (text);
    self->training = FALSE;
  }
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("nerv-group",
              "group", G_TYPE_INT, gs.group,
              "key", G_TYPE_BOOLEAN, gs.key,
              "frames", G_TYPE_INT, gs.n_frames,
              "bits", G_TYPE_UINT64, (guint64) gs.bits,
              "weight-bits", G_TYPE_UINT64, (guint64) gs.weight_bits,
              "params", G_TYPE_UINT64, (guint64) gs.params,
              "psnr-y", G_TYPE_DOUBLE, gs.psnr_y,
              "psnr-yuv", G_TYPE_DOUBLE, gs.psnr_yuv,
              "seconds", G_TYPE_DOUBLE, gs.train_s, NULL)));
}

static GstFlowReturn
push_coded (GstNervEnc * self)
{
  GstVideoEncoder *venc = GST_VIDEO_ENCODER (self);
  NervEncodedFrame ef;
  GstFlowReturn ret = GST_FLOW_OK;

  while (nerv_encoder_pop (self->core, &ef)) {
    GstVideoCodecFrame *frame = gst_video_encoder_get_oldest_frame (venc);
    if (ef.group_start)
      post_group_stats (self);
    if (!frame) {
      GST_WARNING_OBJECT (self, "coded frame %" G_GUINT64_FORMAT
          " has no input frame", ef.frame);
      nerv_encoded_frame_clear (&ef);
      continue;
    }
    frame->output_buffer = gst_buffer_new_wrapped_bytes (ef.data);
    ef.data = NULL;
    if (ef.key)
      GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT (frame);
    else
      GST_VIDEO_CODEC_FRAME_UNSET_SYNC_POINT (frame);
    /* finish_frame takes the reference get_oldest_frame gave */
    ret = gst_video_encoder_finish_frame (venc, frame);
    if (ret != GST_FLOW_OK)
      break;
  }
  return ret;
}

/* ---- vfuncs ----------------------------------------------------------- */

static gboolean
gst_nerv_enc_stop (GstVideoEncoder * encoder)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  free_core (self);
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  return TRUE;
}

static GstFlowReturn
gst_nerv_enc_drain (GstNervEnc * self)
{
  if (!self->core)
    return GST_FLOW_OK;
  if (!nerv_encoder_finish (self->core)) {
    GST_ELEMENT_ERROR (self, LIBRARY, ENCODE, (NULL), ("training stopped"));
    return GST_FLOW_ERROR;
  }
  return push_coded (self);
}

static gboolean
gst_nerv_enc_set_format (GstVideoEncoder * encoder, GstVideoCodecState * state)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  GstVideoInfo *info = &state->info;
  GstVideoCodecState *out;
  GstVideoFormat cf;
  GstCaps *caps;
  GstClockTime latency;
  guint group;
  GstTagList *tags;

  /* a new format: what was collected so far is coded first, and the new
   * stream starts with a key group */
  if (self->core && gst_nerv_enc_drain (self) != GST_FLOW_OK)
    return FALSE;
  free_core (self);
  if (self->input_state)
    gst_video_codec_state_unref (self->input_state);
  self->input_state = gst_video_codec_state_ref (state);

  self->core_format = gst_nerv_core_format_for (GST_VIDEO_INFO_FORMAT (info));
  cf = gst_nerv_video_format (self->core_format);
  if (cf != GST_VIDEO_INFO_FORMAT (info)) {
    gst_video_info_set_format (&self->conv_info, cf,
        GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
    GST_VIDEO_INFO_FPS_N (&self->conv_info) = GST_VIDEO_INFO_FPS_N (info);
    GST_VIDEO_INFO_FPS_D (&self->conv_info) = GST_VIDEO_INFO_FPS_D (info);
    GST_VIDEO_INFO_PAR_N (&self->conv_info) = GST_VIDEO_INFO_PAR_N (info);
    GST_VIDEO_INFO_PAR_D (&self->conv_info) = GST_VIDEO_INFO_PAR_D (info);
    self->convert = gst_video_converter_new (info, &self->conv_info, NULL);
    if (!self->convert) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
          ("cannot convert %s to %s", gst_video_format_to_string
              (GST_VIDEO_INFO_FORMAT (info)), gst_video_format_to_string (cf)));
      return FALSE;
    }
  } else {
    self->conv_info = *info;
  }
  if (!create_core (self))
    return FALSE;

  caps = gst_caps_new_simple (GST_NERV_CAPS_NAME, "parsed", G_TYPE_BOOLEAN, TRUE,
      NULL);
  out = gst_video_encoder_set_output_state (encoder, caps, state);
  gst_video_codec_state_unref (out);

  /* a group is collected before anything comes out */
  GST_OBJECT_LOCK (self);
  group = self->group_size ? self->group_size : 8;
  GST_OBJECT_UNLOCK (self);
  if (GST_VIDEO_INFO_FPS_N (info) > 0)
    latency = gst_util_uint64_scale (group * GST_SECOND,
        GST_VIDEO_INFO_FPS_D (info), GST_VIDEO_INFO_FPS_N (info));
  else
    latency = group * GST_SECOND / 25;
  gst_video_encoder_set_latency (encoder, latency, latency);

  tags = gst_tag_list_new (GST_TAG_ENCODER, "nervenc", NULL);
  if (self->bitrate)
    gst_tag_list_add (tags, GST_TAG_MERGE_REPLACE, GST_TAG_NOMINAL_BITRATE,
        self->bitrate * 1000, NULL);
  gst_video_encoder_merge_tags (encoder, tags, GST_TAG_MERGE_REPLACE);
  gst_tag_list_unref (tags);
  return TRUE;
}

static GstFlowReturn
gst_nerv_enc_handle_frame (GstVideoEncoder * encoder, GstVideoCodecFrame * frame)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  GstVideoFrame in, conv;
  GstVideoFrame *src = &in;
  const guint8 *planes[3] = { NULL, NULL, NULL };
  int strides[3] = { 0, 0, 0 };
  gboolean ok;

  if (!self->core) {
    gst_video_codec_frame_unref (frame);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_video_frame_map (&in, &self->input_state->info,
          frame->input_buffer, GST_MAP_READ)) {
    gst_video_codec_frame_unref (frame);
    GST_ELEMENT_ERROR (self, STREAM, ENCODE, (NULL), ("cannot map a frame"));
    return GST_FLOW_ERROR;
  }
  if (self->convert) {
    GstBuffer *b = gst_buffer_new_allocate (NULL, self->conv_info.size, NULL);
    gst_video_frame_map (&conv, &self->conv_info, b, GST_MAP_WRITE);
    gst_buffer_unref (b);       /* the mapped frame holds it */
    gst_video_converter_frame (self->convert, &in, &conv);
    src = &conv;
  }
  for (guint c = 0; c < GST_VIDEO_FRAME_N_PLANES (src); c++) {
    const guint p = gst_nerv_frame_plane (self->core_format, c);
    planes[c] = GST_VIDEO_FRAME_PLANE_DATA (src, p);
    strides[c] = GST_VIDEO_FRAME_PLANE_STRIDE (src, p);
  }
  ok = nerv_encoder_push_frame (self->core, planes, strides);
  if (self->convert)
    gst_video_frame_unmap (&conv);
  gst_video_frame_unmap (&in);
  gst_video_codec_frame_unref (frame);
  if (!ok) {
    GST_ELEMENT_ERROR (self, LIBRARY, ENCODE, (NULL), ("training stopped"));
    return GST_FLOW_ERROR;
  }
  return push_coded (self);
}

static GstFlowReturn
gst_nerv_enc_finish (GstVideoEncoder * encoder)
{
  return gst_nerv_enc_drain (GST_NERV_ENC (encoder));
}

static gboolean
gst_nerv_enc_flush (GstVideoEncoder * encoder)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  /* frames of an unfinished group are dropped; coding restarts with a key
   * group */
  end_progress (self);
  g_clear_pointer (&self->core, nerv_encoder_free);
  if (self->input_state)
    return create_core (self);
  return TRUE;
}

static gboolean
gst_nerv_enc_propose_allocation (GstVideoEncoder * encoder, GstQuery * query)
{
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return GST_VIDEO_ENCODER_CLASS (parent_class)->propose_allocation (encoder,
      query);
}

static void
gst_nerv_enc_class_init (GstNervEncClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstVideoEncoderClass *venc_class = GST_VIDEO_ENCODER_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_DOC_SHOW_DEFAULT | GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_nerv_enc_set_property;
  gobject_class->get_property = gst_nerv_enc_get_property;

  g_object_class_install_property (gobject_class, PROP_BITRATE,
      g_param_spec_uint ("bitrate", "Bitrate",
          "Target bitrate in kbit/s; 0 codes with a fixed model size (params)",
          0, 1000000, DEFAULT_BITRATE, flags));
  g_object_class_install_property (gobject_class, PROP_PARAMS,
      g_param_spec_uint ("params", "Model parameters",
          "Decoder network size in parameters when bitrate is 0",
          100, NERV_MAX_PARAMS, DEFAULT_PARAMS, flags));
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_enum ("model", "Model", "Kind of network",
          GST_TYPE_NERV_ENC_MODEL, DEFAULT_MODEL, flags));
  g_object_class_install_property (gobject_class, PROP_SPEED_PRESET,
      g_param_spec_enum ("speed-preset", "Speed preset",
          "Training effort: epochs from scratch and per later group",
          GST_TYPE_NERV_ENC_PRESET, DEFAULT_PRESET, flags));
  g_object_class_install_property (gobject_class, PROP_EPOCHS,
      g_param_spec_uint ("epochs", "Epochs",
          "Epochs of the first group (later groups: a fifth); 0: from speed-preset",
          0, 100000, DEFAULT_EPOCHS, flags));
  g_object_class_install_property (gobject_class, PROP_GROUP_SIZE,
      g_param_spec_uint ("group-size", "Group size",
          "Frames per group (one network each); 0: chosen from the bitrate",
          0, NERV_MAX_GROUP, DEFAULT_GROUP_SIZE, flags));
  g_object_class_install_property (gobject_class, PROP_KEYFRAME_INTERVAL,
      g_param_spec_uint ("keyframe-interval", "Keyframe interval",
          "Groups per key group (weights coded whole, a seek point)",
          1, 65535, DEFAULT_KEYFRAME_INTERVAL, flags));
  g_object_class_install_property (gobject_class, PROP_WEIGHT_BITS,
      g_param_spec_uint ("weight-bits", "Weight bits",
          "Bits per quantised weight", 2, 16, DEFAULT_WEIGHT_BITS, flags));
  g_object_class_install_property (gobject_class, PROP_EMBED_BITS,
      g_param_spec_uint ("embed-bits", "Embedding bits",
          "Bits per quantised embedding value", 2, 16, DEFAULT_EMBED_BITS,
          flags));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads", "Threads; 0: one per processor",
          0, 256, DEFAULT_THREADS, flags));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint ("seed", "Seed",
          "Random seed: the same input and settings give the same stream",
          0, G_MAXUINT, DEFAULT_SEED, flags));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Neural network video encoder", "Codec/Encoder/Video",
      "Codes video as a small convolutional network per group of frames "
      "(HNeRV/NeRV)", "gst-nerv developers");

  venc_class->stop = GST_DEBUG_FUNCPTR (gst_nerv_enc_stop);
  venc_class->set_format = GST_DEBUG_FUNCPTR (gst_nerv_enc_set_format);
  venc_class->handle_frame = GST_DEBUG_FUNCPTR (gst_nerv_enc_handle_frame);
  venc_class->finish = GST_DEBUG_FUNCPTR (gst_nerv_enc_finish);
  venc_class->flush = GST_DEBUG_FUNCPTR (gst_nerv_enc_flush);
  venc_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_nerv_enc_propose_allocation);

  GST_DEBUG_CATEGORY_INIT (gst_nerv_enc_debug, "nervenc", 0, "nervenc");
  gst_type_mark_as_plugin_api (GST_TYPE_NERV_ENC_MODEL, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NERV_ENC_PRESET, 0);
}
