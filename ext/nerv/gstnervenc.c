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
  PROP_KEY_INT_MAX,
  PROP_WEIGHT_BITS,
  PROP_EMBED_BITS,
  PROP_THREADS,
  PROP_SEED,
  N_PROPS
};

/* The properties that are core settings as they are (the others have no
 * name here): their range, default and blurb are the core's
 * (nerv-settings.c), and they write straight into self->settings. */
static const struct
{
  const gchar *name, *nick;
  NervSetting setting;
} setting_props[N_PROPS] = {
  [PROP_BITRATE] = {"bitrate", "Bitrate", NERV_SETTING_BITRATE},
  [PROP_PARAMS] = {"params", "Model parameters", NERV_SETTING_PARAMS},
  [PROP_GROUP_SIZE] = {"group-size", "Group size", NERV_SETTING_GROUP_SIZE},
  [PROP_KEYFRAME_INTERVAL] = {"keyframe-interval", "Keyframe interval",
      NERV_SETTING_KEY_INTERVAL},
  [PROP_KEY_INT_MAX] = {"key-int-max", "Maximum key unit distance",
      NERV_SETTING_KEY_FRAMES},
  [PROP_WEIGHT_BITS] = {"weight-bits", "Weight bits", NERV_SETTING_WEIGHT_BITS},
  [PROP_EMBED_BITS] = {"embed-bits", "Embedding bits",
      NERV_SETTING_EMBED_BITS},
  [PROP_THREADS] = {"threads", "Threads", NERV_SETTING_THREADS},
  [PROP_SEED] = {"seed", "Seed", NERV_SETTING_SEED},
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
    {NERV_MODEL_HNERV, "HNeRV: a per-frame embedding drives the decoder", "hnerv"},
    {NERV_MODEL_NERV, "NeRV: the frame position drives the decoder", "nerv"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstNervEncModel", values));
  return type;
}

/* The core's speed presets (nerv-settings.c) */
#define GST_TYPE_NERV_ENC_PRESET (gst_nerv_enc_preset_get_type ())
static GType
gst_nerv_enc_preset_get_type (void)
{
  static GType type = 0;
  static GEnumValue values[NERV_PRESET_LAST - NERV_PRESET_FIRST + 2];

  if (g_once_init_enter (&type)) {
    for (NervSpeedPreset p = NERV_PRESET_FIRST; p <= NERV_PRESET_LAST; p++) {
      const NervPresetInfo *info = nerv_preset_info (p);
      GEnumValue *v = &values[p - NERV_PRESET_FIRST];
      v->value = p;
      v->value_name = g_strdup_printf ("%d epochs from scratch, %d per group "
          "after", info->epochs_key, info->epochs_delta);
      v->value_nick = info->name;
    }
    g_once_init_leave (&type, g_enum_register_static ("GstNervEncPreset",
            values));
  }
  return type;
}

#define gst_nerv_enc_parent_class parent_class
G_DEFINE_TYPE (GstNervEnc, gst_nerv_enc, GST_TYPE_VIDEO_ENCODER);
GST_ELEMENT_REGISTER_DEFINE (nervenc, "nervenc", GST_RANK_PRIMARY,
    GST_TYPE_NERV_ENC);

static void
gst_nerv_enc_init (GstNervEnc * self)
{
  nerv_encoder_settings_init (&self->settings);
  self->duration_group = -1;
  self->preset = NERV_PRESET_DEFAULT;
  self->epochs = 0;
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_VIDEO_ENCODER_SINK_PAD (self));
}

