/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-main.c - the operator's command line: a client of deskpoold's REST API
 *
 * Owns the command table, option parsing, the request bodies sent for each
 * command and the human rendering of the answers. Talks to deskpoold only
 * through ctl-http.c (libcurl) and prints only through ctl-output.c (tables,
 * progress) or, with --json, the server's own documents verbatim.
 *
 * DESIGN: `deskpoolctl [GLOBAL OPTIONS] [GROUP] VERB [ARGS] [OPTIONS]`.
 * Every command is one row of verbs[]: its words, its positional
 * arguments, the options it accepts (a bit mask over one shared option
 * table) and its function, so a new command is one row plus one function.
 * Input is checked before anything is sent (numbers with safe_atou,
 * durations with parse_duration, pool and image names with name_is_valid,
 * user and group names with principal_name_is_valid); the server checks
 * everything again. Each function
 * returns 0 or a negative errno and reports its error exactly once, at the
 * point it is detected (report_error()); main() maps -EINVAL (bad usage, or
 * a 4xx answer other than 401/403: the input was wrong) to exit status 2
 * and every other failure to 1.
 * Image updates (rebase, refresh) run in deskpoold as operations; the
 * commands that wait poll GET /v1/operations/ID every 0.5 s and never
 * decide anything themselves: a second refresh answered 200 is waited on.
 * With --json a command prints exactly one JSON document on stdout: the
 * server's answer, or on failure an error document
 * {"error":{"code","message"}} (the server's own when it sent one), while
 * the human sentence still goes to stderr. Nothing here ends the process
 * early: every path returns up to main(), which picks the exit status.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "ctl.h"
#include "name.h"
#include "util.h"

static const struct option verb_options[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, OPT_HELP },
    { "note", required_argument, NULL, OPT_NOTE },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "image-version", required_argument, NULL, OPT_IMAGE_VERSION },
    { "template", required_argument, NULL, OPT_TEMPLATE },
    { "mode", required_argument, NULL, OPT_MODE },
    { "min", required_argument, NULL, OPT_MIN },
    { "spare", required_argument, NULL, OPT_SPARE },
    { "max", required_argument, NULL, OPT_MAX },
    { "wait", no_argument, NULL, OPT_WAIT },
    { "force", no_argument, NULL, OPT_FORCE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "pool", required_argument, NULL, OPT_POOL },
    { "user", required_argument, NULL, OPT_USER },
    { "all", no_argument, NULL, OPT_ALL },
    { "ended", no_argument, NULL, OPT_ENDED },
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "groups", required_argument, NULL, OPT_GROUPS },
    { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "max-session", required_argument, NULL, OPT_MAX_SESSION },
    /* a bare flag, "=yes|no", or (pool set) the next word yes|no */
    { "allow-device-redirection", optional_argument, NULL, OPT_ALLOW_REDIRECTION },
    { "to", required_argument, NULL, OPT_TO },
    { "policy", required_argument, NULL, OPT_POLICY },
    { "warn", required_argument, NULL, OPT_WARN },
    { "batch", required_argument, NULL, OPT_BATCH },
    { "no-wait", no_argument, NULL, OPT_NO_WAIT },
    { "since", required_argument, NULL, OPT_SINCE },
    { "clone", required_argument, NULL, OPT_CLONE },
    { "max-desktops", required_argument, NULL, OPT_MAX_DESKTOPS },
    { "reserve-memory", required_argument, NULL, OPT_RESERVE_MEMORY },
    { "labels", required_argument, NULL, OPT_LABELS },
    { "storage-dir", required_argument, NULL, OPT_STORAGE_DIR },
    { "console-address", required_argument, NULL, OPT_CONSOLE_ADDRESS },
    { "placement", required_argument, NULL, OPT_PLACEMENT },
    { "require-labels", required_argument, NULL, OPT_REQUIRE_LABELS },
    { "overcommit", no_argument, NULL, OPT_OVERCOMMIT },
    {}
};

