/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv.h - the hypervisor layer: the only code that calls libvirt.
 * See hv-conn.c (the connection: loss, reconnection, events), hv.c
 * (errors, domains, snapshots, agent), hv-probe.c (the KVM/TCG probe),
 * hv-storage.c (storage pools and overlay volumes) and hv-clone.c
 * (instant clones: one parent's saved memory state restored as many
 * domains).
 *
 * Errors: negative errno from the virErrorNumber -> errno table in hv.c
 * (no domain/volume -> -ENOENT, already exists -> -EEXIST, agent not up ->
 * -EAGAIN, operation invalid in this state -> -EBUSY, timeout -> -ETIMEDOUT,
 * anything else -> -EIO); *reterr_msg, where offered, gets libvirt's
 * message as one sentence. Thread-safe: libvirt connections are.
 */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include "macro.h"

struct hv;

/* Registers libvirt's default event loop and runs it in a thread. Call
 * once, before the first hv_open(). Returns 0 or negative errno. */
int hv_event_loop_start(void);

/* Opens URI (read-write), with keepalive. Returns 0 or negative errno +
 * message (-ECONNREFUSED when no libvirtd answers). See hv-conn.c. */
int hv_open(const char *uri, struct hv **ret, char **reterr_msg);
struct hv *hv_ref(struct hv *h);
struct hv *hv_unref(struct hv *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct hv *, hv_unref);
const char *hv_uri(const struct hv *h);
/* True for the QEMU driver of this host (qemu:///system or
 * qemu:///session): what instant clones need, as libvirtd restores them
 * from a FIFO in this host's file system. Pure (reads the URI). */
bool hv_is_local_qemu(const struct hv *h);
/* False once the connection is gone (libvirtd stopped, keepalive expired);
 * every call then fails at once with -ENOTCONN until hv_reconnect(). */
bool hv_is_alive(struct hv *h);
/* Opens a new connection when the current one is gone (at most once a
 * second: -EAGAIN in between). 0 when connected (already, or again),
 * else negative errno + message. The event callback carries over. */
int hv_reconnect(struct hv *h, char **reterr_msg);
/* How many times the connection was replaced. */
unsigned hv_reconnects(struct hv *h);
/* The last libvirt call that took seconds where milliseconds are normal
 * (a define, a capabilities query, a connect): 1 with its name (the
 * caller's), its duration and how many such calls there were, or 0. */
int hv_get_slow(struct hv *h, char **ret_what, double *ret_seconds, unsigned *ret_count);

/* Calls CB(USERDATA) from the event loop thread on every lifecycle event
 * of any domain and when the connection closes. One callback per struct
 * hv, kept across reconnections; NULL unregisters. */
typedef void (*hv_event_cb)(void *userdata);
int hv_set_event_callback(struct hv *h, hv_event_cb cb, void *userdata);

/* Blocks until a guest agent of any domain connects or disconnects
 * (libvirt's agent lifecycle event), or TIMEOUT_MS pass: boot waits poll
 * with it so a ready guest is seen at once. Cannot fail. */
void hv_wait_agent_event(struct hv *h, unsigned timeout_ms);

/* The domain type to use: the first of kvm, qemu in the host's
 * capabilities that really runs guest code (a probe domain boots a
 * 512-byte boot sector that powers the machine off; a type whose probe
 * does not stop within TIMEOUT_SEC is skipped). Hosts with neither (the
 * test driver) get their first listed type. The probe disk is a volume
 * in STORAGE_POOL. Setting *CANCEL (may be NULL) stops a probe within
 * 0.1 s plus the libvirt call in flight (-ECANCELED); the probe domain and
 * volume are removed either way. Returns 0 and a new string, or negative
 * errno. See hv-probe.c. */
int hv_detect_virt_type(struct hv *h, const char *storage_pool, const char *prefix,
                        unsigned timeout_sec, const atomic_bool *cancel, char **ret_type,
                        char **reterr_msg);

