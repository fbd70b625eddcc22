/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoder codes a group in the steps encode_group() lists: model,
 * training, steps, fine-tune, integers, packets, measurement, rate model.
 * What a group may spend is the rate control's (nerv-ratecontrol.c); the
 * group packet's syntax is nerv-syntax.c's, the packets' nerv-bitstream.c's.
 * The decoder reads packets with the same modules and reconstructs.
 */
#include "nerv-codec.h"
#include "nerv-gridtrain.h"
#include "nerv-latent.h"
#include "nerv-motion.h"
#include "nerv-ratecontrol.h"
#include "nerv-syntax.h"

#include <math.h>
#include <string.h>

/* a frame packet as the encoder writes it */
#define FRAME_PACKET_BITS (8 * NERV_FRAME_PACKET_SIZE)
/* a key group that overshoots its share coarsens every weight step by up
 * to this many eighths of an octave (x2) before its fine-tune */
#define MAX_COARSEN 8


/* ---- shared: dequantised frame planes from the network output ------- */

static void
output_to_u8 (const NervDsp * dsp, const NervFrameFormat * fmt,
    const float *out, int ow, int oh, float *tmp, guint8 * dst)
{
  nerv_frame_from_output (fmt, out, ow, oh, tmp);
  dsp->f32_to_u8 (dst, tmp, (int) nerv_frame_format_frame_size (fmt));
}

/* ---- encoder ---------------------------------------------------------- */

struct _NervEncoder {
  NervEncoderSettings s;
  NervFrameFormat ffmt;
  NervPool *pool;
  NervScratch *scratch;
  NervModelConfig cfg;
  NervModel *model;
  NervQuant *quant;
  gint32 *ints, *prev_ints;
  gboolean have_prev;           /* prev_ints hold the last group's integers */
  NervGroupPayload payload;     /* the group packet's syntax elements; its
                                 * embedding integers are the group's */
  NervClip *clip;               /* the group being collected */
  int n_buffered;
  guint64 group_first;
  guint32 group_index;
  int groups_since_key;
  GQueue out;
  NervGroupStats last;
  gboolean have_last;
  float *prev_embed;            /* the last group's (dequantised) embeddings */
  int prev_embed_frames;
  NervRateControl rc;           /* bitrate set */
  gboolean stopped;
  gint interrupt;               /* NervInterrupt, set from any thread */
  /* kind 2 (the latent grids) */
  float *gparams;               /* the network as the decoder rebuilds it */
  gint32 *lat_prev;             /* the decoder's latents of the last frame */
  float *src_prev;              /* that frame's luma, as it came in */
  NervGridSynth *gsynth;        /* the decoder's synthesis (measurement) */
  float lambda;
  double bits_calib;            /* coded latent bits / training's estimate */
};

/* The model: the rate control's for the key period from the next frame,
 * or the one of the settings' size */
static gboolean
pick_config (NervEncoder * enc, GError ** error)
{
  const NervEncoderSettings *s = &enc->s;

  if (s->kind == NERV_MODEL_GRID) {
    nerv_grid_config_default (&enc->cfg, s->width, s->height,
        enc->ffmt.n_planes, enc->ffmt.n_planes > 1 && enc->ffmt.sub_x[1]);
    return nerv_model_config_validate (&enc->cfg, error);
  }

  if (s->bitrate > 0)
    return nerv_rate_control_pick_model (&enc->rc, enc->group_first,
        &enc->cfg, error);
  if (s->params == 0) {
    /* the picture's default, or the smallest model there is when that is
     * below it (within a quarter) */
    for (size_t b = nerv_default_params (s->width, s->height);
        b < NERV_MAX_PARAMS; b += b / 4 + 1)
      if (nerv_model_config_for_budget (&enc->cfg, s->kind, s->width,
              s->height, enc->ffmt.n_planes, b, NULL))
        return TRUE;
    return nerv_model_config_for_budget (&enc->cfg, s->kind, s->width,
        s->height, enc->ffmt.n_planes, NERV_MAX_PARAMS, error);
  }
  if (!nerv_model_config_for_budget (&enc->cfg, s->kind, s->width,
          s->height, enc->ffmt.n_planes, s->params, error))
    return FALSE;
  if (s->params > nerv_model_config_n_params (&enc->cfg)) {
    /* the budget search stops at the largest shape the limits allow */
    NervModelConfig max;
    if (nerv_model_config_for_budget (&max, s->kind, s->width, s->height,
            enc->ffmt.n_planes, NERV_MAX_PARAMS, NULL)
        && s->params > nerv_model_config_n_params (&max)) {
      g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
          "params %zu is too large for %dx%d: at most %zu", s->params,
          s->width, s->height, nerv_model_config_n_params (&max));
      return FALSE;
    }
  }
  return TRUE;
}

NervEncoder *
nerv_encoder_new (const NervEncoderSettings * s, GError ** error)
{
  NervEncoder *enc;

  if (!nerv_encoder_settings_check (s, error))
    return NULL;

  enc = g_new0 (NervEncoder, 1);
  enc->s = *s;
  nerv_pixel_format_frame_format (s->format, s->width, s->height, &enc->ffmt);
  nerv_rate_control_init (&enc->rc, s, enc->ffmt.n_planes);
  if (s->group_size == 0)
    enc->s.group_size = s->bitrate > 0 && s->kind != NERV_MODEL_GRID ?
        nerv_rate_control_pick_group_size (&enc->rc) : 8;
  if (s->key_frames > 0) {
    /* key groups at most key_frames apart */
    enc->s.group_size = MIN (enc->s.group_size, s->key_frames);
    enc->s.key_interval = MAX (1, s->key_frames / enc->s.group_size);
    enc->rc.group_size = enc->s.group_size;
    enc->rc.key_interval = enc->s.key_interval;
  }
  if (!pick_config (enc, error)) {
    g_free (enc);
    return NULL;
  }
  if (!nerv_group_embed_fits (&enc->cfg, enc->s.group_size)) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID,
        "%d frames of %zu embedding values exceed a group's %d", enc->s.group_size,
        nerv_model_config_embed_size (&enc->cfg), NERV_MAX_GROUP_EMBED);
    g_free (enc);
    return NULL;
  }
  enc->pool = nerv_pool_new (s->threads);
  enc->scratch = nerv_scratch_new (enc->pool, NULL);
  enc->clip = nerv_clip_new (&enc->ffmt, enc->s.group_size);
  g_queue_init (&enc->out);
  if (s->kind == NERV_MODEL_GRID) {
    enc->lambda = s->lambda > 0 ? s->lambda : s->bitrate > 0 ?
        nerv_rate_control_grid_lambda (&enc->rc) : NERV_GRID_DEFAULT_LAMBDA;
    enc->bits_calib = 1.0;
  }
  return enc;
}

static void
free_model (NervEncoder * enc)
{
  nerv_model_free (enc->model);
  nerv_quant_free (enc->quant);
  nerv_free (enc->ints);
  nerv_free (enc->prev_ints);
  enc->model = NULL;
  enc->quant = NULL;
  enc->ints = enc->prev_ints = NULL;
  enc->have_prev = FALSE;
  nerv_group_payload_clear (&enc->payload);
  nerv_free (enc->prev_embed);
  enc->prev_embed = NULL;
  nerv_free (enc->gparams);
  nerv_free (enc->lat_prev);
  nerv_free (enc->src_prev);
  enc->src_prev = NULL;
  nerv_grid_synth_free (enc->gsynth);
  enc->gparams = NULL;
  enc->lat_prev = NULL;
  enc->gsynth = NULL;
}

void
nerv_encoder_free (NervEncoder * enc)
{
  NervEncodedFrame *f;
  if (!enc)
    return;
  while ((f = g_queue_pop_head (&enc->out))) {
    nerv_encoded_frame_clear (f);
    g_free (f);
  }
  free_model (enc);
  nerv_free (enc->prev_embed);
  nerv_clip_free (enc->clip);
  nerv_scratch_free (enc->scratch);
  nerv_pool_free (enc->pool);
  g_free (enc);
}

