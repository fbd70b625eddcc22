/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The .nerv packets (docs/bitstream.md): framing, CRC, the fixed fields
 * of the stream header, group and frame packets, and the splitter that
 * cuts a byte stream into frame units. Every read is bounds-checked; every
 * value is range-checked before it is used. The group packet's coded body
 * is in nerv-syntax.h.
 */
#ifndef NERV_BITSTREAM_H
#define NERV_BITSTREAM_H

#include "nerv-frame.h"
#include "nerv-model.h"

G_BEGIN_DECLS

#define NERV_VERSION_MAJOR 3
/* the oldest major version a reader takes (2.x: kinds 0 and 1) */
#define NERV_VERSION_MAJOR_MIN 2
#define NERV_VERSION_MINOR 0
/* every packet starts with these bytes */
#define NERV_SYNC "NRV"
#define NERV_SYNC_SIZE 3
#define NERV_PACKET_HEADER 8    /* sync (3) + type (1) + length (4) */
#define NERV_PACKET_OVERHEAD 12 /* + CRC (4) */
#define NERV_MAX_PAYLOAD (64u << 20)
#define NERV_MAX_GROUP 1024
/* At most this many embedding values in a group (group size x embedding
 * size): a decoder holds a group's embeddings. */
#define NERV_MAX_GROUP_EMBED (1 << 24)
/* a frame packet as this version writes it for kinds 0 and 1: its frame
 * number only (kind 2 adds the frame's latents) */
#define NERV_FRAME_PACKET_SIZE (NERV_PACKET_OVERHEAD + 8)
/* Frame numbers are below 2^62 (a range check: any count of frames a
 * stream can have, with room for arithmetic on them) */
#define NERV_MAX_FRAME_NUMBER ((G_GUINT64_CONSTANT (1) << 62) - 1)
/* A frame rate slower than one frame a day is read as unknown */
#define NERV_MAX_FRAME_SECONDS 86400

typedef enum {
  NERV_OK = 0,
  NERV_ERR_NEED_MORE = -1,
  NERV_ERR_SYNC = -2,
  NERV_ERR_CRC = -3,
  NERV_ERR_TRUNCATED = -4,
  NERV_ERR_VERSION = -5,
  NERV_ERR_INVALID = -6,
  NERV_ERR_NO_HEADER = -7,
  NERV_ERR_NO_KEY = -8,
} NervStatus;

const char *nerv_status_string (NervStatus status);

/* Little-endian fields at any alignment (GStreamer's GST_READ_* macros do
 * unaligned word loads on x86, which UBSan rightly reports). */
static inline guint32
nerv_read_u32le (const guint8 * p)
{
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((guint32) p[3] << 24);
}

static inline guint64
nerv_read_u64le (const guint8 * p)
{
  return nerv_read_u32le (p) | ((guint64) nerv_read_u32le (p + 4) << 32);
}

static inline void
nerv_write_u32le (guint8 * p, guint32 v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (guint8) (v >> (8 * i));
}

typedef enum {
  NERV_PACKET_STREAM = 'S',
  NERV_PACKET_GROUP = 'G',
  NERV_PACKET_FRAME = 'F',
} NervPacketType;

typedef struct {
  guint8 type;
  const guint8 *payload;
  guint32 size;
} NervPacket;

/* One packet at data[0..size): NERV_OK and *consumed = its whole size,
 * or NEED_MORE (incomplete), SYNC (no marker at 0) or CRC. Walkers of a
 * byte stream use the splitter (below), which adds the rules of what
 * follows what. */
NervStatus nerv_packet_parse (const guint8 * data, size_t size,
    NervPacket * pkt, size_t * consumed);
/* Offset of the next sync marker after data[0] (size when none). */
size_t nerv_packet_find_sync (const guint8 * data, size_t size);
void nerv_packet_write (GByteArray * out, guint8 type, const guint8 * payload,
    size_t size);
/* Bytes the packet checks (parsing, the splitter, writing) have run the CRC
 * over in this process: a work counter, by which the tests check that
 * walking a stream, damaged or not, costs time linear in its size. */
guint64 nerv_crc_bytes (void);
/* The CRC of A followed by B from the CRCs of A and B (B len_b bytes). */
guint32 nerv_crc_combine (guint32 crc_a, guint32 crc_b, guint64 len_b);
/* Running CRCs of a stream, by which the splitter checks every candidate
 * packet after damage in constant time (nerv_splitter_next()). */
typedef struct _NervCrcCache NervCrcCache;
void nerv_crc_cache_free (NervCrcCache * c);

typedef struct {
  int version_major, version_minor;
  guint32 fps_n, fps_d;
  NervPixelFormat format;
  NervModelConfig model;        /* width, height, out_channels included */
  int group_size;
  int key_interval;
  int weight_bits, embed_bits;
} NervStreamHeader;

void nerv_stream_header_write (const NervStreamHeader * h, GByteArray * payload);
/* Every field range-checked; the network must validate and a group's
 * embeddings fit NERV_MAX_GROUP_EMBED (else NERV_ERR_INVALID). A frame
 * rate with a term of 0 or above G_MAXINT, or of frames longer than
 * NERV_MAX_FRAME_SECONDS, is read as unknown, 0/1, so every reader gets a
 * rate it can use as a GStreamer fraction and in timestamps. */
