// SPDX-License-Identifier: Apache-2.0
/*
 * collector/store.h dispatched to a backend: the first whose accepts() takes the spec (postgres://
 * URIs), else the one without (SQLite files). A backend is one row of the table below. The
 * argument checks and defaults of collector/store.h are made here once, for every backend; what
 * the backends share is in store_backend.c, and nothing here is called by a backend.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_batch.h"
#include "collector/store_pg.h"
#include "collector/store_sqlite.h"

static const struct store_ops backends[] = {
	{
		.name = "postgresql",
		.accepts = store_spec_is_pg,
		.open = pg_store_open,
		.close = pg_store_close,
		.set_durable = pg_store_set_durable,
		.agent_add = pg_store_agent_add,
		.agent_by_key = pg_store_agent_by_key,
		.agent_revoke = pg_store_agent_revoke,
		.heartbeat = pg_store_heartbeat,
		.rows = &pg_rows_ops,
		.query_sessions = pg_store_query_sessions,
		.query_events = pg_store_query_events,
		.query_timeline = pg_store_query_timeline,
		.query_agents = pg_store_query_agents,
		.query_provenance = pg_store_query_provenance,
		.prune = pg_store_prune,
		.policy_add = pg_store_policy_add,
		.policy_get = pg_store_policy_get,
		.replay = pg_store_replay,
	},
	{
		.name = "sqlite",
		.open = sqlite_store_open,
		.close = sqlite_store_close,
		.set_durable = sqlite_store_set_durable,
		.agent_add = sqlite_store_agent_add,
		.agent_by_key = sqlite_store_agent_by_key,
		.agent_revoke = sqlite_store_agent_revoke,
		.heartbeat = sqlite_store_heartbeat,
		.rows = &sqlite_rows_ops,
		.query_sessions = sqlite_store_query_sessions,
		.query_events = sqlite_store_query_events,
		.query_timeline = sqlite_store_query_timeline,
		.query_agents = sqlite_store_query_agents,
		.query_provenance = sqlite_store_query_provenance,
		.prune = sqlite_store_prune,
		.policy_add = sqlite_store_policy_add,
		.policy_get = sqlite_store_policy_get,
		.replay = sqlite_store_replay,
	},
};

int store_open(const char *spec, struct store **out)
{
	const struct store_ops *be = NULL;
	struct store *st;
	int err;

	for (size_t i = 0; !be && i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!backends[i].accepts || backends[i].accepts(spec))
			be = &backends[i];
	if (!be)
		return -EINVAL;
	err = be->open(spec, &st);
	if (err)
		return err;
	st->ops = be;
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

int store_set_durable(struct store *st, int durable)
{
	return st->ops->set_durable(st, durable);
}

int store_agent_add(struct store *st, const char *agent_id, const char *key_hash,
		    const Aitrail__V1__AgentInfo *info, uint64_t now_ns)
{
	return st->ops->agent_add(st, agent_id, key_hash, info, now_ns);
}

int store_agent_by_key(struct store *st, const char *key_hash, struct store_agent *out)
{
	return st->ops->agent_by_key(st, key_hash, out);
}

int store_agent_revoke(struct store *st, const char *agent_id, uint64_t now_ns)
{
	return st->ops->agent_revoke(st, agent_id, now_ns);
}

int store_heartbeat(struct store *st, const char *agent_id, const Aitrail__V1__Heartbeat *hb,
		    uint64_t now_ns)
{
	return st->ops->heartbeat(st, agent_id, hb, now_ns);
}

int store_put_batch(struct store *st, const struct store_batch *b, struct store_put_result *res)
{
	return store_batch_put(st, st->ops->rows, b, res);
}

/* A query's limit: dflt when none was asked, and never more than MAX_LIMIT rows. */
#define MAX_LIMIT 100000

static uint32_t limit(uint32_t asked, uint32_t dflt)
{
	if (!asked)
		return dflt;
	return asked > MAX_LIMIT ? MAX_LIMIT : asked;
}

int store_query_sessions(struct store *st, const struct session_filter *f, json_object **out)
{
	struct session_filter g = *f;

	g.limit = limit(f->limit, 1000);
	return st->ops->query_sessions(st, &g, out);
}

int store_query_events(struct store *st, const struct event_filter *f, json_object **out)
{
	struct event_filter g = *f;

	g.limit = limit(f->limit, 10000);
	return st->ops->query_events(st, &g, out);
}

int store_query_timeline(struct store *st, const char *session_id, json_object **out)
{
	return st->ops->query_timeline(st, session_id, out);
}

int store_query_agents(struct store *st, uint64_t now_ns, uint32_t silent_after,
		       uint32_t default_interval_s, json_object **out)
{
	struct store_liveness l = { .now_ns = now_ns, .silent_after = silent_after,
				    .default_interval_s = default_interval_s };

	return st->ops->query_agents(st, &l, out);
}

static bool is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return i == 64;
}

int store_query_provenance(struct store *st, const char *const *sha256, size_t n,
			   json_object **out)
{
	if (n > STORE_PROV_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!is_sha256_hex(sha256[i]))
			return -EINVAL;
	return st->ops->query_provenance(st, sha256, n, out);
}

int store_prune(struct store *st, uint64_t before_ns, uint32_t max_rows, uint64_t *deleted)
{
	return st->ops->prune(st, before_ns, max_rows, deleted);
}

int store_policy_put(struct store *st, const char *group, const char *name, const char *yaml,
		     size_t len, const char *etag, uint64_t now_ns)
{
	if (!len)
		return -EINVAL; /* an empty version is how a removal is recorded */
	return st->ops->policy_add(st, group, name, yaml, len, etag, now_ns);
}

int store_policy_remove(struct store *st, const char *group, uint64_t now_ns)
{
	struct store_policy p;
	int err;

	if (!*group)
		return -EINVAL;
	err = st->ops->policy_get(st, group, &p);
	if (err)
		return err;
	store_policy_release(&p);
	return st->ops->policy_add(st, group, "", "", 0, "", now_ns);
}

int store_policy_get(struct store *st, const char *group, struct store_policy *out)
{
	return st->ops->policy_get(st, group, out);
}

int store_replay(struct store *st, uint64_t since_ns, uint64_t until_ns, unsigned int kinds,
		 store_replay_fn fn, void *arg, uint64_t *undecodable)
{
	return st->ops->replay(st, since_ns, until_ns, kinds, fn, arg, undecodable);
}