static const struct option global_options[] = {
    { "socket", required_argument, NULL, OPT_SOCKET },
    { "instance", required_argument, NULL, OPT_INSTANCE },
    { "url", required_argument, NULL, OPT_URL },
    { "token", required_argument, NULL, OPT_TOKEN },
    { "json", no_argument, NULL, OPT_JSON },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    {}
};

const char *arg_socket;
const char *arg_url;
const char *arg_token;
bool arg_json;
unsigned arg_timeout = DEFAULT_REQUEST_TIMEOUT_SEC;
const char *arg_note;
const char *arg_image;
const char *arg_image_version;
const char *arg_template;
const char *arg_mode;
const char *arg_clone;           /* "instant" or "boot"; NULL = not given */
const char *arg_pool;
const char *arg_user;
bool arg_all;
bool arg_ended;
int64_t arg_limit = -1;
const char *arg_groups;          /* "a,b,c"; "" = everyone; NULL = not given */
int64_t arg_idle_timeout = -1;   /* seconds */
int64_t arg_max_session = -1;    /* seconds */
int arg_allow_redirection = -1;  /* -1 not given, 0 no, 1 yes */
int64_t arg_min = -1;
int64_t arg_spare = -1;
int64_t arg_max = -1;
bool arg_wait;
bool arg_force;
unsigned arg_wait_timeout = DEFAULT_WAIT_TIMEOUT_SEC;
const char *arg_to;              /* "vN", "N" or "latest"; NULL = not given */
const char *arg_policy;
int64_t arg_warn = -1;           /* seconds */
int64_t arg_batch = -1;
bool arg_no_wait;
const char *arg_since;
int64_t arg_max_desktops = -1;   /* 0 = no limit */
const char *arg_reserve_memory;  /* "4G" as typed; NULL = not given */
const char *arg_labels;          /* "k=v,..."; "" = none; NULL = not given */
const char *arg_storage_dir;
const char *arg_console_address;
const char *arg_placement;       /* "spread" or "pack"; NULL = not given */
const char *arg_require_labels;  /* "k=v,..."; "" = none; NULL = not given */
bool arg_overcommit;

struct ctl_http_target target;
struct ctl_progress *active_progress;

