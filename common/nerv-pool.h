/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A small persistent thread pool: nerv_pool_run() hands n_tasks
 * independent tasks to the workers and the calling thread, and returns when
 * all are done. Workers spin briefly before sleeping, since a training step
 * of a small model issues many short jobs.
 */
#ifndef NERV_POOL_H
#define NERV_POOL_H

#include "nerv-common.h"

G_BEGIN_DECLS

typedef struct _NervPool NervPool;

/* task in [0, n_tasks), thread in [0, n_threads) (0 = the caller) */
typedef void (*NervTaskFunc) (gpointer ctx, int task, int thread);

/* n_threads <= 0: one per processor. Includes the calling thread. */
NervPool *nerv_pool_new (int n_threads);
void nerv_pool_free (NervPool * pool);
int nerv_pool_n_threads (const NervPool * pool);
void nerv_pool_run (NervPool * pool, NervTaskFunc func, gpointer ctx, int n_tasks);

G_END_DECLS
#endif
