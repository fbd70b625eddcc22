/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Normative format code (docs/bitstream.md): packets, the fixed fields of
 * every packet type, and the rules of what follows what (the splitter).
 */
#include "nerv-bitstream.h"

#include <libavutil/crc.h>
#include <stdatomic.h>
#include <string.h>

const char *
nerv_status_string (NervStatus status)
{
  switch (status) {
    case NERV_OK:
      return "ok";
    case NERV_ERR_NEED_MORE:
      return "incomplete packet";
    case NERV_ERR_SYNC:
      return "no packet sync marker";
    case NERV_ERR_CRC:
      return "packet CRC mismatch";
    case NERV_ERR_TRUNCATED:
      return "truncated packet";
    case NERV_ERR_VERSION:
      return "unsupported stream version";
    case NERV_ERR_INVALID:
      return "invalid value in stream";
    case NERV_ERR_NO_HEADER:
      return "no stream header before this packet";
    case NERV_ERR_NO_KEY:
      return "no key group before this packet";
  }
  return "unknown error";
}

/* ---- little-endian byte reader and writer ----------------------------- */

typedef struct {
  const guint8 *p;
  size_t n, pos;
  gboolean err;
} Reader;

static guint64
rd (Reader * r, int bytes)
{
  guint64 v = 0;
  if (r->err || r->n - r->pos < (size_t) bytes) {
    r->err = TRUE;
    return 0;
  }
  for (int i = 0; i < bytes; i++)
    v |= (guint64) r->p[r->pos + i] << (8 * i);
  r->pos += bytes;
  return v;
}

static void
wr (GByteArray * a, guint64 v, int bytes)
{
  guint8 b[8];
  for (int i = 0; i < bytes; i++)
    b[i] = (guint8) (v >> (8 * i));
  g_byte_array_append (a, b, bytes);
}

/* bytes the packet checks ran the CRC over (a work counter) */
static atomic_uint_fast64_t crc_bytes;

guint64
nerv_crc_bytes (void)
{
  return atomic_load_explicit (&crc_bytes, memory_order_relaxed);
}

/* the CRC register after crc and p[0..n) (initial value 0, no final XOR) */
static guint32
crc_update (guint32 crc, const guint8 * p, size_t n)
{
  atomic_fetch_add_explicit (&crc_bytes, n, memory_order_relaxed);
  return av_crc (av_crc_get_table (AV_CRC_32_IEEE_LE), crc, p, n);
}

static guint32
packet_crc (const guint8 * p, size_t n)
{
  return crc_update (0, p, n);
}

/* ---- CRC arithmetic ----------------------------------------------------
 * The packet CRC (initial value 0, no final XOR) is linear over GF(2):
 * crc (A B) = crc (A) x^(8 |B|) + crc (B) mod P. Polynomials are in the
 * reflected order of the register (bit 31 is x^0). */

#define CRC_POLY 0xedb88320u

/* a b mod P */
static guint32
crc_mul (guint32 a, guint32 b)
{
  guint32 p = 0;
  for (guint32 m = 1u << 31; m; m >>= 1) {
    if (a & m)
      p ^= b;
    b = b & 1 ? (b >> 1) ^ CRC_POLY : b >> 1;
  }
  return p;
}

/* x^(8 n) mod P */
static guint32
crc_x8n (guint64 n)
{
  static guint32 pow2[64];      /* x^(8 2^k) */
  static gsize init = 0;
  guint32 p = 1u << 31;

  if (g_once_init_enter (&init)) {
    pow2[0] = 1u << (31 - 8);
    for (int k = 1; k < 64; k++)
      pow2[k] = crc_mul (pow2[k - 1], pow2[k - 1]);
    g_once_init_leave (&init, 1);
  }
  for (int k = 0; n; k++, n >>= 1)
    if (n & 1)
      p = crc_mul (pow2[k], p);
  return p;
}

guint32
nerv_crc_combine (guint32 crc_a, guint32 crc_b, guint64 len_b)
{
  return crc_mul (crc_x8n (len_b), crc_a) ^ crc_b;
}

/* ---- running CRCs for resynchronisation ---------------------------------
 * After damage every "NRV" is a candidate packet, and each one's CRC covers
 * up to 64 MiB: checked one by one from scratch, a stream of candidates
 * costs time quadratic in its size. The cache holds the running CRC Q of
 * the stream from an origin at every CRC_STEP bytes (checkpoints); the CRC
 * of any range [c, e) between checkpoints is then Q(e) + Q(c) x^(8(e-c)),
 * so each candidate costs at most 2 CRC_STEP bytes and a multiplication,
 * and every byte is run through the CRC once (when the checkpoints reach
 * it). */

