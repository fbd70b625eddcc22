/* gst-nerv: nerv-tool, the codec core from the command line
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   nerv-tool encode IN.y4m OUT.nerv [-y] [--bitrate KBPS | --params N] ...
 *   nerv-tool decode [-y] IN.nerv OUT.y4m
 *   nerv-tool info IN.nerv
 *   nerv-tool psnr A.y4m B.y4m
 *
 * Outputs are written to a temporary file beside them and renamed over
 * them only when something was coded; an existing output is replaced only
 * with -y (--force), and never when it is the input. NERV_TOOL_WORK=1 makes
 * decode and info print the bytes their packet checks CRC'd (the tests'
 * work counter).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "nerv.h"

/* ---- output files ------------------------------------------------------- */

typedef struct {
  const char *path;
  gchar *tmp;
  FILE *f;
} OutFile;

/* Opens a temporary file beside @path for the output; NULL (message
 * printed) when @path is the input @in, or exists and !@force. */
static FILE *
out_open (OutFile * o, const char *path, const char *in, gboolean force)
{
  GStatBuf si, so;
  mode_t mask;
  int fd;

  memset (o, 0, sizeof (*o));
  if (g_stat (path, &so) == 0) {
    if (g_stat (in, &si) == 0 && si.st_dev == so.st_dev
        && si.st_ino == so.st_ino) {
      g_printerr ("nerv-tool: %s is the input %s: refusing to overwrite it\n",
          path, in);
      return NULL;
    }
    if (!force) {
      g_printerr ("nerv-tool: %s exists; -y (--force) overwrites it\n", path);
      return NULL;
    }
  }
  o->path = path;
  o->tmp = g_strdup_printf ("%s.XXXXXX", path);
  fd = g_mkstemp (o->tmp);
  if (fd < 0 || !(o->f = fdopen (fd, "wb"))) {
    g_printerr ("nerv-tool: cannot write %s: %s\n", o->tmp, g_strerror (errno));
    if (fd >= 0)
      close (fd);
    g_free (o->tmp);
    o->tmp = NULL;
    return NULL;
  }
  /* the mode a new file gets, not mkstemp's 0600 */
  mask = umask (0);
  umask (mask);
  fchmod (fd, 0666 & ~mask);
  return o->f;
}

/* Nothing (or nothing good) was coded: the output is left as it was. */
static void
out_abort (OutFile * o)
{
  if (!o->tmp)
    return;
  fclose (o->f);
  g_unlink (o->tmp);
  g_clear_pointer (&o->tmp, g_free);
}

/* The output in place; FALSE (message printed) on a write error. */
static gboolean
out_commit (OutFile * o)
{
  const gboolean ok = fflush (o->f) == 0 && !ferror (o->f);

  if (fclose (o->f) != 0 || !ok || g_rename (o->tmp, o->path) != 0) {
    g_printerr ("nerv-tool: cannot write %s: %s\n", o->path,
        g_strerror (errno));
    g_unlink (o->tmp);
    g_clear_pointer (&o->tmp, g_free);
    return FALSE;
  }
  g_clear_pointer (&o->tmp, g_free);
  return TRUE;
}

static void
print_work (void)
{
  if (g_getenv ("NERV_TOOL_WORK"))
    g_printerr ("nerv-tool: work: %" G_GUINT64_FORMAT " bytes CRC'd\n",
        nerv_crc_bytes ());
}

/* ---- 8-bit y4m ---------------------------------------------------------- */

static void
y4m_planes (const NervY4m * y, guint8 * buf, const guint8 * planes[3],
    int strides[3])
{
  size_t off = 0;
  for (int c = 0; c < y->fmt.n_planes; c++) {
    planes[c] = buf + off;
    strides[c] = nerv_frame_format_plane_width (&y->fmt, c);
    off += (size_t) strides[c] * nerv_frame_format_plane_height (&y->fmt, c);
  }
}

/* ---- encode ------------------------------------------------------------- */

static gboolean
encode_progress (const NervEncoderProgress * p, gpointer user_data)
{
  const NervTrainProgress *t = p->train;
  if (GPOINTER_TO_INT (user_data) && t->step % MAX (1, t->n_steps / 4) == 0)
    g_printerr ("  group %d%s epoch %d/%d loss %.5f psnr_y %.2f %.1f s\n",
        p->group, p->key ? " (key)" : "", t->epoch + 1, t->n_epochs, t->loss,
        t->psnr_y, t->elapsed_s);
  return TRUE;
}

