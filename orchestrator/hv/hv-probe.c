/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-probe.c - which domain type really runs guests here (kvm or qemu)
 *
 * A host can list <domain type='kvm'/> and still not run KVM guests: with
 * nested KVM on this kind of machine QEMU starts, the BIOS even boots,
 * but guest code runs about a thousand times slower than under TCG (a
 * Linux kernel never gets past its decompressor). So the capabilities are
 * only a shortlist; each listed type is tried with a probe guest.
 *
 * DESIGN. The probe guest is a persistent domain PREFIX-virtprobe (64 MiB,
 * no network, no graphics) that boots the raw volume PREFIX-virtprobe.img
 * of the given pool. Its boot sector spins 2^26 times through a dec/jnz
 * loop, then writes SLP_EN|SLP_TYP=0 (0x2000) to the ACPI PM1a control
 * port 0x604 (SeaBIOS puts the PIIX4/ICH9 PM base at 0x600): a soft power
 * off. The type works when the domain reaches shut off with reason
 * "shutdown" (guest power-off) within TIMEOUT_SEC; any other stop (QEMU
 * crashed, failed to start) or still running at the timeout means skip.
 * Measured (docs/internals/hv.md): qemu/TCG ~2 s; nested KVM needs
 * about a minute for the loop alone, so it times out. A persistent domain
 * (not virDomainCreateXML) is used so that the stop reason can be read.
 * Stale probe objects from a crashed run are removed first; everything is
 * removed at the end.
 *
 * Never: leave the probe domain or volume behind, log above debug.
 */
#include "config.h"

#include <grp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <libvirt/virterror.h>

#include "hv-priv.h"
#include "log.h"
#include "util.h"

#define HV_PROBE_DISK_SIZE (1024u * 1024u)
#define HV_PROBE_POLL_USEC 100000u

/* cli; mov ecx,1<<26; 1: dec ecx; jnz 1b; mov dx,0x604; mov ax,0x2000;
 * out dx,ax; cli; hlt; jmp $-1 */
static const unsigned char hv_probe_code[] = {
    0xfa, 0x66, 0xb9, 0x00, 0x00, 0x00, 0x04, 0x66, 0x49, 0x75, 0xfc,
    0xba, 0x04, 0x06, 0xb8, 0x00, 0x20, 0xef, 0xfa, 0xf4, 0xeb, 0xfd,
};

static bool
hv_type_listed(struct hv *h, const char *type)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    uint64_t t0 = now_usec();
    char *caps;

    if (hv_conn_get(h, &conn, NULL) < 0)
        return false;
    caps = virConnectGetDomainCapabilities(conn, NULL, NULL, NULL, type, 0);
    hv_note_duration(h, "virConnectGetDomainCapabilities", t0);
    if (!caps) {
        (void) hv_last_error(NULL);
        return false;
    }
    free(caps);
    return true;
}

/* The first <domain type='X'> of the host capabilities. */
static int
hv_first_listed_type(struct hv *h, char **ret, char **reterr_msg)
{
    static const char tag[] = "<domain type='";
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    _cleanup_free_ char *caps = NULL;
    const char *p, *q;
    char *s;
    int r;

    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    caps = virConnectGetCapabilities(conn);
    if (!caps)
        return hv_last_error(reterr_msg);
    p = strstr(caps, tag);
    if (!p)
        return hv_fail(-EOPNOTSUPP, reterr_msg, "The host capabilities list no domain type.");
    p += strlen(tag);
    q = strchr(p, '\'');
    if (!q || q == p || q - p > 32)
        return hv_fail(-EIO, reterr_msg, "Cannot read the host capabilities.");
    s = xmalloc0((size_t) (q - p) + 1);
    memcpy(s, p, (size_t) (q - p));
    *ret = s;
    return 0;
}

/* Destroys and undefines the probe domain if it is there. */
static void
hv_probe_domain_remove(struct hv *h, const char *name)
{
    (void) hv_domain_destroy(h, name);
    (void) hv_domain_undefine(h, name);
}

static void
hv_sleep_usec(unsigned usec)
{
    struct timespec ts = { .tv_sec = usec / 1000000u, .tv_nsec = (usec % 1000000u) * 1000 };

    nanosleep(&ts, NULL);
}

/* Boots the probe disk DISK as a TYPE domain NAME. 0 when it powered
 * itself off within TIMEOUT_SEC, -ETIMEDOUT when still running, else a
 * negative errno with a message. */
