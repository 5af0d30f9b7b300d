/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collector's storage, behind one interface so that backends (SQLite, PostgreSQL) share the
 * schema, the batch semantics and the JSON shape of every query answer.
 *
 * A batch is stored in one transaction: all its events, gaps and session updates, or nothing.
 * Delivery is at least once; (agent_id, boot_id, seq) identifies a batch, so a resent batch is
 * acknowledged as a duplicate and stored once. The hash chain is verified per agent; a break is
 * recorded (agent, seq, kind) and the batch is still stored, flagged, so nothing is lost.
 */
#ifndef AITRAIL_STORE_H
#define AITRAIL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "proto/wire.pb-c.h"

#define STORE_ID_LEN 40
#define STORE_HASH_LEN 32

struct store;

struct store_agent {
	char id[STORE_ID_LEN];
	char hostname[256];
	int revoked;
};

/* One received batch, already authenticated and decoded. */
struct store_batch {
	const char *agent_id;
	const char *boot_id;
	uint64_t seq;
	const uint8_t *prev_hash; /* prev_hash_len bytes; 0 or 32 */
	size_t prev_hash_len;
	uint8_t hash[STORE_HASH_LEN];
	int hash_ok;              /* hash == SHA-256(prev_hash || packed events) */
	size_t n_events;
	Aitrail__V1__Event **events;
	const uint8_t **packed;   /* each event as the agent serialized it */
	const size_t *packed_len;
	size_t n_gaps;
	Aitrail__V1__Gap **gaps;
	uint64_t received_ns;
};

enum store_status {
	STORE_STORED = 0,
	STORE_DUPLICATE = 1,
};

/* What store_put_batch did. chain_break names the first break found, "" when none. */
struct store_put_result {
	enum store_status status;
	uint64_t stored;
	char chain_break[32];
};

struct session_filter {
	const char *host, *user, *tool, *agent_id;
	uint64_t since_ns, until_ns; /* 0 = open */
	uint32_t limit;
};

struct event_filter {
	const char *session_id;
	const char *type;
	uint64_t since_ns, until_ns;
	uint32_t limit;
};

/*
 * spec: a SQLite file path, or "sqlite:PATH"; or a libpq connection URI, postgres://... or
 * postgresql://..., for a PostgreSQL database (the schema is created at open). 0, or -EIO with
 * the reason logged.
 */
int store_open(const char *spec, struct store **out);
/* The spec with any password replaced by "***", for messages; truncated to len. */
void store_spec_redact(const char *spec, char *buf, size_t len);
void store_close(struct store *st);

/*
 * durable: fsync every batch (survives power loss after the acknowledgement); 0 or -EIO.
 * PostgreSQL commits as the server's synchronous_commit says (on by default): nothing to set.
 */
int store_set_durable(struct store *st, int durable);

/* Registers a new agent; key_hash is the hex SHA-256 of its key (the key itself is not kept). */
int store_agent_add(struct store *st, const char *agent_id, const char *key_hash,
		    const Aitrail__V1__AgentInfo *info, uint64_t now_ns);
/* Finds the agent owning key_hash: 0, or -ENOENT. Revoked agents are returned with revoked=1. */
int store_agent_by_key(struct store *st, const char *key_hash, struct store_agent *out);
/* 0, or -ENOENT for an unknown agent. Revoking twice is fine. */
int store_agent_revoke(struct store *st, const char *agent_id, uint64_t now_ns);
int store_heartbeat(struct store *st, const char *agent_id, const Aitrail__V1__Heartbeat *hb,
		    uint64_t now_ns);

int store_put_batch(struct store *st, const struct store_batch *b, struct store_put_result *res);

/*
 * Queries answer a JSON object the caller puts; events and timeline return -ENOENT for a
 * session that is not known. now_ns and silent_after (heartbeat intervals)
 * decide the silent flag of agents; default_interval_s applies to agents that never sent one.
 */
int store_query_sessions(struct store *st, const struct session_filter *f, json_object **out);
int store_query_events(struct store *st, const struct event_filter *f, json_object **out);
int store_query_timeline(struct store *st, const char *session_id, json_object **out);
int store_query_agents(struct store *st, uint64_t now_ns, uint32_t silent_after,
		       uint32_t default_interval_s, json_object **out);

/*
 * The provenance ledger: for each of the n hex SHA-256 digests, every write of an AI session
 * that left exactly that content (file_write events with a hash). Answers
 * {"results": [{"sha256", "matches": [{path, session, tool, host, user, ts, ...}]}]}, in the
 * order asked. -EINVAL when a digest is not 64 hex digits.
 */
#define STORE_PROV_MAX 256 /* digests per query */
int store_query_provenance(struct store *st, const char *const *sha256, size_t n,
			   json_object **out);

/*
 * Retention: deletes at most max_rows events older than before_ns, and sessions that ended (or
 * were last heard of) before it. Batch records stay, so dedup and the chain still work across
 * the cut. *deleted gets the number of events removed; call again while it equals max_rows.
 */
int store_prune(struct store *st, uint64_t before_ns, uint32_t max_rows, uint64_t *deleted);

/*
 * Policy versions per host group ("" = the fleet); the newest of a group is current. put takes
 * a non-empty policy; remove hands a group back to the fleet policy (-ENOENT when it had none
 * of its own). get: 0 and *out filled (release it), -ENOENT when the group has none, -EIO.
 */
struct store_policy {
	char *yaml, *etag, *name;
	size_t len;
};
int store_policy_put(struct store *st, const char *group, const char *name, const char *yaml,
		     size_t len, const char *etag, uint64_t now_ns);
int store_policy_remove(struct store *st, const char *group, uint64_t now_ns);
int store_policy_get(struct store *st, const char *group, struct store_policy *out);
void store_policy_release(struct store_policy *p);

/*
 * Every stored event of the kinds asked (STORE_EV_*) with ts in [since, until] (0 = open),
 * oldest first, with its session id and the session's cwd (either may be NULL). Events that no
 * longer decode are counted in *undecodable.
 */
#define STORE_EV_EXEC (1u << 0)
#define STORE_EV_NET_CONNECT (1u << 1)
#define STORE_EV_FILE (1u << 2)          /* every file_* type */
#define STORE_EV_NET_CLOSE (1u << 3)
#define STORE_EV_POLICY (1u << 4)        /* policy_decision */
#define STORE_EV_SESSION_START (1u << 5)
#define STORE_EV_POLICY_SUBJECTS (STORE_EV_EXEC | STORE_EV_NET_CONNECT | STORE_EV_FILE)
typedef void (*store_replay_fn)(void *arg, const Aitrail__V1__Event *ev, const char *session_id,
				const char *cwd);
int store_replay(struct store *st, uint64_t since_ns, uint64_t until_ns, unsigned int kinds,
		 store_replay_fn fn, void *arg, uint64_t *undecodable);

#endif