#define CRC_STEP 64
/* packets up to this long are checked directly */
#define CRC_DIRECT (4 * CRC_STEP)

struct _NervCrcCache {
  guint64 base;                 /* stream offset of ck[0] */
  guint32 *ck;                  /* ck[i] = Q(base + i CRC_STEP) */
  size_t n, cap;                /* ck[0..n) are set */
};

static void
crc_cache_reset (NervCrcCache * c, guint64 base)
{
  c->base = base;
  c->ck[0] = 0;
  c->n = 1;
}

/* checkpoints up to stream offset @end, reading the bytes of data (at
 * stream offset @offset); FALSE without memory */
static gboolean
crc_cache_extend (NervCrcCache * c, const guint8 * data, guint64 offset,
    guint64 end)
{
  const size_t need = (size_t) ((end - c->base) / CRC_STEP) + 1;

  if (need > c->cap) {
    const size_t cap = MAX (need, c->cap + c->cap / 2);
    guint32 *ck = g_try_renew (guint32, c->ck, cap);
    if (!ck)
      return FALSE;
    c->ck = ck;
    c->cap = cap;
  }
  for (; c->n < need; c->n++) {
    const guint64 at = c->base + (guint64) (c->n - 1) * CRC_STEP;
    c->ck[c->n] = crc_update (c->ck[c->n - 1], data + (at - offset), CRC_STEP);
  }
  return TRUE;
}

/* The CRC of the stream bytes [offset + from, offset + to) (data[0] is at
 * stream offset @offset, and the caller gives the same bytes at the same
 * offsets each time), through the cache when the range is long. Ranges
 * start at or after the earliest one asked for since the last reset. */
static guint32
crc_range (NervCrcCache ** cache, const guint8 * data, guint64 offset,
    size_t from, size_t to)
{
  NervCrcCache *c = *cache;
  guint64 a = offset + from, e = offset + to, cpos, jpos;
  guint32 u, qc, qe;
  size_t drop;

  if (to - from <= CRC_DIRECT)
    return crc_update (0, data + from, to - from);
  if (!c) {
    c = *cache = g_try_new0 (NervCrcCache, 1);
    if (c && !(c->ck = g_try_new (guint32, 1024))) {
      g_free (c);
      c = *cache = NULL;
    }
    if (!c)
      return crc_update (0, data + from, to - from);
    c->cap = 1024;
    crc_cache_reset (c, offset);
  }
  /* the checkpoints must start at or before offset, and reach it */
  if (c->base > offset || c->base + (guint64) (c->n - 1) * CRC_STEP < offset)
    crc_cache_reset (c, offset);
  /* forget checkpoints the walker has passed */
  drop = (size_t) ((offset - c->base) / CRC_STEP);
  if (drop > 4096 && drop > c->n / 2) {
    memmove (c->ck, c->ck + drop, (c->n - drop) * sizeof (guint32));
    c->n -= drop;
    c->base += (guint64) drop * CRC_STEP;
  }
  if (!crc_cache_extend (c, data, offset, e))
    return crc_update (0, data + from, to - from);
  /* c: the first checkpoint at or after a; j: the last one at or before e */
  cpos = c->base + (a - c->base + CRC_STEP - 1) / CRC_STEP * CRC_STEP;
  jpos = c->base + (e - c->base) / CRC_STEP * CRC_STEP;
  u = crc_update (0, data + from, (size_t) (cpos - a));
  qc = c->ck[(cpos - c->base) / CRC_STEP];
  qe = crc_update (c->ck[(jpos - c->base) / CRC_STEP], data + (jpos - offset),
      (size_t) (e - jpos));
  /* crc [a, e) = crc [a, c) x^(8(e-c)) + crc [c, e) */
  return crc_mul (crc_x8n (e - cpos), u ^ qc) ^ qe;
}

void
nerv_crc_cache_free (NervCrcCache * c)
{
  if (!c)
    return;
  g_free (c->ck);
  g_free (c);
}

/* ---- packets ---------------------------------------------------------- */

