/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the collector's HTTP server shared by server.c, ingest.c and api.c. */
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
/* Hex SHA-256 of data: how agent keys are stored and compared, and policy ETags. */
void sha256_hex(const void *data, size_t len, char out[65]);

enum MHD_Result handle_enroll(struct server *srv, struct MHD_Connection *con, struct request *r);
enum MHD_Result handle_events(struct server *srv, struct MHD_Connection *con, struct request *r);
enum MHD_Result handle_heartbeat(struct server *srv, struct MHD_Connection *con,
				 struct request *r);
enum MHD_Result handle_api(struct server *srv, struct MHD_Connection *con, const char *method,
			   const char *url);
/* POST /v1/policy/test (collector/policy_test.c): replay stored events through a policy. */
enum MHD_Result handle_policy_test(struct server *srv, struct MHD_Connection *con,
				   const char *method, struct request *r);
/* GET/POST /v1/policy (collector/policy_dist.c): the policy agents fetch. */
enum MHD_Result handle_policy(struct server *srv, struct MHD_Connection *con, const char *method,
			      struct request *r);

#endif