/* The encoder settings nerv-tool takes as options, by the core's names;
 * their ranges, defaults and help are the core's (nerv-settings.c). */
static const struct {
  NervSetting id;
  gchar short_name;
  const gchar *arg;
} setting_options[] = {
  {NERV_SETTING_BITRATE, 'b', "KBPS"},
  {NERV_SETTING_PARAMS, 'p', "N"},
  {NERV_SETTING_GROUP_SIZE, 'g', "N"},
  {NERV_SETTING_KEY_INTERVAL, 'k', "N"},
  {NERV_SETTING_EPOCHS_KEY, 0, "N"},
  {NERV_SETTING_EPOCHS_DELTA, 0, "N"},
  {NERV_SETTING_QAT_EPOCHS, 0, "N"},
  {NERV_SETTING_WEIGHT_BITS, 0, "N"},
  {NERV_SETTING_EMBED_BITS, 0, "N"},
  {NERV_SETTING_LR, 0, "LR"},
  {NERV_SETTING_EMBED_LR, 0, "X"},
  {NERV_SETTING_DELTA_LR, 0, "X"},
  {NERV_SETTING_DEADZONE, 0, "STEPS"},
  {NERV_SETTING_THREADS, 't', "N"},
  {NERV_SETTING_SEED, 's', "N"},
  {NERV_SETTING_LAMBDA, 'l', "LAMBDA"},
};

/* What the command line says of the settings: a preset first, then the
 * settings given, whatever their order (as x264's presets) */
typedef struct {
  NervSpeedPreset preset;
  gboolean given[NERV_N_SETTINGS];
  double value[NERV_N_SETTINGS];
} SettingArgs;

static gboolean
parse_setting (const gchar * option, const gchar * value, gpointer data,
    GError ** error)
{
  SettingArgs *a = data;
  const gboolean is_long = option[1] == '-';
  gchar *end;

  for (guint i = 0; i < G_N_ELEMENTS (setting_options); i++) {
    const NervSetting id = setting_options[i].id;
    if (is_long ? strcmp (option + 2, nerv_setting_info (id)->name) != 0 :
        option[1] != setting_options[i].short_name)
      continue;
    a->value[id] = g_ascii_strtod (value, &end);
    a->given[id] = TRUE;
    if (end == value || *end) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
          "%s takes a number, not %s", option, value);
      return FALSE;
    }
    return TRUE;
  }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
      "unknown option %s", option);
  return FALSE;
}

static gboolean
parse_preset (const gchar * option, const gchar * value, gpointer data,
    GError ** error)
{
  SettingArgs *a = data;

  a->preset = nerv_preset_from_name (value);
  if (!a->preset)
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "%s: no preset %s", option, value);
  return a->preset != 0;
}

/* The help of --speed-preset (in texts): the presets' epochs */
static const gchar *
preset_help (GPtrArray * texts)
{
  GString *t = g_string_new ("Training effort as nervenc's speed-preset, "
      "epochs from scratch/of later groups:");

  for (NervSpeedPreset p = NERV_PRESET_FIRST; p <= NERV_PRESET_LAST; p++) {
    const NervPresetInfo *info = nerv_preset_info (p);
    g_string_append_printf (t, "%s %s %d/%d", p > NERV_PRESET_FIRST ? "," : "",
        info->name, info->epochs_key, info->epochs_delta);
  }
  g_string_append_printf (t, " (default %s); --epochs-key and --epochs-delta "
      "change them", nerv_preset_info (NERV_PRESET_DEFAULT)->name);
  g_ptr_array_add (texts, g_string_free (t, FALSE));
  return g_ptr_array_index (texts, texts->len - 1);
}

/* One option a setting, described as "what [min..max, default d]";
 * the texts go to texts */
static void
add_setting_entries (GOptionEntry * entries, GPtrArray * texts)
{
  for (guint i = 0; i < G_N_ELEMENTS (setting_options); i++) {
    const NervSettingInfo *info = nerv_setting_info (setting_options[i].id);
    gchar *text = g_strdup_printf ("%s [%s%.10g%s%.10g, default %.10g]",
        info->blurb, info->min_open ? "over " : "", info->min,
        info->min_open ? " up to " : "..", info->max, info->def);
    entries[i] = (GOptionEntry) {
    info->name, setting_options[i].short_name, 0, G_OPTION_ARG_CALLBACK,
          (gpointer) parse_setting, text, setting_options[i].arg};
    g_ptr_array_add (texts, text);
  }
}

