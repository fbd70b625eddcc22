/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-codec.h"

#include <math.h>
#include <string.h>

/* Rate model priors (bits per parameter of a key and a residual group,
 * measured at 8 bits on cityCC0: 7.9 and 5.5-6.6, on tears_of_steel with
 * 15-epoch residual groups: 7.2-7.5), refined from each coded group. */
#define PRIOR_KEY_BITS_PER_PARAM(wb) ((wb) - 0.1)
#define PRIOR_RES_BITS_PER_PARAM(wb) ((wb) - 1.5)
/* Embedding bits per value (exponents included) at 6 embedding bits,
 * measured on cityCC0 and tears_of_steel at 320x192: 1.7-3.5, depending
 * on the model (docs/design.md); the encoder refines it from each coded
 * group. Scaled by bits / 6 for other embedding bits. */
#define PRIOR_EMBED_BITS_PER_VALUE(eb) (2.5 * (eb) / 6.0)
/* fixed costs: a frame packet (header, CRC, frame number), a group packet
 * (header, CRC, fields, coder flush), a stream header packet */
#define FRAME_PACKET_BITS (8 * (NERV_PACKET_OVERHEAD + 8))
#define GROUP_PACKET_BITS (8 * (NERV_PACKET_OVERHEAD + 15 + 4))
#define STREAM_PACKET_BITS (8 * (NERV_PACKET_OVERHEAD + 64))
/* a key group that overshoots its share coarsens every weight step by up
 * to this many eighths of an octave (x2) before its fine-tune */
#define MAX_COARSEN 8
/* a model size below which quality falls fast (320x192, docs/performance.md) */
#define GOOD_MODEL 15000

void
nerv_encoder_settings_init (NervEncoderSettings * s)
{
  memset (s, 0, sizeof (*s));
  s->format = NERV_FORMAT_I420;
  s->fps_n = 25;
  s->fps_d = 1;
  s->kind = NERV_MODEL_HNERV;
  s->params = 20000;
  s->group_size = 8;
  s->key_interval = 8;
  s->epochs_key = 300;
  s->epochs_delta = 60;
  s->qat_epochs = 10;
  s->weight_bits = 8;
  s->embed_bits = 6;
  s->delta_lr = 1.0f;
  s->deadzone = 0.5f;
  s->seed = 1;
}

/* ---- shared: dequantised frame planes from the network output ------- */

static void
output_to_u8 (const NervDsp * dsp, const NervFrameFormat * fmt,
    const float *out, int ow, int oh, float *tmp, guint8 * dst)
{
  nerv_frame_from_output (fmt, out, ow, oh, tmp);
  dsp->f32_to_u8 (dst, tmp, (int) nerv_frame_format_frame_size (fmt));
}

/* ---- shared: the embeddings of a group -------------------------------- */

/* a group of group_size frames of this model keeps its embeddings within
 * the bound both sides allocate for */
static inline gboolean
group_embed_fits (const NervModelConfig * cfg, int group_size)
{
  return (size_t) group_size * nerv_model_config_embed_size (cfg) <=
      NERV_MAX_GROUP_EMBED;
}

static inline gint32
embed_qmax (int bits)
{
  return (1 << (bits - 1)) - 1;
}

/* frame f's integers predicted from frame f - 1's, rescaled to f's step
 * (steps are exact doubles; a product and a quotient of them round the
 * same on every IEEE machine) */
static inline gint32
embed_predict (gint32 prev, int e_prev, int e, gint32 qmax)
{
  double p;
  if (e == e_prev)
    return prev;
  p = nearbyint (prev * nerv_quant_step (e_prev) / nerv_quant_step (e));
  return (gint32) CLAMP (p, -qmax, qmax);
}

static void
embed_code (NervRangeEncoder * rc, const gint32 * q, const int *exps, int n,
    size_t esize, int bits, guint mode)
{
  const gint32 qmax = embed_qmax (bits);
  NervIntModel *m = g_new (NervIntModel, 2);

  nerv_range_encode_direct (rc, mode, 1);
  nerv_int_model_init (&m[0]);
  nerv_int_model_init (&m[1]);
  for (int f = 0; f < n; f++)
    nerv_int_model_encode (&m[0], rc, exps[f] - (f ? exps[f - 1] : 0));
  for (int f = 0; f < n; f++) {
    for (size_t i = 0; i < esize; i++) {
      const gint32 pred = mode && f ? embed_predict (q[esize * (f - 1) + i],
          exps[f - 1], exps[f], qmax) : 0;
      nerv_int_model_encode (&m[1], rc, q[esize * f + i] - pred);
    }
  }
  g_free (m);
}

