/* gst-nerv: the decoder core on damaged and hostile streams
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A valid stream from the tests' tiny encoder is cut, bit-flipped and
 * rewritten (with recomputed CRCs, so the damage reaches the header
 * parsers). The decoder must always terminate, report an error for the
 * damage, decode every frame before it and every frame from the next
 * intact key group on, and refuse absurd stream headers before
 * allocating anything. (The single error codes from crafted packets are
 * in test-codec.c.)
 */
#include "nerv-check.h"
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <libavutil/crc.h>

#include "nerv-codec.h"
#include "nerv-hostile.h"
#include "nerv-test-util.h"

#define W 32
#define H 24
#define GROUP 2
#define KEYINT 2
#define N_FRAMES (3 * GROUP * KEYINT - 1)       /* 6 groups, the last partial */
#define MAX_PACKETS 64

typedef struct {
  size_t start, end;
  guint8 type;
  gboolean key;                 /* 'G': key group */
  guint64 frame;                /* 'F': frame number */
} PacketInfo;

typedef struct {
  GByteArray *data;
  PacketInfo pkt[MAX_PACKETS];
  int n_pkt;
} TestStream;

static TestStream ts;

static void
stream_setup (void)
{
  NervEncoderSettings s = nerv_test_settings (W, H, GROUP, KEYINT);
  GPtrArray *units = nerv_test_encode (&s, N_FRAMES, NULL, NULL);
  size_t pos = 0;

  ts.data = nerv_test_join (units);
  g_ptr_array_unref (units);

  ts.n_pkt = 0;
  while (pos < ts.data->len) {
    NervPacket p;
    size_t used;
    PacketInfo *pi = &ts.pkt[ts.n_pkt];
    ck_assert_int_eq (nerv_packet_parse (ts.data->data + pos,
            ts.data->len - pos, &p, &used), NERV_OK);
    ck_assert_int_lt (ts.n_pkt, MAX_PACKETS);
    memset (pi, 0, sizeof (*pi));
    pi->start = pos;
    pi->end = pos + used;
    pi->type = p.type;
    if (p.type == NERV_PACKET_GROUP) {
      NervGroupHeader g;
      ck_assert_int_eq (nerv_group_header_parse (p.payload, p.size, &g), NERV_OK);
      pi->key = g.key;
    } else if (p.type == NERV_PACKET_FRAME) {
      NervFrameHeader f;
      ck_assert_int_eq (nerv_frame_header_parse (p.payload, p.size, &f), NERV_OK);
      pi->frame = f.frame;
    }
    ts.n_pkt++;
    pos += used;
  }
  /* S G F F  G F F  S G F F ...: 3 key periods of 2 groups */
  ck_assert_int_eq (ts.n_pkt, 3 + 6 + N_FRAMES);
}

static void
stream_teardown (void)
{
  g_byte_array_free (ts.data, TRUE);
  ts.data = NULL;
}

static void
fix_crc (guint8 * pkt)
{
  const guint32 len = nerv_read_u32le (pkt + 4);
  nerv_write_u32le (pkt + NERV_PACKET_HEADER + len,
      av_crc (av_crc_get_table (AV_CRC_32_IEEE_LE), 0, pkt + 3, 5 + len));
}

typedef struct {
  int frames, errors, steps;
  NervStatus first_error;
  gboolean need_more;           /* stopped at an incomplete packet */
  gboolean got[N_FRAMES];
} Result;

/* Decodes data[0..len) as a demuxer at the end of the stream would:
 * errors are skipped; when eos is set, an incomplete packet (a damaged
 * length) is skipped to the next marker too, else decoding stops there. */
static Result
decode (const guint8 * data, size_t len, gboolean eos)
{
  NervDecoder *dec = nerv_decoder_new (1);
  Result r;
  size_t pos = 0;
  guint64 last = 0;

  memset (&r, 0, sizeof (r));
  while (pos < len) {
    size_t used = 0;
    NervDecodedFrame f;
    NervStatus st = nerv_decoder_decode (dec, data + pos, len - pos, &used);

    r.steps++;
    ck_assert_uint_le (used, len - pos);
    if (st != NERV_OK) {
      if (!r.errors)
        r.first_error = st;
      r.errors++;
    }
    if (st == NERV_ERR_NEED_MORE) {
      if (!eos) {
        r.need_more = TRUE;
        break;
      }
      used = nerv_packet_find_sync (data + pos, len - pos);
    }
    if (st == NERV_OK)
      ck_assert_uint_gt (used, 0);
    pos += MAX (used, 1);
    if (nerv_decoder_get_frame (dec, &f)) {
      ck_assert_int_eq (st, NERV_OK);
      ck_assert_int_eq (f.width, W);
      ck_assert_int_eq (f.height, H);
      ck_assert_uint_lt (f.frame, N_FRAMES);
      /* frames come out once each, in order */
      ck_assert (r.frames == 0 || f.frame > last);
      ck_assert (!r.got[f.frame]);
      r.got[f.frame] = TRUE;
      last = f.frame;
      r.frames++;
    }
  }
  nerv_decoder_free (dec);
  return r;
}

