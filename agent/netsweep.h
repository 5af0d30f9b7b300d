/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_NETSWEEP_H
#define AITRAIL_NETSWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

/*
 * Emits, through the record handlers, the records a kernel map (u64 keys, values starting with
 * struct at_hdr) has held longer than min_age_ns, up to one batch: rec is room for one value,
 * finish completes it and returns its size. Whoever deletes an entry emits it, so a record the
 * kernel sends meanwhile is not sent twice. Returns how many it emitted.
 */
int sweep_held(struct agent *a, int fd, void *rec, uint64_t min_age_ns,
	       size_t (*finish)(void *rec));

/* Adds the loop timer that emits connect records the kernel held too long. */
int net_start(struct agent *a);
/* Emits held connect records: old ones, or (all) every one, before the agent stops. */
void net_sweep(struct agent *a, bool all);

#endif