static int
hv_probe_type(struct hv *h, const char *type, const char *name, const char *disk,
              unsigned timeout_sec, const atomic_bool *cancel, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, name);
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    _cleanup_free_ char *xml = NULL;
    uint64_t t0, deadline;
    int state, reason, r;

    hv_probe_domain_remove(h, name);
    xml = xasprintf("<domain type='%s'><name>%s</name><memory unit='MiB'>64</memory>"
                    "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>"
                    "<features><acpi/></features><on_poweroff>destroy</on_poweroff>"
                    "<on_reboot>restart</on_reboot><on_crash>destroy</on_crash><devices>"
                    "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                    "<source file='%s'/><target dev='hda' bus='ide'/></disk>"
                    "<memballoon model='none'/></devices></domain>",
                    type, name, disk);
    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    t0 = now_usec();
    dom = virDomainDefineXML(conn, xml);
    hv_note_duration(h, "virDomainDefineXML", t0);
    if (!dom)
        return hv_last_error(reterr_msg);

    t0 = now_usec();
    deadline = t0 + (uint64_t) timeout_sec * 1000000u;
    if (virDomainCreate(dom) < 0) {
        r = hv_last_error(reterr_msg);
        goto cleanup;
    }
    for (;;) {
        if (virDomainGetState(dom, &state, &reason, 0) < 0) {
            r = hv_last_error(reterr_msg);
            break;
        }
        if (state == VIR_DOMAIN_SHUTOFF) {
            if (reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN)
                r = 0;
            else
                r = hv_fail(-EIO, reterr_msg,
                            "The %s probe guest stopped without powering off (reason %d).",
                            type, reason);
            break;
        }
        if (cancel && atomic_load(cancel)) {
            r = hv_fail(-ECANCELED, reterr_msg, "The %s probe was cancelled.", type);
            break;
        }
        if (now_usec() >= deadline) {
            r = hv_fail(-ETIMEDOUT, reterr_msg,
                        "The %s probe guest did not power off within %u seconds.", type,
                        timeout_sec);
            break;
        }
        hv_sleep_usec(HV_PROBE_POLL_USEC);
    }
    log_debug("virt type probe '%s': %d after %.2f s", type, r,
              (double) (now_usec() - t0) / 1e6);
 cleanup:
    hv_probe_domain_remove(h, name);
    return r;
}

/* Returns 0 and the first of kvm, qemu that runs the probe guest within
 * TIMEOUT_SEC (a new string); on hosts listing neither, the first listed
 * type without a probe. -EIO with a message when kvm/qemu are listed but
 * none ran the probe; -EINVAL for a PREFIX that is not XML-safe; else the
 * table's errno (e.g. -ENOENT: no STORAGE_POOL). Logs at debug only. */
int
hv_detect_virt_type(struct hv *h, const char *storage_pool, const char *prefix,
                    unsigned timeout_sec, const atomic_bool *cancel, char **ret_type,
                    char **reterr_msg)
{
    static const char *const candidates[] = { "kvm", "qemu" };
    _cleanup_free_ char *name = NULL, *vol = NULL, *disk = NULL, *last_msg = NULL;
    _cleanup_free_ unsigned char *sector = NULL;
    const char *found = NULL;
    bool listed[ELEMENTSOF(candidates)];
    size_t i, n_listed = 0;
    int r = -EIO;

    if (!hv_xml_safe(prefix) || !hv_xml_safe(storage_pool))
        return hv_fail(-EINVAL, reterr_msg, "Invalid probe prefix '%s'.", strempty(prefix));
    for (i = 0; i < ELEMENTSOF(candidates); i++) {
        listed[i] = hv_type_listed(h, candidates[i]);
        n_listed += listed[i];
    }
    if (n_listed == 0)
        return hv_first_listed_type(h, ret_type, reterr_msg);

    name = xasprintf("%s-virtprobe", prefix);
    vol = xasprintf("%s-virtprobe.img", prefix);
    sector = xmalloc0(512);
    memcpy(sector, hv_probe_code, sizeof(hv_probe_code));
    sector[510] = 0x55;
    sector[511] = 0xaa;
    r = hv_volume_delete(h, storage_pool, vol);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Cannot use storage pool '%s' for the probe disk.",
                       storage_pool);
    r = hv_volume_create_raw(h, storage_pool, vol, sector, 512, HV_PROBE_DISK_SIZE, &disk,
                             reterr_msg);
    if (r < 0)
        return r;

    for (i = 0; i < ELEMENTSOF(candidates) && !found && r != -ECANCELED; i++) {
        if (!listed[i])
            continue;
        free(last_msg);
        last_msg = NULL;
        r = hv_probe_type(h, candidates[i], name, disk, timeout_sec, cancel, &last_msg);
        if (r == 0)
            found = candidates[i];
    }
    (void) hv_volume_delete(h, storage_pool, vol);
    if (!found) {
        /* The last type's whole-sentence reason is the message. */
        if (reterr_msg && !*reterr_msg)
            *reterr_msg = TAKE_PTR(last_msg);
        return r == -ECANCELED ? r : -EIO;
    }
    *ret_type = xstrdup(found);
    return 0;
}

/* Whether URI names this machine's own libvirtd (so /dev/kvm here is the
 * one QEMU opens). */
static bool
hv_uri_is_local(const char *uri)
{
    return strncmp(uri, "qemu:///", 8) == 0;
}

char *
hv_kvm_advice(struct hv *h)
{
    struct stat st;
    struct group *kvm;

    if (!hv_uri_is_local(hv_uri(h)))
        return xasprintf("If /dev/kvm on that host is not readable and writable by group "
                         "kvm (Debian's default, mode 0660), libvirt 9.0 probes QEMU again "
                         "on every call: chgrp kvm /dev/kvm; chmod 0660 /dev/kvm there, then "
                         "restart libvirtd.");
    if (stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode))
        return NULL;
    kvm = getgrnam("kvm");
    if ((st.st_mode & 0060) == 0060 && kvm && st.st_gid == kvm->gr_gid)
        return NULL;
    return xasprintf("/dev/kvm is mode %04o, group %s: QEMU (user libvirt-qemu, group kvm) "
                     "cannot open it, and libvirt 9.0 then probes QEMU's capabilities again "
                     "on every call. Fix: chgrp kvm /dev/kvm; chmod 0660 /dev/kvm (Debian's "
                     "default; scripts/setup-host.sh does it); libvirt notices by itself.",
                     (unsigned) (st.st_mode & 07777),
                     kvm && st.st_gid == kvm->gr_gid ? "kvm" : "not kvm");
}