/* ---- truncation ------------------------------------------------------- */

static void
check_cut (size_t cut)
{
  Result r = decode (ts.data->data, cut, FALSE);
  int complete = 0;
  gboolean at_boundary = cut == 0;

  for (int i = 0; i < ts.n_pkt; i++) {
    if (ts.pkt[i].end == cut)
      at_boundary = TRUE;
    if (ts.pkt[i].type == NERV_PACKET_FRAME && ts.pkt[i].end <= cut) {
      ck_assert_msg (r.got[ts.pkt[i].frame], "cut at %zu: frame %d lost",
          cut, (int) ts.pkt[i].frame);
      complete++;
    }
  }
  ck_assert_int_eq (r.frames, complete);
  if (at_boundary) {
    ck_assert_msg (r.errors == 0, "cut at packet end %zu: error %s", cut,
        nerv_status_string (r.first_error));
  } else {
    /* the only complaint about a cut inside a packet: it is incomplete */
    ck_assert_int_eq (r.errors, 1);
    ck_assert_int_eq (r.first_error, NERV_ERR_NEED_MORE);
    ck_assert (r.need_more);
  }
}

START_TEST (test_truncate_at_packets)
{
  for (int i = 0; i < ts.n_pkt; i++) {
    check_cut (ts.pkt[i].start);
    check_cut (ts.pkt[i].end);
    /* one byte into the next packet, and one byte short of the end */
    check_cut (ts.pkt[i].start + 1);
    check_cut (ts.pkt[i].end - 1);
  }
}
END_TEST;

START_TEST (test_truncate_random)
{
  GRand *rand = g_rand_new_with_seed (1234);
  for (int i = 0; i < 50; i++)
    check_cut (g_rand_int_range (rand, 1, ts.data->len));
  g_rand_free (rand);
}
END_TEST;

/* ---- bit flips -------------------------------------------------------- */

static int
packet_at (size_t off)
{
  for (int i = 0; i < ts.n_pkt; i++)
    if (off < ts.pkt[i].end)
      return i;
  g_assert_not_reached ();
  return -1;
}

static void
check_flip (size_t off, int bit)
{
  guint8 *copy = g_memdup2 (ts.data->data, ts.data->len);
  const int hit = packet_at (off);
  int next_key = ts.n_pkt;
  Result r;

  copy[off] ^= 1u << bit;
  r = decode (copy, ts.data->len, TRUE);
  g_free (copy);

  /* every bit is covered by the sync marker or the CRC */
  ck_assert_msg (r.errors > 0, "flip at %zu.%d (packet %d '%c') not noticed",
      off, bit, hit, ts.pkt[hit].type);
  /* terminated within a bounded number of calls */
  ck_assert_uint_le (r.steps, ts.data->len);
  for (int i = hit + 1; i < ts.n_pkt && next_key == ts.n_pkt; i++)
    if (ts.pkt[i].type == NERV_PACKET_STREAM)
      next_key = i;
  for (int i = 0; i < ts.n_pkt; i++) {
    if (ts.pkt[i].type != NERV_PACKET_FRAME)
      continue;
    /* frames before the damage, and from the next key group on */
    if (i < hit || i > next_key)
      ck_assert_msg (r.got[ts.pkt[i].frame],
          "flip at %zu.%d (packet %d '%c'): frame %d lost", off, bit, hit,
          ts.pkt[hit].type, (int) ts.pkt[i].frame);
    if (i == hit)
      ck_assert (!r.got[ts.pkt[i].frame]);
  }
}

START_TEST (test_bit_flips)
{
  GRand *rand = g_rand_new_with_seed (5678);
  /* 200 positions: a third in the packet headers (sync, type, length),
   * a third in the payloads (fixed fields and coded bodies), a third in
   * the CRCs */
  for (int i = 0; i < 200; i++) {
    const PacketInfo *p = &ts.pkt[g_rand_int_range (rand, 0, ts.n_pkt)];
    const size_t plen = p->end - p->start - NERV_PACKET_OVERHEAD;
    size_t off;
    switch (i % 3) {
      case 0:
        off = p->start + g_rand_int_range (rand, 0, NERV_PACKET_HEADER);
        break;
      case 1:
        off = p->start + NERV_PACKET_HEADER + g_rand_int_range (rand, 0,
            (gint32) plen);
        break;
      default:
        off = p->end - 4 + g_rand_int_range (rand, 0, 4);
        break;
    }
    check_flip (off, g_rand_int_range (rand, 0, 8));
  }
  g_rand_free (rand);
}
END_TEST;

