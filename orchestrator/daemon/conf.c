/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conf.c - deskpoold configuration: defaults, the config file, flags
 *
 * DESIGN
 *   One table lists every key: its type, default, range and whether
 *   SIGHUP may change it in a running daemon. The file is "key = value"
 *   lines; flags on the command line are applied after the file through
 *   the same conf_set(), so a flag overrides the file. docs/config.md
 *   documents the same table. Nothing here logs.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "log.h"
#include "name.h"
#include "util.h"

enum conf_type {
    CONF_STRING,
    CONF_UNSIGNED,
    CONF_DURATION, /* unsigned seconds, accepts 90, 90s, 5m, 2h */
};

struct conf_key {
    const char *name;
    enum conf_type type;
    size_t offset;
    const char *def;
    unsigned min, max; /* numbers only */
    bool reloadable;
};

#define S(n, d, rl) { #n, CONF_STRING, offsetof(struct conf, n), d, 0, 0, rl }
#define U(n, d, lo, hi, rl) { #n, CONF_UNSIGNED, offsetof(struct conf, n), d, lo, hi, rl }
#define D(n, d, lo, hi, rl) { #n, CONF_DURATION, offsetof(struct conf, n), d, lo, hi, rl }

static const struct conf_key conf_keys[] = {
    S(uri, "qemu:///system", false),
    S(instance, DP_DEFAULT_INSTANCE, false),
    S(state_dir, "", false),
    S(images_dir, "", false),
    S(storage_pool, "", false),
    S(storage_dir, "", false),
    S(socket, "", false),
    S(listen, "", false),
    S(tokens_file, DP_SYSCONF_DIR "/tokens", true),
    S(templates_dir, DP_TEMPLATES_DIR, true),
    S(hooks_dir, DP_HOOKS_DIR, true),
    S(ui_dir, DP_UI_DIR, false),
    S(log_level, "info", true),
    S(log_file, "", false),
    S(virt_type, "auto", false),
    S(console_listen, "127.0.0.1", false),
    S(console_host, "", true),
    S(console_password, "required", false),
    S(console_gateway_url, "", true),
    U(max_concurrent, "4", 1, 256, true),
    D(boot_timeout, "120", 1, 86400, true),
    D(boot_delay, "10", 0, 3600, true),
    U(max_boot_failures, "3", 1, 100, true),
    D(host_failure_retry, "60", 0, 86400, true),
    D(reconcile_interval, "5", 1, 3600, true),
    D(virt_probe_timeout, "15", 1, 600, false),
    D(acquire_timeout, "60", 0, 3600, true),
    D(console_ttl, "300", 10, 86400, true),
    D(console_ticket_ttl, "60", 1, 3600, true),
    D(hook_timeout, "30", 1, 3600, true),
    U(data_disk_size, "1024", 16, 4194304, true),
    U(max_connections, "1024", 16, 65536, false),
    U(max_connections_per_address, "32", 0, 65536, false),
    D(request_timeout, "30", 1, 3600, false),
    D(session_retention, "30d", 0, 36500U * 86400U, true),
    D(audit_retention, "365d", 0, 36500U * 86400U, true),
    D(host_lost_grace, "60", 5, 86400, true),
    U(vcpus_per_cpu, "0", 0, 256, true),
    U(memory_overcommit, "100", 10, 100000, true),
    U(host_max_starts, "4", 1, 256, true),
    D(libvirt_resync_interval, "60", 1, 86400, true),
};

#undef S
#undef U
#undef D

static const struct conf_key *
conf_key_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++)
        if (streq(conf_keys[i].name, name))
            return &conf_keys[i];
    return NULL;
}

/* "" (no gateway), or SCHEME://HOST[:PORT][/PATH] with scheme http or
 * https, printable ASCII without spaces, quotes, '?', '#' or a trailing
 * '/': deskpoold appends "/desktop?ticket=..." to it. */
static bool
conf_gateway_url_is_valid(const char *v)
{
    const char *rest;

    if (v[0] == '\0')
        return true;
    if (strncmp(v, "https://", 8) == 0)
        rest = v + 8;
    else if (strncmp(v, "http://", 7) == 0)
        rest = v + 7;
    else
        return false;
    if (rest[0] == '\0' || rest[0] == '/' || v[strlen(v) - 1] == '/')
        return false;
    for (const char *p = rest; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("?#\"'<>\\`{}|^", *p))
            return false;
    return true;
}