static const struct ctl_verb verbs[] = {
    { NULL, "check", "", 0, 0, 0, verb_check,
      "Check that the store and libvirt agree (every desktop has its domain and\n"
      "      volume, no orphans, sessions only on desktops in use); exit 1 if not." },
    { NULL, "health", "", 0, 0, 0, verb_health,
      "Show whether deskpoold and its libvirt connection are up." },
    { "image", "add", "NAME FILE [--note TEXT]", 2, 2, F(OPT_NOTE), verb_image_add,
      "Register the qcow2 FILE as the next version of image NAME." },
    { "image", "list", "", 0, 0, 0, verb_image_list,
      "List every version of every image." },
    { "image", "show", "NAME", 1, 1, 0, verb_image_show,
      "Show the versions of image NAME." },
    { "image", "publish", "NAME FILE [--note TEXT]", 2, 2, F(OPT_NOTE), verb_image_publish,
      "Publish the qcow2 FILE as the next version of image NAME; pools that\n"
      "      follow latest are rebased to it." },
    { "image", "versions", "NAME", 1, 1, 0, verb_image_versions,
      "List the versions of image NAME, with who published them and which are\n"
      "      retired." },
    { "image", "retire", "NAME vN", 2, 2, 0, verb_image_retire,
      "Retire version N of image NAME and remove its file (refused while a\n"
      "      pool or desktop uses it)." },
    { "image", "refresh", "--pool P | --all [--no-wait] [--timeout SEC]", 0, 0,
      F(OPT_POOL) | F(OPT_ALL) | F(OPT_NO_WAIT) | F(OPT_TIMEOUT), verb_image_refresh,
      "Recreate the idle desktops of pool P (or of every pool) from their image\n"
      "      and wait until done (default timeout 600 s); exit 1 when one failed." },
    { "pool", "create",
      "NAME --image I [--image-version N|latest] [--template T]\n"
      "      [--mode floating|dedicated] [--clone instant|boot] --min N --spare N --max N\n"
      "      [--groups G1,G2,...] [--idle-timeout DUR] [--max-session DUR]\n"
      "      [--allow-device-redirection] [--placement spread|pack]\n"
      "      [--require-labels K=V,...] [--overcommit] [--wait [--timeout SEC]]",
      1, 1,
      F(OPT_IMAGE) | F(OPT_IMAGE_VERSION) | F(OPT_TEMPLATE) | F(OPT_MODE) | F(OPT_CLONE) |
      SIZE_OPTS | POLICY_OPTS | PLACEMENT_OPTS | F(OPT_WAIT) | F(OPT_TIMEOUT), verb_pool_create,
      "Create a pool; --wait waits until it is settled (see pool wait). Without\n"
      "      --groups everyone is entitled. DUR: 90, 90s, 15m, 12h, 1d. Without\n"
      "      --clone: instant clones where they work (floating pools on local QEMU),\n"
      "      else booted desktops. --placement: spread desktops over the hosts\n"
      "      (default) or pack them; --require-labels: only hosts with these labels;\n"
      "      --overcommit: accept a min that does not fit on the hosts." },
    { "pool", "resize", "NAME [--min N] [--spare N] [--max N] [--wait [--timeout SEC]]", 1, 1,
      SIZE_OPTS | F(OPT_WAIT) | F(OPT_TIMEOUT), verb_pool_resize,
      "Change a pool's sizes; --wait waits until it is settled." },
    { "pool", "set",
      "NAME [--image-version vN|latest] [--clone instant|boot] [--groups G1,G2,...]\n"
      "      [--idle-timeout DUR] [--max-session DUR] [--allow-device-redirection yes|no]\n"
      "      [--placement spread|pack] [--require-labels K=V,...] [--overcommit]",
      1, 1, POLICY_OPTS | PLACEMENT_OPTS | F(OPT_IMAGE_VERSION) | F(OPT_CLONE), verb_pool_set,
      "Change a pool's image version (a rebase follows), how it makes desktops\n"
      "      (--clone instant again re-arms a pool that fell back to boot), its\n"
      "      session policy or where its desktops go; --groups '' entitles everyone,\n"
      "      --require-labels '' lets every host take them." },
    { "pool", "rebase",
      "NAME [--to vN|latest] [--policy wait-for-logoff|force-logoff] [--warn DUR]\n"
      "      [--batch N] [--wait [--timeout SEC]]", 1, 1,
      F(OPT_TO) | F(OPT_POLICY) | F(OPT_WARN) | F(OPT_BATCH) | F(OPT_WAIT) | F(OPT_TIMEOUT),
      verb_pool_rebase,
      "Move a pool's desktops to another image version (default latest), BATCH\n"
      "      at a time after a canary; --wait follows it to the end." },
    { "pool", "list", "", 0, 0, 0, verb_pool_list,
      "List pools with their desktop counts." },
    { "pool", "show", "NAME", 1, 1, 0, verb_pool_show,
      "Show a pool and its desktops." },
    { "pool", "delete", "NAME [--force] [--wait [--timeout SEC]]", 1, 1,
      F(OPT_FORCE) | F(OPT_WAIT) | F(OPT_TIMEOUT), verb_pool_delete,
      "Delete a pool and its desktops; --force even while desktops are in use." },
    { "pool", "wait", "NAME [--timeout SEC]", 1, 1, F(OPT_TIMEOUT), verb_pool_wait,
      "Wait until a pool is settled (default timeout 600 s)." },
    { "desktop", "list", "[--pool P]", 0, 0, F(OPT_POOL), verb_desktop_list,
      "List desktops, of every pool or of pool P." },
    { "host", "list", "", 0, 0, 0, verb_host_list,
      "List the libvirt hosts desktops are placed on." },
    { "host", "show", "NAME", 1, 1, 0, verb_host_show,
      "Show a host: its connection, node facts, limits, labels and desktops." },
    { "host", "add",
      "NAME URI [--max-desktops N] [--reserve-memory SIZE] [--labels K=V,...]\n"
      "      [--storage-dir DIR] [--console-address ADDR]", 2, 2,
      HOST_LIMIT_OPTS | F(OPT_STORAGE_DIR) | F(OPT_CONSOLE_ADDRESS), verb_host_add,
      "Add the libvirt host URI (qemu+ssh://root@kvm2/system); deskpoold connects\n"
      "      to it and places desktops on it. SIZE: bytes, or N with K, M, G or T." },
    { "host", "set", "NAME [--max-desktops N] [--reserve-memory SIZE] [--labels K=V,...]", 1,
      1, HOST_LIMIT_OPTS, verb_host_set,
      "Change a host's limits or labels; --max-desktops 0 is no limit, --labels ''\n"
      "      removes every label." },
    { "host", "drain", "NAME [--warn DUR]", 1, 1, F(OPT_WARN), verb_host_drain,
      "Put no new desktops on a host and move its spares elsewhere; desktops in\n"
      "      use stay until logoff or, with --warn, are logged off after DUR." },
    { "host", "undrain", "NAME", 1, 1, 0, verb_host_undrain,
      "Let a draining host take desktops again." },
    { "host", "remove", "NAME", 1, 1, 0, verb_host_remove,
      "Remove a host that has no desktops left (drain it first)." },
    { "host", "capacity", "[--pool P]", 0, 0, F(OPT_POOL), verb_host_capacity,
      "Show how many more desktops of each pool fit on each host, and the limit\n"
      "      that stops them (FOOTPRINT * when measured; FITS - when none applies)." },
    { "operation", "list", "[--pool P] [--all]", 0, 0, F(OPT_POOL) | F(OPT_ALL),
      verb_operation_list,
      "List running rebase and refresh operations (--all: finished ones too)." },
    { "operation", "show", "ID [--wait [--timeout SEC]]", 1, 1, F(OPT_WAIT) | F(OPT_TIMEOUT),
      verb_operation_show,
      "Show one operation; --wait follows it until it ends (exit 1 if it failed)." },
    { "session", "list", "[--pool P] [--user U] [--all | --ended]", 0, 0,
      F(OPT_POOL) | F(OPT_USER) | F(OPT_ALL) | F(OPT_ENDED), verb_session_list,
      "List active sessions (--ended: ended ones, --all: both), every page." },
    { "session", "show", "ID", 1, 1, 0, verb_session_show,
      "Show one session." },
    { "session", "end", "ID", 1, 1, 0, verb_session_end,
      "End a session now (forced logout); its desktop is wiped or locked." },
    { NULL, "audit", "[--limit N] [--since DUR|TIME]", 0, 0, F(OPT_LIMIT) | F(OPT_SINCE),
      verb_audit,
      "Show the audit log, newest first: the last 100 entries, or N, or with\n"
      "      --since every entry since TIME (2026-11-27T21:30:00Z, 2026-11-27) or\n"
      "      since DUR ago (90m, 12h, 7d)." },
};


