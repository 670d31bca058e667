/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv.c - the hypervisor layer: errors, the event loop, domains, agent,
 * snapshots
 *
 * hv*.c are the only files that call libvirt; every other module sees
 * struct hv and negative errnos (hv.h). The connection itself (open,
 * loss, reconnection, callbacks) is hv-conn.c; storage hv-storage.c; the
 * KVM/TCG probe hv-probe.c.
 *
 * DESIGN. Any thread may call any hv_* function: each call takes the
 * current connection (hv_conn_get(), -ENOTCONN while it is down) and
 * looks its objects up afresh. Errors: libvirt keeps the last error per
 * thread; every failing call is followed at once by hv_last_error(), which
 * turns it into a negative errno through the one virErrorNumber -> errno
 * table below and copies libvirt's message into *reterr_msg. libvirt's
 * default handler (which prints every error on stderr) is silenced:
 * deskpool's callers log once, where they handle it.
 *
 * Events: hv_event_loop_start() registers libvirt's default event loop and
 * runs it on a detached thread forever (a 1 s no-op timer makes sure
 * virEventRunDefaultImpl() never blocks without end); hv-conn.c registers
 * its callbacks on it.
 *
 * Never: log above debug, keep libvirt objects past the call that looked
 * them up, print libvirt errors.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "array.h"
#include "hv-priv.h"
#include "log.h"
#include "util.h"

/* ---- errors ---- */

static const struct {
    int code;
    int err;
} hv_errno_table[] = {
    { VIR_ERR_NO_DOMAIN,              ENOENT },
    { VIR_ERR_NO_STORAGE_VOL,         ENOENT },
    { VIR_ERR_NO_STORAGE_POOL,        ENOENT },
    { VIR_ERR_NO_DOMAIN_SNAPSHOT,     ENOENT },
    { VIR_ERR_NO_DOMAIN_METADATA,     ENOENT },
    { VIR_ERR_OPERATION_INVALID,      EBUSY },
    { VIR_ERR_AGENT_UNRESPONSIVE,     EAGAIN },
    { VIR_ERR_AGENT_UNSYNCED,         EAGAIN },
    { VIR_ERR_OPERATION_TIMEOUT,      ETIMEDOUT },
    { VIR_ERR_NO_SUPPORT,             EOPNOTSUPP },
    { VIR_ERR_ARGUMENT_UNSUPPORTED,   EOPNOTSUPP },
    { VIR_ERR_DOM_EXIST,              EEXIST },
    { VIR_ERR_STORAGE_VOL_EXIST,      EEXIST },
};

int
hv_errno_from_error(const virError *e)
{
    size_t i;

    if (!e || e->code == VIR_ERR_OK)
        return -EIO;
    /* the connection is gone: "client socket is closed", "cannot recv
     * data", keepalive timeout, or a call on a closed connection */
    if (e->code == VIR_ERR_NO_CONNECT ||
        (e->domain == VIR_FROM_RPC && (e->code == VIR_ERR_INTERNAL_ERROR ||
                                       e->code == VIR_ERR_SYSTEM_ERROR ||
                                       e->code == VIR_ERR_RPC)))
        return -ENOTCONN;
    if (e->code == VIR_ERR_SYSTEM_ERROR)
        return e->int1 > 0 ? -e->int1 : -EIO;
    if (e->code == VIR_ERR_OPERATION_FAILED && e->message &&
        strstr(e->message, "already exists"))
        return -EEXIST;
    /* qemu-img and friends fail as an internal error that names it */
    if (e->message && strstr(e->message, "No space left on device"))
        return -ENOSPC;
    if (e->message && strstr(e->message, "Disk quota exceeded"))
        return -EDQUOT;
    for (i = 0; i < ELEMENTSOF(hv_errno_table); i++)
        if (hv_errno_table[i].code == e->code)
            return -hv_errno_table[i].err;
    return -EIO;
}

int
hv_last_error(char **reterr_msg)
{
    virErrorPtr e = virGetLastError();
    int r = hv_errno_from_error(e);

    if (reterr_msg && !*reterr_msg)
        *reterr_msg = xstrdup(e && e->message ? e->message : "Unknown libvirt error.");
    log_debug("libvirt error %d: %s", e ? e->code : 0,
              e && e->message ? e->message : "(none)");
    virResetLastError();
    return r;
}

