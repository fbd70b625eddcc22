/* gst-nerv: tests of the latent-grid model (nerv-grid, nerv-latent)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-check.h"
#include <libavutil/lfg.h>
#include <math.h>
#include <string.h>

#include "nerv-grid.h"
#include "nerv-latent.h"

static float
uni (AVLFG * g)
{
  return (float) (av_lfg_get (g) / 4294967296.0);
}

/* a small GRID config: odd frame size, 4:2:0-like planes */
static void
small_config (NervModelConfig * cfg, int w, int h, int levels, int sc, int ac)
{
  nerv_grid_config_init (cfg, w, h, 3, TRUE, levels, sc, ac);
  ck_assert (nerv_model_config_validate (cfg, NULL));
}

/* ---- the integer exponential and the tables ----------------------------- */

START_TEST (test_exp_q32)
{
  for (int i = 0; i < 4000; i++) {
    const double t = i * 0.0071;
    const guint64 tq = (guint64) llround (t * 4294967296.0);
    const double ref = exp (-(tq / 4294967296.0)) * 4294967296.0;
    const double got = (double) nerv_exp_neg_q32 (tq);
    ck_assert_msg (fabs (got - ref) <= 4.0, "e^-%g: %.1f, want %.1f", t, got,
        ref);
  }
  ck_assert_uint_eq (nerv_exp_neg_q32 (0), G_GUINT64_CONSTANT (1) << 32);
  ck_assert_uint_eq (nerv_exp_neg_q32 ((guint64) 60 << 32), 0);
}
END_TEST

START_TEST (test_laplace_tables)
{
  for (int si = NERV_LAPLACE_SCALE_MIN; si <= NERV_LAPLACE_SCALE_MAX; si++) {
    for (int fi = 0; fi < NERV_LAPLACE_FRACS; fi++) {
      const guint32 *cum = nerv_laplace_table (si, fi);
      const double b = exp (si / 8.0), mu = (fi - 7.5) / 16.0;
      ck_assert_uint_eq (cum[0], 0);
      ck_assert_uint_eq (cum[NERV_LAPLACE_SYMBOLS], 1 << 16);
      for (int s = 0; s < NERV_LAPLACE_SYMBOLS; s++)
        ck_assert_uint_gt (cum[s + 1], cum[s]);
      /* the central symbols cost what the continuous Laplace says */
      for (int d = -3; d <= 3; d++) {
        const int s = d + NERV_LAPLACE_K;
        const double table = 16 - log2 ((double) (cum[s + 1] - cum[s]));
        const double cont = nerv_laplace_bits ((float) d, (float) mu,
            (float) log (b), NULL, NULL, NULL);
        if (cont < 10)
          ck_assert_msg (fabs (table - cont) < 0.05 + 0.01 * cont,
              "si %d fi %d d %d: table %.4f bits, Laplace %.4f", si, fi, d,
              table, cont);
      }
    }
  }
}
END_TEST

/* ---- Laplace bits and their derivatives ---------------------------------- */

START_TEST (test_laplace_bits_grad)
{
  AVLFG g;
  av_lfg_init (&g, 7);
  for (int i = 0; i < 2000; i++) {
    const float x = (uni (&g) - 0.5f) * 12, mu = (uni (&g) - 0.5f) * 6;
    const float lb = (uni (&g) - 0.5f) * 7;
    const float e = 1e-3f;
    float dx, dmu, dlb;
    double n;
    nerv_laplace_bits (x, mu, lb, &dx, &dmu, &dlb);
    if (nerv_laplace_bits (x, mu, lb, NULL, NULL, NULL) > 15.9)
      continue;
    n = (nerv_laplace_bits (x + e, mu, lb, NULL, NULL, NULL) -
        nerv_laplace_bits (x - e, mu, lb, NULL, NULL, NULL)) / (2 * e);
    ck_assert_msg (fabs (n - dx) < 1e-2 * (1 + fabs (n)), "dx %g %g", n, dx);
    n = (nerv_laplace_bits (x, mu + e, lb, NULL, NULL, NULL) -
        nerv_laplace_bits (x, mu - e, lb, NULL, NULL, NULL)) / (2 * e);
    ck_assert_msg (fabs (n - dmu) < 1e-2 * (1 + fabs (n)), "dmu %g %g", n, dmu);
    n = (nerv_laplace_bits (x, mu, lb + e, NULL, NULL, NULL) -
        nerv_laplace_bits (x, mu, lb - e, NULL, NULL, NULL)) / (2 * e);
    ck_assert_msg (fabs (n - dlb) < 1e-2 * (1 + fabs (n)), "dlb %g %g", n, dlb);
  }
}
END_TEST

