/* gst-nerv: nerv-bench, speed of the codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Prints, for one model: the machine's measured FMA peak, conv forward
 * and backward GFLOP/s and share of that peak per kernel path (C, ORC,
 * AVX2), milliseconds per training step per frame (forward + backward +
 * Adam, batch 1) and per decoded frame, and peak memory. Run it on a
 * quiet machine. tests/bench/compare-torch.sh runs PyTorch beside it.
 *
 *   nerv-bench --model anchor --threads 2
 *   nerv-bench --model grid --threads 2   (the latent-grid model at
 *                                           320x192 4:2:0: synthesis,
 *                                           ARM and whole training steps)
 *   nerv-bench --model small --write-config small.txt
 *   nerv-bench --crosscheck DIR      (files for torch_hnerv.py crosscheck)
 */
#include <immintrin.h>
#include <libavutil/lfg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "nerv-gridtrain.h"
#include "nerv-train.h"

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* ---- the machine's peak: a register-resident FMA loop per thread ------ */

#if defined(HAVE_AVX2)
__attribute__((target ("avx2,fma")))
static double
fma_loop (gint64 iters)
{
  /* 12 independent chains cover the FMA latency on two ports */
  const __m256 m = _mm256_set1_ps (0.999999f), c = _mm256_set1_ps (1e-7f);
  __m256 a0 = _mm256_set1_ps (0), a1 = _mm256_set1_ps (1), a2 = _mm256_set1_ps (2);
  __m256 a3 = _mm256_set1_ps (3), a4 = _mm256_set1_ps (4), a5 = _mm256_set1_ps (5);
  __m256 a6 = _mm256_set1_ps (6), a7 = _mm256_set1_ps (7), a8 = _mm256_set1_ps (8);
  __m256 a9 = _mm256_set1_ps (9), a10 = _mm256_set1_ps (10), a11 = _mm256_set1_ps (11);
  float out[8];

  for (gint64 n = 0; n < iters; n++) {
    a0 = _mm256_fmadd_ps (a0, m, c);
    a1 = _mm256_fmadd_ps (a1, m, c);
    a2 = _mm256_fmadd_ps (a2, m, c);
    a3 = _mm256_fmadd_ps (a3, m, c);
    a4 = _mm256_fmadd_ps (a4, m, c);
    a5 = _mm256_fmadd_ps (a5, m, c);
    a6 = _mm256_fmadd_ps (a6, m, c);
    a7 = _mm256_fmadd_ps (a7, m, c);
    a8 = _mm256_fmadd_ps (a8, m, c);
    a9 = _mm256_fmadd_ps (a9, m, c);
    a10 = _mm256_fmadd_ps (a10, m, c);
    a11 = _mm256_fmadd_ps (a11, m, c);
  }
  a0 = _mm256_add_ps (_mm256_add_ps (_mm256_add_ps (a0, a1), _mm256_add_ps (a2, a3)),
      _mm256_add_ps (_mm256_add_ps (a4, a5), _mm256_add_ps (a6, a7)));
  a0 = _mm256_add_ps (a0, _mm256_add_ps (_mm256_add_ps (a8, a9), _mm256_add_ps (a10, a11)));
  _mm256_storeu_ps (out, a0);
  return out[0];
}

__attribute__((target ("avx512f")))
static double
fma_loop512 (gint64 iters)
{
  const __m512 m = _mm512_set1_ps (0.999999f), c = _mm512_set1_ps (1e-7f);
  __m512 a0 = _mm512_set1_ps (0), a1 = _mm512_set1_ps (1), a2 = _mm512_set1_ps (2);
  __m512 a3 = _mm512_set1_ps (3), a4 = _mm512_set1_ps (4), a5 = _mm512_set1_ps (5);
  __m512 a6 = _mm512_set1_ps (6), a7 = _mm512_set1_ps (7), a8 = _mm512_set1_ps (8);
  __m512 a9 = _mm512_set1_ps (9), a10 = _mm512_set1_ps (10), a11 = _mm512_set1_ps (11);
  float out[16];

  for (gint64 n = 0; n < iters; n++) {
    a0 = _mm512_fmadd_ps (a0, m, c);
    a1 = _mm512_fmadd_ps (a1, m, c);
    a2 = _mm512_fmadd_ps (a2, m, c);
    a3 = _mm512_fmadd_ps (a3, m, c);
    a4 = _mm512_fmadd_ps (a4, m, c);
    a5 = _mm512_fmadd_ps (a5, m, c);
    a6 = _mm512_fmadd_ps (a6, m, c);
    a7 = _mm512_fmadd_ps (a7, m, c);
    a8 = _mm512_fmadd_ps (a8, m, c);
    a9 = _mm512_fmadd_ps (a9, m, c);
    a10 = _mm512_fmadd_ps (a10, m, c);
    a11 = _mm512_fmadd_ps (a11, m, c);
  }
  a0 = _mm512_add_ps (_mm512_add_ps (_mm512_add_ps (a0, a1), _mm512_add_ps (a2, a3)),
      _mm512_add_ps (_mm512_add_ps (a4, a5), _mm512_add_ps (a6, a7)));
  a0 = _mm512_add_ps (a0, _mm512_add_ps (_mm512_add_ps (a8, a9), _mm512_add_ps (a10, a11)));
  _mm512_storeu_ps (out, a0);
  return out[0];
}
#endif