NervStatus nerv_stream_header_parse (const guint8 * p, size_t n,
    NervStreamHeader * h);
/* Groups of group_size frames of this network keep their embeddings within
 * NERV_MAX_GROUP_EMBED. */
gboolean nerv_group_embed_fits (const NervModelConfig * cfg, int group_size);

typedef struct {
  guint32 index;
  gboolean key;
  int n_frames;
  guint64 first_frame;
  const guint8 *body;
  size_t body_size;
} NervGroupHeader;

void nerv_group_header_write (const NervGroupHeader * g, GByteArray * payload);
NervStatus nerv_group_header_parse (const guint8 * p, size_t n,
    NervGroupHeader * g);

/* A frame packet holds its frame number (the frame's index in its group
 * is frame - the group's first frame) and, for kind 2, its coded latents:
 * body (kinds 0 and 1: what a later minor version appends, ignored). */
typedef struct {
  guint64 frame;
  const guint8 *body;
  size_t body_size;
} NervFrameHeader;

void nerv_frame_header_write (const NervFrameHeader * f, GByteArray * payload);
NervStatus nerv_frame_header_parse (const guint8 * p, size_t n,
    NervFrameHeader * f);

/* ---- frame units ------------------------------------------------------ */

/* A frame unit is what a decoder needs for one frame, and what nervenc
 * hands out and nervparse cuts: an optional stream header, an optional
 * group packet, packets of unknown types, and one frame packet. The
 * splitter takes the packets of a byte stream one at a time and says what
 * each is to its unit; every walker of a stream (nervparse in push and
 * pull mode, nerv-tool info, the fuzzers) follows its rules, so all agree
 * on where units end and which are key units. */

typedef enum {
  /* the packet at data is not complete: size = bytes needed from data */
  NERV_SPLIT_NEED_MORE,
  /* no valid packet starts at data (status SYNC or CRC, or NEED_MORE at
   * the end of the stream): size = bytes that may be skipped, to the next
   * sync marker or a marker cut by the end of the data. The unit goes on
   * after them. */
  NERV_SPLIT_DAMAGE,
  /* a packet of the unit: a stream header, a group, an unknown type */
  NERV_SPLIT_PACKET,
  /* a packet whose CRC checks but which is not passed on: before any
   * stream header (status NO_HEADER), or a group or frame packet whose
   * fields do not parse. The unit goes on without it. */
  NERV_SPLIT_DROP,
  /* an invalid stream header (status VERSION, INVALID or TRUNCATED): it
   * and the unit so far are dropped, and no stream header is in force */
  NERV_SPLIT_RESET,
  /* the unit's frame packet: the unit ends after it */
  NERV_SPLIT_FRAME,
} NervSplitResult;

typedef struct {
  NervSplitResult result;
  NervStatus status;            /* NERV_OK, or why not a packet of the unit */
  NervPacket pkt;               /* PACKET, DROP, RESET, FRAME */
  size_t size;                  /* bytes: the packet's (PACKET, DROP, RESET,
                                 * FRAME), needed (NEED_MORE), to skip
                                 * (DAMAGE); at least 1 but for NEED_MORE */
} NervSplit;

typedef struct {
  /* the stream header in force (set by the frame unit that carries it) */
  gboolean have_header;
  NervStreamHeader header;
  /* the unit so far; after NERV_SPLIT_FRAME, the whole unit (until the
   * next call) */
  gboolean unit_has_header;
  NervStreamHeader unit_header; /* its stream header */
  guint64 unit_header_offset;
  gboolean key;                 /* it has a key group packet */
  guint64 key_offset;           /* where decoding its key group starts: its
                                 * stream header, else its group packet */
  guint64 frame;                /* FRAME: the frame number */
  guint64 frame_offset;         /* FRAME: where its frame packet starts */
  gboolean unit_done;
  /* the running CRCs of the bytes ahead (resynchronisation in linear
   * time), and the offset of the last call */
  NervCrcCache *crc;
  guint64 last_offset;
} NervSplitter;

void nerv_splitter_init (NervSplitter * sp);
/* Frees what the splitter holds (and initialises it again). */
void nerv_splitter_clear (NervSplitter * sp);
/* The bytes at the offsets given so far may change (a seek, a new source):
 * forget the running CRCs of them. Going back to a lower offset does this
 * by itself. */
void nerv_splitter_forget_bytes (NervSplitter * sp);
/* Forget the unit so far (a walker that will give its packets again, or
 * that jumps elsewhere); what is in force stays. A new unit also begins by
 * itself after NERV_SPLIT_FRAME. */
void nerv_splitter_begin_unit (NervSplitter * sp);
/* What the bytes data[0..size) (size >= 1) start with, at stream offset
 * offset. eos: no bytes follow data[size - 1], so an incomplete packet is
 * damage. The splitter keeps running CRCs of the bytes it was given by
 * their offsets, so that resynchronising over any number of candidate
 * markers costs time linear in the bytes: a walker gives the same bytes at
 * the same offsets (or calls nerv_splitter_forget_bytes()), and
 * nerv_splitter_clear() at the end. */
NervSplitResult nerv_splitter_next (NervSplitter * sp, const guint8 * data,
    size_t size, guint64 offset, gboolean eos, NervSplit * out);

G_END_DECLS
#endif