/* When libvirt is slow, the likely cause on this kind of host and its fix
 * as one sentence (a new string), or NULL when nothing is known: a
 * /dev/kvm that QEMU cannot open makes libvirt 9.0 re-probe QEMU on every
 * call. Checks /dev/kvm itself for local URIs. Does not log. */
char *hv_kvm_advice(struct hv *h);

/* --- domains (hv.c) --- */
struct hv_domain {
    char *name;
    char *uuid;
    bool active;
    bool guest_shutdown;  /* shut off because the guest powered off (not crashed,
                           * killed or destroyed) */
};
void hv_domain_list_free(struct hv_domain *d, size_t n);

/* Defines (or redefines, with the same UUID) a persistent domain from XML.
 * HV_DEFINE_VALIDATE checks it against libvirt's RelaxNG schema first
 * (where the driver can): thorough but ~4 ms, as libvirt loads the schema
 * on every call, so callers validate a template once, not every clone. */
#define HV_DEFINE_VALIDATE (1u << 0)
int hv_domain_define(struct hv *h, const char *xml, unsigned flags, char **reterr_msg);
int hv_domain_start(struct hv *h, const char *name, char **reterr_msg);
/* Hard power-off; 0 when it was not running. */
int hv_domain_destroy(struct hv *h, const char *name);
/* Undefines with its snapshot metadata, managed save and NVRAM; -ENOENT
 * when there is no such domain. */
int hv_domain_undefine(struct hv *h, const char *name);
/* -ENOENT when there is no such domain. */
int hv_domain_is_active(struct hv *h, const char *name, bool *ret_active);
/* The id of running domain NAME: libvirt gives a new one to every start
 * of its process (boot, restore, a revert that restarts QEMU), so it tells
 * a console port still valid from one that may have moved. -ESRCH when it
 * is shut off, -ENOENT when missing. One round trip. */
int hv_domain_get_id(struct hv *h, const char *name, unsigned *ret_id);
/* Every domain whose name starts with PREFIX: a full listing. */
int hv_domain_list(struct hv *h, const char *prefix, struct hv_domain **ret, size_t *ret_n);
/* Orders struct hv_domain by name (for qsort() and bsearch()). */
int hv_domain_cmp(const void *a, const void *b);

/* --- the domain watch (hv-watch.c) --- */
/* The same as hv_domain_list(), sorted by name, answered from what the
 * connection's lifecycle events said since its last full listing: only
 * the domains an event or one of our own calls touched are read again.
 * A full listing when the watch has none yet (first call, a new
 * connection, another PREFIX, hv_watch_invalidate()) or its last one is
 * MAX_AGE_USEC old or more (0: always). *RET_FULL (may be NULL) says
 * which it was. */
int hv_domain_list_watched(struct hv *h, const char *prefix, uint64_t max_age_usec,
                           struct hv_domain **ret, size_t *ret_n, bool *ret_full);
/* Makes the next watched listing a full one. */
void hv_watch_invalidate(struct hv *h);
struct hv_watch_stats {
    uint64_t events;   /* lifecycle events received */
    uint64_t full;     /* full listings */
    uint64_t cached;   /* listings answered from the watch */
    uint64_t rereads;  /* domains read again after an event or a change of ours */
    size_t pending;    /* domains marked and not read again yet */
};
/* Counters since hv_open(), over reconnections. Cannot fail. */
void hv_watch_get_stats(struct hv *h, struct hv_watch_stats *ret);
/* Our metadata element (namespace NS_URI) as XML; -ENOENT when absent. */
int hv_domain_get_metadata(struct hv *h, const char *name, const char *ns_uri,
                           char **ret_xml);
/* guest-ping through the guest agent with a TIMEOUT_SEC answer timeout:
 * 0 answered, -EAGAIN agent not (yet) connected, other negative errno. */
int hv_domain_agent_ping(struct hv *h, const char *name, int timeout_sec);
/* Raw guest agent command (JSON in, JSON out). */
int hv_domain_agent_command(struct hv *h, const char *name, const char *cmd, int timeout_sec,
                            char **ret_json, char **reterr_msg);

/* The domain's XML: LIVE = the running definition, SECURE = with secrets
 * (console passwords). */
