/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The batch semantics of collector/store.h, written once (store_batch.c) for every backend:
 * dedup by (agent, boot, seq), the hash chain checked against both stored neighbours, gaps,
 * session rows (one upsert per session and batch), session start and end, the provenance
 * ledger, agent stats, all in one transaction. A backend supplies only the rows: the primitive
 * operations below, each one statement or two, none of which decides anything.
 */
#ifndef AITRAIL_STORE_BATCH_H
#define AITRAIL_STORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/store.h"

/*
 * A batch's events touch few sessions: one upsert per session and batch, not per event, keeps the
 * sessions row (and its indexes) out of the per-event cost. The first non-empty tool, user and
 * root pid win, as they would one event at a time.
 */
struct session_touch {
	const char *id, *tool, *host, *user;
	uint32_t root_pid; /* 0: unknown, stored as NULL */
	uint64_t first_ns, last_ns, events;
};

/* A stored batch's chain fields; lengths as stored, so a hash of another length never matches. */
struct store_link {
	uint8_t hash[STORE_HASH_LEN], prev_hash[STORE_HASH_LEN];
	size_t hash_len, prev_hash_len;
};

/* One row of the events table. Strings are never NULL unless said. */
struct store_event_row {
	const char *agent_id, *boot_id;
	uint64_t batch_seq, seq, ts;
	const char *type, *host;
	const char *session_id, *tool; /* both NULL: the event has no session */
	bool has_proc;                 /* false: user to exe are stored as NULL */
	const char *user, *comm, *exe;
	uint32_t uid, pid, ppid;
	const char *detail;            /* event_detail(); valid only during the call */
	const uint8_t *pb;             /* the event as the agent packed it */
	size_t pb_len;
};

/* One row of the provenance ledger: a file_write that left content with a known SHA-256. */
struct store_prov_row {
	const char *sha256, *path, *session_id, *tool, *host, *user, *agent_id;
	uint64_t ts, size;
	bool has_pid;
	uint32_t pid;
	const char *renamed_from; /* NULL when the write was not a rename */
};

/*
 * The rows of one backend. Each returns 0 or a negative errno after logging "failed to <what>:
 * <reason>"; after an error the batch is rolled back. st is the backend's handle.
 */
struct store_rows_ops {
	/* Opens the batch's transaction; a writer holds an agent's chain until commit. */
	int (*begin)(struct store *st, const struct store_batch *b);
	int (*commit)(struct store *st);
	void (*rollback)(struct store *st);
	/*
	 * The agent's batch seq: the one of boot boot_id, or with boot_id NULL the one received
	 * last whatever its boot. 1 with *out filled, 0 when there is none, or -EIO (what names the
	 * look-up in the message).
	 */
	int (*batch_find)(struct store *st, const char *what, const char *agent_id,
			  const char *boot_id, uint64_t seq, struct store_link *out);
	/* b's own row; flagged: the first chain break found in it, NULL when none. */
	int (*batch_add)(struct store *st, const struct store_batch *b, const char *flagged);
	/* A break of the agent's chain at batch seq, detected at b->received_ns. */
	int (*chain_break_add)(struct store *st, const struct store_batch *b, uint64_t seq,
			       const char *kind);
	/* May hold the row (copying detail) until events_flush, which may be NULL. */
	int (*event_add)(struct store *st, const struct store_event_row *r);
	int (*events_flush)(struct store *st);
	/*
	 * Inserts the session, or merges t into its row: start_ns the least, last_ns the greatest,
	 * events added, tool, user and root_pid kept unless empty.
	 */
	int (*session_touch)(struct store *st, const char *agent_id, const struct session_touch *t);
	/* The session row exists; user "" keeps the stored one. argv_json may be NULL. */
	int (*session_start)(struct store *st, const char *session_id, const char *cwd,
			     const char *argv_json, const char *user);
	int (*session_end)(struct store *st, const char *session_id, uint64_t end_ns,
			   int32_t exit_code, const char *signal);
	/* A row already in the ledger (same sha256, session, path, ts) stays as it is. */
	int (*provenance_add)(struct store *st, const struct store_prov_row *r);
	/* Once per (agent, boot, from_seq, to_seq): a resent gap is not added again. */
	int (*gap_add)(struct store *st, const struct store_batch *b, const Aitrail__V1__Gap *g);
	/* Replaces the agent's stats unless the stored ones are newer than ts. */
	int (*agent_stats)(struct store *st, const char *agent_id,
			   const Aitrail__V1__AgentStats *stats, uint64_t ts);
	/* The agent was heard from at b->received_ns, running boot b->boot_id ("" keeps it). */
	int (*agent_seen)(struct store *st, const struct store_batch *b);
};

/* store_put_batch over a backend's rows. */
int store_batch_put(struct store *st, const struct store_rows_ops *rows,
		    const struct store_batch *b, struct store_put_result *res);

#endif
