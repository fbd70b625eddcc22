/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-y4m.h"

#include <stdlib.h>
#include <string.h>

gboolean
nerv_y4m_open (NervY4m * y, const char *path, GError ** error)
{
  char line[512];

  memset (y, 0, sizeof (*y));
  y->fps_n = 25;
  y->fps_d = 1;
  y->format = NERV_FORMAT_I420;
  y->f = fopen (path, "rb");
  if (!y->f) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_IO, "cannot open %s", path);
    return FALSE;
  }
  if (!fgets (line, sizeof (line), y->f) || strncmp (line, "YUV4MPEG2 ", 10)) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_DATA,
        "%s is not a YUV4MPEG2 file", path);
    goto fail;
  }
  for (char *tok = strtok (line + 10, " \n"); tok; tok = strtok (NULL, " \n")) {
    if (tok[0] == 'W')
      y->width = atoi (tok + 1);
    else if (tok[0] == 'H')
      y->height = atoi (tok + 1);
    else if (tok[0] == 'F')
      sscanf (tok + 1, "%u:%u", &y->fps_n, &y->fps_d);
    else if (tok[0] == 'C') {
      if (!strcmp (tok, "Cmono"))
        y->format = NERV_FORMAT_GRAY8;
      else if (!strcmp (tok, "C444"))
        y->format = NERV_FORMAT_Y444;
      else if (strncmp (tok, "C420", 4)) {
        g_set_error (error, NERV_ERROR, NERV_ERROR_DATA,
            "%s: colour space %s not supported (8-bit 420, 444 or mono)",
            path, tok + 1);
        goto fail;
      }
    }
  }
  if (y->width < 1 || y->height < 1 || y->width > NERV_MAX_DIM
      || y->height > NERV_MAX_DIM) {
    g_set_error (error, NERV_ERROR, NERV_ERROR_DATA,
        "%s: frame size %dx%d not within 1..%d", path, y->width, y->height,
        NERV_MAX_DIM);
    goto fail;
  }
  nerv_pixel_format_frame_format (y->format, y->width, y->height, &y->fmt);
  y->frame_size = nerv_frame_format_frame_size (&y->fmt);
  return TRUE;

fail:
  nerv_y4m_close (y);
  return FALSE;
}

gboolean
nerv_y4m_read_frame (NervY4m * y, guint8 * buf)
{
  char line[256];
  if (!fgets (line, sizeof (line), y->f) || strncmp (line, "FRAME", 5))
    return FALSE;
  return fread (buf, 1, y->frame_size, y->f) == y->frame_size;
}

void
nerv_y4m_close (NervY4m * y)
{
  if (y->f)
    fclose (y->f);
  y->f = NULL;
}