/* ---- health ------------------------------------------------------------- */

int
verb_health(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    const char *status_text;
    long status = 0;
    int r;

    r = call("GET", "/healthz", NULL, CALL_ALLOW_DEGRADED, &status, &doc, &raw);
    if (r < 0)
        return r;
    status_text = jstr(doc, "status");
    if (!arg_json) {
        struct json_object *w = jget(doc, "warnings");

        printf("status:    %s\n", strempty(status_text));
        printf("libvirt:   %s\n", strempty(jstr(doc, "libvirt")));
        printf("store:     %s\n", strempty(jstr(doc, "store")));
        printf("uri:       %s\n", strempty(jstr(doc, "uri")));
        printf("virt_type: %s\n", strempty(jstr(doc, "virt_type")));
        printf("instance:  %s\n", strempty(jstr(doc, "instance")));
        printf("orphans:   %" PRId64 "\n", jint(doc, "orphans"));
        for (size_t i = 0; i < jarray_len(w); i++)
            printf("warning:   %s\n", json_object_get_string(json_object_array_get_idx(w, i)));
    }
    if (status != 200)
        return report_error(-EIO, "unavailable", raw, "deskpoold is %s (HTTP %ld): libvirt "
                            "is %s, the store is %s.",
                            status_text ? status_text : "not healthy", status,
                            jstr(doc, "libvirt") ? jstr(doc, "libvirt") : "unknown",
                            jstr(doc, "store") ? jstr(doc, "store") : "unknown");
    if (arg_json)
        print_json_text(raw);
    return 0;
}

