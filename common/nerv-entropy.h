/* gst-nerv: entropy coding of integer tensors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A binary adaptive range coder (LZMA-style carry handling, 32-bit range)
 * and an adaptive model for signed integers on top of it, used for
 * quantised weights, weight residuals between groups and quantised
 * embeddings. Everything that decides a decoded bit is integer
 * arithmetic, so decoding is bit-exact on every machine.
 *
 * Bitstream of one coder stream (what nerv_range_encoder_finish() leaves):
 * the LZMA range-coder byte stream without its always-zero first byte,
 * flushed with four bytes, so a decoder consumes exactly the bytes the
 * encoder wrote (size = bytes of renormalisation + 4). There is no length
 * or end marker inside: the container stores each stream's byte length.
 *
 * The decoder is bounded: it never reads at or past `size`; such reads
 * give zero bytes and set `overrun`. A stream whose first four bytes are
 * FF FF FF FF cannot have come from the encoder and sets `invalid`.
 */
#ifndef NERV_ENTROPY_H
#define NERV_ENTROPY_H

#include "nerv-common.h"

G_BEGIN_DECLS

/* ---- adaptive binary probabilities ------------------------------------ */

/* P(bit = 0) in units of 2^-15, kept within [31, 2^15 - 31] (so a bit
 * costs at most ~10 bits). After each coded bit, with n = bits this
 * context has seen so far:
 *   shift = clamp (floor (log2 (n + 2)), 2, 7)
 *   p += (2^15 - p) >> shift   (bit 0)   or   p -= p >> shift   (bit 1)
 * i.e. close to a running frequency count for the first bits, then an
 * exponential window of ~128 bits. (Measured against LZMA's fixed 11-bit,
 * shift-5 probabilities: 1-2 % fewer bits on stationary tensors.) */
#define NERV_PROB_BITS 15
#define NERV_PROB_ONE (1 << NERV_PROB_BITS)

typedef struct {
  guint16 p;                    /* P(0), NERV_PROB_BITS fraction */
  guint16 n;                    /* updates seen, saturating */
} NervProb;

void nerv_prob_init (NervProb * p, size_t n);

/* ---- range encoder ---------------------------------------------------- */

typedef struct {
  GByteArray *out;              /* appended to, not owned */
  guint64 low;
  guint32 range;
  guint8 cache;
  guint64 cache_size;
  gboolean first;               /* drop LZMA's leading zero byte */
  guint start;                  /* out->len at init */
} NervRangeEncoder;

void nerv_range_encoder_init (NervRangeEncoder * enc, GByteArray * out);
void nerv_range_encode_bit (NervRangeEncoder * enc, NervProb * p, guint bit);
/* nbits (0..32) equiprobable bits of value, most significant first */
void nerv_range_encode_direct (NervRangeEncoder * enc, guint32 value,
    guint nbits);
/* A symbol of a static distribution: its cumulative frequency and its
 * frequency (>= 1), of a total of 2^total_bits (<= 16). */
void nerv_range_encode_freq (NervRangeEncoder * enc, guint32 cum,
    guint32 freq, guint total_bits);
/* Flushes; returns the bytes this stream appended to out. */
size_t nerv_range_encoder_finish (NervRangeEncoder * enc);

/* ---- range decoder ---------------------------------------------------- */

typedef struct {
  const guint8 *buf;
  size_t size;
  size_t pos;                   /* bytes consumed (may exceed size on overrun) */
  guint32 range;
  guint32 code;
  gboolean overrun;             /* tried to read past size */
  gboolean invalid;             /* data no encoder can produce */
} NervRangeDecoder;

void nerv_range_decoder_init (NervRangeDecoder * dec, const guint8 * buf,
    size_t size);
guint nerv_range_decode_bit (NervRangeDecoder * dec, NervProb * p);
guint32 nerv_range_decode_direct (NervRangeDecoder * dec, guint nbits);
/* A symbol of a static distribution in two steps: the target in
 * [0, 2^total_bits) (the symbol is the one whose [cum, cum + freq) holds
 * it), then the update with that symbol's cum and freq. */
guint32 nerv_range_decode_freq_target (NervRangeDecoder * dec,
    guint total_bits);
void nerv_range_decode_freq_update (NervRangeDecoder * dec, guint32 cum,
    guint32 freq, guint total_bits);