/* ---- upsampling: the backward pass is the adjoint ------------------------- */

START_TEST (test_upsample_adjoint)
{
  static const int sizes[][2] = { {37, 23}, {64, 48}, {5, 3}, {1, 1}, {33, 17} };
  AVLFG g;
  av_lfg_init (&g, 3);
  for (guint c = 0; c < G_N_ELEMENTS (sizes); c++) {
    NervModelConfig cfg;
    NervGridLayout lay;
    float *lat, *dlat, *up, *r, *tmp;
    size_t frame;
    small_config (&cfg, sizes[c][0], sizes[c][1], 5, 4, 4);
    nerv_grid_layout_init (&lay, &cfg);
    frame = (size_t) lay.width * lay.height;
    lat = nerv_alloc_floats (lay.size);
    dlat = nerv_alloc_floats (lay.size);
    up = nerv_alloc_floats (frame);
    r = nerv_alloc_floats (frame);
    tmp = nerv_alloc_floats (nerv_grid_upsample_tmp_size (&lay));
    for (size_t i = 0; i < lay.size; i++)
      lat[i] = uni (&g) - 0.5f;
    for (size_t i = 0; i < frame; i++)
      r[i] = uni (&g) - 0.5f;
    for (int p = 0; p < lay.n_planes; p++) {
      const size_t n = (size_t) lay.w[p] * lay.h[p];
      nerv_grid_upsample_plane (&lay, p, lat, up, tmp);
      nerv_grid_upsample_plane_backward (&lay, p, r, dlat, tmp);
      ck_assert_msg (fabs (nerv_dot (up, r, frame) - nerv_dot (lat +
                  lay.off[p], dlat + lay.off[p], n)) < 1e-4,
          "%dx%d plane %d: <up x, r> != <x, up^T r>", lay.width, lay.height,
          p);
      /* a constant plane stays constant (the taps sum to one) */
      for (size_t i = 0; i < n; i++)
        lat[lay.off[p] + i] = 0.25f;
      nerv_grid_upsample_plane (&lay, p, lat, up, tmp);
      for (size_t i = 0; i < frame; i++)
        ck_assert_float_eq_tol (up[i], 0.25f, 1e-6);
    }
    nerv_free (lat);
    nerv_free (dlat);
    nerv_free (up);
    nerv_free (r);
    nerv_free (tmp);
  }
}
END_TEST

/* ---- synthesis gradients ------------------------------------------------- */

typedef struct {
  NervGridSynth *sy;
  float *params, *lat, *r;
  size_t nout;
} SynthCase;

static double
synth_loss (gpointer ctx)
{
  SynthCase *c = ctx;
  const float *out = nerv_grid_synth_forward (c->sy, c->params, c->lat);
  return nerv_dot (out, c->r, c->nout);
}