typedef struct {
  gint64 iters;
  gboolean wide;
  volatile double sink;
} PeakJob;

static void
peak_task (gpointer data, int task, int thread)
{
#if defined(HAVE_AVX2)
  PeakJob *j = data;
  j->sink = j->wide ? fma_loop512 (j->iters) : fma_loop (j->iters);
#endif
}

/* GFLOP/s of the FMA loop on all threads of the pool (0 without the ISA) */
static double
measure_peak (NervPool * pool, gboolean wide)
{
  PeakJob j = { 20 * 1000 * 1000, wide, 0 };
  const int n = nerv_pool_n_threads (pool);
  double t, best = 0;

  if (nerv_dsp_max_level () < (wide ? NERV_DSP_AVX512 : NERV_DSP_AVX2))
    return 0;
  for (int rep = 0; rep < 3; rep++) {
    t = now_s ();
    nerv_pool_run (pool, peak_task, &j, n);
    t = now_s () - t;
    /* 12 FMAs x 8 (16) lanes x 2 FLOP per iteration, per thread */
    best = MAX (best, (wide ? 384.0 : 192.0) * j.iters * n / t / 1e9);
  }
  return best;
}

/* ---- models ----------------------------------------------------------- */

static gboolean
get_config (const char *name, NervModelConfig * cfg)
{
  if (!strcmp (name, "anchor")) {
    nerv_model_config_anchor (cfg);
    return TRUE;
  }
  if (!strcmp (name, "small"))
    return nerv_model_config_for_budget (cfg, NERV_MODEL_HNERV, 320, 192, 3,
        20000, NULL);
  if (!strcmp (name, "nerv"))
    return nerv_model_config_for_budget (cfg, NERV_MODEL_NERV, 320, 192, 3,
        100000, NULL);
  return FALSE;
}

static void
fill_random (float *p, size_t n, AVLFG * lfg, float lo, float hi)
{
  for (size_t i = 0; i < n; i++)
    p[i] = lo + (hi - lo) * (float) (av_lfg_get (lfg) * (1.0 / 4294967296.0));
}

typedef struct {
  double fwd_s, bwd_s, step_s;
} Timing;

/* Times forward, backward, and whole training steps on random frames. */
static Timing
time_model (const NervModelConfig * cfg, NervPool * pool, const NervDsp * dsp,
    int iters, gboolean train)
{
  NervScratch *s = nerv_scratch_new (pool, dsp);
  NervModel *m = nerv_model_new (cfg, s);
  NervFrameFormat fmt;
  NervClip *clip;
  NervTrainParams tp;
  NervTrainer *tr;
  AVLFG lfg;
  const int ow = nerv_model_config_out_width (cfg);
  const int oh = nerv_model_config_out_height (cfg);
  const size_t nout = (size_t) cfg->out_channels * ow * oh;
  float *dout = nerv_alloc_floats (nout);
  float *embed;
  Timing t = { 1e30, 1e30, 1e30 };

  nerv_frame_format_init_444 (&fmt, ow, oh, cfg->out_channels);
  clip = nerv_clip_new (&fmt, 4);
  av_lfg_init (&lfg, 3);
  fill_random (clip->data, clip->frame_size * 4, &lfg, 0, 1);
  fill_random (dout, nout, &lfg, -1e-3f, 1e-3f);
  nerv_train_params_init (&tp);
  tr = nerv_trainer_new (m, clip, &tp, FALSE);
  embed = nerv_trainer_embeddings (tr);

  /* one untimed pass warms caches, scratch and threads */
  nerv_model_forward (m, embed, 0.0f);
  nerv_model_backward (m, dout, NULL);
  for (int i = 0; i < iters; i++) {
    double t0 = now_s (), t1, t2;
    nerv_model_forward (m, embed, 0.0f);
    t1 = now_s ();
    if (train)
      nerv_model_backward (m, dout, NULL);
    t2 = now_s ();
    t.fwd_s = MIN (t.fwd_s, t1 - t0);
    t.bwd_s = MIN (t.bwd_s, t2 - t1);
  }
  if (train) {
    /* whole steps, as the trainer runs them; the median of the runs */
    double *ts = g_new (double, MAX (iters, 1));
    for (int i = 0; i < iters; i++) {
      const int f = i % 4;
      double t0 = now_s ();
      nerv_trainer_step (tr, &f, 1, 1e-4f, NULL);
      ts[i] = now_s () - t0;
    }
    for (int i = 1; i < iters; i++)
      for (int k = i; k > 0 && ts[k] < ts[k - 1]; k--) {
        double x = ts[k];
        ts[k] = ts[k - 1];
        ts[k - 1] = x;
      }
    t.step_s = ts[iters / 2];
    g_free (ts);
  }
  nerv_trainer_free (tr);
  nerv_clip_free (clip);
  nerv_free (dout);
  nerv_model_free (m);
  nerv_scratch_free (s);
  return t;
}