int
verb_check(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    struct json_object *problems;
    size_t n;
    int r;

    r = call("GET", "/v1/check", NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    problems = jget(doc, "problems");
    n = jarray_len(problems);
    if (arg_json)
        print_json_text(raw);
    else
        for (size_t i = 0; i < n; i++)
            printf("%s\n", json_object_get_string(json_object_array_get_idx(problems, i)));
    if (n > 0)
        return report_error(-EIO, "inconsistent", arg_json ? raw : NULL,
                            "%zu problem(s) between the store and libvirt.", n);
    if (!arg_json)
        printf("ok: %" PRId64 " desktops, %" PRId64 " domains, %" PRId64 " volumes, %" PRId64
               " active sessions agree (%" PRId64 " desktops busy, not checked)\n",
               jint(doc, "desktops"), jint(doc, "domains"), jint(doc, "volumes"),
               jint(doc, "sessions"), jint(doc, "busy"));
    return 0;
}

/* ---- usage and dispatch ------------------------------------------------- */

static void
print_command(FILE *f, const struct ctl_verb *v)
{
    fprintf(f, "  %s%s%s%s%s\n      %s\n", v->group ? v->group : "", v->group ? " " : "",
            v->name, v->synopsis[0] != '\0' ? " " : "", v->synopsis, v->help);
}

static void
print_usage(FILE *f, const char *group)
{
    fprintf(f, "Usage: %s [--socket PATH | --url URL [--token T]] [--json] [--timeout SEC]\n"
            "                   COMMAND ...\n\n", program_invocation_short_name);
    if (!group)
        fputs("Operate deskpoold, the desktop-pool daemon, through its REST API.\n\n", f);
    fputs("Commands:\n", f);
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (!group || streq_ptr(verbs[i].group, group))
            print_command(f, &verbs[i]);
    if (group)
        return;
    fprintf(f, "\nOptions:\n"
            "  --instance NAME the socket of deskpoold --instance NAME\n"
            "  --socket PATH   deskpoold's unix socket (default: $DESKPOOL_SOCKET, else\n"
            "                  %s/deskpoold.sock)\n"
            "  --url URL       talk to http(s)://host:port instead (TCP needs a token)\n"
            "  --token T       bearer token for --url (default: $DESKPOOL_TOKEN)\n"
            "  --json          print exactly one JSON document per command\n"
            "  --timeout SEC   limit for each request (default %u s; 0: none)\n"
            "  --help          show this help; 'COMMAND --help' shows a command's\n"
            "  --version       show the version\n\n"
            "Exit status: 0 success; 2 bad usage or input refused by the server (HTTP 4xx\n"
            "other than 401/403); 1 anything else (cannot connect, 401/403, 5xx, timeout).\n",
            DP_RUNSTATE_DIR, DEFAULT_REQUEST_TIMEOUT_SEC);
}

static const struct option *
option_by_val(int val)
{
    for (const struct option *o = verb_options; o->name; o++)
        if (o->val == val)
            return o;
    return NULL;
}

/* Parse a command's options and arguments (argv[0] is the last command
 * word). Returns 1 after --help, 0 with *ret_args set, or -EINVAL. */
static int
parse_verb_argv(const struct ctl_verb *v, int argc, char *argv[], char ***ret_args,
                size_t *ret_n_args)
{
    const char *value;
    size_t n;
    int c, r;

    optind = 0;     /* make GNU getopt start over on a new argv */
    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, ":h", verb_options, NULL);
        if (c < 0)
            break;
        if (c == 'h')
            c = OPT_HELP;
        if (c == '?' || c == ':') {
            const char *what = argv[optind - 1];

            if (c == ':')
                r = usage_error("%s%s%s: option '%s' needs a value.", v->group ? v->group : "",
                                v->group ? " " : "", v->name, what);
            else
                r = usage_error("%s%s%s: unknown option '%s'.", v->group ? v->group : "",
                                v->group ? " " : "", v->name, what);
            fprintf(stderr, "Usage:\n");
            print_command(stderr, v);
            return r;
        }
        if (c != OPT_JSON && c != OPT_HELP && !(v->options & F(c))) {
            const struct option *o = option_by_val(c);

            r = usage_error("%s%s%s: unknown option '--%s'.", v->group ? v->group : "",
                            v->group ? " " : "", v->name, o ? o->name : "?");
            fprintf(stderr, "Usage:\n");
            print_command(stderr, v);
            return r;
        }
        r = 0;
        switch (c) {
        case OPT_HELP:
            printf("Usage:\n");
            print_command(stdout, v);
            return 1;
        case OPT_JSON:
            arg_json = true;
            break;
        case OPT_NOTE:
            arg_note = optarg;
            break;
        case OPT_IMAGE:
            arg_image = optarg;
            break;
        case OPT_IMAGE_VERSION:
            arg_image_version = optarg;
            break;
        case OPT_TEMPLATE:
            arg_template = optarg;
            break;
        case OPT_MODE:
            arg_mode = optarg;
            break;
        case OPT_CLONE:
            if (!optarg || (!streq(optarg, "instant") && !streq(optarg, "boot")))
                r = usage_error("--clone takes instant or boot, not '%s'.", optarg);
            arg_clone = optarg;
            break;
        case OPT_POOL:
            arg_pool = optarg;
            break;
        case OPT_USER:
            arg_user = optarg;
            break;
        case OPT_ALL:
            arg_all = true;
            break;
        case OPT_ENDED:
            arg_ended = true;
            break;
        case OPT_LIMIT:
            r = parse_size_option("--limit", optarg, &arg_limit);
            break;
        case OPT_GROUPS:
            arg_groups = optarg;
            break;
        case OPT_IDLE_TIMEOUT:
            r = parse_duration_option("--idle-timeout", optarg, &arg_idle_timeout);
            break;
        case OPT_MAX_SESSION:
            r = parse_duration_option("--max-session", optarg, &arg_max_session);
            break;
        case OPT_ALLOW_REDIRECTION:
            value = optarg;
            /* pool set needs the value and takes it as the next word, too */
            if (!value && v->run == verb_pool_set) {
                if (optind >= argc) {
                    r = usage_error("pool set: option '--allow-device-redirection' needs "
                                    "yes or no.");
                    break;
                }
                value = argv[optind++];
            }
            r = parse_yes_no_option("--allow-device-redirection", value,
                                    &arg_allow_redirection);
            break;
        case OPT_MIN:
            r = parse_size_option("--min", optarg, &arg_min);
            break;
        case OPT_SPARE:
            r = parse_size_option("--spare", optarg, &arg_spare);
            break;
        case OPT_MAX:
            r = parse_size_option("--max", optarg, &arg_max);
            break;
        case OPT_WAIT:
            arg_wait = true;
            break;
        case OPT_FORCE:
            arg_force = true;
            break;
        case OPT_TIMEOUT:
            r = parse_timeout_option(optarg, &arg_wait_timeout);
            break;
        case OPT_TO:
            arg_to = optarg;
            break;
        case OPT_POLICY:
            arg_policy = optarg;
            break;
        case OPT_WARN:
            r = parse_duration_option("--warn", optarg, &arg_warn);
            break;
        case OPT_BATCH:
            r = parse_size_option("--batch", optarg, &arg_batch);
            break;
        case OPT_NO_WAIT:
            arg_no_wait = true;
            break;
        case OPT_SINCE:
            arg_since = optarg;
            break;
        case OPT_MAX_DESKTOPS:
            r = parse_size_option("--max-desktops", optarg, &arg_max_desktops);
            break;
        case OPT_RESERVE_MEMORY:
            r = check_size_option("--reserve-memory", optarg);
            arg_reserve_memory = optarg;
            break;
        case OPT_LABELS:
            arg_labels = optarg;
            break;
        case OPT_STORAGE_DIR:
            arg_storage_dir = optarg;
            break;
        case OPT_CONSOLE_ADDRESS:
            arg_console_address = optarg;
            break;
        case OPT_PLACEMENT:
            if (!optarg || (!streq(optarg, "spread") && !streq(optarg, "pack")))
                r = usage_error("--placement takes spread or pack, not '%s'.", optarg);
            arg_placement = optarg;
            break;
        case OPT_REQUIRE_LABELS:
            arg_require_labels = optarg;
            break;
        case OPT_OVERCOMMIT:
            arg_overcommit = true;
            break;
        default:
            assert(false);
        }
        if (r < 0)
            return r;
    }

    n = (size_t) (argc - optind);
    if (n < v->min_args || n > v->max_args) {
        r = usage_error("%s%s%s: expected %u argument(s), got %zu.", v->group ? v->group : "",
                        v->group ? " " : "", v->name, v->min_args, n);
        fprintf(stderr, "Usage:\n");
        print_command(stderr, v);
        return r;
    }
    *ret_args = argv + optind;
    *ret_n_args = n;
    return 0;
}

