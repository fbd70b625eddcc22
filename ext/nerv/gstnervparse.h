/* gst-nerv: .nerv stream parser
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_NERV_PARSE_H
#define GST_NERV_PARSE_H

#include <gst/gst.h>
#include <gst/base/gstbaseparse.h>

G_BEGIN_DECLS

#define GST_TYPE_NERV_PARSE (gst_nerv_parse_get_type ())
G_DECLARE_FINAL_TYPE (GstNervParse, gst_nerv_parse, GST, NERV_PARSE,
    GstBaseParse);

G_END_DECLS
#endif