/* ---- hostile stream headers (valid CRC) ------------------------------- */

/* Rewrites every stream header of a copy of the stream with edit(). */
static GByteArray *
edit_headers (void (*edit) (guint8 * payload, gpointer data), gpointer data)
{
  GByteArray *a = g_byte_array_new ();
  g_byte_array_append (a, ts.data->data, ts.data->len);
  for (int i = 0; i < ts.n_pkt; i++)
    if (ts.pkt[i].type == NERV_PACKET_STREAM) {
      edit (a->data + ts.pkt[i].start + NERV_PACKET_HEADER, data);
      fix_crc (a->data + ts.pkt[i].start);
    }
  return a;
}

static void
set_version (guint8 * p, gpointer data)
{
  const int *v = data;
  p[0] = v[0];
  p[1] = v[1];
}

START_TEST (test_versions)
{
  /* 1.x: the embeddings were in the frame packets */
  static const int refused[][2] = { {0, 0}, {1, 0}, {NERV_VERSION_MAJOR + 1, 0},
  {255, 255}
  };
  const int minor[2] = { NERV_VERSION_MAJOR, 200 };
  GByteArray *a;
  Result r;

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    a = edit_headers (set_version, (gpointer) refused[i]);
    r = decode (a->data, a->len, TRUE);
    /* no header ever accepted: nothing decodes, every packet complains */
    ck_assert_int_eq (r.frames, 0);
    ck_assert_int_eq (r.first_error, NERV_ERR_VERSION);
    ck_assert_int_eq (r.errors, ts.n_pkt);
    g_byte_array_free (a, TRUE);
  }
  /* a newer minor version of the same major decodes */
  a = edit_headers (set_version, (gpointer) minor);
  r = decode (a->data, a->len, TRUE);
  ck_assert_int_eq (r.errors, 0);
  ck_assert_int_eq (r.frames, N_FRAMES);
  g_byte_array_free (a, TRUE);
}
END_TEST;

/* Stream-header payload offsets (docs/bitstream.md); the tiny model has
 * n_stages stages of 4 bytes from offset 24. */
#define OFF_WIDTH 2
#define OFF_HEIGHT 4
#define OFF_FORMAT 14
#define OFF_KIND 15
#define OFF_STAGES 16
#define OFF_EMBED_C 17
#define OFF_EMBED_H 18
#define OFF_FC_DIM 22
#define OFF_STAGE0 24

typedef struct {
  const char *what;
  int offset;                   /* < 0: from the end of the stage list */
  int size;                     /* 1 or 2 bytes */
  guint value;
  gboolean all_stages;          /* the stage field of every stage */
} HeaderEdit;

static const HeaderEdit hostile[] = {
  {"width 0", OFF_WIDTH, 2, 0, FALSE},
  {"height 0", OFF_HEIGHT, 2, 0, FALSE},
  {"width 8193", OFF_WIDTH, 2, NERV_MAX_DIM + 1, FALSE},
  {"height 65535", OFF_HEIGHT, 2, 65535, FALSE},
  {"width 8192", OFF_WIDTH, 2, NERV_MAX_DIM, FALSE},
  {"format 4", OFF_FORMAT, 1, 4, FALSE},
  {"kind 2", OFF_KIND, 1, 2, FALSE},
  {"0 stages", OFF_STAGES, 1, 0, FALSE},
  {"9 stages", OFF_STAGES, 1, NERV_MAX_STAGES + 1, FALSE},
  {"embedding channels 0", OFF_EMBED_C, 1, 0, FALSE},
  {"embedding height 0", OFF_EMBED_H, 2, 0, FALSE},
  {"embedding height 65535", OFF_EMBED_H, 2, 65535, FALSE},
  {"fc_dim 0", OFF_FC_DIM, 2, 0, FALSE},
  {"fc_dim 4097", OFF_FC_DIM, 2, NERV_MAX_CHANNELS + 1, FALSE},
  {"fc_dim 65535", OFF_FC_DIM, 2, 65535, FALSE},
  {"stage stride 0", OFF_STAGE0, 1, 0, FALSE},
  {"stage stride 255", OFF_STAGE0, 1, 255, FALSE},
  {"stage kernel 0", OFF_STAGE0 + 1, 1, 0, FALSE},
  {"stage kernel 255", OFF_STAGE0 + 1, 1, 255, FALSE},
  {"stage channels 0", OFF_STAGE0 + 2, 2, 0, FALSE},
  {"stage channels 65535", OFF_STAGE0 + 2, 2, 65535, FALSE},
  {"all stage channels 4096", OFF_STAGE0 + 2, 2, NERV_MAX_CHANNELS, TRUE},
  {"head kernel 0", -8, 1, 0, FALSE},
  {"head kernel 255", -8, 1, 255, FALSE},
  {"group size 0", -4, 2, 0, FALSE},
  {"group size 1025", -4, 2, NERV_MAX_GROUP + 1, FALSE},
  {"group size 65535", -4, 2, 65535, FALSE},
  {"key interval 0", -2, 2, 0, FALSE},
  {"weight bits 1", 0, 1, 1, FALSE},    /* offset fixed up below */
  {"weight bits 255", 0, 1, 255, FALSE},
};