/* The socket --instance names; kept for the process's life (arg_socket). */
static char *instance_socket;

/* Parse the options before COMMAND. Returns 1 after --help/--version, 0
 * with *ret_first set to COMMAND's index, or -EINVAL. */
static int
parse_global_argv(int argc, char *argv[], int *ret_first)
{
    const char *env;
    int c, r;

    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, "+:h", global_options, NULL);
        if (c < 0)
            break;
        switch (c) {
        case 'h':
        case OPT_HELP:
            print_usage(stdout, NULL);
            return 1;
        case OPT_VERSION:
            printf("%s %s\n", program_invocation_short_name, PACKAGE_VERSION);
            return 1;
        case OPT_SOCKET:
            arg_socket = optarg;
            break;
        case OPT_INSTANCE:
            if (!name_is_valid(optarg))
                return usage_error("--instance: '%s' is not a valid instance name.", optarg);
            free(instance_socket);
            instance_socket = instance_socket_path(optarg);
            break;
        case OPT_URL:
            arg_url = optarg;
            break;
        case OPT_TOKEN:
            arg_token = optarg;
            break;
        case OPT_JSON:
            arg_json = true;
            break;
        case OPT_TIMEOUT:
            r = parse_duration(optarg, &arg_timeout);
            if (r < 0)
                return usage_error("--timeout: '%s' is not a number.", optarg);
            break;
        case ':':
            r = usage_error("option '%s' needs a value.", argv[optind - 1]);
            print_usage(stderr, NULL);
            return r;
        default:
            r = usage_error("unknown option '%s'.", argv[optind - 1]);
            print_usage(stderr, NULL);
            return r;
        }
    }

    if (instance_socket && arg_socket)
        return usage_error("--instance and --socket cannot be used together.");
    if (instance_socket)
        arg_socket = instance_socket; /* lives until the process ends */
    if (arg_socket && arg_url)
        return usage_error("--socket (or --instance) and --url cannot be used together.");
    if (arg_token && !arg_url)
        return usage_error("--token needs --url (the unix socket needs no token).");
    if (arg_url && strncmp(arg_url, "http://", 7) != 0 && strncmp(arg_url, "https://", 8) != 0)
        return usage_error("--url: '%s' does not start with http:// or https://.", arg_url);
    if (!arg_socket) {
        env = getenv("DESKPOOL_SOCKET");
        arg_socket = env && env[0] != '\0' ? env : DP_RUNSTATE_DIR "/deskpoold.sock";
    }
    if (arg_url && !arg_token) {
        env = getenv("DESKPOOL_TOKEN");
        if (env && env[0] != '\0')
            arg_token = env;
    }
    *ret_first = optind;
    return 0;
}

