/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* worker.h - the bounded executor. See worker.c. */
#pragma once

#include "macro.h"

struct worker;

typedef void (*worker_fn)(void *arg);
typedef void (*worker_free_fn)(void *arg);

/* Starts LIMIT threads. Returns NULL only on OOM (aborts) or when a thread
 * cannot be created (errno set). */
struct worker *worker_new(unsigned limit);
/* Stops taking jobs, drops queued ones (FREE_ARG is called for each), waits
 * for the running ones to return. Accepts NULL. */
struct worker *worker_free(struct worker *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct worker *, worker_free);

/* Queues FN(ARG); FREE_ARG(ARG) runs after it (or when dropped). FIFO.
 * Returns 0, or -ESHUTDOWN while stopping (FREE_ARG is then called). */
int worker_submit(struct worker *w, worker_fn fn, void *arg, worker_free_fn free_arg);

/* Changes the number of jobs that may run at once (SIGHUP). */
void worker_set_limit(struct worker *w, unsigned limit);

/* Running and queued job counts, for metrics. */
void worker_get_counts(struct worker *w, unsigned *ret_running, unsigned *ret_queued);

/* Blocks until nothing is queued or running (tests, shutdown). */
void worker_wait_idle(struct worker *w);