void
nerv_encoder_get_settings (NervEncoder * enc, NervEncoderSettings * out)
{
  *out = enc->s;
  out->params = nerv_model_config_n_params (&enc->cfg);
  if (out->lr <= 0)
    out->lr = nerv_default_lr (out->params);
  if (out->embed_lr <= 0)
    out->embed_lr = nerv_default_embed_lr (out->params);
}

const NervModelConfig *
nerv_encoder_model (NervEncoder * enc)
{
  return &enc->cfg;
}

const float *
nerv_encoder_params (NervEncoder * enc, size_t * n)
{
  if (enc->have_last && enc->gparams) {
    *n = nerv_model_config_n_params (&enc->cfg);
    return enc->gparams;
  }
  if (!enc->have_last || !enc->model)
    return NULL;
  return nerv_model_params (enc->model, n);
}

int
nerv_encoder_pending (NervEncoder * enc)
{
  return enc->n_buffered;
}

void
nerv_encoder_interrupt (NervEncoder * enc, NervInterrupt how)
{
  /* an abort is final */
  if (g_atomic_int_get (&enc->interrupt) != NERV_INTERRUPT_ABORT)
    g_atomic_int_set (&enc->interrupt, how);
}

gboolean
nerv_encoder_aborted (NervEncoder * enc)
{
  return g_atomic_int_get (&enc->interrupt) == NERV_INTERRUPT_ABORT;
}

/* training stopped by NERV_INTERRUPT_FINISH: the group is coded as it is */
static gboolean
finishing (NervEncoder * enc)
{
  return !enc->stopped
      && g_atomic_int_get (&enc->interrupt) == NERV_INTERRUPT_FINISH;
}

gboolean
nerv_encoder_set_bitrate (NervEncoder * enc, guint kbps)
{
  const NervEncoderSettings *s = &enc->s;
  const double fps = s->fps_n && s->fps_d ? (double) s->fps_n / s->fps_d : 25.0;
  const double fb = kbps * 1000.0 / fps;
  NervRateControl *rc = &enc->rc;

  if (s->bitrate == 0 || kbps == 0)
    return FALSE;
  if (rc->groups_left > 0) {
    /* the rest of the key period at the new rate */
    const double frames = (double) rc->groups_left * s->group_size;
    rc->period_left = MAX (0.25 * fb * frames, rc->period_left +
        (fb - rc->frame_bits) * frames);
  }
  rc->frame_bits = fb;
  enc->s.bitrate = kbps;
  return TRUE;
}

/* ---- encoding a group: the steps of encode_group() -------------------- */

/* One group on its way from frames to packets */
typedef struct {
  NervEncoder *enc;
  int n;                        /* frames */
  gboolean key;                 /* weights coded whole, stream header first */
  gboolean from_scratch;        /* a new model: trained from the seed */
  size_t np, esize;             /* parameters; embedding values a frame */
  float *params;
  NervClip view;                /* the first n frames of the group buffer */
  NervTrainParams tp;
  NervTrainer *tr;
  NervGridTrainer *gtr;         /* kind 2 */
  gboolean steps_chosen;        /* kind 2: the key group's steps */
  int *mv;                      /* kind 2: each frame's motion [n][2] */
  gboolean quantising;          /* in the quantisation-aware fine-tune */
  /* fitting the rate */
  double allowance;             /* the bits it may spend (bitrate set) */
  int coarsen;                  /* key group: steps coarser by this many
                                 * eighths of an octave */
  int *base_exp;                /* key group: the steps before coarsening */
  float deadzone;               /* residual group: the dead zone used */
  /* what it came to */
  size_t bits, weight_bits, embed_bits;
  double sq[NERV_MAX_PLANES];   /* plane MSEs of the decoded frames */
  gint64 t0;
} GroupJob;

static gboolean
train_progress (const NervTrainProgress * p, gpointer data)
{
  GroupJob *g = data;
  NervEncoder *enc = g->enc;
  NervEncoderProgress ep;
  ep.group = (int) enc->group_index;
  ep.key = g->key;
  ep.quantising = g->quantising;
  ep.train = p;
  ep.params = &g->tp;
  if (enc->s.progress && !enc->s.progress (&ep, enc->s.user_data)) {
    enc->stopped = TRUE;
    return FALSE;
  }
  switch (g_atomic_int_get (&enc->interrupt)) {
    case NERV_INTERRUPT_ABORT:
      enc->stopped = TRUE;
      return FALSE;
    case NERV_INTERRUPT_FINISH:
      return FALSE;
    default:
      return TRUE;
  }
}

static void
fake_quant (float *params, gpointer data)
{
  nerv_quant_fake (data, params);
}

static void
push_unit (NervEncoder * enc, guint64 frame, gboolean start, gboolean key,
    GByteArray * bytes)
{
  NervEncodedFrame *f = g_new0 (NervEncodedFrame, 1);
  f->frame = frame;
  f->group_start = start;
  f->key = key;
  f->data = g_byte_array_free_to_bytes (bytes);
  g_queue_push_tail (&enc->out, f);
}

/* The group packet's payload with the integers as they are now: the
 * weights whole (key group) or as changes from the last group's, and the
 * embeddings quant_embeddings() left. Returns the bytes before the
 * embeddings. */
static size_t
code_group_body (NervEncoder * enc, gboolean key, int n, GByteArray * body)
{
  NervGroupPayload *p = &enc->payload;
  const NervGroupHeader gh = { enc->group_index, key, n, enc->group_first,
    NULL, 0
  };

  p->header = gh;
  if (key) {
    memcpy (p->row_exp, enc->quant->row_exp, sizeof (int) * p->n_rows);
    memcpy (p->ints, enc->ints, sizeof (gint32) * p->n_params);
  } else {
    for (size_t i = 0; i < p->n_params; i++)
      p->ints[i] = enc->ints[i] - enc->prev_ints[i];
  }
  return nerv_group_payload_write (p, body);
}

static void
write_stream_header (NervEncoder * enc, GByteArray * hb)
{
  const NervEncoderSettings *s = &enc->s;
  NervStreamHeader h;
  memset (&h, 0, sizeof (h));
  h.fps_n = s->fps_n;
  h.fps_d = s->fps_d;
  h.format = s->format;
  h.model = enc->cfg;
  h.group_size = s->group_size;
  h.key_interval = s->key_interval;
  h.weight_bits = enc->quant->weight_bits;
  h.embed_bits = s->embed_bits;
  nerv_stream_header_write (&h, hb);
}

/* All the bits of the group with the integers as they are now */
static double
trial_bits (NervEncoder * enc, gboolean key, int n)
{
  GByteArray *b = g_byte_array_new ();
  double bits;
  code_group_body (enc, key, n, b);
  bits = 8.0 * (b->len + NERV_PACKET_OVERHEAD) + (double) n * FRAME_PACKET_BITS;
  if (key) {
    g_byte_array_set_size (b, 0);
    write_stream_header (enc, b);
    bits += 8.0 * (b->len + NERV_PACKET_OVERHEAD);
  }
  g_byte_array_free (b, TRUE);
  return bits;
}

/* Quantises the trainer's embeddings (per frame, as the fine-tune does)
 * into the group payload, and picks their coding mode; with dequant,
 * writes the dequantised values back. */
static void
quant_embeddings (NervEncoder * enc, NervTrainer * tr, int n, gboolean dequant)
{
  NervGroupPayload *p = &enc->payload;
  const size_t esize = p->embed_size;
  float *e = nerv_trainer_embeddings (tr);
  for (int f = 0; f < n; f++) {
    p->embed_exp[f] = nerv_quant_vector (e + esize * f, esize,
        enc->s.embed_bits, p->embed_ints + esize * f);
    if (dequant)
      nerv_dequant_vector (p->embed_ints + esize * f, esize, p->embed_exp[f],
          e + esize * f);
  }
  p->embed_mode = nerv_embed_choose_mode (p->embed_ints, p->embed_exp, n,
      esize, enc->s.embed_bits);
}