void
nerv_embed_encode (NervRangeEncoder * rc, const gint32 * q, const int *exps,
    int n, size_t esize, int bits)
{
  size_t size[2];

  /* whichever mode codes smaller (a trial is cheap beside training) */
  for (guint mode = 0; mode < 2; mode++) {
    GByteArray *a = g_byte_array_new ();
    NervRangeEncoder t;
    nerv_range_encoder_init (&t, a);
    embed_code (&t, q, exps, n, esize, bits, mode);
    size[mode] = nerv_range_encoder_finish (&t);
    g_byte_array_free (a, TRUE);
  }
  embed_code (rc, q, exps, n, esize, bits, size[1] < size[0]);
}

gboolean
nerv_embed_decode (NervRangeDecoder * rc, gint32 * q, int *exps, int n,
    size_t esize, int bits)
{
  const gint32 qmax = embed_qmax (bits);
  NervIntModel *m = g_new (NervIntModel, 2);
  const guint mode = nerv_range_decode_direct (rc, 1);
  gboolean ok = nerv_range_decoder_ok (rc);

  nerv_int_model_init (&m[0]);
  nerv_int_model_init (&m[1]);
  for (int f = 0; ok && f < n; f++) {
    gint32 d;
    gint64 e;
    ok = nerv_int_model_decode (&m[0], rc, &d);
    e = (gint64) d + (f ? exps[f - 1] : 0);
    if (e < NERV_QUANT_EXP_MIN || e > NERV_QUANT_EXP_MAX)
      ok = FALSE;
    else
      exps[f] = (int) e;
  }
  for (int f = 0; ok && f < n; f++) {
    for (size_t i = 0; ok && i < esize; i++) {
      const gint32 pred = mode && f ? embed_predict (q[esize * (f - 1) + i],
          exps[f - 1], exps[f], qmax) : 0;
      gint32 r;
      gint64 x;
      ok = nerv_int_model_decode (&m[1], rc, &r);
      x = (gint64) pred + r;
      if (x < -qmax || x > qmax)
        ok = FALSE;
      else
        q[esize * f + i] = (gint32) x;
    }
  }
  g_free (m);
  return ok && nerv_range_decoder_ok (rc);
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
  /* rate control */
  double key_bpp, res_bpp;      /* measured bits per parameter */
  double embed_bpv;             /* measured bits per embedding value */
  double bits_spent, bits_target;
  double period_left;           /* bits the key period has left */
  int groups_left;              /* groups the key period has left */
  gboolean at_floor;            /* the smallest model is above the target */
  size_t budget;                /* the last parameter budget (before the
                                 * slack to the nearest model) */
  gboolean stopped;
};

static float
default_lr (size_t params)
{
  /* measured, docs/design.md: small models want a large rate */
  return params < 100000 ? 2e-2f : 1e-3f;
}

