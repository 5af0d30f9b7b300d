// SPDX-License-Identifier: Apache-2.0
/*
 * Plugs the shipper into the agent: the spool is one more event sink, the shipper's fd one
 * more source in the epoll loop, and the event sequence continues from the spool's state.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/stats.h"
#include "common/log.h"
#include "agent/ship.h"
#include "agent/ship_agent.h"

#define SHIP_FLUSH_MS 3000

/* One agent per process; core's struct agent stays free of shipping details. */
static struct shipper *shipper;

static int spool_sink(struct agent *a, const at_event *ev, void *arg)
{
	struct ship_stats st;
	int err = ship_append(shipper, ev);

	ship_get_stats(shipper, &st);
	a->spool_dropped = st.spool.dropped;
	a->unclean_stops = st.spool.unclean_stops;
	return err;
}

static void on_ship_fd(struct agent *a, int fd, uint32_t events, void *arg)
{
	ship_dispatch(shipper);
}

/* One write(2) per loop iteration for all the events it emitted, not one per event. */
static void on_idle(struct agent *a, void *arg)
{
	ship_flush_appends(shipper);
}

static void fill_stats(void *arg, Aitrail__V1__AgentStats *st)
{
	stats_fill(arg, st, st->lost);
}

int agent_ship_start(struct agent *a)
{
	struct ship_stats st;
	uint64_t next_seq;
	int err;

	if (!a->cfg->collector_url[0])
		return 0;
	err = ship_open(&shipper, a->cfg, AGENT_VERSION, &next_seq);
	if (err) {
		log_error("failed to start shipping to %s: %s", a->cfg->collector_url,
			  strerror(-err));
		return err;
	}
	/* event seqs continue across restarts: the collector sees one gapless sequence */
	if (next_seq > a->seq + 1)
		a->seq = next_seq - 1;
	ship_get_stats(shipper, &st);
	a->unclean_stops = st.spool.unclean_stops;
	ship_set_stats_cb(shipper, fill_stats, a);
	err = agent_add_sink(a, spool_sink, NULL);
	if (!err)
		err = loop_add_fd(a, ship_fd(shipper), EPOLLIN, on_ship_fd, NULL);
	if (!err)
		err = loop_on_idle(a, on_idle, NULL);
	if (!err)
		ship_buffer_appends(shipper);
	if (err) {
		log_error("failed to hook the shipper into the agent: %s", strerror(-err));
		ship_close(shipper);
		shipper = NULL;
	}
	return err;
}

void agent_ship_stop(struct agent *a)
{
	if (!shipper)
		return;
	ship_flush(shipper, SHIP_FLUSH_MS);
	ship_close(shipper);
	shipper = NULL;
}
