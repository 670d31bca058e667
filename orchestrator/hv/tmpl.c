/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tmpl.c - libvirt domain templates and deskpool's domain metadata
 *
 * Owns everything deskpool does with XML: parsing a template file,
 * checking it (a <domain> with a system disk, no DOCTYPE), filling it for
 * one desktop (domain type, name, UUID, system disk source, our
 * <metadata> element, forced console listen address), checking the
 * hospital's lock-down rules, formatting/parsing the metadata element
 * alone, and reading/rewriting the <graphics> element of a running
 * domain for one-time console passwords, and the XML of instant clones
 * (a parent without NICs and with <genid/>; a clone's XML edited from the
 * parent's saved XML; the NIC to hot-plug into a clone). It is the only
 * user of
 * libxml2 in deskpool (libvirt's src/conf/ split: hv.c only consumes the
 * strings made here).
 *
 * DESIGN: a struct tmpl is an immutable parsed document. tmpl_fill()
 * works on an xmlCopyDoc() of it, so one template can be filled from
 * several worker threads at once (libxml2 allows concurrent reads of one
 * tree; nothing here writes to T->doc after loading). Every parse uses a
 * private parser context with XML_PARSE_NONET, no entity substitution,
 * no DTD loading and a structured error handler, so libxml2 never prints
 * to stderr and never reads a file or URL named by the input; documents
 * with a DOCTYPE are refused outright, which also rules out entity
 * tricks (XXE, billion laughs). Input is capped at 1 MiB (templates and
 * live domain XML) and 64 KiB (metadata). Blank text nodes are dropped at parse time and
 * output is re-indented by libxml2, so output is deterministic.
 *
 * Never logs above debug, never talks to libvirt, never does I/O except
 * reading the template file in tmpl_load_file().
 */
#include "config.h"

#include <assert.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "tmpl.h"
#include "util.h"

#define TMPL_MAX_SIZE (1024 * 1024)
#define META_MAX_SIZE (64 * 1024)
#define TMPL_SYSTEM_ALIAS "ua-system"
#define TMPL_DATA_ALIAS "ua-data"
#define TMPL_AGENT_NAME "org.qemu.guest_agent.0"
#define TMPL_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | \
                            XML_PARSE_NOWARNING)

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlDoc *, xmlFreeDoc, xml_doc_freep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlXPathContext *, xmlXPathFreeContext, xml_xpath_context_freep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlXPathObject *, xmlXPathFreeObject, xml_xpath_object_freep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlChar *, xmlFree, xml_freep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlParserCtxt *, xmlFreeParserCtxt, xml_parser_ctxt_freep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlBuffer *, xmlBufferFree, xml_buffer_freep);

struct tmpl {
    xmlDoc *doc;
    char *name;      /* file name without directory, for messages */
};

/* The first error libxml2 reported while parsing one document. */
struct parse_error {
    char *message;
    int line;
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init(void)
{
    xmlInitParser();
}

static int _printf_(3, 4)
set_error(char **reterr_msg, int r, const char *fmt, ...)
{
    va_list ap;
    char *s;

    if (!reterr_msg)
        return r;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    free(*reterr_msg);
    *reterr_msg = s;
    return r;
}

/* Structured error handler of our parser contexts: keeps the first
 * error (not warning) with its line, prints nothing. */
static void
parse_error_cb(void *data, xmlError *e)
{
    xmlParserCtxt *ctxt = data;
    struct parse_error *pe;
    size_t n;

    if (!ctxt || !e || e->level < XML_ERR_ERROR)
        return;
    pe = ctxt->_private;
    if (!pe || pe->message)
        return;
    pe->message = xstrdup(e->message ? e->message : "unknown error");
    n = strlen(pe->message);
    while (n > 0 && (pe->message[n - 1] == '\n' || pe->message[n - 1] == ' '))
        pe->message[--n] = '\0';
    pe->line = e->line;
}

/* XPath errors cannot happen with our fixed expressions; keep them off
 * stderr anyway. */
static void
quiet_error_cb(void *data _unused_, xmlError *e _unused_)
{
}

/* Parses LEN bytes of XML safely. Returns 0 and the document, or
 * -EINVAL with *ret_err filled (message may be NULL if libxml2 gave
 * none), or -EPROTO if the document has a DOCTYPE. */
static int
xml_parse(const char *xml, size_t len, xmlDoc **ret, struct parse_error *ret_err)
{
    _cleanup_(xml_parser_ctxt_freep) xmlParserCtxt *ctxt = NULL;
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;

    pthread_once(&xml_once, xml_init);
    ctxt = xmlNewParserCtxt();
    if (!ctxt || !ctxt->sax)
        abort();
    ctxt->_private = ret_err;
    ctxt->sax->serror = parse_error_cb;
    ctxt->userData = ctxt;
    doc = xmlCtxtReadMemory(ctxt, xml, (int) len, NULL, NULL, TMPL_PARSE_OPTIONS);
    if (!doc || !ctxt->wellFormed || !xmlDocGetRootElement(doc)) {
        if (!ret_err->message) {
            ret_err->message = xstrdup("Document is empty");
            ret_err->line = 1;
        }
        return -EINVAL;
    }
    if (doc->intSubset || doc->extSubset)
        return -EPROTO;
    *ret = TAKE_PTR(doc);
    return 0;
}

static bool
node_is(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !n->ns && streq((const char *) n->name, name);
}

static bool
node_is_ns(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
        streq((const char *) n->ns->href, DP_METADATA_NS) &&
        streq((const char *) n->name, name);
}

/* Element NAME in our namespace, or in none when BARE. */
static bool
node_is_meta(const xmlNode *n, const char *name, bool bare)
{
    return bare ? node_is(n, name) : node_is_ns(n, name);
}

/* True when attribute ATTR of N equals VALUE. */
static bool
prop_is(xmlNode *n, const char *attr, const char *value)
{
    _cleanup_(xml_freep) xmlChar *v = xmlGetNoNsProp(n, BAD_CAST attr);

    return v && streq((const char *) v, value);
}

static xmlNode *
child_find(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent->children; c; c = c->next)
        if (node_is(c, name))
            return c;
    return NULL;
}

