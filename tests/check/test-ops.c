/* gst-nerv: gradient checks for every op with a backward pass
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each op is checked against central finite differences of the scalar
 * L = sum(r * y) for a fixed random r: the backward pass, given dy = r,
 * must give dL/dx and dL/dw. Sizes are odd on purpose; the convolution is
 * checked at every kernel level (C, ORC, AVX2) and with 1 and 2 threads.
 */
#include "nerv-check.h"
#include <libavutil/lfg.h>
#include <math.h>
#include <string.h>

#include "nerv-quant.h"
#include "nerv-train.h"

static AVLFG lfg;

static float
frand (float a)
{
  return (float) ((av_lfg_get (&lfg) * (2.0 / 4294967296.0) - 1.0) * a);
}

static void
fill (float *p, size_t n, float a)
{
  for (size_t i = 0; i < n; i++)
    p[i] = frand (a);
}

/* ---- convolution ------------------------------------------------------ */

typedef struct {
  NervScratch *s;
  NervConvShape c;
  int h, w;
  float *x, *wt, *b, *y, *r;
} ConvCase;

static double
conv_loss (gpointer ctx)
{
  ConvCase *cc = ctx;
  nerv_conv2d_forward (cc->s, &cc->c, cc->x, cc->h, cc->w, cc->wt, cc->b, cc->y);
  return nerv_dot (cc->y, cc->r, (size_t) cc->c.cout * cc->h * cc->w);
}

static void
run_conv_case (NervDspLevel level, int threads, int cin, int cout, int k,
    int h, int w)
{
  NervDsp dsp;
  NervPool *pool = nerv_pool_new (threads);
  ConvCase cc;
  const size_t nx = (size_t) cin * h * w, ny = (size_t) cout * h * w;
  const size_t nw = (size_t) cout * cin * k * k;
  float *gw, *gb, *dx;
  /* the op is linear in x, w and b */
  const GradProbe probe = { conv_loss, &cc, 1e-2, 1.0 };
  char name[96];

  nerv_dsp_init (&dsp, level);
  cc.s = nerv_scratch_new (pool, &dsp);
  cc.c.cin = cin;
  cc.c.cout = cout;
  cc.c.k = k;
  cc.h = h;
  cc.w = w;
  cc.x = nerv_alloc_floats (nx);
  cc.wt = nerv_alloc_floats (nw);
  cc.b = nerv_alloc_floats (cout);
  cc.y = nerv_alloc_floats (ny);
  cc.r = nerv_alloc_floats (ny);
  gw = nerv_alloc_floats (nw);
  gb = nerv_alloc_floats (cout);
  dx = nerv_alloc_floats (nx);
  fill (cc.x, nx, 1);
  fill (cc.wt, nw, 0.5f);
  fill (cc.b, cout, 0.5f);
  fill (cc.r, ny, 1);
  /* gradients accumulate: start gw from a known value */
  for (size_t i = 0; i < nw; i++)
    gw[i] = 1.0f;

  conv_loss (&cc);
  nerv_conv2d_backward (cc.s, &cc.c, cc.x, h, w, cc.wt, cc.r, gw, gb, dx);

  g_snprintf (name, sizeof (name), "conv %s t%d %dx%d k%d %dx%d dx",
      nerv_dsp_level_name (level), threads, cin, cout, k, w, h);
  check_grad (&probe, name, cc.x, nx, 1 + nx / 23, dx, 0);
  name[strlen (name) - 2] = 'w';
  check_grad (&probe, name, cc.wt, nw, 1 + nw / 29, gw, 1.0);
  name[strlen (name) - 1] = 'b';
  check_grad (&probe, name, cc.b, cout, 1, gb, 0);

  nerv_free (cc.x);
  nerv_free (cc.wt);
  nerv_free (cc.b);
  nerv_free (cc.y);
  nerv_free (cc.r);
  nerv_free (gw);
  nerv_free (gb);
  nerv_free (dx);
  nerv_scratch_free (cc.s);
  nerv_pool_free (pool);
}

