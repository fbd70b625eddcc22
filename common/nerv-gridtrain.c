/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-gridtrain.h"

#include <libavutil/lfg.h>
#include <math.h>
#include <string.h>

void
nerv_grid_train_params_init (NervGridTrainParams * p)
{
  memset (p, 0, sizeof (*p));
  p->epochs = 100;
  p->lr = 1e-2f;
  p->latent_lr = 5e-2f;
  p->lambda = 4e-3f;
  p->warmup = 0.1f;
  p->hard = 0.2f;
  p->seed = 1;
}

/* ---- the Laplacian pyramid -------------------------------------------- */

/* [h][w] -> [ceil(h/2)][ceil(w/2)] 2x2 means (edges repeated) */
static void
down2 (const float *src, int w, int h, float *dst)
{
  const int W = nerv_ceil_div (w, 2), H = nerv_ceil_div (h, 2);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      const int y0 = 2 * y, x0 = 2 * x;
      const int y1 = MIN (y0 + 1, h - 1), x1 = MIN (x0 + 1, w - 1);
      dst[(size_t) y * W + x] = 0.25f * (src[(size_t) y0 * w + x0] +
          src[(size_t) y0 * w + x1] + src[(size_t) y1 * w + x0] +
          src[(size_t) y1 * w + x1]);
    }
}

void
nerv_grid_laplacian (const NervModelConfig * cfg, const NervFrameFormat * fmt,
    const float *frame, float step, float *lat)
{
  NervGridLayout lay;
  const size_t fsize = (size_t) cfg->width * cfg->height;
  float *g[NERV_GRID_MAX_LEVELS];
  float *up = nerv_alloc_floats (fsize), *tmp = nerv_alloc_floats (fsize);

  nerv_grid_layout_init (&lay, cfg);
  memset (lat, 0, sizeof (float) * lay.size);
  for (int l = 0; l < cfg->n_levels; l++)
    g[l] = nerv_alloc_floats (fsize);
  for (int c = 0; c < fmt->n_planes && c < cfg->out_channels; c++) {
    /* the channel's Gaussian pyramid, from the level its plane is at */
    const int first = fmt->sub_x[c] ? 1 : 0;
    memcpy (g[first], frame + nerv_frame_format_plane_offset (fmt, c),
        sizeof (float) * nerv_frame_format_plane_width (fmt, c) *
        nerv_frame_format_plane_height (fmt, c));
    for (int l = first; l + 1 < cfg->n_levels; l++)
      down2 (g[l], nerv_ceil_div (cfg->width, 1 << l),
          nerv_ceil_div (cfg->height, 1 << l), g[l + 1]);
    /* each level less the next one upsampled; the top less 1/2 */
    for (int p = 0; p < lay.n_planes; p++) {
      const int l = lay.level[p], w = lay.w[p], h = lay.h[p];
      const size_t n = (size_t) w * h;
      float *dst = lat + lay.off[p];
      if (lay.out_of[p] != c || l < first)
        continue;
      if (l + 1 < cfg->n_levels)
        nerv_grid_up2 (g[l + 1], nerv_ceil_div (w, 2), nerv_ceil_div (h, 2),
            up, w, h, tmp);
      for (size_t i = 0; i < n; i++)
        dst[i] = (g[l][i] - (l + 1 < cfg->n_levels ? up[i] : 0.5f)) / step;
    }
  }
  for (int l = 0; l < cfg->n_levels; l++)
    nerv_free (g[l]);
  nerv_free (up);
  nerv_free (tmp);
}

/* ---- the trainer ------------------------------------------------------- */

struct _NervGridTrainer {
  NervModelConfig cfg;
  NervGridLayout lay;
  NervGridTrainParams p;
  NervScratch *s;
  const NervClip *clip;
  int n;                        /* frames */
  size_t S;                     /* latents per frame */
  size_t np;

  float *params, *grads, *pm, *pv;      /* network and its Adam state */
  float *fq;                    /* fake-quantised copy (hard phase) */
  NervQuantFunc fq_func;
  gpointer fq_data;

  float *base;                  /* [S] fixed; NULL at a key group */
  int *mv;                      /* [n][2] motion of frame i from i - 1 */
  gint32 *ri, *pi;              /* the integer chain */
  float *g2;                    /* a gradient on its way down the chain */
  float *t, *tm, *tv;           /* [n][S] the coded changes, Adam state */
  int *tsteps;                  /* Adam steps of each frame's t */
  float *q, *dq;                /* [S] the trained frame's quantised t
                                 * and dq/dt */
  float *y, *dy, *ref, *dcoded, *dout;

