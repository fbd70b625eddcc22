/* gst-nerv: nerv-train, train a model on a clip and report its quality
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The codec core's training loop on its own, without GStreamer:
 *   nerv-train --input clip.y4m --frames 16 --params 20000 --epochs 300
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerv.h"
#include "nerv-train.h"

static gboolean
progress (const NervTrainProgress * p, gpointer user_data)
{
  const int every = GPOINTER_TO_INT (user_data);
  if ((p->epoch + 1) % every == 0 || p->epoch + 1 == p->n_epochs)
    if (p->step % (p->n_steps / p->n_epochs) == 0)
      g_print ("epoch %d/%d loss %.6f psnr_y %.2f psnr_yuv %.2f %.1f s\n",
          p->epoch + 1, p->n_epochs, p->loss, p->psnr_y, p->psnr_yuv,
          p->elapsed_s);
  return TRUE;
}

int
main (int argc, char **argv)
{
  gchar *input = NULL, *model_name = NULL, *size = NULL;
  gint frames = 16, start = 0, epochs = 300, threads = 0, batch = 1;
  gint64 budget = (gint64) nerv_setting_info (NERV_SETTING_PARAMS)->def;
  gchar *params_help = g_strdup_printf ("Parameter budget of the decoder "
      "(default %" G_GINT64_FORMAT ", the encoder's)", budget);
  gint seed = 1, report = 25;
  gdouble lr = 0, embed_lr = 0;
  GOptionEntry entries[] = {
    {"input", 'i', 0, G_OPTION_ARG_FILENAME, &input,
        "Clip: .y4m (8-bit 4:2:0 or mono) or raw I420 .yuv (with --size)", "FILE"},
    {"size", 0, 0, G_OPTION_ARG_STRING, &size, "Frame size of a raw .yuv", "WxH"},
    {"frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Frames to train on (default 16)", "N"},
    {"start", 0, 0, G_OPTION_ARG_INT, &start, "Frames to skip first", "N"},
    {"model", 'm', 0, G_OPTION_ARG_STRING, &model_name, "hnerv (default) or nerv", "KIND"},
    {"params", 'p', 0, G_OPTION_ARG_INT64, &budget,
        params_help, "N"},
    {"epochs", 'e', 0, G_OPTION_ARG_INT, &epochs, "Epochs (default 300)", "N"},
    {"lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr,
        "Learning rate (default 2e-2 below 100k parameters, else 1e-3)", "LR"},
    {"embed-lr", 0, 0, G_OPTION_ARG_DOUBLE, &embed_lr,
        "Embedding learning rate, times --lr (default 4 below 100k parameters, else 1)", "X"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Frames per step (default 1)", "N"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (default: all)", "N"},
    {"seed", 's', 0, G_OPTION_ARG_INT, &seed, "Random seed (default 1)", "N"},
    {"report", 0, 0, G_OPTION_ARG_INT, &report, "Print every N epochs", "N"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- train a neural video model on a clip");
  GError *err = NULL;
  NervClip *clip = NULL;
  NervModelConfig cfg;
  NervPool *pool;
  NervScratch *scratch;
  NervModel *model;
  NervTrainer *trainer;
  NervTrainParams tp;
  NervModelKind kind = NERV_MODEL_HNERV;
  double mse[NERV_MAX_PLANES], mse8[NERV_MAX_PLANES];
  gint64 t0, t1;
  size_t stored;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("nerv-train: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  g_free (params_help);
  if (!input) {
    g_printerr ("nerv-train: --input is required (see --help)\n");
    return 2;
  }
  if (model_name && !strcmp (model_name, "nerv"))
    kind = NERV_MODEL_NERV;
  else if (model_name && strcmp (model_name, "hnerv")) {
    g_printerr ("nerv-train: --model must be hnerv or nerv\n");
    return 2;
  }
  /* the encoder's, by the budget (docs/design.md) */
  if (lr == 0)
    lr = nerv_default_lr ((size_t) MAX (budget, 0));
  if (embed_lr == 0)
    embed_lr = nerv_default_embed_lr ((size_t) MAX (budget, 0));
  if (frames < 1 || frames > 100000 || epochs < 1 || epochs > 1000000
      || batch < 1 || lr <= 0 || lr > 1 || embed_lr <= 0 || embed_lr > 1000
      || budget < 1 || threads < 0 || threads > 256) {
    g_printerr ("nerv-train: a setting is out of range (see --help)\n");
    return 2;
  }

  if (g_str_has_suffix (input, ".y4m")) {
    clip = nerv_clip_load_y4m (input, start, frames, &err);
  } else {
    int w = 0, h = 0;
    if (!size || sscanf (size, "%dx%d", &w, &h) != 2) {
      g_printerr ("nerv-train: a raw .yuv input needs --size WxH\n");
      return 2;
    }
    clip = nerv_clip_load_i420 (input, w, h, start, frames, &err);
  }
  if (!clip) {
    g_printerr ("nerv-train: %s\n", err->message);
    return 1;
  }
  if (!nerv_model_config_for_budget (&cfg, kind, clip->fmt.width,
          clip->fmt.height, clip->fmt.n_planes, (size_t) budget, &err)) {
    g_printerr ("nerv-train: %s\n", err->message);
    return 1;
  }

  pool = nerv_pool_new (threads);
  scratch = nerv_scratch_new (pool, NULL);
  model = nerv_model_new (&cfg, scratch);
  nerv_train_params_init (&tp);
  tp.epochs = epochs;
  tp.batch = batch;
  tp.lr = (float) lr;
  tp.embed_lr_scale = (float) embed_lr;
  tp.seed = (guint32) seed;
  tp.progress = progress;
  tp.user_data = GINT_TO_POINTER (MAX (report, 1));
  trainer = nerv_trainer_new (model, clip, &tp, FALSE);

  stored = nerv_model_config_n_params (&cfg) +
      nerv_model_config_embed_size (&cfg) * clip->n_frames;
  g_print ("clip %s: %dx%d, %d frames; model %s fc_dim %d, %zu decoder "
      "parameters + %zu embedding values; %d threads, kernels %s\n",
      input, clip->fmt.width, clip->fmt.height, clip->n_frames,
      kind == NERV_MODEL_NERV ? "nerv" : "hnerv", cfg.fc_dim,
      nerv_model_config_n_params (&cfg),
      nerv_model_config_embed_size (&cfg) * clip->n_frames,
      nerv_pool_n_threads (pool), nerv_dsp_get ()->sgemm_name);
  t0 = g_get_monotonic_time ();
  nerv_trainer_run (trainer);
  t1 = g_get_monotonic_time ();
  nerv_trainer_evaluate (trainer, mse);
  nerv_trainer_evaluate_u8 (trainer, mse8);
  g_print ("result frames=%d params=%zu stored_values=%zu epochs=%d "
      "psnr_y=%.2f psnr_yuv=%.2f psnr_y_8bit=%.2f psnr_yuv_8bit=%.2f "
      "train_s=%.1f ms_per_frame_step=%.2f\n", clip->n_frames,
      nerv_model_config_n_params (&cfg), stored, epochs,
      nerv_psnr (mse[0]), nerv_psnr_weighted (&clip->fmt, mse),
      nerv_psnr (mse8[0]), nerv_psnr_weighted (&clip->fmt, mse8),
      (t1 - t0) / 1e6, (t1 - t0) / 1e3 / ((double) epochs * clip->n_frames));

  nerv_trainer_free (trainer);
  nerv_model_free (model);
  nerv_scratch_free (scratch);
  nerv_pool_free (pool);
  nerv_clip_free (clip);
  g_free (input);
  g_free (model_name);
  g_free (size);
  return 0;
}
