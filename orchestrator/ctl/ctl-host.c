/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-host.c - deskpoolctl host commands (list, show, add, set, drain,
 * undrain, remove, capacity) and the placement fields of a pool body.
 * See ctl.h.
 *
 * A host is one libvirt URI deskpoold places desktops on; "local" is the
 * daemon's own. These commands only send what the operator typed: sizes
 * ("4G") and labels ("k=v") are checked for their shape here and parsed
 * by the server, which owns the rules (host.c); connecting to a host is
 * the daemon's job, never this client's.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "ctl.h"
#include "name.h"
#include "util.h"

/* The server's rules for labels (host.c): KEY=VALUE, each 1-63 of
 * [A-Za-z0-9_.-], at most 32 of them. */
#define LABEL_PART_MAX 63
#define LABELS_MAX 32
#define LABEL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
/* What the server reads of a URI, a storage directory, a console address. */
#define HOST_URI_MAX 1024
#define HOST_DIR_MAX 4096
#define HOST_ADDRESS_MAX 255
#define SIZE_TEXT_MAX 24

static char *
host_path(const char *name)
{
    _cleanup_free_ char *e = path_escape(name);

    return xasprintf("/v1/hosts/%s", e);
}

/* ---- checking what was typed -------------------------------------------- */

static bool
label_part_is_valid(const char *s, size_t len)
{
    return len > 0 && len <= LABEL_PART_MAX && strspn(s, LABEL_CHARS) >= len;
}

/* "k=v,k2=v2" as a JSON array of "k=v" strings; "" is the empty array.
 * OPT names the option in messages. Returns 0, or -EINVAL (reported) for
 * a label that is not KEY=VALUE, a key given twice or too many labels. */