/* Evaluates a fixed XPath expression on DOC. Returns the result object
 * (check nodesetval), or NULL if libxml2 could not evaluate it. */
static xmlXPathObject *
xpath_eval(xmlDoc *doc, const char *expr)
{
    _cleanup_(xml_xpath_context_freep) xmlXPathContext *xp = NULL;

    xp = xmlXPathNewContext(doc);
    if (!xp)
        abort();
    xp->error = quiet_error_cb;
    if (xmlXPathRegisterNs(xp, BAD_CAST "dp", BAD_CAST DP_METADATA_NS) < 0)
        abort();
    return xmlXPathEvalExpression(BAD_CAST expr, xp);
}

static int
xpath_count(const xmlXPathObject *o)
{
    return o && o->nodesetval ? o->nodesetval->nodeNr : 0;
}

/* Finds the system disk of DOC. Returns 0 and the node, or -EINVAL with
 * a message naming template NAME. */
static int
find_system_disk(xmlDoc *doc, const char *name, xmlNode **ret, char **reterr_msg)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;
    xmlNode *first = NULL, *marked = NULL;

    o = xpath_eval(doc, "/domain/devices/disk");
    for (int i = 0; i < xpath_count(o); i++) {
        xmlNode *disk = o->nodesetval->nodeTab[i];
        _cleanup_(xml_freep) xmlChar *device = xmlGetNoNsProp(disk, BAD_CAST "device");
        xmlNode *alias = child_find(disk, "alias");
        bool is_disk = !device || streq((const char *) device, "disk");

        if (alias && prop_is(alias, "name", TMPL_SYSTEM_ALIAS)) {
            if (!is_disk)
                return set_error(reterr_msg, -EINVAL,
                                 "Template '%s' marks <disk device='%s'> with alias '%s'; "
                                 "the system disk must have device='disk'.",
                                 name, (const char *) device, TMPL_SYSTEM_ALIAS);
            if (marked)
                return set_error(reterr_msg, -EINVAL,
                                 "Template '%s' has more than one <disk> with alias '%s'.",
                                 name, TMPL_SYSTEM_ALIAS);
            marked = disk;
        }
        if (is_disk && !first)
            first = disk;
    }
    if (!first)
        return set_error(reterr_msg, -EINVAL,
                         "Template '%s' has no <disk device='disk'> under <devices>.", name);
    *ret = marked ? marked : first;
    return 0;
}

/* The data disk of DOC (the <disk> with alias ua-data), or NULL. */
static xmlNode *
find_data_disk(xmlDoc *doc)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;

    o = xpath_eval(doc, "/domain/devices/disk[alias/@name='" TMPL_DATA_ALIAS "']");
    return xpath_count(o) > 0 ? o->nodesetval->nodeTab[0] : NULL;
}

bool
tmpl_has_data_disk(const struct tmpl *t)
{
    return find_data_disk(t->doc) != NULL;
}

/* Checks a parsed document and wraps it. Takes DOC on success. */
static int
tmpl_new(xmlDoc **doc, const char *name, struct tmpl **ret, char **reterr_msg)
{
    xmlNode *root = xmlDocGetRootElement(*doc), *disk;
    struct tmpl *t;
    int r;

    if (!node_is(root, "domain"))
        return set_error(reterr_msg, -EINVAL,
                         "Template '%s' has root element <%s>, expected <domain>.",
                         name, (const char *) root->name);
    r = find_system_disk(*doc, name, &disk, reterr_msg);
    if (r < 0)
        return r;
    t = xmalloc0(sizeof(*t));
    t->doc = TAKE_PTR(*doc);
    t->name = xstrdup(name);
    *ret = t;
    return 0;
}

static int
tmpl_load_buffer(const char *xml, size_t len, const char *name, struct tmpl **ret,
                 char **reterr_msg)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    struct parse_error pe = {};
    int r;

    if (len > TMPL_MAX_SIZE)
        return set_error(reterr_msg, -EINVAL, "Template '%s' is larger than 1 MiB.", name);
    r = xml_parse(xml, len, &doc, &pe);
    if (r == -EPROTO)
        return set_error(reterr_msg, -EINVAL,
                         "Template '%s' has a <!DOCTYPE>; templates may not declare a DTD "
                         "or entities.", name);
    if (r < 0) {
        r = set_error(reterr_msg, -EINVAL,
                      "Template '%s' is not well-formed XML: %s at line %d.",
                      name, pe.message, pe.line);
        free(pe.message);
        return r;
    }
    free(pe.message);
    r = tmpl_new(&doc, name, ret, reterr_msg);
    if (r >= 0)
        log_debug("Loaded template '%s'.", name);
    return r;
}

/* Parses the template at PATH. Returns 0 and a new struct tmpl; -ENOENT
 * (or another errno from open/read) with a message if the file cannot be
 * read; -EINVAL with a message if it is larger than 1 MiB, not
 * well-formed, has a DOCTYPE, is not a <domain> or has no system disk.
 * Logs at debug only. */
int
tmpl_load_file(const char *path, struct tmpl **ret, char **reterr_msg)
{
    _cleanup_free_ char *data = NULL;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t len;
    int r;

    /* One byte more than allowed so "too large" is told apart from EOF. */
    r = read_full_file(path, TMPL_MAX_SIZE + 1, &data, &len);
    if (r == -EFBIG)
        return set_error(reterr_msg, -EINVAL, "Template '%s' is larger than 1 MiB.", name);
    if (r < 0)
        return set_error(reterr_msg, r, "Template '%s' cannot be read: %s.", name,
                         strerror(-r));
    return tmpl_load_buffer(data, len, name, ret, reterr_msg);
}

/* As tmpl_load_file() for a NUL-terminated string; messages call it
 * template '(inline)'. */
int
tmpl_load_string(const char *xml, struct tmpl **ret, char **reterr_msg)
{
    return tmpl_load_buffer(xml, strnlen(xml, TMPL_MAX_SIZE + 1), "(inline)", ret, reterr_msg);
}

