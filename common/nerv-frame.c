/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-frame.h"

#include <math.h>
#include <string.h>

void
nerv_frame_format_init_yuv420 (NervFrameFormat * f, int width, int height)
{
  memset (f, 0, sizeof (*f));
  f->width = width;
  f->height = height;
  f->n_planes = 3;
  f->sub_x[1] = f->sub_y[1] = f->sub_x[2] = f->sub_y[2] = 1;
  f->weight[0] = 6.0f;
  f->weight[1] = f->weight[2] = 1.0f;
}

void
nerv_frame_format_init_444 (NervFrameFormat * f, int width, int height,
    int n_planes)
{
  memset (f, 0, sizeof (*f));
  f->width = width;
  f->height = height;
  f->n_planes = n_planes;
  for (int c = 0; c < n_planes; c++)
    f->weight[c] = 1.0f;
}

void
nerv_pixel_format_frame_format (NervPixelFormat f, int width, int height,
    NervFrameFormat * out)
{
  switch (f) {
    case NERV_FORMAT_I420:
      nerv_frame_format_init_yuv420 (out, width, height);
      break;
    case NERV_FORMAT_GRAY8:
      nerv_frame_format_init_444 (out, width, height, 1);
      break;
    default:
      nerv_frame_format_init_444 (out, width, height, 3);
      break;
  }
}

int
nerv_frame_format_plane_width (const NervFrameFormat * f, int plane)
{
  return (f->width + (1 << f->sub_x[plane]) - 1) >> f->sub_x[plane];
}

int
nerv_frame_format_plane_height (const NervFrameFormat * f, int plane)
{
  return (f->height + (1 << f->sub_y[plane]) - 1) >> f->sub_y[plane];
}

size_t
nerv_frame_format_plane_offset (const NervFrameFormat * f, int plane)
{
  size_t off = 0;
  for (int c = 0; c < plane; c++)
    off += (size_t) nerv_frame_format_plane_width (f, c) *
        nerv_frame_format_plane_height (f, c);
  return off;
}

size_t
nerv_frame_format_frame_size (const NervFrameFormat * f)
{
  return nerv_frame_format_plane_offset (f, f->n_planes);
}

void
nerv_frame_mse (const NervFrameFormat * fmt, const void *a,
    NervSampleType a_type, const void *b, NervSampleType b_type, double *mse)
{
  const guint8 *a8 = a, *b8 = b;
  const float *af = a, *bf = b;

  /* float against 8-bit: the other way round */
  if (a_type == NERV_SAMPLES_F32 && b_type == NERV_SAMPLES_U8) {
    nerv_frame_mse (fmt, b, b_type, a, a_type, mse);
    return;
  }
  for (int c = 0; c < fmt->n_planes; c++) {
    const size_t off = nerv_frame_format_plane_offset (fmt, c);
    const size_t n = (size_t) nerv_frame_format_plane_width (fmt, c) *
        nerv_frame_format_plane_height (fmt, c);
    double se = 0;

    for (size_t i = off; i < off + n; i++) {
      double e;
      if (a_type == NERV_SAMPLES_F32)
        e = (float) (af[i] - bf[i]);
      else if (b_type == NERV_SAMPLES_F32)
        e = a8[i] / 255.0 - bf[i];
      else
        e = (double) a8[i] - b8[i];
      se += e * e;
    }
    mse[c] = se / n;
    if (a_type == NERV_SAMPLES_U8 && b_type == NERV_SAMPLES_U8)
      mse[c] /= 255.0 * 255.0;
  }
}

double
nerv_psnr (double mse)
{
  if (mse <= 1e-10)
    return 100.0;
  return -10.0 * log10 (mse);
}

double
nerv_psnr_weighted (const NervFrameFormat * fmt, const double *mse)
{
  double sumw = 0, acc = 0;
  for (int c = 0; c < fmt->n_planes; c++) {
    acc += fmt->weight[c] * nerv_psnr (mse[c]);
    sumw += fmt->weight[c];
  }
  return acc / sumw;
}
