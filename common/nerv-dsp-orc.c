/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Element-wise ORC kernels (GELU, Adam, pixel conversion).
 * PLACEHOLDER: to be filled; keeps the C references for now.
 */
#include "nerv-dsp.h"

#ifndef DISABLE_ORC
void
nerv_dsp_init_orc (NervDsp * dsp)
{
}
#endif