/* The settings of the command line over the defaults; FALSE (message
 * printed) when one is out of its range */
static gboolean
apply_settings (const SettingArgs * a, NervEncoderSettings * s)
{
  GError *err = NULL;

  nerv_encoder_settings_init (s);
  if (a->preset)
    nerv_encoder_settings_apply_preset (s, a->preset);
  for (int id = 0; id < NERV_N_SETTINGS; id++) {
    if (a->given[id] && !nerv_encoder_settings_set (s, id, a->value[id], &err)) {
      g_printerr ("nerv-tool: %s\n", err->message);
      g_error_free (err);
      return FALSE;
    }
  }
  return TRUE;
}

static int
cmd_encode (int argc, char **argv)
{
  gint frames = 0, start = 0;
  gboolean verbose = FALSE, scratch = FALSE, force = FALSE;
  OutFile of;
  gchar *model = NULL;
  int kind = -1;               /* from --model */
  SettingArgs args = { 0, };
  const GOptionEntry other_entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_STRING, &model,
        "grid (latent grids), hnerv or nerv (default: the core's)", "KIND"},
    {"speed-preset", 0, 0, G_OPTION_ARG_CALLBACK, (gpointer) parse_preset,
        NULL, "PRESET"},
    {"frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Frames to code (default all)", "N"},
    {"start", 0, 0, G_OPTION_ARG_INT, &start, "Frames to skip", "N"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Training progress", NULL},
    {"from-scratch", 0, 0, G_OPTION_ARG_NONE, &scratch,
        "Train every group from the seed for --epochs-key (for comparisons)", NULL},
    {"force", 'y', 0, G_OPTION_ARG_NONE, &force,
        "Overwrite OUT if it exists", NULL},
  };
  GOptionEntry entries[G_N_ELEMENTS (setting_options) +
      G_N_ELEMENTS (other_entries) + 1] = { {NULL}, };
  GOptionContext *ctx = g_option_context_new ("IN.y4m OUT.nerv - encode");
  GOptionGroup *group = g_option_group_new ("encode", "Encoding", "Encoding",
      &args, NULL);
  GPtrArray *texts = g_ptr_array_new_with_free_func (g_free);
  GError *err = NULL;
  NervEncoderSettings s;
  NervEncoder *enc;
  NervY4m y;
  FILE *out;
  guint8 *buf;
  guint64 bytes = 0;
  int n = 0, index = 0;
  gint64 t0 = g_get_monotonic_time ();
  double sq_y = 0, sq_yuv = 0;
  NervGroupStats gs;

  add_setting_entries (entries, texts);
  memcpy (entries + G_N_ELEMENTS (setting_options), other_entries,
      sizeof (other_entries));
  entries[G_N_ELEMENTS (setting_options) + 1].description = preset_help (texts);
  g_option_group_add_entries (group, entries);
  g_option_context_set_main_group (ctx, group);
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc != 3) {
    g_printerr ("nerv-tool encode: %s\n", err ? err->message :
        "usage: nerv-tool encode [OPTIONS] IN.y4m OUT.nerv");
    return 2;
  }
  g_option_context_free (ctx);
  g_ptr_array_unref (texts);
  if (model) {
    const gboolean known = !strcmp (model, "nerv") || !strcmp (model, "hnerv")
        || !strcmp (model, "grid");
    kind = !strcmp (model, "nerv") ? NERV_MODEL_NERV :
        !strcmp (model, "grid") ? NERV_MODEL_GRID : NERV_MODEL_HNERV;
    g_free (model);             /* GOption's copy */
    if (!known) {
      g_printerr ("nerv-tool: --model must be grid, hnerv or nerv\n");
      return 2;
    }
  }
  if (frames < 0 || start < 0) {
    g_printerr ("nerv-tool: negative --frames or --start\n");
    return 2;
  }
  if (!apply_settings (&args, &s))
    return 2;
  if (!nerv_y4m_open (&y, argv[1], &err)) {
    g_printerr ("nerv-tool: %s\n", err->message);
    return 1;
  }
  s.width = y.width;
  s.height = y.height;
  s.format = y.format;
  s.fps_n = y.fps_n;
  s.fps_d = y.fps_d;
  if (kind >= 0)
    s.kind = kind;
  s.from_scratch = scratch;
  s.progress = encode_progress;
  s.user_data = GINT_TO_POINTER (verbose);
  {
    /* the clip's length from the file size, for the rate control */
    const long here = ftell (y.f);
    gint64 avail;
    fseek (y.f, 0, SEEK_END);
    avail = (ftell (y.f) - here) / (gint64) (y.frame_size + 6) - start;
    fseek (y.f, here, SEEK_SET);
    if (avail > 0)
      s.expected_frames = (guint64) (frames > 0 ? MIN (avail, frames) : avail);
  }
  enc = nerv_encoder_new (&s, &err);
  if (!enc) {
    g_printerr ("nerv-tool: %s\n", err->message);
    return 1;
  }
  out = out_open (&of, argv[2], argv[1], force);
  if (!out)
    return 1;
  buf = g_malloc (y.frame_size);
  for (;;) {
    NervEncodedFrame ef;
    gboolean more = (frames == 0 || n < frames) && nerv_y4m_read_frame (&y, buf);
    gboolean coded;
    if (more && index++ < start)
      continue;
    if (more) {
      const guint8 *planes[3];
      int strides[3];
      y4m_planes (&y, buf, planes, strides);
      coded = nerv_encoder_push_frame (enc, planes, strides);
      n++;
    } else {
      coded = nerv_encoder_finish (enc);
    }
    if (!coded) {
      g_printerr ("nerv-tool: encoding stopped\n");
      out_abort (&of);
      return 1;
    }
    while (nerv_encoder_pop (enc, &ef)) {
      gsize len;
      const guint8 *d = g_bytes_get_data (ef.data, &len);
      if (ef.group_start && nerv_encoder_last_group (enc, &gs)) {
        g_print ("group %d%s: %d frames, %zu params, %zu bits (weights %zu, "
            "%s %zu), psnr_y %.2f psnr_yuv %.2f, %.1f s\n", gs.group,
            gs.key ? " key" : "", gs.n_frames, gs.params, gs.bits,
            gs.weight_bits, s.kind == NERV_MODEL_GRID ? "latents" :
            "embeddings", gs.embed_bits, gs.psnr_y, gs.psnr_yuv, gs.train_s);
        if (s.kind == NERV_MODEL_GRID)
          g_print ("  lambda %.5g%s\n", gs.lambda, s.bitrate > 0 ? "" : "");
        if (s.bitrate > 0 && s.kind != NERV_MODEL_GRID)
          g_print ("  rate: allowance %.0f bits, %s %g\n", gs.allowance,
              gs.key ? "steps coarser by (1/8 octaves)" : "dead zone",
              gs.key ? (double) gs.coarsen : gs.deadzone);
        if (gs.below_floor)
          g_print ("  warning: the target rate is below what the smallest "
              "model and its embeddings cost; coded as small as it can be\n");
        sq_y += gs.n_frames * pow (10.0, -gs.psnr_y / 10.0);
        sq_yuv += gs.n_frames * gs.psnr_yuv;
      }
      if (fwrite (d, 1, len, out) != len) {
        g_printerr ("nerv-tool: cannot write %s: %s\n", argv[2],
            g_strerror (errno));
        out_abort (&of);
        return 1;
      }
      bytes += len;
      nerv_encoded_frame_clear (&ef);
    }
    if (!more)
      break;
  }
  if (n == 0) {
    g_printerr ("nerv-tool: no frames in %s; %s is not written\n", argv[1],
        argv[2]);
    out_abort (&of);
    return 1;
  }
  if (!out_commit (&of))
    return 1;
  {
    const double secs = (g_get_monotonic_time () - t0) / 1e6;
    const double fps = y.fps_n && y.fps_d ? (double) y.fps_n / y.fps_d : 25.0;
    const double kbps = n ? bytes * 8.0 / (n / fps) / 1000.0 : 0;
    g_print ("encoded frames=%d bytes=%" G_GUINT64_FORMAT " kbps=%.2f bpp=%.5f "
        "psnr_y=%.2f enc_s=%.1f\n", n, bytes, kbps,
        n ? bytes * 8.0 / ((double) y.width * y.height * n) : 0,
        n ? -10.0 * log10 (sq_y / n) : 0, secs);
  }
  nerv_encoder_free (enc);
  g_free (buf);
  nerv_y4m_close (&y);
  return 0;
}