int
hv_fail(int err, char **reterr_msg, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (reterr_msg && !*reterr_msg) {
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
            abort();
        va_end(ap);
        *reterr_msg = s;
    }
    return err;
}

bool
hv_xml_safe(const char *s)
{
    return s && !strpbrk(s, "<>&'\"");
}

void
hv_error_silence(void *userdata _unused_, virErrorPtr e _unused_)
{
}

/* ---- event loop ---- */

static void
hv_event_tick(int timer _unused_, void *userdata _unused_)
{
}

static void *
hv_event_thread(void *arg _unused_)
{
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            virResetLastError();
    return NULL;
}

/* Registers libvirt's default event loop and runs it on a detached thread.
 * Idempotent. Returns 0, or -EIO/-errno when libvirt or pthread fails. */
int
hv_event_loop_start(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static bool started;
    pthread_attr_t attr;
    pthread_t t;
    int r = 0;

    pthread_mutex_lock(&lock);
    if (started)
        goto cleanup;
    virSetErrorFunc(NULL, hv_error_silence);
    if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
        r = hv_last_error(NULL);
        goto cleanup;
    }
    if (virEventAddTimeout(1000, hv_event_tick, NULL, NULL) < 0) {
        r = hv_last_error(NULL);
        goto cleanup;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = -pthread_create(&t, &attr, hv_event_thread, NULL);
    pthread_attr_destroy(&attr);
    if (r == 0)
        started = true;
 cleanup:
    pthread_mutex_unlock(&lock);
    return r;
}

/* ---- domains ---- */

int
hv_domain_lookup(struct hv *h, const char *name, virDomainPtr *ret, char **reterr_msg)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    virDomainPtr dom;
    int r;

    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    dom = virDomainLookupByName(conn, name);
    if (!dom)
        return hv_last_error(reterr_msg);
    *ret = dom;
    return 0;
}

int
hv_domain_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hv_domain *) a)->name, ((const struct hv_domain *) b)->name);
}

void
hv_domain_list_free(struct hv_domain *d, size_t n)
{
    size_t i;

    if (!d)
        return;
    for (i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].uuid);
    }
    free(d);
}

/* Defines (or redefines) a persistent domain, validating the XML against
 * libvirt's schema where the driver can. Fails with the table's errno and
 * libvirt's message (a bad XML is -EIO). Does not log. */
int
hv_domain_define(struct hv *h, const char *xml, unsigned flags, char **reterr_msg)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    uint64_t t0 = now_usec();
    virErrorPtr e;
    int r;

    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    if (!(flags & HV_DEFINE_VALIDATE)) {
        dom = virDomainDefineXMLFlags(conn, xml, 0);
        hv_note_duration(h, "virDomainDefineXML", t0);
        if (!dom)
            return hv_last_error(reterr_msg);
        hv_touch(h, virDomainGetName(dom));
        return 0;
    }
    dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!dom) {
        e = virGetLastError();
        if (!e || (e->code != VIR_ERR_INVALID_ARG && e->code != VIR_ERR_NO_SUPPORT))
            return hv_last_error(reterr_msg);
        virResetLastError();
        dom = virDomainDefineXMLFlags(conn, xml, 0);
        if (!dom)
            return hv_last_error(reterr_msg);
    }
    hv_note_duration(h, "virDomainDefineXML", t0);
    hv_touch(h, virDomainGetName(dom));
    return 0;
}

/* Starts a defined domain. -ENOENT when missing, -EBUSY when already
 * running, else the table's errno. Does not log. */
