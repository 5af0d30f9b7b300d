// SPDX-License-Identifier: Apache-2.0
/*
 * Connect records the kernel holds back (bpf/net.bpf.h): established TCP connects waiting for a
 * first write that may name the peer, and non-blocking connects waiting for their outcome. A
 * connection can stay idle for hours and the agent can stop at any time; neither may cost the
 * event. The sweep takes entries older than NET_HOLD_MAX_MS (and everything at shutdown) with
 * the same rule the kernel follows: whoever deletes the entry emits it.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>

#include "bpf/aitrail.skel.h"
#include "agent/core.h"
#include "common/log.h"
#include "bpf/net.h"
#include "agent/netsweep.h"
#include "common/util.h"

#define NET_HOLD_MAX_MS 1000
#define NET_SWEEP_BATCH 256

int sweep_held(struct agent *a, int fd, void *rec, uint64_t min_age_ns,
	       size_t (*finish)(void *rec))
{
	uint64_t keys[NET_SWEEP_BATCH], now = now_boottime_ns();
	const struct at_hdr *h = rec;
	int n = 0, emitted = 0;
	uint64_t key, *prev = NULL;

	/* collect first: deleting while walking would restart the walk */
	while (n < NET_SWEEP_BATCH && !bpf_map_get_next_key(fd, prev, &key)) {
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
		dispatch_record(a, rec, finish(rec));
		emitted++;
	}
	return emitted;
}

static size_t connect_done(void *rec)
{
	return sizeof(struct at_net_connect);
}

static size_t connect_pending(void *rec)
{
	((struct at_net_connect *)rec)->result = -EINPROGRESS; /* the agent stops first */
	return sizeof(struct at_net_connect);
}

static int sweep_map(struct agent *a, int fd, uint64_t min_age_ns, bool pending)
{
	struct at_net_connect r;

	return sweep_held(a, fd, &r, min_age_ns, pending ? connect_pending : connect_done);
}

void net_sweep(struct agent *a, bool all)
{
	/* a batch per tick; at shutdown, until the maps are empty */
	int rounds = all ? 8192 / NET_SWEEP_BATCH + 1 : 1;

	if (!a->skel)
		return;
	for (int i = 0; i < rounds; i++)
		if (!sweep_map(a, bpf_map__fd(a->skel->maps.net_estab),
			       all ? 0 : NET_HOLD_MAX_MS * 1000000ULL, false))
			break;
	for (int i = 0; all && i < rounds; i++)
		if (!sweep_map(a, bpf_map__fd(a->skel->maps.net_synsent), 0, true))
			break;
}

static void on_sweep_timer(struct agent *a, void *arg)
{
	net_sweep(a, false);
}

int net_start(struct agent *a)
{
	int err = loop_add_timer(a, NET_HOLD_MAX_MS / 2, on_sweep_timer, NULL);

	if (err < 0)
		log_error("failed to add the held-connect sweep timer: %s", strerror(-err));
	return err < 0 ? err : 0;
}
