// SPDX-License-Identifier: Apache-2.0
/*
 * Policy distribution:
 *   POST /v1/policy?name=FILE[&group=G]  admin token; body: the policy. Validated with the
 *                               agents' own parser (400 with every FILE:LINE), then it becomes
 *                               current for the fleet, or for host group G.
 *   GET  /v1/policy[?group=G]   admin token or an agent key. The current policy of group G, or
 *                               the fleet's when G has none, as YAML with an ETag and
 *                               X-Aitrail-Policy-Group (G, or "fleet"); If-None-Match with that
 *                               ETag answers 304, so agents poll cheaply. 404 until a policy
 *                               was pushed.
 *   DELETE /v1/policy?group=G   admin token: group G goes back to the fleet policy.
 * Every pushed version is kept (policy_versions); the newest of a group is current, and a row
 * with an empty policy marks a group's override removed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/policy_dist.h"
#include "collector/http.h"
#include "common/log.h"
#include "common/policy_rules.h"
#include "collector/store.h"
#include "common/util.h"

/* ?group=G: "" for none (the fleet); false after replying 400 to a bad name. */
static bool group_arg(struct server *srv, struct MHD_Connection *con, const char **group,
		      enum MHD_Result *ret)
{
	*group = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "group");
	if (!*group)
		*group = "";
	if (!**group || policy_group_valid(*group))
		return true;
	*ret = reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
		      "group '%.80s': expected 1-64 of A-Z a-z 0-9 . _ -", *group);
	return false;
}

/* The agent key or the admin token; replies 401 itself when neither holds. */
static bool authorized(struct server *srv, struct MHD_Connection *con, bool admin_only,
		       enum MHD_Result *ret)
{
	const char *tok = bearer_token(con);
	struct store_agent a;
	char hash[65];

	if (tok && srv->opts.admin_token[0] && token_equal(tok, srv->opts.admin_token))
		return true;
	if (tok && !admin_only) {
		sha256_hex(tok, strlen(tok), hash);
		if (!store_agent_by_key(srv->st, hash, &a) && !a.revoked)
			return true;
	}
	*ret = reject(srv, con, true, MHD_HTTP_UNAUTHORIZED, REJ_UNAUTHORIZED, "%s",
		      !tok ? "missing Authorization: Bearer <token>"
		      : admin_only ? "changing a policy takes the admin token"
				   : "neither the admin token nor a valid agent key");
	return false;
}

static enum MHD_Result push(struct server *srv, struct MHD_Connection *con, struct request *r,
			    const char *group)
{
	const char *name = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "name");
	struct pol_errors err;
	struct policy *p;
	char hash[65], etag[40];
	json_object *o;
	int n_rules;

	if (!name || !*name)
		name = "policy.yaml";
	if (!r->body || !r->len)
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "empty body: POST the policy file");
	if (policy_parse(name, r->body, r->len, &p, &err)) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string("invalid policy"));
		json_object_object_add(o, "errors", json_object_new_string(err.buf));
		COUNT(srv, rejects[REJ_BAD_REQUEST]);
		return reply_json(con, MHD_HTTP_BAD_REQUEST, o);
	}
	n_rules = p->n_rules;
	policy_free(p);
	sha256_hex(r->body, r->len, hash);
	snprintf(etag, sizeof(etag), "\"%.32s\"", hash);
	if (store_policy_put(srv->st, group, name, r->body, r->len, etag, now_realtime_ns()))
		return reject(srv, con, true, MHD_HTTP_INTERNAL_SERVER_ERROR, REJ_STORE_ERROR,
			      "could not store the policy; see the collector log");
	log_info("policy %s pushed for %s%s: %d rules, etag %s", name, *group ? "host group " : "",
		 *group ? group : "the fleet", n_rules, etag);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "group", json_object_new_string(*group ? group : "fleet"));
	json_object_object_add(o, "etag", json_object_new_string(etag));
	json_object_object_add(o, "rules", json_object_new_int(n_rules));
	COUNT(srv, queries);
	return reply_json(con, MHD_HTTP_OK, o);
}

static enum MHD_Result fetch(struct server *srv, struct MHD_Connection *con, const char *group)
{
	const char *inm = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *served = group;
	struct MHD_Response *resp;
	struct store_policy p;
	enum MHD_Result ret;
	int err = -ENOENT, status = MHD_HTTP_OK;

	if (*group)
		err = store_policy_get(srv->st, group, &p);
	if (err == -ENOENT) {
		served = "fleet";
		err = store_policy_get(srv->st, "", &p);
	}
	if (err == -ENOENT)
		return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
			      "no policy has been pushed (aitrail policy push FILE)");
	if (err)
		return reject(srv, con, true, MHD_HTTP_INTERNAL_SERVER_ERROR, REJ_STORE_ERROR,
			      "could not read the policy; see the collector log");
	if (inm && !strcmp(inm, p.etag)) {
		status = MHD_HTTP_NOT_MODIFIED;
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(p.len, p.yaml, MHD_RESPMEM_MUST_COPY);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/yaml");
		MHD_add_response_header(resp, "X-Aitrail-Policy-Name", p.name);
		MHD_add_response_header(resp, "X-Aitrail-Policy-Group", served);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, p.etag);
	store_policy_release(&p);
	COUNT(srv, queries);
	ret = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A group's override goes: its agents fetch the fleet policy again. */
static enum MHD_Result remove_group(struct server *srv, struct MHD_Connection *con,
				    const char *group)
{
	json_object *o;
	int err;

	if (!*group)
		return reject(srv, con, true, MHD_HTTP_BAD_REQUEST, REJ_BAD_REQUEST,
			      "DELETE takes ?group=NAME: the fleet policy can only be replaced");
	err = store_policy_remove(srv->st, group, now_realtime_ns());
	if (err == -ENOENT)
		return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
			      "host group %s has no policy of its own", group);
	if (err)
		return reject(srv, con, true, MHD_HTTP_INTERNAL_SERVER_ERROR, REJ_STORE_ERROR,
			      "could not remove the group's policy; see the collector log");
	log_info("policy of host group %s removed: its agents follow the fleet policy", group);
	o = json_object_new_object();
	json_object_object_add(o, "group", json_object_new_string(group));
	json_object_object_add(o, "removed", json_object_new_boolean(1));
	COUNT(srv, queries);
	return reply_json(con, MHD_HTTP_OK, o);
}

enum MHD_Result handle_policy(struct server *srv, struct MHD_Connection *con, const char *method,
			      struct request *r)
{
	bool post = !strcmp(method, "POST"), get = !strcmp(method, MHD_HTTP_METHOD_GET);
	bool del = !strcmp(method, MHD_HTTP_METHOD_DELETE);
	enum MHD_Result ret;
	const char *group;

	if (!post && !get && !del)
		return reject(srv, con, true, MHD_HTTP_METHOD_NOT_ALLOWED, REJ_METHOD,
			      "/v1/policy takes GET, POST or DELETE, not %s", method);
	if (!authorized(srv, con, !get, &ret) || !group_arg(srv, con, &group, &ret))
		return ret;
	if (del)
		return remove_group(srv, con, group);
	return post ? push(srv, con, r, group) : fetch(srv, con, group);
}
