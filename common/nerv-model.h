/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The two model kinds. Both end in the same decoder stack:
 *   N stages of [conv k_i x k_i -> pixel shuffle s_i -> GELU], then a head
 *   conv (3x3 by default) -> tanh(x)/2 + 1/2.
 * HNeRV feeds it from a per-frame embedding [embed_c][embed_h][embed_w]
 * through a 1x1 stem conv (embed_c -> fc_dim) + GELU; the embeddings are
 * optimised directly per frame (no encoder network is trained or stored).
 * NeRV feeds it from the frame index: positional encoding -> linear ->
 * GELU -> linear to fc_dim*embed_h*embed_w -> GELU -> reshape.
 * The output is embed_h*prod(strides) x embed_w*prod(strides), at least the
 * frame size; the frame is its top-left corner (the rest is padding that
 * the loss ignores).
 */
#ifndef NERV_MODEL_H
#define NERV_MODEL_H

#include "nerv-frame.h"
#include "nerv-layers.h"

G_BEGIN_DECLS

#define NERV_MAX_STAGES 8
#define NERV_MAX_CHANNELS 4096  /* any layer's channel count */
#define NERV_MAX_PARAMS (16 * 1024 * 1024)
#define NERV_MAX_ACTIVATIONS (384 * 1024 * 1024)  /* floats: 1.5 GiB */

typedef enum {
  NERV_MODEL_HNERV = 0,
  NERV_MODEL_NERV = 1,
  /* per-frame latent grids at several resolutions, upsampled and turned
   * into pixels by a small synthesis; an auto-regressive context model
   * (ARM) gives each latent its probability (nerv-grid.h) */
  NERV_MODEL_GRID = 2,
} NervModelKind;

#define NERV_GRID_MAX_LEVELS 8
#define NERV_GRID_MAX_WIDTH 64  /* synthesis channels */
#define NERV_ARM_MAX_WIDTH 32   /* ARM hidden units (int32 sums, nerv-grid.h) */
/* values an ARM reads around a latent: 12 decoded neighbours in its own
 * plane and 5 in the reference frame's (nerv-grid.h) */
#define NERV_ARM_CONTEXT 17

typedef struct {
  NervModelKind kind;
  int width, height;            /* frame size */
  int out_channels;             /* 1 (grey) or 3 */
  int embed_c;                  /* HNeRV embedding channels (unused by NeRV) */
  int embed_h, embed_w;         /* grid entering the first stage */
  int fc_dim;                   /* channels entering the first stage */
  int n_stages;
  int strides[NERV_MAX_STAGES];
  int kernels[NERV_MAX_STAGES];
  int channels[NERV_MAX_STAGES];        /* after pixel shuffle */
  int head_kernel;
  int pe_levels;                /* NeRV */
  int mlp_hidden;               /* NeRV */
  /* GRID (the HNeRV/NeRV fields above are unused, n_stages 0) */
  int n_levels;                 /* latent grids: level l is the frame size
                                 * / 2^l, rounded up (1..8) */
  int lat_c0, lat_c;            /* latent planes of level 0, of the others */
  int synth_c;                  /* synthesis width */
  int arm_c;                    /* ARM width */
} NervModelConfig;

/* Shape rules (HNeRV's): kernel of stage i = min(1+2i, max_kernel);
 * channels divided by 1.2 per stage, at least min_width. */
typedef struct {
  int n_stages;
  int max_kernel;
  int min_width;
  int embed_c;
  int pe_levels;
  int mlp_hidden;
} NervShapeRules;

/* Rules for a parameter budget: HNeRV's own for >= 100k, a narrower
 * shape (3x3 kernels, 8-channel embedding) below. */
void nerv_shape_rules_for_budget (NervShapeRules * rules, size_t budget);

/* Strides for a frame: first stride in {5,4,3,2}, the rest 2, whichever
 * pads the frame least (ties: the larger product). */
void nerv_choose_strides (int width, int height, int n_stages, int *strides);

/* Fill cfg for a given fc_dim and explicit strides (NULL: chosen). */
gboolean nerv_model_config_init (NervModelConfig * cfg, NervModelKind kind,
    int width, int height, int out_channels, int fc_dim,
    const NervShapeRules * rules, const int *strides, GError ** error);

/* Largest fc_dim whose parameter count fits the budget. */
gboolean nerv_model_config_for_budget (NervModelConfig * cfg,
    NervModelKind kind, int width, int height, int out_channels,
    size_t budget, GError ** error);

/* The HNeRV configuration of the PyTorch anchor (320x160, 0.48M). */
void nerv_model_config_anchor (NervModelConfig * cfg);

gboolean nerv_model_config_validate (const NervModelConfig * cfg, GError ** error);
size_t nerv_model_config_n_params (const NervModelConfig * cfg);
/* GRID: latent planes (level 0's, then lat_c per further level) and
 * latent values per frame; 0 for the other kinds */