START_TEST (test_synth_grad)
{
  NervModelConfig cfg;
  NervGridLayout lay;
  NervPool *pool = nerv_pool_new (2);
  NervScratch *s = nerv_scratch_new (pool, NULL);
  SynthCase c;
  NervLayerTable t;
  float *grads, *dlat;
  AVLFG g;
  const GradProbe probe = { synth_loss, &c, 1e-3, 1.0 };

  av_lfg_init (&g, 11);
  small_config (&cfg, 19, 13, 3, 6, 4);
  nerv_grid_layout_init (&lay, &cfg);
  nerv_model_layers (&cfg, &t);
  c.sy = nerv_grid_synth_new (&cfg, s, TRUE);
  c.params = nerv_alloc_floats (t.n_params);
  grads = nerv_alloc_floats (t.n_params);
  c.lat = nerv_alloc_floats (lay.size);
  dlat = nerv_alloc_floats (lay.size);
  c.nout = (size_t) 3 * 19 * 13;
  c.r = nerv_alloc_floats (c.nout);
  nerv_grid_init_params (&cfg, c.params, 0.1f, 5);
  /* a branch that is not zero */
  for (size_t i = t.layer[6].w_off; i < t.layer[6].w_off + t.layer[6].n_w; i++)
    c.params[i] = (uni (&g) - 0.5f) * 0.3f;
  for (size_t i = 0; i < lay.size; i++)
    c.lat[i] = (uni (&g) - 0.5f) * 4;
  for (size_t i = 0; i < c.nout; i++)
    c.r[i] = uni (&g) - 0.5f;
  synth_loss (&c);
  nerv_grid_synth_backward (c.sy, c.params, c.r, grads, dlat);
  check_grad (&probe, "synth params", c.params + t.layer[3].w_off,
      t.n_params - t.layer[3].w_off, 7, grads + t.layer[3].w_off, 0);
  check_grad (&probe, "synth latents", c.lat, lay.size, 5, dlat, 0);
  nerv_grid_synth_free (c.sy);
  nerv_free (c.params);
  nerv_free (grads);
  nerv_free (c.lat);
  nerv_free (dlat);
  nerv_free (c.r);
  nerv_scratch_free (s);
  nerv_pool_free (pool);
}
END_TEST

/* ---- the ARM: float gradients, float against integer, coding ------------- */

typedef struct {
  NervGridArm *arm;
  float *params, *coded, *ref;
} ArmCase;

static double
arm_loss (gpointer ctx)
{
  ArmCase *c = ctx;
  return nerv_grid_arm_forward (c->arm, c->params, c->coded, c->ref);
}

/* ARM weights, on the integer ARM's grid of 2^-8 when grid is set
 * (sums of them can then be exactly 0, on a ReLU's kink) */
static void
random_arm (const NervModelConfig * cfg, float *params, AVLFG * g, float amp,
    gboolean grid)
{
  NervLayerTable t;
  nerv_model_layers (cfg, &t);
  for (int l = 0; l < 3; l++) {
    const NervLayerDesc *d = &t.layer[l];
    for (size_t i = 0; i < d->n_w + d->n_b; i++)
      params[d->w_off + i] = grid ? roundf ((uni (g) - 0.5f) * amp * 256) /
          256 : (uni (g) - 0.5f) * amp;
  }
}

START_TEST (test_arm_grad)
{
  NervModelConfig cfg;
  NervGridLayout lay;
  NervLayerTable t;
  NervPool *pool = nerv_pool_new (2);
  NervScratch *s = nerv_scratch_new (pool, NULL);
  ArmCase c;
  float *grads, *dcoded;
  AVLFG g;
    const GradProbe probe = { arm_loss, &c, 1e-3, 30.0 };

  av_lfg_init (&g, 13);
  small_config (&cfg, 21, 11, 3, 4, 6);
  nerv_grid_layout_init (&lay, &cfg);
  nerv_model_layers (&cfg, &t);
  c.arm = nerv_grid_arm_new (&cfg, s);
  c.params = nerv_alloc_floats (t.n_params);
  grads = nerv_alloc_floats (t.n_params);
  c.coded = nerv_alloc_floats (lay.size);
  c.ref = nerv_alloc_floats (lay.size);
  dcoded = nerv_alloc_floats (lay.size);
  random_arm (&cfg, c.params, &g, 0.4f, FALSE);
  /* hidden units away from their ReLU's kink, so that finite differences
   * see a smooth function (a sum over hundreds of latents has a kink
   * near any point otherwise) */
  for (int k = 0; k < cfg.arm_c; k++) {
    c.params[t.layer[0].b_off + k] = 3.0f;
    c.params[t.layer[1].b_off + k] = 1.0f;
  }
  for (size_t i = 0; i < lay.size; i++) {
    c.coded[i] = (uni (&g) - 0.5f) * 6;
    c.ref[i] = roundf ((uni (&g) - 0.5f) * 6);
  }
  for (int with_ref = 0; with_ref < 2; with_ref++) {
    float *keep_ref = c.ref;
    if (!with_ref)
      c.ref = NULL;
    memset (grads, 0, sizeof (float) * t.n_params);
    memset (dcoded, 0, sizeof (float) * lay.size);
    arm_loss (&c);
    nerv_grid_arm_backward (c.arm, c.params, 1.0f, grads, dcoded);
    check_grad (&probe, "ARM params", c.params, t.layer[3].w_off, 3, grads, 0);
    check_grad (&probe, "ARM coded", c.coded, lay.size, 7, dcoded, 0);
    c.ref = keep_ref;
  }
  nerv_grid_arm_free (c.arm);
  nerv_free (c.params);
  nerv_free (grads);
  nerv_free (c.coded);
  nerv_free (c.ref);
  nerv_free (dcoded);
  nerv_scratch_free (s);
  nerv_pool_free (pool);
}
END_TEST

