/* SPDX-License-Identifier: Apache-2.0 */
/* agent_stats events and the loss counters they carry (agent/stats.c). */
#ifndef AITRAIL_STATS_H
#define AITRAIL_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/event.pb-c.h"

struct agent;

/*
 * The agent's own loss counters: struct agent fields reported under the same name in
 * LossCounters. The kernel's are bpf/counters.h's AT_COUNTERS.
 */
#define AGENT_LOSS_COUNTERS(X) X(decode_errors) X(spool_dropped) X(unclean_stops)

/* Where one LossCounters field comes from. */
struct stats_counter {
	const char *field;     /* the LossCounters field, as proto/event.proto names it */
	size_t lost_off;       /* its offset in Aitrail__V1__LossCounters */
	int slot;              /* the kernel's counters map slot (enum at_counter), or -1 */
	size_t agent_off;      /* slot -1: the uint64_t in struct agent */
};

/* Every LossCounters field the agent fills: the kernel's counters, then the agent's own. */
extern const struct stats_counter stats_counters[];
extern const size_t stats_n_counters;

int stats_emit(struct agent *a, bool final);
/* The counters of an agent_stats body (also sent in the shipper's heartbeats). */
void stats_fill(struct agent *a, Aitrail__V1__AgentStats *st, Aitrail__V1__LossCounters *lost);

#endif