/* FALSE once the decoder overran the buffer or met invalid data. */
static inline gboolean
nerv_range_decoder_ok (const NervRangeDecoder * dec)
{
  return !dec->overrun && !dec->invalid;
}

/* Bytes read so far (== the stream's size after a successful decode). */
static inline size_t
nerv_range_decoder_consumed (const NervRangeDecoder * dec)
{
  return dec->pos;
}

/* ---- adaptive signed-integer model ------------------------------------ */

/* Supported range: every gint32, INT32_MIN included. */
#define NERV_INT_MAX_BITS 32    /* bit length of the largest magnitude */
#define NERV_INT_CTX_BITS 6     /* magnitudes below 2^6 code every bit
                                 * below the leading one with a context */
#define NERV_INT_CLASSES 3      /* |previous| = 0, 1..2, >= 3 */

/* Binarisation of v, with c = class of the previously coded |v|:
 *   zero flag                          ctx zero[c]
 *   sign (if v != 0)                   ctx sign[sign of previous value]
 *   e - 1 in unary, e = bit length of |v| (1..32): bit i (1 = "longer")
 *     with ctx expo[c][i]; no terminating bit when e = 32
 *   the bit below the leading one      ctx mant1[e]           (e >= 2)
 *   the next bit                       ctx mant2[e][prev bit] (e >= 3)
 *   the remaining e - 3 bits           ctx low[e][position] for
 *     e <= NERV_INT_CTX_BITS, direct (equiprobable) bits above
 * A decoded magnitude outside the gint32 range is refused. */
typedef struct {
  NervProb zero[NERV_INT_CLASSES];
  NervProb sign[3];
  NervProb expo[NERV_INT_CLASSES][NERV_INT_MAX_BITS];
  NervProb mant1[NERV_INT_MAX_BITS + 1];
  NervProb mant2[NERV_INT_MAX_BITS + 1][2];
  NervProb low[NERV_INT_CTX_BITS + 1][NERV_INT_CTX_BITS];
  guint prev_class;
  guint prev_sign;              /* 0: zero, 1: positive, 2: negative */
} NervIntModel;

void nerv_int_model_init (NervIntModel * m);
void nerv_int_model_encode (NervIntModel * m, NervRangeEncoder * enc,
    gint32 v);
/* FALSE (and *v = 0) on a magnitude outside gint32 or a coder error. */
gboolean nerv_int_model_decode (NervIntModel * m, NervRangeDecoder * dec,
    gint32 * v);

/* ---- tensors ---------------------------------------------------------- */

/* Code n integers with a fresh model as one complete coder stream;
 * appends to out. n = 0 appends the 4-byte empty stream. */
void nerv_entropy_encode_ints (const gint32 * v, size_t n, GByteArray * out);

/* Decode n integers from the stream buf[0..size). Returns FALSE on
 * overrun, on invalid data, or when the stream is not exactly size bytes
 * long (each tensor's length is stored by the caller). v is filled in
 * either case (zeros where decoding stopped). */
gboolean nerv_entropy_decode_ints (const guint8 * buf, size_t size,
    gint32 * v, size_t n);

/* Several tensors in one stream (saves the 4-byte flush per tensor):
 * a fresh model per call, the coder shared. */
void nerv_entropy_encode_ints_rc (NervRangeEncoder * enc, const gint32 * v,
    size_t n);
gboolean nerv_entropy_decode_ints_rc (NervRangeDecoder * dec, gint32 * v,
    size_t n);

/* ---- reference sizes (float, encoder side only) ----------------------- */

/* Bits of a static Huffman code built from the values' own histogram, as
 * HNeRV does: payload = sum over symbols of count * code length (a single
 * distinct symbol gets 1-bit codes). HNeRV counts only the payload; here
 * the table is added: Elias-gamma(number of symbols) + 32 bits for the
 * smallest symbol + Elias-gamma of each gap between consecutive sorted
 * symbols + 6 bits per code length. */
double nerv_huffman_bits (const gint32 * v, size_t n);
/* The same, split; either pointer may be NULL. Returns the total. */
double nerv_huffman_bits_split (const gint32 * v, size_t n,
    double *payload_bits, double *table_bits);

/* Empirical zero-order entropy, n * H(histogram), in bits. */
double nerv_entropy_bits (const gint32 * v, size_t n);

G_END_DECLS
#endif
