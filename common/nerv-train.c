/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-train.h"
#include "nerv-quant.h"
#include "nerv-y4m.h"

#include <libavutil/lfg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- clips ------------------------------------------------------------ */

NervClip *
nerv_clip_new (const NervFrameFormat * fmt, int n_frames)
{
  NervClip *clip = g_new0 (NervClip, 1);
  clip->fmt = *fmt;
  clip->n_frames = n_frames;
  clip->frame_size = nerv_frame_format_frame_size (fmt);
  clip->data = nerv_alloc_floats (clip->frame_size * MAX (n_frames, 1));
  return clip;
}

void
nerv_clip_free (NervClip * clip)
{
  if (!clip)
    return;
  nerv_free (clip->data);
  g_free (clip);
}

float *
nerv_clip_plane (const NervClip * clip, int frame, int plane)
{
  return clip->data + clip->frame_size * frame +
      nerv_frame_format_plane_offset (&clip->fmt, plane);
}

static gboolean
read_u8_frame (FILE * f, NervClip * clip, int index, guint8 * buf)
{
  const size_t n = clip->frame_size;
  if (fread (buf, 1, n, f) != n)
    return FALSE;
  nerv_dsp_get ()->u8_to_f32 (clip->data + n * index, buf, (int) n);
  return TRUE;
}

NervClip *
nerv_clip_load_y4m (const char *path, int start, int max_frames,
    GError ** error)
{
  NervY4m y;
  NervClip *clip;
  GArray *frames;
  guint8 *buf;
  int index = 0;

  if (!nerv_y4m_open (&y, path, error))
    return NULL;
  if (y.format == NERV_FORMAT_Y444) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_DATA,
        "%s: colour space 444 not supported (4:2:0 or mono, 8 bit)", path);
    nerv_y4m_close (&y);
    return NULL;
  }

  /* read into a growing clip */
  clip = nerv_clip_new (&y.fmt, 0);
  frames = g_array_new (FALSE, FALSE, sizeof (float));
  buf = g_malloc (clip->frame_size);
  for (int i = 0; max_frames <= 0 || index < max_frames; i++) {
    if (!nerv_y4m_read_frame (&y, buf))
      break;
    if (i < start)
      continue;
    g_array_set_size (frames, frames->len + clip->frame_size);
    nerv_dsp_get ()->u8_to_f32 (&g_array_index (frames, float,
            frames->len - clip->frame_size), buf, (int) clip->frame_size);
    index++;
  }
  nerv_y4m_close (&y);
  g_free (buf);
  nerv_clip_free (clip);
  if (index == 0) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_DATA, "%s: no frames", path);
    g_array_free (frames, TRUE);
    return NULL;
  }
  clip = nerv_clip_new (&y.fmt, index);
  memcpy (clip->data, frames->data, sizeof (float) * frames->len);
  g_array_free (frames, TRUE);
  return clip;
}

NervClip *
nerv_clip_load_i420 (const char *path, int width, int height, int start,
    int max_frames, GError ** error)
{
  FILE *f;
  NervFrameFormat fmt;
  NervClip *clip;
  gint64 size;
  int n;
  guint8 *buf;

  if (width < 1 || height < 1 || width > NERV_MAX_DIM || height > NERV_MAX_DIM) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_INVALID, "bad frame size");
    return NULL;
  }
  f = fopen (path, "rb");
  if (!f) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_IO, "cannot open %s", path);
    return NULL;
  }
  nerv_frame_format_init_yuv420 (&fmt, width, height);
  fseek (f, 0, SEEK_END);
  size = ftell (f);
  n = (int) (size / (gint64) nerv_frame_format_frame_size (&fmt)) - start;
  if (max_frames > 0)
    n = MIN (n, max_frames);
  if (n <= 0) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_DATA, "%s: no frames", path);
    fclose (f);
    return NULL;
  }
  clip = nerv_clip_new (&fmt, n);
  buf = g_malloc (clip->frame_size);
  fseek (f, (long) (start * clip->frame_size), SEEK_SET);
  for (int i = 0; i < n; i++)
    if (!read_u8_frame (f, clip, i, buf)) {
      g_set_error (error, NERV_ERROR, NERV_ERROR_IO, "%s: short read", path);
      nerv_clip_free (clip);
      clip = NULL;
      break;
    }
  g_free (buf);
  fclose (f);
  return clip;
}

