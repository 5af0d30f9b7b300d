/* SPDX-License-Identifier: Apache-2.0 */
/* Where emitted events go: each registered sink, in order (agent/sink.c). */
#ifndef AITRAIL_SINK_H
#define AITRAIL_SINK_H

#include "agent/emit.h"

struct agent;

#define AGENT_MAX_SINKS 8

typedef int (*agent_sink_fn)(struct agent *a, const at_event *ev, void *arg);

struct agent_sink {
	agent_sink_fn fn;
	void *arg;
};

int agent_add_sink(struct agent *a, agent_sink_fn fn, void *arg);
/* Removes fn's sink (one that can no longer write); safe from inside that sink. */
void agent_remove_sink(struct agent *a, agent_sink_fn fn);
/*
 * Assigns ev the next seq and hands it to every sink, without the session accounting of
 * agent_emit: for the sessions' own events (agent/sessions.c), which do that themselves.
 */
int sinks_write(struct agent *a, at_event *ev);

#endif