static void
apply_edit (guint8 * p, gpointer data)
{
  const HeaderEdit *e = data;
  const int n_stages = p[OFF_STAGES];
  const int tail = OFF_STAGE0 + 4 * n_stages + 4;     /* head, pe, mlp */
  int off = e->offset;
  int count = e->all_stages ? n_stages : 1;

  if (g_str_has_prefix (e->what, "weight bits"))
    off = tail + 4;
  else if (off < 0)
    off = tail + 4 + off;       /* -8: head kernel, -4: group, -2: key int */
  for (int s = 0; s < count; s++, off += 4) {
    p[off] = e->value & 0xff;
    if (e->size == 2)
      p[off + 1] = e->value >> 8;
  }
}

START_TEST (test_hostile_headers)
{
  for (guint i = 0; i < G_N_ELEMENTS (hostile); i++) {
    const HeaderEdit *e = &hostile[i];
    GByteArray *a = edit_headers (apply_edit, (gpointer) e);
    const PacketInfo *s = &ts.pkt[0];
    NervDecoder *dec = nerv_decoder_new (1);
    const size_t cur0 = nerv_mem_current (), peak0 = nerv_mem_peak ();
    const gint64 t0 = g_get_monotonic_time ();
    size_t used = 0;
    NervStatus st;
    Result r;

    ck_assert_int_eq (s->type, NERV_PACKET_STREAM);
    /* the edit really changed the header, and nothing else */
    ck_assert_msg (memcmp (a->data + s->start, ts.data->data + s->start,
            s->end - s->start) != 0, "%s: no change", e->what);
    st = nerv_decoder_decode (dec, a->data, a->len, &used);
    ck_assert_msg (st == NERV_ERR_INVALID, "%s: %s instead of INVALID",
        e->what, nerv_status_string (st));
    ck_assert_uint_eq (used, s->end - s->start);
    ck_assert (nerv_decoder_header (dec) == NULL);
    /* refused before allocating: quickly, no tensor memory taken */
    ck_assert_msg (g_get_monotonic_time () - t0 < 200000, "%s: slow refusal",
        e->what);
    ck_assert_msg (nerv_mem_current () == cur0, "%s: %zu bytes kept",
        e->what, nerv_mem_current () - cur0);
    ck_assert_msg (nerv_mem_peak () == peak0, "%s: peak rose by %zu bytes",
        e->what, nerv_mem_peak () - peak0);
    nerv_decoder_free (dec);

    /* the whole stream: nothing decodes, nothing crashes */
    r = decode (a->data, a->len, TRUE);
    ck_assert_int_eq (r.frames, 0);
    ck_assert_int_eq (r.first_error, NERV_ERR_INVALID);
    g_byte_array_free (a, TRUE);
  }
}
END_TEST;

/* ---- residual group without its key group ----------------------------- */

