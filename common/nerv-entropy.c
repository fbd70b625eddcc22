/* gst-nerv: entropy coding of integer tensors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-entropy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOP (1u << 24)

/* ---- adaptive binary probabilities ------------------------------------ */

/* These constants define the bitstream: see nerv-entropy.h. */
#define NERV_PROB_SHIFT_MIN 2
#define NERV_PROB_SHIFT_MAX 7
#define NERV_PROB_MIN 31
#define NERV_PROB_N_MAX 255     /* enough to reach NERV_PROB_SHIFT_MAX */

void
nerv_prob_init (NervProb * p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    p[i].p = NERV_PROB_ONE / 2;
    p[i].n = 0;
  }
}

/* shift = clamp (floor (log2 (n + 2)), MIN, MAX): roughly a running
 * frequency count for the first bits, then an exponential window. */
static inline guint
prob_shift (guint n)
{
  guint s = g_bit_storage (n + 2) - 1;
  return CLAMP (s, NERV_PROB_SHIFT_MIN, NERV_PROB_SHIFT_MAX);
}

static inline void
prob_update (NervProb * p, guint bit)
{
  guint s = prob_shift (p->n);
  gint q = p->p;

  if (bit)
    q -= q >> s;
  else
    q += (NERV_PROB_ONE - q) >> s;
  p->p = CLAMP (q, NERV_PROB_MIN, NERV_PROB_ONE - NERV_PROB_MIN);
  if (p->n < NERV_PROB_N_MAX)
    p->n++;
}

/* ---- range encoder ---------------------------------------------------- */

void
nerv_range_encoder_init (NervRangeEncoder * enc, GByteArray * out)
{
  enc->out = out;
  enc->low = 0;
  enc->range = 0xFFFFFFFFu;
  enc->cache = 0;
  enc->cache_size = 1;
  enc->first = TRUE;
  enc->start = out->len;
}

static inline void
put_byte (NervRangeEncoder * enc, guint8 b)
{
  if (enc->first) {
    /* LZMA's first byte is always 0 (no carry can reach it) */
    g_assert (b == 0);
    enc->first = FALSE;
    return;
  }
  g_byte_array_append (enc->out, &b, 1);
}

static void
shift_low (NervRangeEncoder * enc)
{
  if ((guint32) enc->low < 0xFF000000u || (enc->low >> 32) != 0) {
    guint8 carry = (guint8) (enc->low >> 32);
    guint8 temp = enc->cache;

    do {
      put_byte (enc, (guint8) (temp + carry));
      temp = 0xFF;
    } while (--enc->cache_size != 0);
    enc->cache = (guint8) (enc->low >> 24);
  }
  enc->cache_size++;
  enc->low = (enc->low & 0x00FFFFFFu) << 8;
}

void
nerv_range_encode_bit (NervRangeEncoder * enc, NervProb * p, guint bit)
{
  guint32 bound = (enc->range >> NERV_PROB_BITS) * p->p;

  if (bit) {
    enc->low += bound;
    enc->range -= bound;
  } else {
    enc->range = bound;
  }
  prob_update (p, bit);
  while (enc->range < TOP) {
    enc->range <<= 8;
    shift_low (enc);
  }
}

void
nerv_range_encode_direct (NervRangeEncoder * enc, guint32 value, guint nbits)
{
  g_return_if_fail (nbits <= 32);
  while (nbits--) {
    enc->range >>= 1;
    if ((value >> nbits) & 1)
      enc->low += enc->range;
    while (enc->range < TOP) {
      enc->range <<= 8;
      shift_low (enc);
    }
  }
}

void
nerv_range_encode_freq (NervRangeEncoder * enc, guint32 cum, guint32 freq,
    guint total_bits)
{
  const guint32 r = enc->range >> total_bits;

  enc->low += (guint64) r * cum;
  enc->range = r * freq;
  while (enc->range < TOP) {
    enc->range <<= 8;
    shift_low (enc);
  }
}

size_t
nerv_range_encoder_finish (NervRangeEncoder * enc)
{
  for (int i = 0; i < 5; i++)
    shift_low (enc);
  return enc->out->len - enc->start;
}

/* ---- range decoder ---------------------------------------------------- */

static inline guint8
get_byte (NervRangeDecoder * dec)
{
  if (G_UNLIKELY (dec->pos >= dec->size)) {
    dec->overrun = TRUE;
    /* keep counting, saturating, so consumed() shows the overrun */
    if (dec->pos < G_MAXSIZE)
      dec->pos++;
    return 0;
  }
  return dec->buf[dec->pos++];
}