NervClip *
nerv_clip_crop (const NervClip * src, int x, int y, int w, int h, int start,
    int n_frames)
{
  NervFrameFormat fmt = src->fmt;
  NervClip *clip;

  g_return_val_if_fail (x >= 0 && y >= 0 && x + w <= src->fmt.width
      && y + h <= src->fmt.height && start + n_frames <= src->n_frames, NULL);
  fmt.width = w;
  fmt.height = h;
  clip = nerv_clip_new (&fmt, n_frames);
  for (int i = 0; i < n_frames; i++)
    for (int c = 0; c < fmt.n_planes; c++) {
      const int pw = nerv_frame_format_plane_width (&fmt, c);
      const int ph = nerv_frame_format_plane_height (&fmt, c);
      const int spw = nerv_frame_format_plane_width (&src->fmt, c);
      const float *s = nerv_clip_plane (src, start + i, c) +
          (y >> fmt.sub_y[c]) * spw + (x >> fmt.sub_x[c]);
      float *d = nerv_clip_plane (clip, i, c);
      for (int r = 0; r < ph; r++)
        memcpy (d + (size_t) r * pw, s + (size_t) r * spw, sizeof (float) * pw);
    }
  return clip;
}

void
nerv_frame_from_output (const NervFrameFormat * fmt, const float *out,
    int out_w, int out_h, float *frame)
{
  const size_t oplane = (size_t) out_w * out_h;

  for (int c = 0; c < fmt->n_planes; c++) {
    const int pw = nerv_frame_format_plane_width (fmt, c);
    const int ph = nerv_frame_format_plane_height (fmt, c);
    const int sx = fmt->sub_x[c], sy = fmt->sub_y[c];
    const float *o = out + c * oplane;
    float *d = frame + nerv_frame_format_plane_offset (fmt, c);

    for (int y = 0; y < ph; y++)
      for (int x = 0; x < pw; x++) {
        const int y0 = y << sy, y1 = MIN (fmt->height, (y + 1) << sy);
        const int x0 = x << sx, x1 = MIN (fmt->width, (x + 1) << sx);
        float p = 0;
        for (int yy = y0; yy < y1; yy++)
          for (int xx = x0; xx < x1; xx++)
            p += o[(size_t) yy * out_w + xx];
        d[(size_t) y * pw + x] = p / ((y1 - y0) * (x1 - x0));
      }
  }
}

/* ---- loss ------------------------------------------------------------- */

double
nerv_frame_loss (const NervFrameFormat * fmt, const float *out, int out_w,
    int out_h, const float *frame, float grad_scale, float *dout, double *mse)
{
  double sumw = 0, total = 0;
  const size_t oplane = (size_t) out_w * out_h;

  for (int c = 0; c < fmt->n_planes; c++)
    sumw += fmt->weight[c];
  if (dout)
    memset (dout, 0, sizeof (float) * oplane * fmt->n_planes);

  for (int c = 0; c < fmt->n_planes; c++) {
    const int pw = nerv_frame_format_plane_width (fmt, c);
    const int ph = nerv_frame_format_plane_height (fmt, c);
    const int sx = fmt->sub_x[c], sy = fmt->sub_y[c];
    const float *t = frame + nerv_frame_format_plane_offset (fmt, c);
    const float *o = out + c * oplane;
    float *d = dout ? dout + c * oplane : NULL;
    const float gcoef = (float) (grad_scale * fmt->weight[c] / sumw * 2.0 /
        ((double) pw * ph));
    double se = 0;

    for (int y = 0; y < ph; y++) {
      if (!sx && !sy) {
        const float *orow = o + (size_t) y * out_w, *trow = t + (size_t) y * pw;
        float *drow = d ? d + (size_t) y * out_w : NULL;
        for (int x = 0; x < pw; x++) {
          const float e = orow[x] - trow[x];
          se += (double) e * e;
          if (drow)
            drow[x] = gcoef * e;
        }
        continue;
      }
      for (int x = 0; x < pw; x++) {
        const int y0 = y << sy, y1 = MIN (fmt->height, (y + 1) << sy);
        const int x0 = x << sx, x1 = MIN (fmt->width, (x + 1) << sx);
        const float inv = 1.0f / ((y1 - y0) * (x1 - x0));
        float p = 0, e, g;
        for (int yy = y0; yy < y1; yy++)
          for (int xx = x0; xx < x1; xx++)
            p += o[(size_t) yy * out_w + xx];
        e = p * inv - t[(size_t) y * pw + x];
        se += (double) e * e;
        if (d) {
          g = gcoef * e * inv;
          for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++)
              d[(size_t) yy * out_w + xx] = g;
        }
      }
    }
    se /= (double) pw * ph;
    if (mse)
      mse[c] = se;
    total += fmt->weight[c] * se;
  }
  return total / sumw;
}

