/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The .nerv packets (docs/bitstream.md): framing, CRC, and the fixed
 * fields of the stream header, group and frame packets. Every read is
 * bounds-checked; every value is range-checked before it is used.
 */
#ifndef NERV_BITSTREAM_H
#define NERV_BITSTREAM_H

#include "nerv-frame.h"
#include "nerv-model.h"

G_BEGIN_DECLS

#define NERV_VERSION_MAJOR 2
#define NERV_VERSION_MINOR 0
#define NERV_PACKET_HEADER 8    /* sync (3) + type (1) + length (4) */
#define NERV_PACKET_OVERHEAD 12 /* + CRC (4) */
#define NERV_MAX_PAYLOAD (64u << 20)
#define NERV_MAX_GROUP 1024

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
 * or NEED_MORE (incomplete), SYNC (no marker at 0) or CRC. */
NervStatus nerv_packet_parse (const guint8 * data, size_t size,
    NervPacket * pkt, size_t * consumed);
/* Offset of the next sync marker after data[0] (size when none). */
size_t nerv_packet_find_sync (const guint8 * data, size_t size);
void nerv_packet_write (GByteArray * out, guint8 type, const guint8 * payload,
    size_t size);

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
NervStatus nerv_stream_header_parse (const guint8 * p, size_t n,
    NervStreamHeader * h);

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

/* A frame packet holds only its frame number: the frame's index in its
 * group is frame - the group's first frame, its embedding is in the group
 * packet. body: what a later minor version appends (ignored). */
typedef struct {
  guint64 frame;
  const guint8 *body;
  size_t body_size;
} NervFrameHeader;

void nerv_frame_header_write (const NervFrameHeader * f, GByteArray * payload);
NervStatus nerv_frame_header_parse (const guint8 * p, size_t n,
    NervFrameHeader * f);

G_END_DECLS
#endif
