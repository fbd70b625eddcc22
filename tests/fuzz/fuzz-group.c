/* gst-nerv: libFuzzer target: the group packet's syntax
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: one flags byte (bit 0: rewrite every packet's CRC first), then a
 * .nerv byte stream. The splitter walks it as every reader does; each
 * stream header sets the layout, each group packet goes to the reader
 * (nerv_group_payload_read, the decoder's). A payload it accepts must hold
 * values within their ranges, and written again and read back must give
 * the same values (writer and reader are one syntax).
 *
 * Small limits, as fuzz-decoder: layouts above FUZZ_MAX_VALUES weights or
 * embedding values are skipped (the reader's time grows with them, not
 * with the input).
 */
#include <stdlib.h>

#include "fuzz-common.h"
#include "nerv-syntax.h"

#define FUZZ_MAX_VALUES (256 * 1024)

static void
check_payload (const NervGroupPayload * p)
{
  const NervGroupHeader *g = &p->header;
  const gint32 qmax = (1 << (p->embed_bits - 1)) - 1;

  if (g->n_frames < 1 || g->n_frames > p->max_frames || p->embed_mode > 1)
    __builtin_trap ();
  for (int r = 0; g->key && r < p->n_rows; r++)
    if (p->row_exp[r] < NERV_QUANT_EXP_MIN || p->row_exp[r] > NERV_QUANT_EXP_MAX)
      __builtin_trap ();
  for (size_t i = 0; g->key && i < p->n_params; i++)
    if (p->ints[i] < -NERV_MAX_WEIGHT_INT || p->ints[i] > NERV_MAX_WEIGHT_INT)
      __builtin_trap ();
  for (int f = 0; p->embed_size && f < g->n_frames; f++) {
    if (p->embed_exp[f] < NERV_QUANT_EXP_MIN
        || p->embed_exp[f] > NERV_QUANT_EXP_MAX)
      __builtin_trap ();
    for (size_t i = 0; i < p->embed_size; i++)
      if (abs (p->embed_ints[p->embed_size * f + i]) > qmax)
        __builtin_trap ();
  }
}

/* write what was read, read it back: the same values */
static void
round_trip (const NervGroupPayload * p, NervGroupPayload * p2)
{
  const NervGroupHeader *g = &p->header;
  GByteArray *a = g_byte_array_new ();

  nerv_group_payload_write (p, a);
  if (nerv_group_payload_read (p2, a->data, a->len) != NERV_OK
      || p2->header.index != g->index || p2->header.key != g->key
      || p2->header.n_frames != g->n_frames
      || p2->header.first_frame != g->first_frame
      || p2->embed_mode != p->embed_mode
      || memcmp (p2->ints, p->ints, sizeof (gint32) * p->n_params)
      || (g->key && memcmp (p2->row_exp, p->row_exp, sizeof (int) * p->n_rows))
      || (p->embed_size && (memcmp (p2->embed_exp, p->embed_exp,
                  sizeof (int) * g->n_frames)
              || memcmp (p2->embed_ints, p->embed_ints,
                  sizeof (gint32) * p->embed_size * g->n_frames))))
    __builtin_trap ();
  g_byte_array_free (a, TRUE);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  NervSplitter sp;
  NervGroupPayload p, p2;
  gboolean have_layout = FALSE;
  size_t pos = 0, n;
  guint8 *buf = nerv_fuzz_stream (data, size, &n);

  if (!buf)
    return 0;
  memset (&p, 0, sizeof (p));
  memset (&p2, 0, sizeof (p2));
  nerv_splitter_init (&sp);
  while (pos < n) {
    NervSplit sk;
    const NervSplitResult res = nerv_splitter_next (&sp, buf + pos, n - pos,
        pos, TRUE, &sk);

    if (sk.size < 1 || sk.size > n - pos || res == NERV_SPLIT_NEED_MORE)
      __builtin_trap ();
    if (res == NERV_SPLIT_PACKET && sk.pkt.type == NERV_PACKET_STREAM) {
      const NervStreamHeader *h = &sp.unit_header;
      have_layout = nerv_model_config_n_params (&h->model) <= FUZZ_MAX_VALUES
          && (size_t) h->group_size * nerv_model_config_embed_size (&h->model)
          <= FUZZ_MAX_VALUES
          && nerv_group_payload_init (&p, &h->model, h->group_size,
          h->embed_bits)
          && nerv_group_payload_init (&p2, &h->model, h->group_size,
          h->embed_bits);
    } else if (res == NERV_SPLIT_PACKET && sk.pkt.type == NERV_PACKET_GROUP
        && have_layout) {
      if (nerv_group_payload_read (&p, sk.pkt.payload, sk.pkt.size) ==
          NERV_OK) {
        check_payload (&p);
        round_trip (&p, &p2);
      }
    }
    pos += sk.size;
  }
  nerv_splitter_clear (&sp);
  nerv_group_payload_clear (&p);
  nerv_group_payload_clear (&p2);
  g_free (buf);
  return 0;
}