static void
gst_nerv_enc_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstNervEnc *self = GST_NERV_ENC (object);

  GST_OBJECT_LOCK (self);
  if (prop_id < N_PROPS && setting_props[prop_id].name) {
    /* the spec's range is the core's: nothing to refuse */
    if (!nerv_encoder_settings_set (&self->settings,
            setting_props[prop_id].setting, g_value_get_uint (value), NULL))
      g_warn_if_reached ();
    /* the one property that may change while playing (from the next
     * group, gst_nerv_enc_handle_frame()) */
    if (prop_id == PROP_BITRATE && self->core)
      self->bitrate_changed = TRUE;
  } else {
    switch (prop_id) {
      case PROP_MODEL:
        self->settings.kind = g_value_get_enum (value);
        break;
      case PROP_SPEED_PRESET:
        self->preset = g_value_get_enum (value);
        break;
      case PROP_EPOCHS:
        self->epochs = g_value_get_uint (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_nerv_enc_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstNervEnc *self = GST_NERV_ENC (object);

  GST_OBJECT_LOCK (self);
  if (prop_id < N_PROPS && setting_props[prop_id].name) {
    g_value_set_uint (value, (guint) nerv_encoder_settings_get (&self->settings,
            setting_props[prop_id].setting));
  } else {
    switch (prop_id) {
      case PROP_MODEL:
        g_value_set_enum (value, self->settings.kind);
        break;
      case PROP_SPEED_PRESET:
        g_value_set_enum (value, self->preset);
        break;
      case PROP_EPOCHS:
        g_value_set_uint (value, self->epochs);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- progress --------------------------------------------------------- */

/* "1 min 05 s", "12 s" */
static gchar *
format_seconds (double sec)
{
  const gint64 t = (gint64) (sec + 0.5);
  if (t >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT " h %02d min", t / 3600,
        (int) (t / 60 % 60));
  if (t >= 60)
    return g_strdup_printf ("%d min %02d s", (int) (t / 60), (int) (t % 60));
  return g_strdup_printf ("%d s", (int) t);
}

static gboolean
core_progress (const NervEncoderProgress * p, gpointer user_data)
{
  GstNervEnc *self = user_data;
  const NervTrainProgress *t = p->train;
  const double done = t->n_steps ? (double) t->step / t->n_steps : 1.0;
  const double phase_left = done > 0 ? t->elapsed_s / done - t->elapsed_s : 0;
  /* one epoch of this group, from the phase so far */
  const double epoch_s = done > 0 && t->n_epochs ?
      t->elapsed_s / (done * t->n_epochs) : 0;
  const int n = MAX (nerv_encoder_pending (self->core), 1);
  const gint64 now = g_get_monotonic_time ();
  double group_left, stream_left = -1, percent = -1;
  GstStructure *s;
  gchar *text, *gl, *sl = NULL;

  if (!self->t_start)
    self->t_start = now;
  if (!self->expected_frames && p->group != self->duration_group) {
    /* a parser may know the duration only once data flows: ask once a
     * group */
    const GstVideoInfo *info = &self->input_state->info;
    gint64 dur = -1;
    self->duration_group = p->group;
    if (GST_VIDEO_INFO_FPS_N (info) > 0
        && gst_pad_peer_query_duration (GST_VIDEO_ENCODER_SINK_PAD (self),
            GST_FORMAT_TIME, &dur) && dur > 0)
      self->expected_frames = gst_util_uint64_scale (dur,
          GST_VIDEO_INFO_FPS_N (info), GST_VIDEO_INFO_FPS_D (info) *
          GST_SECOND);
  }
  /* the group: this phase, then the fine-tune if it is still to come */
  group_left = phase_left + (p->quantising ? 0 : self->qat_epochs * epoch_s);
  if (self->expected_frames > 0) {
    /* the stream: the frames after this group at a later group's epochs,
     * an epoch costing per frame what this group's does */
    const double later = self->expected_frames > self->frames_coded + n ?
        (double) (self->expected_frames - self->frames_coded - n) : 0;
    const double spent = (now - self->t_start) / 1e6;
    stream_left = group_left + later * (self->epochs_delta +
        self->qat_epochs) * epoch_s / n;
    percent = spent + stream_left > 0 ? 100 * spent / (spent + stream_left) :
        100;
  }

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
      "seconds-left", G_TYPE_DOUBLE, group_left,
      "stream-seconds-left", G_TYPE_DOUBLE, stream_left,
      "stream-percent", G_TYPE_DOUBLE, percent, NULL);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
  /* progress messages go in START .. CONTINUE .. COMPLETE runs, one per
   * group (gst-launch waits for a started run to complete) */
  gl = format_seconds (group_left);
  if (stream_left >= 0) {
    gchar *st = format_seconds (stream_left);
    sl = g_strdup_printf ("; stream %.0f %%, %s left", percent, st);
    g_free (st);
  }
  text = g_strdup_printf ("group %d%s, %s epoch %d/%d, %.2f dB, group %s "
      "left%s", p->group, p->key ? " (key)" : "", p->quantising ?
      "quantised fine-tune" : "training", t->epoch + 1, t->n_epochs,
      t->psnr_y, gl, sl ? sl : "");
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), self->training ?
          GST_PROGRESS_TYPE_CONTINUE : GST_PROGRESS_TYPE_START, "nerv-train",
          text));
  self->training = TRUE;
  g_free (text);
  g_free (gl);
  g_free (sl);
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

/* the core pointer changes under the object lock, so that the threads
 * that interrupt it (interrupt_core()) see a live one */
static void
drop_core (GstNervEnc * self)
{
  NervEncoder *core;

  GST_OBJECT_LOCK (self);
  core = self->core;
  self->core = NULL;
  self->bitrate_changed = FALSE;
  GST_OBJECT_UNLOCK (self);
  nerv_encoder_free (core);
}

/* From any thread: training stops within about a second */
static void
interrupt_core (GstNervEnc * self, NervInterrupt how)
{
  GST_OBJECT_LOCK (self);
  if (self->core) {
    GST_DEBUG_OBJECT (self, "interrupting training (%s)",
        how == NERV_INTERRUPT_ABORT ? "drop the group" : "code what it has");
    nerv_encoder_interrupt (self->core, how);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
free_core (GstNervEnc * self)
{
  end_progress (self);
  drop_core (self);
  g_clear_pointer (&self->convert, gst_video_converter_free);
}

static gboolean
create_core (GstNervEnc * self)
{
  NervEncoderSettings s;
  GError *err = NULL;
  const GstVideoInfo *info = &self->input_state->info;
  NervEncoder *core;

  GST_OBJECT_LOCK (self);
  s = self->settings;
  if (self->epochs)
    nerv_encoder_settings_apply_epochs (&s, (int) self->epochs);
  else
    nerv_encoder_settings_apply_preset (&s, self->preset);
  GST_OBJECT_UNLOCK (self);
  s.width = GST_VIDEO_INFO_WIDTH (info);
  s.height = GST_VIDEO_INFO_HEIGHT (info);
  s.format = self->core_format;
  s.fps_n = GST_VIDEO_INFO_FPS_N (info);
  s.fps_d = GST_VIDEO_INFO_FPS_D (info) ? GST_VIDEO_INFO_FPS_D (info) : 1;
  s.progress = core_progress;
  s.user_data = self;
  {
    /* a clip of known length (a file): the rate control pays the model
     * over its frames */
    gint64 dur = -1;
    self->expected_frames = 0;
    if (s.fps_n > 0 && gst_pad_peer_query_duration (GST_VIDEO_ENCODER_SINK_PAD
            (self), GST_FORMAT_TIME, &dur) && dur > 0)
      s.expected_frames = gst_util_uint64_scale (dur, s.fps_n, s.fps_d * GST_SECOND);
    self->expected_frames = s.expected_frames;
  }

  core = nerv_encoder_new (&s, &err);
  if (!core) {
    /* once: the base class tries the same caps again for every buffer */
    if (!self->failed_caps || !gst_caps_is_equal (self->failed_caps,
            self->input_state->caps)) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("Cannot set up the encoder: %s", err->message), (NULL));
      gst_caps_replace (&self->failed_caps, self->input_state->caps);
    }
    g_error_free (err);
    return FALSE;
  }
  gst_caps_replace (&self->failed_caps, NULL);
  GST_OBJECT_LOCK (self);
  self->core = core;
  self->bitrate_changed = FALSE;
  GST_OBJECT_UNLOCK (self);
  nerv_encoder_get_settings (self->core, &s);
  self->epochs_delta = s.epochs_delta;
  self->qat_epochs = s.qat_epochs;
  GST_INFO_OBJECT (self, "groups of %d frames, model with %zu parameters",
      s.group_size, s.params);
  return TRUE;
}

/* ---- output ----------------------------------------------------------- */

/* What the user should hear about a group's size: a stream larger than
 * the raw video, a target below what the smallest model costs */
static void
check_group_size (GstNervEnc * self, const NervGroupStats * gs)
{
  const GstVideoInfo *info = &self->input_state->info;
  const double fps = GST_VIDEO_INFO_FPS_N (info) > 0 ?
      (double) GST_VIDEO_INFO_FPS_N (info) / GST_VIDEO_INFO_FPS_D (info) : 25;

  self->coded_bytes += gs->bits / 8;
  self->frames_coded += gs->n_frames;
  self->raw_bytes += (guint64) gs->n_frames * GST_VIDEO_INFO_SIZE (info);
  if (!self->warned_size && self->coded_bytes > self->raw_bytes) {
    GST_ELEMENT_WARNING (self, STREAM, ENCODE,
        ("The coded stream is larger than the raw video: %" G_GUINT64_FORMAT
            " bytes for %" G_GUINT64_FORMAT " bytes of %dx%d input; set a "
            "bitrate, or fewer params", self->coded_bytes, self->raw_bytes,
            GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info)),
        (NULL));
    self->warned_size = TRUE;
  }
  if (!self->warned_floor && gs->below_floor && gs->n_frames > 0) {
    NervEncoderSettings r;
    nerv_encoder_get_settings (self->core, &r);
    GST_ELEMENT_WARNING (self, STREAM, ENCODE,
        ("bitrate %u kbit/s is below what the smallest model costs at %dx%d: "
            "the stream comes to about %.0f kbit/s", r.bitrate,
            GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info),
            gs->bits * fps / gs->n_frames / 1000), (NULL));
    self->warned_floor = TRUE;
  }
}

