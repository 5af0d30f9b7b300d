// SPDX-License-Identifier: Apache-2.0
/*
 * POST /v1/policy/test?since=&until=&limit=&name=   body: a policy (YAML), admin token
 *
 * Replays the stored events of the window through the same evaluator the agents use
 * (common/policy_rules.c) and answers what the policy would have decided: counts per action and per
 * rule, and the first `limit` events it would have alerted on, denied or killed. Nothing is
 * stored or changed. A policy with errors gets 400 and every FILE:LINE problem.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/policy_test.h"
#include "collector/http.h"
#include "common/log.h"
#include "common/policy_rules.h"
#include "collector/store.h"
#include "common/timeparse.h"
#include "common/util.h"


struct replay {
	const struct policy *p;
	uint64_t examined, decided[4];
	uint64_t *per_rule;    /* matches per rule index */
	uint64_t per_default[POL_CAT_MAX];
	uint32_t limit;
	json_object *matches;
};

static void describe(const struct pol_target *t, char *buf, size_t len)
{
	switch (t->cat) {
	case POL_CAT_NETWORK: {
		char a[64] = "";

		if (t->family)
			inet_ntop(t->family, t->addr, a, sizeof(a));
		if (t->host)
			snprintf(buf, len, "%s:%u (%s)", t->host, t->port, a);
		else
			snprintf(buf, len, t->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, t->port);
		break;
	}
	case POL_CAT_EXEC:
		snprintf(buf, len, "%s", t->program ? t->program : "");
		break;
	default:
		snprintf(buf, len, "%s", t->path ? t->path : "");
	}
}

/* store_replay's callback: one stored event through the policy */
static void replay_one(void *arg, const Aitrail__V1__Event *ev, const char *session_id,
		       const char *cwd)
{
	struct replay *r = arg;
	struct pol_session s = { .cwd = cwd };
	struct pol_decision d;
	struct pol_target t;

	if (policy_target_from_event(ev, &t) || policy_eval_event(r->p, ev, &s, &d))
		return;
	r->examined++;
	r->decided[d.action]++;
	if (d.rule)
		r->per_rule[d.rule - r->p->rules]++;
	else if ((unsigned)d.cat < POL_CAT_MAX)
		r->per_default[d.cat]++;
	if (d.action == POL_ALLOW || json_object_array_length(r->matches) >= r->limit)
		return;

	json_object *m = json_object_new_object();
	char target[400], ts[40];

	describe(&t, target, sizeof(target));
	format_rfc3339_ns(ev->ts, ts, sizeof(ts));
	json_object_object_add(m, "ts", json_object_new_string(ts));
	json_object_object_add(m, "session_id", json_object_new_string(session_id ? session_id : ""));
	json_object_object_add(m, "host", json_object_new_string(ev->host ? ev->host : ""));
	json_object_object_add(m, "tool", json_object_new_string(
					       ev->session && ev->session->tool ? ev->session->tool : ""));
	json_object_object_add(m, "user", json_object_new_string(
					       ev->proc && ev->proc->user ? ev->proc->user : ""));
	json_object_object_add(m, "pid", json_object_new_int64(ev->proc ? ev->proc->pid : 0));
	json_object_object_add(m, "type", json_object_new_string(ev->type ? ev->type : ""));
	json_object_object_add(m, "category", json_object_new_string(policy_category_name(d.cat)));
	json_object_object_add(m, "target", json_object_new_string(target));
	json_object_object_add(m, "rule_id", json_object_new_string(d.rule_id));
	json_object_object_add(m, "action", json_object_new_string(policy_action_name(d.action)));
	json_object_object_add(m, "mode", json_object_new_string(policy_mode_name(d.mode)));
	json_object_array_add(r->matches, m);
}