START_TEST (test_conv_grad)
{
  /* cin, cout, k, h, w: odd sizes, 1x1 to 5x5, images smaller than the
   * kernel, several bands (w*h > 512) and channel-split forward passes */
  static const int cases[][5] = {
    {1, 1, 1, 1, 1}, {3, 5, 1, 7, 9}, {2, 3, 3, 5, 7}, {5, 7, 3, 1, 3},
    {3, 2, 5, 4, 3}, {4, 6, 5, 9, 11}, {3, 50, 3, 2, 4}, {2, 3, 3, 37, 29},
    {61, 75, 1, 2, 4},
  };
  av_lfg_init (&lfg, 1234);
  for (int level = 0; level <= (int) nerv_dsp_max_level (); level++)
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      run_conv_case (level, 1 + (i & 1), cases[i][0], cases[i][1],
          cases[i][2], cases[i][3], cases[i][4]);
}
END_TEST;

/* ---- conv forward against a direct convolution ----------------------- */

START_TEST (test_conv_direct)
{
  const int cin = 3, cout = 5, k = 3, h = 23, w = 41, pad = 1;
  NervPool *pool = nerv_pool_new (2);
  NervScratch *s = nerv_scratch_new (pool, NULL);
  NervConvShape c = { cin, cout, k };
  float *x = nerv_alloc_floats (cin * h * w), *wt = nerv_alloc_floats (cout * cin * 9);
  float *b = nerv_alloc_floats (cout), *y = nerv_alloc_floats (cout * h * w);

  av_lfg_init (&lfg, 99);
  fill (x, cin * h * w, 1);
  fill (wt, cout * cin * 9, 1);
  fill (b, cout, 1);
  nerv_conv2d_forward (s, &c, x, h, w, wt, b, y);
  for (int co = 0; co < cout; co++)
    for (int yy = 0; yy < h; yy++)
      for (int xx = 0; xx < w; xx++) {
        double acc = b[co];
        for (int ci = 0; ci < cin; ci++)
          for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
              const int sy = yy + ky - pad, sx = xx + kx - pad;
              if (sy >= 0 && sy < h && sx >= 0 && sx < w)
                acc += (double) wt[((co * cin + ci) * k + ky) * k + kx] *
                    x[(ci * h + sy) * w + sx];
            }
        ck_assert_msg (fabs (acc - y[(co * h + yy) * w + xx]) < 1e-4,
            "conv (%d,%d,%d): %g vs %g", co, yy, xx, acc,
            y[(co * h + yy) * w + xx]);
      }
  nerv_free (x);
  nerv_free (wt);
  nerv_free (b);
  nerv_free (y);
  nerv_scratch_free (s);
  nerv_pool_free (pool);
}
END_TEST;

/* ---- pixel shuffle, GELU, head ---------------------------------------- */

START_TEST (test_pixel_shuffle)
{
  for (int r = 2; r <= 5; r++) {
    const int c = 3, h = 3, w = 5;
    const size_t n = (size_t) c * r * r * h * w;
    float *z = nerv_alloc_floats (n), *y = nerv_alloc_floats (n);
    float *z2 = nerv_alloc_floats (n);
    for (size_t i = 0; i < n; i++)
      z[i] = (float) i;
    nerv_pixel_shuffle (z, c, h, w, r, y);
    /* out channel c*r*r + i*r + j -> pixel (c, y*r+i, x*r+j) */
    for (int ch = 0; ch < c; ch++)
      for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++)
          for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < w; xx++)
              ck_assert_float_eq (y[((size_t) ch * h * r + yy * r + i) * w * r +
                      xx * r + j], z[(((size_t) ch * r * r + i * r + j) * h + yy)
                      * w + xx]);
    nerv_pixel_unshuffle (y, c, h, w, r, z2);
    ck_assert_mem_eq (z, z2, n * sizeof (float));
    nerv_free (z);
    nerv_free (y);
    nerv_free (z2);
  }
}
END_TEST;

typedef struct
{
  NervScratch *s;
  int c, h, w, r;
  size_t n;
  float *z, *pre, *y, *rr;
} ShuffleCase;

static double
shuffle_gelu_loss (gpointer ctx)
{
  ShuffleCase *sc = ctx;
  nerv_shuffle_gelu_forward (sc->s, sc->z, sc->c, sc->h, sc->w, sc->r, sc->pre,
      sc->y);
  return nerv_dot (sc->y, sc->rr, sc->n);
}