int hv_domain_get_xml(struct hv *h, const char *name, bool live, bool secure, char **ret_xml);
/* Applies a device change (e.g. a <graphics> with a new password) to the
 * running domain. -EOPNOTSUPP where the driver cannot (test://). */
int hv_domain_update_device_live(struct hv *h, const char *name, const char *xml,
                                 char **reterr_msg);
/* Resumes a paused domain (an instant clone restored paused). -EBUSY when
 * it is not paused. */
int hv_domain_resume(struct hv *h, const char *name, char **reterr_msg);
/* Pauses a running domain: its guest stops at once (a wipe cuts off the
 * user's desktop before it is destroyed). -EBUSY when not running. */
int hv_domain_suspend(struct hv *h, const char *name, char **reterr_msg);
/* Sets the guest clock to the host's (guest agent; after a revert). */
int hv_domain_sync_time(struct hv *h, const char *name, char **reterr_msg);

/* Internal snapshot (with memory when running). -EEXIST if present. */
int hv_snapshot_create(struct hv *h, const char *domain, const char *snap, char **reterr_msg);
int hv_snapshot_exists(struct hv *h, const char *domain, const char *snap, bool *ret_exists);
int hv_snapshot_revert(struct hv *h, const char *domain, const char *snap, char **reterr_msg);

/* --- the host (hv.c) --- */
struct hv_node_info {
    uint64_t memory;        /* physical memory, bytes */
    uint64_t free_memory;   /* bytes free now; 0 when the driver does not say */
    unsigned cpus;          /* logical CPUs */
    char *hostname;         /* "" when the driver does not say */
    char *libvirt_version;  /* the daemon's, "9.0.0"; NULL when unknown */
    char *hypervisor;       /* "QEMU 7.2.0"; NULL when unknown */
};
void hv_node_info_done(struct hv_node_info *i);
int hv_node_get_info(struct hv *h, struct hv_node_info *ret, char **reterr_msg);
/* The memory KSM's merging saves on the host (libvirt's node memory
 * parameter shm_pages_sharing), bytes; 0 when KSM is off. -EOPNOTSUPP
 * where the driver does not say (test://). */
int hv_node_get_ksm(struct hv *h, uint64_t *ret_saved);
/* The resident memory of running domain NAME's process (QEMU), bytes:
 * its measured footprint. -ENODATA where the driver does not say (test://). */
int hv_domain_get_rss(struct hv *h, const char *name, uint64_t *ret);

/* --- storage (hv-storage.c) --- */
/* Makes sure a directory storage pool NAME at DIR exists, is active and
 * autostarts. Creates DIR. Idempotent. */
int hv_storage_pool_ensure(struct hv *h, const char *name, const char *dir, char **reterr_msg);
/* Creates VOL in POOL as a qcow2 overlay whose <backingStore> is the qcow2
 * file BACKING (no copy). CAPACITY 0 = the backing file's size.
 * Returns 0 and the new volume's path, -EEXIST if VOL exists. */
int hv_volume_create_overlay(struct hv *h, const char *pool, const char *vol,
                             const char *backing, uint64_t capacity, char **ret_path,
                             char **reterr_msg);
/* Creates an empty qcow2 volume of CAPACITY bytes (a data disk). */
int hv_volume_create_blank(struct hv *h, const char *pool, const char *vol, uint64_t capacity,
                           char **ret_path, char **reterr_msg);
/* Creates a raw volume holding DATA (LEN bytes, padded with zeros to SIZE). */
int hv_volume_create_raw(struct hv *h, const char *pool, const char *vol, const void *data,
                         size_t len, uint64_t size, char **ret_path, char **reterr_msg);
/* Copies the SIZE bytes of FD (an image file) into new volume VOL of
 * POOL through libvirt's storage stream (virStorageVolUpload): works on a
 * remote host with nothing but libvirtd. 0 and the path on the host;
 * -EEXIST when VOL exists; on failure the volume is deleted. */