void
nerv_range_decoder_init (NervRangeDecoder * dec, const guint8 * buf,
    size_t size)
{
  dec->buf = buf;
  dec->size = buf ? size : 0;
  dec->pos = 0;
  dec->range = 0xFFFFFFFFu;
  dec->code = 0;
  dec->overrun = FALSE;
  dec->invalid = FALSE;
  for (int i = 0; i < 4; i++)
    dec->code = (dec->code << 8) | get_byte (dec);
  /* code < range holds for every valid stream, and then stays true */
  if (dec->code >= dec->range)
    dec->invalid = TRUE;
}

guint
nerv_range_decode_bit (NervRangeDecoder * dec, NervProb * p)
{
  guint32 bound = (dec->range >> NERV_PROB_BITS) * p->p;
  guint bit;

  if (dec->code < bound) {
    dec->range = bound;
    bit = 0;
  } else {
    dec->code -= bound;
    dec->range -= bound;
    bit = 1;
  }
  prob_update (p, bit);
  while (dec->range < TOP) {
    dec->range <<= 8;
    dec->code = (dec->code << 8) | get_byte (dec);
  }
  return bit;
}

guint32
nerv_range_decode_freq_target (NervRangeDecoder * dec, guint total_bits)
{
  const guint32 r = dec->range >> total_bits;
  guint32 v = dec->code / r;

  /* code < r * 2^total_bits for every stream an encoder wrote */
  if (G_UNLIKELY (v >> total_bits)) {
    dec->invalid = TRUE;
    v = (1u << total_bits) - 1;
  }
  return v;
}

void
nerv_range_decode_freq_update (NervRangeDecoder * dec, guint32 cum,
    guint32 freq, guint total_bits)
{
  const guint32 r = dec->range >> total_bits;

  dec->code -= r * cum;
  dec->range = r * freq;
  while (dec->range < TOP) {
    dec->range <<= 8;
    dec->code = (dec->code << 8) | get_byte (dec);
  }
}

guint32
nerv_range_decode_direct (NervRangeDecoder * dec, guint nbits)
{
  guint32 v = 0;

  g_return_val_if_fail (nbits <= 32, 0);
  while (nbits--) {
    guint bit;

    dec->range >>= 1;
    bit = dec->code >= dec->range;
    if (bit)
      dec->code -= dec->range;
    v = (v << 1) | bit;
    while (dec->range < TOP) {
      dec->range <<= 8;
      dec->code = (dec->code << 8) | get_byte (dec);
    }
  }
  return v;
}

/* ---- adaptive signed-integer model ------------------------------------ */

void
nerv_int_model_init (NervIntModel * m)
{
  nerv_prob_init (m->zero, G_N_ELEMENTS (m->zero));
  nerv_prob_init (m->sign, G_N_ELEMENTS (m->sign));
  nerv_prob_init (&m->expo[0][0], sizeof (m->expo) / sizeof (NervProb));
  nerv_prob_init (m->mant1, G_N_ELEMENTS (m->mant1));
  nerv_prob_init (&m->mant2[0][0], sizeof (m->mant2) / sizeof (NervProb));
  nerv_prob_init (&m->low[0][0], sizeof (m->low) / sizeof (NervProb));
  m->prev_class = 0;
  m->prev_sign = 0;
}

static inline guint
mag_class (guint32 mag)
{
  return mag == 0 ? 0 : mag <= 2 ? 1 : 2;
}

static inline void
model_advance (NervIntModel * m, guint32 mag, guint sign)
{
  m->prev_class = mag_class (mag);
  m->prev_sign = mag == 0 ? 0 : 1 + sign;
}

