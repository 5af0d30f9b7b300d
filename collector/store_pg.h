/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL backend of collector/store.h (libpq); internals shared by its files. */
#ifndef AITRAIL_STORE_PG_H
#define AITRAIL_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "collector/store.h"
#include "collector/store_backend.h"

struct pg_store {
	struct store base; /* first: a struct store * is one of these */
	PGconn *conn;
	char *where; /* the spec without its password, for messages */
	struct pg_ev_rows *ev; /* event rows held for one INSERT (store_pg_batch.c) */
};

_Static_assert(offsetof(struct pg_store, base) == 0, "the struct store heads the handle");

static inline struct pg_store *pg_of(struct store *st)
{
	return (struct pg_store *)st;
}

/* Spec schemes served by this backend: postgres:// and postgresql:// (libpq connection URIs). */
bool store_spec_is_pg(const char *spec);

/* Up to PG_MAX_PARAMS query parameters, as libpq takes them; values are copied in. */
#define PG_MAX_PARAMS 20
struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
};
void pgp_text(struct pg_params *p, const char *v);      /* NULL -> "" */
void pgp_opt_text(struct pg_params *p, const char *v);  /* NULL or "" -> SQL NULL */
void pgp_null(struct pg_params *p);
void pgp_i64(struct pg_params *p, int64_t v);
void pgp_bytes(struct pg_params *p, const void *v, size_t len);
/* Runs sql with p (may be NULL); NULL after logging "failed to <what>: <server message>". */
PGresult *pg_exec(struct pg_store *st, const char *what, const char *sql,
		  const struct pg_params *p);
/* pg_exec with n parameters in libpq's arrays, for statements with more than PG_MAX_PARAMS. */
PGresult *pg_exec_raw(struct pg_store *st, const char *what, const char *sql, int n,
		      const char *const *v, const int *len, const int *fmt, int binary);
/* 0 when the connection is up, or was reset just now; -EIO (logged) when it stays down. */
int pg_alive(struct pg_store *st);
/* pg_exec with every result column in binary form: bytea as raw bytes, text as is. */
PGresult *pg_exec_bin(struct pg_store *st, const char *what, const char *sql,
		      const struct pg_params *p);
/* pg_exec for commands: 0 and the affected row count in *rows (may be NULL), or -EIO. */
int pg_cmd(struct pg_store *st, const char *what, const char *sql, const struct pg_params *p,
	   uint64_t *rows);
int64_t pg_i64(const PGresult *r, int row, int col);
/* An AgentStats into the agent's row unless a newer one is there (store_pg.c). */
int pg_put_stats(struct pg_store *st, const char *agent_id, const Aitrail__V1__AgentStats *stats,
		 uint64_t ts);

/* store_batch.c's rows (store_pg_batch.c). */
extern const struct store_rows_ops pg_rows_ops;

/* The PostgreSQL row of store.c's backend table: struct store_ops (collector/store_backend.h). */
int pg_store_open(const char *spec, struct store **out);
void pg_store_close(struct store *st);
int pg_store_set_durable(struct store *st, int durable);
int pg_store_agent_add(struct store *st, const char *agent_id, const char *key_hash,
			   const Aitrail__V1__AgentInfo *info, uint64_t now_ns);
int pg_store_agent_by_key(struct store *st, const char *key_hash,
			      struct store_agent *out);
int pg_store_agent_revoke(struct store *st, const char *agent_id, uint64_t now_ns);
int pg_store_heartbeat(struct store *st, const char *agent_id,
			   const Aitrail__V1__Heartbeat *hb, uint64_t now_ns);
int pg_store_query_sessions(struct store *st, const struct session_filter *f,
				json_object **out);
int pg_store_query_events(struct store *st, const struct event_filter *f,
			      json_object **out);
int pg_store_query_timeline(struct store *st, const char *session_id,
				json_object **out);
int pg_store_query_agents(struct store *st, const struct store_liveness *l,
			  json_object **out);
int pg_store_query_provenance(struct store *st, const char *const *sha256, size_t n,
				  json_object **out);
int pg_store_prune(struct store *st, uint64_t before_ns, uint32_t max_rows,
		       uint64_t *deleted);
int pg_store_policy_add(struct store *st, const char *group, const char *name,
			    const char *yaml, size_t len, const char *etag, uint64_t now_ns);
int pg_store_policy_get(struct store *st, const char *group, struct store_policy *out);
int pg_store_replay(struct store *st, uint64_t since_ns, uint64_t until_ns,
			unsigned int kinds, store_replay_fn fn, void *arg, uint64_t *undecodable);

#endif