/* ---- decode ------------------------------------------------------------- */

static guint8 *
read_file (const char *path, gsize * len)
{
  gchar *data = NULL;
  GError *err = NULL;
  if (!g_file_get_contents (path, &data, len, &err)) {
    g_printerr ("nerv-tool: %s\n", err->message);
    return NULL;
  }
  return (guint8 *) data;
}

static int
cmd_decode (int argc, char **argv)
{
  gsize len, pos = 0, damage_end = G_MAXSIZE;
  guint8 *data;
  NervSplitter sp;
  NervDecoder *dec;
  FILE *out;
  gboolean wrote_header = FALSE;
  int frames = 0, errors = 0;
  gint64 t0;
  gboolean force = FALSE;
  OutFile of;
  const GOptionEntry entries[] = {
    {"force", 'y', 0, G_OPTION_ARG_NONE, &force,
        "Overwrite OUT if it exists", NULL},
    {NULL},
  };
  GOptionContext *ctx = g_option_context_new ("IN.nerv OUT.y4m - decode");
  GError *err = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc != 3) {
    g_printerr ("nerv-tool decode: %s\n", err ? err->message :
        "usage: nerv-tool decode [-y] IN.nerv OUT.y4m");
    g_clear_error (&err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);
  if (!(data = read_file (argv[1], &len)))
    return 1;
  out = out_open (&of, argv[2], argv[1], force);
  if (!out) {
    g_free (data);
    return 1;
  }
  dec = nerv_decoder_new (0);
  t0 = g_get_monotonic_time ();
  /* cut into packets by the splitter, whose resynchronisation over damage
   * costs time linear in the file; the decoder gets the packets */
  nerv_splitter_init (&sp);
  while (pos < len) {
    size_t used = 0;
    NervSplit sk;
    NervStatus st;
    NervDecodedFrame f;

    if (nerv_splitter_next (&sp, data + pos, len - pos, pos, TRUE, &sk) ==
        NERV_SPLIT_DAMAGE) {
      /* one message for a run of damaged bytes */
      if (damage_end != pos) {
        if (sk.status == NERV_ERR_NEED_MORE)
          g_printerr ("nerv-tool: stream truncated at byte %zu\n", pos);
        else
          g_printerr ("nerv-tool: byte %zu: %s, skipping to the next packet\n",
              pos, nerv_status_string (sk.status));
        errors++;
      }
      nerv_decoder_lost_bytes (dec);
      pos += sk.size;
      damage_end = pos;
      continue;
    }
    st = nerv_decoder_decode (dec, data + pos, sk.size, &used);
    if (st != NERV_OK) {
      g_printerr ("nerv-tool: byte %zu: %s\n", pos, nerv_status_string (st));
      errors++;
    }
    pos += sk.size;
    if (nerv_decoder_get_frame (dec, &f)) {
      const NervStreamHeader *h = nerv_decoder_header (dec);
      if (!wrote_header) {
        fprintf (out, "YUV4MPEG2 W%d H%d F%u:%u Ip A1:1 %s\n", f.width,
            f.height, h->fps_n ? h->fps_n : 25, h->fps_d ? h->fps_d : 1,
            f.format == NERV_FORMAT_GRAY8 ? "Cmono" :
            f.format == NERV_FORMAT_I420 ? "C420jpeg" : "C444");
        wrote_header = TRUE;
      }
      fputs ("FRAME\n", out);
      for (int c = 0; c < f.n_planes; c++) {
        const int h = f.format == NERV_FORMAT_I420 && c ? (f.height + 1) / 2 : f.height;
        fwrite (f.planes[c], 1, (size_t) f.strides[c] * h, out);
      }
      frames++;
    }
  }
  g_print ("decoded frames=%d errors=%d dec_fps=%.2f\n", frames, errors,
      frames / ((g_get_monotonic_time () - t0) / 1e6));
  print_work ();
  nerv_splitter_clear (&sp);
  nerv_decoder_free (dec);
  g_free (data);
  if (frames == 0) {
    g_printerr ("nerv-tool: no frame decoded from %s; %s is not written\n",
        argv[1], argv[2]);
    out_abort (&of);
    return 1;
  }
  if (!out_commit (&of))
    return 1;
  return errors ? 1 : 0;
}