START_TEST (test_shuffle_gelu_grad)
{
  const int c = 3, h = 3, w = 5, r = 2;
  const size_t n = (size_t) c * r * r * h * w;
  NervPool *pool = nerv_pool_new (2);
  ShuffleCase sc = { nerv_scratch_new (pool, NULL), c, h, w, r, n,
    nerv_alloc_floats (n), nerv_alloc_floats (n), nerv_alloc_floats (n),
    nerv_alloc_floats (n)
  };
  float *dz = nerv_alloc_floats (n);
  const GradProbe probe = { shuffle_gelu_loss, &sc, 1e-3, 1.0 };

  av_lfg_init (&lfg, 7);
  fill (sc.z, n, 3);
  fill (sc.rr, n, 1);
  nerv_shuffle_gelu_forward (sc.s, sc.z, c, h, w, r, sc.pre, sc.y);
  nerv_shuffle_gelu_backward (sc.s, sc.pre, sc.rr, c, h, w, r, dz);
  check_grad (&probe, "shuffle+gelu", sc.z, n, 1, dz, 0);
  nerv_free (sc.z);
  nerv_free (sc.pre);
  nerv_free (sc.y);
  nerv_free (sc.rr);
  nerv_free (dz);
  nerv_scratch_free (sc.s);
  nerv_pool_free (pool);
}
END_TEST;

START_TEST (test_gelu_values)
{
  /* exact GELU: x * Phi(x); known values */
  static const float x[] = { -3.0f, -1.0f, 0.0f, 0.5f, 1.0f, 2.0f };
  static const double ref[] = { -0.0040496, -0.1586553, 0.0, 0.3457312,
    0.8413447, 1.9544997
  };
  float y[6];
  nerv_gelu_fwd_c (y, x, 6);
  for (int i = 0; i < 6; i++)
    ck_assert_msg (fabs (y[i] - ref[i]) < 1e-6, "gelu(%g) = %g, want %g",
        x[i], y[i], ref[i]);
}
END_TEST;

typedef struct
{
  size_t n;
  float x[37], y[37], r[37];
} HeadCase;

static double
head_loss (gpointer ctx)
{
  HeadCase *hc = ctx;
  nerv_head_act_forward (hc->x, hc->y, hc->n);
  return nerv_dot (hc->y, hc->r, hc->n);
}

START_TEST (test_head_grad)
{
  HeadCase hc = { .n = 37 };
  float dx[37];
  const GradProbe probe = { head_loss, &hc, 1e-3, 1.0 };

  av_lfg_init (&lfg, 8);
  fill (hc.x, hc.n, 3);
  fill (hc.r, hc.n, 1);
  nerv_head_act_forward (hc.x, hc.y, hc.n);
  nerv_head_act_backward (hc.y, hc.r, dx, hc.n);
  for (size_t i = 0; i < hc.n; i++)
    ck_assert (hc.y[i] >= 0.0f && hc.y[i] <= 1.0f);
  check_grad (&probe, "head", hc.x, hc.n, 1, dx, 0);
}
END_TEST;

typedef struct
{
  const NervDsp *dsp;
  int in, out;
  float x[7], wt[35], b[5], y[5], r[5];
} LinearCase;

static double
linear_loss (gpointer ctx)
{
  LinearCase *lc = ctx;
  nerv_linear_forward (lc->dsp, lc->in, lc->out, lc->x, lc->wt, lc->b, lc->y);
  return nerv_dot (lc->y, lc->r, lc->out);
}

START_TEST (test_linear_grad)
{
  LinearCase lc = { .dsp = nerv_dsp_get (), .in = 7, .out = 5 };
  const int in = lc.in, out = lc.out;
  float gw[35] = { 0 }, gb[5] = { 0 }, dx[7];
  const GradProbe probe = { linear_loss, &lc, 1e-2, 1.0 };

  av_lfg_init (&lfg, 9);
  fill (lc.x, in, 1);
  fill (lc.wt, in * out, 1);
  fill (lc.b, out, 1);
  fill (lc.r, out, 1);
  nerv_linear_forward (lc.dsp, in, out, lc.x, lc.wt, lc.b, lc.y);
  nerv_linear_backward (lc.dsp, in, out, lc.x, lc.wt, lc.r, gw, gb, dx);
  check_grad (&probe, "linear dx", lc.x, in, 1, dx, 0);
  check_grad (&probe, "linear dw", lc.wt, in * out, 1, gw, 0);
  for (int i = 0; i < out; i++)
    ck_assert_msg (fabs (gb[i] - lc.r[i]) < 1e-6, "linear db");
}
END_TEST;

START_TEST (test_positional_encoding)
{
  float pe[80];
  nerv_positional_encoding (0.25f, 40, pe);
  for (int l = 0; l < 40; l++) {
    const double a = pow (1.25, l) * G_PI * 0.25;
    ck_assert (fabs (pe[2 * l] - sin (a)) < 1e-5);
    ck_assert (fabs (pe[2 * l + 1] - cos (a)) < 1e-5);
  }
}
END_TEST;

