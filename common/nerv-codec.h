/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoder and decoder cores: frames in, .nerv packets out, and back.
 * The encoder codes frames in groups; the first group of a key period is a
 * key group (weights coded whole, stream header repeated), the others start
 * from the previous group's weights (NIRVANA-style), train for fewer
 * epochs, and code their weights as integer residuals.
 *
 * Their API is in nerv.h; this header adds what tests and benchmarks look
 * at inside them.
 */
#ifndef NERV_CODEC_H
#define NERV_CODEC_H

#include "nerv.h"
#include "nerv-quant.h"
#include "nerv-entropy.h"

G_BEGIN_DECLS

/* The network of the current key period. */
const NervModelConfig *nerv_encoder_model (NervEncoder * enc);
/* The weights of the last coded group as the decoder rebuilds them (NULL
 * before the first group). */
const float *nerv_encoder_params (NervEncoder * enc, size_t * n);

/* The weights of the current group (NULL when none). */
const float *nerv_decoder_params (NervDecoder * dec, size_t * n);

G_END_DECLS
#endif