/* ---- training --------------------------------------------------------- */

void
nerv_train_params_init (NervTrainParams * p)
{
  memset (p, 0, sizeof (*p));
  p->epochs = 100;
  p->batch = 1;
  p->lr = 1e-3f;
  p->warmup = 0.1f;
  p->embed_lr_scale = 1.0f;
  p->embed_init = 0.5f;
  p->seed = 1;
  p->shuffle = TRUE;
}

float
nerv_lr_at (const NervTrainParams * p, int t, int n)
{
  const int warm = MAX (1, (int) (p->warmup * n));
  if (t < warm)
    return p->lr * (0.1f + 0.9f * (float) t / warm);
  if (n <= warm)
    return p->lr;
  return (float) (p->lr * 0.5 * (1.0 + cos (G_PI * (t - warm) / (n - warm))));
}

struct _NervTrainer {
  NervModel *model;
  const NervClip *clip;
  NervTrainParams p;
  size_t n_params;
  float *m, *v;
  int step;
  size_t esize;
  float *embed, *em, *ev;
  int *estep;
  float *dout, *dembed;
  AVLFG lfg;
  /* quantisation-aware training */
  NervQuantFunc quant;
  gpointer quant_data;
  int embed_bits;
  float *master;                /* float weights while quant() ones run */
  float *qembed;
};

NervTrainer *
nerv_trainer_new (NervModel * model, const NervClip * clip,
    const NervTrainParams * params, gboolean init_from_model)
{
  NervTrainer *t = g_new0 (NervTrainer, 1);
  const NervModelConfig *cfg = nerv_model_config (model);

  t->model = model;
  t->clip = clip;
  t->p = *params;
  nerv_model_params (model, &t->n_params);
  t->m = nerv_alloc_floats (t->n_params);
  t->v = nerv_alloc_floats (t->n_params);
  av_lfg_init (&t->lfg, params->seed);
  if (!init_from_model)
    nerv_model_init_params (model, params->seed);
  t->esize = nerv_model_config_embed_size (cfg);
  if (t->esize) {
    const size_t n = t->esize * clip->n_frames;
    t->embed = nerv_alloc_floats (n);
    t->em = nerv_alloc_floats (n);
    t->ev = nerv_alloc_floats (n);
    t->estep = g_new0 (int, clip->n_frames);
    t->dembed = nerv_alloc_floats (t->esize);
    for (size_t i = 0; i < n; i++) {
      const double u = av_lfg_get (&t->lfg) * (1.0 / 4294967296.0);
      t->embed[i] = (float) ((2.0 * u - 1.0) * params->embed_init);
    }
  }
  t->dout = nerv_alloc_floats ((size_t) cfg->out_channels *
      nerv_model_config_out_width (cfg) * nerv_model_config_out_height (cfg));
  return t;
}

void
nerv_trainer_set_params (NervTrainer * t, const NervTrainParams * params)
{
  t->p = *params;
}

void
nerv_trainer_set_fake_quant (NervTrainer * t, NervQuantFunc func,
    gpointer user_data, int embed_bits)
{
  t->quant = func;
  t->quant_data = user_data;
  t->embed_bits = embed_bits;
  if (func && !t->master)
    t->master = nerv_alloc_floats (t->n_params);
  if (embed_bits && t->esize && !t->qembed)
    t->qembed = nerv_alloc_floats (t->esize);
}