int nerv_model_config_latent_planes (const NervModelConfig * cfg);
size_t nerv_model_config_latent_size (const NervModelConfig * cfg);
/* floats per frame embedding (0 for NeRV) */
size_t nerv_model_config_embed_size (const NervModelConfig * cfg);
int nerv_model_config_out_width (const NervModelConfig * cfg);
int nerv_model_config_out_height (const NervModelConfig * cfg);
/* key=value text, as read by tests/bench/torch_hnerv.py */
gboolean nerv_model_config_write (const NervModelConfig * cfg, int frames,
    float lr, int steps, const char *path, GError ** error);

/* ---- the layer table ---------------------------------------------------
 * The network as a list of layers, built from the config by one function,
 * nerv_model_layers(). Everything that depends on the layout iterates over
 * it: the parameter count and offsets, the FLOPs, the initialisation, the
 * activation-memory bound, the quantiser's tensor list, and the forward
 * and backward passes. A new model kind is a branch in nerv_model_layers();
 * a new kind of layer is a NervLayerKind value and a case in the switches
 * of nerv-model.c that set up, run and count layers. Each layer reads the
 * output of the layer before it, the first one the model input (a graph,
 * with residual connections or concatenated inputs, adds source indices
 * to NervLayerDesc). */
#define NERV_MAX_LAYERS 32

typedef enum {
  /* NeRV's positional encoding of t: cout = 2 * levels values; no input,
   * no parameters */
  NERV_LAYER_POSENC,
  /* y[cout] = W[cout][cin] x[cin] + b */
  NERV_LAYER_LINEAR,
  /* k x k convolution, stride 1, same padding, on an in_h x in_w grid:
   * W[cout][cin][k][k], b[cout] */
  NERV_LAYER_CONV,
  /* the NeRV block: CONV, then pixel shuffle by `shuffle` (cout / shuffle^2
   * channels on a grid shuffle times larger), then GELU; it keeps the
   * shuffled values for backward */
  NERV_LAYER_CONV_SHUFFLE,
} NervLayerKind;

typedef enum {
  NERV_ACT_NONE,
  NERV_ACT_GELU,
  NERV_ACT_HEAD,                /* tanh(x)/2 + 1/2 */
  NERV_ACT_RELU,
} NervActivation;

typedef struct {
  NervLayerKind kind;
  NervActivation act;
  int cin, cout;                /* channels into and out of the operation */
  int k;                        /* kernel size (1 for vectors) */
  int shuffle;                  /* pixel shuffle factor (1: none) */
  int in_h, in_w;               /* input grid (1 x 1 for vectors) */
  int fan_in;                   /* inputs of one output value: cin * k * k */
  size_t w_off, n_w;            /* weights [cout][fan_in] in the parameters */
  size_t b_off, n_b;            /* biases [cout] (n_b = 0: none) */
} NervLayerDesc;

typedef struct {
  int n_layers;
  size_t n_params;              /* of all layers, in layer order */
  NervLayerDesc layer[NERV_MAX_LAYERS];
} NervLayerTable;

/* The layers of a config whose kind and stage count are in range (none
 * otherwise). */
void nerv_model_layers (const NervModelConfig * cfg, NervLayerTable * table);
/* Append a layer (offsets follow the previous layer's parameters). */
void nerv_layer_table_add (NervLayerTable * t, NervLayerKind kind,
    NervActivation act, int cin, int cout, int k, int shuffle, int in_h,
    int in_w);
/* Floats a layer outputs, before and after its activation (a shuffle
 * keeps the count). */
size_t nerv_layer_out_size (const NervLayerDesc * l);

typedef struct _NervModel NervModel;

NervModel *nerv_model_new (const NervModelConfig * cfg, NervScratch * scratch);
/* A model for inference only (a decoder): no gradients, no activations
 * kept for backward; nerv_model_backward() must not be called. */
NervModel *nerv_model_new_inference (const NervModelConfig * cfg,
    NervScratch * scratch);
void nerv_model_free (NervModel * m);
const NervModelConfig *nerv_model_config (const NervModel * m);

/* All parameters in one buffer, in the layer table's order (weights then
 * biases per layer: NeRV MLP, HNeRV stem, stages, head), PyTorch layouts. */
float *nerv_model_params (NervModel * m, size_t * n);
float *nerv_model_grads (NervModel * m, size_t * n);
void nerv_model_zero_grads (NervModel * m);
/* PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void nerv_model_init_params (NervModel * m, guint32 seed);

/* Forward one frame. HNeRV reads embed, NeRV reads t (frame position in
 * [0,1)). Returns [out_channels][out_h][out_w], owned by the model and
 * kept for the backward pass. */
const float *nerv_model_forward (NervModel * m, const float *embed, float t);
/* Backward from the gradient at the output; accumulates into the grads
 * and (HNeRV, when dembed is not NULL) writes the embedding gradient. */
void nerv_model_backward (NervModel * m, const float *dout, float *dembed);

/* The scratch (pool and kernel table) the model runs on. */
NervScratch *nerv_model_scratch (NervModel * m);

/* FLOPs of one forward pass (multiply-add = 2). */
double nerv_model_forward_flops (const NervModelConfig * cfg);

G_END_DECLS
#endif
