/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The latent-grid model (NERV_MODEL_GRID, docs/design.md "Latent grids").
 *
 * Each frame is a pyramid of integer latent planes: level l is the frame
 * size / 2^l (rounded up); level 0 has lat_c0 planes, the others lat_c
 * (4:2:0: one luma plane at full size, then luma and two chroma planes
 * per level). Every plane is upsampled to the frame size by repeated
 * bicubic x2 steps (fixed taps, nerv_grid_upsample), and a small
 * synthesis turns the stack into pixels:
 *
 *   out = skip(x) + conv3x3(relu(conv1x1(relu(conv1x1(x)))))
 *
 * with skip a 1x1 convolution from the planes to the output channels.
 * The skip starts as a Laplacian pyramid's reconstruction (each level's
 * planes added to their output channel, times the latent step), so that
 * the latents can start as the Laplacian pyramid of the frame.
 *
 * The ARM (auto-regressive model) gives each latent a Laplace
 * distribution from 17 context values: 12 decoded neighbours in its own
 * plane (nerv_arm_spatial_taps) and 5 around the same place in the
 * reference frame's plane (nerv_arm_ref_taps; zero without a reference),
 * plus a one-hot of its plane and mode. Three linear layers:
 *
 *   h1 = clamp (W0 [ctx, onehot] + b0, 0, H)
 *   h2 = min (max (W1 h1 + b1, 0) + h1, H)
 *   (mu, log b) = W2 h2 + b2
 *
 * The coder evaluates it in integer arithmetic (nerv_arm_eval_int, the
 * normative definition) so that encoder and decoder agree on every
 * machine; training uses the same function in float (nerv_grid_arm_*).
 *
 * Everything here works on one frame; nerv-gridtrain.c trains groups.
 */
#ifndef NERV_GRID_H
#define NERV_GRID_H

#include "nerv-layers.h"
#include "nerv-model.h"

G_BEGIN_DECLS

#define NERV_GRID_MAX_PLANES (3 * NERV_GRID_MAX_LEVELS)
#define NERV_ARM_SPATIAL 12
#define NERV_ARM_REF 5

/* ARM fixed point: weights, biases, hidden values and outputs are
 * integers in units of 2^-NERV_ARM_FRAC; context values are latents. */
#define NERV_ARM_FRAC 8
#define NERV_ARM_ONE (1 << NERV_ARM_FRAC)
#define NERV_ARM_WEIGHT_EXP (-8 * NERV_ARM_FRAC)        /* step 2^-8 */
#define NERV_ARM_MAX_WEIGHT 2047        /* |w| <= 2047 / 256 */
#define NERV_ARM_MAX_HIDDEN 16383       /* hidden values within 0..64 */
#define NERV_ARM_MAX_INPUT 255          /* context values are clamped */
/* latents are integers within this range */
#define NERV_LATENT_MAX 32767

/* The Laplace distributions the coder knows: log b = si / 8 with si in
 * SCALE_MIN..SCALE_MAX, the mean's fraction in 16 steps. */
#define NERV_LAPLACE_SCALE_MIN (-36)
#define NERV_LAPLACE_SCALE_MAX 40
#define NERV_LAPLACE_LOG_B_MIN (NERV_LAPLACE_SCALE_MIN / 8.0f)
#define NERV_LAPLACE_LOG_B_MAX (NERV_LAPLACE_SCALE_MAX / 8.0f)

/* (dy, dx) of the context taps */
extern const gint8 nerv_arm_spatial_taps[NERV_ARM_SPATIAL][2];
extern const gint8 nerv_arm_ref_taps[NERV_ARM_REF][2];

typedef struct {
  int width, height, out_channels;
  int n_levels, n_planes;
  int level[NERV_GRID_MAX_PLANES];      /* plane -> level */
  int w[NERV_GRID_MAX_PLANES], h[NERV_GRID_MAX_PLANES];
  size_t off[NERV_GRID_MAX_PLANES];     /* into a frame's latents */
  int out_of[NERV_GRID_MAX_PLANES];     /* the output channel a plane's
                                         * skip starts on */
  size_t size;                  /* latents per frame */
} NervGridLayout;

void nerv_grid_layout_init (NervGridLayout * lay, const NervModelConfig * cfg);

/* The planes and widths a GRID model of a frame format uses by default:
 * 4:2:0 (out_channels 3, chroma subsampled) one luma plane at level 0,
 * then three planes a level; 4:4:4 and RGB three planes at every level;
 * grey one. */
void nerv_grid_config_init (NervModelConfig * cfg, int width, int height,
    int out_channels, gboolean chroma_subsampled, int n_levels, int synth_c,
    int arm_c);

/* The latent model a frame format gets by default: levels down to a top
 * level of at least 2 pixels (at most 7), synthesis width 16, ARM width 8. */
void nerv_grid_config_default (NervModelConfig * cfg, int width, int height,
    int out_channels, gboolean chroma_subsampled);

/* ---- upsampling: bicubic x2, taps (-27, 225, 67, -9) / 256 ---------- */

/* One x2 step: [h][w] -> [H][W] (H <= 2h, W <= 2w: the top-left part),
 * through tmp ([h][W] floats). */
void nerv_grid_up2 (const float *src, int w, int h, float *dst, int W, int H,
    float *tmp);