/* Frees T (NULL is fine). Returns NULL. */
struct tmpl *
tmpl_free(struct tmpl *t)
{
    if (!t)
        return NULL;
    xmlFreeDoc(t->doc);
    free(t->name);
    free(t);
    return NULL;
}

/* True when T has <channel><target type='virtio'
 * name='org.qemu.guest_agent.0'/></channel>. Cannot fail. */
bool
tmpl_has_agent(const struct tmpl *t)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;

    o = xpath_eval(t->doc, "/domain/devices/channel/target"
                   "[@type='virtio' and @name='" TMPL_AGENT_NAME "']");
    return xpath_count(o) > 0;
}

/* The number in the text of the first node EXPR selects; 0 when none. */
static uint64_t
xpath_number(xmlDoc *doc, const char *expr, const char **ret_unit)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = xpath_eval(doc, expr);
    _cleanup_(xml_freep) xmlChar *text = NULL;
    xmlNode *n;

    *ret_unit = NULL;
    if (xpath_count(o) == 0)
        return 0;
    n = o->nodesetval->nodeTab[0];
    text = xmlNodeGetContent(n);
    if (n->type == XML_ELEMENT_NODE) {
        xmlChar *unit = xmlGetProp(n, (const xmlChar *) "unit");

        /* a unit other than these reads as KiB (libvirt's default) */
        if (unit && (xmlStrcmp(unit, (const xmlChar *) "b") == 0 ||
                     xmlStrcmp(unit, (const xmlChar *) "bytes") == 0))
            *ret_unit = "b";
        else if (unit && (xmlStrcmp(unit, (const xmlChar *) "M") == 0 ||
                          xmlStrcmp(unit, (const xmlChar *) "MiB") == 0))
            *ret_unit = "M";
        else if (unit && (xmlStrcmp(unit, (const xmlChar *) "G") == 0 ||
                          xmlStrcmp(unit, (const xmlChar *) "GiB") == 0))
            *ret_unit = "G";
        xmlFree(unit);
    }
    return text ? strtoull((const char *) text, NULL, 10) : 0;
}

void
tmpl_get_size(const struct tmpl *t, uint64_t *ret_memory, unsigned *ret_vcpus)
{
    const char *unit;
    uint64_t v = xpath_number(t->doc, "/domain/memory", &unit);

    if (!unit)
        v <<= 10;
    else if (streq(unit, "M"))
        v <<= 20;
    else if (streq(unit, "G"))
        v <<= 30;
    *ret_memory = v;
    v = xpath_number(t->doc, "/domain/vcpu", &unit);
    *ret_vcpus = v > 0 && v < 4096 ? (unsigned) v : 1;
}

/* Frees the strings of M and zeroes it (NULL is fine). Cannot fail. */
void
desk_meta_done(struct desk_meta *m)
{
    if (!m)
        return;
    free(m->instance);
    free(m->pool);
    free(m->desktop);
    free(m->image);
    free(m->parent);
    *m = (struct desk_meta) {};
}

/* Builds our metadata element in DOC (not linked into the tree). Text
 * is escaped by libxml2 at serialisation. Aborts on OOM. */
static xmlNode *
meta_build(xmlDoc *doc, const struct desk_meta *m)
{
    _cleanup_free_ char *version = xasprintf("%u", m->image_version);
    xmlNode *node;
    xmlNs *ns;

    node = xmlNewDocNode(doc, NULL, BAD_CAST "desktop", NULL);
    if (!node)
        abort();
    ns = xmlNewNs(node, BAD_CAST DP_METADATA_NS, BAD_CAST DP_METADATA_PREFIX);
    if (!ns)
        abort();
    xmlSetNs(node, ns);
    if (!xmlNewTextChild(node, ns, BAD_CAST "instance", BAD_CAST strempty(m->instance)))
        abort();
    if (m->parent) {
        if (!xmlNewTextChild(node, ns, BAD_CAST "parent-name", BAD_CAST m->parent))
            abort();
    } else if (!xmlNewTextChild(node, ns, BAD_CAST "pool", BAD_CAST strempty(m->pool)) ||
               !xmlNewTextChild(node, ns, BAD_CAST "desktop-name",
                                BAD_CAST strempty(m->desktop))) {
        abort();
    }
    if (!xmlNewTextChild(node, ns, BAD_CAST "image", BAD_CAST strempty(m->image)) ||
        !xmlNewTextChild(node, ns, BAD_CAST "image-version", BAD_CAST version))
        abort();
    return node;
}

/* Returns the metadata element as one line of XML, e.g.
 * <deskpool:desktop xmlns:deskpool="NS"><deskpool:instance>..., for
 * virDomainSetMetadata(VIR_DOMAIN_METADATA_ELEMENT). NULL strings are
 * written as empty elements. Returns a new string; aborts on OOM. */
char *
desk_meta_format(const struct desk_meta *m)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    _cleanup_(xml_buffer_freep) xmlBuffer *buf = NULL;
    xmlNode *node;

    pthread_once(&xml_once, xml_init);
    doc = xmlNewDoc(BAD_CAST "1.0");
    buf = xmlBufferCreate();
    if (!doc || !buf)
        abort();
    node = meta_build(doc, m);
    xmlDocSetRootElement(doc, node);
    if (xmlNodeDump(buf, doc, node, 0, 0) < 0)
        abort();
    return xstrdup((const char *) xmlBufferContent(buf));
}

static int
meta_take_text(xmlNode *n, char **field)
{
    _cleanup_(xml_freep) xmlChar *s = NULL;

    if (*field)
        return -EINVAL;     /* duplicate element */
    s = xmlNodeGetContent(n);
    if (!s || !*s)
        return -EINVAL;
    *field = xstrdup((const char *) s);
    return 0;
}