START_TEST (test_residual_without_key)
{
  /* drop the first key group (its stream header, group and frames): the
   * residual group after it has nothing to continue */
  GByteArray *a = g_byte_array_new ();
  int first_res = -1, second_key = -1;
  Result r;

  for (int i = 1; i < ts.n_pkt; i++) {
    if (first_res < 0 && ts.pkt[i].type == NERV_PACKET_GROUP && !ts.pkt[i].key)
      first_res = i;
    if (second_key < 0 && ts.pkt[i].type == NERV_PACKET_STREAM)
      second_key = i;
  }
  ck_assert (first_res > 0 && second_key > first_res);
  /* the stream header, then the residual group and everything after */
  g_byte_array_append (a, ts.data->data, ts.pkt[0].end);
  g_byte_array_append (a, ts.data->data + ts.pkt[first_res].start,
      ts.data->len - ts.pkt[first_res].start);
  r = decode (a->data, a->len, TRUE);
  ck_assert_int_eq (r.first_error, NERV_ERR_NO_KEY);
  /* the group packet and each of its frames refused */
  ck_assert_int_eq (r.errors, second_key - first_res);
  ck_assert_int_eq (r.frames, N_FRAMES - GROUP * KEYINT);
  for (int f = GROUP * KEYINT; f < N_FRAMES; f++)
    ck_assert (r.got[f]);
  g_byte_array_free (a, TRUE);

  /* the residual group alone, without any stream header */
  r = decode (ts.data->data + ts.pkt[first_res].start,
      ts.pkt[second_key].start - ts.pkt[first_res].start, TRUE);
  ck_assert_int_eq (r.first_error, NERV_ERR_NO_HEADER);
  ck_assert_int_eq (r.frames, 0);
}
END_TEST;

/* A 66-byte stream header for a legal 1280x720 network of 2M parameters:
 * the decoder builds an inference-only model (no gradients, no saved
 * activations) whose activation buffers are not touched before frames
 * run, so the header costs little time and resident memory. (It used to
 * build the training-sized model, zeroed: 1.15 GiB and ~7 s.) */
START_TEST (test_header_amplification)
{
  NervStreamHeader h;
  GByteArray *pl = g_byte_array_new (), *pk = g_byte_array_new ();
  NervDecoder *dec = nerv_decoder_new (1);
  struct rusage ru0, ru1;
  size_t used;
  gint64 t0;

  memset (&h, 0, sizeof (h));
  h.version_major = NERV_VERSION_MAJOR;
  h.format = NERV_FORMAT_I420;
  h.group_size = 8;
  h.key_interval = 1;
  h.weight_bits = 8;
  h.embed_bits = 6;
  ck_assert (nerv_model_config_for_budget (&h.model, NERV_MODEL_HNERV, 1280,
          720, 3, 2000000, NULL));
  nerv_stream_header_write (&h, pl);
  nerv_packet_write (pk, NERV_PACKET_STREAM, pl->data, pl->len);
  /* meson test sets MALLOC_PERTURB_, which fills (so touches) every
   * allocation: resident memory is only measurable without it */
  mallopt (M_PERTURB, 0);
  getrusage (RUSAGE_SELF, &ru0);
  t0 = g_get_monotonic_time ();
  ck_assert_int_eq (nerv_decoder_decode (dec, pk->data, pk->len, &used), NERV_OK);
  getrusage (RUSAGE_SELF, &ru1);
  ck_assert_msg (g_get_monotonic_time () - t0 < G_USEC_PER_SEC,
      "a %u-byte header took %.1f s", pk->len,
      (g_get_monotonic_time () - t0) / 1e6);
  /* ru_maxrss is in KiB */
  ck_assert_msg (ru1.ru_maxrss - ru0.ru_maxrss < 256 * 1024,
      "a %u-byte header made the process %ld MiB larger", pk->len,
      (ru1.ru_maxrss - ru0.ru_maxrss) / 1024);
  nerv_decoder_free (dec);
  g_byte_array_free (pl, TRUE);
  g_byte_array_free (pk, TRUE);
}
END_TEST;


/* ---- resynchronisation in linear time (issue 15, item 1) -------------- */

typedef struct {
  guint64 pos;
  NervSplitResult res;
  NervStatus status;
  size_t size;
} SplitRecord;

typedef struct {
  int frames, packets, damages;
  guint64 crc;                  /* bytes CRC'd by the walk */
  GArray *rec;                  /* SplitRecord of every packet (no damage) */
  GArray *damage;               /* SplitRecord of every damage */
} Walk;

static void
walk_free (Walk * w)
{
  g_array_unref (w->rec);
  g_array_unref (w->damage);
}

/* Walks data[0..len) with a splitter, as a reader of a file (eos) or, with
 * @rand, as a parser in push mode: the data arrives in chunks of 1..@chunk
 * bytes and each call sees what has arrived. */