int hv_volume_upload_fd(struct hv *h, const char *pool, const char *vol, int fd, uint64_t size,
                        char **ret_path, char **reterr_msg);
/* Reads VOL of POOL back through libvirt's storage stream
 * (virStorageVolDownload), calling CB for each chunk: what the host
 * really stores. 0 and the bytes read. */
int hv_volume_read(struct hv *h, const char *pool, const char *vol,
                   void (*cb)(const void *data, size_t len, void *userdata), void *userdata,
                   uint64_t *ret_bytes, char **reterr_msg);
/* VOL of POOL (refreshed first): its path on the host and its size in
 * bytes (allocation or capacity, the larger). -ENOENT when absent. */
int hv_volume_info(struct hv *h, const char *pool, const char *vol, char **ret_path,
                   uint64_t *ret_size);
/* 0 also when it did not exist. */
int hv_volume_delete(struct hv *h, const char *pool, const char *vol);
/* Names of the volumes of POOL starting with PREFIX (after a refresh). */
int hv_volume_list(struct hv *h, const char *pool, const char *prefix, char ***ret_names,
                   size_t *ret_n);
/* The backing file path of volume VOL as libvirt reports it; -ENOENT if none. */
int hv_volume_get_backing(struct hv *h, const char *pool, const char *vol, char **ret_path);

/* --- instant clones (hv-clone.c) ---
 * A parent: a booted, ready domain without NIC, with <genid/>, saved once
 * (hv_parent_save()); its overlay becomes the read-only backing layer of
 * every clone (clone overlay -> parent overlay -> golden image). A clone:
 * a new overlay on that layer plus a restore of the parent's memory state
 * under the clone's own XML (hv_clone_restore()), then its identity
 * (hv_clone_identify()). See hv-clone.c and docs/internals/hv.md. */

/* Saves the memory state of running DOMAIN to PATH (absolute; must not
 * exist; its directory should be root's, 0700: the image is the guest's
 * memory) with VIR_DOMAIN_SAVE_RUNNING, syncs it to disk, makes it 0400
 * and checks it back. The domain is shut off afterwards (a persistent one
 * stays defined: undefine it, it must never boot again since its disk is
 * now every clone's backing file; make that overlay 0444 too). Refuses a
 * domain that is not running (-EBUSY) or has an <interface> (-EINVAL:
 * its MAC would be in every clone). -EEXIST when PATH exists. On failure
 * PATH does not exist. Does not log. */
int hv_parent_save(struct hv *h, const char *domain, const char *path, char **reterr_msg);

/* What a checked saved image holds. */
struct hv_saved_image {
    char *xml;              /* the parent's domain XML (libvirt's migratable format) */
    char *cookie;           /* libvirt's save cookie (guest CPU), or NULL */
    uint64_t stream_offset; /* where QEMU's migration stream begins */
    uint64_t size;          /* the file's size */
};
void hv_saved_image_done(struct hv_saved_image *s);
/* Reads and checks the saved image at PATH: libvirt's header (magic,
 * version 2, raw, saved running, sane lengths, NUL-terminated XML and
 * cookie), QEMU's stream magic and its end marker (a truncated file is
 * refused). 0 and *RET; -EBADMSG damaged or truncated, -EOPNOTSUPP
 * valid but not clonable (compressed, paused, other version), -errno;
 * each with a sentence. Does not log. */
int hv_saved_image_read(const char *path, struct hv_saved_image *ret, char **reterr_msg);

enum hv_clone_feed {
    HV_CLONE_FEED_SPLICE,   /* splice() from the page cache into the FIFO (default) */
    HV_CLONE_FEED_COPY,     /* pread() + write() through a 1 MiB buffer */
};
struct hv_clone_opts {
    const char *fifo_dir;       /* NULL: the saved image's directory. Must be ours, 0700 */
    enum hv_clone_feed feed;
    const atomic_bool *cancel;  /* may be NULL; true: the restore fails (-ECANCELED) */
    bool paused;                /* leave it paused (a successor made ahead of need, its
                                 * NIC attachable); hv_domain_resume() starts it */
};
/* Where a restore's time went, in microseconds from the restore call. */
struct hv_clone_stats {
    uint64_t open_usec;     /* libvirtd opened the FIFO */
    uint64_t head_usec;     /* header, XML and cookie written */
    uint64_t stream_usec;   /* the whole stream written (0 if QEMU stopped reading first) */
    uint64_t restore_usec;  /* virDomainRestoreFlags() returned: the guest runs */
    uint64_t bytes;         /* written into the FIFO */
};