/* integer weights of the ARM layers from float params on the 2^-8 grid */
static gint32 *
arm_ints (const NervModelConfig * cfg, const float *params)
{
  NervLayerTable t;
  size_t n;
  gint32 *q;
  nerv_model_layers (cfg, &t);
  n = t.layer[3].w_off;
  q = g_new (gint32, n);
  for (size_t i = 0; i < n; i++)
    q[i] = CLAMP ((gint32) lrintf (params[i] * 256), -NERV_ARM_MAX_WEIGHT,
        NERV_ARM_MAX_WEIGHT);
  return q;
}

START_TEST (test_arm_int_matches_float)
{
  NervModelConfig cfg;
  NervGridLayout lay;
  NervLayerTable t;
  NervPool *pool = nerv_pool_new (1);
  NervScratch *s = nerv_scratch_new (pool, NULL);
  NervGridArm *arm;
  float *params, *coded, *ref;
  gint32 *q, *ci, *ri;
  const float *o;
  size_t stride;
  AVLFG g;

  av_lfg_init (&g, 17);
  small_config (&cfg, 24, 16, 3, 4, 8);
  nerv_grid_layout_init (&lay, &cfg);
  nerv_model_layers (&cfg, &t);
  arm = nerv_grid_arm_new (&cfg, s);
  params = nerv_alloc_floats (t.n_params);
  coded = nerv_alloc_floats (lay.size);
  ref = nerv_alloc_floats (lay.size);
  ci = g_new (gint32, lay.size);
  ri = g_new (gint32, lay.size);
  random_arm (&cfg, params, &g, 0.5f, TRUE);
  q = arm_ints (&cfg, params);
  for (size_t i = 0; i < lay.size; i++) {
    ci[i] = (gint32) lrintf ((uni (&g) - 0.5f) * 10);
    ri[i] = (gint32) lrintf ((uni (&g) - 0.5f) * 10);
    coded[i] = (float) ci[i];
    ref[i] = (float) ri[i];
  }
  nerv_grid_arm_forward (arm, params, coded, ref);
  o = nerv_grid_arm_outputs (arm, &stride);
  for (int p = 0; p < lay.n_planes; p++)
    for (int y = 0; y < lay.h[p]; y++)
      for (int x = 0; x < lay.w[p]; x++) {
        const size_t i = lay.off[p] + (size_t) y * lay.w[p] + x;
        gint32 ctx[NERV_ARM_CONTEXT], mu, lb;
        nerv_arm_context_int (ci + lay.off[p], ri + lay.off[p], lay.w[p],
            lay.h[p], y, x, ctx);
        nerv_arm_eval_int (q, cfg.arm_c, t.layer[0].cin, ctx, 2 * p + 1, &mu,
            &lb);
        ck_assert_msg (fabs (mu / 256.0 - o[i]) < 4 / 256.0 &&
            fabs (lb / 256.0 - o[stride + i]) < 4 / 256.0,
            "latent %zu: integer (%g, %g), float (%g, %g)", i, mu / 256.0,
            lb / 256.0, o[i], o[stride + i]);
      }
  g_free (q);
  g_free (ci);
  g_free (ri);
  nerv_free (params);
  nerv_free (coded);
  nerv_free (ref);
  nerv_grid_arm_free (arm);
  nerv_scratch_free (s);
  nerv_pool_free (pool);
}
END_TEST