static Walk
walk (const guint8 * data, size_t len, GRand * rand, size_t chunk)
{
  NervSplitter sp;
  Walk w = { 0, };
  size_t pos = 0, avail = rand ? 0 : len;
  const guint64 c0 = nerv_crc_bytes ();

  w.rec = g_array_new (FALSE, FALSE, sizeof (SplitRecord));
  w.damage = g_array_new (FALSE, FALSE, sizeof (SplitRecord));
  nerv_splitter_init (&sp);
  while (pos < len) {
    NervSplit sk;
    SplitRecord r;

    if (avail <= pos) {
      const size_t more = g_rand_int_range (rand, 1, chunk + 1);
      avail = MIN (len, pos + more);
    }
    r.res = nerv_splitter_next (&sp, data + pos, avail - pos, pos, avail == len,
        &sk);
    if (r.res == NERV_SPLIT_NEED_MORE) {
      const size_t more = g_rand_int_range (rand, 1, chunk + 1);
      ck_assert (avail < len);
      ck_assert_uint_gt (pos + sk.size, avail);
      avail = MIN (len, avail + more);
      continue;
    }
    ck_assert (sk.size >= 1 && sk.size <= avail - pos);
    r.pos = pos;
    r.status = sk.status;
    r.size = sk.size;
    if (r.res == NERV_SPLIT_DAMAGE) {
      w.damages++;
      g_array_append_val (w.damage, r);
    } else {
      g_array_append_val (w.rec, r);
      w.packets++;
      if (r.res == NERV_SPLIT_FRAME)
        w.frames++;
    }
    pos += sk.size;
  }
  nerv_splitter_clear (&sp);
  w.crc = nerv_crc_bytes () - c0;
  return w;
}

/* What the splitter said at each position agrees with nerv_packet_parse()
 * there (its CRC computed from scratch). */
static void
check_walk (const guint8 * data, size_t len, const Walk * w)
{
  for (guint i = 0; i < w->rec->len; i++) {
    const SplitRecord *r = &g_array_index (w->rec, SplitRecord, i);
    NervPacket pkt;
    size_t used = 0;
    ck_assert_int_eq (nerv_packet_parse (data + r->pos, len - r->pos, &pkt,
            &used), NERV_OK);
    ck_assert_uint_eq (used, r->size);
  }
  for (guint i = 0; i < w->damage->len; i++) {
    const SplitRecord *r = &g_array_index (w->damage, SplitRecord, i);
    NervPacket pkt;
    size_t used = 0;
    if (r->status == NERV_ERR_CRC)
      ck_assert_int_ne (nerv_packet_parse (data + r->pos, len - r->pos, &pkt,
              &used), NERV_OK);
  }
}

START_TEST (test_crc_combine)
{
  GRand *rand = g_rand_new_with_seed (7);
  guint8 buf[3000];
  const AVCRC *t = av_crc_get_table (AV_CRC_32_IEEE_LE);

  for (size_t i = 0; i < sizeof (buf); i++)
    buf[i] = (guint8) g_rand_int (rand);
  for (int k = 0; k < 200; k++) {
    const size_t a = g_rand_int_range (rand, 0, 1500);
    const size_t b = g_rand_int_range (rand, 0, 1500);
    ck_assert_uint_eq (nerv_crc_combine (av_crc (t, 0, buf, a),
            av_crc (t, 0, buf + a, b), b), av_crc (t, 0, buf, a + b));
  }
  g_rand_free (rand);
}
END_TEST;

/* "NRVS" and a length reaching the end of the data every 8 bytes: every
 * candidate is complete and fails its CRC. Checked one by one that cost
 * the CRC of n^2 / 16 bytes (133 s for 1 MiB in nerv-tool info); now at
 * most a few times the input. The stream after the candidates is found
 * whole. */
#define HOSTILE_LEN (128 << 10)
/* the bound on the bytes CRC'd per byte of input */
#define CRC_PER_BYTE 40

START_TEST (test_resync_linear)
{
  GByteArray *a = g_byte_array_new ();
  Walk w;

  /* a valid stream, then the candidates (decodebin after one valid group) */
  g_byte_array_append (a, ts.data->data, ts.data->len);
  nerv_hostile_resync (a, HOSTILE_LEN, 0);
  w = walk (a->data, a->len, NULL, 0);
  ck_assert_int_eq (w.frames, N_FRAMES);
  ck_assert_msg (w.crc <= CRC_PER_BYTE * (guint64) a->len,
      "%" G_GUINT64_FORMAT " bytes CRC'd for %u bytes", w.crc, a->len);
  walk_free (&w);

  /* the candidates reaching over a valid stream after them */
  g_byte_array_set_size (a, 0);
  nerv_hostile_resync (a, HOSTILE_LEN, ts.data->len);
  g_byte_array_append (a, ts.data->data, ts.data->len);
  w = walk (a->data, a->len, NULL, 0);
  ck_assert_int_eq (w.frames, N_FRAMES);
  ck_assert_int_eq (w.packets, ts.n_pkt);
  ck_assert_msg (w.crc <= CRC_PER_BYTE * (guint64) a->len,
      "%" G_GUINT64_FORMAT " bytes CRC'd for %u bytes", w.crc, a->len);
  walk_free (&w);
  g_byte_array_free (a, TRUE);
}
END_TEST;

