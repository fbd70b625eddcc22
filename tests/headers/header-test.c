/* gst-nerv: header test
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Compiled once for each common/ header, named by NERV_TEST_HEADER (as
 * dav1d's header tests): a header must compile on its own, and twice.
 */
#include NERV_TEST_HEADER
#include NERV_TEST_HEADER

int
main (void)
{
  return 0;
}
