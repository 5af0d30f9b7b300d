// SPDX-License-Identifier: Apache-2.0
/*
 * The compliance report (GET /v1/report, `aitrail report`): one pass over the window's stored
 * events through store_replay, counted in json-c objects used as string-keyed tables.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/report.h"

struct report {
	json_object *by_tool, *by_user, *by_host; /* name -> count */
	uint64_t sessions;
	json_object *conns;  /* connection -> its latest net_close (reports are cumulative) */
	json_object *reads;  /* pattern -> {reads, sessions: {id: 1}} */
	json_object *paths, *write_sessions; /* sets */
	uint64_t writes, bytes_written;
	json_object *policy; /* rule|action|outcome -> {rule_id, action, outcome, decisions} */
};

static const char *or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

static void bump(json_object *table, const char *key, int64_t by)
{
	json_object *v;

	if (json_object_object_get_ex(table, key, &v))
		json_object_set_int64(v, json_object_get_int64(v) + by);
	else
		json_object_object_add(table, key, json_object_new_int64(by));
}

/* The entry of table under key, created with the keys' fields at 0 or "" the first time. */
static json_object *entry(json_object *table, const char *key)
{
	json_object *e;

	if (!json_object_object_get_ex(table, key, &e)) {
		e = json_object_new_object();
		json_object_object_add(table, key, e);
	}
	return e;
}

static void on_event(void *arg, const Aitrail__V1__Event *ev, const char *session_id,
		     const char *cwd)
{
	struct report *r = arg;
	const char *sid = or(session_id, "-");
	char key[512];
	json_object *e;

	(void)cwd;
	switch (ev->body_case) {
	case AITRAIL__V1__EVENT__BODY_SESSION_START:
		r->sessions++;
		bump(r->by_tool, or(ev->session ? ev->session->tool : NULL, "?"), 1);
		bump(r->by_user, or(ev->session_start->user, "?"), 1);
		bump(r->by_host, or(ev->host, "?"), 1);
		break;
	case AITRAIL__V1__EVENT__BODY_NET_CLOSE: {
		const Aitrail__V1__NetClose *c = ev->net_close;

		snprintf(key, sizeof(key), "%s|%s|%u|%s|%u", sid, c->saddr, c->sport, c->daddr,
			 c->dport);
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(or(c->dst_name, c->daddr)));
		json_object_object_add(e, "class", json_object_new_string(or(c->dst_class, "")));
		json_object_object_add(e, "vendor", json_object_new_string(or(c->vendor, "")));
		json_object_object_add(e, "bytes_sent", json_object_new_int64(c->bytes_sent));
		json_object_object_add(e, "bytes_received",
				       json_object_new_int64(c->bytes_received));
		json_object_object_add(r->conns, key, e); /* a later report replaces an earlier */
		break;
	}
	case AITRAIL__V1__EVENT__BODY_FILE_READ:
		e = entry(r->reads, or(ev->file_read->pattern, "?"));
		bump(e, "reads", 1);
		json_object_object_add(entry(e, "sessions"), sid, json_object_new_int(1));
		break;
	case AITRAIL__V1__EVENT__BODY_FILE_WRITE:
		r->writes++;
		r->bytes_written += ev->file_write->bytes_written;
		json_object_object_add(r->paths, or(ev->file_write->path, "?"), NULL);
		json_object_object_add(r->write_sessions, sid, NULL);
		break;
	case AITRAIL__V1__EVENT__BODY_POLICY_DECISION: {
		const Aitrail__V1__PolicyDecision *d = ev->policy_decision;

		snprintf(key, sizeof(key), "%s|%s|%s", d->rule_id, d->action, d->outcome);
		e = entry(r->policy, key);
		if (!json_object_object_get_ex(e, "rule_id", NULL)) {
			json_object_object_add(e, "rule_id", json_object_new_string(d->rule_id));
			json_object_object_add(e, "action", json_object_new_string(d->action));
			json_object_object_add(e, "outcome", json_object_new_string(d->outcome));
		}
		/* a rate-limited process's decisions count too */
		bump(e, "decisions", 1 + (int64_t)d->suppressed);
		break;
	}
	default:
		break;
	}
}

