/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conf.h - deskpoold configuration: defaults, file, flags. See conf.c
 * and docs/config.md (every key, its default and whether SIGHUP applies it). */
#pragma once

#include "macro.h"
#include "name.h"

struct conf {
    char *uri;              /* libvirt URI, "qemu:///system" */
    char *instance;         /* name of this deskpoold: prefixes its domains/volumes */
    char *state_dir;        /* SQLite store, images, logs */
    char *images_dir;       /* "" = STATE_DIR/images */
    char *storage_pool;     /* libvirt storage pool for overlays */
    char *storage_dir;      /* its directory; "" = STATE_DIR/overlays */
    char *socket;           /* unix socket of the REST API */
    char *listen;           /* "ADDR:PORT" for TCP, "" = off */
    char *tokens_file;      /* bearer tokens for TCP */
    char *templates_dir;
    char *hooks_dir;
    char *ui_dir;           /* the dashboard's static files, served at /ui/ */
    char *log_level;
    char *log_file;         /* "" = stderr */
    char *virt_type;        /* "auto" or a libvirt domain type */
    char *console_listen;   /* the only address desktop consoles listen on */
    char *console_host;     /* address clients are told to connect to; "" = console_listen */
    char *console_password; /* "required" or "none" (drivers without device updates) */
    char *console_gateway_url; /* the browser gateway's base URL; "" = no browser URLs */
    unsigned max_concurrent;      /* concurrent clone/boot operations */
    unsigned boot_timeout;        /* seconds until a boot counts as failed */
    unsigned boot_delay;          /* seconds of running = ready, without agent */
    unsigned max_boot_failures;   /* then the desktop is quarantined */
    unsigned host_failure_retry;  /* seconds; a quarantine for no space is retried */
    unsigned reconcile_interval;  /* seconds between level-triggered passes */
    unsigned virt_probe_timeout;  /* seconds a virt type probe may take */
    unsigned acquire_timeout;     /* seconds an acquire may wait for a desktop */
    unsigned console_ttl;         /* seconds a one-time console password is valid */
    unsigned console_ticket_ttl;  /* seconds a browser console ticket is valid */
    unsigned hook_timeout;        /* seconds a hook may run */
    unsigned data_disk_size;      /* MiB of a dedicated desktop's data disk */
    unsigned max_connections;     /* REST connections per listener */
    unsigned max_connections_per_address; /* TCP: not-busy connections from one address */
    unsigned request_timeout;     /* seconds to send a request, or to read an answer */
    unsigned session_retention;   /* seconds ended sessions are kept; 0 = forever */
    unsigned audit_retention;     /* seconds audit entries are kept; 0 = forever */
    unsigned host_lost_grace;     /* seconds a host may be unreachable before its
                                   * desktops are replaced elsewhere */
    unsigned vcpus_per_cpu;       /* vCPU overcommit: most vCPUs per host CPU (0: no limit) */
    unsigned memory_overcommit;   /* percent of a host's memory its desktops may commit */
    unsigned host_max_starts;     /* guests started at once on one host (boot storms) */
    unsigned libvirt_resync_interval; /* seconds between full listings of a host; in
                                       * between, its lifecycle events say what changed */
};

/* Fills every key with its default. */
void conf_init(struct conf *c);
void conf_done(struct conf *c);
/* Makes DST (uninitialised) an independent copy of SRC. */
void conf_copy(struct conf *dst, const struct conf *src);

/* Sets one key from text. -EINVAL with a sentence for an unknown key or a
 * bad value; -ERANGE for a number out of its range. */
int conf_set(struct conf *c, const char *key, const char *value, char **reterr_msg);

/* Reads "key = value" lines ('#' comments, blank lines). Stops at the
 * first bad line: -EINVAL (or -ERANGE for a number out of range) with
 * "FILE:LINE: ..." in *reterr_msg. */
int conf_load_file(struct conf *c, const char *path, char **reterr_msg);

/* Fills derived keys: state_dir, socket and storage_pool from the instance
 * name (DP_LOCALSTATE_DIR[-INSTANCE], DP_RUNSTATE_DIR[-INSTANCE]/
 * deskpoold.sock, INSTANCE), images_dir and storage_dir from state_dir. */
void conf_finalize(struct conf *c);

/* The keys SIGHUP can change without a restart. */
bool conf_key_reloadable(const char *key);

/* Iterate keys for docs and `deskpoold --print-config`. */
size_t conf_n_keys(void);
const char *conf_key_name(size_t i);
char *conf_get_string(const struct conf *c, const char *key);
