/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the SQLite backend's files (store_sqlite*.c). */
#ifndef AITRAIL_STORE_SQLITE_H
#define AITRAIL_STORE_SQLITE_H

#include <stddef.h>

#include <sqlite3.h>

#include "collector/store.h"
#include "collector/store_backend.h"

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_AGENT_ADD,
	ST_AGENT_BY_KEY,
	ST_AGENT_REVOKE,
	ST_AGENT_SEEN,
	ST_AGENT_HEARTBEAT,
	ST_AGENT_STATS,
	ST_BATCH_GET,
	ST_BATCH_BY_SEQ,
	ST_BATCH_ADD,
	ST_EVENT_ADD,
	ST_SESSION_TOUCH,
	ST_SESSION_START,
	ST_SESSION_END,
	ST_CHAIN_BREAK,
	ST_GAP_ADD,
	ST_PROV_ADD,
	ST__COUNT
};

struct sqlite_store {
	struct store base; /* first: a struct store * is one of these */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT];
};

_Static_assert(offsetof(struct sqlite_store, base) == 0, "the struct store heads the handle");

static inline struct sqlite_store *sqlite_of(struct store *st)
{
	return (struct sqlite_store *)st;
}

/* Resets and returns a statement prepared at open, ready for binding. */
sqlite3_stmt *sqlite_stmt_get(struct sqlite_store *st, enum store_stmt id);
/* Logs "failed to <what>: <SQLite's message>"; -EIO. */
int sqlite_db_err(struct sqlite_store *st, const char *what);
/* An AgentStats into the agent's row unless a newer one is there. */
int sqlite_put_stats(struct sqlite_store *st, const char *agent_id,
		     const Aitrail__V1__AgentStats *stats, uint64_t ts);

/* Binds v, NULL as "", for the duration of the statement's step. */
static inline void sqlite_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

/* store_batch.c's rows (store_sqlite_batch.c). */
extern const struct store_rows_ops sqlite_rows_ops;
/* The policy_versions table, and its group column on older databases (store_sqlite_policy.c). */
int sqlite_policy_schema(struct sqlite_store *st);

/* The SQLite row of store.c's backend table: struct store_ops (collector/store_backend.h). */
int sqlite_store_open(const char *spec, struct store **out);
void sqlite_store_close(struct store *st);
int sqlite_store_set_durable(struct store *st, int durable);
int sqlite_store_agent_add(struct store *st, const char *agent_id, const char *key_hash,
			   const Aitrail__V1__AgentInfo *info, uint64_t now_ns);
int sqlite_store_agent_by_key(struct store *st, const char *key_hash,
			      struct store_agent *out);
int sqlite_store_agent_revoke(struct store *st, const char *agent_id, uint64_t now_ns);
int sqlite_store_heartbeat(struct store *st, const char *agent_id,
			   const Aitrail__V1__Heartbeat *hb, uint64_t now_ns);
int sqlite_store_query_sessions(struct store *st, const struct session_filter *f,
				json_object **out);
int sqlite_store_query_events(struct store *st, const struct event_filter *f,
			      json_object **out);
int sqlite_store_query_timeline(struct store *st, const char *session_id,
				json_object **out);
int sqlite_store_query_agents(struct store *st, const struct store_liveness *l,
			      json_object **out);
int sqlite_store_query_provenance(struct store *st, const char *const *sha256, size_t n,
				  json_object **out);
int sqlite_store_prune(struct store *st, uint64_t before_ns, uint32_t max_rows,
		       uint64_t *deleted);
int sqlite_store_policy_add(struct store *st, const char *group, const char *name,
			    const char *yaml, size_t len, const char *etag, uint64_t now_ns);
int sqlite_store_policy_get(struct store *st, const char *group, struct store_policy *out);
int sqlite_store_replay(struct store *st, uint64_t since_ns, uint64_t until_ns,
			unsigned int kinds, store_replay_fn fn, void *arg, uint64_t *undecodable);

#endif
