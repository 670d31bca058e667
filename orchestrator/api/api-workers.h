/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-workers.h - the threads that run the REST handlers. See api-workers.c. */
#pragma once

#include "macro.h"

/* One unit of work; embedded in the caller's request (container_of). */
struct api_job {
    struct api_job *next; /* queue link: the workers' own */
    bool cancelled;       /* the server is stopping: the job must finish on this run */
};

/* Runs JOB once. Returns true when it is finished (the workers never touch
 * it again), false when it must run again later (it waits for something). */
typedef bool (*api_job_run_fn)(struct api_job *job, void *userdata);
/* Blocks until something a waiting job may want happened, or TIMEOUT_MS
 * passed. Returns false once nothing will ever happen again (shutdown). */
typedef bool (*api_wait_fn)(void *userdata, unsigned timeout_ms);

struct api_workers;

/* Starts N_THREADS threads that run queued jobs with RUN, and one that
 * puts waiting jobs back in the queue whenever WAIT returns. At most
 * MAX_QUEUED fresh jobs wait for a thread. Returns 0 or a negative errno
 * (threads could not be created; nothing is left running). */
int api_workers_new(unsigned n_threads, unsigned max_queued, api_job_run_fn run,
                    api_wait_fn wait, void *userdata, struct api_workers **ret);
/* True when a fresh job would be taken now. The caller that submits must
 * hold one lock over this and api_workers_submit() (there is no other
 * way to fill the queue). Cannot fail. */
bool api_workers_has_room(struct api_workers *w);
/* Queues JOB before any job that waits to be retried. Returns 0, -EAGAIN
 * when the queue is full, -ESHUTDOWN once stopping. Does not log. */
int api_workers_submit(struct api_workers *w, struct api_job *job);
/* Stops: every waiting job runs once more with job->cancelled set, the
 * queue runs dry, the threads are joined. Accepts NULL; returns NULL. */
struct api_workers *api_workers_free(struct api_workers *w);
