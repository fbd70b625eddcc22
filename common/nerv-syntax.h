/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The syntax of a group packet's payload (docs/bitstream.md, "Group"):
 * its fixed fields, then on one range coder the step exponents of a key
 * group, the integers of every tensor (whole, or as changes from the
 * previous group's) and the embeddings of its frames. Writer and reader
 * side by side: the encoder fills a NervGroupPayload and writes it; the
 * decoder, nerv-tool info and the fuzzer read it, with every range check
 * in the reader. What the integers mean (adding residuals, dequantising)
 * is the decoder's (nerv-codec.c), as dav1d keeps syntax in obu.c and
 * reconstruction in decode.c.
 */
#ifndef NERV_SYNTAX_H
#define NERV_SYNTAX_H

#include "nerv-bitstream.h"
#include "nerv-entropy.h"
#include "nerv-quant.h"

G_BEGIN_DECLS

/* A weight integer beyond +-this (coded whole, or the sum of residuals) is
 * invalid. */
#define NERV_MAX_WEIGHT_INT (1 << 24)

typedef struct {
  /* the layout, from the stream header (nerv_group_payload_init) */
  int n_tensors;
  NervTensorInfo t[NERV_MAX_TENSORS];
  int n_rows;                   /* weight rows, one step exponent each */
  size_t n_params;
  size_t embed_size;            /* embedding values per frame; 0: NeRV */
  int embed_bits;
  int max_frames;               /* the stream header's group size */
  int arm_rows;                 /* kind 2: the ARM's rows (the first ones),
                                 * on a fixed step */
  size_t arm_params;            /* and its parameters (the first ones) */

  /* the payload */
  NervGroupHeader header;       /* body, body_size: set by the reader */
  int *row_exp;                 /* [n_rows] key groups: step exponents */
  gint32 *ints;                 /* [n_params] in tensor order, as coded:
                                 * the integers (key group) or their changes
                                 * from the previous group's */
  guint embed_mode;             /* 0: as they are, 1: each frame less the
                                 * previous one on its step */
  int *embed_exp;               /* [max_frames] step exponents */
  gint32 *embed_ints;           /* [max_frames][embed_size] */

  /* reader: bytes of the body consumed after the exponents (0 for a
   * residual group) and after each tensor */
  size_t exp_end;
  size_t tensor_end[NERV_MAX_TENSORS];
} NervGroupPayload;

/* The layout of a stream header's groups, with room for a group's values
 * (the old ones freed). FALSE if the embeddings do not fit
 * NERV_MAX_GROUP_EMBED or memory is short. p starts zeroed. */
gboolean nerv_group_payload_init (NervGroupPayload * p,
    const NervModelConfig * cfg, int group_size, int embed_bits);
void nerv_group_payload_clear (NervGroupPayload * p);

/* Appends the payload (header.n_frames frames) to out. Returns its bytes
 * before the embeddings: the fixed fields and the weights, within the
 * coder's few pending bytes. */
size_t nerv_group_payload_write (const NervGroupPayload * p, GByteArray * out);

/* The fixed fields (frames within 1..max_frames); header.body is the rest. */
NervStatus nerv_group_payload_read_header (NervGroupPayload * p,
    const guint8 * data, size_t size);
/* The body after read_header: NERV_ERR_TRUNCATED if it ends early,
 * NERV_ERR_INVALID for a value out of range (an exponent, an embedding
 * integer, a key group's weight integer) or bytes left over. */
NervStatus nerv_group_payload_read_body (NervGroupPayload * p);
/* Both. */
NervStatus nerv_group_payload_read (NervGroupPayload * p, const guint8 * data,
    size_t size);

/* ---- the embeddings part, on its own ---------------------------------- */

/* n frames' integers q[n][esize] (|q| < 2^(bits-1)) and step exponents:
 * the mode bit, the exponents as differences, the integers (mode 1: less
 * the previous frame's rescaled to the frame's step), each part with one
 * adaptive model. The reader refuses an exponent or an integer out of
 * range (FALSE, also on a coder error). */
void nerv_embed_write (NervRangeEncoder * rc, const gint32 * q,
    const int *exps, int n, size_t esize, int bits, guint mode);
gboolean nerv_embed_read (NervRangeDecoder * rc, gint32 * q, int *exps,
    int n, size_t esize, int bits, guint * mode);
/* The mode that codes these embeddings smaller (an encoder's choice). */
guint nerv_embed_choose_mode (const gint32 * q, const int *exps, int n,
    size_t esize, int bits);

G_END_DECLS
#endif
