/* gst-nerv: the main() of a fuzz target built without libFuzzer
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: fuzz-TARGET [-flag...] PATH...
 * Runs LLVMFuzzerTestOneInput() once on every file named, and on every
 * file in every directory named (not recursively, in name order), so the
 * normal test run replays the seed corpus through each target. Arguments
 * that start with '-' are libFuzzer flags (the tests pass -runs=0, which
 * makes a libFuzzer build replay its corpus too) and are ignored here.
 * A target that crashes, trips a sanitizer or traps fails the test; so
 * does a replay that found no input at all.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

/* one input, in a buffer of exactly its size so ASan sees any overread */
static gboolean
replay_file (const char *path)
{
  GError *err = NULL;
  gchar *contents;
  gsize len;
  guint8 *data;

  if (!g_file_get_contents (path, &contents, &len, &err)) {
    fprintf (stderr, "%s\n", err->message);
    g_error_free (err);
    return FALSE;
  }
  data = g_malloc (MAX (len, 1));
  memcpy (data, contents, len);
  g_free (contents);
  LLVMFuzzerTestOneInput (data, len);
  g_free (data);
  return TRUE;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* every file of a directory; returns how many, or -1 on an error */
static int
replay_dir (const char *dir)
{
  GError *err = NULL;
  GDir *d = g_dir_open (dir, 0, &err);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  int n = 0;

  if (!d) {
    fprintf (stderr, "%s\n", err->message);
    g_error_free (err);
    g_ptr_array_unref (paths);
    return -1;
  }
  while ((name = g_dir_read_name (d)) != NULL) {
    char *path = g_build_filename (dir, name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add (paths, path);
    else
      g_free (path);
  }
  g_dir_close (d);
  g_ptr_array_sort (paths, compare_names);
  for (guint i = 0; i < paths->len && n >= 0; i++)
    n = replay_file (g_ptr_array_index (paths, i)) ? n + 1 : -1;
  g_ptr_array_unref (paths);
  return n;
}

int
main (int argc, char **argv)
{
  int total = 0;

  for (int i = 1; i < argc; i++) {
    int n;
    if (argv[i][0] == '-')
      continue;
    if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
      n = replay_dir (argv[i]);
    else
      n = replay_file (argv[i]) ? 1 : -1;
    if (n < 0)
      return 1;
    total += n;
  }
  if (total == 0) {
    fprintf (stderr, "usage: %s [-flag...] FILE|DIR...: no input found\n",
        argv[0]);
    return 1;
  }
  printf ("%s: %d inputs replayed\n", argv[0], total);
  return 0;
}