/* Key groups over their share: every weight step coarser by d eighths of
 * an octave, from d0 up, the first d that fits (else MAX_COARSEN). The
 * steps are left at it; *bits (if not NULL) gets the group's bits. */
static int
coarsen_key_steps (NervEncoder * enc, const int *base_exp, int d0, int n,
    const float *params, double allowance, double *bits)
{
  NervQuant *q = enc->quant;
  double b = 0;
  int d;
  for (d = d0; d <= MAX_COARSEN; d++) {
    for (int r = 0; r < q->n_rows; r++)
      q->row_exp[r] = MIN (base_exp[r] + d, NERV_QUANT_EXP_MAX);
    nerv_quant_apply (q, params, enc->ints, 0);
    b = trial_bits (enc, TRUE, n);
    if (b <= allowance || d == MAX_COARSEN)
      break;
  }
  if (bits)
    *bits = b;
  return d;
}

/* Key group steps that fit the allowance: the chosen ones made coarser
 * (coarsen_key_steps); or, when they leave more than a few per cent
 * unspent, the finest steps of one more weight bit (an octave finer)
 * that fit. Returns the eighths of an octave relative to the steps of
 * the setting's bits (negative: finer); *base_exp gets the steps before
 * coarsening. */
static int
fit_key_steps (NervEncoder * enc, const float *params, int n,
    double allowance, int **base_exp)
{
  NervQuant *q = enc->quant;
  double bits;
  int d;

  *base_exp = g_memdup2 (q->row_exp, sizeof (int) * q->n_rows);
  d = coarsen_key_steps (enc, *base_exp, 0, n, params, allowance, &bits);
  /* only for a group no residual group builds on: those would code
   * their changes on the finer steps too, at a cost not foreseen */
  if (d > 0 || bits > 0.97 * allowance || q->weight_bits >= 16
      || enc->rc.groups_left > 1)
    return d;
  q->weight_bits++;
  nerv_quant_choose_steps (q, params);
  memcpy (*base_exp, q->row_exp, sizeof (int) * q->n_rows);
  d = coarsen_key_steps (enc, *base_exp, 0, n, params, allowance, NULL);
  return d - 8;
}

/* A new model's state: weights, steps, integers, the group payload */
static void
new_model (NervEncoder * enc)
{
  const NervModelConfig *cfg = &enc->cfg;
  const size_t np = nerv_model_config_n_params (cfg);

  enc->model = nerv_model_new (cfg, enc->scratch);
  enc->quant = nerv_quant_new (cfg, enc->s.weight_bits);
  enc->ints = nerv_alloc_ints (np);
  enc->prev_ints = nerv_alloc_ints (np);
  if (!nerv_group_payload_init (&enc->payload, cfg, enc->s.group_size,
          enc->s.embed_bits))
    g_error ("no memory for a group of %d frames", enc->s.group_size);
}

/* 1. Whether it is a key group, and its model: at a key group the rate
 * control may pick another one, which then trains from the seed */
static void
begin_group (NervEncoder * enc, GroupJob * g)
{
  const NervEncoderSettings *s = &enc->s;

  memset (g, 0, sizeof (*g));
  g->enc = enc;
  g->t0 = g_get_monotonic_time ();
  g->n = enc->n_buffered;
  g->key = enc->groups_since_key == 0 || !enc->have_prev || s->from_scratch;
  if (g->key && s->bitrate > 0) {
    NervModelConfig old = enc->cfg;
    if (!pick_config (enc, NULL)
        || !nerv_group_embed_fits (&enc->cfg, s->group_size))
      enc->cfg = old;
    if (enc->model && memcmp (&old, &enc->cfg, sizeof (old)))
      free_model (enc);
  }
  if (s->from_scratch && enc->model)
    free_model (enc);
  g->from_scratch = enc->model == NULL;
  if (g->from_scratch)
    new_model (enc);
  g->params = nerv_model_params (enc->model, &g->np);
  g->esize = nerv_model_config_embed_size (&enc->cfg);
  g->deadzone = s->deadzone;
  g->view = *enc->clip;
  g->view.n_frames = g->n;
}

/* The embeddings training starts from */
static void
init_embeddings (NervEncoder * enc, GroupJob * g)
{
  const size_t esize = g->esize;
  float *e = nerv_trainer_embeddings (g->tr);

  if (!esize)
    return;
  if (!g->from_scratch && enc->prev_embed) {
    /* neighbouring frames look alike: the last group's embeddings, frame
     * for frame */
    for (int f = 0; f < g->n; f++)
      memcpy (e + esize * f, enc->prev_embed + esize * MIN (f,
              enc->prev_embed_frames - 1), sizeof (float) * esize);
  } else if (g->from_scratch) {
    /* every frame starts from the same random embedding: frames that look
     * alike end up with embeddings alike, which the group packet codes as
     * differences (tears 44 kbit/s: 30 % fewer embedding bits, +0.6 dB) */
    for (int f = 1; f < g->n; f++)
      memcpy (e + esize * f, e, sizeof (float) * esize);
  }
}

/* 2. Training: a new model from the seed for epochs_key; every later group
 * from the weights the decoder holds, for epochs_delta */
static gboolean
train_group (NervEncoder * enc, GroupJob * g)
{
  const NervEncoderSettings *s = &enc->s;
  NervTrainParams *tp = &g->tp;

  nerv_train_params_init (tp);
  tp->epochs = g->from_scratch ? s->epochs_key : s->epochs_delta;
  tp->lr = s->lr > 0 ? s->lr : nerv_default_lr (g->np);
  tp->embed_lr_scale = s->embed_lr > 0 ? s->embed_lr :
      nerv_default_embed_lr (g->np);
  if (!g->from_scratch) {
    /* the weights move little from the last group; the new frames'
     * embeddings still learn at their full rate */
    tp->lr *= s->delta_lr;
    tp->embed_lr_scale /= s->delta_lr;
  }
  tp->seed = s->seed + enc->group_index;
  tp->progress = train_progress;
  tp->user_data = g;
  g->tr = nerv_trainer_new (enc->model, &g->view, tp, !g->from_scratch);
  init_embeddings (enc, g);
  return nerv_trainer_run (g->tr);
}

/* 3. Quantisation steps: at a key group from the trained weights (the
 * residual groups keep them). With a bitrate, the group's allowance; a key
 * group over it gets coarser steps before the fine-tune, so that the
 * network adapts to them. */
static void
choose_steps (NervEncoder * enc, GroupJob * g)
{
  const NervEncoderSettings *s = &enc->s;

  if (g->key) {
    enc->quant->weight_bits = s->weight_bits;
    nerv_quant_choose_steps (enc->quant, g->params);
  }
  if (s->bitrate == 0)
    return;
  g->allowance = nerv_rate_control_allowance (&enc->rc, g->key, g->n, g->np,
      g->esize);
  if (g->key) {
    if (g->esize)
      quant_embeddings (enc, g->tr, g->n, FALSE);
    g->coarsen = fit_key_steps (enc, g->params, g->n, g->allowance,
        &g->base_exp);
  }
}

/* 4. The quantisation-aware fine-tune: quantised weights and embeddings in
 * the forward pass, at a tenth of the learning rate */
static gboolean
fine_tune (NervEncoder * enc, GroupJob * g)
{
  const NervEncoderSettings *s = &enc->s;

  if (s->qat_epochs <= 0)
    return TRUE;
  g->tp.epochs = s->qat_epochs;
  g->tp.lr *= 0.1f;
  g->tp.warmup = 0.0f;
  nerv_trainer_set_params (g->tr, &g->tp);
  nerv_trainer_set_fake_quant (g->tr, fake_quant, enc->quant, s->embed_bits);
  g->quantising = TRUE;
  return nerv_trainer_run (g->tr);
}