/* ---- loss --------------------------------------------------------------- */

typedef struct
{
  const NervFrameFormat *fmt;
  int ow, oh;
  float *out, *frame;
} LossCase;

/* half the loss: the gradient is asked for with a weight of 0.5 */
static double
half_frame_loss (gpointer ctx)
{
  LossCase *lc = ctx;
  double mse[3];
  return 0.5 * nerv_frame_loss (lc->fmt, lc->out, lc->ow, lc->oh, lc->frame, 0,
      NULL, mse);
}

static void
run_loss_case (const NervFrameFormat * fmt, int ow, int oh)
{
  const size_t no = (size_t) fmt->n_planes * ow * oh;
  const size_t nf = nerv_frame_format_frame_size (fmt);
  LossCase lc = { fmt, ow, oh, nerv_alloc_floats (no),
    nerv_alloc_floats (nf)
  };
  float *d = nerv_alloc_floats (no);
  double mse[3];
  const GradProbe probe = { half_frame_loss, &lc, 1e-3, 1e-3 };

  fill (lc.out, no, 1);
  fill (lc.frame, nf, 1);
  nerv_frame_loss (fmt, lc.out, ow, oh, lc.frame, 0.5f, d, mse);
  check_grad (&probe, "loss", lc.out, no, 1, d, 0);
  nerv_free (lc.out);
  nerv_free (d);
  nerv_free (lc.frame);
}

START_TEST (test_loss_grad)
{
  NervFrameFormat fmt;
  av_lfg_init (&lfg, 10);
  /* odd frame sizes inside a larger padded output */
  nerv_frame_format_init_yuv420 (&fmt, 7, 5);
  run_loss_case (&fmt, 8, 8);
  nerv_frame_format_init_444 (&fmt, 5, 3, 3);
  run_loss_case (&fmt, 6, 4);
  nerv_frame_format_init_444 (&fmt, 3, 3, 1);
  run_loss_case (&fmt, 3, 3);
}
END_TEST;

START_TEST (test_loss_values)
{
  /* 2x2 4:2:0 frame, output all 0.5: Y error 0.5 everywhere, chroma 0 */
  NervFrameFormat fmt;
  float out[12], frame[6] = { 1, 1, 1, 1, 0.5f, 0.5f };
  double mse[3], loss;
  nerv_frame_format_init_yuv420 (&fmt, 2, 2);
  for (int i = 0; i < 12; i++)
    out[i] = 0.5f;
  loss = nerv_frame_loss (&fmt, out, 2, 2, frame, 1, NULL, mse);
  ck_assert (fabs (mse[0] - 0.25) < 1e-9 && mse[1] == 0 && mse[2] == 0);
  ck_assert (fabs (loss - 0.25 * 6 / 8) < 1e-9);
  ck_assert (fabs (nerv_psnr (0.01) - 20.0) < 1e-9);
  /* the same frames through nerv_frame_mse, in each pair of sample types */
  {
    const guint8 frame8[6] = { 255, 255, 255, 255, 128, 128 };
    const guint8 out8[6] = { 128, 128, 128, 128, 128, 128 };
    nerv_frame_mse (&fmt, out, NERV_SAMPLES_F32, frame, NERV_SAMPLES_F32, mse);
    ck_assert (mse[0] == 0.25 && mse[1] == 0 && mse[2] == 0);
    nerv_frame_mse (&fmt, out8, NERV_SAMPLES_U8, frame8, NERV_SAMPLES_U8, mse);
    ck_assert (mse[0] == 127.0 * 127.0 / (255 * 255) && mse[1] == 0);
    nerv_frame_mse (&fmt, frame, NERV_SAMPLES_F32, out8, NERV_SAMPLES_U8, mse);
    ck_assert (fabs (mse[0] - 127.0 * 127.0 / (255 * 255)) < 1e-12);
    ck_assert (fabs (mse[1] - 0.25 / (255 * 255)) < 1e-12);
  }
}
END_TEST;

/* ---- whole models ----------------------------------------------------- */

typedef struct
{
  NervModel *m;
  const NervFrameFormat *fmt;
  const float *embed, *frame;
  float t;
} ModelCase;

/* the loss of the model's frame at mc->t, and its gradient in @dout when
 * not NULL */
