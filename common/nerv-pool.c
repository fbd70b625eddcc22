/* gst-nerv: neural video codec core
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "nerv-pool.h"

#define SPIN_ITERS 20000

struct _NervPool {
  int n_threads;
  GThread **threads;
  GMutex lock;
  GCond wake;
  GCond done;
  gint generation;              /* bumped for each job */
  gboolean quit;

  /* the current job */
  NervTaskFunc func;
  gpointer ctx;
  int n_tasks;
  gint next_task;
  gint busy;                    /* workers still inside the current job */
};

typedef struct {
  NervPool *pool;
  int index;
} WorkerArg;

static void
run_tasks (NervPool * pool, int thread)
{
  int t;
  while ((t = g_atomic_int_add (&pool->next_task, 1)) < pool->n_tasks)
    pool->func (pool->ctx, t, thread);
}

static gpointer
worker_main (gpointer data)
{
  WorkerArg *arg = data;
  NervPool *pool = arg->pool;
  const int index = arg->index;
  gint seen = 0;

  g_free (arg);
  for (;;) {
    int spins = 0;
    while (g_atomic_int_get (&pool->generation) == seen && spins < SPIN_ITERS) {
      spins++;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause ();
#endif
    }
    if (g_atomic_int_get (&pool->generation) == seen) {
      g_mutex_lock (&pool->lock);
      while (pool->generation == seen && !pool->quit)
        g_cond_wait (&pool->wake, &pool->lock);
      g_mutex_unlock (&pool->lock);
    }
    if (g_atomic_int_get (&pool->quit))
      break;
    seen = g_atomic_int_get (&pool->generation);
    run_tasks (pool, index);
    if (g_atomic_int_dec_and_test (&pool->busy)) {
      g_mutex_lock (&pool->lock);
      g_cond_signal (&pool->done);
      g_mutex_unlock (&pool->lock);
    }
  }
  return NULL;
}

NervPool *
nerv_pool_new (int n_threads)
{
  NervPool *pool = g_new0 (NervPool, 1);

  if (n_threads <= 0)
    n_threads = (int) g_get_num_processors ();
  n_threads = CLAMP (n_threads, 1, 256);
  pool->n_threads = n_threads;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->wake);
  g_cond_init (&pool->done);
  pool->threads = g_new0 (GThread *, n_threads);
  for (int i = 1; i < n_threads; i++) {
    WorkerArg *arg = g_new (WorkerArg, 1);
    arg->pool = pool;
    arg->index = i;
    pool->threads[i] = g_thread_new ("nerv-worker", worker_main, arg);
  }
  return pool;
}

void
nerv_pool_free (NervPool * pool)
{
  if (!pool)
    return;
  g_mutex_lock (&pool->lock);
  g_atomic_int_set (&pool->quit, TRUE);
  g_atomic_int_inc (&pool->generation);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  for (int i = 1; i < pool->n_threads; i++)
    g_thread_join (pool->threads[i]);
  g_free (pool->threads);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->wake);
  g_cond_clear (&pool->done);
  g_free (pool);
}

int
nerv_pool_n_threads (const NervPool * pool)
{
  return pool ? pool->n_threads : 1;
}

void
nerv_pool_run (NervPool * pool, NervTaskFunc func, gpointer ctx, int n_tasks)
{
  if (n_tasks <= 0)
    return;
  if (!pool || pool->n_threads == 1 || n_tasks == 1) {
    for (int t = 0; t < n_tasks; t++)
      func (ctx, t, 0);
    return;
  }

  g_mutex_lock (&pool->lock);
  pool->func = func;
  pool->ctx = ctx;
  pool->n_tasks = n_tasks;
  g_atomic_int_set (&pool->next_task, 0);
  g_atomic_int_set (&pool->busy, pool->n_threads - 1);
  g_atomic_int_inc (&pool->generation);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);

  run_tasks (pool, 0);

  for (int spins = 0; g_atomic_int_get (&pool->busy) > 0 && spins < SPIN_ITERS; spins++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause ();
#endif
  }
  if (g_atomic_int_get (&pool->busy) > 0) {
    g_mutex_lock (&pool->lock);
    while (g_atomic_int_get (&pool->busy) > 0)
      g_cond_wait (&pool->done, &pool->lock);
    g_mutex_unlock (&pool->lock);
  }
}