int
hv_domain_start(struct hv *h, const char *name, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, name);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, reterr_msg);
    if (r < 0)
        return r;
    /* Checked here: drivers disagree on the error (test:// says internal). */
    r = virDomainIsActive(dom);
    if (r < 0)
        return hv_last_error(reterr_msg);
    if (r > 0)
        return hv_fail(-EBUSY, reterr_msg, "Domain '%s' is already running.", name);
    if (virDomainCreate(dom) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* Hard power-off. 0 also when it was not running; -ENOENT when there is no
 * such domain (a transient one that stopped is gone). Does not log. */
int
hv_domain_destroy(struct hv *h, const char *name)
{
    HV_TOUCH_ON_RETURN(h, name);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    return hv_domain_destroy_dom(dom);
}

int
hv_domain_destroy_dom(virDomainPtr dom)
{
    int r;

    r = virDomainIsActive(dom);
    if (r < 0)
        return hv_last_error(NULL);
    if (r == 0)
        return 0;
    if (virDomainDestroy(dom) < 0) {
        r = hv_last_error(NULL);
        /* It stopped between the check and the destroy. */
        return r == -EBUSY || r == -ENOENT ? 0 : r;
    }
    return 0;
}

/* Undefines NAME with its snapshot metadata, managed save image and NVRAM.
 * Drivers that reject a flag (the test driver and NVRAM, domains without
 * firmware) get the call again with fewer flags. -ENOENT when missing. */
int
hv_domain_undefine(struct hv *h, const char *name)
{
    HV_TOUCH_ON_RETURN(h, name);
    static const unsigned flag_sets[] = {
        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
            VIR_DOMAIN_UNDEFINE_NVRAM,
        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    };
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    virErrorPtr e;
    size_t i;
    int r;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    for (i = 0; i < ELEMENTSOF(flag_sets); i++) {
        if (virDomainUndefineFlags(dom, flag_sets[i]) == 0)
            return 0;
        e = virGetLastError();
        if (!e || i + 1 == ELEMENTSOF(flag_sets) ||
            (e->code != VIR_ERR_INVALID_ARG && e->code != VIR_ERR_NO_SUPPORT &&
             e->code != VIR_ERR_ARGUMENT_UNSUPPORTED))
            break;
        virResetLastError();
    }
    return hv_last_error(NULL);
}

/* -ENOENT when there is no such domain. Does not log. */
int
hv_domain_is_active(struct hv *h, const char *name, bool *ret_active)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    r = virDomainIsActive(dom);
    if (r < 0)
        return hv_last_error(NULL);
    *ret_active = r > 0;
    return 0;
}

int
hv_domain_get_id(struct hv *h, const char *name, unsigned *ret_id)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    /* the id came with the lookup: no second round trip */
    *ret_id = virDomainGetID(dom);
    virResetLastError();
    return *ret_id == (unsigned) -1 ? -ESRCH : 0;
}

/* Every domain (persistent or transient) whose name starts with PREFIX
 * (NULL: all). The array is the caller's: hv_domain_list_free(). */
int
hv_domain_list(struct hv *h, const char *prefix, struct hv_domain **ret, size_t *ret_n)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    struct hv_domain *list = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN];
    size_t n = 0, cap = 0;
    int r;

    r = hv_conn_get(h, &conn, NULL);
    if (r < 0)
        return r;

    /* Two listings, running and shut off, rather than one listing and an
     * IsActive() per domain: on a remote connection that was one round
     * trip per desktop on every reconcile pass. */
    for (int pass = 0; pass < 2 && r >= 0; pass++) {
        unsigned flags = pass == 0 ? VIR_CONNECT_LIST_DOMAINS_ACTIVE
                                   : VIR_CONNECT_LIST_DOMAINS_INACTIVE;
        virDomainPtr *doms = NULL;
        int k = virConnectListAllDomains(conn, &doms, flags);

        if (k < 0) {
            r = hv_last_error(NULL);
            break;
        }
        for (int i = 0; i < k; i++) {
            const char *name = virDomainGetName(doms[i]);

            if (r < 0 || !name || (prefix && strncmp(name, prefix, strlen(prefix)) != 0))
                continue;
            if (virDomainGetUUIDString(doms[i], uuid) < 0) {
                r = hv_last_error(NULL);
                continue;
            }
            ARRAY_GROW(list, cap, n + 1);
            list[n] = (struct hv_domain) {
                .name = xstrdup(name), .uuid = xstrdup(uuid), .active = pass == 0,
            };
            if (pass == 1) {
                /* one more call per shut-off domain: desktops run, so few */
                int state, reason;

                if (virDomainGetState(doms[i], &state, &reason, 0) == 0)
                    list[n].guest_shutdown = state == VIR_DOMAIN_SHUTOFF &&
                                             reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN;
                else
                    virResetLastError();
            }
            n++;
        }
        for (int i = 0; i < k; i++)
            virDomainFree(doms[i]);
        free(doms);
    }
    virResetLastError();
    if (r < 0) {
        hv_domain_list_free(list, n);
        return r;
    }
    *ret = list ? list : xmalloc0(sizeof(*list));
    *ret_n = n;
    return 0;
}

/* The <metadata> element of namespace NS_URI as XML. -ENOENT when the
 * domain or the element is missing. Does not log. */
