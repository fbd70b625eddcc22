/* gst-nerv: docs/elements.md's property tables against the elements
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every property an element defines itself must have a row in the table
 * of its section ("## nervenc ..."), and every row must name a property
 * of the element (its own or a base class's) with the type, range and
 * default that the property's GParamSpec and a new element have:
 *
 *   | `name` | type, range | default | meaning |
 *
 * type, range: "uint, 2..16" (the bounds left out when they are the whole
 * type's), "boolean", "enum a, b, c" or "enum a..c" (first and last nick);
 * a unit or a remark may follow after a space. default: the value as
 * gst-inspect-1.0 prints it (an enum by its nick), a remark may follow.
 */
#include <gst/check/gstcheck.h>
#include <string.h>

/* the row of one documented property */
typedef struct
{
  gchar *name, *type, *def;
} DocRow;

static void
doc_row_free (gpointer p)
{
  DocRow *r = p;
  g_free (r->name);
  g_free (r->type);
  g_free (r->def);
  g_free (r);
}

/* The rows of the property table in @element's section of elements.md,
 * by name; NULL when the section is missing. */
static GHashTable *
read_doc_rows (const gchar * element)
{
  gchar *text = NULL;
  gchar **lines;
  gboolean in_section = FALSE, found = FALSE;
  GHashTable *rows = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
      doc_row_free);
  gchar *heading = g_strdup_printf ("## %s ", element);

  fail_unless (g_file_get_contents (NERV_ELEMENTS_MD, &text, NULL, NULL),
      "cannot read %s", NERV_ELEMENTS_MD);
  lines = g_strsplit (text, "\n", -1);
  for (gchar ** l = lines; *l; l++) {
    gchar **cells;
    DocRow *r;

    if (g_str_has_prefix (*l, "## ")) {
      in_section = g_str_has_prefix (*l, heading);
      found |= in_section;
      continue;
    }
    if (!in_section || !g_str_has_prefix (*l, "| `"))
      continue;
    /* "", name, type, default, meaning, "" */
    cells = g_strsplit (*l, "|", -1);
    fail_unless (g_strv_length (cells) >= 5, "%s: not a property row: %s",
        element, *l);
    r = g_new0 (DocRow, 1);
    r->name = g_strdup (g_strstrip (cells[1]));
    fail_unless (strlen (r->name) > 2 && r->name[strlen (r->name) - 1] == '`',
        "%s: a property name in backquotes: %s", element, *l);
    memmove (r->name, r->name + 1, strlen (r->name) - 2);
    r->name[strlen (r->name) - 2] = '\0';
    r->type = g_strdup (g_strstrip (cells[2]));
    r->def = g_strdup (g_strstrip (cells[3]));
    g_strfreev (cells);
    fail_if (g_hash_table_contains (rows, r->name), "%s: `%s` twice",
        element, r->name);
    g_hash_table_insert (rows, r->name, r);
  }
  g_strfreev (lines);
  g_free (text);
  g_free (heading);
  if (!found) {
    g_hash_table_unref (rows);
    return NULL;
  }
  return rows;
}

/* a documented cell says @want, perhaps followed by a space and more */
static gboolean
cell_says (const gchar * cell, const gchar * want)
{
  const gsize n = strlen (want);
  return strncmp (cell, want, n) == 0 && (cell[n] == '\0' || cell[n] == ' ');
}

/* the type and range column(s) that describe @p */
static GPtrArray *
type_forms (GParamSpec * p)
{
  GPtrArray *forms = g_ptr_array_new_with_free_func (g_free);
  const GType t = G_PARAM_SPEC_VALUE_TYPE (p);

#define RANGE(kind, spec, full_min, full_max, fmt)                        \
  do {                                                                    \
    spec *s = (spec *) p;                                                 \
    if (s->minimum == (full_min) && s->maximum == (full_max))             \
      g_ptr_array_add (forms, g_strdup (kind));                           \
    else                                                                  \
      g_ptr_array_add (forms, g_strdup_printf (kind ", " fmt ".." fmt,    \
              s->minimum, s->maximum));                                   \
  } while (0)

  if (t == G_TYPE_UINT)
    RANGE ("uint", GParamSpecUInt, 0, G_MAXUINT, "%u");
  else if (t == G_TYPE_INT)
    RANGE ("int", GParamSpecInt, G_MININT, G_MAXINT, "%d");
  else if (t == G_TYPE_UINT64)
    RANGE ("uint64", GParamSpecUInt64, 0, G_MAXUINT64, "%" G_GUINT64_FORMAT);
  else if (t == G_TYPE_INT64)
    RANGE ("int64", GParamSpecInt64, G_MININT64, G_MAXINT64,
        "%" G_GINT64_FORMAT);
  else if (t == G_TYPE_DOUBLE)
    RANGE ("double", GParamSpecDouble, -G_MAXDOUBLE, G_MAXDOUBLE, "%g");
  else if (t == G_TYPE_BOOLEAN)
    g_ptr_array_add (forms, g_strdup ("boolean"));
  else if (t == G_TYPE_STRING)
    g_ptr_array_add (forms, g_strdup ("string"));
  else if (G_TYPE_IS_ENUM (t)) {
    GEnumClass *ec = G_PARAM_SPEC_ENUM (p)->enum_class;
    GString *all = g_string_new ("enum ");
    for (guint i = 0; i < ec->n_values; i++)
      g_string_append_printf (all, "%s%s", i ? ", " : "",
          ec->values[i].value_nick);
    g_ptr_array_add (forms, g_string_free (all, FALSE));
    g_ptr_array_add (forms, g_strdup_printf ("enum %s..%s",
            ec->values[0].value_nick, ec->values[ec->n_values - 1].value_nick));
  } else {
    g_ptr_array_add (forms, g_strdup (g_type_name (t)));
  }
#undef RANGE
  return forms;
}