/* Parses the metadata element as desk_meta_format() writes it, or as
 * virDomainGetMetadata() returns it. libvirt (9.0, measured) re-serialises
 * the element indented and WITHOUT any namespace (<desktop><instance>...),
 * the URI having been the lookup key; a namespaced element may carry any
 * prefix. So elements are matched on local name plus either our
 * namespace URI or no namespace at all (the same for root and children).
 * A whole <domain> document is accepted too: its <metadata> child in our
 * namespace is used. Unknown child elements are ignored.
 * Returns 0 and fills *RET (free with desk_meta_done()), or -EINVAL
 * (not XML, not our element, a field missing, empty or twice, a bad
 * image-version). Logs nothing. */
int
desk_meta_parse(const char *xml, struct desk_meta *ret)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    struct desk_meta m = {};
    struct parse_error pe = {};
    xmlNode *root;
    bool have_version = false, bare;
    size_t len;
    int r;

    len = strnlen(xml, META_MAX_SIZE + 1);
    if (len > META_MAX_SIZE)
        return -EINVAL;
    r = xml_parse(xml, len, &doc, &pe);
    free(pe.message);
    if (r < 0)
        return -EINVAL;
    root = xmlDocGetRootElement(doc);
    if (node_is(root, "domain")) {
        _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;

        o = xpath_eval(doc, "/domain/metadata/dp:desktop");
        if (xpath_count(o) != 1)
            return -EINVAL;
        root = o->nodesetval->nodeTab[0];
    }
    bare = node_is(root, "desktop");
    if (!bare && !node_is_ns(root, "desktop"))
        return -EINVAL;

    for (xmlNode *c = root->children; c; c = c->next) {
        r = 0;
        if (node_is_meta(c, "instance", bare))
            r = meta_take_text(c, &m.instance);
        else if (node_is_meta(c, "pool", bare))
            r = meta_take_text(c, &m.pool);
        else if (node_is_meta(c, "desktop-name", bare))
            r = meta_take_text(c, &m.desktop);
        else if (node_is_meta(c, "parent-name", bare))
            r = meta_take_text(c, &m.parent);
        else if (node_is_meta(c, "image", bare))
            r = meta_take_text(c, &m.image);
        else if (node_is_meta(c, "image-version", bare)) {
            _cleanup_(xml_freep) xmlChar *s = xmlNodeGetContent(c);

            if (have_version || !s || safe_atou((const char *) s, &m.image_version) < 0)
                r = -EINVAL;
            have_version = true;
        }
        if (r < 0)
            goto cleanup;
    }
    if (!m.instance || !(m.parent || (m.pool && m.desktop)) || !m.image || !have_version) {
        r = -EINVAL;
        goto cleanup;
    }
    *ret = m;
    return 0;

 cleanup:
    desk_meta_done(&m);
    return r;
}

static bool
value_is_word(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool
uuid_is_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    }
    return true;
}

/* Replaces the children of N by one text node with VALUE. */
static void
node_set_text(xmlNode *n, const char *value)
{
    xmlNode *text;

    xmlNodeSetContent(n, NULL);
    text = xmlNewDocText(n->doc, BAD_CAST value);
    if (!text || !xmlAddChild(n, text))
        abort();
}

/* Returns the element NAME under ROOT, creating it after AFTER (or as
 * the first child when AFTER is NULL). */
static xmlNode *
child_ensure(xmlNode *root, const char *name, xmlNode *after)
{
    xmlNode *n = child_find(root, name);

    if (n)
        return n;
    n = xmlNewDocNode(root->doc, NULL, BAD_CAST name, NULL);
    if (!n)
        abort();
    if (after)
        xmlAddNextSibling(after, n);
    else if (root->children)
        xmlAddPrevSibling(root->children, n);
    else
        xmlAddChild(root, n);
    return n;
}

static void
fill_disk(xmlNode *disk, const char *path, const char *format)
{
    xmlNode *driver, *source, *next;

    for (xmlNode *c = disk->children; c; c = next) {
        next = c->next;
        if (node_is(c, "source") || node_is(c, "backingStore")) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
    xmlSetProp(disk, BAD_CAST "type", BAD_CAST "file");
    driver = child_ensure(disk, "driver", NULL);
    xmlSetProp(driver, BAD_CAST "name", BAD_CAST "qemu");
    xmlSetProp(driver, BAD_CAST "type", BAD_CAST format);
    source = xmlNewDocNode(disk->doc, NULL, BAD_CAST "source", NULL);
    if (!source)
        abort();
    xmlSetProp(source, BAD_CAST "file", BAD_CAST path);
    xmlAddNextSibling(driver, source);
}

static void
fill_metadata(xmlNode *root, const struct desk_meta *m)
{
    xmlNode *metadata, *after = NULL, *next;

    metadata = child_find(root, "metadata");
    if (!metadata) {
        /* libvirt's order: name uuid genid title description metadata */
        for (xmlNode *c = root->children; c; c = c->next)
            if (node_is(c, "name") || node_is(c, "uuid") || node_is(c, "genid") ||
                node_is(c, "title") || node_is(c, "description"))
                after = c;
        metadata = child_ensure(root, "metadata", after);
    }
    for (xmlNode *c = metadata->children; c; c = next) {
        next = c->next;
        if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
            streq((const char *) c->ns->href, DP_METADATA_NS)) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
    if (m && !xmlAddChild(metadata, meta_build(root->doc, m)))
        abort();
}

/* An address or host name for <listen address=...>: 1-253 characters
 * of letters, digits, '.', ':', '-', '_' and '%' (IPv6 scope). */
static bool
listen_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(".:-_%", *s)))
            return false;
    return true;
}

/* Graphics types that listen on a network address (libvirt: only these
 * take <listen> children); sdl, egl-headless, dbus... are left alone. */
static bool
graphics_listens(xmlNode *g)
{
    return prop_is(g, "type", "vnc") || prop_is(g, "type", "spice") ||
        prop_is(g, "type", "rdp");
}

/* Makes every listening <graphics> of DOC listen on ADDR only: the
 * listen attribute, one <listen type='address'> in place of all its
 * <listen> children (network, socket, none), and no VNC socket
 * attribute (which would override the listens). A vnc/spice graphics
 * without passwd gets passwd='' (locked): QEMU refuses set_password
 * ("Could not set password", measured with QEMU 7.2) on a display
 * started without password auth, which libvirt only enables when the
 * domain starts with a passwd attribute; an empty one refuses every
 * client until deskpool sets a session password. */