/* Starts a new running domain from the parent state in SAVED_PATH as
 * described by CLONE_XML (tmpl_clone_xml(): the parent's XML with the
 * clone's name, UUID, disk, console; no <interface>). Nothing is checked
 * against the parent's XML by libvirt: CLONE_XML must keep its devices.
 * The memory image is not copied: a feeder thread writes a header with
 * CLONE_XML, then the parent's stream, into a FIFO that libvirt restores
 * from. Returns 0 once the guest runs; -EEXIST when the domain already
 * runs, -EINVAL for a bad CLONE_XML, -EPERM for an unsafe FIFO directory,
 * the errors of hv_saved_image_read(), -ECANCELED, or libvirt's (table)
 * + message. After a failure no such domain runs (a persistent domain of
 * that name stays defined, shut off); the FIFO and the thread are gone
 * either way. Does not log above debug. */
int hv_clone_restore(struct hv *h, const char *saved_path, const char *clone_xml,
                     char **reterr_msg);
/* The same with options (NULL: defaults) and timings (RET_STATS may be NULL). */
int hv_clone_restore_full(struct hv *h, const char *saved_path, const char *clone_xml,
                          const struct hv_clone_opts *opts, struct hv_clone_stats *ret_stats,
                          char **reterr_msg);
/* Hard power-off of clone NAME (the wipe at logout), as
 * hv_domain_destroy() but on a connection of its own: on libvirt 9.0 a
 * destroy holds up name lookups of other domains on the same connection
 * until the killed QEMU has been reaped (measured 0.3-1.8 s here), which
 * would stall every clone being restored or identified meanwhile. 0 also
 * when it was not running; -ENOENT when there is no such domain. */
int hv_clone_destroy(struct hv *h, const char *name);
/* After a crash: releases (open for writing, close: EOF) and removes
 * every restore FIFO in DIR, so no libvirtd thread stays blocked opening
 * one. Only while no restore runs on DIR. 0 and the count, or -errno. */
int hv_clone_fifos_cleanup(const char *dir, unsigned *ret_n);

/* Hot-plugs IFACE_XML (an <interface> with the clone's own <mac
 * address>) into running DOMAIN, live only. 0 also when an interface
 * with that MAC is there already; -EINVAL without a valid MAC. */
int hv_clone_attach_nic(struct hv *h, const char *domain, const char *iface_xml,
                        char **reterr_msg);
/* Sets the guest's host name through the agent: written to
 * /proc/sys/kernel/hostname (guest-file-*, no process started), else
 * guest-exec "hostname NAME"; Linux guests. -EAGAIN while the agent is
 * not up, -EINVAL for a bad name, -EIO when both ways fail. */
int hv_clone_set_hostname(struct hv *h, const char *domain, const char *hostname,
                          int timeout_sec, char **reterr_msg);
/* The VM generation ID of running DOMAIN (libvirt makes a new one at
 * every restore of a domain with <genid>). -ENOENT without. */
int hv_domain_get_genid(struct hv *h, const char *domain, char **ret_genid);

struct hv_clone_identity {
    const char *const *nic_xml; /* NULL-terminated <interface> elements, each with its MAC */
    const char *hostname;       /* NULL: keep the parent's */
    bool sync_time;             /* set the guest clock (it is behind by the parent's age) */
    int agent_timeout_sec;      /* for guest-exec; 0: 10 s */
};
/* NICs, then clock, then host name; stops at the first error (retry
 * after -EAGAIN: each step is idempotent). */
int hv_clone_identify(struct hv *h, const char *domain, const struct hv_clone_identity *id,
                      char **reterr_msg);