/* Find the command named by argv[first..]; *ret_words says how many words
 * it used. Returns 1 when a group's help was printed, 0, or -EINVAL. */
static int
find_verb(int argc, char *argv[], int first, const struct ctl_verb **ret_verb, int *ret_words)
{
    const char *word = argv[first];
    const char *second = first + 1 < argc ? argv[first + 1] : NULL;
    bool is_group = false;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
        if (!verbs[i].group && streq(verbs[i].name, word)) {
            *ret_verb = &verbs[i];
            *ret_words = 1;
            return 0;
        }
        if (verbs[i].group && streq(verbs[i].group, word))
            is_group = true;
    }
    if (!is_group) {
        r = usage_error("unknown command '%s'.", word);
        print_usage(stderr, NULL);
        return r;
    }
    if (second && (streq(second, "--help") || streq(second, "-h"))) {
        print_usage(stdout, word);
        return 1;
    }
    for (size_t i = 0; second && i < ELEMENTSOF(verbs); i++)
        if (streq_ptr(verbs[i].group, word) && streq(verbs[i].name, second)) {
            *ret_verb = &verbs[i];
            *ret_words = 2;
            return 0;
        }
    if (second)
        r = usage_error("unknown command '%s %s'.", word, second);
    else
        r = usage_error("'%s' needs a command.", word);
    print_usage(stderr, word);
    return r;
}