/* The latency a live pipeline sees is a group plus its training: after
 * each group, what a later group's training takes (the first group trains
 * from scratch: its time scaled to a later group's epochs), with a
 * quarter of margin. It only grows; set_latency posts the latency message
 * that makes the pipeline take it. */
static void
update_latency (GstNervEnc * self, const NervGroupStats * gs)
{
  NervEncoderSettings r;
  double train = gs->train_s;
  GstClockTime latency;

  nerv_encoder_get_settings (self->core, &r);
  if (gs->group == 0 && r.epochs_key > 0)
    train *= (double) (r.epochs_delta + r.qat_epochs) /
        (r.epochs_key + r.qat_epochs);
  latency = self->group_latency + (GstClockTime) (1.25 * train * GST_SECOND);
  if (latency <= self->latency)
    return;
  GST_INFO_OBJECT (self, "latency %" GST_TIME_FORMAT " (a group and its "
      "training)", GST_TIME_ARGS (latency));
  self->latency = latency;
  gst_video_encoder_set_latency (GST_VIDEO_ENCODER (self), latency, latency);
}

static void
post_group_stats (GstNervEnc * self)
{
  NervGroupStats gs;
  if (!nerv_encoder_last_group (self->core, &gs))
    return;
  check_group_size (self, &gs);
  update_latency (self, &gs);
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

static void
set_tags (GstNervEnc * self, guint bitrate)
{
  GstTagList *tags = gst_tag_list_new (GST_TAG_ENCODER, "nervenc", NULL);
  if (bitrate)
    gst_tag_list_add (tags, GST_TAG_MERGE_REPLACE, GST_TAG_NOMINAL_BITRATE,
        bitrate * 1000, NULL);
  gst_video_encoder_merge_tags (GST_VIDEO_ENCODER (self), tags,
      GST_TAG_MERGE_REPLACE);
  gst_tag_list_unref (tags);
}

/* ---- vfuncs ----------------------------------------------------------- */

static gboolean
gst_nerv_enc_stop (GstVideoEncoder * encoder)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  free_core (self);
  g_clear_pointer (&self->input_state, gst_video_codec_state_unref);
  gst_caps_replace (&self->failed_caps, NULL);
  self->raw_bytes = self->coded_bytes = self->frames_coded = 0;
  self->t_start = 0;
  self->duration_group = -1;
  self->warned_size = self->warned_floor = FALSE;
  return TRUE;
}