static void
fill_graphics_listen(xmlDoc *doc, const char *addr)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;

    o = xpath_eval(doc, "/domain/devices/graphics");
    for (int i = 0; i < xpath_count(o); i++) {
        xmlNode *g = o->nodesetval->nodeTab[i], *listen, *first = NULL, *next;

        if (!graphics_listens(g))
            continue;
        for (xmlNode *c = g->children; c; c = next) {
            next = c->next;
            if (!node_is(c, "listen"))
                continue;
            if (!first) {
                first = c;
                continue;
            }
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
        xmlUnsetProp(g, BAD_CAST "socket");
        xmlSetProp(g, BAD_CAST "listen", BAD_CAST addr);
        if (!prop_is(g, "type", "rdp") && !xmlHasNsProp(g, BAD_CAST "passwd", NULL))
            xmlSetProp(g, BAD_CAST "passwd", BAD_CAST "");
        listen = xmlNewDocNode(doc, NULL, BAD_CAST "listen", NULL);
        if (!listen)
            abort();
        xmlSetProp(listen, BAD_CAST "type", BAD_CAST "address");
        xmlSetProp(listen, BAD_CAST "address", BAD_CAST addr);
        /* in place of the first old one, else first child (libvirt's order) */
        if (first) {
            xmlReplaceNode(first, listen);
            xmlFreeNode(first);
        } else if (g->children)
            xmlAddPrevSibling(g->children, listen);
        else
            xmlAddChild(g, listen);
    }
}

/* Makes DOC the parent of instant clones: no <interface> (a clone would
 * restore the parent's MAC and NIC state), a <genid/> after <uuid> (empty:
 * libvirt makes the value, and a new one at every restore). */
static void
fill_parent(xmlDoc *doc, xmlNode *root, xmlNode *uuid)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;
    xmlNode *genid;

    o = xpath_eval(doc, "/domain/devices/interface");
    for (int i = 0; i < xpath_count(o); i++) {
        xmlUnlinkNode(o->nodesetval->nodeTab[i]);
        xmlFreeNode(o->nodesetval->nodeTab[i]);
    }
    if (child_find(root, "genid"))
        return;
    genid = xmlNewDocNode(doc, NULL, BAD_CAST "genid", NULL);
    if (!genid || !xmlAddNextSibling(uuid, genid))
        abort();
}

/* Checks the values of F that tmpl_fill() and tmpl_clone_xml() put into a
 * domain's XML; the domain type only when NEED_VIRT_TYPE or given. */
static int
fill_check(const struct tmpl_fill *f, bool need_virt_type, char **reterr_msg)
{
    if ((need_virt_type || f->virt_type) && !value_is_word(f->virt_type))
        return set_error(reterr_msg, -EINVAL, "Domain type '%s' is not valid.",
                         strempty(f->virt_type));
    if (!f->name || !*f->name || strlen(f->name) > 200)
        return set_error(reterr_msg, -EINVAL, "Domain name '%s' is not valid.",
                         strempty(f->name));
    if (!uuid_is_valid(f->uuid))
        return set_error(reterr_msg, -EINVAL, "UUID '%s' is not valid.", strempty(f->uuid));
    if (!f->disk_path || f->disk_path[0] != '/')
        return set_error(reterr_msg, -EINVAL, "Disk path '%s' is not an absolute path.",
                         strempty(f->disk_path));
    if (!value_is_word(f->disk_format))
        return set_error(reterr_msg, -EINVAL, "Disk format '%s' is not valid.",
                         strempty(f->disk_format));
    if (f->graphics_listen && !listen_is_valid(f->graphics_listen))
        return set_error(reterr_msg, -EINVAL, "Console listen address '%s' is not valid.",
                         f->graphics_listen);
    return 0;
}

/* Fills a copy of T for one desktop (see tmpl.h). F->meta may be NULL:
 * then no deskpool element is added (an existing one is still removed).
 * F->graphics_listen, when set, replaces the listen address(es) of every
 * vnc/spice/rdp <graphics> and locks a vnc/spice console without passwd
 * with passwd='' (see fill_graphics_listen()).
 * Returns 0 and a new NUL-terminated string (formatted XML with an XML
 * declaration), or -EINVAL with a message when a value of F is missing
 * or malformed. Does not modify T; safe to call from several threads on
 * the same T. */
int
tmpl_fill(const struct tmpl *t, const struct tmpl_fill *f, char **ret_xml, char **reterr_msg)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    _cleanup_(xml_freep) xmlChar *out = NULL;
    xmlNode *root, *name, *uuid, *disk = NULL, *data;
    int len = 0, r;

    r = fill_check(f, true, reterr_msg);
    if (r < 0)
        return r;

    doc = xmlCopyDoc(t->doc, 1);
    if (!doc)
        abort();
    root = xmlDocGetRootElement(doc);
    r = find_system_disk(doc, t->name, &disk, reterr_msg);
    if (r < 0)
        return r;
    assert(disk); /* find_system_disk() sets it on success */

    xmlSetProp(root, BAD_CAST "type", BAD_CAST f->virt_type);
    name = child_ensure(root, "name", NULL);
    node_set_text(name, f->name);
    uuid = child_ensure(root, "uuid", name);
    node_set_text(uuid, f->uuid);
    fill_disk(disk, f->disk_path, f->disk_format);
    data = find_data_disk(doc);
    if (data && !f->data_disk_path)
        return set_error(reterr_msg, -EINVAL, "Template '%s' has a data disk (alias '%s') but "
                         "the desktop has no data volume.", t->name, TMPL_DATA_ALIAS);
    if (data && f->data_disk_path[0] != '/')
        return set_error(reterr_msg, -EINVAL, "Data disk path '%s' is not an absolute path.",
                         f->data_disk_path);
    if (data)
        fill_disk(data, f->data_disk_path, "qcow2");
    fill_metadata(root, f->meta);
    if (f->graphics_listen)
        fill_graphics_listen(doc, f->graphics_listen);
    if (f->parent)
        fill_parent(doc, root, uuid);

    xmlDocDumpFormatMemory(doc, &out, &len, 1);
    if (!out || len <= 0)
        abort();
    *ret_xml = xstrdup((const char *) out);
    return 0;
}