void
nerv_int_model_encode (NervIntModel * m, NervRangeEncoder * enc, gint32 v)
{
  const guint c = m->prev_class;
  /* |v| without overflow, INT32_MIN included */
  const guint32 mag = v < 0 ? 0u - (guint32) v : (guint32) v;
  const guint sign = v < 0;
  guint e, k;

  nerv_range_encode_bit (enc, &m->zero[c], mag != 0);
  if (mag == 0) {
    model_advance (m, 0, 0);
    return;
  }
  nerv_range_encode_bit (enc, &m->sign[m->prev_sign], sign);

  e = g_bit_storage (mag);      /* 1..32 */
  for (k = 0; k + 1 < e; k++)
    nerv_range_encode_bit (enc, &m->expo[c][k], 1);
  if (e < NERV_INT_MAX_BITS)
    nerv_range_encode_bit (enc, &m->expo[c][e - 1], 0);

  if (e >= 2) {
    guint b1 = (mag >> (e - 2)) & 1;

    nerv_range_encode_bit (enc, &m->mant1[e], b1);
    if (e >= 3) {
      guint b2 = (mag >> (e - 3)) & 1;
      guint rest = e - 3;

      nerv_range_encode_bit (enc, &m->mant2[e][b1], b2);
      if (e <= NERV_INT_CTX_BITS) {
        for (k = 0; k < rest; k++)
          nerv_range_encode_bit (enc, &m->low[e][k],
              (mag >> (rest - 1 - k)) & 1);
      } else if (rest > 0) {
        nerv_range_encode_direct (enc, mag & ((1u << rest) - 1), rest);
      }
    }
  }
  model_advance (m, mag, sign);
}

gboolean
nerv_int_model_decode (NervIntModel * m, NervRangeDecoder * dec, gint32 * v)
{
  const guint c = m->prev_class;
  guint32 mag;
  guint sign, e, k;

  *v = 0;
  if (!nerv_range_decode_bit (dec, &m->zero[c])) {
    model_advance (m, 0, 0);
    return nerv_range_decoder_ok (dec);
  }
  sign = nerv_range_decode_bit (dec, &m->sign[m->prev_sign]);

  /* bounded: at most NERV_INT_MAX_BITS - 1 unary bits */
  e = 1;
  while (e < NERV_INT_MAX_BITS
      && nerv_range_decode_bit (dec, &m->expo[c][e - 1]))
    e++;

  mag = 1;
  if (e >= 2) {
    guint b1 = nerv_range_decode_bit (dec, &m->mant1[e]);

    mag = (mag << 1) | b1;
    if (e >= 3) {
      guint rest = e - 3;

      mag = (mag << 1) | nerv_range_decode_bit (dec, &m->mant2[e][b1]);
      if (e <= NERV_INT_CTX_BITS) {
        for (k = 0; k < rest; k++)
          mag = (mag << 1) | nerv_range_decode_bit (dec, &m->low[e][k]);
      } else if (rest > 0) {
        /* rest <= 29 here: no shift by 32 */
        mag = (mag << rest) | nerv_range_decode_direct (dec, rest);
      }
    }
  }

  /* gint32 holds -2^31..2^31-1 */
  if (mag > (sign ? 0x80000000u : 0x7FFFFFFFu)) {
    dec->invalid = TRUE;
    return FALSE;
  }
  *v = sign ? -(gint32) (mag - 1) - 1 : (gint32) mag;
  model_advance (m, mag, sign);
  return nerv_range_decoder_ok (dec);
}

/* ---- tensors ---------------------------------------------------------- */

void
nerv_entropy_encode_ints_rc (NervRangeEncoder * enc, const gint32 * v,
    size_t n)
{
  NervIntModel *m = g_new (NervIntModel, 1);

  nerv_int_model_init (m);
  for (size_t i = 0; i < n; i++)
    nerv_int_model_encode (m, enc, v[i]);
  g_free (m);
}

gboolean
nerv_entropy_decode_ints_rc (NervRangeDecoder * dec, gint32 * v, size_t n)
{
  NervIntModel *m = g_new (NervIntModel, 1);
  size_t i;
  gboolean ok = nerv_range_decoder_ok (dec);

  nerv_int_model_init (m);
  /* stop at the first error: garbage cannot make us spin on n values */
  for (i = 0; ok && i < n; i++)
    ok = nerv_int_model_decode (m, dec, &v[i]);
  if (i < n)
    memset (v + i, 0, (n - i) * sizeof (gint32));
  g_free (m);
  return ok;
}

void
nerv_entropy_encode_ints (const gint32 * v, size_t n, GByteArray * out)
{
  NervRangeEncoder enc;

  g_return_if_fail (out != NULL);
  g_return_if_fail (v != NULL || n == 0);
  nerv_range_encoder_init (&enc, out);
  nerv_entropy_encode_ints_rc (&enc, v, n);
  nerv_range_encoder_finish (&enc);
}

