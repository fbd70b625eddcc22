/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-common.h"

#include <string.h>

G_DEFINE_QUARK (nerv-error-quark, nerv_error);

/* Each block keeps its size in a header so the memory counters stay exact. */
#define NERV_HDR NERV_ALIGN

static gint64 mem_current;
static gint64 mem_peak;
G_LOCK_DEFINE_STATIC (mem_lock);

static gpointer
alloc_elems (size_t n, size_t elem, gboolean zero)
{
  size_t bytes = n * elem;
  guint8 *base;

  if (n > (G_MAXSIZE - NERV_HDR) / elem)
    return NULL;
  base = zero ? g_aligned_alloc0 (1, bytes + NERV_HDR, NERV_ALIGN) :
      g_aligned_alloc (1, bytes + NERV_HDR, NERV_ALIGN);
  *(size_t *) base = bytes;
  G_LOCK (mem_lock);
  mem_current += bytes;
  if (mem_current > mem_peak)
    mem_peak = mem_current;
  G_UNLOCK (mem_lock);
  return base + NERV_HDR;
}

float *
nerv_alloc_floats (size_t n)
{
  return alloc_elems (n, sizeof (float), TRUE);
}

float *
nerv_alloc_floats_uninit (size_t n)
{
  return alloc_elems (n, sizeof (float), FALSE);
}

gint32 *
nerv_alloc_ints (size_t n)
{
  return alloc_elems (n, sizeof (gint32), TRUE);
}

void
nerv_free (gpointer p)
{
  guint8 *base;

  if (!p)
    return;
  base = (guint8 *) p - NERV_HDR;
  G_LOCK (mem_lock);
  mem_current -= *(size_t *) base;
  G_UNLOCK (mem_lock);
  g_aligned_free (base);
}

size_t
nerv_mem_current (void)
{
  return (size_t) mem_current;
}

size_t
nerv_mem_peak (void)
{
  return (size_t) mem_peak;
}