void
nerv_trainer_free (NervTrainer * t)
{
  if (!t)
    return;
  nerv_free (t->master);
  nerv_free (t->qembed);
  nerv_free (t->m);
  nerv_free (t->v);
  nerv_free (t->embed);
  nerv_free (t->em);
  nerv_free (t->ev);
  nerv_free (t->dembed);
  nerv_free (t->dout);
  g_free (t->estep);
  g_free (t);
}

float *
nerv_trainer_embeddings (NervTrainer * t)
{
  return t->embed;
}

static void
adam_step_params (NervAdamStep * a, float lr, int step)
{
  a->beta1 = 0.9f;
  a->beta2 = 0.999f;
  a->eps = 1e-8f;
  a->step = (float) (lr / (1.0 - pow (0.9, step)));
  a->vscale = (float) (1.0 / sqrt (1.0 - pow (0.999, step)));
}

typedef struct {
  const NervDsp *dsp;
  float *w, *m, *v;
  const float *g;
  size_t n;
  NervAdamStep a;
} AdamJob;

#define ADAM_CHUNK 32768

static void
adam_task (gpointer data, int task, int thread)
{
  const AdamJob *j = data;
  const size_t i0 = (size_t) task * ADAM_CHUNK;
  const int n = (int) MIN ((size_t) ADAM_CHUNK, j->n - i0);
  j->dsp->adam (j->w + i0, j->m + i0, j->v + i0, j->g + i0, n, &j->a);
}

static float
frame_pos (const NervTrainer * t, int f)
{
  return (float) f / (float) t->clip->n_frames;
}

double
nerv_trainer_step (NervTrainer * t, const int *frames, int n, float lr,
    double *mse)
{
  NervModel *model = t->model;
  const NervModelConfig *cfg = nerv_model_config (model);
  const int ow = nerv_model_config_out_width (cfg);
  const int oh = nerv_model_config_out_height (cfg);
  NervScratch *s = nerv_model_scratch (t->model);
  double loss = 0, pm[NERV_MAX_PLANES];
  AdamJob j;

  if (mse)
    memset (mse, 0, sizeof (double) * t->clip->fmt.n_planes);
  nerv_model_zero_grads (model);
  if (t->quant) {
    memcpy (t->master, nerv_model_params (model, NULL),
        sizeof (float) * t->n_params);
    t->quant (nerv_model_params (model, NULL), t->quant_data);
  }
  for (int b = 0; b < n; b++) {
    const int f = frames[b];
    const float *out, *embed = t->esize ? t->embed + t->esize * f : NULL;
    if (embed && t->embed_bits) {
      memcpy (t->qembed, embed, sizeof (float) * t->esize);
      nerv_fake_quant_vector (t->qembed, t->esize, t->embed_bits);
      embed = t->qembed;
    }
    out = nerv_model_forward (model, embed, frame_pos (t, f));
    loss += nerv_frame_loss (&t->clip->fmt, out, ow, oh,
        t->clip->data + t->clip->frame_size * f, 1.0f / n, t->dout, pm);
    if (mse)
      for (int c = 0; c < t->clip->fmt.n_planes; c++)
        mse[c] += pm[c] / n;
    nerv_model_backward (model, t->dout, t->dembed);
    if (t->esize) {
      NervAdamStep a;
      t->estep[f]++;
      adam_step_params (&a, lr * t->p.embed_lr_scale, t->estep[f]);
      s->dsp->adam (t->embed + t->esize * f, t->em + t->esize * f,
          t->ev + t->esize * f, t->dembed, (int) t->esize, &a);
    }
  }
  if (t->quant)
    memcpy (nerv_model_params (model, NULL), t->master,
        sizeof (float) * t->n_params);
  t->step++;
  j.dsp = s->dsp;
  j.w = nerv_model_params (model, NULL);
  j.m = t->m;
  j.v = t->v;
  j.g = nerv_model_grads (model, NULL);
  j.n = t->n_params;
  adam_step_params (&j.a, lr, t->step);
  nerv_pool_run (s->pool, adam_task, &j,
      (int) ((t->n_params + ADAM_CHUNK - 1) / ADAM_CHUNK));
  return loss / n;
}