/* nerv_packet_parse(); with a cache, data[0] is at stream offset @offset */
static NervStatus
packet_parse (NervCrcCache ** cache, const guint8 * data, size_t size,
    guint64 offset, NervPacket * pkt, size_t * consumed)
{
  guint32 len;
  size_t total;

  if (size < NERV_SYNC_SIZE)
    return memcmp (data, NERV_SYNC, size) ? NERV_ERR_SYNC : NERV_ERR_NEED_MORE;
  if (memcmp (data, NERV_SYNC, NERV_SYNC_SIZE))
    return NERV_ERR_SYNC;
  if (size < NERV_PACKET_HEADER)
    return NERV_ERR_NEED_MORE;
  len = nerv_read_u32le (data + 4);
  if (len > NERV_MAX_PAYLOAD)
    return NERV_ERR_CRC;        /* no real packet is this long */
  total = (size_t) NERV_PACKET_OVERHEAD + len;
  if (size < total)
    return NERV_ERR_NEED_MORE;
  /* the CRC over type, length, payload and the stored CRC is 0 when they
   * agree (the CRC of a message followed by its CRC) */
  if ((cache ? crc_range (cache, data, offset, 3, total) :
          packet_crc (data + 3, total - 3)) != 0)
    return NERV_ERR_CRC;
  pkt->type = data[3];
  pkt->payload = data + NERV_PACKET_HEADER;
  pkt->size = len;
  *consumed = total;
  return NERV_OK;
}

NervStatus
nerv_packet_parse (const guint8 * data, size_t size, NervPacket * pkt,
    size_t * consumed)
{
  return packet_parse (NULL, data, size, 0, pkt, consumed);
}

size_t
nerv_packet_find_sync (const guint8 * data, size_t size)
{
  for (size_t i = 1; i + NERV_SYNC_SIZE <= size; i++)
    if (!memcmp (data + i, NERV_SYNC, NERV_SYNC_SIZE))
      return i;
  return size;
}

void
nerv_packet_write (GByteArray * out, guint8 type, const guint8 * payload,
    size_t size)
{
  const guint start = out->len;
  g_return_if_fail (size <= NERV_MAX_PAYLOAD);
  g_byte_array_append (out, (const guint8 *) NERV_SYNC, NERV_SYNC_SIZE);
  g_byte_array_append (out, &type, 1);
  wr (out, size, 4);
  if (size)
    g_byte_array_append (out, payload, size);
  wr (out, packet_crc (out->data + start + 3, 5 + size), 4);
}

/* ---- stream header ---------------------------------------------------- */

void
nerv_stream_header_write (const NervStreamHeader * h, GByteArray * a)
{
  const NervModelConfig *m = &h->model;
  wr (a, NERV_VERSION_MAJOR, 1);
  wr (a, NERV_VERSION_MINOR, 1);
  wr (a, m->width, 2);
  wr (a, m->height, 2);
  wr (a, h->fps_n, 4);
  wr (a, h->fps_d, 4);
  wr (a, h->format, 1);
  wr (a, m->kind, 1);
  wr (a, m->n_stages, 1);
  wr (a, m->embed_c, 1);
  wr (a, m->embed_h, 2);
  wr (a, m->embed_w, 2);
  wr (a, m->fc_dim, 2);
  for (int i = 0; i < m->n_stages; i++) {
    wr (a, m->strides[i], 1);
    wr (a, m->kernels[i], 1);
    wr (a, m->channels[i], 2);
  }
  wr (a, m->head_kernel, 1);
  wr (a, m->pe_levels, 1);
  wr (a, m->mlp_hidden, 2);
  wr (a, h->group_size, 2);
  wr (a, h->key_interval, 2);
  wr (a, h->weight_bits, 1);
  wr (a, h->embed_bits, 1);
  if (m->kind == NERV_MODEL_GRID) {
    wr (a, m->n_levels, 1);
    wr (a, m->lat_c0, 1);
    wr (a, m->lat_c, 1);
    wr (a, m->synth_c, 1);
    wr (a, m->arm_c, 1);
  }
}

