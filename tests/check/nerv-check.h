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
#include <glib.h>
#include <math.h>

static inline double
nerv_dot (const float *a, const float *b, size_t n)
{
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double) a[i] * b[i];
  return s;
}

/* A scalar loss of an op, computed from the op's current inputs. */
typedef struct
{
  double (*loss) (gpointer ctx);
  gpointer ctx;
  double eps;                   /* step of the central difference */
  double scale;                 /* of the gradients, for the tolerance */
} GradProbe;

/* The central finite difference of the probe's loss in p[i], for i = 0,
 * step, 2 step, ... below n, against the backward pass's grad[i] - grad0
 * (grad0: the value the gradient accumulated onto), with a tolerance for
 * float32 forward passes. Every p[i] is restored. */
static inline void
check_grad (const GradProbe * g, const char *what, float *p, size_t n,
    size_t step, const float *grad, double grad0)
{
  for (size_t i = 0; i < n; i += step) {
    const float keep = p[i];
    double lp, lm, num, ana, tol;
    p[i] = keep + g->eps;
    lp = g->loss (g->ctx);
    p[i] = keep - g->eps;
    lm = g->loss (g->ctx);
    p[i] = keep;
    num = (lp - lm) / (2 * g->eps);
    ana = grad[i] - grad0;
    tol = 2e-2 * fabs (num) + 2e-3 * g->scale + 1e-4;
    ck_assert_msg (fabs (num - ana) <= tol,
        "%s[%zu]: finite difference %.6g, backward %.6g (tol %.3g)", what, i,
        num, ana, tol);
  }
}


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
