/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-priv.h - what hv.c, hv-conn.c, hv-storage.c, hv-probe.c and hv-clone.c
 * share. See hv.c.
 *
 * Not for other modules: they use hv.h and never see a libvirt type.
 */
#pragma once

#include <pthread.h>

#include <libvirt/libvirt.h>

#include "hv.h"

struct hv_link;

/* One libvirt URI; its connection may come and go (hv-conn.c). */
struct hv {
    unsigned n_ref;                 /* atomic */
    char *uri;                      /* set once at hv_open() */
    pthread_mutex_t lock;           /* guards everything below; never held across
                                     * a libvirt call */
    struct hv_link *link;           /* the current connection and its callbacks */
    hv_event_cb cb;                 /* the lifecycle callback, for every link */
    void *userdata;
    unsigned reconnects;
    uint64_t last_reconnect_try;    /* monotonic usec */
    char *slow_what;                /* the last libvirt call over HV_SLOW_USEC */
    uint64_t slow_usec;
    unsigned slow_count;
};

/* The current connection with a reference of the caller's (release it with
 * virConnectClose(), or the cleanup below): 0, or -ENOTCONN (with a
 * message) while it is down. */
int hv_conn_get(struct hv *h, virConnectPtr *ret, char **reterr_msg);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virConnectPtr, virConnectClose, hv_conn_putp)

/* --- the domain watch (hv-watch.c); one per link --- */
struct hv_watch;
struct hv_watch *hv_watch_new(void);
struct hv_watch *hv_watch_ref(struct hv_watch *w);
void hv_watch_unref(struct hv_watch *w);
/* Marks domain NAME as changed (EVENT: libvirt said so; else our own
 * call did). Names outside the watched prefix are ignored. NULL W: no-op. */
void hv_watch_mark(struct hv_watch *w, const char *name, bool event);
/* Adds FROM's counters to TO's (a reconnect keeps them monotonic). */
void hv_watch_carry_stats(struct hv_watch *to, struct hv_watch *from);
/* The current link's watch with a reference of the caller's, also while
 * the link is closed; NULL before the first connection. */
struct hv_watch *hv_watch_get(struct hv *h);
/* hv_conn_get() and the same link's watch: 0, or -ENOTCONN. */
int hv_conn_get_watch(struct hv *h, virConnectPtr *ret_conn, struct hv_watch **ret_watch);

/* Our own hv_* calls that change domain NAME (define, start, stop,
 * undefine, save, restore, revert, suspend, resume) call this before
 * returning, success or not: the next watched listing reads NAME again,
 * whether or not libvirt's event has arrived by then. */
void hv_touch(struct hv *h, const char *name);

struct hv_touch_scope {
    struct hv *h;
    const char *name;
};
static inline void
hv_touch_scope_end(struct hv_touch_scope *t)
{
    hv_touch(t->h, t->name);
}
/* Touches NAME when the enclosing function returns, on every path. */
#define HV_TOUCH_ON_RETURN(h, name) \
    _cleanup_(hv_touch_scope_end) _unused_ struct hv_touch_scope hv_touch_scope_ = \
        { (h), (name) }

/* Records that a libvirt call WHAT, started at START_USEC (now_usec()),
 * took too long, for hv_get_slow(). */
void hv_note_duration(struct hv *h, const char *what, uint64_t start_usec);

/* libvirt's default error handler prints to stderr; this one is silent. */
void hv_error_silence(void *userdata, virErrorPtr e);

/* The libvirt destructors, wrapped once. */
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virDomainPtr, virDomainFree, hv_domain_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virStoragePoolPtr, virStoragePoolFree, hv_pool_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virStorageVolPtr, virStorageVolFree, hv_vol_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virDomainSnapshotPtr, virDomainSnapshotFree, hv_snapshot_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virStreamPtr, virStreamFree, hv_stream_freep)

/* The negative errno for a libvirt error (the one table, in hv.c). */
int hv_errno_from_error(const virError *e);

/* Takes this thread's last libvirt error: returns its negative errno (-EIO
 * when there is none) and, when RETERR_MSG is not NULL, stores a copy of
 * its message there (replacing nothing if one is already set: the first
 * error is the interesting one). Resets the thread's error. */
int hv_last_error(char **reterr_msg);

/* Stores a new formatted message in *RETERR_MSG (if not NULL) and returns
 * ERR (a negative errno). */
int hv_fail(int err, char **reterr_msg, const char *fmt, ...) _printf_(3, 4);

/* True when S can go into XML text or a quoted attribute as is (none of
 * < > & ' "). deskpool names never need escaping; paths are checked. */
bool hv_xml_safe(const char *s);

/* Unescapes the five predefined XML entities of S in place (hv-storage.c). */
void hv_xml_unescape(char *s);

/* Looks up domain NAME: 0, -ENOENT, -ENOTCONN or another negative errno. */
int hv_domain_lookup(struct hv *h, const char *name, virDomainPtr *ret, char **reterr_msg);
/* Hard power-off of DOM, on whatever connection it came from: 0 also when
 * it was not running or stopped meanwhile. Does not log. */
int hv_domain_destroy_dom(virDomainPtr dom);
