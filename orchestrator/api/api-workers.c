/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-workers.c - the threads that run the REST handlers
 *
 * A bounded set of threads apart from libmicrohttpd's, so that no handler
 * ever runs in the thread that moves the bytes of every connection.
 *
 * DESIGN
 *   api.c suspends a connection whose request is complete
 *   (MHD_suspend_connection) and queues it here; one of a fixed number of
 *   threads runs its handler and api.c resumes the connection, whose event
 *   thread then sends the answer. A handler that blocks (the store busy for
 *   its 5 s timeout, libvirt answering late, an image being hashed) holds
 *   one of these threads, never the event thread.
 *   A handler that must wait for something that is not there yet (an
 *   acquire waiting up to acquire_timeout for a desktop) does not keep its
 *   thread either: its run returns false and the job goes to the waiting
 *   list; one waiter thread blocks in the wait function (the reconciler's
 *   "a desktop became ready", at most 250 ms) and then puts every waiting
 *   job back in the queue, where it runs again. So a hundred waiting
 *   acquires cost no thread, and a heartbeat is never queued behind them:
 *   fresh jobs always go before retried ones.
 *   The queue of fresh jobs is bounded (the caller answers 503 when it is
 *   full); retried jobs are bounded by the connections that carry them.
 *   Stopping: every waiting job is queued once more with `cancelled` set
 *   (its handler must answer now), the threads run the queue dry and are
 *   joined; afterwards no job is left unanswered, which libmicrohttpd
 *   needs before it may stop (no suspended connection left).
 *   One mutex guards the three lists and the flags; a job's run happens
 *   outside it. Never logs, never touches a job after its run finished it.
 */
#include "config.h"

#include <pthread.h>

#include "api-workers.h"
#include "util.h"

#define API_WAIT_MS 250

/* A FIFO of jobs linked through job->next. */
struct job_list {
    struct api_job *head, *tail;
};

struct api_workers {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a job was queued, or stopping */
    pthread_cond_t waiter;   /* a job started waiting, or stopping */
    struct job_list fresh;   /* new requests, first served */
    struct job_list retry;   /* jobs that waited, run when no fresh one is queued */
    struct job_list waiting; /* jobs whose run asked to be run again later */
    unsigned n_fresh, max_fresh;
    bool stopping;           /* no new job; threads leave when the queue is empty */
    bool cancel_all;         /* waiting jobs run with cancelled set from now on */
    api_job_run_fn run;
    api_wait_fn wait;
    void *userdata;
    pthread_t *threads;
    unsigned n_threads;      /* started */
    pthread_t waiter_thread;
    bool waiter_started;
};

static void
job_list_push(struct job_list *l, struct api_job *job)
{
    job->next = NULL;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
}

static struct api_job *
job_list_pop(struct job_list *l)
{
    struct api_job *job = l->head;

    if (!job)
        return NULL;
    l->head = job->next;
    if (!l->head)
        l->tail = NULL;
    job->next = NULL;
    return job;
}

/* Moves every waiting job to the retry queue; CANCEL marks them. Lock held. */
static void
requeue_waiting_locked(struct api_workers *w, bool cancel)
{
    struct api_job *job;

    while ((job = job_list_pop(&w->waiting))) {
        if (cancel)
            job->cancelled = true;
        job_list_push(&w->retry, job);
    }
    pthread_cond_broadcast(&w->work);
}

static void *
worker_main(void *p)
{
    struct api_workers *w = p;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct api_job *job = job_list_pop(&w->fresh);
        bool done;

        if (job) {
            w->n_fresh--;
        } else {
            job = job_list_pop(&w->retry);
        }
        if (!job) {
            if (w->stopping)
                break;
            pthread_cond_wait(&w->work, &w->lock);
            continue;
        }
        pthread_mutex_unlock(&w->lock);
        done = w->run(job, w->userdata);
        pthread_mutex_lock(&w->lock);
        if (done)
            continue;
        if (w->cancel_all) {
            /* nothing will wake it any more: one more run, cancelled */
            job->cancelled = true;
            job_list_push(&w->retry, job);
        } else {
            job_list_push(&w->waiting, job);
            pthread_cond_signal(&w->waiter);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void *
waiter_main(void *p)
{
    struct api_workers *w = p;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        bool go_on;

        while (!w->stopping && !w->waiting.head)
            pthread_cond_wait(&w->waiter, &w->lock);
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->lock);
        go_on = w->wait(w->userdata, API_WAIT_MS);
        pthread_mutex_lock(&w->lock);
        if (!go_on)
            w->cancel_all = true;
        requeue_waiting_locked(w, w->cancel_all);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int
api_workers_new(unsigned n_threads, unsigned max_queued, api_job_run_fn run, api_wait_fn wait,
                void *userdata, struct api_workers **ret)
{
    struct api_workers *w;
    int r;

    if (n_threads == 0 || max_queued == 0 || !run || !wait)
        return -EINVAL;
    w = xmalloc0(sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->waiter, NULL);
    w->max_fresh = max_queued;
    w->run = run;
    w->wait = wait;
    w->userdata = userdata;
    w->threads = xmalloc0(sizeof(pthread_t) * n_threads);
    for (unsigned i = 0; i < n_threads; i++) {
        r = pthread_create(&w->threads[i], NULL, worker_main, w);
        if (r != 0) {
            api_workers_free(w);
            return -r;
        }
        w->n_threads++;
    }
    r = pthread_create(&w->waiter_thread, NULL, waiter_main, w);
    if (r != 0) {
        api_workers_free(w);
        return -r;
    }
    w->waiter_started = true;
    *ret = w;
    return 0;
}

bool
api_workers_has_room(struct api_workers *w)
{
    bool room;

    pthread_mutex_lock(&w->lock);
    room = !w->stopping && w->n_fresh < w->max_fresh;
    pthread_mutex_unlock(&w->lock);
    return room;
}

int
api_workers_submit(struct api_workers *w, struct api_job *job)
{
    int r = 0;

    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        r = -ESHUTDOWN;
    } else if (w->n_fresh >= w->max_fresh) {
        r = -EAGAIN;
    } else {
        job->cancelled = false;
        job_list_push(&w->fresh, job);
        w->n_fresh++;
        pthread_cond_signal(&w->work);
    }
    pthread_mutex_unlock(&w->lock);
    return r;
}

struct api_workers *
api_workers_free(struct api_workers *w)
{
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    w->cancel_all = true;
    requeue_waiting_locked(w, true);
    pthread_cond_broadcast(&w->waiter);
    pthread_mutex_unlock(&w->lock);
    if (w->waiter_started)
        pthread_join(w->waiter_thread, NULL);
    for (unsigned i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    /* the threads left only with every queue empty */
    pthread_cond_destroy(&w->waiter);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
    return NULL;
}
