// SPDX-License-Identifier: Apache-2.0
/*
 * collector/store.h dispatched to a backend by the spec's scheme (SQLite files, postgres://
 * URIs). What the backends share is in store_backend.c; nothing here is called by a backend.
 */
#include <errno.h>
#include <stdlib.h>

#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_pg.h"
#include "collector/store_sqlite.h"

int store_open(const char *spec, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	if (store_spec_is_pg(spec))
		err = pg_store_open(spec, &st->pg);
	else
		err = sqlite_store_open(spec, &st->lite);
	if (err) {
		free(st);
		return err;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->pg)
		pg_store_close(st->pg);
	else
		sqlite_store_close(st->lite);
	free(st);
}

/* Every other function is the backend's, with the same arguments. */
#define DISPATCH(fn, ...) \
	(st->pg ? pg_##fn(st->pg, __VA_ARGS__) : sqlite_##fn(st->lite, __VA_ARGS__))

int store_set_durable(struct store *st, int durable)
{
	return DISPATCH(store_set_durable, durable);
}

int store_agent_add(struct store *st, const char *agent_id, const char *key_hash,
		    const Aitrail__V1__AgentInfo *info, uint64_t now_ns)
{
	return DISPATCH(store_agent_add, agent_id, key_hash, info, now_ns);
}

int store_agent_by_key(struct store *st, const char *key_hash, struct store_agent *out)
{
	return DISPATCH(store_agent_by_key, key_hash, out);
}

int store_agent_revoke(struct store *st, const char *agent_id, uint64_t now_ns)
{
	return DISPATCH(store_agent_revoke, agent_id, now_ns);
}

int store_heartbeat(struct store *st, const char *agent_id, const Aitrail__V1__Heartbeat *hb,
		    uint64_t now_ns)
{
	return DISPATCH(store_heartbeat, agent_id, hb, now_ns);
}

int store_put_batch(struct store *st, const struct store_batch *b, struct store_put_result *res)
{
	return DISPATCH(store_put_batch, b, res);
}

int store_query_sessions(struct store *st, const struct session_filter *f, json_object **out)
{
	return DISPATCH(store_query_sessions, f, out);
}

int store_query_events(struct store *st, const struct event_filter *f, json_object **out)
{
	return DISPATCH(store_query_events, f, out);
}

int store_query_timeline(struct store *st, const char *session_id, json_object **out)
{
	return DISPATCH(store_query_timeline, session_id, out);
}

int store_query_agents(struct store *st, uint64_t now_ns, uint32_t silent_after,
		       uint32_t default_interval_s, json_object **out)
{
	return DISPATCH(store_query_agents, now_ns, silent_after, default_interval_s, out);
}

int store_query_provenance(struct store *st, const char *const *sha256, size_t n,
			   json_object **out)
{
	return DISPATCH(store_query_provenance, sha256, n, out);
}

int store_prune(struct store *st, uint64_t before_ns, uint32_t max_rows, uint64_t *deleted)
{
	return DISPATCH(store_prune, before_ns, max_rows, deleted);
}

int store_policy_put(struct store *st, const char *group, const char *name, const char *yaml,
		     size_t len, const char *etag, uint64_t now_ns)
{
	return DISPATCH(store_policy_put, group, name, yaml, len, etag, now_ns);
}

int store_policy_remove(struct store *st, const char *group, uint64_t now_ns)
{
	return DISPATCH(store_policy_remove, group, now_ns);
}

int store_policy_get(struct store *st, const char *group, struct store_policy *out)
{
	return DISPATCH(store_policy_get, group, out);
}

int store_replay(struct store *st, uint64_t since_ns, uint64_t until_ns, unsigned int kinds,
		 store_replay_fn fn, void *arg, uint64_t *undecodable)
{
	return DISPATCH(store_replay, since_ns, until_ns, kinds, fn, arg, undecodable);
}
