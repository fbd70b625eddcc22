/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Motion estimation for the encoder (not part of the format: any vector
 * decodes; this one is a good guess). A global translation between two
 * frames' luma, in quarter pixels: cur (x) ~ prev (x - mv).
 */
#ifndef NERV_MOTION_H
#define NERV_MOTION_H

#include "nerv-common.h"

G_BEGIN_DECLS

/* Coarse to fine: an exhaustive search at a quarter of the size over
 * +-range pixels, refinements at half and full size, then quarter pixels
 * with bilinear interpolation; the error is the mean squared difference
 * over where the shifted frame overlaps. */
void nerv_motion_global (const float *prev, const float *cur, int w, int h,
    int range, int *mvx, int *mvy);

G_END_DECLS
#endif