  NervGridSynth *synth;
  NervGridArm *arm;

  int step, n_steps, net_steps;
  double epoch_bits;
  guint32 rng;
};

NervGridTrainer *
nerv_grid_trainer_new (const NervModelConfig * cfg, NervScratch * s,
    float *params, const NervClip * clip, const float *base,
    const float *init0, const NervGridTrainParams * p)
{
  NervGridTrainer *t = g_new0 (NervGridTrainer, 1);
  const size_t out = (size_t) cfg->out_channels * cfg->width * cfg->height;

  t->cfg = *cfg;
  t->p = *p;
  t->s = s;
  t->clip = clip;
  t->n = clip->n_frames;
  nerv_grid_layout_init (&t->lay, cfg);
  t->S = t->lay.size;
  t->np = nerv_model_config_n_params (cfg);
  t->params = params;
  t->grads = nerv_alloc_floats (t->np);
  t->pm = nerv_alloc_floats (t->np);
  t->pv = nerv_alloc_floats (t->np);
  t->fq = nerv_alloc_floats (t->np);
  if (base) {
    t->base = nerv_alloc_floats (t->S);
    memcpy (t->base, base, sizeof (float) * t->S);
  }
  t->t = nerv_alloc_floats (t->S * t->n);
  t->tm = nerv_alloc_floats (t->S * t->n);
  t->tv = nerv_alloc_floats (t->S * t->n);
  t->tsteps = g_new0 (int, t->n);
  t->q = nerv_alloc_floats (t->S);
  t->dq = nerv_alloc_floats (t->S);
  t->y = nerv_alloc_floats (t->S);
  t->dy = nerv_alloc_floats (t->S);
  t->ref = nerv_alloc_floats (t->S);
  t->mv = g_new0 (int, 2 * t->n);
  t->ri = nerv_alloc_ints (t->S);
  t->pi = nerv_alloc_ints (t->S);
  t->g2 = nerv_alloc_floats (t->S);
  t->dcoded = nerv_alloc_floats (t->S);
  t->dout = nerv_alloc_floats (out);
  if (!base && init0)
    memcpy (t->t, init0, sizeof (float) * t->S);
  t->synth = nerv_grid_synth_new (cfg, s, TRUE);
  t->arm = nerv_grid_arm_new (cfg, s);
  t->rng = p->seed * 2654435761u + 1;
  return t;
}

void
nerv_grid_trainer_free (NervGridTrainer * t)
{
  if (!t)
    return;
  nerv_free (t->grads);
  nerv_free (t->pm);
  nerv_free (t->pv);
  nerv_free (t->fq);
  nerv_free (t->base);
  nerv_free (t->t);
  nerv_free (t->tm);
  nerv_free (t->tv);
  g_free (t->tsteps);
  nerv_free (t->q);
  nerv_free (t->dq);
  nerv_free (t->y);
  nerv_free (t->dy);
  nerv_free (t->ref);
  g_free (t->mv);
  nerv_free (t->ri);
  nerv_free (t->pi);
  nerv_free (t->g2);
  nerv_free (t->dcoded);
  nerv_free (t->dout);
  nerv_grid_synth_free (t->synth);
  nerv_grid_arm_free (t->arm);
  g_free (t);
}

void
nerv_grid_trainer_set_fake_quant (NervGridTrainer * t, NervQuantFunc func,
    gpointer user_data)
{
  t->fq_func = func;
  t->fq_data = user_data;
}

void
nerv_grid_trainer_set_motion (NervGridTrainer * t, const int *mv)
{
  memcpy (t->mv, mv, sizeof (int) * 2 * t->n);
}

void
nerv_grid_trainer_set_lambda (NervGridTrainer * t, float lambda)
{
  t->p.lambda = lambda;
}

float
nerv_grid_trainer_get_lambda (NervGridTrainer * t)
{
  return t->p.lambda;
}

double
nerv_grid_trainer_bits (NervGridTrainer * t)
{
  return t->epoch_bits;
}

void
nerv_grid_trainer_coded (NervGridTrainer * t, int i, gint32 * out)
{
  const float *v = t->t + t->S * i;
  for (size_t k = 0; k < t->S; k++)
    out[k] = (gint32) CLAMP (nearbyintf (v[k]), -NERV_LATENT_MAX,
        NERV_LATENT_MAX);
}

/* xorshift32: a uniform in [-1, 1) */
static inline float
noise (guint32 * s)
{
  guint32 x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return (float) ((double) x / 2147483648.0 - 1.0);
}

/* soft rounding (Agustsson & Theis): floor + a tanh step of temperature
 * tau; *d gets its derivative */
