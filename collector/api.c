// SPDX-License-Identifier: Apache-2.0
/*
 * Query API (JSON, admin token):
 *   GET  /v1/sessions?host=&user=&tool=&agent=&since=&until=&limit=
 *   GET  /v1/sessions/ID/events?type=&since=&until=&limit=
 *   GET  /v1/sessions/ID/timeline
 *   GET  /v1/agents
 *   POST /v1/agents/ID/revoke
 *   GET  /v1/stats             request and reject counters
 *   GET  /v1/provenance?sha256=H1,H2,...   AI-session writes of content with these digests
 *   GET  /v1/report?since=&until=   sessions, destinations and bytes, sensitive reads, files
 *                              written, policy decisions: the compliance report
 * since/until take RFC 3339, Unix ns or an age ("2h", "7d").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/api.h"
#include "collector/http.h"
#include "common/log.h"
#include "collector/report.h"
#include "collector/store.h"
#include "common/timeparse.h"
#include "common/util.h"

static const char *arg(struct MHD_Connection *con, const char *name)
{
	const char *v = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

/* Parses the since/until/limit parameters; replies 400 itself and returns false on error. */
static bool time_args(struct server *srv, struct MHD_Connection *con, uint64_t *since,
		      uint64_t *until, uint32_t *limit, enum MHD_Result *ret)
{
	const char *names[2] = { "since", "until" };
	uint64_t *vals[2] = { since, until }, now = now_realtime_ns(), l = 0;
	const char *v;

	for (int i = 0; i < 2; i++) {
		*vals[i] = 0;
		v = arg(con, names[i]);
		if (v && parse_time_arg(v, now, vals[i])) {
			*ret = reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
				      "%s=%s: expected RFC 3339 (2026-11-28T14:03:00Z), Unix ns, or "
				      "an age like 90m, 2h, 7d", names[i], v);
			return false;
		}
	}
	v = arg(con, "limit");
	if (v && parse_u64(v, 1, 1000000, &l)) {
		*ret = reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "limit=%s: expected a number from 1 to 1000000", v);
		return false;
	}
	*limit = (uint32_t)l;
	return true;
}

static enum MHD_Result answer(struct server *srv, struct MHD_Connection *con, int err,
			      json_object *o)
{
	if (err)
		return reject(srv, con, true, MHD_HTTP_INTERNAL_SERVER_ERROR, REJ_STORE_ERROR,
			      "query failed; see the collector log");
	COUNT(srv, queries);
	return reply_json(con, MHD_HTTP_OK, o);
}

static enum MHD_Result sessions(struct server *srv, struct MHD_Connection *con)
{
	struct session_filter f = { 0 };
	enum MHD_Result ret;
	json_object *o = NULL;
	int err;

	if (!time_args(srv, con, &f.since_ns, &f.until_ns, &f.limit, &ret))
		return ret;
	f.host = arg(con, "host");
	f.user = arg(con, "user");
	f.tool = arg(con, "tool");
	f.agent_id = arg(con, "agent");
	err = store_query_sessions(srv->st, &f, &o);
	return answer(srv, con, err, o);
}

static enum MHD_Result session_sub(struct server *srv, struct MHD_Connection *con,
				   const char *rest)
{
	const char *slash = strchr(rest, '/');
	char id[256];
	json_object *o = NULL;
	enum MHD_Result ret;
	int err;

	if (!slash || slash == rest || (size_t)(slash - rest) >= sizeof(id))
		return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
			      "expected /v1/sessions/ID/events or /v1/sessions/ID/timeline");
	memcpy(id, rest, slash - rest);
	id[slash - rest] = '\0';
	if (!strcmp(slash, "/events")) {
		struct event_filter f = { .session_id = id };

		if (!time_args(srv, con, &f.since_ns, &f.until_ns, &f.limit, &ret))
			return ret;
		f.type = arg(con, "type");
		err = store_query_events(srv->st, &f, &o);
		if (err == -ENOENT)
			goto unknown;
		return answer(srv, con, err, o);
	}
	if (!strcmp(slash, "/timeline")) {
		err = store_query_timeline(srv->st, id, &o);
		if (err == -ENOENT)
			goto unknown;
		return answer(srv, con, err, o);
	}
	return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
		      "no such endpoint: /v1/sessions/%s%s", id, slash);