/* Checks the hospital's lock-down rules: every <graphics type='spice'>
 * has <clipboard copypaste='no'/> and <filetransfer enable='no'/>; no
 * <redirdev>; no USB <hostdev>; no qemu-vdagent channel with
 * <clipboard copypaste='yes'/>. Returns 0, or -EPERM with a message
 * naming the first offending element. */
int
tmpl_check_lockdown(const struct tmpl *t, char **reterr_msg)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *spice = NULL, *redir = NULL,
        *usb = NULL, *vdagent = NULL;

    spice = xpath_eval(t->doc, "/domain/devices/graphics[@type='spice']");
    for (int i = 0; i < xpath_count(spice); i++) {
        xmlNode *g = spice->nodesetval->nodeTab[i];
        xmlNode *clip = child_find(g, "clipboard"), *ft = child_find(g, "filetransfer");

        if (!clip)
            return set_error(reterr_msg, -EPERM,
                             "Template '%s' has <graphics type='spice'> without "
                             "<clipboard copypaste='no'/>; SPICE enables the clipboard "
                             "by default.", t->name);
        if (!prop_is(clip, "copypaste", "no"))
            return set_error(reterr_msg, -EPERM,
                             "Template '%s' enables the clipboard: <graphics type='spice'> "
                             "has <clipboard> without copypaste='no'.", t->name);
        if (!ft)
            return set_error(reterr_msg, -EPERM,
                             "Template '%s' has <graphics type='spice'> without "
                             "<filetransfer enable='no'/>; SPICE enables file transfer "
                             "by default.", t->name);
        if (!prop_is(ft, "enable", "no"))
            return set_error(reterr_msg, -EPERM,
                             "Template '%s' enables file transfer: <graphics type='spice'> "
                             "has <filetransfer> without enable='no'.", t->name);
    }

    redir = xpath_eval(t->doc, "/domain/devices/redirdev");
    if (xpath_count(redir) > 0)
        return set_error(reterr_msg, -EPERM,
                         "Template '%s' has a <redirdev> element; USB redirection is not "
                         "allowed.", t->name);

    usb = xpath_eval(t->doc, "/domain/devices/hostdev[@type='usb']");
    if (xpath_count(usb) > 0)
        return set_error(reterr_msg, -EPERM,
                         "Template '%s' has a <hostdev type='usb'> element; USB host "
                         "passthrough is not allowed.", t->name);

    vdagent = xpath_eval(t->doc, "/domain/devices/channel[@type='qemu-vdagent']"
                         "/source/clipboard[@copypaste='yes']");
    if (xpath_count(vdagent) > 0)
        return set_error(reterr_msg, -EPERM,
                         "Template '%s' enables the clipboard: <channel type='qemu-vdagent'> "
                         "has <clipboard copypaste='yes'/>.", t->name);
    return 0;
}

/* Frees the strings of G and resets it (NULL is fine). Cannot fail. */
void
tmpl_graphics_done(struct tmpl_graphics *g)
{
    if (!g)
        return;
    free(g->type);
    free(g->listen);
    *g = (struct tmpl_graphics) { .port = -1, .tls_port = -1 };
}

/* Parses DOMAIN_XML (at most 1 MiB, same safe parser as templates) and
 * finds its first <devices>/<graphics>; DOMAIN_XML may also be a bare
 * <graphics> element (tmpl_graphics_element()). Returns 0 with the
 * document and the node (owned by the document), -EINVAL (not XML,
 * DOCTYPE, too large, not a <domain>) or -ENOENT (no graphics). */
static int
graphics_find(const char *domain_xml, xmlDoc **ret_doc, xmlNode **ret_node)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;
    struct parse_error pe = {};
    const char *dev, *g, *end;
    size_t len;
    int r;

    if (!domain_xml)
        return -EINVAL;
    len = strnlen(domain_xml, TMPL_MAX_SIZE + 1);
    if (len > TMPL_MAX_SIZE)
        return -EINVAL;
    /* Every acquire reads its console from the live XML (a few KiB). The
     * element alone, cut out of libvirt's own formatting (<devices>
     * follows <metadata>; a raw '<' only ever starts markup), parses in
     * a tenth of the time; anything unexpected takes the whole document. */
    g = domain_xml + strspn(domain_xml, " \t\r\n");
    if (strncmp(g, "<graphics ", 10) != 0) {
        dev = strncmp(g, "<domain ", 8) == 0 ? strstr(domain_xml, "<devices>") : NULL;
        g = dev ? strstr(dev, "<graphics ") : NULL;
    }
    end = g ? strpbrk(g, ">") : NULL;
    if (end && end > g && end[-1] != '/')
        end = strstr(end, "</graphics>") ? strstr(end, "</graphics>") + strlen("</graphics>") - 1
                                         : NULL;
    if (end) {
        r = xml_parse(g, (size_t) (end + 1 - g), &doc, &pe);
        free(pe.message);
        pe = (struct parse_error) {};
        if (r >= 0 && node_is(xmlDocGetRootElement(doc), "graphics")) {
            *ret_node = xmlDocGetRootElement(doc);
            *ret_doc = TAKE_PTR(doc);
            return 0;
        }
        if (doc)
            xmlFreeDoc(TAKE_PTR(doc));
    }
    r = xml_parse(domain_xml, len, &doc, &pe);
    free(pe.message);
    if (r < 0)
        return -EINVAL;
    if (!node_is(xmlDocGetRootElement(doc), "domain"))
        return -EINVAL;
    o = xpath_eval(doc, "/domain/devices/graphics");
    if (xpath_count(o) == 0)
        return -ENOENT;
    *ret_node = o->nodesetval->nodeTab[0];
    *ret_doc = TAKE_PTR(doc);
    return 0;
}

