/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Frames: the pixel formats a stream carries, the planar layout of a
 * frame (plane sizes and offsets, subsampling, loss weights), and the
 * per-plane error and PSNR that the trainer, the encoder's statistics and
 * `nerv-tool psnr` report. Nothing here knows about networks or packets.
 */
#ifndef NERV_FRAME_H
#define NERV_FRAME_H

#include "nerv-common.h"

G_BEGIN_DECLS

#define NERV_MAX_DIM 8192       /* frame width/height limit */
#define NERV_MAX_PLANES 3

/* Pixel formats; the values are the stream header's format codes
 * (docs/bitstream.md). */
typedef enum {
  NERV_FORMAT_I420 = 0,
  NERV_FORMAT_Y444 = 1,
  NERV_FORMAT_RGB = 2,
  NERV_FORMAT_GRAY8 = 3,
} NervPixelFormat;

/* Planar frames, planes one after the other. Plane 0 is full size; the
 * others may be subsampled by 2 (4:2:0 chroma: sub_x = sub_y = 1), sizes
 * rounded up. The samples are 8-bit or, for training, float in [0,1]. */
typedef struct {
  int width, height;
  int n_planes;                 /* 1 or 3 */
  int sub_x[NERV_MAX_PLANES], sub_y[NERV_MAX_PLANES];   /* log2, 0 or 1 */
  float weight[NERV_MAX_PLANES];        /* loss weights: 6,1,1 for YUV */
} NervFrameFormat;

void nerv_frame_format_init_yuv420 (NervFrameFormat * f, int width, int height);
void nerv_frame_format_init_444 (NervFrameFormat * f, int width, int height,
    int n_planes);
/* The layout of a pixel format (Y444 and RGB: three full planes). */
void nerv_pixel_format_frame_format (NervPixelFormat f, int width,
    int height, NervFrameFormat * out);
int nerv_frame_format_plane_width (const NervFrameFormat * f, int plane);
int nerv_frame_format_plane_height (const NervFrameFormat * f, int plane);
/* samples before the plane (all planes: the frame size) */
size_t nerv_frame_format_plane_offset (const NervFrameFormat * f, int plane);
size_t nerv_frame_format_frame_size (const NervFrameFormat * f);

typedef enum {
  NERV_SAMPLES_U8,              /* 0..255 */
  NERV_SAMPLES_F32,             /* [0,1] */
} NervSampleType;

/* Mean squared error of each plane of frame a against frame b, on the
 * [0,1] scale: mse[c] for c < n_planes. Two 8-bit frames compare exactly
 * (integer differences); 8-bit against float in double; two float frames
 * in float differences summed in double. */
void nerv_frame_mse (const NervFrameFormat * fmt, const void *a,
    NervSampleType a_type, const void *b, NervSampleType b_type, double *mse);

/* PSNR for a peak of 1.0; 100 dB for a zero error. */
double nerv_psnr (double mse);
/* (6 PSNR_Y + PSNR_U + PSNR_V) / 8 style: plane PSNRs weighted by fmt. */
double nerv_psnr_weighted (const NervFrameFormat * fmt, const double *mse);

G_END_DECLS
#endif