NervStatus
nerv_stream_header_parse (const guint8 * p, size_t n, NervStreamHeader * h)
{
  Reader r = { p, n, 0, FALSE };
  NervModelConfig *m = &h->model;

  memset (h, 0, sizeof (*h));
  h->version_major = (int) rd (&r, 1);
  h->version_minor = (int) rd (&r, 1);
  if (r.err)
    return NERV_ERR_TRUNCATED;
  if (h->version_major < NERV_VERSION_MAJOR_MIN
      || h->version_major > NERV_VERSION_MAJOR)
    return NERV_ERR_VERSION;
  m->width = (int) rd (&r, 2);
  m->height = (int) rd (&r, 2);
  h->fps_n = (guint32) rd (&r, 4);
  h->fps_d = (guint32) rd (&r, 4);
  if (h->fps_n == 0 || h->fps_d == 0 || h->fps_n > G_MAXINT
      || h->fps_d > G_MAXINT
      || h->fps_d > (guint64) NERV_MAX_FRAME_SECONDS * h->fps_n) {
    /* unknown, or no fraction a reader can use, or frames longer than a
     * day (whose times no clock holds for long) */
    h->fps_n = 0;
    h->fps_d = 1;
  }
  h->format = (NervPixelFormat) rd (&r, 1);
  m->kind = (NervModelKind) rd (&r, 1);
  m->n_stages = (int) rd (&r, 1);
  m->embed_c = (int) rd (&r, 1);
  m->embed_h = (int) rd (&r, 2);
  m->embed_w = (int) rd (&r, 2);
  m->fc_dim = (int) rd (&r, 2);
  if (r.err)
    return NERV_ERR_TRUNCATED;
  if (m->kind == NERV_MODEL_GRID ? h->version_major < 3 || m->n_stages != 0 :
      m->n_stages < 1 || m->n_stages > NERV_MAX_STAGES)
    return NERV_ERR_INVALID;
  for (int i = 0; i < m->n_stages; i++) {
    m->strides[i] = (int) rd (&r, 1);
    m->kernels[i] = (int) rd (&r, 1);
    m->channels[i] = (int) rd (&r, 2);
  }
  m->head_kernel = (int) rd (&r, 1);
  m->pe_levels = (int) rd (&r, 1);
  m->mlp_hidden = (int) rd (&r, 2);
  h->group_size = (int) rd (&r, 2);
  h->key_interval = (int) rd (&r, 2);
  h->weight_bits = (int) rd (&r, 1);
  h->embed_bits = (int) rd (&r, 1);
  if (m->kind == NERV_MODEL_GRID) {
    m->n_levels = (int) rd (&r, 1);
    m->lat_c0 = (int) rd (&r, 1);
    m->lat_c = (int) rd (&r, 1);
    m->synth_c = (int) rd (&r, 1);
    m->arm_c = (int) rd (&r, 1);
  }
  if (r.err)
    return NERV_ERR_TRUNCATED;
  /* the rest of a newer minor version's header is ignored */
  if (h->format > NERV_FORMAT_GRAY8 || h->group_size < 1
      || h->group_size > NERV_MAX_GROUP || h->key_interval < 1
      || h->weight_bits < 2 || h->weight_bits > 16 || h->embed_bits < 2
      || h->embed_bits > 16)
    return NERV_ERR_INVALID;
  m->out_channels = h->format == NERV_FORMAT_GRAY8 ? 1 : 3;
  if (!nerv_model_config_validate (m, NULL)
      || !nerv_group_embed_fits (m, h->group_size))
    return NERV_ERR_INVALID;
  return NERV_OK;
}

gboolean
nerv_group_embed_fits (const NervModelConfig * cfg, int group_size)
{
  return (size_t) group_size * nerv_model_config_embed_size (cfg) <=
      NERV_MAX_GROUP_EMBED;
}

/* ---- group and frame packets ------------------------------------------ */

void
nerv_group_header_write (const NervGroupHeader * g, GByteArray * a)
{
  wr (a, g->index, 4);
  wr (a, g->key ? 1 : 0, 1);
  wr (a, g->n_frames, 2);
  wr (a, g->first_frame, 8);
}

NervStatus
nerv_group_header_parse (const guint8 * p, size_t n, NervGroupHeader * g)
{
  Reader r = { p, n, 0, FALSE };
  guint flags;

  g->index = (guint32) rd (&r, 4);
  flags = (guint) rd (&r, 1);
  g->n_frames = (int) rd (&r, 2);
  g->first_frame = rd (&r, 8);
  if (r.err)
    return NERV_ERR_TRUNCATED;
  if (flags > 1 || g->n_frames < 1 || g->n_frames > NERV_MAX_GROUP
      || g->first_frame > NERV_MAX_FRAME_NUMBER + 1 - g->n_frames)
    return NERV_ERR_INVALID;
  g->key = flags & 1;
  g->body = p + r.pos;
  g->body_size = n - r.pos;
  return NERV_OK;
}

void
nerv_frame_header_write (const NervFrameHeader * f, GByteArray * a)
{
  wr (a, f->frame, 8);
}

NervStatus
nerv_frame_header_parse (const guint8 * p, size_t n, NervFrameHeader * f)
{
  Reader r = { p, n, 0, FALSE };

  f->frame = rd (&r, 8);
  if (r.err)
    return NERV_ERR_TRUNCATED;
  if (f->frame > NERV_MAX_FRAME_NUMBER)
    return NERV_ERR_INVALID;
  f->body = p + r.pos;
  f->body_size = n - r.pos;
  return NERV_OK;
}