/* Port attribute ATTR of G: -1 when absent or "-1", else 0..65535. */
static int
graphics_port(xmlNode *g, const char *attr, int *ret)
{
    _cleanup_(xml_freep) xmlChar *v = xmlGetNoNsProp(g, BAD_CAST attr);
    int port;

    if (!v) {
        *ret = -1;
        return 0;
    }
    if (safe_atoi((const char *) v, &port) < 0 || port < -1 || port > 65535)
        return -EINVAL;
    *ret = port;
    return 0;
}

/* Reads type, port, tlsPort (spice) and the listen address of the first
 * <graphics> of DOMAIN_XML. The address is the listen attribute, else
 * the address of the first <listen type='address'> (or type='network',
 * whose live XML carries the address it resolved to). Returns 0 and
 * fills *RET (free with tmpl_graphics_done()), -ENOENT without graphics,
 * -EINVAL when the XML does not parse, is not a <domain>, or has a
 * graphics without type or with a bad port. Logs nothing. */
int
tmpl_graphics_parse(const char *domain_xml, struct tmpl_graphics *ret)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    _cleanup_(xml_freep) xmlChar *type = NULL, *listen = NULL;
    struct tmpl_graphics g = { .port = -1, .tls_port = -1 };
    xmlNode *node;
    int r;

    r = graphics_find(domain_xml, &doc, &node);
    if (r < 0)
        return r;
    type = xmlGetNoNsProp(node, BAD_CAST "type");
    if (!type || !*type)
        return -EINVAL;
    if (graphics_port(node, "port", &g.port) < 0)
        return -EINVAL;
    if (streq((const char *) type, "spice") && graphics_port(node, "tlsPort", &g.tls_port) < 0)
        return -EINVAL;
    listen = xmlGetNoNsProp(node, BAD_CAST "listen");
    for (xmlNode *c = node->children; c && !(listen && *listen); c = c->next) {
        if (!node_is(c, "listen") ||
            !(prop_is(c, "type", "address") || prop_is(c, "type", "network")))
            continue;
        xmlFree(listen);
        listen = xmlGetNoNsProp(c, BAD_CAST "address");
    }
    g.type = xstrdup((const char *) type);
    if (listen && *listen)
        g.listen = xstrdup((const char *) listen);
    *ret = g;
    return 0;
}

/* A copy of NODE as the root of a new document: *RET_OUT and *RET_COPY. */
static void
graphics_copy(xmlNode *node, xmlDoc **ret_out, xmlNode **ret_copy)
{
    xmlDoc *out = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *copy;

    if (!out)
        abort();
    copy = xmlDocCopyNode(node, out, 1);
    if (!copy)
        abort();
    xmlDocSetRootElement(out, copy);
    *ret_out = out;
    *ret_copy = copy;
}

/* COPY of document OUT as text without an XML declaration (a new string);
 * FORMAT indents it. */
static char *
graphics_dump(xmlDoc *out, xmlNode *copy, bool format)
{
    _cleanup_(xml_buffer_freep) xmlBuffer *buf = xmlBufferCreate();

    if (!buf || xmlNodeDump(buf, out, copy, 0, format) < 0)
        abort();
    return xstrdup((const char *) xmlBufferContent(buf));
}

int
tmpl_graphics_element(const char *domain_xml, char **ret_xml)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL, *out = NULL;
    xmlNode *node, *copy;
    int r;

    r = graphics_find(domain_xml, &doc, &node);
    if (r < 0)
        return r;
    graphics_copy(node, &out, &copy);
    /* the password is the session's, never kept */
    xmlUnsetProp(copy, BAD_CAST "passwd");
    xmlUnsetProp(copy, BAD_CAST "passwdValidTo");
    *ret_xml = graphics_dump(out, copy, false);
    return 0;
}

/* Printable ASCII only: libvirt passes the password to QEMU's monitor
 * as is, and VNC passwords are bytes. */
static bool
password_is_valid(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* Builds the <graphics> element for virDomainUpdateDeviceFlags() (see
 * tmpl.h): a copy of the first <graphics> of DOMAIN_XML with passwd set
 * (libxml2 escapes it) and passwdValidTo set to VALID_TO (seconds since
 * the epoch) formatted in UTC, or removed when VALID_TO <= 0. Everything
 * else (ports, autoport, listen children, <clipboard>...) is kept.
 * Returns 0 and a new string without an XML declaration; -ENOENT when
 * DOMAIN_XML has no <graphics>; -EINVAL with a message when DOMAIN_XML
 * does not parse or is not a <domain>, or PASSWORD is NULL or not
 * printable ASCII. */
int
tmpl_graphics_password_xml(const char *domain_xml, const char *password, int64_t valid_to,
                           char **ret_xml, char **reterr_msg)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL, *out = NULL;
    xmlNode *node, *copy;
    int r;

    if (!password || !password_is_valid(password))
        return set_error(reterr_msg, -EINVAL,
                         "A console password must be printable ASCII.");
    r = graphics_find(domain_xml, &doc, &node);
    if (r == -ENOENT)
        return set_error(reterr_msg, r, "The domain has no <graphics> element.");
    if (r < 0)
        return set_error(reterr_msg, r, "The domain XML cannot be parsed.");

    graphics_copy(node, &out, &copy);
    xmlSetProp(copy, BAD_CAST "passwd", BAD_CAST password);
    if (valid_to > 0) {
        time_t t = (time_t) valid_to;
        struct tm tm;
        char when[64];

        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
            return set_error(reterr_msg, -EINVAL, "Password expiry %" PRIi64 " is out of range.",
                             valid_to);
        xmlSetProp(copy, BAD_CAST "passwdValidTo", BAD_CAST when);
    } else
        xmlUnsetProp(copy, BAD_CAST "passwdValidTo");
    *ret_xml = graphics_dump(out, copy, true);
    return 0;
}