/* ---- PyTorch cross-check files ---------------------------------------- */

static gboolean
write_floats (const char *dir, const char *name, const float *p, size_t n)
{
  gchar *path = g_build_filename (dir, name, NULL);
  FILE *f = fopen (path, "wb");
  gboolean ok = f && fwrite (p, sizeof (float), n, f) == n;
  if (f)
    ok = (fclose (f) == 0) && ok;
  if (!ok)
    g_printerr ("nerv-bench: cannot write %s\n", path);
  g_free (path);
  return ok;
}

static int
crosscheck (const char *dir, NervPool * pool, int steps)
{
  NervShapeRules rules;
  NervModelConfig cfg;
  NervFrameFormat fmt;
  NervScratch *s = nerv_scratch_new (pool, NULL);
  NervModel *m;
  NervClip *clip;
  NervTrainParams tp;
  NervTrainer *tr;
  const int n_frames = 4;
  const char *media = g_getenv ("NERV_MEDIA_DIR");
  gchar *path, *yuv;
  float *params, *out_all;
  size_t np, nout;
  FILE *lf;
  GError *err = NULL;

  g_mkdir_with_parents (dir, 0755);
  nerv_shape_rules_for_budget (&rules, 20000);
  if (!nerv_model_config_init (&cfg, NERV_MODEL_HNERV, 320, 192, 3, 16,
          &rules, NULL, &err)) {
    g_printerr ("nerv-bench: %s\n", err->message);
    return 1;
  }
  /* natural frames when the shared clip is there, else random ones */
  nerv_frame_format_init_444 (&fmt, 320, 192, 3);
  clip = nerv_clip_new (&fmt, n_frames);
  yuv = g_build_filename (media ? media : "../shared/media",
      "CiscoVT2people_320x192_12fps.yuv", NULL);
  {
    NervClip *src = nerv_clip_load_i420 (yuv, 320, 192, 0, n_frames, NULL);
    AVLFG lfg;
    av_lfg_init (&lfg, 4);
    for (int f = 0; f < n_frames; f++)
      for (int c = 0; c < 3; c++) {
        float *d = nerv_clip_plane (clip, f, c);
        for (int y = 0; y < 192; y++)
          for (int x = 0; x < 320; x++) {
            /* 4:4:4 from 4:2:0 by repeating chroma */
            d[y * 320 + x] = src ?
                nerv_clip_plane (src, f, c)[c ? (y / 2) * 160 + x / 2 : y * 320 + x]
                : (float) (av_lfg_get (&lfg) * (1.0 / 4294967296.0));
          }
      }
    nerv_clip_free (src);
  }
  g_free (yuv);

  m = nerv_model_new (&cfg, s);
  nerv_train_params_init (&tp);
  tr = nerv_trainer_new (m, clip, &tp, FALSE);
  params = nerv_model_params (m, &np);
  path = g_build_filename (dir, "config.txt", NULL);
  if (!nerv_model_config_write (&cfg, n_frames, tp.lr, steps, path, &err)) {
    g_printerr ("nerv-bench: %s\n", err->message);
    return 1;
  }
  g_free (path);
  nout = (size_t) 3 * 320 * 192;
  out_all = nerv_alloc_floats (nout * n_frames);
  for (int f = 0; f < n_frames; f++)
    memcpy (out_all + nout * f, nerv_model_forward (m,
            nerv_trainer_embeddings (tr) + nerv_model_config_embed_size (&cfg) * f,
            0), nout * sizeof (float));
  if (!write_floats (dir, "weights.bin", params, np)
      || !write_floats (dir, "embed.bin", nerv_trainer_embeddings (tr),
          nerv_model_config_embed_size (&cfg) * n_frames)
      || !write_floats (dir, "frames.bin", clip->data, clip->frame_size * n_frames)
      || !write_floats (dir, "output.bin", out_all, nout * n_frames))
    return 1;

  path = g_build_filename (dir, "losses.txt", NULL);
  lf = fopen (path, "w");
  g_free (path);
  if (!lf)
    return 1;
  for (int t = 0; t < steps; t++) {
    const int f = t % n_frames;
    fprintf (lf, "%.9g\n", nerv_trainer_step (tr, &f, 1, nerv_lr_at (&tp, t,
                steps), NULL));
  }
  fclose (lf);
  g_print ("crosscheck files written to %s (%zu parameters, %d steps)\n",
      dir, np, steps);
  nerv_free (out_all);
  nerv_trainer_free (tr);
  nerv_model_free (m);
  nerv_clip_free (clip);
  nerv_scratch_free (s);
  return 0;
}