gboolean
nerv_entropy_decode_ints (const guint8 * buf, size_t size, gint32 * v,
    size_t n)
{
  NervRangeDecoder dec;

  g_return_val_if_fail (v != NULL || n == 0, FALSE);
  nerv_range_decoder_init (&dec, buf, size);
  if (!nerv_entropy_decode_ints_rc (&dec, v, n))
    return FALSE;
  /* the stream is exactly size bytes long */
  return nerv_range_decoder_consumed (&dec) == size;
}

/* ---- reference sizes -------------------------------------------------- */

static int
cmp_i32 (const void *a, const void *b)
{
  gint32 x = *(const gint32 *) a, y = *(const gint32 *) b;
  return (x > y) - (x < y);
}

/* Sorted distinct symbols and their counts; returns how many. */
static size_t
histogram (const gint32 * v, size_t n, gint32 ** sym, guint64 ** cnt)
{
  gint32 *s = g_new (gint32, MAX (n, 1));
  guint64 *c = g_new (guint64, MAX (n, 1));
  size_t k = 0;

  memcpy (s, v, n * sizeof (gint32));
  qsort (s, n, sizeof (gint32), cmp_i32);
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && s[k - 1] == s[i]) {
      c[k - 1]++;
    } else {
      s[k] = s[i];
      c[k] = 1;
      k++;
    }
  }
  *sym = s;
  *cnt = c;
  return k;
}

double
nerv_entropy_bits (const gint32 * v, size_t n)
{
  gint32 *sym;
  guint64 *cnt;
  size_t k;
  double bits = 0;

  if (n == 0)
    return 0;
  k = histogram (v, n, &sym, &cnt);
  for (size_t i = 0; i < k; i++)
    bits -= (double) cnt[i] * log2 ((double) cnt[i] / (double) n);
  g_free (sym);
  g_free (cnt);
  return bits;
}

static int
cmp_u64_idx (const void *a, const void *b, void *data)
{
  const guint64 *w = data;
  guint64 x = w[*(const guint *) a], y = w[*(const guint *) b];
  return (x > y) - (x < y);
}

static double
elias_gamma_bits (guint64 x)
{
  return 2.0 * (g_bit_storage (x) - 1) + 1;
}

double
nerv_huffman_bits_split (const gint32 * v, size_t n, double *payload_bits,
    double *table_bits)
{
  gint32 *sym;
  guint64 *cnt;
  size_t k;
  double payload = 0, table = 0;

  if (n == 0)
    goto out;
  k = histogram (v, n, &sym, &cnt);

  if (k == 1) {
    payload = (double) n;
  } else {
    /* two-queue Huffman: leaves sorted by count, internal nodes are made
     * in non-decreasing weight order */
    guint *order = g_new (guint, k);
    guint64 *w = g_new (guint64, 2 * k - 1);
    guint *parent = g_new (guint, 2 * k - 1);
    guint *depth = g_new (guint, 2 * k - 1);
    size_t leaf = 0, inner = k, next = k;

    for (size_t i = 0; i < k; i++)
      order[i] = i;
    g_qsort_with_data (order, k, sizeof (guint), cmp_u64_idx, cnt);
    for (size_t i = 0; i < k; i++)
      w[i] = cnt[order[i]];
    while (next < 2 * k - 1) {
      size_t pick[2];

      for (int j = 0; j < 2; j++) {
        if (leaf < k && (inner >= next || w[leaf] <= w[inner]))
          pick[j] = leaf++;
        else
          pick[j] = inner++;
      }
      w[next] = w[pick[0]] + w[pick[1]];
      parent[pick[0]] = parent[pick[1]] = next;
      next++;
    }
    depth[2 * k - 2] = 0;
    for (size_t i = 2 * k - 2; i-- > 0;)
      depth[i] = depth[parent[i]] + 1;
    for (size_t i = 0; i < k; i++)
      payload += (double) w[i] * depth[i];
    g_free (order);
    g_free (w);
    g_free (parent);
    g_free (depth);
  }

  table = elias_gamma_bits (k) + 32 + 6.0 * k;
  for (size_t i = 1; i < k; i++)
    table += elias_gamma_bits ((guint64) ((gint64) sym[i] - sym[i - 1]));
  g_free (sym);
  g_free (cnt);

out:
  if (payload_bits)
    *payload_bits = payload;
  if (table_bits)
    *table_bits = table;
  return payload + table;
}

double
nerv_huffman_bits (const gint32 * v, size_t n)
{
  return nerv_huffman_bits_split (v, n, NULL, NULL);
}