/* Every vnc/spice console of a clone starts locked (passwd='', no
 * expiry), whatever the parent's had: the saved XML carries secrets
 * (libvirt saves it with VIR_DOMAIN_XML_SECURE). */
static void
clone_lock_graphics(xmlDoc *doc)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;

    o = xpath_eval(doc, "/domain/devices/graphics[@type='vnc' or @type='spice']");
    for (int i = 0; i < xpath_count(o); i++) {
        xmlSetProp(o->nodesetval->nodeTab[i], BAD_CAST "passwd", BAD_CAST "");
        xmlUnsetProp(o->nodesetval->nodeTab[i], BAD_CAST "passwdValidTo");
    }
}

/* See tmpl.h. The saved XML is libvirt's migratable format: it has every
 * device address, the expanded machine type and the CPU model, which is
 * why a clone's XML is made from it and not from the template. */
int
tmpl_clone_xml(const char *saved_xml, const struct tmpl_fill *f, char **ret_xml,
               char **reterr_msg)
{
    _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
    _cleanup_(xml_freep) xmlChar *out = NULL, *type = NULL;
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *nics = NULL;
    struct parse_error pe = {};
    xmlNode *root, *name, *uuid, *disk = NULL, *data;
    size_t len;
    int olen = 0, r;

    r = fill_check(f, false, reterr_msg);
    if (r < 0)
        return r;
    len = saved_xml ? strnlen(saved_xml, TMPL_MAX_SIZE + 1) : 0;
    if (len == 0 || len > TMPL_MAX_SIZE)
        return set_error(reterr_msg, -EINVAL, "The parent's XML is empty or over 1 MiB.");
    r = xml_parse(saved_xml, len, &doc, &pe);
    free(pe.message);
    if (r < 0)
        return set_error(reterr_msg, -EINVAL, "The parent's XML is not well-formed.");
    root = xmlDocGetRootElement(doc);
    if (!node_is(root, "domain"))
        return set_error(reterr_msg, -EINVAL, "The parent's XML is not a <domain>.");
    nics = xpath_eval(doc, "/domain/devices/interface");
    if (xpath_count(nics) > 0)
        return set_error(reterr_msg, -EINVAL,
                         "The parent has a network interface; every clone would restore its "
                         "MAC. Save parents without one.");
    type = xmlGetNoNsProp(root, BAD_CAST "type");
    if (f->virt_type && (!type || !streq((const char *) type, f->virt_type)))
        return set_error(reterr_msg, -EINVAL,
                         "The parent is a domain of type '%s'; its clones cannot be '%s'.",
                         type ? (const char *) type : "", f->virt_type);
    r = find_system_disk(doc, "(parent)", &disk, reterr_msg);
    if (r < 0)
        return r;
    assert(disk); /* find_system_disk() sets it on success */

    name = child_ensure(root, "name", NULL);
    node_set_text(name, f->name);
    uuid = child_ensure(root, "uuid", name);
    node_set_text(uuid, f->uuid);
    fill_disk(disk, f->disk_path, f->disk_format);
    data = find_data_disk(doc);
    if (data && (!f->data_disk_path || f->data_disk_path[0] != '/'))
        return set_error(reterr_msg, -EINVAL, "The parent has a data disk (alias '%s') but "
                         "the clone has no data volume path.", TMPL_DATA_ALIAS);
    if (data)
        fill_disk(data, f->data_disk_path, "qcow2");
    fill_metadata(root, f->meta);
    if (f->graphics_listen)
        fill_graphics_listen(doc, f->graphics_listen);
    clone_lock_graphics(doc);

    xmlDocDumpFormatMemory(doc, &out, &olen, 1);
    if (!out || olen <= 0)
        abort();
    *ret_xml = xstrdup((const char *) out);
    return 0;
}

/* A unicast MAC written xx:xx:xx:xx:xx:xx. */
static bool
mac_is_valid(const char *s)
{
    if (!s || strlen(s) != 17)
        return false;
    for (size_t i = 0; i < 17; i++)
        if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    /* the low bit of the first octet is the group bit */
    return strchr("02468aceACE", s[1]) != NULL;
}

unsigned
tmpl_interface_count(const struct tmpl *t)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;

    o = xpath_eval(t->doc, "/domain/devices/interface");
    return (unsigned) xpath_count(o);
}

int
tmpl_interface_xml(const struct tmpl *t, unsigned index, const char *mac, char **ret_xml,
                   char **reterr_msg)
{
    _cleanup_(xml_xpath_object_freep) xmlXPathObject *o = NULL;
    _cleanup_(xml_doc_freep) xmlDoc *out = NULL;
    _cleanup_(xml_buffer_freep) xmlBuffer *buf = NULL;
    xmlNode *copy, *mac_node, *next;

    if (!mac_is_valid(mac))
        return set_error(reterr_msg, -EINVAL, "MAC address '%s' is not a unicast "
                         "xx:xx:xx:xx:xx:xx address.", strempty(mac));
    o = xpath_eval(t->doc, "/domain/devices/interface");
    if ((int) index >= xpath_count(o))
        return set_error(reterr_msg, -ENOENT, "Template '%s' has no interface number %u.",
                         t->name, index);
    out = xmlNewDoc(BAD_CAST "1.0");
    buf = xmlBufferCreate();
    if (!out || !buf)
        abort();
    copy = xmlDocCopyNode(o->nodesetval->nodeTab[index], out, 1);
    if (!copy)
        abort();
    xmlDocSetRootElement(out, copy);
    for (xmlNode *c = copy->children; c; c = next) {
        next = c->next;
        if (node_is(c, "address")) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
    mac_node = child_find(copy, "mac");
    if (!mac_node) {
        mac_node = xmlNewDocNode(out, NULL, BAD_CAST "mac", NULL);
        if (!mac_node)
            abort();
        if (copy->children)
            xmlAddPrevSibling(copy->children, mac_node);
        else
            xmlAddChild(copy, mac_node);
    }
    xmlSetProp(mac_node, BAD_CAST "address", BAD_CAST mac);
    *ret_xml = graphics_dump(out, copy, true);
    return 0;
}