/* The smallest budget that gives a model for this frame */
static size_t
smallest_budget (const NervEncoderSettings * s, NervEncoder * enc)
{
  NervModelConfig c;
  size_t lo = 100, hi = NERV_MAX_PARAMS;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (nerv_model_config_for_budget (&c, s->kind, s->width, s->height,
            enc->ffmt.n_planes, mid, NULL))
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static gboolean
pick_config (NervEncoder * enc, GError ** error)
{
  const NervEncoderSettings *s = &enc->s;
  size_t budget = s->params;

  if (s->bitrate > 0) {
    const double fps = s->fps_n && s->fps_d ? (double) s->fps_n / s->fps_d : 25.0;
    const double frame_bits = s->bitrate * 1000.0 / fps;
    const int K = s->key_interval, G = s->group_size;
    /* the frames of the next key period: a whole period, or what is left
     * of a clip of known length (its model is paid by fewer frames) */
    double frames = (double) G * K;
    double period, embed, per_param;
    int groups;
    NervModelConfig trial;

    if (s->expected_frames > enc->group_first)
      frames = MIN (frames, (double) (s->expected_frames - enc->group_first));
    groups = (int) ceil (frames / G);
    /* what the period may spend, corrected by what was overspent */
    period = frame_bits * frames;
    if (enc->bits_target > 0)
      period = MAX (period * 0.25, period + (enc->bits_target - enc->bits_spent) * 0.5);
    per_param = enc->key_bpp + (groups - 1) * enc->res_bpp;
    budget = 1000;
    /* the embeddings depend on the shape: two passes settle it */
    for (int pass = 0; pass < 2; pass++) {
      if (!nerv_model_config_for_budget (&trial, s->kind, s->width, s->height,
              enc->ffmt.n_planes, budget, NULL))
        nerv_model_config_for_budget (&trial, s->kind, s->width, s->height,
            enc->ffmt.n_planes, 1 << 20, NULL);
      embed = frames * ((double) nerv_model_config_embed_size (&trial) *
          enc->embed_bpv + FRAME_PACKET_BITS) + groups * GROUP_PACKET_BITS +
          STREAM_PACKET_BITS;
      budget = (size_t) MAX ((period - embed) / per_param, 1000.0);
    }
    /* model sizes come in steps of up to 30 %: a model up to 8 % above
     * the budget is nearer to it than the next one below, and a key
     * group absorbs that much by coarser steps (encode_group) */
    enc->budget = budget;
    budget = (size_t) (budget * 1.08);
    enc->period_left = period;
    enc->groups_left = groups;
  }
  enc->at_floor = FALSE;
  if (!nerv_model_config_for_budget (&enc->cfg, s->kind, s->width, s->height,
          enc->ffmt.n_planes, budget, s->bitrate > 0 ? NULL : error)) {
    if (s->bitrate == 0)
      return FALSE;
    /* a rate below what the smallest model needs: the smallest model,
     * and the rate will be above the target */
    if (!nerv_model_config_for_budget (&enc->cfg, s->kind, s->width,
            s->height, enc->ffmt.n_planes, smallest_budget (s, enc), error))
      return FALSE;
    enc->at_floor = TRUE;
  }
  if (s->bitrate == 0)
    enc->budget = budget;
  return TRUE;
}

NervEncoder *
nerv_encoder_new (const NervEncoderSettings * s, GError ** error)
{
  NervEncoder *enc;

#define CHECK(cond, ...) G_STMT_START { if (!(cond)) { \
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID, __VA_ARGS__); \
    return NULL; } } G_STMT_END
  CHECK (s->width >= 1 && s->width <= NERV_MAX_DIM && s->height >= 1
      && s->height <= NERV_MAX_DIM, "frame size %dx%d not within 1..%d",
      s->width, s->height, NERV_MAX_DIM);
  CHECK (s->format <= NERV_FORMAT_GRAY8, "unknown pixel format");
  CHECK (s->group_size >= 0 && s->group_size <= NERV_MAX_GROUP,
      "group size %d not within 1..%d", s->group_size, NERV_MAX_GROUP);
  CHECK (s->key_interval >= 1 && s->key_interval <= 65535,
      "key interval %d not within 1..65535", s->key_interval);
  CHECK (s->weight_bits >= 2 && s->weight_bits <= 16,
      "weight bits %d not within 2..16", s->weight_bits);
  CHECK (s->embed_bits >= 2 && s->embed_bits <= 16,
      "embedding bits %d not within 2..16", s->embed_bits);
  CHECK (s->epochs_key >= 1 && s->epochs_delta >= 1 && s->qat_epochs >= 0
      && s->epochs_key <= 100000 && s->epochs_delta <= 100000
      && s->qat_epochs <= 100000, "epochs out of range");
  CHECK (s->bitrate > 0 || (s->params >= 100 && s->params <= NERV_MAX_PARAMS),
      "parameter budget %zu not within 100..%d", s->params, NERV_MAX_PARAMS);
  CHECK (s->bitrate <= 1000000, "bitrate %u kbit/s above 1000000", s->bitrate);
  CHECK (s->delta_lr > 0 && s->delta_lr <= 10, "delta lr %g not within (0, 10]",
      s->delta_lr);
  CHECK (s->deadzone >= 0 && s->deadzone <= 1000, "deadzone %g not within 0..1000",
      s->deadzone);