static inline float
softround (float x, float tau, float inv_norm, float *d)
{
  const float f = floorf (x), r = x - f - 0.5f;
  const float e = expf (-2.0f * fabsf (r) / tau);
  const float th = copysignf ((1.0f - e) / (1.0f + e), r);
  *d = 0.5f * (1.0f - th * th) / tau * inv_norm;
  return f + 0.5f * th * inv_norm + 0.5f;
}

/* q_i = Q (t_i) and dq_i/dt_i: hard (round, straight through) or soft:
 * softround (softround (t, tau) + noise, tau). The frames before i enter
 * the chain rounded (straight through as well). */
static void
quantise_frame (NervGridTrainer * t, int i, gboolean hard, float tau,
    float sigma)
{
  const float inv_norm = 1.0f / tanhf (0.5f / tau);
  const float a = sigma * 1.7320508f;   /* uniform of that deviation */
  const float *x = t->t + t->S * i;
  float *q = t->q, *d = t->dq;

  if (hard) {
    for (size_t k = 0; k < t->S; k++) {
      q[k] = nearbyintf (x[k]);
      d[k] = 1.0f;
    }
    return;
  }
  for (size_t k = 0; k < t->S; k++) {
    float d1, d2;
    const float s1 = softround (x[k], tau, inv_norm, &d1);
    q[k] = softround (s1 + a * noise (&t->rng), tau, inv_norm, &d2);
    d[k] = d1 * d2;
  }
}

static float
lr_at (float lr, float warmup, int step, int n)
{
  const float f = n > 1 ? (float) step / n : 0.0f;
  if (f < warmup)
    return lr * (0.1f + 0.9f * f / warmup);
  return lr * 0.5f * (1.0f + cosf ((float) G_PI * (f - warmup) /
          MAX (1e-6f, 1.0f - warmup)));
}

static void
adam (float *w, float *m, float *v, const float *g, size_t n, float lr,
    int step)
{
  NervAdamStep a;
  const float b1 = 0.9f, b2 = 0.999f;
  a.beta1 = b1;
  a.beta2 = b2;
  a.eps = 1e-8f;
  a.step = lr / (1.0f - powf (b1, (float) step));
  a.vscale = 1.0f / sqrtf (1.0f - powf (b2, (float) step));
  nerv_dsp_get ()->adam (w, m, v, g, (int) n, &a);
}

/* one step on frame i; returns the loss, *mse the planes', *bits t_i's.
 * The gradient reaches the network, t_i and the changes t_j before it.
 * (step, n_steps): where the schedule is. */
static double
train_step (NervGridTrainer * t, int i, gboolean hard, float tau, float sigma,
    int step, int n_steps, double *mse, double *bits)
{
  const NervModelConfig *cfg = &t->cfg;
  const size_t S = t->S;
  const double pixels = (double) cfg->width * cfg->height;
  const gboolean net = t->p.lr > 0;
  const float lr = lr_at (t->p.lr, t->p.warmup, step, n_steps);
  const float llr = lr_at (t->p.latent_lr, t->p.warmup, step, n_steps);
  const float *w = t->params;
  const float *out, *ref = NULL;
  double loss;
  const float *frame = t->clip->data + t->clip->frame_size * i;

  quantise_frame (t, i, hard, tau, sigma);
  /* ref = the decoder's prediction of frame i: W_i (y_(i-1)), the chain
   * in integers as the decoder has it; y_i = ref + q_i */
  if (i > 0 || t->base) {
    if (t->base)
      for (size_t k = 0; k < S; k++)
        t->ri[k] = (gint32) t->base[k];
    else
      memset (t->ri, 0, sizeof (gint32) * S);
    for (int j = 0; j <= i; j++) {
      const float *x = t->t + S * j;
      if (j == 0 && !t->base)
        memset (t->pi, 0, sizeof (gint32) * S);
      else
        nerv_grid_warp_int (&t->lay, t->ri, t->mv[2 * j], t->mv[2 * j + 1],
            t->pi);
      if (j == i)
        break;
      for (size_t k = 0; k < S; k++)
        t->ri[k] = CLAMP (t->pi[k] + (gint32) nearbyintf (x[k]),
            -NERV_LATENT_MAX, NERV_LATENT_MAX);
    }
    for (size_t k = 0; k < S; k++)
      t->ref[k] = (float) t->pi[k];
    ref = t->ref;
  }
  for (size_t k = 0; k < S; k++)
    t->y[k] = (ref ? ref[k] : 0.0f) + t->q[k];
  if (hard && t->fq_func) {
    memcpy (t->fq, t->params, sizeof (float) * t->np);
    t->fq_func (t->fq, t->fq_data);
    w = t->fq;
  }

  if (net)
    memset (t->grads, 0, sizeof (float) * t->np);
  out = nerv_grid_synth_forward (t->synth, w, t->y);
  loss = nerv_frame_loss (&t->clip->fmt, out, cfg->width, cfg->height, frame,
      1.0f, t->dout, mse);
  nerv_grid_synth_backward (t->synth, w, t->dout, net ? t->grads : NULL,
      t->dy);
  *bits = nerv_grid_arm_forward (t->arm, w, t->q, ref);
  loss += t->p.lambda * *bits / pixels;
  memset (t->dcoded, 0, sizeof (float) * S);
  nerv_grid_arm_backward (t->arm, w, (float) (t->p.lambda / pixels),
      net ? t->grads : NULL, t->dcoded);

  /* the network */
  t->step++;
  if (net) {
    t->net_steps++;
    adam (t->params, t->pm, t->pv, t->grads, t->np, lr, t->net_steps);
  }
  /* t_i: dy and its own bits; with the chain, every t_j before it: dy
   * carried down the shifts (d y_(j-1) = W_j^T d y_j), straight through
   * the rounding */
  {
    float *g = t->dq;
    for (size_t k = 0; k < S; k++)
      g[k] *= t->dy[k] + t->dcoded[k];
    t->tsteps[i]++;
    adam (t->t + S * i, t->tm + S * i, t->tv + S * i, g, S, llr,
        t->tsteps[i]);
  }
  if (i > 0) {
    float *a = t->dy, *b = t->g2;
    for (int j = i; j > 0; j--) {
      memset (b, 0, sizeof (float) * S);
      nerv_grid_warp_adjoint (&t->lay, a, t->mv[2 * j], t->mv[2 * j + 1], b);
      t->tsteps[j - 1]++;
      adam (t->t + S * (j - 1), t->tm + S * (j - 1), t->tv + S * (j - 1), b,
          S, llr, t->tsteps[j - 1]);
      a = b;
      b = a == t->g2 ? t->dy : t->g2;
    }
  }
  return loss;
}