/* Each bad candidate followed by a valid packet: the walk finds every valid
 * packet, and a cache of running CRCs that is dropped after each valid
 * packet would not do (each candidate reaches to the end). */
START_TEST (test_resync_interleaved)
{
  GByteArray *a = g_byte_array_new ();
  guint n_valid = 0;
  Walk w;

  nerv_hostile_interleaved (a, HOSTILE_LEN, ts.data->len, &n_valid);
  g_byte_array_append (a, ts.data->data, ts.data->len);
  w = walk (a->data, a->len, NULL, 0);
  ck_assert_int_eq (w.frames, N_FRAMES);
  /* the valid packets before the first stream header are dropped ones */
  ck_assert_int_eq (w.packets, n_valid + ts.n_pkt);
  ck_assert_msg (w.crc <= CRC_PER_BYTE * (guint64) a->len,
      "%" G_GUINT64_FORMAT " bytes CRC'd for %u bytes", w.crc, a->len);
  walk_free (&w);
  g_byte_array_free (a, TRUE);
}
END_TEST;

/* Random mixtures of valid packets, false candidates of every length and
 * damaged packets, walked at once and in random chunks: at every position
 * the splitter agrees with nerv_packet_parse(), and both walks find the
 * same packets. */
START_TEST (test_resync_random)
{
  GRand *rand = g_rand_new_with_seed (15);

  for (int round = 0; round < 30; round++) {
    GByteArray *a = g_byte_array_new ();
    Walk w1, w2;

    for (int piece = 0; piece < 40; piece++) {
      const int k = g_rand_int_range (rand, 0, 4);
      if (k == 0) {
        /* a packet of the valid stream, sometimes damaged */
        const PacketInfo *pi = &ts.pkt[g_rand_int_range (rand, 0, ts.n_pkt)];
        const guint start = a->len;
        g_byte_array_append (a, ts.data->data + pi->start, pi->end - pi->start);
        if (g_rand_boolean (rand))
          a->data[start + g_rand_int_range (rand, 0, pi->end - pi->start)] ^=
              1 << g_rand_int_range (rand, 0, 8);
      } else if (k == 1) {
        /* a false candidate with a length reaching anywhere ahead */
        guint8 c[8] = { 'N', 'R', 'V', 'S' };
        nerv_write_u32le (c + 4, g_rand_int_range (rand, 0, 8000));
        g_byte_array_append (a, c, sizeof (c));
      } else if (k == 2) {
        /* a valid packet of an unknown type, up to 2000 bytes */
        guint8 pl[2000];
        const int n = g_rand_int_range (rand, 0, sizeof (pl));
        for (int i = 0; i < n; i++)
          pl[i] = (guint8) g_rand_int (rand);
        nerv_packet_write (a, 'X', pl, n);
      } else {
        /* garbage */
        for (int i = g_rand_int_range (rand, 0, 100); i > 0; i--) {
          const guint8 b = (guint8) g_rand_int (rand);
          g_byte_array_append (a, &b, 1);
        }
      }
    }
    w1 = walk (a->data, a->len, NULL, 0);
    check_walk (a->data, a->len, &w1);
    w2 = walk (a->data, a->len, rand, 1 + g_rand_int_range (rand, 0, 3000));
    check_walk (a->data, a->len, &w2);
    ck_assert_int_eq (w1.rec->len, w2.rec->len);
    for (guint i = 0; i < w1.rec->len; i++) {
      const SplitRecord *r1 = &g_array_index (w1.rec, SplitRecord, i);
      const SplitRecord *r2 = &g_array_index (w2.rec, SplitRecord, i);
      ck_assert_uint_eq (r1->pos, r2->pos);
      ck_assert_int_eq (r1->res, r2->res);
      ck_assert_uint_eq (r1->size, r2->size);
    }
    walk_free (&w1);
    walk_free (&w2);
    g_byte_array_free (a, TRUE);
  }
  g_rand_free (rand);
}
END_TEST;

/* ---- frame rates and frame numbers (issue 15, item 7) ----------------- */

static void
set_fps (guint8 * p, gpointer data)
{
  const guint32 *v = data;
  nerv_write_u32le (p + 6, v[0]);
  nerv_write_u32le (p + 10, v[1]);
}