unknown:
	return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
		      "no session %s (see aitrail sessions)", id);
}

static enum MHD_Result revoke_agent(struct server *srv, struct MHD_Connection *con, const char *rest)
{
	const char *slash = strchr(rest, '/');
	char id[STORE_ID_LEN];
	json_object *o;
	int err;

	if (!slash || strcmp(slash, "/revoke") || slash == rest ||
	    (size_t)(slash - rest) >= sizeof(id))
		return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
			      "expected POST /v1/agents/ID/revoke");
	memcpy(id, rest, slash - rest);
	id[slash - rest] = '\0';
	err = store_agent_revoke(srv->st, id, now_realtime_ns());
	if (err == -ENOENT)
		return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
			      "no agent %s", id);
	if (err)
		return answer(srv, con, err, NULL);
	log_info("revoked agent %s", id);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "revoked", json_object_new_boolean(1));
	return answer(srv, con, 0, o);
}

/* The provenance ledger: which AI sessions wrote content with these SHA-256 digests. */
static enum MHD_Result provenance(struct server *srv, struct MHD_Connection *con)
{
	const char *v = arg(con, "sha256"), *list[STORE_PROV_MAX];
	char buf[STORE_PROV_MAX * 65 + 1], *save = NULL, *t;
	json_object *o = NULL;
	size_t n = 0;
	int err;

	if (!v)
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "sha256=H1,H2,...: at least one hex SHA-256 digest is required");
	if (strlen(v) >= sizeof(buf))
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "sha256: at most %d digests per request", STORE_PROV_MAX);
	snprintf(buf, sizeof(buf), "%s", v);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == STORE_PROV_MAX)
			return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
				      "sha256: at most %d digests per request", STORE_PROV_MAX);
		list[n++] = t;
	}
	err = store_query_provenance(srv->st, list, n, &o);
	if (err == -EINVAL)
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "sha256: expected 64 lowercase hex digits per digest");
	return answer(srv, con, err, o);
}

static enum MHD_Result report(struct server *srv, struct MHD_Connection *con)
{
	uint64_t since, until;
	enum MHD_Result ret;
	json_object *o = NULL;
	uint32_t limit;
	int err;

	if (!time_args(srv, con, &since, &until, &limit, &ret))
		return ret;
	err = report_build(srv->st, since, until, &o);
	return answer(srv, con, err, o);
}

enum MHD_Result handle_api(struct server *srv, struct MHD_Connection *con, const char *method,
			   const char *url)
{
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET), post = !strcmp(method, "POST");
	json_object *o = NULL;
	enum MHD_Result ret;

	if (!admin_authorized(srv, con, &ret))
		return ret;
	if (!strcmp(url, "/v1/sessions") && get)
		return sessions(srv, con);
	if (!strncmp(url, "/v1/sessions/", 13) && get)
		return session_sub(srv, con, url + 13);
	if (!strcmp(url, "/v1/agents") && get) {
		int err = store_query_agents(srv->st, now_realtime_ns(), srv->opts.silent_after,
					     srv->opts.heartbeat_s, &o);

		return answer(srv, con, err, o);
	}
	if (!strncmp(url, "/v1/agents/", 11) && post)
		return revoke_agent(srv, con, url + 11);
	if (!strcmp(url, "/v1/provenance") && get)
		return provenance(srv, con);
	if (!strcmp(url, "/v1/report") && get)
		return report(srv, con);
	if (!strcmp(url, "/v1/stats") && get) {
		/* on its own listener, the API's counters go under "api"; the agents' stay on top */
		if (srv->peer) {
			o = server_counters_json(srv->peer);
			json_object_object_add(o, "api", server_counters_json(srv));
			return answer(srv, con, 0, o);
		}
		return answer(srv, con, 0, server_counters_json(srv));
	}
	return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND, "no such endpoint: %s %s",
		      method, url);
}