/* a value as the default column writes it */
static gchar *
value_text (const GValue * v)
{
  if (G_VALUE_HOLDS_ENUM (v)) {
    GEnumClass *ec = g_type_class_ref (G_VALUE_TYPE (v));
    GEnumValue *ev = g_enum_get_value (ec, g_value_get_enum (v));
    gchar *s = g_strdup (ev ? ev->value_nick : "?");
    g_type_class_unref (ec);
    return s;
  }
  if (G_VALUE_HOLDS_BOOLEAN (v))
    return g_strdup (g_value_get_boolean (v) ? "true" : "false");
  if (G_VALUE_HOLDS_DOUBLE (v))
    return g_strdup_printf ("%g", g_value_get_double (v));
  if (G_VALUE_HOLDS_STRING (v))
    return g_strdup (g_value_get_string (v) ? g_value_get_string (v) : "none");
  return g_strdup_value_contents (v);
}

/* Compares @element's properties with its documented rows; appends each
 * difference to @errors. */
static void
check_element (const gchar * element, GString * errors)
{
  GstElement *e = gst_element_factory_make (element, NULL);
  GHashTable *rows = read_doc_rows (element);
  GParamSpec **props;
  guint n_props;
  GHashTableIter it;
  DocRow *r;

  fail_unless (e != NULL, "no element %s", element);
  if (!rows) {
    g_string_append_printf (errors, "%s: no \"## %s\" section\n", element,
        element);
    gst_object_unref (e);
    return;
  }

  /* every property the element defines is documented */
  props = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n_props);
  for (guint i = 0; i < n_props; i++)
    if (props[i]->owner_type == G_OBJECT_TYPE (e)
        && !g_hash_table_contains (rows, props[i]->name))
      g_string_append_printf (errors, "%s: `%s` is not documented\n",
          element, props[i]->name);
  g_free (props);

  /* every documented property is as documented */
  g_hash_table_iter_init (&it, rows);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) & r)) {
    GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
        r->name);
    GPtrArray *forms;
    gboolean type_ok = FALSE;
    GValue v = G_VALUE_INIT;
    gchar *def, *now;

    if (!p) {
      g_string_append_printf (errors, "%s: `%s` is documented but does not "
          "exist\n", element, r->name);
      continue;
    }
    forms = type_forms (p);
    for (guint i = 0; i < forms->len; i++)
      type_ok |= cell_says (r->type, g_ptr_array_index (forms, i));
    if (!type_ok)
      g_string_append_printf (errors, "%s: `%s` type, range \"%s\", the "
          "element says \"%s\"\n", element, r->name, r->type,
          (gchar *) g_ptr_array_index (forms, 0));
    g_ptr_array_unref (forms);

    /* the default of the spec, and what a new element holds */
    def = value_text (g_param_spec_get_default_value (p));
    g_value_init (&v, G_PARAM_SPEC_VALUE_TYPE (p));
    g_object_get_property (G_OBJECT (e), r->name, &v);
    now = value_text (&v);
    g_value_unset (&v);
    if (!cell_says (r->def, def) || !cell_says (r->def, now))
      g_string_append_printf (errors, "%s: `%s` default \"%s\", the element "
          "says \"%s\" (a new one holds \"%s\")\n", element, r->name, r->def,
          def, now);
    g_free (def);
    g_free (now);
  }
  g_hash_table_unref (rows);
  gst_object_unref (e);
}

GST_START_TEST (test_property_tables)
{
  static const gchar *elements[] = { "nervenc", "nervdec", "nervparse" };
  GString *errors = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (elements); i++)
    check_element (elements[i], errors);
  fail_unless (errors->len == 0, "docs/elements.md differs from the "
      "elements:\n%s", errors->str);
  g_string_free (errors, TRUE);
}

GST_END_TEST;

static Suite *
docs_suite (void)
{
  Suite *s = suite_create ("docs");
  TCase *tc = tcase_create ("elements.md");
  tcase_add_test (tc, test_property_tables);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (docs);