static double
model_loss_grad (ModelCase * mc, float *dout)
{
  const NervModelConfig *cfg = nerv_model_config (mc->m);
  const float *out = nerv_model_forward (mc->m, mc->embed, mc->t);
  return nerv_frame_loss (mc->fmt, out, nerv_model_config_out_width (cfg),
      nerv_model_config_out_height (cfg), mc->frame, 1.0f, dout, NULL);
}

static double
model_loss (gpointer ctx)
{
  return model_loss_grad (ctx, NULL);
}

static void
run_model_case (NervModelKind kind)
{
  static const int strides[] = { 3, 2 };
  NervShapeRules rules;
  NervModelConfig cfg;
  NervFrameFormat fmt;
  NervPool *pool = nerv_pool_new (2);
  NervScratch *s = nerv_scratch_new (pool, NULL);
  NervModel *m;
  float *frame, *embed = NULL, *dembed = NULL, *dout, *params, *grads;
  size_t np, ne;
  ModelCase mc;
  const GradProbe probe = { model_loss, &mc, 1e-3, 1e-3 };
  GError *err = NULL;

  nerv_shape_rules_for_budget (&rules, 1000);
  rules.n_stages = 2;
  rules.embed_c = 3;
  rules.min_width = 3;
  rules.pe_levels = 4;
  rules.mlp_hidden = 6;
  ck_assert (nerv_model_config_init (&cfg, kind, 11, 7, 3, 6, &rules,
          strides, &err));
  nerv_frame_format_init_yuv420 (&fmt, 11, 7);
  m = nerv_model_new (&cfg, s);
  nerv_model_init_params (m, 5);
  params = nerv_model_params (m, &np);
  grads = nerv_model_grads (m, NULL);
  ne = nerv_model_config_embed_size (&cfg);
  frame = nerv_alloc_floats (nerv_frame_format_frame_size (&fmt));
  dout = nerv_alloc_floats (3 * nerv_model_config_out_width (&cfg) *
      nerv_model_config_out_height (&cfg));
  av_lfg_init (&lfg, 11);
  for (size_t i = 0; i < nerv_frame_format_frame_size (&fmt); i++)
    frame[i] = 0.5f + frand (0.5f);
  if (ne) {
    embed = nerv_alloc_floats (ne);
    dembed = nerv_alloc_floats (ne);
    fill (embed, ne, 1);
  }

  mc = (ModelCase) { m, &fmt, embed, frame, 0.3f };
  nerv_model_zero_grads (m);
  model_loss_grad (&mc, dout);
  nerv_model_backward (m, dout, dembed);
  check_grad (&probe, kind == NERV_MODEL_NERV ? "nerv param" : "hnerv param",
      params, np, 1 + np / 97, grads, 0);
  check_grad (&probe, "hnerv embedding", embed, ne, 1, dembed, 0);
  nerv_free (frame);
  nerv_free (embed);
  nerv_free (dembed);
  nerv_free (dout);
  nerv_model_free (m);
  nerv_scratch_free (s);
  nerv_pool_free (pool);
}

START_TEST (test_model_grad_hnerv)
{
  run_model_case (NERV_MODEL_HNERV);
}
END_TEST;

START_TEST (test_model_grad_nerv)
{
  run_model_case (NERV_MODEL_NERV);
}
END_TEST;

START_TEST (test_config_anchor)
{
  NervModelConfig cfg;
  static const int channels[] = { 51, 42, 35, 29, 24 };
  nerv_model_config_anchor (&cfg);
  /* the PyTorch anchor: 475,819 + 651 head parameters */
  ck_assert_uint_eq (nerv_model_config_n_params (&cfg), 476470);
  ck_assert_int_eq (cfg.embed_h, 2);
  ck_assert_int_eq (cfg.embed_w, 4);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq (cfg.channels[i], channels[i]);
  ck_assert_int_eq (nerv_model_config_out_width (&cfg), 320);
  ck_assert_int_eq (nerv_model_config_out_height (&cfg), 160);
}
END_TEST;

