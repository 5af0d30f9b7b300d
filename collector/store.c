// SPDX-License-Identifier: Apache-2.0
/*
 * collector/store.h dispatched to a backend by the spec's scheme (SQLite files, postgres://
 * URIs), and the helpers both backends share (store_backend.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
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

void store_policy_release(struct store_policy *p)
{
	free(p->yaml);
	free(p->etag);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

int store_replay(struct store *st, uint64_t since_ns, uint64_t until_ns, unsigned int kinds,
		 store_replay_fn fn, void *arg, uint64_t *undecodable)
{
	return DISPATCH(store_replay, since_ns, until_ns, kinds, fn, arg, undecodable);
}

/* Loss counters and the rest of AgentStats as a flat JSON object, field names from the proto. */
char *store_stats_json(const Aitrail__V1__AgentStats *stats)
{
	const ProtobufCMessageDescriptor *d = stats->base.descriptor;
	json_object *o = json_object_new_object();
	char *s;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = (const char *)stats + f->offset;

		if (f->type == PROTOBUF_C_TYPE_UINT64)
			json_object_object_add(o, f->name, json_object_new_uint64(*(uint64_t *)p));
		else if (f->type == PROTOBUF_C_TYPE_BOOL)
			json_object_object_add(o, f->name, json_object_new_boolean(*(int *)p));
	}
	if (stats->lost) {
		const ProtobufCMessageDescriptor *ld = stats->lost->base.descriptor;
		json_object *l = json_object_new_object();

		for (unsigned i = 0; i < ld->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &ld->fields[i];

			if (f->type != PROTOBUF_C_TYPE_UINT64)
				continue;
			json_object_object_add(l, f->name, json_object_new_uint64(
				*(uint64_t *)((const char *)stats->lost + f->offset)));
		}
		json_object_object_add(o, "lost", l);
	}
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

char *store_argv_json(size_t n, char **argv)
{
	json_object *a = json_object_new_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(argv[i]));
	s = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return s;
}

bool store_is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return i == 64;
}

json_object *store_event_json(const void *pb, size_t len, struct pbjson_buf *b)
{
	Aitrail__V1__Event *ev;
	json_object *o = NULL;

	ev = aitrail__v1__event__unpack(NULL, len, pb);
	if (!ev)
		return NULL;
	pbjson_buf_reset(b);
	if (!pbjson_append(b, &ev->base) && b->data)
		o = json_tokener_parse(b->data);
	aitrail__v1__event__free_unpacked(ev, NULL);
	return o;
}

int store_touches_add(struct touches *ts, const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__Session *ss = ev->session;
	const char *user = ev->proc ? ev->proc->user : "";
	struct session_touch *t = NULL;
	int i;

	if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START && ev->session_start->user[0])
		user = ev->session_start->user;
	if (!user)
		user = "";
	if (ts->n && !strcmp(ts->t[ts->last].id, ss->id))
		t = &ts->t[ts->last];
	for (i = 0; !t && i < ts->n; i++)
		if (!strcmp(ts->t[i].id, ss->id))
			t = &ts->t[i];
	if (!t) {
		if (ts->n == TOUCH_MAX)
			return -ENOSPC;
		t = &ts->t[ts->n++];
		*t = (struct session_touch){ .id = ss->id, .tool = ss->tool ? ss->tool : "",
					     .host = ev->host ? ev->host : "", .user = user,
					     .root_pid = ss->root_pid, .first_ns = ev->ts,
					     .last_ns = ev->ts };
	}
	ts->last = t - ts->t;
	if (!t->tool[0] && ss->tool)
		t->tool = ss->tool;
	if (!t->user[0])
		t->user = user;
	if (!t->root_pid)
		t->root_pid = ss->root_pid;
	if (ev->ts < t->first_ns)
		t->first_ns = ev->ts;
	if (ev->ts > t->last_ns)
		t->last_ns = ev->ts;
	t->events++;
	return 0;
}

json_object *store_seq_range(uint64_t from, uint64_t to)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "from_seq", json_object_new_int64((int64_t)from));
	json_object_object_add(r, "to_seq", json_object_new_int64((int64_t)to));
	return r;
}
