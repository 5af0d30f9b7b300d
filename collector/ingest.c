// SPDX-License-Identifier: Apache-2.0
/*
 * Agent endpoints: enroll, events, heartbeat. Bodies are inflated by common/wire.c with a hard
 * cap (a zip bomb stops at the cap, it is never inflated whole), unpacked, checked, then stored; every refusal
 * is a clear 4xx with an ErrorReply and a counter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>


#include "collector/ingest.h"
#include "collector/http.h"
#include "common/log.h"
#include "collector/store.h"
#include "common/util.h"
#include "common/wire.h"

/* A request body, inflated when needed; data points into r->body or into owned. */
struct payload {
	const uint8_t *data;
	size_t len;
	uint8_t *owned;
};

/* Checks the content headers and inflates. Replies itself on error: returns false then. */
static bool get_payload(struct server *srv, struct MHD_Connection *con, struct request *r,
			struct payload *p, enum MHD_Result *ret)
{
	const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *ce = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_ENCODING);
	char why[160];
	int err;

	memset(p, 0, sizeof(*p));
	if (ct && strncasecmp(ct, "application/x-protobuf", 22) &&
	    strncasecmp(ct, "application/octet-stream", 24)) {
		*ret = reject(srv, con, false, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, REJ_BAD_ENCODING,
			      "Content-Type %s: expected application/x-protobuf", ct);
		return false;
	}
	if (!ce || !strcasecmp(ce, "identity")) {
		p->data = (const uint8_t *)r->body;
		p->len = r->len;
		if (p->len > srv->opts.max_inflated_bytes) {
			*ret = reject(srv, con, false, 413, REJ_TOO_LARGE,
				      "body larger than %llu bytes",
				      (unsigned long long)srv->opts.max_inflated_bytes);
			return false;
		}
		return true;
	}
	if (strcasecmp(ce, "deflate")) {
		*ret = reject(srv, con, false, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, REJ_BAD_ENCODING,
			      "Content-Encoding %s: expected deflate", ce);
		return false;
	}
	err = wire_inflate(r->body, r->len, srv->opts.max_inflated_bytes, &p->owned, &p->len,
			   why, sizeof(why));
	if (err == -EMSGSIZE) {
		*ret = reject(srv, con, false, 413, REJ_INFLATE_TOO_LARGE, "%s", why);
		return false;
	}
	if (err) {
		*ret = reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_BAD_ENCODING,
			      "%s (%zu bytes received)", why, r->len);
		return false;
	}
	p->data = p->owned;
	return true;
}

static int random_hex(char *out, size_t bytes)
{
	uint8_t b[64];

	if (bytes > sizeof(b) || getrandom(b, bytes, 0) != (ssize_t)bytes)
		return -EIO;
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	return 0;
}

/* Authenticates the agent key; replies itself (401) and returns false when it is not valid. */
static bool auth_agent(struct server *srv, struct MHD_Connection *con, struct store_agent *a,
		       enum MHD_Result *ret)
{
	const char *key = bearer_token(con);
	char hash[65];
	int err;

	if (!key) {
		*ret = reject(srv, con, false, MHD_HTTP_UNAUTHORIZED, REJ_UNAUTHORIZED,
			      "missing Authorization: Bearer <agent key>");
		return false;
	}
	sha256_hex(key, strlen(key), hash);
	err = store_agent_by_key(srv->st, hash, a);
	if (err == -ENOENT) {
		*ret = reject(srv, con, false, MHD_HTTP_UNAUTHORIZED, REJ_UNAUTHORIZED,
			      "unknown agent key");
		return false;
	}
	if (err) {
		*ret = reject(srv, con, false, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_STORE_ERROR,
			      "store unavailable");
		return false;
	}
	if (a->revoked) {
		*ret = reject(srv, con, false, MHD_HTTP_UNAUTHORIZED, REJ_REVOKED,
			      "agent %s has been revoked", a->id);
		return false;
	}
	return true;
}

enum MHD_Result handle_enroll(struct server *srv, struct MHD_Connection *con, struct request *r)
{
	Aitrail__V1__EnrollReply rep = AITRAIL__V1__ENROLL_REPLY__INIT;
	Aitrail__V1__EnrollRequest *req;
	char id[STORE_ID_LEN], key[65], hash[65];
	enum MHD_Result ret;
	struct payload p;