/* The core stopped: by an interrupt (a flush or a state change) or by
 * the progress callback */
static GstFlowReturn
stopped_flow (GstNervEnc * self)
{
  if (nerv_encoder_aborted (self->core)) {
    GST_DEBUG_OBJECT (self, "training interrupted: group dropped");
    end_progress (self);
    return GST_FLOW_FLUSHING;
  }
  GST_ELEMENT_ERROR (self, LIBRARY, ENCODE, (NULL), ("training stopped"));
  return GST_FLOW_ERROR;
}

static GstFlowReturn
gst_nerv_enc_drain (GstNervEnc * self)
{
  if (!self->core)
    return GST_FLOW_OK;
  if (!nerv_encoder_finish (self->core))
    return stopped_flow (self);
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
  NervEncoderSettings resolved;

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

  /* a group is collected before anything comes out: the group size the
   * core chose */
  nerv_encoder_get_settings (self->core, &resolved);
  if (GST_VIDEO_INFO_FPS_N (info) > 0)
    latency = gst_util_uint64_scale (resolved.group_size * GST_SECOND,
        GST_VIDEO_INFO_FPS_D (info), GST_VIDEO_INFO_FPS_N (info));
  else
    latency = resolved.group_size * GST_SECOND / 25;
  self->group_latency = latency;
  self->latency = latency;
  gst_video_encoder_set_latency (encoder, latency, latency);

  set_tags (self, resolved.bitrate);
  return TRUE;
}