static int
labels_to_json(const char *opt, const char *csv, struct json_object **ret)
{
    _cleanup_(ctl_json_putp) struct json_object *a = json_object_new_array();
    const char *p = csv;

    while (csv[0] != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        _cleanup_free_ char *label = xstrndup(p, MIN(len, (size_t) 4096));

        if (!eq || !label_part_is_valid(p, (size_t) (eq - p)) ||
            !label_part_is_valid(eq + 1, len - (size_t) (eq - p) - 1)) {
            _cleanup_free_ char *safe = text_escape(label);

            return usage_error("%s: '%s' is not a label (KEY=VALUE, each 1-%d of A-Z a-z "
                               "0-9 _ . -).", opt, safe, LABEL_PART_MAX);
        }
        for (size_t i = 0; i < jarray_len(a); i++) {
            const char *have = json_object_get_string(json_object_array_get_idx(a, i));

            if (strncmp(have, label, (size_t) (eq - p) + 1) == 0)
                return usage_error("%s: label key '%.*s' is given twice.", opt,
                                   (int) (eq - p), label);
        }
        if (jarray_len(a) >= LABELS_MAX)
            return usage_error("%s: at most %d labels.", opt, LABELS_MAX);
        json_object_array_add(a, json_object_new_string(label));
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret = TAKE_PTR(a);
    return 0;
}

/* "4G": digits and an optional K, M, G or T (binary units); the server
 * turns it into bytes: see ctl.h. */
int
check_size_option(const char *opt, const char *s)
{
    size_t digits = strspn(s, "0123456789");

    if (digits == 0 || strlen(s) > SIZE_TEXT_MAX ||
        (s[digits] != '\0' && (!strchr("KMGTkmgt", s[digits]) || s[digits + 1] != '\0')))
        return usage_error("%s: '%s' is not a size (bytes, or a number with K, M, G or T: "
                           "512M, 4G).", opt, s);
    return 0;
}

/* The shape of a libvirt URI, DRIVER[+TRANSPORT]://...: the server checks
 * the rest and the daemon's connection says whether it works. */
static int
check_uri(const char *uri)
{
    const char *sep = strstr(uri, "://");
    size_t scheme = strspn(uri, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                           "0123456789+");

    if (!sep || sep == uri || uri + scheme != sep || strlen(uri) > HOST_URI_MAX ||
        !text_is_safe(uri, HOST_URI_MAX) || strpbrk(uri, " \t\"'\\")) {
        _cleanup_free_ char *safe = text_escape(uri);

        return usage_error("'%s' is not a libvirt URI (DRIVER[+TRANSPORT]://[USER@][HOST]"
                           "[:PORT]/PATH, e.g. qemu+ssh://root@kvm2/system).", safe);
    }
    return 0;
}

/* Add the host limits that were given (--max-desktops, --reserve-memory,
 * --labels) to BODY. Returns 0 or -EINVAL (reported). */
static int
host_limits_to_json(struct json_object *body)
{
    struct json_object *labels = NULL;
    int r;

    if (arg_max_desktops >= 0)
        json_object_object_add(body, "max_desktops", json_object_new_int64(arg_max_desktops));
    if (arg_reserve_memory)
        json_object_object_add(body, "reserve_memory",
                               json_object_new_string(arg_reserve_memory));
    if (arg_labels) {
        r = labels_to_json("--labels", arg_labels, &labels);
        if (r < 0)
            return r;
        json_object_object_add(body, "labels", labels);
    }
    return 0;
}

/* Add the placement options that were given (--placement, --require-labels,
 * --overcommit) to a pool body: see ctl.h. */
int
placement_to_json(struct json_object *body)
{
    struct json_object *labels = NULL;
    int r;

    if (arg_placement)
        json_object_object_add(body, "placement", json_object_new_string(arg_placement));
    if (arg_require_labels) {
        r = labels_to_json("--require-labels", arg_require_labels, &labels);
        if (r < 0)
            return r;
        json_object_object_add(body, "host_labels", labels);
    }
    if (arg_overcommit)
        json_object_object_add(body, "overcommit", json_object_new_boolean(true));
    return 0;
}

bool
placement_given(void)
{
    return arg_placement || arg_require_labels || arg_overcommit;
}

/* ---- rendering ---------------------------------------------------------- */

/* "gpu=yes,site=a", or a copy of NONE (NULL: NULL) when the array is
 * empty. New string. */
static char *
labels_label(struct json_object *labels, const char *none)
{
    char *s = NULL;

    for (size_t i = 0; i < jarray_len(labels); i++) {
        const char *l = json_object_get_string(json_object_array_get_idx(labels, i));
        char *t = s ? xasprintf("%s,%s", s, l) : xstrdup(l);

        free(s);
        s = t;
    }
    if (!s && none)
        s = xstrdup(none);
    return s;
}

/* "1.0G", or "-" when the host has not told (0). New string. */
static char *
memory_label(int64_t bytes)
{
    if (bytes <= 0)
        return xstrdup("-");
    return ctl_format_bytes((uint64_t) bytes);
}

static char *
max_desktops_label(int64_t max)
{
    if (max <= 0)
        return xstrdup("no limit");
    return xasprintf("%" PRId64, max);
}

/* "max desktops 5, reserve memory 1.0G, labels gpu=yes,site=a". New string. */
static char *
host_limits_label(struct json_object *host)
{
    _cleanup_free_ char *max = max_desktops_label(jint(host, "max_desktops"));
    _cleanup_free_ char *reserve = ctl_format_bytes((uint64_t) MAX(jint(host,
                                                                        "reserve_memory"), 0));
    _cleanup_free_ char *labels = labels_label(jget(host, "labels"), "none");

    return xasprintf("max desktops %s, reserve memory %s, labels %s", max, reserve, labels);
}

/* "3 total, 2 ready, 1 busy, 0 pending, 0 failed, 0 deleting": the
 * summary pool show prints, from a "counts" object. New string. */
static char *
counts_label(struct json_object *c)
{
    return xasprintf("%" PRId64 " total, %" PRId64 " ready, %" PRId64 " busy, %" PRId64
                     " pending, %" PRId64 " failed, %" PRId64 " deleting", jint(c, "total"),
                     jint(c, "ready"),
                     jint(c, "assigned") + jint(c, "in_use") + jint(c, "releasing"),
                     jint(c, "provisioning") + jint(c, "booting") + jint(c, "rebasing"),
                     jint(c, "failed"), jint(c, "deleting"));
}

/* A pool's placement: see ctl.h. */
char *
placement_label(struct json_object *pool)
{
    _cleanup_free_ char *labels = labels_label(jget(pool, "host_labels"), NULL);

    if (!labels)
        return xasprintf("%s, on any host", dash(jstr(pool, "placement")));
    return xasprintf("%s, on hosts with %s", dash(jstr(pool, "placement")), labels);
}

/* ---- commands ----------------------------------------------------------- */

int
verb_host_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    struct json_object *hosts;
    int r;

    r = call_show("GET", "/v1/hosts", NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    hosts = jget(doc, "hosts");
    t = ctl_table_new("NAME", "STATE", "URI", "DESKTOPS", "MEMORY", "CPUS", "VIRT", "LABELS",
                      NULL);
    for (size_t i = 0; i < jarray_len(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);
        _cleanup_free_ char *memory = memory_label(jint(h, "memory"));
        _cleanup_free_ char *labels = labels_label(jget(h, "labels"), "-");

        ctl_table_add(t, jstr(h, "name"));
        ctl_table_add(t, jstr(h, "state"));
        ctl_table_add(t, jstr(h, "uri"));
        ctl_table_addf(t, "%" PRId64, jint(jget(h, "counts"), "total"));
        ctl_table_add(t, memory);
        if (jint(h, "cpus") > 0)
            ctl_table_addf(t, "%" PRId64, jint(h, "cpus"));
        else
            ctl_table_add(t, NULL);
        ctl_table_add(t, jstr(h, "virt_type"));
        ctl_table_add(t, labels);
    }
    return ctl_table_print(t, stdout);
}

int
verb_host_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *memory = NULL;
    _cleanup_free_ char *free_memory = NULL;
    _cleanup_free_ char *reserve = NULL;
    _cleanup_free_ char *max = NULL;
    _cleanup_free_ char *labels = NULL;
    _cleanup_free_ char *warn = NULL;
    _cleanup_free_ char *counts = NULL;
    int r;

    r = check_name("host", args[0]);
    if (r < 0)
        return r;
    path = host_path(args[0]);
    r = call_show("GET", path, NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    memory = memory_label(jint(doc, "memory"));
    free_memory = memory_label(jint(doc, "free_memory"));
    reserve = ctl_format_bytes((uint64_t) MAX(jint(doc, "reserve_memory"), 0));
    max = max_desktops_label(jint(doc, "max_desktops"));
    labels = labels_label(jget(doc, "labels"), "none");
    /* 0: desktops in use stay until their users log off */
    warn = jint(doc, "drain_warn") > 0 ? seconds_label(jint(doc, "drain_warn")) : xstrdup("none");
    counts = counts_label(jget(doc, "counts"));
    printf("Name:             %s\n", strempty(jstr(doc, "name")));
    printf("URI:              %s\n", strempty(jstr(doc, "uri")));
    printf("State:            %s\n", strempty(jstr(doc, "state")));
    printf("Admin:            %s\n", strempty(jstr(doc, "admin")));
    printf("Connection:       %s\n", strempty(jstr(doc, "connection")));
    printf("Connection since: %s\n", dash(jstr(doc, "connection_since")));
    printf("Last error:       %s\n", dash(jstr(doc, "last_error")));
    printf("Virt type:        %s\n", dash(jstr(doc, "virt_type")));
    printf("Libvirt version:  %s\n", dash(jstr(doc, "libvirt_version")));
    printf("Hypervisor:       %s\n", dash(jstr(doc, "hypervisor")));
    printf("Hostname:         %s\n", dash(jstr(doc, "hostname")));
    printf("Memory:           %s\n", memory);
    printf("Free memory:      %s\n", free_memory);
    if (jint(doc, "cpus") > 0)
        printf("CPUs:             %" PRId64 "\n", jint(doc, "cpus"));
    else
        printf("CPUs:             -\n");
    printf("Reconnects:       %" PRId64 "\n", jint(doc, "reconnects"));
    {
        struct json_object *o = jget(doc, "observation");

        /* how the reconcile passes saw its domains (lifecycle events) */
        if (o)
            printf("Observation:      %" PRId64 " events, %" PRId64 " full listings, %" PRId64
                   " from events, %" PRId64 " domains read again\n", jint(o, "events"),
                   jint(o, "full_listings"), jint(o, "watched_listings"), jint(o, "rereads"));
    }
    printf("Max desktops:     %s\n", max);
    printf("Reserve memory:   %s\n", reserve);
    printf("Labels:           %s\n", labels);
    printf("Storage dir:      %s\n", jstr(doc, "storage_dir") ? jstr(doc, "storage_dir") :
           "the daemon's storage_dir");
    printf("Console address:  %s\n", jstr(doc, "console_address") ?
           jstr(doc, "console_address") : "default");
    printf("Drain warning:    %s\n", warn);
    printf("Draining since:   %s\n", dash(jstr(doc, "drain_since")));
    printf("Created:          %s\n", dash(jstr(doc, "created_at")));
    printf("Desktops:         %s\n", counts);
    return 0;
}

int
verb_host_add(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *limits = NULL;
    int r;

    r = check_name("host", args[0]);
    if (r < 0)
        return r;
    r = check_uri(args[1]);
    if (r < 0)
        return r;
    if (arg_storage_dir && (arg_storage_dir[0] != '/' || strlen(arg_storage_dir) > HOST_DIR_MAX))
        return usage_error("--storage-dir: '%s' is not an absolute path.", arg_storage_dir);
    if (arg_console_address && (arg_console_address[0] == '\0' ||
                                strlen(arg_console_address) > HOST_ADDRESS_MAX ||
                                strspn(arg_console_address, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz0123456789.:-") !=
                                strlen(arg_console_address)))
        return usage_error("--console-address: '%s' is not a host name or an IP address.",
                           arg_console_address);

    body = json_object_new_object();
    json_object_object_add(body, "name", json_object_new_string(args[0]));
    json_object_object_add(body, "uri", json_object_new_string(args[1]));
    r = host_limits_to_json(body);
    if (r < 0)
        return r;
    if (arg_storage_dir)
        json_object_object_add(body, "storage_dir", json_object_new_string(arg_storage_dir));
    if (arg_console_address)
        json_object_object_add(body, "console_address",
                               json_object_new_string(arg_console_address));

    r = call_show("POST", "/v1/hosts", body, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    limits = host_limits_label(doc);
    printf("Host '%s' added: %s, %s; state %s.\n", strempty(jstr(doc, "name")),
           strempty(jstr(doc, "uri")), limits, strempty(jstr(doc, "state")));
    return 0;
}

int
verb_host_set(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *limits = NULL;
    int r;

    r = check_name("host", args[0]);
    if (r < 0)
        return r;
    if (arg_max_desktops < 0 && !arg_reserve_memory && !arg_labels)
        return usage_error("host set: nothing to change; give --max-desktops, "
                           "--reserve-memory or --labels.");
    body = json_object_new_object();
    r = host_limits_to_json(body);
    if (r < 0)
        return r;

    path = host_path(args[0]);
    r = call_show("PATCH", path, body, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    limits = host_limits_label(doc);
    printf("Host '%s' changed: %s.\n", strempty(jstr(doc, "name")), limits);
    return 0;
}

int
verb_host_drain(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *warn = NULL;
    int r;

    r = check_name("host", args[0]);
    if (r < 0)
        return r;
    body = json_object_new_object();
    if (arg_warn >= 0)
        json_object_object_add(body, "warn", json_object_new_int64(arg_warn));

    path = host_path(args[0]);
    url = xasprintf("%s/drain", path);
    r = call_show("POST", url, body, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    if (jint(doc, "drain_warn") > 0) {
        warn = ctl_format_duration((uint64_t) jint(doc, "drain_warn"));
        printf("Host '%s' is draining: it takes no new desktops; desktops in use are logged "
               "off after a %s warning.\n", strempty(jstr(doc, "name")), warn);
    } else {
        printf("Host '%s' is draining: it takes no new desktops; desktops in use stay until "
               "their users log off.\n", strempty(jstr(doc, "name")));
    }
    return 0;
}

int
verb_host_undrain(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *url = NULL;
    int r;

    r = check_name("host", args[0]);
    if (r < 0)
        return r;
    path = host_path(args[0]);
    url = xasprintf("%s/undrain", path);
    r = call_show("POST", url, NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    printf("Host '%s' takes desktops again.\n", strempty(jstr(doc, "name")));
    return 0;
}

int
verb_host_remove(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    int r;

    r = check_name("host", args[0]);
    if (r < 0)
        return r;
    path = host_path(args[0]);
    r = call_show("DELETE", path, NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    printf("Host '%s' removed.\n", strempty(jstr(doc, "name")));
    return 0;
}

/* "498M*": bytes in MiB (rounded up), "*" when measured on the host. */
static char *
footprint_label(struct json_object *p)
{
    int64_t bytes = jint(p, "footprint");

    if (bytes <= 0)
        return xstrdup("-");
    return xasprintf("%" PRId64 "M%s", (bytes + (1 << 20) - 1) >> 20,
                     streq_ptr(jstr(p, "footprint_source"), "measured") ? "*" : "");
}

/* "12", or "-" when no limit applies (null). */
static char *
fits_label(struct json_object *o)
{
    if (!jstr(o, "fits"))
        return xstrdup("-");
    return xasprintf("%" PRId64, jint(o, "fits"));
}

/* "Pool 'demo': 12 more desktop(s) fit; it has 3 (min 2, max 20)." with
 * "min does not fit" when admission control would refuse its min. */
static void
print_pool_total(struct json_object *p)
{
    const char *name = strempty(jstr(p, "pool"));
    int64_t n = jint(p, "desktops"), min = jint(p, "min"), max = jint(p, "max");

    if (!jstr(p, "fits"))
        printf("Pool '%s': no limit applies; it has %" PRId64 " (min %" PRId64 ", max %" PRId64
               ").\n", name, n, min, max);
    else if (n + jint(p, "fits") < min)
        printf("Pool '%s': %" PRId64 " more desktop(s) fit; it has %" PRId64 " (min %" PRId64
               ", max %" PRId64 "): its min does not fit.\n", name, jint(p, "fits"), n, min,
               max);
    else
        printf("Pool '%s': %" PRId64 " more desktop(s) fit; it has %" PRId64 " (min %" PRId64
               ", max %" PRId64 ").\n", name, jint(p, "fits"), n, min, max);
}

int
verb_host_capacity(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *url = xstrdup("/v1/capacity");
    struct json_object *hosts, *pools;
    bool measured = false;
    int r;

    if (arg_pool) {
        r = check_name("pool", arg_pool);
        if (r < 0)
            return r;
        url_add_query(&url, "pool", arg_pool);
    }
    r = call_show("GET", url, NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;

    hosts = jget(doc, "hosts");
    t = ctl_table_new("HOST", "POOL", "TEMPLATE", "FOOTPRINT", "FITS", "LIMIT", NULL);
    for (size_t i = 0; i < jarray_len(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);
        struct json_object *hp = jget(h, "pools");

        if (jarray_len(hp) == 0) {
            /* no pool to place: the host still gets its row */
            ctl_table_add(t, jstr(h, "name"));
            for (unsigned k = 0; k < 5; k++)
                ctl_table_add(t, NULL);
        }
        for (size_t k = 0; k < jarray_len(hp); k++) {
            struct json_object *p = json_object_array_get_idx(hp, k);
            _cleanup_free_ char *footprint = footprint_label(p);
            _cleanup_free_ char *fits = fits_label(p);

            measured = measured || streq_ptr(jstr(p, "footprint_source"), "measured");
            ctl_table_add(t, jstr(h, "name"));
            ctl_table_add(t, jstr(p, "pool"));
            ctl_table_add(t, jstr(p, "template"));
            ctl_table_add(t, footprint);
            ctl_table_add(t, fits);
            ctl_table_add(t, jstr(p, "limit"));
        }
    }
    r = ctl_table_print(t, stdout);
    if (measured)
        printf("* measured on the host; else the template's memory.\n");
    pools = jget(doc, "pools");
    if (jarray_len(pools) > 0)
        printf("\n");
    for (size_t i = 0; i < jarray_len(pools); i++)
        print_pool_total(json_object_array_get_idx(pools, i));
    return r;
}