START_TEST (test_config_limits)
{
  NervModelConfig cfg;
  GError *err = NULL;
  int strides[5];

  /* 320x192: strides 4,2,2,2,2 pad nothing */
  nerv_choose_strides (320, 192, 5, strides);
  ck_assert_int_eq (strides[0], 4);
  ck_assert (nerv_model_config_for_budget (&cfg, NERV_MODEL_HNERV, 320, 192,
          3, 20000, &err));
  ck_assert (nerv_model_config_n_params (&cfg) <= 20000);
  ck_assert (nerv_model_config_n_params (&cfg) > 15000);
  /* refused: absurd sizes and budgets */
  ck_assert (!nerv_model_config_for_budget (&cfg, NERV_MODEL_HNERV, 0, 192,
          3, 20000, &err));
  ck_assert (err != NULL);
  g_clear_error (&err);
  ck_assert (!nerv_model_config_for_budget (&cfg, NERV_MODEL_HNERV, 100000,
          192, 3, 20000, &err));
  g_clear_error (&err);
  ck_assert (!nerv_model_config_for_budget (&cfg, NERV_MODEL_HNERV, 320, 192,
          3, 10, &err));
  g_clear_error (&err);
}
END_TEST;

/* The layer table: layers in order, parameters packed without gaps, and
 * the counts the rest of the code derives from it. */
START_TEST (test_layer_table)
{
  static const struct {
    NervModelKind kind;
    int width, height;
    size_t budget;
    int n_layers;
    size_t n_params;
    double flops;
  } cases[] = {
    {NERV_MODEL_HNERV, 320, 160, 0, 7, 476470, 2765020016.0},   /* anchor */
    {NERV_MODEL_HNERV, 320, 192, 20000, 7, 17651, 126645120.0},
    {NERV_MODEL_NERV, 320, 192, 20000, 9, 19287, 120578560.0},
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    NervModelConfig cfg;
    NervLayerTable t;
    NervTensorInfo ti[NERV_MAX_TENSORS];
    size_t off = 0;
    int n_tensors = 0;

    if (cases[c].budget)
      ck_assert (nerv_model_config_for_budget (&cfg, cases[c].kind,
              cases[c].width, cases[c].height, 3, cases[c].budget, NULL));
    else
      nerv_model_config_anchor (&cfg);
    nerv_model_layers (&cfg, &t);
    ck_assert_int_eq (t.n_layers, cases[c].n_layers);
    ck_assert_uint_eq (t.n_params, cases[c].n_params);
    ck_assert_uint_eq (nerv_model_config_n_params (&cfg), cases[c].n_params);
    ck_assert (nerv_model_forward_flops (&cfg) == cases[c].flops);
    ck_assert_int_eq (t.layer[0].kind, cases[c].kind == NERV_MODEL_NERV ?
        NERV_LAYER_POSENC : NERV_LAYER_CONV);
    ck_assert_int_eq (t.layer[t.n_layers - 1].act, NERV_ACT_HEAD);
    ck_assert_int_eq (t.layer[t.n_layers - 1].cout, 3);
    ck_assert_int_eq (t.layer[t.n_layers - 1].in_w,
        nerv_model_config_out_width (&cfg));
    for (int i = 0; i < t.n_layers; i++) {
      const NervLayerDesc *l = &t.layer[i];
      ck_assert_uint_eq (l->w_off, off);
      ck_assert_uint_eq (l->b_off, off + l->n_w);
      ck_assert_uint_eq (l->n_w, (size_t) l->cout * l->fan_in);
      off = l->b_off + l->n_b;
      if (i > 0)                /* each layer reads the one before */
        ck_assert_uint_eq ((size_t) l->cin * l->in_h * l->in_w,
            nerv_layer_out_size (&t.layer[i - 1]));
      n_tensors += (l->n_w > 0) + (l->n_b > 0);
    }
    ck_assert_uint_eq (off, t.n_params);
    ck_assert_int_eq (nerv_model_tensors (&cfg, ti), n_tensors);
  }
}
END_TEST;

static Suite *
ops_suite (void)
{
  Suite *s = suite_create ("ops");
  TCase *tc = tcase_create ("grad");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_conv_grad);
  tcase_add_test (tc, test_conv_direct);
  tcase_add_test (tc, test_pixel_shuffle);
  tcase_add_test (tc, test_shuffle_gelu_grad);
  tcase_add_test (tc, test_gelu_values);
  tcase_add_test (tc, test_head_grad);
  tcase_add_test (tc, test_linear_grad);
  tcase_add_test (tc, test_positional_encoding);
  tcase_add_test (tc, test_loss_grad);
  tcase_add_test (tc, test_loss_values);
  tcase_add_test (tc, test_model_grad_hnerv);
  tcase_add_test (tc, test_model_grad_nerv);
  tcase_add_test (tc, test_config_anchor);
  tcase_add_test (tc, test_config_limits);
  tcase_add_test (tc, test_layer_table);
  suite_add_tcase (s, tc);
  return s;
}

NERV_CHECK_MAIN (ops);