	if (!srv->opts.enroll_token[0])
		return reject(srv, con, false, MHD_HTTP_FORBIDDEN, REJ_FORBIDDEN,
			      "enrollment is disabled: no enroll token configured");
	if (!get_payload(srv, con, r, &p, &ret))
		return ret;
	req = aitrail__v1__enroll_request__unpack(NULL, p.len, p.data);
	free(p.owned);
	if (!req)
		return reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_MALFORMED,
			      "body is not an EnrollRequest");
	if (!token_equal(req->token, srv->opts.enroll_token)) {
		ret = reject(srv, con, false, MHD_HTTP_UNAUTHORIZED, REJ_UNAUTHORIZED,
			     "wrong enroll token (host %s)",
			     req->agent ? req->agent->hostname : "?");
		goto out;
	}
	memcpy(id, "ag-", 3);
	if (random_hex(id + 3, 8) || random_hex(key, 32)) {
		ret = reject(srv, con, false, MHD_HTTP_INTERNAL_SERVER_ERROR, REJ_STORE_ERROR,
			     "failed to generate a key");
		goto out;
	}
	sha256_hex(key, strlen(key), hash);
	if (store_agent_add(srv->st, id, hash, req->agent, now_realtime_ns())) {
		ret = reject(srv, con, false, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_STORE_ERROR,
			     "failed to store the new agent");
		goto out;
	}
	COUNT(srv, enrolled);
	log_info("enrolled agent %s (host %s)", id, req->agent ? req->agent->hostname : "?");
	rep.agent_id = id;
	rep.agent_key = key;
	ret = reply_pb(con, MHD_HTTP_OK, &rep.base);
out:
	aitrail__v1__enroll_request__free_unpacked(req, NULL);
	return ret;
}

static bool batch_hash_ok(const Aitrail__V1__Batch *b, const uint8_t **ptr, const size_t *plen)
{
	struct wire_hash h;
	uint8_t md[WIRE_HASH_LEN];

	if (wire_hash_init(&h, b->prev_hash.data, b->prev_hash.len))
		return false;
	for (size_t i = 0; i < b->n_events; i++) {
		if (wire_hash_update(&h, ptr[i], plen[i])) {
			wire_hash_abort(&h);
			return false;
		}
	}
	return !wire_hash_final(&h, md) && !memcmp(md, b->hash.data, WIRE_HASH_LEN);
}

static enum MHD_Result store_batch(struct server *srv, struct MHD_Connection *con,
				   const struct store_agent *a, Aitrail__V1__Batch *b,
				   const struct payload *p)
{
	Aitrail__V1__BatchAck ack = AITRAIL__V1__BATCH_ACK__INIT;
	struct store_batch sb = { 0 };
	struct store_put_result res;
	const uint8_t **ptr;
	size_t *plen;
	int err;

	ptr = calloc(b->n_events + 1, sizeof(*ptr));
	plen = calloc(b->n_events + 1, sizeof(*plen));
	if (!ptr || !plen) {
		free(ptr);
		free(plen);
		return reject(srv, con, false, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_STORE_ERROR,
			      "out of memory");
	}
	/* the events as the agent packed and hashed them (common/wire.c says why) */
	if (wire_batch_events(p->data, p->len, b->n_events, ptr, plen)) {
		free(ptr);
		free(plen);
		return reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_MALFORMED,
			      "batch %llu: cannot delimit its events", (unsigned long long)b->seq);
	}
	sb.agent_id = a->id;
	sb.boot_id = b->agent ? b->agent->boot_id : "";
	sb.seq = b->seq;
	sb.prev_hash = b->prev_hash.data;
	sb.prev_hash_len = b->prev_hash.len;
	memcpy(sb.hash, b->hash.data, STORE_HASH_LEN);
	sb.hash_ok = batch_hash_ok(b, ptr, plen);
	sb.n_events = b->n_events;
	sb.events = b->events;
	sb.packed = ptr;
	sb.packed_len = plen;
	sb.n_gaps = b->n_gaps;
	sb.gaps = b->gaps;
	sb.received_ns = now_realtime_ns();
	err = store_put_batch(srv->st, &sb, &res);
	free(ptr);
	free(plen);
	if (err)
		return reject(srv, con, false, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_STORE_ERROR,
			      "failed to store batch %llu; retry later",
			      (unsigned long long)b->seq);
	if (res.chain_break[0])
		COUNT(srv, chain_breaks);
	ack.seq = b->seq;
	if (res.status == STORE_DUPLICATE) {
		COUNT(srv, batches_duplicate);
		ack.status = "duplicate";
		log_debug("agent %s: batch %llu is a duplicate", a->id, (unsigned long long)b->seq);
	} else {
		COUNT(srv, batches_stored);
		COUNT_N(srv, events_stored, res.stored);
		ack.status = "stored";
		ack.stored = res.stored;
	}
	return reply_pb(con, MHD_HTTP_OK, &ack.base);
}