gboolean
nerv_trainer_run (NervTrainer * t)
{
  const int nf = t->clip->n_frames;
  const int batch = CLAMP (t->p.batch, 1, nf);
  const int steps_per_epoch = nerv_ceil_div (nf, batch);
  const int n_steps = t->p.epochs * steps_per_epoch;
  const int np = t->clip->fmt.n_planes;
  int *order = g_new (int, nf);
  gint64 start = g_get_monotonic_time (), last_report = start;
  gboolean ok = TRUE;
  int step = 0;

  for (int i = 0; i < nf; i++)
    order[i] = i;
  for (int e = 0; e < t->p.epochs && ok; e++) {
    double loss = 0, mse[NERV_MAX_PLANES] = { 0 }, smse[NERV_MAX_PLANES];
    int done = 0;

    if (t->p.shuffle)
      for (int i = nf - 1; i > 0; i--) {
        const int k = av_lfg_get (&t->lfg) % (i + 1);
        const int tmp = order[i];
        order[i] = order[k];
        order[k] = tmp;
      }
    for (int b = 0; b < nf; b += batch, step++) {
      const int n = MIN (batch, nf - b);
      gint64 now;
      loss += nerv_trainer_step (t, order + b, n,
          nerv_lr_at (&t->p, step, n_steps), smse) * n;
      for (int c = 0; c < np; c++)
        mse[c] += smse[c] * n;
      done += n;
      now = g_get_monotonic_time ();
      /* report at the end of each epoch, and at least once a second */
      if (t->p.progress && (b + n >= nf || now - last_report >= G_USEC_PER_SEC)) {
        NervTrainProgress pr;
        double pmse[NERV_MAX_PLANES];
        for (int c = 0; c < np; c++)
          pmse[c] = mse[c] / done;
        pr.epoch = e;
        pr.n_epochs = t->p.epochs;
        pr.step = step + 1;
        pr.n_steps = n_steps;
        pr.loss = loss / done;
        pr.psnr_y = nerv_psnr (pmse[0]);
        pr.psnr_yuv = nerv_psnr_weighted (&t->clip->fmt, pmse);
        pr.elapsed_s = (now - start) / 1e6;
        last_report = now;
        if (!t->p.progress (&pr, t->p.user_data)) {
          ok = FALSE;
          break;
        }
      }
    }
  }
  g_free (order);
  return ok;
}

static void
evaluate (NervTrainer * t, double *mse, gboolean u8)
{
  const NervModelConfig *cfg = nerv_model_config (t->model);
  const int ow = nerv_model_config_out_width (cfg);
  const int oh = nerv_model_config_out_height (cfg);
  const NervFrameFormat *fmt = &t->clip->fmt;
  const int np = fmt->n_planes;
  float *frame = nerv_alloc_floats (t->clip->frame_size);
  double fmse[NERV_MAX_PLANES];

  memset (mse, 0, sizeof (double) * np);
  for (int f = 0; f < t->clip->n_frames; f++) {
    const float *out = nerv_model_forward (t->model,
        t->esize ? t->embed + t->esize * f : NULL, frame_pos (t, f));
    const float *ref = t->clip->data + t->clip->frame_size * f;
    nerv_frame_from_output (fmt, out, ow, oh, frame);
    if (u8)
      for (size_t i = 0; i < t->clip->frame_size; i++)
        frame[i] = floorf (CLAMP (frame[i], 0.0f, 1.0f) * 255.0f + 0.5f) /
            255.0f;
    nerv_frame_mse (fmt, frame, NERV_SAMPLES_F32, ref, NERV_SAMPLES_F32, fmse);
    for (int c = 0; c < np; c++)
      mse[c] += fmse[c] / t->clip->n_frames;
  }
  nerv_free (frame);
}

void
nerv_trainer_evaluate (NervTrainer * t, double *mse)
{
  evaluate (t, mse, FALSE);
}

void
nerv_trainer_evaluate_u8 (NervTrainer * t, double *mse)
{
  evaluate (t, mse, TRUE);
}
