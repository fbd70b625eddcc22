/* gst-nerv: the main() of the core's Check test programs
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The element tests use GStreamer's GST_CHECK_MAIN(); the core tests have
 * no GStreamer and end with NERV_CHECK_MAIN (name), name_suite() building
 * their Suite.
 */
#ifndef NERV_CHECK_H
#define NERV_CHECK_H

#include <check.h>

/* Runs @suite; @before, when not NULL, is called with the runner first
 * (to read its fork mode, or to build cases the tests share). Returns
 * main()'s exit status: 0 when every test passed. */
static inline int
nerv_check_run (Suite * suite, void (*before) (SRunner * sr))
{
  SRunner *sr = srunner_create (suite);
  int failed;

  if (before)
    before (sr);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? 1 : 0;
}

#define NERV_CHECK_MAIN_WITH_SETUP(name, before)                 \
  int main (void) { return nerv_check_run (name##_suite (), before); }
#define NERV_CHECK_MAIN(name) NERV_CHECK_MAIN_WITH_SETUP (name, NULL)

#endif
