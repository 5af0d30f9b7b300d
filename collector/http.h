/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the collector's HTTP server: the server and request state, and what every endpoint
 * handler answers with (collector/http.c). server.c routes requests to the handlers (ingest.h,
 * api.h, policy_dist.h, policy_test.h); handlers call down into http.c and the store, never back
 * into server.c.
 */
#ifndef AITRAIL_HTTP_H
#define AITRAIL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>
#include <protobuf-c/protobuf-c.h>

#include "collector/server.h"

struct server {
	struct MHD_Daemon *mhd;
	struct store *st;
	struct collector_opts opts;
	uint16_t port;
	enum { SRV_ALL, SRV_AGENTS, SRV_ADMIN } role;
	struct server *peer;      /* the admin server's agent-facing server */
	uint64_t buffered; /* bytes of request bodies held, all connections (MHD thread only) */
	int lfd;
	char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;
	struct server_counters c; /* updated with __atomic builtins: tests read from other threads */
};

/* One request in progress: the body accumulates here until the last upload callback. */
struct request {
	char *body;
	size_t len, cap;
	bool too_large;
	bool busy;
};

#define COUNT(srv, field) __atomic_fetch_add(&(srv)->c.field, 1, __ATOMIC_RELAXED)
#define COUNT_N(srv, field, n) __atomic_fetch_add(&(srv)->c.field, (n), __ATOMIC_RELAXED)

/* Replies; each returns the MHD result to hand back from the access handler. */
enum MHD_Result reply_pb(struct MHD_Connection *con, unsigned status, const ProtobufCMessage *m);
enum MHD_Result reply_json(struct MHD_Connection *con, unsigned status, json_object *o);
/* Counts reason, logs, and replies with an ErrorReply (agent endpoints) or a JSON error. */
enum MHD_Result reject(struct server *srv, struct MHD_Connection *con, bool json, unsigned status,
		       enum reject_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* The bearer token of the request, or NULL. */
const char *bearer_token(struct MHD_Connection *con);
bool token_equal(const char *a, const char *b);
/*
 * The request carries the admin token. Otherwise replies itself (403 while the query API is
 * disabled, 401) and returns false with the reply in *ret.
 */
bool admin_authorized(struct server *srv, struct MHD_Connection *con, enum MHD_Result *ret);
/* Hex SHA-256 of data: how agent keys are stored and compared, and policy ETags. */
void sha256_hex(const void *data, size_t len, char out[65]);

#endif
