/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Entropy coding of a frame's latents (normative, docs/bitstream.md
 * "Latents"). Each latent x is coded with the Laplace distribution the
 * integer ARM (nerv_arm_eval_int) gives it from its context: the mean
 * rounded to an integer m and its fraction to 1/16, log b to 1/8, pick a
 * frequency table (built in integer arithmetic, nerv_laplace_table) over
 * the symbols x - m in -K..K and an escape; an escaped difference follows
 * as a sign and an Exp-Golomb number in equiprobable bits.
 */
#ifndef NERV_LATENT_H
#define NERV_LATENT_H

#include "nerv-entropy.h"
#include "nerv-grid.h"

G_BEGIN_DECLS

#define NERV_LAPLACE_K 24       /* symbols -K..K, then the escape */
#define NERV_LAPLACE_SYMBOLS (2 * NERV_LAPLACE_K + 2)
#define NERV_LAPLACE_TOTAL_BITS 16
#define NERV_LAPLACE_FRACS 16
#define NERV_LAPLACE_SCALES (NERV_LAPLACE_SCALE_MAX - NERV_LAPLACE_SCALE_MIN + 1)

/* The cumulative frequencies (SYMBOLS + 1 entries, from 0 to 2^16) of
 * scale index si (NERV_LAPLACE_SCALE_MIN..MAX) and mean fraction fi
 * (0..15: the mean is m + (fi - 7.5) / 16). */
const guint32 *nerv_laplace_table (int si, int fi);

/* 2^32 e^(-t) for t = t_q32 / 2^32 >= 0, in integer arithmetic (the
 * tables' exponential; exact to a few units of 2^-32). */
guint64 nerv_exp_neg_q32 (guint64 t_q32);

/* The ARM's weights as the coder uses them: the first three layers'
 * integers (quantised on the ARM's fixed step and clamped). */
typedef struct {
  const gint32 *wq;
  int arm_c, n_in;
} NervArmInt;

/* A frame's latents lat (nerv_grid_layout order), each plane in raster
 * order, with their context in ref (the reference frame's latents, NULL
 * for an intra frame). Every |lat| <= NERV_LATENT_MAX. */
void nerv_latents_encode (NervRangeEncoder * rc, const NervGridLayout * lay,
    const NervArmInt * arm, const gint32 * lat, const gint32 * ref);
/* FALSE on a coder error or a latent out of range (lat is then
 * incomplete). */
gboolean nerv_latents_decode (NervRangeDecoder * rc,
    const NervGridLayout * lay, const NervArmInt * arm, gint32 * lat,
    const gint32 * ref);

/* A frame's motion (quarter pixels, within +-NERV_MV_MAX): each component
 * zigzag-mapped (v >= 0: 2v, else -2v - 1) as an Exp-Golomb number of
 * order 0 in equiprobable bits. */
void nerv_motion_write (NervRangeEncoder * rc, int mvx, int mvy);
/* FALSE on a coder error or a vector out of range. */
gboolean nerv_motion_read (NervRangeDecoder * rc, int *mvx, int *mvy);

/* Bits nerv_latents_encode would write, without a coder (for the
 * encoder's estimates): the sum of -log2 of each symbol's probability. */
double nerv_latents_bits (const NervGridLayout * lay, const NervArmInt * arm,
    const gint32 * lat, const gint32 * ref);
/* The same, and each plane's cumulative bits (plane_bits[p]: planes 0..p)
 * when not NULL. */
double nerv_latents_plane_bits (const NervGridLayout * lay,
    const NervArmInt * arm, const gint32 * lat, const gint32 * ref,
    double *plane_bits);

G_END_DECLS
#endif
