/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable spool between agent_emit() and the collector. Every event is appended (a
 * wire frame of the packed Event) to a segment file under STATE_DIR/spool before it counts as
 * sent; batches are cut from the spool in event order, one in flight at a time, and a segment
 * is deleted only once every event in it was acknowledged. Bounded by spool.max_bytes: when
 * full, the configured policy drops events and the loss travels as a Gap in the next batch.
 * Event and batch sequence numbers, the hash chain and pending gaps survive restarts.
 */
#ifndef AITRAIL_SPOOL_H
#define AITRAIL_SPOOL_H

#include <stdint.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "common/wire.h"

struct spool;

struct spool_batch {
	uint64_t seq;       /* batch seq */
	uint64_t to_seq;    /* last event seq in it; everything up to here is acked with it */
	uint32_t n_events;
	uint32_t n_gaps;
	uint8_t *body;      /* deflated Batch, ready to POST */
	size_t body_len;
};

struct spool_stats {
	uint64_t bytes;           /* segment files on disk */
	uint64_t events;          /* spooled, not yet acknowledged */
	uint64_t pending_events;  /* not yet in a batch */
	uint64_t pending_bytes;
	uint64_t dropped;         /* events lost to the size bound (this run) */
	uint64_t corrupt_bytes;   /* damaged spool bytes skipped at open */
	uint64_t next_seq;        /* next event seq */
	uint64_t next_batch_seq;
	uint64_t acked_seq;       /* last acknowledged event seq */
	uint64_t pending_gaps;
	uint64_t unclean_stops;   /* earlier runs that ended without spool_close (all runs) */
};

/*
 * Opens (creating) DIR/spool. Reads the state, scans the segments (a torn tail from a crash
 * is cut off) and returns the first event seq to assign. -errno with the reason logged.
 */
int spool_open(struct spool **sp, const char *dir, uint64_t max_bytes,
	       enum cfg_spool_policy policy, uint64_t *next_event_seq);
/* Appends ev (whose seq was assigned by agent_emit). Drops by policy when full: returns 0. */
int spool_append(struct spool *s, const at_event *ev);
/*
 * From now on appends gather in memory until spool_flush_appends(), which writes them to the
 * segment in one write(2). Whoever turns it on flushes at the end of each burst of events (the
 * agent: each loop iteration), so an agent killed loses no more than the burst it was handling.
 * Everything that reads or syncs the spool flushes first.
 */
void spool_buffer_appends(struct spool *s);
/* Writes the gathered appends; events a failed write lost become a spool_write_error gap. */
int spool_flush_appends(struct spool *s);
/* Flushes segment data and, when changed, the state to disk. Cheap when nothing changed. */
int spool_sync(struct spool *s);
/*
 * The batch to send: the in-flight one again if there is one, else a new one cut from the
 * pending events (at most max_events / about max_bytes) and pending gaps. The batch stays
 * owned by the spool and valid until the next spool_ack/spool_next_batch/spool_close.
 * -ENODATA when there is nothing to send.
 */
int spool_next_batch(struct spool *s, const Aitrail__V1__AgentInfo *agent, uint32_t max_events,
		     uint32_t max_bytes, const struct spool_batch **b);
/*
 * A new agent identity (enrollment) starts a new batch chain: batch seq 1, no previous hash.
 * An unacknowledged batch is cut again under it; event seqs and pending gaps are kept.
 */
int spool_new_chain(struct spool *s);
/* Replaces the in-flight batch's agent info (after a re-enrollment); events and hash stay. */
int spool_reissue(struct spool *s, const Aitrail__V1__AgentInfo *agent);
/* The collector stored (or already had) batch seq: forget it, free what it covered. */
int spool_ack(struct spool *s, uint64_t batch_seq);
void spool_get_stats(struct spool *s, struct spool_stats *st);
/* 1 while a cut batch waits for its acknowledgement. */
int spool_inflight(struct spool *s);
/* Monotonic ns when the oldest pending (un-batched) event was appended; 0 if none. */
uint64_t spool_pending_since(struct spool *s);
void spool_close(struct spool *s);

#endif