static int64_t geti(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static int by_bytes_sent(const void *a, const void *b)
{
	int64_t x = geti(*(json_object *const *)a, "bytes_sent");
	int64_t y = geti(*(json_object *const *)b, "bytes_sent");

	return x < y ? 1 : x > y ? -1 : 0;
}

static int by_count(const void *a, const void *b, const char *k)
{
	int64_t x = geti(*(json_object *const *)a, k), y = geti(*(json_object *const *)b, k);

	return x < y ? 1 : x > y ? -1 : 0;
}

static int by_reads(const void *a, const void *b)
{
	return by_count(a, b, "reads");
}

static int by_decisions(const void *a, const void *b)
{
	return by_count(a, b, "decisions");
}

/* Destinations: the connections' latest reports summed per name. */
static json_object *destinations(json_object *conns)
{
	json_object *dests = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_foreach(conns, k, c) {
		json_object *name, *d;

		(void)k;
		json_object_object_get_ex(c, "name", &name);
		d = entry(dests, json_object_get_string(name));
		if (!json_object_object_get_ex(d, "name", NULL)) {
			json_object_object_add(d, "name", json_object_get(name));
			json_object_object_add(d, "class",
					       json_object_get(json_object_object_get(c, "class")));
			json_object_object_add(d, "vendor",
					       json_object_get(json_object_object_get(c, "vendor")));
		}
		bump(d, "connections", 1);
		bump(d, "bytes_sent", geti(c, "bytes_sent"));
		bump(d, "bytes_received", geti(c, "bytes_received"));
	}
	json_object_object_foreach(dests, k2, d2) {
		(void)k2;
		json_object_array_add(arr, json_object_get(d2));
	}
	json_object_put(dests);
	json_object_array_sort(arr, by_bytes_sent);
	return arr;
}

/* A table's entries as an array sorted by cmp; with sessions sets replaced by their size. */
static json_object *entries(json_object *table, int (*cmp)(const void *, const void *),
			    const char *keyname)
{
	json_object *arr = json_object_new_array();

	json_object_object_foreach(table, k, e) {
		json_object *s;

		if (keyname)
			json_object_object_add(e, keyname, json_object_new_string(k));
		if (json_object_object_get_ex(e, "sessions", &s))
			json_object_object_add(e, "sessions",
					       json_object_new_int64(json_object_object_length(s)));
		json_object_array_add(arr, json_object_get(e));
	}
	json_object_array_sort(arr, cmp);
	return arr;
}

int report_build(struct store *st, uint64_t since_ns, uint64_t until_ns, json_object **out)
{
	struct report r = {
		.by_tool = json_object_new_object(), .by_user = json_object_new_object(),
		.by_host = json_object_new_object(), .conns = json_object_new_object(),
		.reads = json_object_new_object(), .paths = json_object_new_object(),
		.write_sessions = json_object_new_object(), .policy = json_object_new_object(),
	};
	json_object *o = NULL, *s, *w;
	uint64_t undecodable = 0;
	int err;

	err = store_replay(st, since_ns, until_ns,
			   STORE_EV_SESSION_START | STORE_EV_NET_CLOSE | STORE_EV_FILE |
			   STORE_EV_POLICY, on_event, &r, &undecodable);
	if (!err) {
		o = json_object_new_object();
		json_object_object_add(o, "since_ns", json_object_new_int64((int64_t)since_ns));
		json_object_object_add(o, "until_ns", json_object_new_int64((int64_t)until_ns));
		s = json_object_new_object();
		json_object_object_add(s, "total", json_object_new_int64((int64_t)r.sessions));
		json_object_object_add(s, "by_tool", json_object_get(r.by_tool));
		json_object_object_add(s, "by_user", json_object_get(r.by_user));
		json_object_object_add(s, "by_host", json_object_get(r.by_host));
		json_object_object_add(o, "sessions", s);
		json_object_object_add(o, "destinations", destinations(r.conns));
		json_object_object_add(o, "sensitive_reads", entries(r.reads, by_reads, "pattern"));
		w = json_object_new_object();
		json_object_object_add(w, "writes", json_object_new_int64((int64_t)r.writes));
		json_object_object_add(w, "paths",
				       json_object_new_int64(json_object_object_length(r.paths)));
		json_object_object_add(w, "sessions", json_object_new_int64(
				       json_object_object_length(r.write_sessions)));
		json_object_object_add(w, "bytes_written",
				       json_object_new_int64((int64_t)r.bytes_written));
		json_object_object_add(o, "files_written", w);
		json_object_object_add(o, "policy", entries(r.policy, by_decisions, NULL));
		json_object_object_add(o, "undecodable", json_object_new_int64((int64_t)undecodable));
	}
	json_object_put(r.by_tool);
	json_object_put(r.by_user);
	json_object_put(r.by_host);
	json_object_put(r.conns);
	json_object_put(r.reads);
	json_object_put(r.paths);
	json_object_put(r.write_sessions);
	json_object_put(r.policy);
	*out = o;
	return err;
}
