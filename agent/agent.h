/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent object: one per process, handed to every part of the daemon. agent/agent.c sets it
 * up (agent_init, before anything runs) and frees it (agent_free, last).
 */
#ifndef AITRAIL_AGENT_H
#define AITRAIL_AGENT_H

#include <stdint.h>
#include <stdio.h>

#include "agent/arena.h"
#include "agent/config.h"
#include "agent/sink.h"

#define AGENT_VERSION "0.1.0"

struct aitrail;
struct loop;
struct proctable;
struct ring_buffer;
struct scan_root;
struct session;

struct agent {
	struct agent_config *cfg;
	struct aitrail *skel;
	struct ring_buffer *rb;
	struct loop *loop;
	struct proctable *procs;
	struct session *sessions;
	struct scan_root *scan_roots;
	struct arena arena;
	FILE *json_out;

	char hostname[256];
	char machine_id[64];
	char boot_id[64];
	int64_t boot_to_unix;   /* CLOCK_REALTIME - CLOCK_BOOTTIME at start, ns */

	struct agent_sink sinks[AGENT_MAX_SINKS];
	int n_sinks;

	uint64_t seq;
	uint64_t events_emitted;
	uint64_t records_read;
	uint64_t decode_errors;
	uint64_t spool_dropped;  /* filled by the spool when it drops events */
	uint64_t unclean_stops;  /* the spool's count of earlier runs killed or crashed */
	uint64_t sink_errors;
};

/* The kernel's timestamps (CLOCK_BOOTTIME) in Unix time. */
static inline uint64_t boot_to_unix_ns(const struct agent *a, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + a->boot_to_unix);
}

/* What the agent knows of this host before any record: its name, ids and clock offset. */
void agent_init(struct agent *a, struct agent_config *cfg);
/* The loop, the session and process tables, the arena. */
void agent_free(struct agent *a);

#endif
