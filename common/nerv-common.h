/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Small shared helpers of the core library (no GStreamer in common/).
 */
#ifndef NERV_COMMON_H
#define NERV_COMMON_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

/* Every tensor buffer is aligned to this many bytes (one AVX-512 line). */
#define NERV_ALIGN 64

/* Aligned, zeroed float buffer of n elements; free with nerv_free(). */
float *nerv_alloc_floats (size_t n);
/* The same, not zeroed: pages are only touched when written (for buffers
 * every use writes before it reads, such as activations). */
float *nerv_alloc_floats_uninit (size_t n);
void nerv_free (gpointer p);

/* Peak bytes held by nerv_alloc_floats() buffers since start (for benchmarks). */
size_t nerv_mem_current (void);
size_t nerv_mem_peak (void);

static inline int
nerv_ceil_div (int a, int b)
{
  return (a + b - 1) / b;
}

G_END_DECLS
#endif
