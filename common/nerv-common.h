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

/* The library's error domain: every GError it sets is NERV_ERROR. */
#define NERV_ERROR (nerv_error_quark ())
GQuark nerv_error_quark (void);
typedef enum {
  NERV_ERROR_INVALID,           /* a setting out of its range */
  NERV_ERROR_IO,
  NERV_ERROR_DATA,              /* input data that cannot be used */
} NervError;

/* Every tensor buffer is aligned to this many bytes (one AVX-512 line). */
#define NERV_ALIGN 64

/* Aligned, zeroed float buffer of n elements; free with nerv_free(). */
float *nerv_alloc_floats (size_t n);
/* The same, not zeroed: pages are only touched when written (for buffers
 * every use writes before it reads, such as activations). */
float *nerv_alloc_floats_uninit (size_t n);
/* Aligned, zeroed buffer of n 32-bit integers (quantised values), counted
 * and freed as the float buffers are. */
gint32 *nerv_alloc_ints (size_t n);
void nerv_free (gpointer p);

/* Peak bytes held by nerv_alloc_*() buffers since start (for benchmarks). */
size_t nerv_mem_current (void);
size_t nerv_mem_peak (void);

static inline int
nerv_ceil_div (int a, int b)
{
  return (a + b - 1) / b;
}

G_END_DECLS
#endif
