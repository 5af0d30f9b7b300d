/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a store backend is, and what the backends share. struct store_ops is a backend: one row
 * of store.c's table. store_backend.c holds the helpers every backend calls: the encodings of
 * stored JSON columns, the JSON of stored events and timestamps, the agents answer's derived
 * fields, so both backends answer the same JSON for the same rows; and the helpers of store.h
 * that backends call too (store_policy_release, store_spec_redact), which are therefore not in
 * the dispatcher. The batch semantics over a backend's rows are store_batch.h's.
 */
#ifndef AITRAIL_STORE_BACKEND_H
#define AITRAIL_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pbjson.h"
#include "collector/store.h"

struct store_rows_ops;

/* What decides whether an agent is silent, as the agents query was given it. */
struct store_liveness {
	uint64_t now_ns;
	uint32_t silent_after;       /* heartbeat intervals */
	uint32_t default_interval_s; /* for agents that never sent a heartbeat */
};
/*
 * A backend: one row of store.c's table. Each function has the contract of its collector/store.h
 * namesake, with the arguments store.c checked: filters come with their limit resolved (never
 * 0), provenance digests are valid. st is the struct store that the backend's open returned,
 * which the backend's own handle starts with (struct sqlite_store, struct pg_store).
 */
struct store_ops {
	const char *name;
	/* The spec names a database of this backend; NULL: every spec no other backend takes. */
	bool (*accepts)(const char *spec);
	int (*open)(const char *spec, struct store **out);
	void (*close)(struct store *st);
	int (*set_durable)(struct store *st, int durable);
	int (*agent_add)(struct store *st, const char *agent_id, const char *key_hash,
			 const Aitrail__V1__AgentInfo *info, uint64_t now_ns);
	int (*agent_by_key)(struct store *st, const char *key_hash, struct store_agent *out);
	int (*agent_revoke)(struct store *st, const char *agent_id, uint64_t now_ns);
	int (*heartbeat)(struct store *st, const char *agent_id, const Aitrail__V1__Heartbeat *hb,
			 uint64_t now_ns);
	/* store_put_batch: store_batch.c's semantics over these rows */
	const struct store_rows_ops *rows;
	int (*query_sessions)(struct store *st, const struct session_filter *f, json_object **out);
	int (*query_events)(struct store *st, const struct event_filter *f, json_object **out);
	int (*query_timeline)(struct store *st, const char *session_id, json_object **out);
	int (*query_agents)(struct store *st, const struct store_liveness *l, json_object **out);
	int (*query_provenance)(struct store *st, const char *const *sha256, size_t n,
				json_object **out);
	int (*prune)(struct store *st, uint64_t before_ns, uint32_t max_rows, uint64_t *deleted);
	/* A new version of group's policy; an empty yaml marks the group's own one removed. */
	int (*policy_add)(struct store *st, const char *group, const char *name, const char *yaml,
			  size_t len, const char *etag, uint64_t now_ns);
	int (*policy_get)(struct store *st, const char *group, struct store_policy *out);
	int (*replay)(struct store *st, uint64_t since_ns, uint64_t until_ns, unsigned int kinds,
		      store_replay_fn fn, void *arg, uint64_t *undecodable);
};

/* The head of every backend's handle; store.c sets ops after the backend's open. */
struct store {
	const struct store_ops *ops;
};

/* Loss counters and the rest of AgentStats as a flat JSON object; malloc'd, NULL on ENOMEM. */
char *store_stats_json(const Aitrail__V1__AgentStats *stats);
/* A session's argv as a JSON array; malloc'd. */
char *store_argv_json(size_t n, char **argv);
/*
 * The whole stored event as the agent's JSON output renders it (common/pbjson.c), so scripts
 * see every field (argv arrays, flags, truncated, policy decisions) and not only the columns;
 * NULL when it no longer decodes.
 */
json_object *store_event_json(const void *pb, size_t len, struct pbjson_buf *b);
/*
 * A timestamp goes out twice: k as RFC 3339 for people and jq, k_ns in ns for scripts that
 * compute; without one (has false), k is null.
 */
void store_json_ts(json_object *o, const char *k, bool has, uint64_t ns);
/* {"from_seq": from, "to_seq": to}: a range of batch numbers in the agents answer. */
json_object *store_seq_range(uint64_t from, uint64_t to);

/*
 * The agents answer's heartbeat_interval_s and silent, from the agent's stored interval (0 or
 * less: none) and when it was last heard from (0: never). A revoked agent is never silent.
 */
void store_agent_liveness(json_object *o, int64_t interval_s, uint64_t seen_ns, bool revoked,
			  const struct store_liveness *l);
/* Batches the agent says it cut but that have not arrived (yet): a range, or NULL. */
json_object *store_batches_pending(int64_t last_cut, int64_t max_received);

#endif
