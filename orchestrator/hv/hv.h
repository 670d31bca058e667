/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv.h - the hypervisor layer: the only code that calls libvirt.
 * See hv-conn.c (the connection: loss, reconnection, events), hv.c
 * (errors, domains, snapshots, agent), hv-probe.c (the KVM/TCG probe)
 * and hv-storage.c (storage pools and overlay volumes).
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
/* Every domain whose name starts with PREFIX. */
int hv_domain_list(struct hv *h, const char *prefix, struct hv_domain **ret, size_t *ret_n);
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
/* Sets the guest clock to the host's (guest agent; after a revert). */
int hv_domain_sync_time(struct hv *h, const char *name, char **reterr_msg);

/* Internal snapshot (with memory when running). -EEXIST if present. */
int hv_snapshot_create(struct hv *h, const char *domain, const char *snap, char **reterr_msg);
int hv_snapshot_exists(struct hv *h, const char *domain, const char *snap, bool *ret_exists);
int hv_snapshot_revert(struct hv *h, const char *domain, const char *snap, char **reterr_msg);

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
/* 0 also when it did not exist. */
int hv_volume_delete(struct hv *h, const char *pool, const char *vol);
/* Names of the volumes of POOL starting with PREFIX (after a refresh). */
int hv_volume_list(struct hv *h, const char *pool, const char *prefix, char ***ret_names,
                   size_t *ret_n);
/* The backing file path of volume VOL as libvirt reports it; -ENOENT if none. */
int hv_volume_get_backing(struct hv *h, const char *pool, const char *vol, char **ret_path);
