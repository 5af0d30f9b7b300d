/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shipping to aitrail-collector: enrollment, batches from the spool, heartbeats, over HTTP/1.1
 * (libcurl multi). The shipper runs inside the agent's one epoll loop: it exposes a single fd
 * (its own epoll set of curl sockets and one timerfd) that the loop watches for EPOLLIN and
 * answers with ship_dispatch(). Nothing here blocks.
 */
#ifndef AITRAIL_SHIP_H
#define AITRAIL_SHIP_H

#include <stdint.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/spool.h"

struct shipper;

struct ship_stats {
	uint64_t batches_sent;     /* acknowledged by the collector */
	uint64_t events_sent;
	uint64_t batches_rejected; /* 4xx on a batch: kept in the spool, retried later */
	uint64_t failures;         /* connection errors, timeouts, 5xx */
	uint64_t enrollments;
	uint64_t heartbeats;
	int connected;             /* the last request reached the collector */
	struct spool_stats spool;
};

/* Fills the agent's counters for a heartbeat; strings and sub-messages stay owned by the caller. */
typedef void (*ship_stats_fn)(void *arg, Aitrail__V1__AgentStats *st);

/*
 * Opens the spool under cfg->state_dir, loads the agent key and prepares the connection; does
 * not connect yet. *next_event_seq is the first event seq the agent must assign.
 */
int ship_open(struct shipper **sp, const struct agent_config *cfg, const char *version,
	      uint64_t *next_event_seq);
void ship_set_stats_cb(struct shipper *sh, ship_stats_fn fn, void *arg);
/* The fd to watch for EPOLLIN; call ship_dispatch() when it is readable. */
int ship_fd(struct shipper *sh);
void ship_dispatch(struct shipper *sh);
/* The event sink: spools ev. Never blocks on the network. */
int ship_append(struct shipper *sh, const at_event *ev);
/* Appends gather in memory until ship_flush_appends (see spool_buffer_appends). */
void ship_buffer_appends(struct shipper *sh);
void ship_flush_appends(struct shipper *sh);
/*
 * At shutdown: sends what is pending, waiting at most timeout_ms. Whatever is not acknowledged
 * by then stays in the spool for the next start. Returns 0 when everything was delivered.
 */
int ship_flush(struct shipper *sh, int timeout_ms);
void ship_get_stats(struct shipper *sh, struct ship_stats *st);
void ship_close(struct shipper *sh);

#endif
