/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events on their way out (agent/emit.c). Raw ring-buffer records (bpf/aitrail.h) are decoded
 * by the module that owns their type into an Aitrail__V1__Event (proto/event.proto), the one
 * in-memory form of an event: the JSON writer, the spool and the shipper all take it.
 */
#ifndef AITRAIL_EMIT_H
#define AITRAIL_EMIT_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "agent/arena.h"
#include "bpf/aitrail.h"
#include "proto/event.pb-c.h"

struct agent;
struct agent_rec;

typedef Aitrail__V1__Event at_event;

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

/* ts, host, session and proc of ev from a record's header and the process table. */
void agent_fill_event(struct agent *a, at_event *ev, const struct at_hdr *h, struct arena *ar);

/*
 * Emits an event: a late session_start first when its session never had one (its record was
 * lost), then the event's seq, its session's counts and every sink. Decoded records, the
 * agent's own events (agent_stats, gap) and what modules report on their own all come here.
 */
int agent_emit(struct agent *a, at_event *ev);

/*
 * One record of rt's type (a module's row, agent/module.h) -> one event: counted as read,
 * checked against rt (NULL: a type no module decodes), decoded by rt's handler, emitted. A
 * malformed record is counted as a decode error. Returns 0: nothing here stops the reader.
 */
int agent_emit_record(struct agent *a, const struct agent_rec *rt, const void *data, size_t size);

#endif