/* ---- the latent-grid model --------------------------------------------- */

/* The synthesis' forward and backward per kernel path (GFLOP/s from
 * nerv_grid_synth_flops; backward counted as twice the forward), the ARM's
 * bits and gradient over a frame's latents, and whole training steps of
 * nerv_grid_trainer on 4 random frames (best path). */
static int
bench_grid (NervPool * pool, int iters, gboolean no_paths)
{
  NervModelConfig cfg;
  NervFrameFormat fmt;
  AVLFG lfg;
  double flops, peak, arm_flops = 0;
  size_t np, S;
  NervLayerTable lt;
  struct rusage ru;

  nerv_grid_config_default (&cfg, 320, 192, 3, TRUE);
  np = nerv_model_config_n_params (&cfg);
  S = nerv_model_config_latent_size (&cfg);
  nerv_model_layers (&cfg, &lt);
  for (int i = 0; i < 3; i++)   /* the ARM's layers, once a latent */
    arm_flops += 2.0 * lt.layer[i].n_w * S;
  flops = nerv_grid_synth_flops (&cfg);
  g_print ("nerv model=grid params=%zu out=320x192 latents=%zu "
      "synth_gflop=%.3f arm_gflop=%.3f threads=%d\n", np, S, flops / 1e9,
      arm_flops / 1e9, nerv_pool_n_threads (pool));
  peak = measure_peak (pool, FALSE);
  g_print ("nerv avx2_peak_gflops=%.1f (FMA register loops, %d threads; "
      "shares below are of it)\n", peak, nerv_pool_n_threads (pool));

  for (int level = no_paths ? nerv_dsp_max_level () : NERV_DSP_C;
      level <= (int) nerv_dsp_max_level (); level++) {
    NervDsp dsp;
    NervScratch *s;
    NervGridSynth *g;
    NervGridArm *a;
    float *params = nerv_alloc_floats (np), *grads = nerv_alloc_floats (np);
    float *lat = nerv_alloc_floats (S), *dlat = nerv_alloc_floats (S);
    float *dout = nerv_alloc_floats ((size_t) 3 * 320 * 192);
    float *dcoded = nerv_alloc_floats (S);
    double tf = 1e30, tb = 1e30, taf = 1e30, tab = 1e30;
    const int n = level == NERV_DSP_C ? MAX (1, iters / 3) : iters;

    nerv_dsp_init (&dsp, level);
    s = nerv_scratch_new (pool, &dsp);
    g = nerv_grid_synth_new (&cfg, s, TRUE);
    a = nerv_grid_arm_new (&cfg, s);
    av_lfg_init (&lfg, 5);
    nerv_grid_init_params (&cfg, params, 8 / 255.0f, 1);
    fill_random (params, np, &lfg, -0.2f, 0.2f);
    for (size_t i = 0; i < S; i++)
      lat[i] = (float) ((int) (av_lfg_get (&lfg) % 7) - 3);
    fill_random (dout, (size_t) 3 * 320 * 192, &lfg, -1e-3f, 1e-3f);
    nerv_grid_synth_forward (g, params, lat);   /* warm-up */
    nerv_grid_synth_backward (g, params, dout, grads, dlat);
    nerv_grid_arm_forward (a, params, lat, NULL);
    nerv_grid_arm_backward (a, params, 1e-3f, grads, dcoded);
    for (int i = 0; i < n; i++) {
      double t0 = now_s ();
      nerv_grid_synth_forward (g, params, lat);
      tf = MIN (tf, now_s () - t0);
      t0 = now_s ();
      nerv_grid_synth_backward (g, params, dout, grads, dlat);
      tb = MIN (tb, now_s () - t0);
      t0 = now_s ();
      nerv_grid_arm_forward (a, params, lat, lat);
      taf = MIN (taf, now_s () - t0);
      t0 = now_s ();
      nerv_grid_arm_backward (a, params, 1e-3f, grads, dcoded);
      tab = MIN (tab, now_s () - t0);
    }
    g_print ("nerv path=%-6s synth forward %6.2f ms %6.1f GFLOP/s %5.1f%% | "
        "backward %6.2f ms %6.1f GFLOP/s %5.1f%% | arm forward %6.2f ms "
        "backward %6.2f ms\n", nerv_dsp_level_name (level), tf * 1e3,
        flops / tf / 1e9, peak > 0 ? 100 * flops / tf / 1e9 / peak : 0.0,
        tb * 1e3, 2 * flops / tb / 1e9,
        peak > 0 ? 100 * 2 * flops / tb / 1e9 / peak : 0.0, taf * 1e3,
        tab * 1e3);
    if (level == (int) nerv_dsp_max_level ()) {
      NervClip *clip;
      NervGridTrainParams tp;
      NervGridTrainer *tr;
      double t0;

      nerv_frame_format_init_yuv420 (&fmt, 320, 192);
      clip = nerv_clip_new (&fmt, 4);
      fill_random (clip->data, clip->frame_size * 4, &lfg, 0, 1);
      nerv_grid_init_params (&cfg, params, 8 / 255.0f, 1);
      nerv_grid_train_params_init (&tp);
      tp.epochs = MAX (2, iters / 2);
      tr = nerv_grid_trainer_new (&cfg, s, params, clip, NULL, NULL, &tp);
      t0 = now_s ();
      nerv_grid_trainer_run (tr);
      g_print ("nerv grid_train_ms_per_step=%.2f (%d steps of one frame: "
          "synthesis, ARM, latents, Adam)\n",
          (now_s () - t0) * 1e3 / (tp.epochs * 4), tp.epochs * 4);
      g_print ("nerv grid_decode_synth_ms_per_frame=%.2f\n", tf * 1e3);
      nerv_grid_trainer_free (tr);
      nerv_clip_free (clip);
    }
    nerv_grid_arm_free (a);
    nerv_grid_synth_free (g);
    nerv_scratch_free (s);
    nerv_free (params);
    nerv_free (grads);
    nerv_free (lat);
    nerv_free (dlat);
    nerv_free (dout);
    nerv_free (dcoded);
  }
  getrusage (RUSAGE_SELF, &ru);
  g_print ("nerv max_rss_mb=%.1f\n", ru.ru_maxrss / 1024.0);
  return 0;
}