static int
conf_key_set(struct conf *c, const struct conf_key *k, const char *value, char **reterr_msg)
{
    void *field = (char *) c + k->offset;
    unsigned v;
    int r;

    switch (k->type) {
    case CONF_STRING:
        if (strlen(value) > 4096) {
            *reterr_msg = xasprintf("Value of '%s' is too long.", k->name);
            return -EINVAL;
        }
        if (streq(k->name, "log_level") && log_level_from_string(value) < 0) {
            *reterr_msg = xasprintf("log_level must be one of error, warning, notice, info, "
                                    "debug; not '%s'.", value);
            return -EINVAL;
        }
        if (streq(k->name, "console_password") && !streq(value, "required") &&
            !streq(value, "none")) {
            *reterr_msg = xasprintf("console_password must be 'required' or 'none', not '%s'.",
                                    value);
            return -EINVAL;
        }
        if (streq(k->name, "console_gateway_url") && !conf_gateway_url_is_valid(value)) {
            *reterr_msg = xasprintf("console_gateway_url must be empty or an http:// or "
                                    "https:// URL with a host and no query, fragment or "
                                    "trailing slash (like https://gw.example.org:6443), "
                                    "not '%s'.", value);
            return -EINVAL;
        }
        if (streq(k->name, "instance") && !name_is_valid(value)) {
            *reterr_msg = xasprintf("instance '%s' is not a valid name ([a-z0-9][a-z0-9_-]*, "
                                    "at most %d characters).", value, DP_NAME_MAX);
            return -EINVAL;
        }
        free(*(char **) field);
        *(char **) field = xstrdup(value);
        return 0;
    case CONF_UNSIGNED:
    case CONF_DURATION:
        if (k->type == CONF_UNSIGNED)
            r = safe_atou(value, &v);
        else
            r = parse_duration(value, &v);
        if (r < 0) {
            *reterr_msg = xasprintf("Value of '%s' must be %s, not '%s'.", k->name,
                                    k->type == CONF_UNSIGNED ? "a whole number"
                                                             : "a duration like 90, 90s, 5m or 2h",
                                    value);
            return -EINVAL;
        }
        if (v < k->min || v > k->max) {
            *reterr_msg = xasprintf("Value of '%s' must be between %u and %u, not %u.", k->name,
                                    k->min, k->max, v);
            return -ERANGE;
        }
        *(unsigned *) field = v;
        return 0;
    }
    return -EINVAL;
}

void
conf_init(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
        _cleanup_free_ char *err = NULL;

        /* defaults are valid by construction: a failure is a programming error */
        if (conf_key_set(c, &conf_keys[i], conf_keys[i].def, &err) < 0)
            abort();
    }
}

void
conf_done(struct conf *c)
{
    for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
        char **field = (char **) ((char *) c + conf_keys[i].offset);

        if (conf_keys[i].type != CONF_STRING)
            continue;
        free(*field);
        *field = NULL;
    }
}

void
conf_copy(struct conf *dst, const struct conf *src)
{
    *dst = *src;
    for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
        char **field = (char **) ((char *) dst + conf_keys[i].offset);

        if (conf_keys[i].type == CONF_STRING)
            *field = xstrdup(*field);
    }
}

int
conf_set(struct conf *c, const char *key, const char *value, char **reterr_msg)
{
    const struct conf_key *k = conf_key_find(key);

    if (!k) {
        *reterr_msg = xasprintf("Unknown configuration key '%s'.", key);
        return -EINVAL;
    }
    return conf_key_set(c, k, value, reterr_msg);
}

static char *
strip(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int
conf_load_file(struct conf *c, const char *path, char **reterr_msg)
{
    _cleanup_free_ char *data = NULL;
    char *line, *save = NULL;
    unsigned lineno = 0;
    int r;

    r = read_full_file(path, 1024 * 1024, &data, NULL);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot read configuration file '%s': %s.", path, strerror(-r));
        return r;
    }
    /* strtok_r is banned by checksrc; split by hand so empty lines count */
    for (line = data; line; line = save) {
        char *nl = strchr(line, '\n'), *eq, *key, *value;
        _cleanup_free_ char *err = NULL;

        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        line = strip(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        eq = strchr(line, '=');
        if (!eq) {
            *reterr_msg = xasprintf("%s:%u: expected 'key = value'.", path, lineno);
            return -EINVAL;
        }
        *eq = '\0';
        key = strip(line);
        value = strip(eq + 1);
        /* allow "quoted values" */
        if (value[0] == '"' && strlen(value) >= 2 && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        r = conf_set(c, key, value, &err);
        if (r < 0) {
            *reterr_msg = xasprintf("%s:%u: %s", path, lineno, err);
            return r;
        }
    }
    return 0;
}

void
conf_finalize(struct conf *c)
{
    /* Everything a daemon owns on a host follows from its instance name,
     * so that --instance alone is enough for a second one: the default
     * instance keeps the plain names. */
    bool plain = streq(c->instance, DP_DEFAULT_INSTANCE);

    if (streq(c->state_dir, "")) {
        free(c->state_dir);
        c->state_dir = plain ? xstrdup(DP_LOCALSTATE_DIR)
                             : xasprintf("%s-%s", DP_LOCALSTATE_DIR, c->instance);
    }
    if (streq(c->socket, "")) {
        free(c->socket);
        c->socket = instance_socket_path(c->instance);
    }
    if (streq(c->storage_pool, "")) {
        free(c->storage_pool);
        c->storage_pool = xstrdup(c->instance);
    }
    if (streq(c->images_dir, "")) {
        free(c->images_dir);
        c->images_dir = xasprintf("%s/images", c->state_dir);
    }
    if (streq(c->console_host, "")) {
        free(c->console_host);
        c->console_host = xstrdup(c->console_listen);
    }
    if (streq(c->storage_dir, "")) {
        free(c->storage_dir);
        c->storage_dir = xasprintf("%s/overlays", c->state_dir);
    }
}

bool
conf_key_reloadable(const char *key)
{
    const struct conf_key *k = conf_key_find(key);

    return k && k->reloadable;
}

size_t
conf_n_keys(void)
{
    return ELEMENTSOF(conf_keys);
}

const char *
conf_key_name(size_t i)
{
    return i < ELEMENTSOF(conf_keys) ? conf_keys[i].name : NULL;
}

char *
conf_get_string(const struct conf *c, const char *key)
{
    const struct conf_key *k = conf_key_find(key);
    const void *field;

    if (!k)
        return NULL;
    field = (const char *) c + k->offset;
    if (k->type == CONF_STRING)
        return xstrdup(*(char *const *) field);
    return xasprintf("%u", *(const unsigned *) field);
}