/* ---- frame units ------------------------------------------------------ */

void
nerv_splitter_init (NervSplitter * sp)
{
  memset (sp, 0, sizeof (*sp));
}

void
nerv_splitter_clear (NervSplitter * sp)
{
  g_clear_pointer (&sp->crc, nerv_crc_cache_free);
  nerv_splitter_init (sp);
}

void
nerv_splitter_forget_bytes (NervSplitter * sp)
{
  g_clear_pointer (&sp->crc, nerv_crc_cache_free);
}

void
nerv_splitter_begin_unit (NervSplitter * sp)
{
  sp->unit_has_header = FALSE;
  sp->unit_header_offset = 0;
  sp->key = FALSE;
  sp->key_offset = 0;
  sp->frame = 0;
  sp->frame_offset = 0;
  sp->unit_done = FALSE;
}

/* bytes from data (not a packet) to the next sync marker; a marker cut by
 * the end is kept unless no more data will come */
static size_t
skip_to_sync (const guint8 * data, size_t size, gboolean eos)
{
  size_t skip = nerv_packet_find_sync (data, size);

  for (size_t cut = NERV_SYNC_SIZE - 1; !eos && skip >= size && cut > 0; cut--)
    if (size > cut && !memcmp (data + size - cut, NERV_SYNC, cut))
      skip = size - cut;
  return MAX (skip, 1);
}

static NervSplitResult
split_result (NervSplit * out, NervSplitResult result, NervStatus status)
{
  out->result = result;
  out->status = status;
  return result;
}

NervSplitResult
nerv_splitter_next (NervSplitter * sp, const guint8 * data, size_t size,
    guint64 offset, gboolean eos, NervSplit * out)
{
  NervStatus st;

  g_return_val_if_fail (size > 0, NERV_SPLIT_NEED_MORE);
  if (sp->unit_done)
    nerv_splitter_begin_unit (sp);
  memset (out, 0, sizeof (*out));
  if (offset < sp->last_offset)
    nerv_splitter_forget_bytes (sp);    /* the walker went back */
  sp->last_offset = offset;
  st = packet_parse (&sp->crc, data, size, offset, &out->pkt, &out->size);
  if (st == NERV_ERR_NEED_MORE && !eos) {
    out->size = size < NERV_PACKET_HEADER ? NERV_PACKET_HEADER :
        NERV_PACKET_OVERHEAD + (size_t) nerv_read_u32le (data + 4);
    return split_result (out, NERV_SPLIT_NEED_MORE, st);
  }
  if (st != NERV_OK) {
    out->size = skip_to_sync (data, size, eos);
    return split_result (out, NERV_SPLIT_DAMAGE, st);
  }

  if (out->pkt.type == NERV_PACKET_STREAM) {
    NervStreamHeader h;
    st = nerv_stream_header_parse (out->pkt.payload, out->pkt.size, &h);
    if (st != NERV_OK) {
      sp->have_header = FALSE;
      nerv_splitter_begin_unit (sp);
      return split_result (out, NERV_SPLIT_RESET, st);
    }
    sp->unit_has_header = TRUE;
    sp->unit_header = h;
    sp->unit_header_offset = offset;
    return split_result (out, NERV_SPLIT_PACKET, NERV_OK);
  }
  if (!sp->have_header && !sp->unit_has_header)
    return split_result (out, NERV_SPLIT_DROP, NERV_ERR_NO_HEADER);

  if (out->pkt.type == NERV_PACKET_GROUP) {
    NervGroupHeader g;
    st = nerv_group_header_parse (out->pkt.payload, out->pkt.size, &g);
    if (st != NERV_OK)
      return split_result (out, NERV_SPLIT_DROP, st);
    if (g.key && !sp->key) {
      sp->key = TRUE;
      sp->key_offset = sp->unit_has_header ? sp->unit_header_offset : offset;
    }
  } else if (out->pkt.type == NERV_PACKET_FRAME) {
    NervFrameHeader f;
    st = nerv_frame_header_parse (out->pkt.payload, out->pkt.size, &f);
    if (st != NERV_OK)
      return split_result (out, NERV_SPLIT_DROP, st);
    sp->frame = f.frame;
    sp->frame_offset = offset;
    sp->unit_done = TRUE;
    if (sp->unit_has_header) {
      sp->have_header = TRUE;
      sp->header = sp->unit_header;
    }
    return split_result (out, NERV_SPLIT_FRAME, NERV_OK);
  }
  return split_result (out, NERV_SPLIT_PACKET, NERV_OK);
}