/* the quantisation of phase f (0..1) of the soft part: C3's schedule */
static inline void
soft_schedule (float f, float *tau, float *sigma)
{
  *tau = 0.35f + (0.08f - 0.35f) * f;
  *sigma = 0.22f + (0.15f - 0.22f) * f;
}

static gboolean
report (NervGridTrainer * t, int e, int E, double loss, const double *mse,
    gint64 t0)
{
  NervTrainProgress pr;
  if (!t->p.progress)
    return TRUE;
  pr.epoch = e;
  pr.n_epochs = E;
  pr.step = t->step;
  pr.n_steps = t->n_steps;
  pr.loss = loss;
  pr.psnr_y = nerv_psnr (mse[0]);
  pr.psnr_yuv = nerv_psnr_weighted (&t->clip->fmt, mse);
  pr.elapsed_s = (g_get_monotonic_time () - t0) / 1e6;
  return t->p.progress (&pr, t->p.user_data);
}

gboolean
nerv_grid_trainer_run (NervGridTrainer * t)
{
  const int n = t->n, E = t->p.epochs;
  const int hard_from = E - (int) lrintf (t->p.hard * E);
  gint64 t0 = g_get_monotonic_time ();
  int *order;
  AVLFG lfg;
  gboolean ok = TRUE;

  t->step = 0;
  order = g_new (int, n);
  av_lfg_init (&lfg, t->p.seed);
  t->n_steps = E * n;
  for (int e = 0; e < E && ok; e++) {
    const gboolean hard = e >= hard_from;
    double loss = 0, bits = 0, mse[NERV_MAX_PLANES] = { 0 };
    float tau, sigma;

    soft_schedule (hard_from > 1 ? MIN (1.0f, (float) e / (hard_from - 1)) :
        1, &tau, &sigma);
    for (int i = 0; i < n; i++)
      order[i] = i;
    for (int i = n - 1; i > 0; i--) {
      const int j = av_lfg_get (&lfg) % (i + 1), k = order[i];
      order[i] = order[j];
      order[j] = k;
    }
    for (int k = 0; k < n; k++) {
      double m[NERV_MAX_PLANES], b;
      loss += train_step (t, order[k], hard, tau, sigma, t->step, t->n_steps,
          m, &b);
      bits += b;
      for (int c = 0; c < NERV_MAX_PLANES; c++)
        mse[c] += m[c] / n;
    }
    t->epoch_bits = bits / n;
    ok = report (t, e, E, loss / n, mse, t0);
  }
  g_free (order);
  return ok;
}