int
hv_domain_get_metadata(struct hv *h, const char *name, const char *ns_uri, char **ret_xml)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    char *xml;
    int r;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, ns_uri,
                               VIR_DOMAIN_AFFECT_CURRENT);
    if (!xml)
        return hv_last_error(NULL);
    *ret_xml = xml;
    return 0;
}

/* Raw guest agent command. -EAGAIN while the agent is not connected,
 * -EBUSY when the domain is not running, -EOPNOTSUPP on drivers without
 * an agent (test://). The JSON answer is the caller's. Does not log. */
int
hv_domain_agent_command(struct hv *h, const char *name, const char *cmd, int timeout_sec,
                        char **ret_json, char **reterr_msg)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    char *json;
    int r;

    r = hv_domain_lookup(h, name, &dom, reterr_msg);
    if (r < 0)
        return r;
    json = virDomainQemuAgentCommand(dom, cmd, timeout_sec, 0);
    if (!json)
        return hv_last_error(reterr_msg);
    *ret_json = json;
    return 0;
}

/* The domain's XML; SECURE includes secrets such as console passwords,
 * LIVE the running definition (else the persistent one). */
int
hv_domain_get_xml(struct hv *h, const char *name, bool live, bool secure, char **ret_xml)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    unsigned flags = (secure ? VIR_DOMAIN_XML_SECURE : 0) | (live ? 0 : VIR_DOMAIN_XML_INACTIVE);
    char *xml;
    int r;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    xml = virDomainGetXMLDesc(dom, flags);
    if (!xml)
        return hv_last_error(NULL);
    *ret_xml = xml;
    return 0;
}

