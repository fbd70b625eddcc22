/* gst-nerv: the setting of fuzz-latent, shared with gen-corpus
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input of fuzz-latent: a flags byte (bit 0: the frame has a reference,
 * so its stream starts with a motion vector; bits 1-2: one of four small
 * layouts), a 32-bit seed (LE) from which the ARM's integer weights and
 * the reference latents are drawn, then one coder stream: a frame packet's
 * payload after its frame number (docs/bitstream.md, "Latents").
 */
#ifndef NERV_FUZZ_LATENT_H
#define NERV_FUZZ_LATENT_H

#include <libavutil/lfg.h>

#include "nerv-latent.h"

#define FUZZ_LATENT_HEADER 5

typedef struct {
  NervModelConfig cfg;
  NervGridLayout lay;
  NervArmInt arm;
  gint32 *ints;                 /* the model's integers (ARM first) */
  gint32 *ref;                  /* NULL for an intra frame */
} FuzzLatent;

/* the layouts: odd sizes, 4:2:0 and 4:4:4, one to four levels */
static inline void
fuzz_latent_init (FuzzLatent * f, guint8 flags, guint32 seed)
{
  static const int shapes[4][4] = {     /* w, h, levels, 4:2:0 */
    {17, 13, 3, 1}, {8, 8, 1, 0}, {33, 9, 2, 1}, {24, 20, 4, 0},
  };
  const int *sh = shapes[(flags >> 1) & 3];
  NervLayerTable lt;
  AVLFG lfg;
  size_t np;

  nerv_grid_config_init (&f->cfg, sh[0], sh[1], 3, sh[3], sh[2], 4, 4);
  nerv_grid_layout_init (&f->lay, &f->cfg);
  nerv_model_layers (&f->cfg, &lt);
  np = nerv_model_config_n_params (&f->cfg);
  f->ints = g_new0 (gint32, np);
  av_lfg_init (&lfg, seed);
  /* ARM weights of a trained size (|w| up to ~1.2), biases wider */
  for (int l = 0; l < 3; l++) {
    for (size_t i = 0; i < lt.layer[l].n_w; i++)
      f->ints[lt.layer[l].w_off + i] = (gint32) (av_lfg_get (&lfg) % 601) - 300;
    for (size_t i = 0; i < lt.layer[l].n_b; i++)
      f->ints[lt.layer[l].b_off + i] = (gint32) (av_lfg_get (&lfg) % 2001) - 1000;
  }
  f->arm.wq = f->ints;
  f->arm.arm_c = f->cfg.arm_c;
  f->arm.n_in = lt.layer[0].cin;
  f->ref = NULL;
  if (flags & 1) {
    f->ref = g_new (gint32, f->lay.size);
    for (size_t i = 0; i < f->lay.size; i++)
      f->ref[i] = (gint32) (av_lfg_get (&lfg) % 41) - 20;
  }
}

static inline void
fuzz_latent_clear (FuzzLatent * f)
{
  g_free (f->ints);
  g_free (f->ref);
}

#endif
