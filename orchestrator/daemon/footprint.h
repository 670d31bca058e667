/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* footprint.h - what one desktop really takes on a host, measured. See
 * footprint.c. */
#pragma once

#include <stdint.h>

#include "cluster.h"

struct footprints;

struct footprints *footprints_new(void);
struct footprints *footprints_free(struct footprints *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct footprints *, footprints_free);

/* Measures, on every observed host of C at most once per
 * FOOTPRINT_INTERVAL_SEC, QEMU's resident memory of up to
 * FOOTPRINT_SAMPLES running desktops of each template (DESKS, POOLS give
 * which) and the host's KSM savings. One libvirt call per sample; on a
 * driver that cannot say (test://) nothing is measured. */
void footprints_sample(struct footprints *f, const struct cluster *c, struct desk *const *desks,
                       size_t n_desks, struct pool *const *pools, size_t n_pools);

/* The measured footprint of one desktop of TEMPLATE on HOST: the mean
 * resident memory less its share of the host's KSM savings; 0 when not
 * measured. *RET_KSM_SAVED (may be NULL): the host's KSM savings. */
uint64_t footprints_get(struct footprints *f, const char *host, const char *template,
                        uint64_t *ret_ksm_saved);