/* Changes a device of the running domain (graphics passwords). */
int
hv_domain_update_device_live(struct hv *h, const char *name, const char *xml,
                             char **reterr_msg)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, reterr_msg);
    if (r < 0)
        return r;
    if (virDomainUpdateDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* Resumes paused NAME. -ENOENT when missing, -EBUSY when not paused (the
 * table's OPERATION_INVALID). Does not log. */
int
hv_domain_resume(struct hv *h, const char *name, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, name);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, reterr_msg);
    if (r < 0)
        return r;
    if (virDomainResume(dom) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* Pauses running domain NAME (its vCPUs stop: the guest does nothing,
 * sends nothing). */
int
hv_domain_suspend(struct hv *h, const char *name, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, name);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    r = hv_domain_lookup(h, name, &dom, reterr_msg);
    if (r < 0)
        return r;
    if (virDomainSuspend(dom) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* Sets the guest clock to the host's through the guest agent. */
int
hv_domain_sync_time(struct hv *h, const char *name, char **reterr_msg)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    struct timespec ts;
    int r;

    r = hv_domain_lookup(h, name, &dom, reterr_msg);
    if (r < 0)
        return r;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (virDomainSetTime(dom, (long long) ts.tv_sec, (unsigned) ts.tv_nsec, 0) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* guest-ping: 0 answered, -EAGAIN agent not (yet) up, else as above. */
int
hv_domain_agent_ping(struct hv *h, const char *name, int timeout_sec)
{
    _cleanup_free_ char *json = NULL;

    return hv_domain_agent_command(h, name, "{\"execute\":\"guest-ping\"}", timeout_sec,
                                   &json, NULL);
}

/* ---- snapshots ---- */

/* Internal snapshot SNAP of DOMAIN (with memory when running). -EEXIST
 * when present, -EINVAL for a name that is not XML-safe. Does not log. */
int
hv_snapshot_create(struct hv *h, const char *domain, const char *snap, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, domain);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    _cleanup_(hv_snapshot_freep) virDomainSnapshotPtr s = NULL;
    _cleanup_free_ char *xml = NULL;
    int r;

    if (!hv_xml_safe(snap))
        return hv_fail(-EINVAL, reterr_msg, "Invalid snapshot name '%s'.", strempty(snap));
    r = hv_domain_lookup(h, domain, &dom, reterr_msg);
    if (r < 0)
        return r;
    s = virDomainSnapshotLookupByName(dom, snap, 0);
    if (s)
        return hv_fail(-EEXIST, reterr_msg, "Snapshot '%s' of domain '%s' already exists.",
                       snap, domain);
    virResetLastError();
    xml = xasprintf("<domainsnapshot><name>%s</name></domainsnapshot>", snap);
    s = virDomainSnapshotCreateXML(dom, xml, 0);
    if (!s)
        return hv_last_error(reterr_msg);
    return 0;
}

/* -ENOENT when the domain is missing. Does not log. */
int
hv_snapshot_exists(struct hv *h, const char *domain, const char *snap, bool *ret_exists)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    _cleanup_(hv_snapshot_freep) virDomainSnapshotPtr s = NULL;
    int r;

    r = hv_domain_lookup(h, domain, &dom, NULL);
    if (r < 0)
        return r;
    s = virDomainSnapshotLookupByName(dom, snap, 0);
    if (!s) {
        r = hv_last_error(NULL);
        if (r != -ENOENT)
            return r;
    }
    *ret_exists = s != NULL;
    return 0;
}

/* Reverts DOMAIN to SNAP (running again if it was taken running). -ENOENT
 * when either is missing. Does not log. */
int
hv_snapshot_revert(struct hv *h, const char *domain, const char *snap, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, domain);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    _cleanup_(hv_snapshot_freep) virDomainSnapshotPtr s = NULL;
    int r;

    r = hv_domain_lookup(h, domain, &dom, reterr_msg);
    if (r < 0)
        return r;
    s = virDomainSnapshotLookupByName(dom, snap, 0);
    if (!s)
        return hv_last_error(reterr_msg);
    if (virDomainRevertToSnapshot(s, 0) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* --- the host (node) --- */

static char *
version_string(unsigned long v)
{
    return xasprintf("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

void
hv_node_info_done(struct hv_node_info *i)
{
    if (!i)
        return;
    free(i->hostname);
    free(i->libvirt_version);
    free(i->hypervisor);
    *i = (struct hv_node_info) { 0 };
}

int
hv_node_get_info(struct hv *h, struct hv_node_info *ret, char **reterr_msg)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    struct hv_node_info info = { 0 };
    unsigned long long free_mem;
    unsigned long v = 0;
    virNodeInfo node;
    const char *type;
    char *hostname;
    int r;

    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    if (virNodeGetInfo(conn, &node) < 0)
        return hv_last_error(reterr_msg);
    info.memory = (uint64_t) node.memory << 10;
    info.cpus = node.cpus;
    free_mem = virNodeGetFreeMemory(conn);
    info.free_memory = free_mem > 0 ? (uint64_t) free_mem : 0;
    virResetLastError();
    hostname = virConnectGetHostname(conn);
    info.hostname = xstrdup(hostname ? hostname : "");
    free(hostname);
    virResetLastError();
    if (virConnectGetLibVersion(conn, &v) == 0)
        info.libvirt_version = version_string(v);
    type = virConnectGetType(conn);
    v = 0;
    if (virConnectGetVersion(conn, &v) == 0 && type) {
        _cleanup_free_ char *ver = version_string(v);

        info.hypervisor = xasprintf("%s %s", type, ver);
    }
    virResetLastError();
    *ret = info;
    return 0;
}

int
hv_domain_get_rss(struct hv *h, const char *name, uint64_t *ret)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int r, n;

    r = hv_domain_lookup(h, name, &dom, NULL);
    if (r < 0)
        return r;
    n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    if (n < 0)
        return hv_last_error(NULL);
    for (int i = 0; i < n; i++)
        if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_RSS) {
            *ret = (uint64_t) stats[i].val << 10;
            return 0;
        }
    return -ENODATA;
}

int
hv_node_get_ksm(struct hv *h, uint64_t *ret_saved)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    virTypedParameterPtr params = NULL;
    int n = 0, r;
    uint64_t sharing = 0;

    r = hv_conn_get(h, &conn, NULL);
    if (r < 0)
        return r;
    if (virNodeGetMemoryParameters(conn, NULL, &n, 0) < 0 || n <= 0) {
        virResetLastError();
        return -EOPNOTSUPP;
    }
    params = xmalloc0(sizeof(*params) * (size_t) n);
    if (virNodeGetMemoryParameters(conn, params, &n, 0) < 0) {
        free(params);
        return hv_last_error(NULL);
    }
    for (int i = 0; i < n; i++)
        if (streq(params[i].field, VIR_NODE_MEMORY_SHARED_PAGES_SHARING))
            sharing = params[i].type == VIR_TYPED_PARAM_ULLONG ? params[i].value.ul
                                                               : params[i].value.ui;
    virTypedParamsFree(params, n);
    /* KSM merges base pages: 4 KiB on the x86 hosts deskpool runs on */
    *ret_saved = sharing * 4096;
    return 0;
}