/* The fine-tune moved the weights: a key group that no longer fits its
 * allowance gets coarser steps, from where it was */
static void
refit_key_steps (NervEncoder * enc, GroupJob * g)
{
  const int extra = enc->quant->weight_bits > enc->s.weight_bits ? 8 : 0;

  if (g->coarsen + extra < MAX_COARSEN
      && trial_bits (enc, TRUE, g->n) > g->allowance)
    g->coarsen = coarsen_key_steps (enc, g->base_exp, g->coarsen + extra + 1,
        g->n, g->params, g->allowance, NULL) - extra;
}

/* Residual groups: the smallest dead zone from the setting up whose bits
 * fit the allowance. Up to 4 steps: beyond, quality falls faster than the
 * rate (docs/design.md) and the overshoot is left to the next period. */
static void
fit_dead_zone (NervEncoder * enc, GroupJob * g)
{
  static const float dz[] = { 0.75f, 1.0f, 1.25f, 1.5f, 2.0f, 3.0f, 4.0f };
  gint32 *plain = NULL;

  if (enc->s.bitrate > 0)
    plain = g_memdup2 (enc->ints, g->np * sizeof (gint32));
  nerv_quant_keep_small_changes (enc->quant, g->params, enc->prev_ints,
      enc->ints, g->deadzone);
  for (guint i = 0; plain && i < G_N_ELEMENTS (dz); i++) {
    if (trial_bits (enc, FALSE, g->n) <= g->allowance)
      break;
    if (dz[i] <= g->deadzone)
      continue;
    g->deadzone = dz[i];
    memcpy (enc->ints, plain, g->np * sizeof (gint32));
    nerv_quant_keep_small_changes (enc->quant, g->params, enc->prev_ints,
        enc->ints, g->deadzone);
  }
  g_free (plain);
}

/* 5. The integers: embeddings per frame as the fine-tune saw them, weights
 * on the steps, fitted to the allowance again; the weights are left as the
 * decoder will rebuild them */
static void
quantise_group (NervEncoder * enc, GroupJob * g)
{
  if (g->esize)
    quant_embeddings (enc, g->tr, g->n, TRUE);
  nerv_quant_apply (enc->quant, g->params, enc->ints, 0);
  if (g->key && g->base_exp)
    refit_key_steps (enc, g);
  else if (!g->key)
    fit_dead_zone (enc, g);
  nerv_quant_dequant (enc->quant, enc->ints, g->params);
}

/* 6. The packets of each frame: the first carries the stream header (key
 * group) and the group packet (weights, then embeddings) */
static void
write_packets (NervEncoder * enc, GroupJob * g)
{
  GByteArray *body = g_byte_array_new ();
  const size_t wbytes = code_group_body (enc, g->key, g->n, body);

  for (int f = 0; f < g->n; f++) {
    GByteArray *pkt = g_byte_array_new (), *fb = g_byte_array_new ();
    const NervFrameHeader fh = { enc->group_first + f, NULL, 0 };

    if (f == 0) {
      if (g->key) {
        GByteArray *hb = g_byte_array_new ();
        write_stream_header (enc, hb);
        nerv_packet_write (pkt, NERV_PACKET_STREAM, hb->data, hb->len);
        g_byte_array_free (hb, TRUE);
      }
      nerv_packet_write (pkt, NERV_PACKET_GROUP, body->data, body->len);
      /* the headers and the weights; the rest is the embeddings */
      g->embed_bits = 8 * (body->len - wbytes);
      g->weight_bits = 8 * pkt->len - g->embed_bits;
    }
    nerv_frame_header_write (&fh, fb);
    nerv_packet_write (pkt, NERV_PACKET_FRAME, fb->data, fb->len);
    g_byte_array_free (fb, TRUE);
    g->bits += 8 * (size_t) pkt->len;
    push_unit (enc, enc->group_first + f, f == 0, g->key && f == 0, pkt);
  }
  g_byte_array_free (body, TRUE);
}

/* 7. Each frame as the decoder will show it, against the input */
static void
measure_group (NervEncoder * enc, GroupJob * g)
{
  const NervModelConfig *cfg = &enc->cfg;
  float *tmp = nerv_alloc_floats (enc->clip->frame_size);
  guint8 *u8 = g_malloc (enc->clip->frame_size);

  for (int f = 0; f < g->n; f++) {
    const float *embed = g->esize ? nerv_trainer_embeddings (g->tr) +
        g->esize * f : NULL;
    const float *ref = enc->clip->data + enc->clip->frame_size * f;
    const float *out = nerv_model_forward (enc->model, embed,
        (float) f / g->n);

    double fmse[NERV_MAX_PLANES];

    output_to_u8 (nerv_dsp_get (), &enc->ffmt, out,
        nerv_model_config_out_width (cfg), nerv_model_config_out_height (cfg),
        tmp, u8);
    nerv_frame_mse (&enc->ffmt, u8, NERV_SAMPLES_U8, ref, NERV_SAMPLES_F32,
        fmse);
    for (int c = 0; c < enc->ffmt.n_planes; c++)
      g->sq[c] += fmse[c] / g->n;
  }
  g_free (u8);
  nerv_free (tmp);
}

/* 8. What the next group starts from, the stats and the rate model */
static void
end_group (NervEncoder * enc, GroupJob * g)
{
  const NervEncoderSettings *s = &enc->s;
  NervGroupStats *st = &enc->last;

  memcpy (enc->prev_ints, enc->ints, g->np * sizeof (gint32));
  enc->have_prev = TRUE;
  if (g->esize) {
    nerv_free (enc->prev_embed);
    enc->prev_embed = nerv_alloc_floats (g->esize * g->n);
    memcpy (enc->prev_embed, nerv_trainer_embeddings (g->tr),
        sizeof (float) * g->esize * g->n);
    enc->prev_embed_frames = g->n;
  }
  nerv_trainer_free (g->tr);
  g_free (g->base_exp);

  st->group = (int) enc->group_index;
  st->key = g->key;
  st->n_frames = g->n;
  st->bits = g->bits;
  st->weight_bits = g->weight_bits;
  st->embed_bits = g->embed_bits;
  st->coarsen = g->coarsen;
  st->deadzone = g->deadzone;
  st->psnr_y = nerv_psnr (g->sq[0]);
  st->psnr_yuv = nerv_psnr_weighted (&enc->ffmt, g->sq);
  st->train_s = (g_get_monotonic_time () - g->t0) / 1e6;
  st->params = g->np;
  enc->have_last = TRUE;
  if (s->bitrate > 0) {
    nerv_rate_control_update (&enc->rc, g->key, g->n, g->np, g->esize,
        g->bits, g->weight_bits, g->embed_bits);
    st->allowance = g->allowance;
    st->below_floor = enc->rc.at_floor && g->bits > g->allowance;
  }

  enc->group_first += g->n;
  enc->group_index++;
  enc->groups_since_key = (enc->groups_since_key + 1) % s->key_interval;
  enc->n_buffered = 0;
}

/* ---- encoding a group of the latent-grid model ------------------------ */

/* A new latent model: the network (its skip a Laplacian pyramid's
 * reconstruction on a latent step from lambda), steps, integers */
static void
new_grid_model (NervEncoder * enc)
{
  const NervModelConfig *cfg = &enc->cfg;
  const size_t np = nerv_model_config_n_params (cfg);
  const float step = CLAMP (sqrtf (enc->lambda), 2 / 255.0f, 64 / 255.0f);

  enc->gparams = nerv_alloc_floats (np);
  nerv_grid_init_params (cfg, enc->gparams, step, enc->s.seed);
  enc->quant = nerv_quant_new (cfg, enc->s.weight_bits);
  enc->ints = nerv_alloc_ints (np);
  enc->prev_ints = nerv_alloc_ints (np);
  enc->lat_prev = nerv_alloc_ints (nerv_model_config_latent_size (cfg));
  enc->src_prev = nerv_alloc_floats ((size_t) cfg->width * cfg->height);
  enc->gsynth = nerv_grid_synth_new (cfg, enc->scratch, FALSE);
  if (!nerv_group_payload_init (&enc->payload, cfg, enc->s.group_size,
          enc->s.embed_bits))
    g_error ("no memory for a group of %d frames", enc->s.group_size);
}

