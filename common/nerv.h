/* gst-nerv: the public API of libnerv
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What the elements (ext/nerv) and the tools (tools/) include, and nothing
 * else of common/ (`meson test --suite headers` checks it). The API is:
 *
 *   encoder      NervEncoderSettings (nerv-settings.h): defaults, ranges
 *                and speed presets, the progress report (with the
 *                NervTrainProgress it carries); nerv_encoder_new(),
 *                _push_frame(), _finish(), _pop(), _get_settings() (below)
 *   decoder      nerv_decoder_new(), _decode(), _get_frame(), _reset()
 *   streams      NervStatus, packets, NervStreamHeader and the
 *                NervModelConfig it describes (read-only, with
 *                nerv_model_config_n_params()), the splitter that cuts a
 *                byte stream into frame units (nerv-bitstream.h)
 *   inspection   what a group packet holds, for analysers (below)
 *   frames       NervPixelFormat, plane sizes, MSE and PSNR (nerv-frame.h);
 *                .y4m reading for the tools (nerv-y4m.h)
 *   errors       every GError is in the NERV_ERROR domain (nerv-common.h)
 *
 * The headers named are included for these types; what else they (and
 * the headers they include: the model, its layers and kernels, training)
 * declare is the core's inside and may change with it. Tests and
 * benchmarks may use it; elements and tools do not.
 *
 * A stream is coded in groups of frames, each its own small network:
 *
 *   NervEncoderSettings s;
 *   nerv_encoder_settings_init (&s);      then width, height, bitrate ...
 *   enc = nerv_encoder_new (&s, &error);
 *   for each frame: nerv_encoder_push_frame (enc, planes, strides), then
 *     while (nerv_encoder_pop (enc, &ef)) write ef.data;
 *   at the end: nerv_encoder_finish (enc), and pop what it coded.
 *
 *   dec = nerv_decoder_new (threads);
 *   for each frame unit (one nerv_encoder_pop(), or one unit of the
 *   splitter): nerv_decoder_decode() packet by packet, then
 *   nerv_decoder_get_frame().
 */
#ifndef NERV_H
#define NERV_H

#include "nerv-common.h"
#include "nerv-frame.h"
#include "nerv-y4m.h"
#include "nerv-bitstream.h"
#include "nerv-settings.h"

G_BEGIN_DECLS

/* ---- encoder ---------------------------------------------------------- */

/* What the encoder hands out for each input frame, in input order: one
 * frame unit. */
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
  size_t embed_bits;            /* the embeddings (in the group packet);
                                 * kind 2: the latents (in the frame
                                 * packets, their coder streams) */
  float lambda;                 /* kind 2: the trade-off it trained with */
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

/* NULL (error set) when a setting is out of its range or no network fits
 * the frame. */
NervEncoder *nerv_encoder_new (const NervEncoderSettings * s, GError ** error);
void nerv_encoder_free (NervEncoder * enc);
/* The settings as the encoder resolved them: group_size as chosen (for 0),
 * params the parameters of the current model (the budget's, or with a
 * bitrate the rate control's for the current key period), lr and embed_lr
 * as that model trains with. */
void nerv_encoder_get_settings (NervEncoder * enc, NervEncoderSettings * out);
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

/* Stopping training from another thread (a flush, a state change, an
 * EOS): training looks at it at its progress reports (every epoch and at
 * least once a second), so it takes effect within about a second.
 *   FINISH  the group in training stops training (the fine-tune too) and is
 *           coded with what it has learnt; groups coded while it is set
 *           get one epoch (and one of fine-tune): every frame is kept.
 *   ABORT   the group in training is dropped; push_frame() and finish()
 *           return FALSE from then on (free the encoder).
 *   NONE    clears FINISH. */
typedef enum {
  NERV_INTERRUPT_NONE,
  NERV_INTERRUPT_FINISH,
  NERV_INTERRUPT_ABORT,
} NervInterrupt;
void nerv_encoder_interrupt (NervEncoder * enc, NervInterrupt how);
/* Whether it was stopped by NERV_INTERRUPT_ABORT (rather than by the
 * progress callback). */
gboolean nerv_encoder_aborted (NervEncoder * enc);
/* The next frame pushed starts a key group (a forced key unit): the frames
 * collected before it are coded first, as a shorter group. FALSE if
 * stopped. */
gboolean nerv_encoder_force_key (NervEncoder * enc);
/* A new target rate (kbit/s > 0) from the next group coded on: its
 * allowance and the key period's remaining bits follow at once, the model
 * size at the next key group. FALSE (nothing changed) for an encoder
 * created without a bitrate (its model size is fixed). */
gboolean nerv_encoder_set_bitrate (NervEncoder * enc, guint kbps);

/* ---- decoder ---------------------------------------------------------- */

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

/* threads <= 0: one per processor */
NervDecoder *nerv_decoder_new (int threads);
void nerv_decoder_free (NervDecoder * dec);
/* Decode one packet from data[0..size). *consumed is set to the bytes used
 * (also after CRC and sync errors, to what should be skipped). A frame
 * packet makes a frame available to nerv_decoder_get_frame(). Damaged data
 * is skipped to the next marker, each candidate checked from scratch; a
 * walker of a byte stream that may be damaged (time linear in its size)
 * cuts it with the splitter instead, gives the decoder the packets and
 * calls nerv_decoder_lost_bytes() where it skipped damage. */
NervStatus nerv_decoder_decode (NervDecoder * dec, const guint8 * data,
    size_t size, size_t * consumed);
/* Bytes were skipped before the next packet (damage): as after a CRC
 * error, the groups until the next key group are lost. */
void nerv_decoder_lost_bytes (NervDecoder * dec);
gboolean nerv_decoder_get_frame (NervDecoder * dec, NervDecodedFrame * out);
/* The current stream header, NULL before the first. */
const NervStreamHeader *nerv_decoder_header (NervDecoder * dec);
/* Forget groups (a seek or flush): decoding resumes at a key group. */
void nerv_decoder_reset (NervDecoder * dec);

/* ---- inspection: what a group packet holds ---------------------------- */

typedef struct {
  gboolean have_header;         /* the fixed fields were read */
  NervGroupHeader header;
  size_t steps_bytes;           /* key group: the step exponents; else 0 */
  int n_tensors;
  const double *tensor_bits;    /* [n_tensors]: bits per value of each
                                 * weight and bias tensor (valid until the
                                 * next call) */
  size_t n_values;              /* weight and bias values of all tensors */
  size_t weight_bytes;          /* the exponents and every tensor */
  double huffman_bits;          /* the same integers in one Huffman code
                                 * pooled over the tensors (HNeRV's way) */
  size_t embed_bytes;           /* HNeRV: the frames' embeddings */
  guint embed_mode;             /* 0: coded as they are, 1: differences */
} NervGroupInfo;

typedef struct _NervInspector NervInspector;

/* For the group packets of one stream header; NULL when a group of it
 * would not fit in memory. */
NervInspector *nerv_inspector_new (const NervStreamHeader * h);
void nerv_inspector_free (NervInspector * in);
/* Reads a group packet's payload with the decoder's reader. Not NERV_OK:
 * the first error; info->have_header says whether the fixed fields were
 * read before it. */
NervStatus nerv_inspector_read_group (NervInspector * in,
    const guint8 * payload, size_t size, NervGroupInfo * info);

G_END_DECLS
#endif
