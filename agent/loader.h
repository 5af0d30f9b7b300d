/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel side bring-up (agent/loader.c): probe, open the one skeleton, load what this kernel
 * runs (module by module, agent/module.h), attach, read the rings.
 */
#ifndef AITRAIL_LOADER_H
#define AITRAIL_LOADER_H

#include <stdint.h>

struct agent;

int loader_probe(void);
int loader_start(struct agent *a);
/* Detaches, then reads what the kernel wrote before that: nothing accepted is dropped. */
void loader_drain(struct agent *a);
void loader_stop(struct agent *a);
/* Adds the counters map's per-CPU sums into out[AT_CNT_MAX]. */
int loader_read_counters(struct agent *a, uint64_t *out);

#endif