static json_object *summary(const struct replay *r, const char *name, uint64_t undecodable)
{
	json_object *o = json_object_new_object(), *dec = json_object_new_object();
	json_object *rules = json_object_new_array();

	json_object_object_add(o, "policy", json_object_new_string(name));
	json_object_object_add(o, "events_examined", json_object_new_int64(r->examined));
	json_object_object_add(o, "events_undecodable", json_object_new_int64(undecodable));
	for (int a = POL_ALLOW; a <= POL_KILL; a++)
		json_object_object_add(dec, policy_action_name(a),
				       json_object_new_int64(r->decided[a]));
	json_object_object_add(o, "decisions", dec);
	for (int i = 0; i < r->p->n_rules; i++) {
		const struct pol_rule *ru = &r->p->rules[i];
		json_object *x = json_object_new_object();

		json_object_object_add(x, "rule_id", json_object_new_string(ru->id));
		json_object_object_add(x, "line", json_object_new_int(ru->line));
		json_object_object_add(x, "category",
				       json_object_new_string(policy_category_name(ru->cat)));
		json_object_object_add(x, "action",
				       json_object_new_string(policy_action_name(ru->action)));
		json_object_object_add(x, "mode", json_object_new_string(policy_mode_name(ru->mode)));
		json_object_object_add(x, "matches", json_object_new_int64(r->per_rule[i]));
		json_object_array_add(rules, x);
	}
	for (int c = 0; c < POL_CAT_MAX; c++) {
		json_object *x = json_object_new_object();
		char id[32];

		snprintf(id, sizeof(id), "default:%s", policy_category_name(c));
		json_object_object_add(x, "rule_id", json_object_new_string(id));
		json_object_object_add(x, "category", json_object_new_string(policy_category_name(c)));
		json_object_object_add(x, "action", json_object_new_string(
							    policy_action_name(r->p->defaults[c].action)));
		json_object_object_add(x, "mode", json_object_new_string(
							  policy_mode_name(r->p->defaults[c].mode)));
		json_object_object_add(x, "matches", json_object_new_int64(r->per_default[c]));
		json_object_array_add(rules, x);
	}
	json_object_object_add(o, "rules", rules);
	json_object_object_add(o, "matches", json_object_get(r->matches));
	json_object_object_add(o, "matches_truncated",
			       json_object_new_boolean(json_object_array_length(r->matches) >=
						       r->limit &&
						       r->decided[POL_ALERT] + r->decided[POL_DENY] +
							       r->decided[POL_KILL] > r->limit));
	return o;
}

static const char *qarg(struct MHD_Connection *con, const char *name)
{
	const char *v = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

enum MHD_Result handle_policy_test(struct server *srv, struct MHD_Connection *con,
				   const char *method, struct request *req)
{
	const char *name = qarg(con, "name");
	uint64_t since = 0, until = 0, limit = 100, undecodable = 0, now = now_realtime_ns();
	struct replay r = { 0 };
	struct pol_errors err;
	struct policy *p = NULL;
	enum MHD_Result reply;
	json_object *o;
	int ret;

	if (!admin_authorized(srv, con, &reply))
		return reply;
	if (strcmp(method, "POST"))
		return reject(srv, con, true, MHD_HTTP_METHOD_NOT_ALLOWED, REJ_METHOD,
			      "/v1/policy/test takes POST with the policy as the body, not %s",
			      method);
	if ((qarg(con, "since") && parse_time_arg(qarg(con, "since"), now, &since)) ||
	    (qarg(con, "until") && parse_time_arg(qarg(con, "until"), now, &until)))
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "since/until: expected RFC 3339, Unix ns, or an age like 7d");
	if (qarg(con, "limit") && parse_u64(qarg(con, "limit"), 1, 100000, &limit))
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "limit=%s: expected a number from 1 to 100000", qarg(con, "limit"));
	if (!req->body || !req->len)
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "empty body: POST the policy file");
	if (policy_parse(name ? name : "policy", req->body, req->len, &p, &err)) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string("invalid policy"));
		json_object_object_add(o, "errors", json_object_new_string(err.buf));
		COUNT(srv, rejects[REJ_BAD_REQUEST]);
		return reply_json(con, MHD_HTTP_BAD_REQUEST, o);
	}
	r.p = p;
	r.limit = limit;
	r.per_rule = calloc(p->n_rules + 1, sizeof(*r.per_rule));
	r.matches = json_object_new_array();
	ret = r.per_rule ? store_replay(srv->st, since, until, STORE_EV_POLICY_SUBJECTS,
					replay_one, &r, &undecodable) : -ENOMEM;
	o = ret ? NULL : summary(&r, name ? name : "policy", undecodable);
	json_object_put(r.matches);
	free(r.per_rule);
	policy_free(p);
	if (ret)
		return reject(srv, con, true, MHD_HTTP_INTERNAL_SERVER_ERROR, REJ_STORE_ERROR,
			      "policy replay failed; see the collector log");
	COUNT(srv, queries);
	return reply_json(con, MHD_HTTP_OK, o);
}
