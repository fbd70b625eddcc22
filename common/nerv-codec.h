/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoder and decoder cores: frames in, .nerv packets out, and back.
 * The encoder codes frames in groups; the first group of a key period is a
 * key group (weights coded whole, stream header repeated), the others start
 * from the previous group's weights (NIRVANA-style), train for fewer
 * epochs, and code their weights as integer residuals.
 */
#ifndef NERV_CODEC_H
#define NERV_CODEC_H

#include "nerv-bitstream.h"
#include "nerv-quant.h"
#include "nerv-entropy.h"
#include "nerv-settings.h"

G_BEGIN_DECLS


/* What the encoder hands out for each input frame, in input order. */
typedef struct {
  guint64 frame;                /* input frame number */
  gboolean group_start;         /* carries the group packet */
  gboolean key;                 /* starts a key group (a sync point) */
  GBytes *data;                 /* the packets */
} NervEncodedFrame;

typedef struct {
  int group;
  gboolean key;
  int n_frames;
  size_t bits;                  /* all packets of the group */
  size_t weight_bits;           /* the stream header and the group packet
                                 * less its embeddings */
  size_t embed_bits;            /* the embeddings (in the group packet) */
  /* rate control (bitrate set) */
  double allowance;             /* the bits the group was given */
  int coarsen;                  /* key group: weight steps made coarser by
                                 * this many eighths of an octave */
  float deadzone;               /* residual group: the dead zone used */
  gboolean below_floor;         /* the target rate is below what the
                                 * smallest model and its embeddings cost:
                                 * the group is as small as it can be */
  double psnr_y, psnr_yuv;      /* of the decoded (quantised) frames */
  double train_s;
  size_t params;
} NervGroupStats;

typedef struct _NervEncoder NervEncoder;

NervEncoder *nerv_encoder_new (const NervEncoderSettings * s, GError ** error);
void nerv_encoder_free (NervEncoder * enc);
/* One 8-bit frame; planes/strides in the settings' format (3 planes, or 1
 * for GRAY8). Codes a group when it is full; returns FALSE if stopped by
 * the progress callback. */
gboolean nerv_encoder_push_frame (NervEncoder * enc,
    const guint8 * const planes[3], const int strides[3]);
/* Codes the last, partial group. */
gboolean nerv_encoder_finish (NervEncoder * enc);
/* Next coded frame, or FALSE when none is ready. Free with
 * nerv_encoded_frame_clear(). */
gboolean nerv_encoder_pop (NervEncoder * enc, NervEncodedFrame * out);
void nerv_encoded_frame_clear (NervEncodedFrame * f);
/* Stats of the last coded group; FALSE before the first. */
gboolean nerv_encoder_last_group (NervEncoder * enc, NervGroupStats * stats);
/* Frames waiting for their group to be coded. */
int nerv_encoder_pending (NervEncoder * enc);
const NervModelConfig *nerv_encoder_model (NervEncoder * enc);
/* The weights of the last coded group as the decoder rebuilds them (NULL
 * before the first group). */
const float *nerv_encoder_params (NervEncoder * enc, size_t * n);

/* ---- decoder --------------------------------------------------------- */

typedef struct {
  guint64 frame;                /* frame number from the stream */
  NervPixelFormat format;
  int width, height;
  int n_planes;
  guint8 *planes[3];            /* owned by the decoder, valid until the next call */
  int strides[3];
  gboolean key;                 /* first frame of a key group */
} NervDecodedFrame;

typedef struct _NervDecoder NervDecoder;

NervDecoder *nerv_decoder_new (int threads);
void nerv_decoder_free (NervDecoder * dec);
/* Decode one packet from data[0..size). *consumed is set to the bytes used
 * (also after CRC and sync errors, to what should be skipped). A frame
 * packet makes a frame available to nerv_decoder_get_frame(). */
NervStatus nerv_decoder_decode (NervDecoder * dec, const guint8 * data,
    size_t size, size_t * consumed);
gboolean nerv_decoder_get_frame (NervDecoder * dec, NervDecodedFrame * out);
/* The current stream header, NULL before the first. */
const NervStreamHeader *nerv_decoder_header (NervDecoder * dec);
/* The weights of the current group (NULL when none). */
const float *nerv_decoder_params (NervDecoder * dec, size_t * n);
/* Forget groups (a seek or flush): decoding resumes at a key group. */
void nerv_decoder_reset (NervDecoder * dec);

G_END_DECLS
#endif
