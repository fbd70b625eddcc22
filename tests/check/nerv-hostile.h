/* gst-nerv: hostile .nerv streams for the tests and tests/bench/hostile.sh
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each generator appends to @out. They make the streams of issue 15: what
 * costs a careless reader time or memory out of proportion to the bytes.
 */
#ifndef NERV_HOSTILE_H
#define NERV_HOSTILE_H

#include "nerv-codec.h"

G_BEGIN_DECLS

/* About @len bytes of candidate packets: "NRVS" and a length every 8
 * bytes, each length reaching @tail bytes past the end of them (the caller
 * appends those), so every candidate is complete and its CRC fails. */
void nerv_hostile_resync (GByteArray * out, gsize len, gsize tail);

/* Bad candidates whose lengths reach @tail bytes past the end, each
 * followed by a valid packet of an unknown type (12 bytes): about @len
 * bytes, *n_valid the valid packets. */
void nerv_hostile_interleaved (GByteArray * out, gsize len, gsize tail,
    guint * n_valid);

/* The stream header of @stream (its first packet), then about @len bytes
 * of valid packets of the unknown type 'X' (@pkt_size bytes each), then the
 * rest of @stream (from its second packet): one frame unit that grows by
 * @len. */
void nerv_hostile_unknown (GByteArray * out, const guint8 * stream,
    gsize stream_len, gsize len, gsize pkt_size);

/* A valid stream header of the largest legal frame: @width x @height (up
 * to 8192) RGB, HNeRV, the network the encoder's budget gives @params; its
 * packet. @variant changes one field (the embedding bits). */
void nerv_hostile_big_header (GByteArray * out, int width, int height,
    size_t params, int variant);

/* (S(A) F0 S(B) F0) x @reps with A and B big headers that differ in one
 * field (nerv_hostile_big_header() variants 0 and 1) */
void nerv_hostile_headers (GByteArray * out, int reps);

G_END_DECLS
#endif
