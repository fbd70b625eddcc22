/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-settings.h"

#include <string.h>

void
nerv_encoder_settings_init (NervEncoderSettings * s)
{
  memset (s, 0, sizeof (*s));
  s->format = NERV_FORMAT_I420;
  s->fps_n = 25;
  s->fps_d = 1;
  s->kind = NERV_MODEL_HNERV;
  s->params = 20000;
  s->group_size = 8;
  s->key_interval = 8;
  s->epochs_key = 300;
  s->epochs_delta = 60;
  s->qat_epochs = 10;
  s->weight_bits = 8;
  s->embed_bits = 6;
  s->delta_lr = 1.0f;
  s->deadzone = 0.5f;
  s->seed = 1;
}
