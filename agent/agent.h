/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's internal contract. Raw ring-buffer records (bpf/aitrail.h) are decoded by the
 * module that owns their type into an Aitrail__V1__Event (proto/event.proto), which is the one
 * in-memory form of an event: the JSON writer, the spool and the shipper all take it.
 *
 * A module X is bpf/X.bpf.c + bpf/X.h + agent/X.c and registers its record types in
 * agent/dispatch.c's table.
 */
#ifndef AITRAIL_AGENT_H
#define AITRAIL_AGENT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/event.pb-c.h"
#include "bpf/aitrail.h"

struct agent;
struct arena;

typedef Aitrail__V1__Event at_event;

/*
 * Decodes one record of a registered type. The handler fills ev's body (and may set type);
 * the caller has already filled ev->type from the table, ts, host, session and proc from the
 * record header and the process table. Strings and arrays come from ar, which is reset after
 * the event is written. Returns 0 to emit ev, 1 to emit nothing (record consumed, e.g. state
 * only), or -errno for a malformed record (counted as a decode error).
 */
typedef int (*at_rec_handler)(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			      at_event *ev, struct arena *ar);

struct at_rec_type_info {
	uint32_t type;         /* enum at_rec_type */
	uint32_t min_size;     /* smallest valid record, header included */
	const char *name;      /* public event type, e.g. "exec"; NULL if the handler sets it */
	at_rec_handler handler;
};

/* Bump allocator for one event's strings and arrays. */
void *arena_alloc(struct arena *ar, size_t size);
char *arena_strndup(struct arena *ar, const char *s, size_t maxlen);
char *arena_printf(struct arena *ar, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds field (a static string) to ev's truncated list; -ENOMEM leaves the list as it was. */
static inline int ev_add_truncated(at_event *ev, struct arena *ar, const char *field)
{
	char **v = arena_alloc(ar, (ev->n_truncated + 1) * sizeof(char *));

	if (!v)
		return -ENOMEM;
	if (ev->n_truncated)
		memcpy(v, ev->truncated, ev->n_truncated * sizeof(char *));
	v[ev->n_truncated++] = (char *)field;
	ev->truncated = v;
	return 0;
}

/*
 * Emits an event the agent itself makes (session_start, session_end, agent_stats, gap): assigns
 * the sequence number and hands it to every sink. Decoded records go through the same path.
 */
int agent_emit(struct agent *a, at_event *ev);

#endif
