/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The public entry points that have no module of their own: inspecting a
 * group packet (nerv-tool info) with the decoder's reader.
 */
#include "nerv.h"
#include "nerv-entropy.h"
#include "nerv-syntax.h"

#include <string.h>

struct _NervInspector {
  NervGroupPayload gp;          /* the layout of the stream header's groups */
  double tensor_bits[NERV_MAX_TENSORS];
};

NervInspector *
nerv_inspector_new (const NervStreamHeader * h)
{
  NervInspector *in = g_new0 (NervInspector, 1);

  if (!nerv_group_payload_init (&in->gp, &h->model, h->group_size,
          h->embed_bits)) {
    nerv_inspector_free (in);
    return NULL;
  }
  return in;
}

void
nerv_inspector_free (NervInspector * in)
{
  if (!in)
    return;
  nerv_group_payload_clear (&in->gp);
  g_free (in);
}

NervStatus
nerv_inspector_read_group (NervInspector * in, const guint8 * payload,
    size_t size, NervGroupInfo * info)
{
  NervGroupPayload *p = &in->gp;
  NervStatus st;
  size_t prev;

  memset (info, 0, sizeof (*info));
  st = nerv_group_payload_read_header (p, payload, size);
  if (st != NERV_OK)
    return st;
  info->have_header = TRUE;
  info->header = p->header;
  st = nerv_group_payload_read_body (p);
  if (st != NERV_OK)
    return st;

  /* where the coder stands after each part */
  info->steps_bytes = prev = p->header.key ? p->exp_end : 0;
  for (int t = 0; t < p->n_tensors; t++) {
    in->tensor_bits[t] = 8.0 * (p->tensor_end[t] - prev) /
        ((size_t) p->t[t].rows * p->t[t].row_len);
    prev = p->tensor_end[t];
  }
  info->n_tensors = p->n_tensors;
  info->tensor_bits = in->tensor_bits;
  info->n_values = p->n_params;
  info->weight_bytes = prev;
  info->huffman_bits = nerv_huffman_bits (p->ints, p->n_params);
  if (p->embed_size) {
    info->embed_bytes = p->header.body_size - prev;
    info->embed_mode = p->embed_mode;
  }
  return NERV_OK;
}