/* A bitrate set while playing: the core takes it from the next group */
static void
apply_bitrate (GstNervEnc * self)
{
  guint kbps;
  gboolean changed;

  GST_OBJECT_LOCK (self);
  changed = self->bitrate_changed;
  self->bitrate_changed = FALSE;
  kbps = self->settings.bitrate;
  GST_OBJECT_UNLOCK (self);
  if (!changed)
    return;
  if (nerv_encoder_set_bitrate (self->core, kbps)) {
    GST_INFO_OBJECT (self, "bitrate %u kbit/s from the next group", kbps);
    self->warned_floor = FALSE;
    set_tags (self, kbps);
  } else {
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("bitrate %u kbit/s takes effect at the next start (READY to "
            "PAUSED): this stream %s", kbps, kbps ?
            "codes with a fixed model size (params)" :
            "has a target rate, and a fixed model size is chosen when the "
            "encoder starts"), (NULL));
  }
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
  apply_bitrate (self);
  if (GST_VIDEO_CODEC_FRAME_IS_FORCE_KEYFRAME (frame)) {
    /* a key group starts at this frame; the frames before it are coded as
     * a shorter group */
    GstFlowReturn ret;
    GST_DEBUG_OBJECT (self, "key unit forced at frame %u (%d pending)",
        frame->system_frame_number, nerv_encoder_pending (self->core));
    if (!nerv_encoder_force_key (self->core)) {
      gst_video_codec_frame_unref (frame);
      return stopped_flow (self);
    }
    ret = push_coded (self);
    if (ret != GST_FLOW_OK) {
      gst_video_codec_frame_unref (frame);
      return ret;
    }
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
  if (!ok)
    return stopped_flow (self);
  return push_coded (self);
}