/* the ARM's rows on their fixed step */
static void
grid_arm_steps (NervEncoder * enc)
{
  for (int r = 0; r < enc->payload.arm_rows; r++)
    enc->quant->row_exp[r] = NERV_ARM_WEIGHT_EXP;
}

/* The weights in the hard phase: a key group's steps are chosen the first
 * time (from the weights then), the ARM's are fixed; fake-quantised in
 * place, the ARM's integers clamped as the coder has them */
static void
grid_fake_quant (float *params, gpointer data)
{
  GroupJob *g = data;
  NervEncoder *enc = g->enc;
  const size_t na = enc->payload.arm_params;
  const float lim = NERV_ARM_MAX_WEIGHT / (float) NERV_ARM_ONE;

  if (g->key && !g->steps_chosen) {
    enc->quant->weight_bits = enc->s.weight_bits;
    nerv_quant_choose_steps (enc->quant, params);
    grid_arm_steps (enc);
    g->steps_chosen = TRUE;
  }
  for (size_t i = 0; i < na; i++)
    params[i] = CLAMP (params[i], -lim, lim);
  nerv_quant_fake (enc->quant, params);
}

/* Bits of the latents go roughly as lambda^-0.6 at these sizes (tears and
 * city, 0.05-0.4 bpp): the exponent by which a rate miss corrects lambda */
#define GRID_RATE_ELASTICITY 0.6

/* lambda corrected for a rate miss (got bits where want were allowed),
 * at most a factor of 2 either way */
static float
grid_lambda_correct (float lambda, double got, double want)
{
  const double f = pow (got / MAX (want, 1.0), 1.0 / GRID_RATE_ELASTICITY);
  return (float) CLAMP (lambda * CLAMP (f, 0.5, 2.0), 1e-6, 1.0);
}

/* Training's progress. With a bitrate (and no lambda set), the first group
 * of a model corrects lambda at three checkpoints of its soft phase (15,
 * 30 and 45 % of the epochs) from training's estimate of its latents'
 * bits against their allowance; other groups keep the lambda they start
 * with. Correcting at every epoch compounds faster than the latents
 * follow: tears at 0.2 bpp went from lambda 2.5e-3 to 4.8e-5, 0.057 and
 * 1 in three groups. */
static gboolean
grid_progress (const NervTrainProgress * p, gpointer data)
{
  GroupJob *g = data;
  NervEncoder *enc = g->enc;
  const int e = p->epoch, E = p->n_epochs;

  if (enc->s.bitrate > 0 && enc->s.lambda <= 0 && g->from_scratch && E >= 10
      && (e == E * 15 / 100 || e == E * 30 / 100 || e == E * 45 / 100)) {
    const double est = nerv_grid_trainer_bits (g->gtr) * g->n * enc->bits_calib;
    enc->lambda = grid_lambda_correct (enc->lambda, est, g->allowance);
    nerv_grid_trainer_set_lambda (g->gtr, enc->lambda);
  }
  return train_progress (p, data);
}

/* 1-2. Key group or not, the model, and training: every frame's latents
 * start from the frame before (the first frame of the stream from its
 * Laplacian pyramid) */
static gboolean
train_group_grid (NervEncoder * enc, GroupJob * g)
{
  const NervEncoderSettings *s = &enc->s;
  const size_t S = nerv_model_config_latent_size (&enc->cfg);
  NervGridTrainParams tp;
  float *base = NULL, *init0 = NULL;
  gboolean ok;

  memset (g, 0, sizeof (*g));
  g->enc = enc;
  g->t0 = g_get_monotonic_time ();
  g->n = enc->n_buffered;
  g->key = enc->groups_since_key == 0 || !enc->have_prev || s->from_scratch;
  g->from_scratch = enc->gparams == NULL;
  if (g->from_scratch)
    new_grid_model (enc);
  g->params = enc->gparams;
  g->np = nerv_model_config_n_params (&enc->cfg);
  g->view = *enc->clip;
  g->view.n_frames = g->n;
  if (s->bitrate > 0)
    g->allowance = nerv_rate_control_grid_allowance (&enc->rc, g->n) -
        g->np * (g->key ? 7.0 : 2.5) - g->n * 8.0 * NERV_FRAME_PACKET_SIZE;

  init0 = nerv_alloc_floats (S);
  if (g->from_scratch) {
    nerv_grid_laplacian (&enc->cfg, &enc->ffmt, g->view.data,
        CLAMP (sqrtf (enc->lambda), 2 / 255.0f, 64 / 255.0f), init0);
  } else {
    for (size_t i = 0; i < S; i++)
      init0[i] = (float) enc->lat_prev[i];
  }
  if (!g->key) {
    base = init0;
    init0 = NULL;
  }
  nerv_grid_train_params_init (&tp);
  tp.epochs = g->from_scratch ? s->epochs_key : s->epochs_delta;
  if (!g->from_scratch)
    tp.lr *= s->delta_lr;
  tp.lambda = enc->lambda;
  tp.seed = s->seed + enc->group_index;
  tp.progress = grid_progress;
  tp.user_data = g;
  g->gtr = nerv_grid_trainer_new (&enc->cfg, enc->scratch, g->params,
      &g->view, base, init0, &tp);
  nerv_grid_trainer_set_fake_quant (g->gtr, grid_fake_quant, g);
  /* each frame's motion from the one before (luma as it came in) */
  g->mv = g_new0 (int, 2 * g->n);
  for (int f = g->key ? 1 : 0; f < g->n; f++) {
    const float *prev = f ? g->view.data + g->view.frame_size * (f - 1) :
        enc->src_prev;
    nerv_motion_global (prev, g->view.data + g->view.frame_size * f,
        enc->cfg.width, enc->cfg.height, 32, &g->mv[2 * f], &g->mv[2 * f + 1]);
    /* below a pixel the bilinear shift blurs the fine levels more than
     * it aligns them (tears: 0.5 dB worse with quarter-pixel vectors) */
    if (ABS (g->mv[2 * f]) < 4 && ABS (g->mv[2 * f + 1]) < 4)
      g->mv[2 * f] = g->mv[2 * f + 1] = 0;
  }
  nerv_grid_trainer_set_motion (g->gtr, g->mv);
  nerv_free (base);
  nerv_free (init0);
  ok = nerv_grid_trainer_run (g->gtr) || finishing (enc);
  if (ok && g->key && !g->steps_chosen)
    grid_fake_quant (g->params, g);     /* no hard phase: steps now */
  return ok;
}

/* 3. The weights' integers (the ARM's clamped) and, as the decoder will
 * rebuild them, the weights */
static void
quantise_grid (NervEncoder * enc, GroupJob * g)
{
  const size_t na = enc->payload.arm_params;

  nerv_quant_apply (enc->quant, g->params, enc->ints, 0);
  for (size_t i = 0; i < na; i++)
    enc->ints[i] = CLAMP (enc->ints[i], -NERV_ARM_MAX_WEIGHT,
        NERV_ARM_MAX_WEIGHT);
  nerv_quant_dequant (enc->quant, enc->ints, g->params);
}

/* 4-5. The packets: the group packet (weights) with the first frame, each
 * frame packet with its latents; each frame decoded as the decoder will,
 * and measured */