/* Floats of scratch one thread needs to upsample a plane. */
size_t nerv_grid_upsample_tmp_size (const NervGridLayout * lay);
/* Plane p of one frame's latents (lat + lay->off[p]) to the frame size,
 * into dst[height][width]; tmp: nerv_grid_upsample_tmp_size floats. */
void nerv_grid_upsample_plane (const NervGridLayout * lay, int p,
    const float *lat, float *dst, float *tmp);
/* Its adjoint: dlat[off[p]..] = the gradient at the plane's latents from
 * dsrc[height][width] (written, not added). */
void nerv_grid_upsample_plane_backward (const NervGridLayout * lay, int p,
    const float *dsrc, float *dlat, float *tmp);

/* ---- motion: the reference frame's latents shifted -------------------- */

/* Motion vectors in quarter pixels of the frame: the content at x came
 * from x - mv in the reference frame. */
#define NERV_MV_MAX 256         /* +- 64 pixels */

/* The prediction of a frame's latents from the reference frame's (normative,
 * docs/bitstream.md): each plane of level l shifted by mv / 2^l with
 * bilinear weights on a grid of 2^-F, F = min (2 + l, 6), rounded. */
void nerv_grid_warp_int (const NervGridLayout * lay, const gint32 * ref,
    int mvx, int mvy, gint32 * pred);
/* The same bilinear shift in float without rounding, and its adjoint
 * (dref (+)= W^T dpred), for training. */
void nerv_grid_warp_float (const NervGridLayout * lay, const float *ref,
    int mvx, int mvy, float *pred);
void nerv_grid_warp_adjoint (const NervGridLayout * lay, const float *dpred,
    int mvx, int mvy, float *dref);

/* ---- synthesis ------------------------------------------------------ */

typedef struct _NervGridSynth NervGridSynth;

/* Buffers for one frame (training: with what backward needs). */
NervGridSynth *nerv_grid_synth_new (const NervModelConfig * cfg,
    NervScratch * s, gboolean training);
void nerv_grid_synth_free (NervGridSynth * g);
/* One frame's latents -> [out_channels][height][width], owned by g.
 * params: the model's whole parameter buffer (layer table order). */
const float *nerv_grid_synth_forward (NervGridSynth * g, const float *params,
    const float *lat);
/* grads += parameter gradients (skipped when NULL); dlat = the gradient
 * at the latents. */
void nerv_grid_synth_backward (NervGridSynth * g, const float *params,
    const float *dout, float *grads, float *dlat);
/* FLOPs of one frame's synthesis (upsampling included). */
double nerv_grid_synth_flops (const NervModelConfig * cfg);

/* Initial synthesis parameters: the skip adds each level's planes to
 * their output channel times step (and 0.5), the branch's last layer is
 * zero, the rest PyTorch's default uniform from the seed. The ARM starts
 * with a zero output layer (mu 0, b 1). */
void nerv_grid_init_params (const NervModelConfig * cfg, float *params,
    float step, guint32 seed);

/* ---- the ARM -------------------------------------------------------- */

/* The ARM's context of latent (y, x) of a plane: 12 neighbours from plane
 * (0 outside it or not yet decoded), 5 from ref (NULL: zeros), each
 * clamped to +-NERV_ARM_MAX_INPUT. Works on ints and floats. */
void nerv_arm_context_int (const gint32 * plane, const gint32 * ref, int w,
    int h, int y, int x, gint32 * ctx);

/* The integer ARM (normative): params are the ARM's integer weights in
 * layer table order (the first three layers), clamped to
 * +-NERV_ARM_MAX_WEIGHT; onehot = 2 * plane + (ref ? 1 : 0). Outputs in
 * units of 2^-8. */
void nerv_arm_eval_int (const gint32 * wq, int arm_c, int n_in,
    const gint32 * ctx, int onehot, gint32 * mu_q, gint32 * logb_q);

typedef struct _NervGridArm NervGridArm;

/* Float ARM over all latents of a frame, for training. */
NervGridArm *nerv_grid_arm_new (const NervModelConfig * cfg, NervScratch * s);
void nerv_grid_arm_free (NervGridArm * a);
/* Bits of the coded latents (float, as quantised in training) with their
 * context from ref (the reference frame's latents, NULL for an intra
 * frame): sum over latents of -log2 P(bin). Keeps what backward needs. */
double nerv_grid_arm_forward (NervGridArm * a, const float *params,
    const float *coded, const float *ref);
/* The last forward's (mu, log b) of latent i: out[i], out[stride + i]. */
const float *nerv_grid_arm_outputs (NervGridArm * a, size_t * stride);
/* grads += d(scale * bits)/d(ARM weights) (skipped when NULL);
 * dcoded += d(scale * bits)/d coded (through each latent's own bin and through the contexts it is
 * in). */
void nerv_grid_arm_backward (NervGridArm * a, const float *params,
    float scale, float *grads, float *dcoded);

/* Bits of one latent x under Laplace(mu, exp(log_b)), log_b clamped to
 * the coder's range, and the derivatives (any pointer may be NULL). */
double nerv_laplace_bits (float x, float mu, float log_b, float *dx,
    float *dmu, float *dlog_b);

G_END_DECLS
#endif