/* ---- info --------------------------------------------------------------- */

typedef struct {
  NervInspector *inspector;     /* for the stream header in force */
  double huff_bits, our_bits;
} InfoTotals;

static void
print_stream_header (const NervStreamHeader * h)
{
  const NervModelConfig *m = &h->model;
  g_print ("stream header: v%d.%d %dx%d %u/%u fps format %d, %s, "
      "fc_dim %d, %d stages, %zu params, embedding %dx%dx%d, group %d, "
      "key interval %d, %d/%d bits\n", h->version_major, h->version_minor,
      m->width, m->height, h->fps_n, h->fps_d, h->format,
      m->kind ? "nerv" : "hnerv", m->fc_dim, m->n_stages,
      nerv_model_config_n_params (m), m->embed_c, m->embed_h, m->embed_w,
      h->group_size, h->key_interval, h->weight_bits, h->embed_bits);
}

/* A group packet read with the decoder's reader: where the coder stands
 * after each part, and the weights' bits beside one pooled Huffman code */
static void
print_group (InfoTotals * it, const NervPacket * pkt, size_t used)
{
  const NervGroupHeader *g;
  NervGroupInfo gi;
  NervStatus st;

  if (!it->inspector) {
    g_print ("group: no memory for the groups of this stream header\n");
    return;
  }
  st = nerv_inspector_read_group (it->inspector, pkt->payload, pkt->size, &gi);
  if (!gi.have_header) {
    g_print ("group: %s\n", nerv_status_string (st));
    return;
  }
  g = &gi.header;
  g_print ("group %u%s: %d frames from %" G_GUINT64_FORMAT ", %zu bytes",
      g->index, g->key ? " key" : "", g->n_frames, g->first_frame, used);
  if (st != NERV_OK) {
    g_print ("; %s\n", nerv_status_string (st));
    return;
  }
  if (g->key)
    g_print ("; steps %zu B", gi.steps_bytes);
  g_print ("; tensors (bits/value):");
  for (int t = 0; t < gi.n_tensors; t++)
    g_print (" %.2f", gi.tensor_bits[t]);
  /* HNeRV's method on the same integers: one Huffman code pooled over all
   * weight tensors of the group */
  g_print ("; all %zu values: ours %.0f bits, pooled Huffman %.0f bits "
      "(%.1f %% more)", gi.n_values, 8.0 * gi.weight_bytes, gi.huffman_bits,
      100.0 * (gi.huffman_bits / (8.0 * gi.weight_bytes) - 1));
  if (gi.embed_bytes)
    g_print ("; embeddings %zu B (%s)", gi.embed_bytes,
        gi.embed_mode ? "differences" : "as they are");
  g_print ("\n");
  it->huff_bits += gi.huffman_bits;
  it->our_bits += 8.0 * gi.weight_bytes;
}

