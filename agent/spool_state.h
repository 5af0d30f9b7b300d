/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's state file (DIR/spool/state): what must survive a restart besides the events
 * themselves. Text, one "key value" a line, replaced atomically (temp file, fsync, rename,
 * fsync of the directory), so a crash leaves the old state or the new one, never half of one.
 */
#ifndef AITRAIL_SPOOL_STATE_H
#define AITRAIL_SPOOL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/spool.h"
#include "common/wire.h"

#define SPOOL_MAX_GAPS 64

struct spool_gap {
	uint64_t from, to, events;
	char reason[32];
};

struct spool_state {
	uint64_t next_seq;        /* next event seq */
	uint64_t next_batch_seq;
	uint8_t last_hash[WIRE_HASH_LEN];
	int have_hash;
	uint64_t sent_seq;        /* last event seq cut into a batch */
	uint64_t acked_seq;
	/* "running 1" stays in the file while an agent has the spool open: finding it at open
	 * means the last one was killed or crashed, losing what it had read but not spooled */
	int running;
	uint64_t unclean_stops;
	struct spool_gap gaps[SPOOL_MAX_GAPS]; /* losses not yet sent in a batch */
	int n_gaps;
};

/*
 * Reads DIR/state into st (left as it is when there is no file) and the in-flight batch's
 * numbers into inflight (seq 0: none). -EINVAL names the damaged line.
 */
int spool_state_read(const char *dir, struct spool_state *st, struct spool_batch *inflight);
/* Replaces DIR/state; inflight NULL when no batch is in flight. */
int spool_state_write(const char *dir, const struct spool_state *st,
		      const struct spool_batch *inflight);
/*
 * Records lost events from..to. Consecutive losses of one kind become one gap; a full table
 * widens its last gap rather than forget any loss.
 */
void spool_gap_add(struct spool_state *st, uint64_t from, uint64_t to, uint64_t events,
		   const char *reason);
/* Writes DIR/name atomically (the state, the in-flight batch body). -errno after a message. */
int spool_write_atomic(const char *dir, const char *name, const void *data, size_t len);

#endif