static void
write_packets_grid (NervEncoder * enc, GroupJob * g)
{
  const NervModelConfig *cfg = &enc->cfg;
  const size_t S = nerv_model_config_latent_size (cfg);
  NervGridLayout lay;
  NervLayerTable lt;
  NervArmInt arm;
  GByteArray *body = g_byte_array_new ();
  gint32 *t = nerv_alloc_ints (S), *pred = nerv_alloc_ints (S);
  float *latf = nerv_alloc_floats (S);
  float *tmp = nerv_alloc_floats (enc->clip->frame_size);
  guint8 *u8 = g_malloc (enc->clip->frame_size);

  nerv_grid_layout_init (&lay, cfg);
  nerv_model_layers (cfg, &lt);
  arm.wq = enc->ints;
  arm.arm_c = cfg->arm_c;
  arm.n_in = lt.layer[0].cin;
  code_group_body (enc, g->key, g->n, body);
  for (int f = 0; f < g->n; f++) {
    GByteArray *pkt = g_byte_array_new (), *fb = g_byte_array_new ();
    const NervFrameHeader fh = { enc->group_first + f, NULL, 0 };
    const gboolean intra = g->key && f == 0;
    const float *out;
    NervRangeEncoder rc;
    double fmse[NERV_MAX_PLANES];

    /* what frame f codes: its latents less their prediction (the frame
     * before's, shifted by the motion), within the latents' range */
    nerv_grid_trainer_coded (g->gtr, f, t);
    if (intra)
      memset (pred, 0, sizeof (gint32) * S);
    else
      nerv_grid_warp_int (&lay, enc->lat_prev, g->mv[2 * f], g->mv[2 * f + 1],
          pred);
    for (size_t i = 0; i < S; i++) {
      const gint32 y = CLAMP (pred[i] + t[i], -NERV_LATENT_MAX,
          NERV_LATENT_MAX);
      t[i] = y - pred[i];
      enc->lat_prev[i] = y;
      latf[i] = (float) y;
    }
    nerv_frame_header_write (&fh, fb);
    nerv_range_encoder_init (&rc, fb);
    if (!intra)
      nerv_motion_write (&rc, g->mv[2 * f], g->mv[2 * f + 1]);
    nerv_latents_encode (&rc, &lay, &arm, t, intra ? NULL : pred);
    nerv_range_encoder_finish (&rc);
    g->embed_bits += 8 * (fb->len - 8);

    if (f == 0) {
      if (g->key) {
        GByteArray *hb = g_byte_array_new ();
        write_stream_header (enc, hb);
        nerv_packet_write (pkt, NERV_PACKET_STREAM, hb->data, hb->len);
        g_byte_array_free (hb, TRUE);
      }
      nerv_packet_write (pkt, NERV_PACKET_GROUP, body->data, body->len);
      g->weight_bits = 8 * pkt->len;
    }
    nerv_packet_write (pkt, NERV_PACKET_FRAME, fb->data, fb->len);
    g_byte_array_free (fb, TRUE);
    g->bits += 8 * (size_t) pkt->len;
    push_unit (enc, enc->group_first + f, f == 0, intra, pkt);

    /* as the decoder shows it */
    out = nerv_grid_synth_forward (enc->gsynth, g->params, latf);
    output_to_u8 (nerv_dsp_get (), &enc->ffmt, out, cfg->width, cfg->height,
        tmp, u8);
    nerv_frame_mse (&enc->ffmt, u8, NERV_SAMPLES_U8,
        enc->clip->data + enc->clip->frame_size * f, NERV_SAMPLES_F32, fmse);
    for (int c = 0; c < enc->ffmt.n_planes; c++)
      g->sq[c] += fmse[c] / g->n;
  }
  g_byte_array_free (body, TRUE);
  /* the last frame's luma, for the next group's first motion */
  memcpy (enc->src_prev, enc->clip->data + enc->clip->frame_size * (g->n - 1),
      sizeof (float) * cfg->width * cfg->height);
  nerv_free (t);
  nerv_free (pred);
  nerv_free (latf);
  nerv_free (tmp);
  g_free (u8);
}

static gboolean
encode_group_grid (NervEncoder * enc)
{
  const NervEncoderSettings *s = &enc->s;
  NervGroupStats *st = &enc->last;
  GroupJob g;
  double est;

  if (!train_group_grid (enc, &g)) {
    nerv_grid_trainer_free (g.gtr);
    g_free (g.mv);
    return FALSE;
  }
  est = nerv_grid_trainer_bits (g.gtr) * g.n;
  quantise_grid (enc, &g);
  write_packets_grid (enc, &g);
  nerv_grid_trainer_free (g.gtr);
  g_free (g.mv);

  memcpy (enc->prev_ints, enc->ints, g.np * sizeof (gint32));
  enc->have_prev = TRUE;
  memset (st, 0, sizeof (*st));
  st->group = (int) enc->group_index;
  st->key = g.key;
  st->n_frames = g.n;
  st->bits = g.bits;
  st->weight_bits = g.weight_bits;
  st->embed_bits = g.embed_bits;
  st->psnr_y = nerv_psnr (g.sq[0]);
  st->psnr_yuv = nerv_psnr_weighted (&enc->ffmt, g.sq);
  st->train_s = (g_get_monotonic_time () - g.t0) / 1e6;
  st->params = g.np;
  st->lambda = enc->lambda;
  enc->have_last = TRUE;
  if (s->bitrate > 0) {
    const double allow = g.allowance + g.np * (g.key ? 7.0 : 2.5) +
        g.n * 8.0 * NERV_FRAME_PACKET_SIZE;
    if (est > 0)
      enc->bits_calib = CLAMP (0.5 * enc->bits_calib + 0.5 * g.embed_bits /
          est, 0.5, 2.0);
    st->allowance = allow;
    nerv_rate_control_grid_update (&enc->rc, g.n, g.bits);
    /* the next group starts from lambda corrected by this one's miss */
    if (s->lambda <= 0)
      enc->lambda = grid_lambda_correct (enc->lambda, g.bits, allow);
  }
  enc->group_first += g.n;
  enc->group_index++;
  enc->groups_since_key = (enc->groups_since_key + 1) % s->key_interval;
  enc->n_buffered = 0;
  return TRUE;
}

/* The frames collected so far, from training to packets */
static gboolean
encode_group (NervEncoder * enc)
{
  GroupJob g;

  if (enc->n_buffered == 0)
    return TRUE;
  if (enc->s.kind == NERV_MODEL_GRID)
    return encode_group_grid (enc);
  begin_group (enc, &g);
  if (!train_group (enc, &g) && !finishing (enc))
    goto stopped;
  choose_steps (enc, &g);
  if (!fine_tune (enc, &g) && !finishing (enc))
    goto stopped;
  quantise_group (enc, &g);
  write_packets (enc, &g);
  measure_group (enc, &g);
  end_group (enc, &g);
  return TRUE;

stopped:
  nerv_trainer_free (g.tr);
  g_free (g.base_exp);
  return FALSE;
}

gboolean
nerv_encoder_push_frame (NervEncoder * enc, const guint8 * const planes[3],
    const int strides[3])
{
  const NervDsp *dsp = nerv_dsp_get ();

  g_return_val_if_fail (enc->n_buffered < enc->s.group_size, FALSE);
  if (nerv_encoder_aborted (enc))
    enc->stopped = TRUE;
  if (enc->stopped)
    return FALSE;
  for (int c = 0; c < enc->ffmt.n_planes; c++) {
    const int pw = nerv_frame_format_plane_width (&enc->ffmt, c);
    const int ph = nerv_frame_format_plane_height (&enc->ffmt, c);
    float *dst = nerv_clip_plane (enc->clip, enc->n_buffered, c);
    for (int y = 0; y < ph; y++)
      dsp->u8_to_f32 (dst + (size_t) y * pw, planes[c] + (size_t) y * strides[c], pw);
  }
  enc->n_buffered++;
  if (enc->n_buffered == enc->s.group_size)
    return encode_group (enc);
  return TRUE;
}

gboolean
nerv_encoder_finish (NervEncoder * enc)
{
  if (nerv_encoder_aborted (enc))
    enc->stopped = TRUE;
  if (enc->stopped)
    return FALSE;
  return encode_group (enc);
}

