/* gst-nerv: helpers shared by the tests: synthetic frames and streams
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef NERV_TEST_UTIL_H
#define NERV_TEST_UTIL_H

#include "nerv-codec.h"

G_BEGIN_DECLS

/* I420 frame n of a w x h clip: a gradient with a square moving across */
void nerv_test_make_frame (int n, int w, int h, guint8 * buf);

/* A tiny, fast encoder setting (12k parameters, a few epochs). */
NervEncoderSettings nerv_test_settings (int w, int h, int group, int key_interval);

/* Called after each coded group, before its frames are collected. */
typedef void (*NervTestGroupFunc) (NervEncoder * enc, gpointer user_data);

/* Encodes n frames of nerv_test_make_frame(); returns one GBytes per
 * frame (the packets the encoder hands out for it), in order. */
GPtrArray *nerv_test_encode (const NervEncoderSettings * s, int n,
    NervTestGroupFunc on_group, gpointer user_data);

/* The units one after another, as one stream (units is kept). */
GByteArray *nerv_test_join (GPtrArray * units);

/* An I420 frame n of a w x h clip into buf (as nerv_test_make_frame). */
typedef void (*NervTestFrameFunc) (int n, int w, int h, guint8 * buf);

/* The same, of the frames make_frame makes. */
GPtrArray *nerv_test_encode_frames (const NervEncoderSettings * s, int n,
    NervTestFrameFunc make_frame, NervTestGroupFunc on_group,
    gpointer user_data);

G_END_DECLS
#endif
