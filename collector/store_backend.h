/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the store backends (store_sqlite.c and friends, store_pg.c and friends) share
 * (store_backend.c): the encodings of stored JSON columns and the per-batch session aggregation,
 * so both store the same rows for the same batch. store.c dispatches collector/store.h to the
 * backend; the helpers of store.h that backends call (store_policy_release, store_spec_redact,
 * event_detail) are not the dispatcher's either.
 */
#ifndef AITRAIL_STORE_BACKEND_H
#define AITRAIL_STORE_BACKEND_H

#include <stdbool.h>

#include "common/pbjson.h"
#include "collector/store.h"

struct sqlite_store;
struct pg_store;

/* Exactly one backend is set. */
struct store {
	struct sqlite_store *lite;
	struct pg_store *pg;
};

/* Loss counters and the rest of AgentStats as a flat JSON object; malloc'd, NULL on ENOMEM. */
char *store_stats_json(const Aitrail__V1__AgentStats *stats);
/* A session's argv as a JSON array; malloc'd. */
char *store_argv_json(size_t n, char **argv);
bool store_is_sha256_hex(const char *s);
/*
 * The whole stored event as the agent's JSON output renders it (common/pbjson.c), so scripts
 * see every field (argv arrays, flags, truncated, policy decisions) and not only the columns;
 * NULL when it no longer decodes.
 */
json_object *store_event_json(const void *pb, size_t len, struct pbjson_buf *b);
/* {"from_seq": from, "to_seq": to}: a range of batch numbers in the agents answer. */
json_object *store_seq_range(uint64_t from, uint64_t to);

/*
 * A batch's events touch few sessions: one upsert per session and batch, not per event, keeps the
 * sessions row (and its indexes) out of the per-event cost. The first non-empty tool, user and
 * root pid win, as they would one event at a time.
 */
struct session_touch {
	const char *id, *tool, *host, *user;
	uint32_t root_pid;
	uint64_t first_ns, last_ns, events;
};

#define TOUCH_MAX 32

struct touches {
	struct session_touch t[TOUCH_MAX];
	int n, last;
};

/* Adds ev (which has a session) to its session's touch; -ENOSPC: flush the touches, add again. */
int store_touches_add(struct touches *ts, const Aitrail__V1__Event *ev);

#endif