gboolean
nerv_encoder_force_key (NervEncoder * enc)
{
  if (!nerv_encoder_finish (enc))
    return FALSE;
  enc->groups_since_key = 0;
  return TRUE;
}

gboolean
nerv_encoder_pop (NervEncoder * enc, NervEncodedFrame * out)
{
  NervEncodedFrame *f = g_queue_pop_head (&enc->out);
  if (!f)
    return FALSE;
  *out = *f;
  g_free (f);
  return TRUE;
}

void
nerv_encoded_frame_clear (NervEncodedFrame * f)
{
  g_clear_pointer (&f->data, g_bytes_unref);
}

gboolean
nerv_encoder_last_group (NervEncoder * enc, NervGroupStats * stats)
{
  if (!enc->have_last)
    return FALSE;
  *stats = enc->last;
  return TRUE;
}

/* ---- decoder ---------------------------------------------------------- */

struct _NervDecoder {
  int threads;
  NervPool *pool;
  NervScratch *scratch;
  gboolean have_header;
  NervStreamHeader header;
  NervFrameFormat ffmt;
  NervModel *model;
  NervQuant *quant;
  gint32 *ints;
  gboolean have_group;          /* the model holds a decodable group */
  NervGroupHeader group;
  NervGroupPayload payload;     /* the last group packet, as read */
  float *embed;                 /* the group's dequantised embeddings */
  size_t embed_cap;             /* frames they have room for */
  float *tmp;
  guint8 *frame;
  gboolean have_frame;
  NervDecodedFrame out;
  /* kind 2: the network, the latents of the frame before the next one */
  NervGridLayout lay;
  NervGridSynth *gsynth;
  float *gparams, *latf;
  gint32 *lat, *lat_prev, *pred;
  gboolean have_lat;            /* lat_prev is frame next_frame - 1's */
  guint64 next_frame;
};

NervDecoder *
nerv_decoder_new (int threads)
{
  NervDecoder *dec = g_new0 (NervDecoder, 1);
  dec->threads = threads;
  dec->pool = nerv_pool_new (threads);
  dec->scratch = nerv_scratch_new (dec->pool, NULL);
  return dec;
}

static void
decoder_free_model (NervDecoder * dec)
{
  nerv_model_free (dec->model);
  nerv_quant_free (dec->quant);
  nerv_free (dec->ints);
  nerv_free (dec->embed);
  nerv_group_payload_clear (&dec->payload);
  nerv_free (dec->tmp);
  g_free (dec->frame);
  nerv_grid_synth_free (dec->gsynth);
  nerv_free (dec->gparams);
  nerv_free (dec->latf);
  g_free (dec->lat);
  g_free (dec->lat_prev);
  g_free (dec->pred);
  dec->gsynth = NULL;
  dec->gparams = dec->latf = NULL;
  dec->lat = dec->lat_prev = dec->pred = NULL;
  dec->have_lat = FALSE;
  dec->model = NULL;
  dec->quant = NULL;
  dec->ints = NULL;
  dec->embed = NULL;
  dec->embed_cap = 0;
  dec->tmp = NULL;
  dec->frame = NULL;
  dec->have_group = FALSE;
}

void
nerv_decoder_free (NervDecoder * dec)
{
  if (!dec)
    return;
  decoder_free_model (dec);
  nerv_scratch_free (dec->scratch);
  nerv_pool_free (dec->pool);
  g_free (dec);
}

const NervStreamHeader *
nerv_decoder_header (NervDecoder * dec)
{
  return dec->have_header ? &dec->header : NULL;
}

const float *
nerv_decoder_params (NervDecoder * dec, size_t * n)
{
  if (!dec->have_group)
    return NULL;
  if (dec->gparams) {
    *n = nerv_model_config_n_params (&dec->header.model);
    return dec->gparams;
  }
  return nerv_model_params (dec->model, n);
}

void
nerv_decoder_lost_bytes (NervDecoder * dec)
{
  /* as after a packet whose CRC fails */
  dec->have_group = FALSE;
}

void
nerv_decoder_reset (NervDecoder * dec)
{
  dec->have_group = FALSE;
  dec->have_frame = FALSE;
  dec->have_lat = FALSE;
}

/* kind 2's state; FALSE when it does not fit in memory */
static gboolean
new_grid_decoder (NervDecoder * dec, const NervModelConfig * cfg)
{
  const size_t S = nerv_model_config_latent_size (cfg);
  nerv_grid_layout_init (&dec->lay, cfg);
  dec->gparams = nerv_alloc_floats (nerv_model_config_n_params (cfg));
  dec->lat = g_try_new (gint32, S);
  dec->lat_prev = g_try_new (gint32, S);
  dec->pred = g_try_new (gint32, S);
  dec->latf = nerv_alloc_floats_uninit (S);
  if (!dec->lat || !dec->lat_prev || !dec->pred)
    return FALSE;
  dec->gsynth = nerv_grid_synth_new (cfg, dec->scratch, FALSE);
  return TRUE;
}

static NervStatus
decode_stream_header (NervDecoder * dec, const NervPacket * pkt)
{
  NervStreamHeader h;
  NervStatus st = nerv_stream_header_parse (pkt->payload, pkt->size, &h);
  gboolean new_model, new_groups;

  if (st != NERV_OK)
    return st;
  new_model = !dec->have_header || memcmp (&h.model, &dec->header.model,
      sizeof (h.model)) || h.weight_bits != dec->header.weight_bits
      || h.format != dec->header.format;
  new_groups = new_model || h.group_size != dec->header.group_size
      || h.embed_bits != dec->header.embed_bits;
  if (new_model) {
    const NervModelConfig *cfg = &h.model;
    decoder_free_model (dec);
    if (cfg->kind == NERV_MODEL_GRID) {
      if (!new_grid_decoder (dec, cfg)) {
        decoder_free_model (dec);
        dec->have_header = FALSE;
        return NERV_ERR_INVALID;
      }
    } else {
      dec->model = nerv_model_new_inference (cfg, dec->scratch);
    }
    dec->quant = nerv_quant_new (cfg, h.weight_bits);
    dec->ints = nerv_alloc_ints (nerv_model_config_n_params (cfg));
    nerv_pixel_format_frame_format (h.format, cfg->width, cfg->height, &dec->ffmt);
    dec->tmp = nerv_alloc_floats (nerv_frame_format_frame_size (&dec->ffmt));
    dec->frame = g_malloc (nerv_frame_format_frame_size (&dec->ffmt));
  }
  if (new_groups && !nerv_group_payload_init (&dec->payload, &h.model,
          h.group_size, h.embed_bits)) {
    /* no memory for a group of this stream */
    decoder_free_model (dec);
    dec->have_header = FALSE;
    return NERV_ERR_INVALID;
  }
  dec->header = h;
  dec->have_header = TRUE;
  return NERV_OK;
}

/* The group's weights and embeddings from its payload: residuals added to
 * the integers held, then dequantised. */
static NervStatus
reconstruct_group (NervDecoder * dec)
{
  const NervGroupPayload *p = &dec->payload;
  const size_t esize = p->embed_size;
  const int n = p->header.n_frames;

  if (p->header.key) {
    memcpy (dec->quant->row_exp, p->row_exp, sizeof (int) * p->n_rows);
    memcpy (dec->ints, p->ints, sizeof (gint32) * p->n_params);
  } else {
    for (size_t i = 0; i < p->n_params; i++) {
      const gint64 x = (gint64) dec->ints[i] + p->ints[i];
      if (x < -NERV_MAX_WEIGHT_INT || x > NERV_MAX_WEIGHT_INT)
        return NERV_ERR_INVALID;
      dec->ints[i] = (gint32) x;
    }
  }
  for (size_t i = 0; i < p->arm_params; i++)
    if (dec->ints[i] < -NERV_ARM_MAX_WEIGHT || dec->ints[i] > NERV_ARM_MAX_WEIGHT)
      return NERV_ERR_INVALID;
  nerv_quant_dequant (dec->quant, dec->ints, dec->gparams ? dec->gparams :
      nerv_model_params (dec->model, NULL));
  if (esize && dec->embed_cap < (size_t) n) {
    nerv_free (dec->embed);
    dec->embed_cap = p->max_frames;
    dec->embed = nerv_alloc_floats (esize * dec->embed_cap);
  }
  for (int f = 0; esize && f < n; f++)
    nerv_dequant_vector (p->embed_ints + esize * f, esize, p->embed_exp[f],
        dec->embed + esize * f);
  return NERV_OK;
}