enum MHD_Result handle_events(struct server *srv, struct MHD_Connection *con, struct request *r)
{
	Aitrail__V1__Batch *b;
	struct store_agent a;
	enum MHD_Result ret;
	struct payload p;

	if (!auth_agent(srv, con, &a, &ret) || !get_payload(srv, con, r, &p, &ret))
		return ret;
	b = aitrail__v1__batch__unpack(NULL, p.len, p.data);
	if (!b) {
		ret = reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_MALFORMED,
			     "agent %s: body is not a Batch (%zu bytes)", a.id, p.len);
		goto out;
	}
	if (b->version != 1)
		ret = reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_INVALID,
			     "agent %s: unsupported wire version %u (this collector speaks 1)",
			     a.id, b->version);
	else if (b->agent && b->agent->agent_id[0] && strcmp(b->agent->agent_id, a.id))
		ret = reject(srv, con, false, MHD_HTTP_FORBIDDEN, REJ_FORBIDDEN,
			     "key of agent %s used for agent %s", a.id, b->agent->agent_id);
	else if (!b->seq)
		ret = reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_INVALID,
			     "agent %s: batch seq 0 (sequences start at 1)", a.id);
	else if (b->hash.len != STORE_HASH_LEN || (b->prev_hash.len && b->prev_hash.len != 32))
		ret = reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_INVALID,
			     "agent %s: batch %llu: hash of %zu bytes, prev_hash of %zu (want 32)",
			     a.id, (unsigned long long)b->seq, b->hash.len, b->prev_hash.len);
	else if (b->n_events > srv->opts.max_batch_events)
		ret = reject(srv, con, false, 413, REJ_TOO_LARGE,
			     "agent %s: batch of %zu events (at most %u)", a.id, b->n_events,
			     srv->opts.max_batch_events);
	else
		ret = store_batch(srv, con, &a, b, &p);
	aitrail__v1__batch__free_unpacked(b, NULL);
out:
	free(p.owned);
	return ret;
}

enum MHD_Result handle_heartbeat(struct server *srv, struct MHD_Connection *con,
				 struct request *r)
{
	Aitrail__V1__Heartbeat *hb;
	struct store_agent a;
	enum MHD_Result ret;
	struct payload p;

	if (!auth_agent(srv, con, &a, &ret) || !get_payload(srv, con, r, &p, &ret))
		return ret;
	hb = aitrail__v1__heartbeat__unpack(NULL, p.len, p.data);
	free(p.owned);
	if (!hb)
		return reject(srv, con, false, MHD_HTTP_BAD_REQUEST, REJ_MALFORMED,
			      "agent %s: body is not a Heartbeat", a.id);
	if (store_heartbeat(srv->st, a.id, hb, now_realtime_ns()))
		ret = reject(srv, con, false, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_STORE_ERROR,
			     "failed to store heartbeat");
	else {
		json_object *o = json_object_new_object();

		COUNT(srv, heartbeats);
		json_object_object_add(o, "status", json_object_new_string("ok"));
		ret = reply_json(con, MHD_HTTP_OK, o);
	}
	aitrail__v1__heartbeat__free_unpacked(hb, NULL);
	return ret;
}
