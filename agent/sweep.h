/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_SWEEP_H
#define AITRAIL_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct agent_rec;

/*
 * Emits, through rt (the caller's own record row), the records a kernel map (u64 keys, values
 * starting with struct at_hdr) has held longer than min_age_ns, up to one batch: rec is room for
 * one value, finish completes it and returns its size. Whoever deletes an entry emits it, so a
 * record the kernel sends meanwhile is not sent twice. Returns how many it emitted.
 */
#define SWEEP_BATCH 256 /* map entries looked at per call */

int sweep_held(struct agent *a, int fd, void *rec, uint64_t min_age_ns,
	       size_t (*finish)(void *rec), const struct agent_rec *rt);

/* A module's sweep of what it holds: old entries (all false), or everything (shutdown). */
struct sweeper {
	const char *what;      /* "held-connect": names the timer in errors */
	uint32_t interval_ms;
	void (*sweep)(struct agent *a, bool all);
};

/* Runs s->sweep(a, false) every s->interval_ms from the loop (s must outlive the loop). */
int sweeper_start(struct agent *a, const struct sweeper *s);

#endif