/* Rates no GStreamer fraction holds (a term above G_MAXINT, a zero term)
 * are read as unknown by the header parser, for every reader; frames and
 * groups whose numbers reach past NERV_MAX_FRAME_NUMBER are invalid. */
START_TEST (test_rates_and_numbers)
{
  static const guint32 rates[][4] = {
    /* in, as read */
    {0x80000000u, 1, 0, 1}, {25, 0xffffffffu, 0, 1}, {0, 7, 0, 1},
    {30, 0, 0, 1}, {G_MAXINT, G_MAXINT, G_MAXINT, G_MAXINT},
    {1, 86400, 1, 86400}, {1, 86401, 0, 1}, {1, G_MAXINT, 0, 1},
    {30000, 1001, 30000, 1001},
  };
  GByteArray *pl = g_byte_array_new ();
  NervGroupHeader g = { 0, };
  NervFrameHeader f = { 0, }, f2;
  NervGroupHeader g2;

  for (guint i = 0; i < G_N_ELEMENTS (rates); i++) {
    GByteArray *a = edit_headers (set_fps, (gpointer) rates[i]);
    const PacketInfo *pi = &ts.pkt[0];
    NervPacket pkt;
    NervStreamHeader h;
    size_t used;
    Result r;

    ck_assert_int_eq (nerv_packet_parse (a->data + pi->start, a->len -
            pi->start, &pkt, &used), NERV_OK);
    ck_assert_int_eq (nerv_stream_header_parse (pkt.payload, pkt.size, &h),
        NERV_OK);
    ck_assert_uint_eq (h.fps_n, rates[i][2]);
    ck_assert_uint_eq (h.fps_d, rates[i][3]);
    /* the stream still decodes */
    r = decode (a->data, a->len, TRUE);
    ck_assert_int_eq (r.frames, N_FRAMES);
    g_byte_array_free (a, TRUE);
  }

  f.frame = NERV_MAX_FRAME_NUMBER;
  nerv_frame_header_write (&f, pl);
  ck_assert_int_eq (nerv_frame_header_parse (pl->data, pl->len, &f2), NERV_OK);
  g_byte_array_set_size (pl, 0);
  f.frame = NERV_MAX_FRAME_NUMBER + 1;
  nerv_frame_header_write (&f, pl);
  ck_assert_int_eq (nerv_frame_header_parse (pl->data, pl->len, &f2),
      NERV_ERR_INVALID);
  g_byte_array_set_size (pl, 0);
  f.frame = G_MAXUINT64;
  nerv_frame_header_write (&f, pl);
  ck_assert_int_eq (nerv_frame_header_parse (pl->data, pl->len, &f2),
      NERV_ERR_INVALID);

  g.n_frames = 8;
  g.first_frame = NERV_MAX_FRAME_NUMBER + 1 - 8;
  g_byte_array_set_size (pl, 0);
  nerv_group_header_write (&g, pl);
  ck_assert_int_eq (nerv_group_header_parse (pl->data, pl->len, &g2), NERV_OK);
  g.first_frame++;
  g_byte_array_set_size (pl, 0);
  nerv_group_header_write (&g, pl);
  ck_assert_int_eq (nerv_group_header_parse (pl->data, pl->len, &g2),
      NERV_ERR_INVALID);
  g.first_frame = G_MAXUINT64 - 2;      /* + 8 frames wraps */
  g_byte_array_set_size (pl, 0);
  nerv_group_header_write (&g, pl);
  ck_assert_int_eq (nerv_group_header_parse (pl->data, pl->len, &g2),
      NERV_ERR_INVALID);
  g_byte_array_free (pl, TRUE);
}
END_TEST;

static Suite *
malformed_suite (void)
{
  Suite *s = suite_create ("malformed");
  TCase *tc = tcase_create ("malformed");
  tcase_set_timeout (tc, 300);
  tcase_add_checked_fixture (tc, stream_setup, stream_teardown);
  tcase_add_test (tc, test_truncate_at_packets);
  tcase_add_test (tc, test_truncate_random);
  tcase_add_test (tc, test_bit_flips);
  tcase_add_test (tc, test_versions);
  tcase_add_test (tc, test_hostile_headers);
  tcase_add_test (tc, test_residual_without_key);
  tcase_add_test (tc, test_header_amplification);
  tcase_add_test (tc, test_crc_combine);
  tcase_add_test (tc, test_resync_linear);
  tcase_add_test (tc, test_resync_interleaved);
  tcase_add_test (tc, test_resync_random);
  tcase_add_test (tc, test_rates_and_numbers);
  suite_add_tcase (s, tc);
  return s;
}

NERV_CHECK_MAIN (malformed);