static NervStatus
decode_group (NervDecoder * dec, const NervPacket * pkt)
{
  const NervGroupHeader *g = &dec->payload.header;
  NervStatus st;

  if (!dec->have_header)
    return NERV_ERR_NO_HEADER;
  st = nerv_group_payload_read_header (&dec->payload, pkt->payload, pkt->size);
  /* a residual group continues the one before it; if that was lost,
   * the integers it adds to are not the encoder's */
  if (st == NERV_OK && !g->key && (!dec->have_group
          || g->index != dec->group.index + 1
          || g->first_frame != dec->group.first_frame + dec->group.n_frames))
    st = NERV_ERR_NO_KEY;
  if (st == NERV_OK)
    st = nerv_group_payload_read_body (&dec->payload);
  /* kind 2: a residual group's first frame codes its change from the
   * frame before it, which must be the last one decoded */
  if (st == NERV_OK && dec->gparams && !g->key
      && (!dec->have_lat || dec->next_frame != g->first_frame))
    st = NERV_ERR_NO_KEY;
  if (st == NERV_OK)
    st = reconstruct_group (dec);
  if (st != NERV_OK) {
    /* what follows depends on this group: wait for the next key group */
    dec->have_group = FALSE;
    dec->have_lat = FALSE;
    return st;
  }
  if (g->key)
    dec->have_lat = FALSE;
  dec->group = *g;
  dec->group.body = NULL;
  dec->group.body_size = 0;
  dec->have_group = TRUE;
  return NERV_OK;
}

/* Kind 2: the frame's latents, intra or as the change from the frame
 * before (the chain must not have a gap); into latf for the synthesis */
static NervStatus
decode_latents (NervDecoder * dec, const NervFrameHeader * f, gboolean intra)
{
  const NervModelConfig *cfg = &dec->header.model;
  const size_t S = dec->lay.size;
  NervLayerTable lt;
  NervArmInt arm;
  NervRangeDecoder rc;
  gint32 *t;

  if (!intra && (!dec->have_lat || f->frame != dec->next_frame))
    return NERV_ERR_NO_KEY;
  nerv_model_layers (cfg, &lt);
  arm.wq = dec->ints;
  arm.arm_c = cfg->arm_c;
  arm.n_in = lt.layer[0].cin;
  nerv_range_decoder_init (&rc, f->body, f->body_size);
  t = dec->lat;
  if (!intra) {
    /* the prediction: the frame before shifted by the motion */
    int mvx, mvy;
    if (!nerv_motion_read (&rc, &mvx, &mvy)) {
      dec->have_lat = FALSE;
      dec->have_group = FALSE;
      return rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
    }
    nerv_grid_warp_int (&dec->lay, dec->lat_prev, mvx, mvy, dec->pred);
  }
  if (!nerv_latents_decode (&rc, &dec->lay, &arm, t, intra ? NULL :
          dec->pred) || !nerv_range_decoder_ok (&rc)
      || nerv_range_decoder_consumed (&rc) != f->body_size) {
    /* the chain is broken until the next key group */
    dec->have_lat = FALSE;
    dec->have_group = FALSE;
    return rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
  }
  for (size_t i = 0; i < S; i++) {
    const gint32 y = intra ? t[i] : dec->pred[i] + t[i];
    if (y < -NERV_LATENT_MAX || y > NERV_LATENT_MAX) {
      dec->have_lat = FALSE;
      dec->have_group = FALSE;
      return NERV_ERR_INVALID;
    }
    t[i] = y;
    dec->latf[i] = (float) y;
  }
  dec->lat = dec->lat_prev;
  dec->lat_prev = t;
  dec->have_lat = TRUE;
  dec->next_frame = f->frame + 1;
  return NERV_OK;
}

static NervStatus
decode_frame (NervDecoder * dec, const NervPacket * pkt)
{
  NervFrameHeader f;
  NervStatus st;
  const NervModelConfig *cfg;
  size_t esize;
  int index;
  const float *out;

  if (!dec->have_header)
    return NERV_ERR_NO_HEADER;
  if (!dec->have_group)
    return NERV_ERR_NO_KEY;
  st = nerv_frame_header_parse (pkt->payload, pkt->size, &f);
  if (st != NERV_OK)
    return st;
  /* a frame of another group (one that was lost) would decode with the
   * wrong weights */
  if (f.frame < dec->group.first_frame
      || f.frame - dec->group.first_frame >= (guint64) dec->group.n_frames)
    return NERV_ERR_NO_KEY;
  index = (int) (f.frame - dec->group.first_frame);
  cfg = &dec->header.model;
  if (dec->gparams) {
    st = decode_latents (dec, &f, dec->group.key && index == 0);
    if (st != NERV_OK)
      return st;
    out = nerv_grid_synth_forward (dec->gsynth, dec->gparams, dec->latf);
  } else {
    esize = nerv_model_config_embed_size (cfg);
    out = nerv_model_forward (dec->model, esize ? dec->embed + esize * index :
        NULL, (float) index / dec->group.n_frames);
  }
  output_to_u8 (nerv_dsp_get (), &dec->ffmt, out,
      nerv_model_config_out_width (cfg), nerv_model_config_out_height (cfg),
      dec->tmp, dec->frame);

  memset (&dec->out, 0, sizeof (dec->out));
  dec->out.frame = f.frame;
  dec->out.format = dec->header.format;
  dec->out.width = cfg->width;
  dec->out.height = cfg->height;
  dec->out.n_planes = dec->ffmt.n_planes;
  dec->out.key = dec->group.key && index == 0;
  for (int c = 0, off = 0; c < dec->ffmt.n_planes; c++) {
    dec->out.planes[c] = dec->frame + off;
    dec->out.strides[c] = nerv_frame_format_plane_width (&dec->ffmt, c);
    off += dec->out.strides[c] * nerv_frame_format_plane_height (&dec->ffmt, c);
  }
  dec->have_frame = TRUE;
  return NERV_OK;
}

NervStatus
nerv_decoder_decode (NervDecoder * dec, const guint8 * data, size_t size,
    size_t * consumed)
{
  NervPacket pkt;
  NervStatus st;

  dec->have_frame = FALSE;
  st = nerv_packet_parse (data, size, &pkt, consumed);
  if (st == NERV_ERR_SYNC || st == NERV_ERR_CRC) {
    /* skip to the next marker; groups until the next key are lost */
    *consumed = nerv_packet_find_sync (data, size);
    if (st == NERV_ERR_CRC)
      dec->have_group = FALSE;
    return st;
  }
  if (st != NERV_OK) {
    *consumed = 0;
    return st;
  }
  switch (pkt.type) {
    case NERV_PACKET_STREAM:
      st = decode_stream_header (dec, &pkt);
      if (st != NERV_OK)
        dec->have_group = FALSE;
      return st;
    case NERV_PACKET_GROUP:
      return decode_group (dec, &pkt);
    case NERV_PACKET_FRAME:
      return decode_frame (dec, &pkt);
    default:
      return NERV_OK;           /* unknown packet types are skipped */
  }
}

gboolean
nerv_decoder_get_frame (NervDecoder * dec, NervDecodedFrame * out)
{
  if (!dec->have_frame)
    return FALSE;
  *out = dec->out;
  dec->have_frame = FALSE;
  return TRUE;
}
