// SPDX-License-Identifier: Apache-2.0
/*
 * Records the kernel holds back in a map instead of sending them at once (a connect waiting for
 * its first write or its outcome, an io_uring request waiting for its completion). A held record
 * can wait for hours and the agent can stop at any time; neither may cost the event. The owner
 * sweeps entries older than its limit (and everything at shutdown) with the rule the kernel
 * follows: whoever deletes the entry emits it.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include "agent/emit.h"
#include "agent/loop.h"
#include "agent/sweep.h"
#include "common/log.h"
#include "common/util.h"

int sweep_held(struct agent *a, int fd, void *rec, uint64_t min_age_ns,
	       size_t (*finish)(void *rec), const struct agent_rec *rt)
{
	uint64_t keys[SWEEP_BATCH], now = now_boottime_ns();
	const struct at_hdr *h = rec;
	int n = 0, emitted = 0;
	uint64_t key, *prev = NULL;

	/* collect first: deleting while walking would restart the walk */
	while (n < SWEEP_BATCH && !bpf_map_get_next_key(fd, prev, &key)) {
		keys[n] = key;
		prev = &keys[n++];
	}
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], rec))
			continue;
		if (now - h->ts < min_age_ns && h->ts <= now)
			continue;
		if (bpf_map_delete_elem(fd, &keys[i]))
			continue; /* the kernel emitted it meanwhile */
		agent_emit_record(a, rt, rec, finish(rec));
		emitted++;
	}
	return emitted;
}

static void on_sweep_timer(struct agent *a, void *arg)
{
	const struct sweeper *s = arg;

	s->sweep(a, false);
}

int sweeper_start(struct agent *a, const struct sweeper *s)
{
	int err = loop_add_timer(a, s->interval_ms, on_sweep_timer, (void *)s);

	if (err < 0)
		log_error("failed to add the %s sweep timer: %s", s->what, strerror(-err));
	return err < 0 ? err : 0;
}