#undef CHECK

  enc = g_new0 (NervEncoder, 1);
  enc->s = *s;
  nerv_pixel_format_frame_format (s->format, s->width, s->height, &enc->ffmt);
  enc->key_bpp = PRIOR_KEY_BITS_PER_PARAM (s->weight_bits);
  enc->res_bpp = PRIOR_RES_BITS_PER_PARAM (s->weight_bits);
  enc->embed_bpv = PRIOR_EMBED_BITS_PER_VALUE (s->embed_bits);
  if (s->group_size == 0) {
    /* the model is paid once per group: at low rates only long groups
     * leave a useful model. The shortest group whose budget reaches
     * GOOD_MODEL parameters, 8 to 256 frames. */
    enc->s.group_size = 8;
    while (s->bitrate > 0 && enc->s.group_size < 256) {
      if (!pick_config (enc, NULL) || enc->budget < GOOD_MODEL)
        enc->s.group_size *= 2;
      else
        break;
    }
  }
  if (!pick_config (enc, error)) {
    g_free (enc);
    return NULL;
  }
  if (!group_embed_fits (&enc->cfg, enc->s.group_size)) {
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
  nerv_free (enc->prev_embed);
  enc->prev_embed = NULL;
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

const NervModelConfig *
nerv_encoder_model (NervEncoder * enc)
{
  return &enc->cfg;
}

const float *
nerv_encoder_params (NervEncoder * enc, size_t * n)
{
  if (!enc->have_last || !enc->model)
    return NULL;
  return nerv_model_params (enc->model, n);
}

int
nerv_encoder_pending (NervEncoder * enc)
{
  return enc->n_buffered;
}

typedef struct {
  NervEncoder *enc;
  gboolean key;
  gboolean quantising;
} ProgressCtx;

static gboolean
train_progress (const NervTrainProgress * p, gpointer data)
{
  ProgressCtx *c = data;
  NervEncoderProgress ep;
  if (!c->enc->s.progress)
    return TRUE;
  ep.group = (int) c->enc->group_index;
  ep.key = c->key;
  ep.quantising = c->quantising;
  ep.train = p;
  if (!c->enc->s.progress (&ep, c->enc->s.user_data)) {
    c->enc->stopped = TRUE;
    return FALSE;
  }
  return TRUE;
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

/* The group packet's payload: header, then one coder stream with the
 * weights (whole or as residuals) and the embeddings. Returns the bytes
 * before the embeddings (headers and weights, within the coder's few
 * pending bytes). */
static size_t
code_group_body (NervEncoder * enc, gboolean key, int n, const gint32 * eints,
    const int *exps, GByteArray * body)
{
  const NervQuant *q = enc->quant;
  const size_t esize = nerv_model_config_embed_size (&enc->cfg);
  NervGroupHeader gh = { enc->group_index, key, n, enc->group_first, NULL, 0 };
  NervRangeEncoder rc;
  size_t wbytes;

  nerv_group_header_write (&gh, body);
  nerv_range_encoder_init (&rc, body);
  if (key) {
    gint32 *d = g_new (gint32, q->n_rows);
    for (int r = 0; r < q->n_rows; r++)
      d[r] = q->row_exp[r] - (r ? q->row_exp[r - 1] : 0);
    nerv_entropy_encode_ints_rc (&rc, d, q->n_rows);
    g_free (d);
  }
  for (int t = 0; t < q->n_tensors; t++) {
    const NervTensorInfo *ti = &q->t[t];
    const size_t len = (size_t) ti->rows * ti->row_len;
    const gint32 *v = enc->ints + ti->offset;
    if (key) {
      nerv_entropy_encode_ints_rc (&rc, v, len);
    } else {
      gint32 *d = g_new (gint32, len);
      for (size_t i = 0; i < len; i++)
        d[i] = v[i] - enc->prev_ints[ti->offset + i];
      nerv_entropy_encode_ints_rc (&rc, d, len);
      g_free (d);
    }
  }
  wbytes = body->len + (size_t) rc.cache_size;
  if (esize)
    nerv_embed_encode (&rc, eints, exps, n, esize, enc->s.embed_bits);
  nerv_range_encoder_finish (&rc);
  return MIN (wbytes, body->len);
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
trial_bits (NervEncoder * enc, gboolean key, int n, const gint32 * eints,
    const int *exps)
{
  GByteArray *b = g_byte_array_new ();
  double bits;
  code_group_body (enc, key, n, eints, exps, b);
  bits = 8.0 * (b->len + NERV_PACKET_OVERHEAD) + (double) n * FRAME_PACKET_BITS;
  if (key) {
    g_byte_array_set_size (b, 0);
    write_stream_header (enc, b);
    bits += 8.0 * (b->len + NERV_PACKET_OVERHEAD);
  }
  g_byte_array_free (b, TRUE);
  return bits;
}

/* What this group may spend: its share of what the period has left, in
 * proportion to its expected cost among the period's remaining groups
 * (so that a wrong guess of the later groups' cost does not squeeze this
 * one) */
static double
group_allowance (NervEncoder * enc, gboolean key, int n, size_t np,
    size_t esize)
{
  const double frames = (double) n * (esize * enc->embed_bpv +
      FRAME_PACKET_BITS) + GROUP_PACKET_BITS;
  const double later = enc->res_bpp * np + frames;
  const double self = (key ? enc->key_bpp : enc->res_bpp) * np + frames +
      (key ? STREAM_PACKET_BITS : 0);
  return enc->period_left * self / (self + MAX (enc->groups_left - 1, 0) *
      later);
}

/* Quantises the trainer's embeddings (per frame, as the fine-tune does);
 * with dequant, writes the dequantised values back. */
static void
quant_embeddings (NervEncoder * enc, NervTrainer * tr, int n, gboolean dequant,
    gint32 * eints, int *exps)
{
  const size_t esize = nerv_model_config_embed_size (&enc->cfg);
  float *e = nerv_trainer_embeddings (tr);
  for (int f = 0; f < n; f++) {
    exps[f] = nerv_quant_vector (e + esize * f, esize, enc->s.embed_bits,
        eints + esize * f);
    if (dequant)
      nerv_dequant_vector (eints + esize * f, esize, exps[f], e + esize * f);
  }
}

/* Key groups over their share: every weight step coarser by d eighths of
 * an octave, from d0 up, the first d that fits (else MAX_COARSEN). The
 * steps are left at it; *bits (if not NULL) gets the group's bits. */
static int
coarsen_key_steps (NervEncoder * enc, const int *base_exp, int d0, int n,
    const float *params, const gint32 * eints, const int *exps,
    double allowance, double *bits)
{
  NervQuant *q = enc->quant;
  double b = 0;
  int d;
  for (d = d0; d <= MAX_COARSEN; d++) {
    for (int r = 0; r < q->n_rows; r++)
      q->row_exp[r] = MIN (base_exp[r] + d, NERV_QUANT_EXP_MAX);
    nerv_quant_apply (q, params, enc->ints, 0);
    b = trial_bits (enc, TRUE, n, eints, exps);
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
    const gint32 * eints, const int *exps, double allowance, int **base_exp)
{
  NervQuant *q = enc->quant;
  double bits;
  int d;

  *base_exp = g_memdup2 (q->row_exp, sizeof (int) * q->n_rows);
  d = coarsen_key_steps (enc, *base_exp, 0, n, params, eints, exps,
      allowance, &bits);
  /* only for a group no residual group builds on: those would code
   * their changes on the finer steps too, at a cost not foreseen */
  if (d > 0 || bits > 0.97 * allowance || q->weight_bits >= 16
      || enc->groups_left > 1)
    return d;
  q->weight_bits++;
  nerv_quant_choose_steps (q, params);
  memcpy (*base_exp, q->row_exp, sizeof (int) * q->n_rows);
  d = coarsen_key_steps (enc, *base_exp, 0, n, params, eints, exps,
      allowance, NULL);
  return d - 8;
}

static gboolean
encode_group (NervEncoder * enc)
{
  const NervEncoderSettings *s = &enc->s;
  const int n = enc->n_buffered;
  gboolean key = enc->groups_since_key == 0 || !enc->have_prev || s->from_scratch;
  gboolean from_scratch;
  NervClip view;
  NervTrainParams tp;
  NervTrainer *tr;
  ProgressCtx pc = { enc, FALSE, FALSE };
  size_t np, esize, group_bits = 0;
  float *params;
  gint64 t0 = g_get_monotonic_time ();
  GByteArray *body, *pkt;
  size_t wbytes;
  gint32 *eints = NULL;
  int *exps = NULL, *base_exp = NULL;
  int coarsen = 0;
  double allowance = 0;
  float *tmp;
  guint8 *u8;
  double sq[NERV_MAX_PLANES] = { 0 }, fmse[NERV_MAX_PLANES];
  const NervModelConfig *cfg;

  if (n == 0)
    return TRUE;
  if (key && s->bitrate > 0) {
    NervModelConfig old = enc->cfg;
    if (!pick_config (enc, NULL) || !group_embed_fits (&enc->cfg, s->group_size))
      enc->cfg = old;
    if (enc->model && memcmp (&old, &enc->cfg, sizeof (old)))
      free_model (enc);
  }
  if (s->from_scratch && enc->model)
    free_model (enc);
  cfg = &enc->cfg;
  from_scratch = enc->model == NULL;
  if (from_scratch) {
    enc->model = nerv_model_new (cfg, enc->scratch);
    enc->quant = nerv_quant_new (cfg, s->weight_bits);
    enc->ints = nerv_alloc_ints (nerv_model_config_n_params (cfg));
    enc->prev_ints = nerv_alloc_ints (nerv_model_config_n_params (cfg));
  }
  params = nerv_model_params (enc->model, &np);
  esize = nerv_model_config_embed_size (cfg);
  pc.key = key;

  /* a view of the first n frames of the group buffer */
  view = *enc->clip;
  view.n_frames = n;

  nerv_train_params_init (&tp);
  tp.epochs = from_scratch ? s->epochs_key : s->epochs_delta;
  tp.lr = s->lr > 0 ? s->lr : default_lr (np);
  if (!from_scratch) {
    /* the weights move little from the last group; the new frames'
     * embeddings still learn at their full rate */
    tp.lr *= s->delta_lr;
    tp.embed_lr_scale /= s->delta_lr;
  }
  tp.embed_lr_scale = s->embed_lr > 0 ? s->embed_lr : (np < 100000 ? 4.0f : 1.0f);
  tp.seed = s->seed + enc->group_index;
  tp.progress = train_progress;
  tp.user_data = &pc;
  /* the first group of a stream initialises from the seed; every later
   * one starts from the weights the decoder holds */
  tr = nerv_trainer_new (enc->model, &view, &tp, !from_scratch);
  if (esize && enc->prev_embed && !from_scratch) {
    /* neighbouring frames look alike: start from the last group's
     * embeddings, frame for frame */
    float *e = nerv_trainer_embeddings (tr);
    for (int f = 0; f < n; f++)
      memcpy (e + esize * f, enc->prev_embed + esize * MIN (f,
              enc->prev_embed_frames - 1), sizeof (float) * esize);
  }
  if (esize && from_scratch) {
    /* every frame starts from the same random embedding: frames that look
     * alike end up with embeddings alike, which the group packet codes as
     * differences (tears 44 kbit/s: 30 % fewer embedding bits, +0.6 dB) */
    float *e = nerv_trainer_embeddings (tr);
    for (int f = 1; f < n; f++)
      memcpy (e + esize * f, e, sizeof (float) * esize);
  }
  if (!nerv_trainer_run (tr))
    goto stopped;

  /* steps: from the trained weights at a key group, kept in between */
  if (key) {
    enc->quant->weight_bits = s->weight_bits;
    nerv_quant_choose_steps (enc->quant, params);
  }
  if (esize) {
    eints = g_new (gint32, esize * n);
    exps = g_new (int, n);
  }
  if (s->bitrate > 0) {
    allowance = group_allowance (enc, key, n, np, esize);
    if (key) {
      /* a key group that would overshoot its share gets coarser steps
       * before the fine-tune, so that it adapts to them */
      if (esize)
        quant_embeddings (enc, tr, n, FALSE, eints, exps);
      coarsen = fit_key_steps (enc, params, n, eints, exps, allowance,
          &base_exp);
    }
  }
  if (s->qat_epochs > 0) {
    tp.epochs = s->qat_epochs;
    tp.lr *= 0.1f;
    tp.warmup = 0.0f;
    nerv_trainer_set_params (tr, &tp);
    nerv_trainer_set_fake_quant (tr, fake_quant, enc->quant, s->embed_bits);
    pc.quantising = TRUE;
    if (!nerv_trainer_run (tr))
      goto stopped;
  }
  /* embeddings: quantised per frame, as the fine-tune saw them */
  if (esize)
    quant_embeddings (enc, tr, n, TRUE, eints, exps);
  nerv_quant_apply (enc->quant, params, enc->ints, 0);
  if (key && base_exp) {
    /* the fine-tune moved the weights: check again */
    const int extra = enc->quant->weight_bits > s->weight_bits ? 8 : 0;
    if (coarsen + extra < MAX_COARSEN
        && trial_bits (enc, TRUE, n, eints, exps) > allowance)
      coarsen = coarsen_key_steps (enc, base_exp, coarsen + extra + 1, n,
          params, eints, exps, allowance, NULL) - extra;
  }
  enc->last.deadzone = s->deadzone;
  if (!key) {
    /* residual groups: the smallest dead zone (from the setting up) whose
     * bits fit the group's share */
    /* up to 4 steps: beyond, quality falls faster than the rate
     * (docs/design.md) and the overshoot is left to the next period */
    static const float dz[] = { 0.75f, 1.0f, 1.25f, 1.5f, 2.0f, 3.0f, 4.0f };
    float chosen = s->deadzone;
    gint32 *plain = NULL;
    if (s->bitrate > 0)
      plain = g_memdup2 (enc->ints, np * sizeof (gint32));
    nerv_quant_keep_small_changes (enc->quant, params, enc->prev_ints,
        enc->ints, chosen);
    for (guint i = 0; plain && i < G_N_ELEMENTS (dz); i++) {
      if (trial_bits (enc, FALSE, n, eints, exps) <= allowance)
        break;
      if (dz[i] <= chosen)
        continue;
      chosen = dz[i];
      memcpy (enc->ints, plain, np * sizeof (gint32));
      nerv_quant_keep_small_changes (enc->quant, params, enc->prev_ints,
          enc->ints, chosen);
    }
    g_free (plain);
    enc->last.deadzone = chosen;
  }
  enc->last.coarsen = coarsen;
  g_free (base_exp);
  nerv_quant_dequant (enc->quant, enc->ints, params);

  /* group packet: the weights, then the embeddings */
  body = g_byte_array_new ();
  wbytes = code_group_body (enc, key, n, eints, exps, body);
  memcpy (enc->prev_ints, enc->ints, np * sizeof (gint32));
  enc->have_prev = TRUE;

  /* frames: decode each as the decoder will, and write its packet */
  tmp = nerv_alloc_floats (enc->clip->frame_size);
  u8 = g_malloc (enc->clip->frame_size);
  for (int f = 0; f < n; f++) {
    GByteArray *fb = g_byte_array_new ();
    NervFrameHeader fh = { enc->group_first + f, NULL, 0 };
    const float *embed = esize ? nerv_trainer_embeddings (tr) + esize * f : NULL;
    const float *ref = enc->clip->data + enc->clip->frame_size * f;
    const float *out;

    nerv_frame_header_write (&fh, fb);
    out = nerv_model_forward (enc->model, embed, (float) f / n);
    output_to_u8 (nerv_dsp_get (), &enc->ffmt, out,
        nerv_model_config_out_width (cfg), nerv_model_config_out_height (cfg),
        tmp, u8);
    nerv_frame_mse (&enc->ffmt, u8, NERV_SAMPLES_U8, ref, NERV_SAMPLES_F32,
        fmse);
    for (int c = 0; c < enc->ffmt.n_planes; c++)
      sq[c] += fmse[c] / n;

    pkt = g_byte_array_new ();
    if (f == 0) {
      if (key) {
        GByteArray *hb = g_byte_array_new ();
        write_stream_header (enc, hb);
        nerv_packet_write (pkt, NERV_PACKET_STREAM, hb->data, hb->len);
        g_byte_array_free (hb, TRUE);
      }
      nerv_packet_write (pkt, NERV_PACKET_GROUP, body->data, body->len);
      /* the headers and the weights; the rest is the embeddings */
      enc->last.embed_bits = 8 * (body->len - wbytes);
      enc->last.weight_bits = 8 * pkt->len - enc->last.embed_bits;
    }
    nerv_packet_write (pkt, NERV_PACKET_FRAME, fb->data, fb->len);
    g_byte_array_free (fb, TRUE);
    group_bits += 8 * (size_t) pkt->len;
    push_unit (enc, enc->group_first + f, f == 0, key && f == 0, pkt);
  }
  if (esize) {
    nerv_free (enc->prev_embed);
    enc->prev_embed = nerv_alloc_floats (esize * n);
    memcpy (enc->prev_embed, nerv_trainer_embeddings (tr), sizeof (float) * esize * n);
    enc->prev_embed_frames = n;
  }
  g_free (eints);
  g_free (exps);
  g_free (u8);
  nerv_free (tmp);
  g_byte_array_free (body, TRUE);
  nerv_trainer_free (tr);

  /* stats and the rate model */
  enc->last.group = (int) enc->group_index;
  enc->last.key = key;
  enc->last.n_frames = n;
  enc->last.bits = group_bits;
  enc->last.psnr_y = nerv_psnr (sq[0]);
  enc->last.psnr_yuv = nerv_psnr_weighted (&enc->ffmt, sq);
  enc->last.train_s = (g_get_monotonic_time () - t0) / 1e6;
  enc->last.params = np;
  enc->have_last = TRUE;
  if (s->bitrate > 0) {
    const double fps = s->fps_n && s->fps_d ? (double) s->fps_n / s->fps_d : 25.0;
    const double wbits = enc->last.weight_bits;
    enc->bits_spent += group_bits;
    enc->bits_target += s->bitrate * 1000.0 / fps * n;
    if (key)
      enc->key_bpp = 0.5 * enc->key_bpp + 0.5 * wbits / np;
    else
      enc->res_bpp = 0.5 * enc->res_bpp + 0.5 * wbits / np;
    if (esize)
      enc->embed_bpv = 0.5 * enc->embed_bpv + 0.5 * enc->last.embed_bits /
          ((double) esize * n);
    enc->period_left -= group_bits;
    enc->groups_left--;
    enc->last.allowance = allowance;
    enc->last.below_floor = enc->at_floor && group_bits > allowance;
  }

  enc->group_first += n;
  enc->group_index++;
  enc->groups_since_key = (enc->groups_since_key + 1) % s->key_interval;
  enc->n_buffered = 0;
  return TRUE;

stopped:
  nerv_trainer_free (tr);
  return FALSE;
}

gboolean
nerv_encoder_push_frame (NervEncoder * enc, const guint8 * const planes[3],
    const int strides[3])
{
  const NervDsp *dsp = nerv_dsp_get ();

  g_return_val_if_fail (enc->n_buffered < enc->s.group_size, FALSE);
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
  if (enc->stopped)
    return FALSE;
  return encode_group (enc);
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
  float *embed;                 /* the group's dequantised embeddings */
  gint32 *eints;
  int *eexps;
  size_t embed_cap;             /* frames they have room for */
  float *tmp;
  guint8 *frame;
  gboolean have_frame;
  NervDecodedFrame out;
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
  g_free (dec->eints);
  g_free (dec->eexps);
  nerv_free (dec->tmp);
  g_free (dec->frame);
  dec->model = NULL;
  dec->quant = NULL;
  dec->ints = NULL;
  dec->embed = NULL;
  dec->eints = NULL;
  dec->eexps = NULL;
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
  return nerv_model_params (dec->model, n);
}

void
nerv_decoder_reset (NervDecoder * dec)
{
  dec->have_group = FALSE;
  dec->have_frame = FALSE;
}

static NervStatus
decode_stream_header (NervDecoder * dec, const NervPacket * pkt)
{
  NervStreamHeader h;
  NervStatus st = nerv_stream_header_parse (pkt->payload, pkt->size, &h);

  if (st != NERV_OK)
    return st;
  if (!group_embed_fits (&h.model, h.group_size))
    return NERV_ERR_INVALID;
  if (!dec->have_header || memcmp (&h.model, &dec->header.model,
          sizeof (h.model)) || h.weight_bits != dec->header.weight_bits
      || h.format != dec->header.format) {
    const NervModelConfig *cfg = &h.model;
    decoder_free_model (dec);
    dec->model = nerv_model_new_inference (cfg, dec->scratch);
    dec->quant = nerv_quant_new (cfg, h.weight_bits);
    dec->ints = nerv_alloc_ints (nerv_model_config_n_params (cfg));
    nerv_pixel_format_frame_format (h.format, cfg->width, cfg->height, &dec->ffmt);
    dec->tmp = nerv_alloc_floats (nerv_frame_format_frame_size (&dec->ffmt));
    dec->frame = g_malloc (nerv_frame_format_frame_size (&dec->ffmt));
  }
  dec->header = h;
  dec->have_header = TRUE;
  return NERV_OK;
}

static NervStatus
decode_group (NervDecoder * dec, const NervPacket * pkt)
{
  NervGroupHeader g;
  NervRangeDecoder rc;
  NervQuant *q = dec->quant;
  NervStatus st;
  size_t np, esize;
  gint32 *v;

  if (!dec->have_header)
    return NERV_ERR_NO_HEADER;
  st = nerv_group_header_parse (pkt->payload, pkt->size, &g);
  if (st != NERV_OK)
    goto fail;
  if (g.n_frames > dec->header.group_size) {
    st = NERV_ERR_INVALID;
    goto fail;
  }
  /* a residual group continues the one before it; if that was lost,
   * the integers it adds to are not the encoder's */
  if (!g.key && (!dec->have_group || g.index != dec->group.index + 1
          || g.first_frame != dec->group.first_frame + dec->group.n_frames)) {
    st = NERV_ERR_NO_KEY;
    goto fail;
  }
  nerv_model_params (dec->model, &np);
  v = g_new (gint32, np);
  nerv_range_decoder_init (&rc, g.body, g.body_size);
  if (g.key) {
    int *exps = g_new (int, q->n_rows);
    gint32 *d = g_new (gint32, q->n_rows);
    gboolean ok = nerv_entropy_decode_ints_rc (&rc, d, q->n_rows);
    for (int r = 0; ok && r < q->n_rows; r++) {
      const gint64 e = (gint64) d[r] + (r ? exps[r - 1] : 0);
      if (e < NERV_QUANT_EXP_MIN || e > NERV_QUANT_EXP_MAX)
        ok = FALSE;
      else
        exps[r] = (int) e;
    }
    if (ok)
      memcpy (q->row_exp, exps, sizeof (int) * q->n_rows);
    g_free (exps);
    g_free (d);
    if (!ok) {
      g_free (v);
      st = rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
      goto fail;
    }
  }
  for (int t = 0; t < q->n_tensors; t++) {
    const NervTensorInfo *ti = &q->t[t];
    if (!nerv_entropy_decode_ints_rc (&rc, v + ti->offset,
            (size_t) ti->rows * ti->row_len)) {
      g_free (v);
      st = rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
      goto fail;
    }
  }
  esize = nerv_model_config_embed_size (&dec->header.model);
  if (esize) {
    if (dec->embed_cap < (size_t) g.n_frames) {
      nerv_free (dec->embed);
      g_free (dec->eints);
      g_free (dec->eexps);
      dec->embed_cap = dec->header.group_size;
      dec->embed = nerv_alloc_floats (esize * dec->embed_cap);
      dec->eints = g_new (gint32, esize * dec->embed_cap);
      dec->eexps = g_new (int, dec->embed_cap);
    }
    if (!nerv_embed_decode (&rc, dec->eints, dec->eexps, g.n_frames, esize,
            dec->header.embed_bits)) {
      g_free (v);
      st = rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
      goto fail;
    }
  }
  if (!nerv_range_decoder_ok (&rc) || nerv_range_decoder_consumed (&rc) != g.body_size) {
    g_free (v);
    st = rc.overrun ? NERV_ERR_TRUNCATED : NERV_ERR_INVALID;
    goto fail;
  }
  for (size_t i = 0; i < np; i++) {
    const gint64 x = g.key ? v[i] : (gint64) dec->ints[i] + v[i];
    if (x < -(1 << 24) || x > (1 << 24)) {
      g_free (v);
      st = NERV_ERR_INVALID;
      goto fail;
    }
    v[i] = (gint32) x;
  }
  memcpy (dec->ints, v, np * sizeof (gint32));
  g_free (v);
  nerv_quant_dequant (q, dec->ints, nerv_model_params (dec->model, NULL));
  for (int f = 0; esize && f < g.n_frames; f++)
    nerv_dequant_vector (dec->eints + esize * f, esize, dec->eexps[f],
        dec->embed + esize * f);
  dec->group = g;
  dec->group.body = NULL;
  dec->group.body_size = 0;
  dec->have_group = TRUE;
  return NERV_OK;

fail:
  /* what follows depends on this group: wait for the next key group */
  dec->have_group = FALSE;
  return st;
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
  esize = nerv_model_config_embed_size (cfg);
  out = nerv_model_forward (dec->model, esize ? dec->embed + esize * index :
      NULL, (float) index / dec->group.n_frames);
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