int
main (int argc, char **argv)
{
  gchar *model_name = NULL, *write_config = NULL, *cross_dir = NULL;
  gint threads = 0, iters = 10, steps = 100;
  gboolean no_paths = FALSE;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_STRING, &model_name,
        "anchor (HNeRV 0.48M, 320x160; default), small (~20k, 320x192), nerv or grid (latent grids, 320x192)", "NAME"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (default: all)", "N"},
    {"iters", 'n', 0, G_OPTION_ARG_INT, &iters, "Timed repetitions (default 10)", "N"},
    {"no-paths", 0, 0, G_OPTION_ARG_NONE, &no_paths,
        "Only the best kernel path (skip the slow C and ORC runs)", NULL},
    {"write-config", 0, 0, G_OPTION_ARG_FILENAME, &write_config,
        "Write the model as config.txt for torch_hnerv.py and exit", "FILE"},
    {"crosscheck", 0, 0, G_OPTION_ARG_FILENAME, &cross_dir,
        "Write weights, inputs, outputs and a loss curve for torch_hnerv.py crosscheck", "DIR"},
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Training steps for --crosscheck (default 100)", "N"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- speed of the gst-nerv core");
  GError *err = NULL;
  NervModelConfig cfg;
  NervPool *pool;
  double peak, peak2, flops;
  Timing best = { 0, 0, 0 };
  struct rusage ru;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("nerv-bench: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (iters < 1 || iters > 10000 || threads < 0 || threads > 256 || steps < 1) {
    g_printerr ("nerv-bench: a setting is out of range\n");
    return 2;
  }
  pool = nerv_pool_new (threads);
  if (cross_dir)
    return crosscheck (cross_dir, pool, steps);
  if (model_name && !strcmp (model_name, "grid")) {
    const int r = bench_grid (pool, iters, no_paths);
    nerv_pool_free (pool);
    g_free (model_name);
    return r;
  }
  if (!get_config (model_name ? model_name : "anchor", &cfg)) {
    g_printerr ("nerv-bench: unknown model %s\n", model_name);
    return 2;
  }
  if (write_config) {
    if (!nerv_model_config_write (&cfg, 32, 1e-3f, 100, write_config, &err)) {
      g_printerr ("nerv-bench: %s\n", err->message);
      return 1;
    }
    return 0;
  }

  flops = nerv_model_forward_flops (&cfg);
  g_print ("nerv model=%s params=%zu out=%dx%d forward_gflop=%.3f threads=%d\n",
      model_name ? model_name : "anchor", nerv_model_config_n_params (&cfg),
      nerv_model_config_out_width (&cfg), nerv_model_config_out_height (&cfg),
      flops / 1e9, nerv_pool_n_threads (pool));
  peak2 = measure_peak (pool, FALSE);
  peak = MAX (peak2, measure_peak (pool, TRUE));
  g_print ("nerv peak_gflops=%.1f avx2_peak_gflops=%.1f (FMA register loops, "
      "%d threads; shares below are of the first)\n", peak, peak2,
      nerv_pool_n_threads (pool));

  for (int level = no_paths ? nerv_dsp_max_level () : NERV_DSP_C;
      level <= (int) nerv_dsp_max_level (); level++) {
    NervDsp dsp;
    Timing t;
    /* the C path is slow on big models: fewer repetitions */
    const int n = level == NERV_DSP_C ? MAX (1, iters / 5) : iters;
    nerv_dsp_init (&dsp, level);
    t = time_model (&cfg, pool, &dsp, n, level == (int) nerv_dsp_max_level ());
    if (level == (int) nerv_dsp_max_level ()) {
      best = t;
    } else {
      /* backward timed separately for the slower paths */
      NervScratch *s = nerv_scratch_new (pool, &dsp);
      NervModel *m = nerv_model_new (&cfg, s);
      float *dout = nerv_alloc_floats ((size_t) cfg.out_channels *
          nerv_model_config_out_width (&cfg) * nerv_model_config_out_height (&cfg));
      float *embed = nerv_alloc_floats (MAX (nerv_model_config_embed_size (&cfg), 1));
      nerv_model_init_params (m, 1);
      nerv_model_forward (m, embed, 0);
      t.bwd_s = 1e30;
      for (int i = 0; i < n; i++) {
        double t0 = now_s ();
        nerv_model_backward (m, dout, NULL);
        t.bwd_s = MIN (t.bwd_s, now_s () - t0);
      }
      nerv_free (dout);
      nerv_free (embed);
      nerv_model_free (m);
      nerv_scratch_free (s);
    }
    g_print ("nerv path=%-4s forward %7.2f ms %6.1f GFLOP/s %5.1f%% of peak | "
        "backward %7.2f ms %6.1f GFLOP/s %5.1f%% of peak\n",
        nerv_dsp_level_name (level), t.fwd_s * 1e3, flops / t.fwd_s / 1e9,
        peak > 0 ? 100.0 * flops / t.fwd_s / 1e9 / peak : 0.0,
        t.bwd_s * 1e3, 2 * flops / t.bwd_s / 1e9,
        peak > 0 ? 100.0 * 2 * flops / t.bwd_s / 1e9 / peak : 0.0);
  }
  getrusage (RUSAGE_SELF, &ru);
  g_print ("nerv train_ms_per_frame=%.2f\n", best.step_s * 1e3);
  g_print ("nerv decode_ms_per_frame=%.2f\n", best.fwd_s * 1e3);
  g_print ("nerv peak_tensor_mb=%.1f max_rss_mb=%.1f\n",
      nerv_mem_peak () / 1048576.0, ru.ru_maxrss / 1024.0);
  nerv_pool_free (pool);
  g_free (model_name);
  return 0;
}
