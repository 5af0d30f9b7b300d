/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collector's HTTP server: agent endpoints (enroll, events, heartbeat; protobuf) and the
 * query API (JSON, admin token). libmicrohttpd runs it on one internal polling thread, so every
 * request, and every store access, is handled in turn.
 */
#ifndef AITRAIL_SERVER_H
#define AITRAIL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct store;
struct server;

struct collector_opts {
	char listen[128];           /* ADDR:PORT, [ADDR6]:PORT or :PORT; port 0 = ephemeral */
	char admin_listen[128];     /* query API on its own listener; "" = on listen */
	char db[4096];
	char tls_cert[4096], tls_key[4096], tls_client_ca[4096];
	char enroll_token[256];
	char admin_token[256];
	uint32_t heartbeat_s;       /* interval assumed for agents that have not sent one */
	uint32_t silent_after;      /* heartbeat intervals without news before an agent is silent */
	uint64_t max_body_bytes;    /* compressed request body */
	uint64_t max_inflated_bytes;
	uint32_t max_batch_events;
	uint64_t max_buffered_bytes; /* request bodies held in memory at once, all connections */
	uint32_t retention_days;
	uint32_t durable;           /* fsync each batch before acknowledging it */    /* events older than this are deleted; 0 = keep everything */
	int verbose;
};

/* Every way a request can be turned away; each is counted. */
enum reject_reason {
	REJ_UNAUTHORIZED,       /* missing or unknown key or token */
	REJ_REVOKED,            /* a revoked agent key */
	REJ_FORBIDDEN,          /* key of one agent, identity of another; query API disabled */
	REJ_TOO_LARGE,          /* body over max_body_bytes */
	REJ_INFLATE_TOO_LARGE,  /* body inflates past max_inflated_bytes (zip bomb) */
	REJ_BAD_ENCODING,       /* not valid deflate, unsupported Content-Encoding or -Type */
	REJ_MALFORMED,          /* not a valid protobuf message */
	REJ_INVALID,            /* valid protobuf, invalid content (version, seq, hash size...) */
	REJ_BAD_REQUEST,        /* bad query parameter */
	REJ_NOT_FOUND,
	REJ_METHOD,
	REJ_STORE_ERROR,        /* 500/503: the store failed; the agent retries */
	REJ_BUSY,               /* 503: too many request bodies in memory at once; retried */
	REJ__COUNT
};

struct server_counters {
	uint64_t rejects[REJ__COUNT];
	uint64_t enrolled;
	uint64_t batches_stored;
	uint64_t batches_duplicate;
	uint64_t events_stored;
	uint64_t heartbeats;
	uint64_t chain_breaks;
	uint64_t queries;
};

/* The counters are kept where requests are answered (collector/http.c), read here. */
const char *reject_reason_name(enum reject_reason r);
void server_counters(struct server *srv, struct server_counters *out);
json_object *server_counters_json(struct server *srv);

void collector_opts_defaults(struct collector_opts *o);
int server_start(struct store *st, const struct collector_opts *o, struct server **out);
/*
 * With o->admin_listen: the query API on its own listener, thread and database connection st,
 * so a long query never holds up agents; ingest is the agent-facing server (for /v1/stats).
 */
int server_start_admin(struct store *st, const struct collector_opts *o, struct server *ingest,
		       struct server **out);
uint16_t server_port(const struct server *srv);
void server_stop(struct server *srv);

#endif
