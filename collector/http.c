// SPDX-License-Identifier: Apache-2.0
/*
 * What every endpoint handler (ingest.c, api.c, policy_dist.c, policy_test.c) uses to answer:
 * replies, rejects and the counters they keep, and the request's credentials. Nothing here calls
 * a handler or the server (server.c), so handlers and the server never call each other in a loop.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "collector/http.h"
#include "common/log.h"
#include "proto/wire.pb-c.h"

static const char *const reject_names[REJ__COUNT] = {
	[REJ_UNAUTHORIZED] = "unauthorized",
	[REJ_REVOKED] = "revoked",
	[REJ_FORBIDDEN] = "forbidden",
	[REJ_TOO_LARGE] = "too_large",
	[REJ_INFLATE_TOO_LARGE] = "inflated_too_large",
	[REJ_BAD_ENCODING] = "bad_encoding",
	[REJ_MALFORMED] = "malformed",
	[REJ_INVALID] = "invalid",
	[REJ_BAD_REQUEST] = "bad_request",
	[REJ_NOT_FOUND] = "not_found",
	[REJ_METHOD] = "method_not_allowed",
	[REJ_STORE_ERROR] = "store_error",
	[REJ_BUSY] = "busy",
};

const char *reject_reason_name(enum reject_reason r)
{
	return r < REJ__COUNT ? reject_names[r] : "unknown";
}

static enum MHD_Result queue(struct MHD_Connection *con, unsigned status, char *buf, size_t len,
			     const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result reply_pb(struct MHD_Connection *con, unsigned status, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return MHD_NO;
	protobuf_c_message_pack(m, buf);
	return queue(con, status, (char *)buf, len, "application/x-protobuf");
}

enum MHD_Result reply_json(struct MHD_Connection *con, unsigned status, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	char *buf = malloc(len + 1);
	enum MHD_Result ret = MHD_NO;

	if (buf) {
		memcpy(buf, s, len);
		buf[len] = '\n';
		ret = queue(con, status, buf, len + 1, "application/json");
	}
	json_object_put(o);
	return ret;
}

enum MHD_Result reject(struct server *srv, struct MHD_Connection *con, bool json, unsigned status,
		       enum reject_reason reason, const char *fmt, ...)
{
	Aitrail__V1__ErrorReply er = AITRAIL__V1__ERROR_REPLY__INIT;
	const union MHD_ConnectionInfo *ci;
	char msg[512], addr[INET6_ADDRSTRLEN] = "?";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_fetch_add(&srv->c.rejects[reason], 1, __ATOMIC_RELAXED);
	ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr,
				  sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr,
				  sizeof(addr));
	}
	if (status >= 500)
		log_error("request from %s failed (%u %s): %s", addr, status,
			  reject_names[reason], msg);
	else
		log_info("rejected request from %s (%u %s): %s", addr, status,
			 reject_names[reason], msg);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "code", json_object_new_int(status));
		json_object_object_add(o, "reason", json_object_new_string(reject_names[reason]));
		json_object_object_add(o, "error", json_object_new_string(msg));
		return reply_json(con, status, o);
	}
	er.code = status;
	er.message = msg;
	er.reason = (char *)reject_names[reason];
	return reply_pb(con, status, &er.base);
}

const char *bearer_token(struct MHD_Connection *con)
{
	const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Compares without an early exit so that timing does not tell how much of a token matched. */
bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return !d && lb;
}

bool admin_authorized(struct server *srv, struct MHD_Connection *con, enum MHD_Result *ret)
{
	const char *tok = bearer_token(con);

	if (!srv->opts.admin_token[0]) {
		*ret = reject(srv, con, true, MHD_HTTP_FORBIDDEN, REJ_FORBIDDEN,
			      "the query API is disabled: start the collector with --admin-token");
		return false;
	}
	if (!tok || !token_equal(tok, srv->opts.admin_token)) {
		*ret = reject(srv, con, true, MHD_HTTP_UNAUTHORIZED, REJ_UNAUTHORIZED,
			      tok ? "wrong admin token"
				  : "missing Authorization: Bearer <admin token>");
		return false;
	}
	return true;
}


void server_counters(struct server *srv, struct server_counters *out)
{
	uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&srv->c;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

json_object *server_counters_json(struct server *srv)
{
	struct server_counters c;
	json_object *o = json_object_new_object(), *rj = json_object_new_object();

	server_counters(srv, &c);
	for (int i = 0; i < REJ__COUNT; i++)
		json_object_object_add(rj, reject_names[i], json_object_new_uint64(c.rejects[i]));
	json_object_object_add(o, "rejects", rj);
	json_object_object_add(o, "enrolled", json_object_new_uint64(c.enrolled));
	json_object_object_add(o, "batches_stored", json_object_new_uint64(c.batches_stored));
	json_object_object_add(o, "batches_duplicate",
			       json_object_new_uint64(c.batches_duplicate));
	json_object_object_add(o, "events_stored", json_object_new_uint64(c.events_stored));
	json_object_object_add(o, "heartbeats", json_object_new_uint64(c.heartbeats));
	json_object_object_add(o, "chain_breaks", json_object_new_uint64(c.chain_breaks));
	json_object_object_add(o, "queries", json_object_new_uint64(c.queries));
	return o;
}