static int
errno_to_exit_status(int r)
{
    if (r >= 0)
        return EXIT_SUCCESS;
    if (r == -EINVAL)
        return 2;
    return EXIT_FAILURE;
}

int
main(int argc, char *argv[])
{
    const struct ctl_verb *verb = NULL;
    char **args = NULL;
    size_t n_args = 0;
    int first = 0, words = 0;
    int r;

    r = parse_global_argv(argc, argv, &first);
    if (r != 0)
        return errno_to_exit_status(r);
    if (first >= argc) {
        r = usage_error("no command given.");
        print_usage(stderr, NULL);
        return errno_to_exit_status(r);
    }
    r = find_verb(argc, argv, first, &verb, &words);
    if (r != 0)
        return errno_to_exit_status(r);
    r = parse_verb_argv(verb, argc - first - words + 1, argv + first + words - 1, &args,
                        &n_args);
    if (r != 0)
        return errno_to_exit_status(r);

    target = (struct ctl_http_target) {
        .socket_path = arg_url ? NULL : arg_socket,
        .url = arg_url,
        .token = arg_token,
        .timeout_sec = arg_timeout,
    };
    r = ctl_http_global_init();
    if (r < 0)
        return errno_to_exit_status(report_error(-EIO, "internal", NULL,
                                                 "cannot initialise libcurl."));
    r = verb->run(args, n_args);
    ctl_http_global_done();
    return errno_to_exit_status(r);
}