static GstFlowReturn
gst_nerv_enc_finish (GstVideoEncoder * encoder)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  GstFlowReturn ret = gst_nerv_enc_drain (self);

  /* an EOS sent to the element hurried the groups up to it */
  if (self->core)
    nerv_encoder_interrupt (self->core, NERV_INTERRUPT_NONE);
  return ret;
}

static gboolean
gst_nerv_enc_flush (GstVideoEncoder * encoder)
{
  GstNervEnc *self = GST_NERV_ENC (encoder);
  /* frames of an unfinished group are dropped; coding restarts with a key
   * group */
  end_progress (self);
  drop_core (self);
  if (self->input_state)
    return create_core (self);
  return TRUE;
}

static gboolean
gst_nerv_enc_sink_event (GstVideoEncoder * encoder, GstEvent * event)
{
  /* a flush does not wait for the group in training (it is dropped) */
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START)
    interrupt_core (GST_NERV_ENC (encoder), NERV_INTERRUPT_ABORT);
  return GST_VIDEO_ENCODER_CLASS (parent_class)->sink_event (encoder, event);
}

static gboolean
gst_nerv_enc_send_event (GstElement * element, GstEvent * event)
{
  /* an EOS sent to the element (by the application, from another thread):
   * the group in training is coded with what it has learnt, so that the
   * EOS, which waits for it, gets in within about a second */
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS)
    interrupt_core (GST_NERV_ENC (element), NERV_INTERRUPT_FINISH);
  return GST_ELEMENT_CLASS (parent_class)->send_event (element, event);
}

static GstStateChangeReturn
gst_nerv_enc_change_state (GstElement * element, GstStateChange transition)
{
  /* the streaming thread stops before the pads deactivate: the group in
   * training is dropped at once */
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    interrupt_core (GST_NERV_ENC (element), NERV_INTERRUPT_ABORT);
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
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
  NervEncoderSettings defaults;

  gobject_class->set_property = gst_nerv_enc_set_property;
  gobject_class->get_property = gst_nerv_enc_get_property;

  nerv_encoder_settings_init (&defaults);
  for (guint id = 0; id < N_PROPS; id++) {
    const NervSettingInfo *info;
    if (!setting_props[id].name)
      continue;
    info = nerv_setting_info (setting_props[id].setting);
    /* bitrate applies from the next group; the others at the next start */
    g_object_class_install_property (gobject_class, id,
        g_param_spec_uint (setting_props[id].name, setting_props[id].nick,
            info->blurb, (guint) info->min, (guint) info->max,
            (guint) info->def, id == PROP_BITRATE ? (flags &
                ~GST_PARAM_MUTABLE_READY) | GST_PARAM_MUTABLE_PLAYING :
            flags));
  }
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_enum ("model", "Model", "Kind of network",
          GST_TYPE_NERV_ENC_MODEL, defaults.kind, flags));
  g_object_class_install_property (gobject_class, PROP_SPEED_PRESET,
      g_param_spec_enum ("speed-preset", "Speed preset",
          "Training effort: epochs from scratch and per later group",
          GST_TYPE_NERV_ENC_PRESET, NERV_PRESET_DEFAULT, flags));
  g_object_class_install_property (gobject_class, PROP_EPOCHS,
      g_param_spec_uint ("epochs", "Epochs",
          "Epochs of the first group (later groups: a fifth); 0: from speed-preset",
          0, (guint) nerv_setting_info (NERV_SETTING_EPOCHS_KEY)->max, 0,
          flags));

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
  venc_class->sink_event = GST_DEBUG_FUNCPTR (gst_nerv_enc_sink_event);
  element_class->send_event = GST_DEBUG_FUNCPTR (gst_nerv_enc_send_event);
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_nerv_enc_change_state);
  venc_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_nerv_enc_propose_allocation);

  GST_DEBUG_CATEGORY_INIT (gst_nerv_enc_debug, "nervenc", 0, "nervenc");
  gst_type_mark_as_plugin_api (GST_TYPE_NERV_ENC_MODEL, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NERV_ENC_PRESET, 0);
}