START_TEST (test_latent_coding)
{
  NervModelConfig cfg;
  NervGridLayout lay;
  NervLayerTable t;
  AVLFG g;
  float *params;
  gint32 *q, *lat, *ref, *back;
  NervArmInt arm;

  av_lfg_init (&g, 19);
  small_config (&cfg, 45, 27, 4, 4, 8);
  nerv_grid_layout_init (&lay, &cfg);
  nerv_model_layers (&cfg, &t);
  params = nerv_alloc_floats (t.n_params);
  random_arm (&cfg, params, &g, 0.4f, TRUE);
  q = arm_ints (&cfg, params);
  arm.wq = q;
  arm.arm_c = cfg.arm_c;
  arm.n_in = t.layer[0].cin;
  lat = g_new (gint32, lay.size);
  ref = g_new (gint32, lay.size);
  back = g_new (gint32, lay.size);
  for (size_t i = 0; i < lay.size; i++) {
    const float u = uni (&g);
    /* mostly small, some zero runs, a few escapes and the extremes */
    lat[i] = u < 0.4f ? 0 : (gint32) lrintf ((uni (&g) - 0.5f) * 8);
    if (i % 97 == 3)
      lat[i] = (gint32) lrintf ((uni (&g) - 0.5f) * 3000);
    ref[i] = (gint32) lrintf ((uni (&g) - 0.5f) * 6);
  }
  lat[5] = NERV_LATENT_MAX;
  lat[6] = -NERV_LATENT_MAX;
  for (int with_ref = 0; with_ref < 2; with_ref++) {
    const gint32 *r = with_ref ? ref : NULL;
    GByteArray *a = g_byte_array_new ();
    NervRangeEncoder enc;
    NervRangeDecoder dec;
    double est;
    nerv_range_encoder_init (&enc, a);
    nerv_latents_encode (&enc, &lay, &arm, lat, r);
    nerv_range_encoder_finish (&enc);
    est = nerv_latents_bits (&lay, &arm, lat, r);
    ck_assert_msg (fabs (8.0 * a->len - est) < 0.01 * est + 64,
        "%u bytes, estimated %.0f bits", a->len, est);
    nerv_range_decoder_init (&dec, a->data, a->len);
    ck_assert (nerv_latents_decode (&dec, &lay, &arm, back, r));
    ck_assert (memcmp (back, lat, sizeof (gint32) * lay.size) == 0);
    ck_assert_uint_eq (nerv_range_decoder_consumed (&dec), a->len);
    /* cut short: refused or wrong, never more than the buffer */
    for (guint cut = 0; cut < a->len; cut += 1 + a->len / 40) {
      nerv_range_decoder_init (&dec, a->data, cut);
      if (nerv_latents_decode (&dec, &lay, &arm, back, r))
        ck_assert (!nerv_range_decoder_ok (&dec)
            || nerv_range_decoder_consumed (&dec) <= cut);
    }
    g_byte_array_free (a, TRUE);
  }
  g_free (q);
  g_free (lat);
  g_free (ref);
  g_free (back);
  nerv_free (params);
}
END_TEST

static Suite *
grid_suite (void)
{
  Suite *s = suite_create ("grid");
  TCase *tc = tcase_create ("grid");
  tcase_add_test (tc, test_exp_q32);
  tcase_add_test (tc, test_laplace_tables);
  tcase_add_test (tc, test_laplace_bits_grad);
  tcase_add_test (tc, test_upsample_adjoint);
  tcase_add_test (tc, test_synth_grad);
  tcase_add_test (tc, test_arm_grad);
  tcase_add_test (tc, test_arm_int_matches_float);
  tcase_add_test (tc, test_latent_coding);
  suite_add_tcase (s, tc);
  return s;
}

NERV_CHECK_MAIN (grid)
