// SPDX-License-Identifier: Apache-2.0
/* The sinks every emitted event is handed to: the JSON writer, the spool, the policy. */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/sink.h"

int agent_add_sink(struct agent *a, agent_sink_fn fn, void *arg)
{
	if (a->n_sinks >= AGENT_MAX_SINKS)
		return -ENOSPC;
	a->sinks[a->n_sinks].fn = fn;
	a->sinks[a->n_sinks].arg = arg;
	a->n_sinks++;
	return 0;
}

void agent_remove_sink(struct agent *a, agent_sink_fn fn)
{
	int i;

	for (i = 0; i < a->n_sinks; i++) {
		if (a->sinks[i].fn != fn)
			continue;
		memmove(&a->sinks[i], &a->sinks[i + 1], (a->n_sinks - i - 1) * sizeof(a->sinks[0]));
		a->n_sinks--;
		return;
	}
}

int sinks_write(struct agent *a, at_event *ev)
{
	/* a sink may remove itself (broken stdout): iterate over a copy so no other sink misses
	 * this event */
	struct agent_sink sinks[AGENT_MAX_SINKS];
	int i, n = a->n_sinks, err = 0;

	ev->seq = ++a->seq;
	a->events_emitted++;
	memcpy(sinks, a->sinks, n * sizeof(sinks[0]));
	for (i = 0; i < n; i++) {
		int e = sinks[i].fn(a, ev, sinks[i].arg);

		if (e) {
			a->sink_errors++;
			err = e;
		}
	}
	return err;
}
