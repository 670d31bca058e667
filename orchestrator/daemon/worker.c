/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* worker.c - the bounded executor
 *
 * DESIGN
 *   A FIFO queue of jobs and `limit` threads taking them: at most `limit`
 *   jobs run at once. That bound is deskpool's boot-storm protection: a
 *   job that clones and boots a desktop holds its thread until the guest
 *   is ready, so no more than max_concurrent desktops boot on the host at
 *   the same time. Raising the limit starts threads; lowering it lets the
 *   surplus threads exit as they come back idle.
 *   The worker knows nothing about desktops; reconcile.c submits jobs and
 *   tracks which desktop each one is for.
 */
#include "config.h"

#include <pthread.h>

#include "worker.h"

struct worker_job {
    worker_fn fn;
    void *arg;
    worker_free_fn free_arg;
    struct worker_job *next;
};

struct worker {
    pthread_mutex_t lock;  /* guards everything below; a leaf: nothing is taken under it */
    pthread_cond_t wake;   /* a job was queued, or stopping */
    pthread_cond_t idle;   /* a job finished / a thread exited */
    struct worker_job *head, *tail;
    unsigned limit;        /* wanted number of threads */
    unsigned threads;      /* live threads */
    unsigned running;      /* jobs in progress */
    unsigned queued;
    bool stopping;
};

static void
worker_job_free(struct worker_job *j)
{
    if (j->free_arg)
        j->free_arg(j->arg);
    free(j);
}

static void *
worker_thread(void *userdata)
{
    struct worker *w = userdata;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct worker_job *j;

        while (!w->stopping && !w->head && w->threads <= w->limit)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->stopping || w->threads > w->limit)
            break;
        j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        w->running++;
        pthread_mutex_unlock(&w->lock);

        j->fn(j->arg);
        worker_job_free(j);

        pthread_mutex_lock(&w->lock);
        w->running--;
        pthread_cond_broadcast(&w->idle);
    }
    w->threads--;
    pthread_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Called with the lock held. */
static int
worker_spawn_locked(struct worker *w)
{
    pthread_attr_t attr;
    pthread_t t;
    int r;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &attr, worker_thread, w);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return -r;
    w->threads++;
    return 0;
}

struct worker *
worker_new(unsigned limit)
{
    struct worker *w = xmalloc0(sizeof(*w));

    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->idle, NULL);
    w->limit = MAX(limit, 1u);
    pthread_mutex_lock(&w->lock);
    while (w->threads < w->limit) {
        int r = worker_spawn_locked(w);

        if (r < 0) {
            pthread_mutex_unlock(&w->lock);
            worker_free(w);
            errno = -r;
            return NULL;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return w;
}

struct worker *
worker_free(struct worker *w)
{
    struct worker_job *j;

    if (!w)
        return NULL;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    j = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_cond_broadcast(&w->wake);
    while (w->threads > 0)
        pthread_cond_wait(&w->idle, &w->lock);
    pthread_mutex_unlock(&w->lock);
    while (j) {
        struct worker_job *next = j->next;

        worker_job_free(j);
        j = next;
    }
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}

int
worker_submit(struct worker *w, worker_fn fn, void *arg, worker_free_fn free_arg)
{
    struct worker_job *j = xmalloc0(sizeof(*j));

    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        worker_job_free(j);
        return -ESHUTDOWN;
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->queued++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void
worker_set_limit(struct worker *w, unsigned limit)
{
    pthread_mutex_lock(&w->lock);
    w->limit = MAX(limit, 1u);
    while (w->threads < w->limit)
        if (worker_spawn_locked(w) < 0)
            break;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void
worker_get_counts(struct worker *w, unsigned *ret_running, unsigned *ret_queued)
{
    pthread_mutex_lock(&w->lock);
    *ret_running = w->running;
    *ret_queued = w->queued;
    pthread_mutex_unlock(&w->lock);
}

void
worker_wait_idle(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->running > 0 || w->queued > 0)
        pthread_cond_wait(&w->idle, &w->lock);
    pthread_mutex_unlock(&w->lock);
}