static int
cmd_info (int argc, char **argv)
{
  gsize len, pos = 0, damage_start = 0;
  guint8 *data;
  NervSplitter sp;
  InfoTotals it;
  gboolean damaged = FALSE;
  NervStatus damage_status = NERV_OK;
  guint64 group_bytes = 0, frame_bytes = 0, header_bytes = 0;
  int groups = 0, frames = 0, keys = 0;

  if (argc != 2) {
    g_printerr ("usage: nerv-tool info IN.nerv\n");
    return 2;
  }
  if (!(data = read_file (argv[1], &len)))
    return 1;
  memset (&it, 0, sizeof (it));
  nerv_splitter_init (&sp);
  /* packet by packet, with the rules every walker of a stream follows */
  while (pos < len) {
    NervSplit sk;
    const NervSplitResult res = nerv_splitter_next (&sp, data + pos,
        len - pos, pos, TRUE, &sk);
    const guint8 type = sk.pkt.type;

    if (res == NERV_SPLIT_DAMAGE) {
      /* one line for a run of damage */
      if (!damaged) {
        damage_start = pos;
        damage_status = sk.status;
      }
      damaged = TRUE;
      pos += sk.size;
      if (pos < len)
        continue;
    }
    if (damaged) {
      g_print ("byte %zu: %s, %zu bytes skipped\n", damage_start,
          nerv_status_string (damage_status), pos - damage_start);
      damaged = FALSE;
      if (res == NERV_SPLIT_DAMAGE)
        break;
    }
    if (res == NERV_SPLIT_DROP)
      g_print ("byte %zu: '%c' packet dropped: %s\n", pos,
          g_ascii_isprint (type) ? type : '?', nerv_status_string (sk.status));
    if (type == NERV_PACKET_STREAM) {
      if (res == NERV_SPLIT_RESET) {
        g_print ("stream header: %s\n", nerv_status_string (sk.status));
      } else {
        const NervStreamHeader *h = &sp.unit_header;
        print_stream_header (h);
        nerv_inspector_free (it.inspector);
        it.inspector = nerv_inspector_new (h);
      }
      header_bytes += sk.size;
    } else if (type == NERV_PACKET_GROUP) {
      if (res == NERV_SPLIT_PACKET)
        print_group (&it, &sk.pkt, sk.size);
      groups++;
      group_bytes += sk.size;
    } else if (type == NERV_PACKET_FRAME) {
      if (res == NERV_SPLIT_FRAME && sp.key)
        keys++;
      frames++;
      frame_bytes += sk.size;
    }
    pos += sk.size;
  }
  if (it.our_bits > 0)
    g_print ("weights of all groups: ours %.0f bits, pooled Huffman %.0f bits "
        "(Huffman %.1f %% larger)\n", it.our_bits, it.huff_bits,
        100.0 * (it.huff_bits / it.our_bits - 1));
  g_print ("total: %d groups (%" G_GUINT64_FORMAT " B), %d frames (%"
      G_GUINT64_FORMAT " B, %d key), headers %" G_GUINT64_FORMAT " B, file "
      "%zu B\n", groups, group_bytes, frames, frame_bytes, keys, header_bytes,
      len);
  print_work ();
  nerv_splitter_clear (&sp);
  nerv_inspector_free (it.inspector);
  g_free (data);
  return frames > 0 ? 0 : 1;
}

