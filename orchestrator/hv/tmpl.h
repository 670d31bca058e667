/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tmpl.h - domain templates and deskpool's domain metadata, libxml2 only.
 * See tmpl.c.
 *
 * A template is a complete libvirt domain XML file. deskpool sets the
 * domain type, name, UUID, the source of the system disk and its own
 * <metadata> element, and keeps everything else as written. The system
 * disk is the <disk device='disk'> with <alias name='ua-system'/>, else
 * the first <disk device='disk'>.
 */
#pragma once

#include <stdint.h>

#include "macro.h"

#define DP_METADATA_NS "https://deskpool.org/xmlns/desktop/1"
#define DP_METADATA_PREFIX "deskpool"

struct tmpl;

/* Parses the template at PATH (at most 1 MiB). Returns 0, or -ENOENT,
 * or -EINVAL with a whole sentence in *reterr_msg (not XML, not a
 * <domain>, no disk with device='disk'). */
int tmpl_load_file(const char *path, struct tmpl **ret, char **reterr_msg);
int tmpl_load_string(const char *xml, struct tmpl **ret, char **reterr_msg);
struct tmpl *tmpl_free(struct tmpl *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tmpl *, tmpl_free);

/* True when the template has a data disk: a <disk> with
 * <alias name='ua-data'/>, which dedicated desktops keep across rebases. */
bool tmpl_has_data_disk(const struct tmpl *t);

/* True when the template has a guest agent channel
 * (<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>). */
bool tmpl_has_agent(const struct tmpl *t);

/* The guest memory (<memory>, in bytes; 0 when absent) and vCPUs
 * (<vcpu>, 1 when absent) of the template: what placement counts. */
void tmpl_get_size(const struct tmpl *t, uint64_t *ret_memory, unsigned *ret_vcpus);

/* deskpool's facts about a domain it owns, kept in the domain's
 * <metadata> under DP_METADATA_NS. */
struct desk_meta {
    char *instance; /* deskpoold instance that owns it */
    char *pool;
    char *desktop;  /* desktop name in the store */
    char *image;
    unsigned image_version;
    char *parent;   /* a parent of instant clones: its name (pool and desktop
                     * are then NULL) */
};
void desk_meta_done(struct desk_meta *m);

struct tmpl_fill {
    const char *virt_type;    /* domain type='...' ("kvm", "qemu", "test") */
    const char *name;
    const char *uuid;
    const char *disk_path;    /* source file of the system disk */
    const char *disk_format;  /* driver type, "qcow2" */
    const char *data_disk_path; /* the user's data disk (qcow2), for a template with a
                                 * <disk> aliased ua-data; required then */
    const struct desk_meta *meta;
    const char *graphics_listen; /* when set: every <graphics> listens on this
                                  * address only (listen attribute and
                                  * <listen type='address'>), and a vnc/spice
                                  * console without passwd gets passwd='': it
                                  * starts locked, and QEMU only accepts
                                  * password changes on consoles started with
                                  * one. NULL: as written */
    bool parent;              /* the parent of instant clones: every <interface>
                               * removed (each clone gets its own NIC hot-plugged
                               * after the restore) and <genid/> added (libvirt
                               * then gives every restored clone a new VM
                               * generation ID) */
};

/* Produces the domain XML for one desktop. Returns 0 and a new string,
 * or -EINVAL + message. Does not modify T. */
int tmpl_fill(const struct tmpl *t, const struct tmpl_fill *f, char **ret_xml,
              char **reterr_msg);

/* The metadata element alone, as virDomainSetMetadata() wants it, and
 * its parser (accepts what virDomainGetMetadata() returns). */
char *desk_meta_format(const struct desk_meta *m);
int desk_meta_parse(const char *xml, struct desk_meta *ret);

/* Checks the hospital's lock-down rules: each <graphics type='spice'>
 * has <clipboard copypaste='no'/> and <filetransfer enable='no'/>, no
 * <redirdev>, no <hostdev type='usb'>, no qemu-vdagent channel with
 * copypaste='yes'. Returns 0, or -EPERM with a whole sentence in
 * *reterr_msg naming the offending element. See docs/templates.md. */
int tmpl_check_lockdown(const struct tmpl *t, char **reterr_msg);

/* The console of a running domain, read from its live XML (the first
 * <graphics> element). */
struct tmpl_graphics {
    char *type;     /* "vnc" or "spice" */
    int port;       /* -1 when not allocated (autoport before start) */
    int tls_port;   /* SPICE only, -1 when none */
    char *listen;   /* address it listens on, may be NULL */
};
void tmpl_graphics_done(struct tmpl_graphics *g);

/* Reads the console facts from DOMAIN_XML (virDomainGetXMLDesc of a
 * running domain). -ENOENT when it has no <graphics>, -EINVAL when the
 * XML does not parse. */
int tmpl_graphics_parse(const char *domain_xml, struct tmpl_graphics *ret);
/* The first <graphics> element of DOMAIN_XML on its own, without its
 * password attributes: what tmpl_graphics_parse() and
 * tmpl_graphics_password_xml() accept in place of the whole domain (a
 * console cache keeps it). 0, -ENOENT or -EINVAL. */
int tmpl_graphics_element(const char *domain_xml, char **ret_xml);

/* The first <graphics> element of DOMAIN_XML, unchanged but for
 * passwd=PASSWORD and passwdValidTo=VALID_TO (UTC, libvirt's
 * "YYYY-MM-DDTHH:MM:SS"; VALID_TO <= 0 leaves it out), ready for
 * virDomainUpdateDeviceFlags(): the listen elements and ports must be
 * kept or libvirt refuses the change. Returns 0 and a new string,
 * -ENOENT without <graphics>, -EINVAL + message otherwise. */
int tmpl_graphics_password_xml(const char *domain_xml, const char *password, int64_t valid_to,
                               char **ret_xml, char **reterr_msg);

/* The XML of one instant clone: SAVED_XML (the parent's domain XML from
 * its saved image, hv_saved_image_read()) with F's name, UUID, system
 * (and data) disk source and format, metadata and console listen address
 * (as tmpl_fill()); F->virt_type may be NULL, else it must be the
 * parent's; every vnc/spice console starts locked (passwd=''). Every
 * other element (machine type, CPU, device addresses, genid) is kept:
 * libvirt does not compare a clone's XML with the saved state, so the
 * devices must stay the parent's. Returns 0 and a new
 * string; -EINVAL + message when SAVED_XML does not parse, is not a
 * <domain>, has an <interface> (it would carry the parent's MAC) or a
 * value of F is bad. Does not log. */
int tmpl_clone_xml(const char *saved_xml, const struct tmpl_fill *f, char **ret_xml,
                   char **reterr_msg);

/* The INDEX-th <interface> of template T, for hot-plugging into a clone:
 * its <mac address> set to MAC (a unicast "xx:xx:xx:xx:xx:xx") and its
 * <address> removed (the parent may use that PCI slot: libvirt picks a
 * free one). Returns 0 and a new string, -ENOENT when T has no such
 * interface, -EINVAL + message for a bad MAC. Does not log. */
int tmpl_interface_xml(const struct tmpl *t, unsigned index, const char *mac, char **ret_xml,
                       char **reterr_msg);
/* How many <interface> elements T has under <devices>. */
unsigned tmpl_interface_count(const struct tmpl *t);