/* ---- psnr --------------------------------------------------------------- */

static int
cmd_psnr (int argc, char **argv)
{
  NervY4m a, b;
  GError *err = NULL;
  guint8 *fa, *fb;
  double se[3] = { 0 };
  int n = 0;

  if (argc != 3) {
    g_printerr ("usage: nerv-tool psnr A.y4m B.y4m\n");
    return 2;
  }
  if (!nerv_y4m_open (&a, argv[1], &err) || !nerv_y4m_open (&b, argv[2], &err)) {
    g_printerr ("nerv-tool: %s\n", err->message);
    return 1;
  }
  if (a.width != b.width || a.height != b.height || a.format != b.format) {
    g_printerr ("nerv-tool: the two files differ in size or format\n");
    return 1;
  }
  fa = g_malloc (a.frame_size);
  fb = g_malloc (b.frame_size);
  while (nerv_y4m_read_frame (&a, fa) && nerv_y4m_read_frame (&b, fb)) {
    double mse[NERV_MAX_PLANES];
    nerv_frame_mse (&a.fmt, fa, NERV_SAMPLES_U8, fb, NERV_SAMPLES_U8, mse);
    for (int c = 0; c < a.fmt.n_planes; c++)
      se[c] += mse[c];
    n++;
  }
  if (!n) {
    g_printerr ("nerv-tool: no frames to compare\n");
    return 1;
  }
  for (int c = 0; c < 3; c++)
    se[c] /= n;
  g_print ("psnr frames=%d psnr_y=%.4f psnr_u=%.4f psnr_v=%.4f psnr_yuv=%.4f\n",
      n, nerv_psnr (se[0]), a.fmt.n_planes > 1 ? nerv_psnr (se[1]) : 0,
      a.fmt.n_planes > 2 ? nerv_psnr (se[2]) : 0,
      nerv_psnr_weighted (&a.fmt, se));
  g_free (fa);
  g_free (fb);
  nerv_y4m_close (&a);
  nerv_y4m_close (&b);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc < 2) {
    g_printerr ("usage: nerv-tool encode|decode|info|psnr ... (--help after "
        "the command for its options)\n");
    return 2;
  }
  if (!strcmp (argv[1], "encode"))
    return cmd_encode (argc - 1, argv + 1);
  if (!strcmp (argv[1], "decode"))
    return cmd_decode (argc - 1, argv + 1);
  if (!strcmp (argv[1], "info"))
    return cmd_info (argc - 1, argv + 1);
  if (!strcmp (argv[1], "psnr"))
    return cmd_psnr (argc - 1, argv + 1);
  g_printerr ("nerv-tool: unknown command %s\n", argv[1]);
  return 2;
}
