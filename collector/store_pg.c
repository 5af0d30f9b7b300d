// SPDX-License-Identifier: Apache-2.0
/*
 * PostgreSQL backend of collector/store.h (libpq): the connection, the schema, agents and
 * heartbeats. One connection per struct store, used by one thread at a time like the
 * SQLite handle. Every value goes in as a query parameter. A batch is one transaction holding
 * the agent's advisory lock, so concurrent collectors verify an agent's chain one batch at a
 * time, as SQLite's single writer does. Commits are synchronous (the server's default), so an
 * acknowledged batch survives a crash of the database host: store_set_durable has nothing to
 * add. The batch rows are store_pg_batch.c's, the query half store_pg_query.c's; policies,
 * replay and pruning store_pg_policy.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_pg.h"

/*
 * The SQLite schema's tables and columns, with "user" (reserved here) named usr. Created under
 * a transaction-scoped advisory lock: CREATE TABLE IF NOT EXISTS run by two collectors at once
 * can still fail on the catalog's unique index.
 */
static const char schema[] =
	"BEGIN;"
	"SELECT pg_advisory_xact_lock(2004318071);" /* any constant: the key of this lock */
	"CREATE TABLE IF NOT EXISTS agents ("
	" id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL DEFAULT '',"
	" host_id TEXT NOT NULL DEFAULT '', boot_id TEXT NOT NULL DEFAULT '',"
	" agent_version TEXT NOT NULL DEFAULT '', enrolled_ns BIGINT NOT NULL,"
	" revoked_ns BIGINT, last_seen_ns BIGINT, last_heartbeat_ns BIGINT, interval_s BIGINT,"
	" last_batch_seq BIGINT, spool_bytes BIGINT, spool_events BIGINT, stats_json TEXT,"
	" stats_ns BIGINT);"
	"CREATE TABLE IF NOT EXISTS batches ("
	" agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, seq BIGINT NOT NULL, hash BYTEA NOT NULL,"
	" prev_hash BYTEA, events BIGINT NOT NULL, received_ns BIGINT NOT NULL, flagged TEXT,"
	" PRIMARY KEY (agent_id, boot_id, seq));"
	"CREATE INDEX IF NOT EXISTS batches_agent_seq ON batches(agent_id, seq);"
	"CREATE TABLE IF NOT EXISTS events ("
	" id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, agent_id TEXT NOT NULL,"
	" boot_id TEXT NOT NULL, batch_seq BIGINT NOT NULL, seq BIGINT NOT NULL,"
	" ts BIGINT NOT NULL, type TEXT NOT NULL, host TEXT, session_id TEXT, tool TEXT, usr TEXT, uid BIGINT,"
	" pid BIGINT, ppid BIGINT, comm TEXT, exe TEXT, detail TEXT, pb BYTEA NOT NULL);"
	"CREATE INDEX IF NOT EXISTS events_session_ts ON events(session_id, ts);"
	"CREATE INDEX IF NOT EXISTS events_ts ON events(ts);"
	"CREATE INDEX IF NOT EXISTS events_host_ts ON events(host, ts);"
	"CREATE INDEX IF NOT EXISTS events_agent_seq ON events(agent_id, seq);"
	"CREATE TABLE IF NOT EXISTS sessions ("
	" id TEXT PRIMARY KEY, tool TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',"
	" usr TEXT NOT NULL DEFAULT '', agent_id TEXT NOT NULL, root_pid BIGINT,"
	" start_ns BIGINT NOT NULL, last_ns BIGINT NOT NULL, end_ns BIGINT, exit_code BIGINT,"
	" signal TEXT, events BIGINT NOT NULL DEFAULT 0, cwd TEXT, argv TEXT);"
	"CREATE INDEX IF NOT EXISTS sessions_start ON sessions(start_ns);"
	"CREATE INDEX IF NOT EXISTS sessions_host ON sessions(host, start_ns);"
	"CREATE INDEX IF NOT EXISTS sessions_user ON sessions(usr, start_ns);"
	"CREATE INDEX IF NOT EXISTS sessions_tool ON sessions(tool, start_ns);"
	"CREATE TABLE IF NOT EXISTS chain_breaks ("
	" agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL,"
	" detected_ns BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS chain_breaks_agent ON chain_breaks(agent_id, seq);"
	"CREATE TABLE IF NOT EXISTS gaps ("
	" agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, from_seq BIGINT NOT NULL,"
	" to_seq BIGINT NOT NULL, events BIGINT NOT NULL, reason TEXT NOT NULL,"
	" received_ns BIGINT NOT NULL, UNIQUE (agent_id, boot_id, from_seq, to_seq));"
	"CREATE TABLE IF NOT EXISTS provenance ("
	" sha256 TEXT NOT NULL, path TEXT NOT NULL, session_id TEXT NOT NULL DEFAULT '',"
	" tool TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',"
	" usr TEXT NOT NULL DEFAULT '',"
	" ts BIGINT NOT NULL, agent_id TEXT NOT NULL, pid BIGINT, size BIGINT,"
	" renamed_from TEXT, UNIQUE (sha256, session_id, path, ts));"
	"CREATE TABLE IF NOT EXISTS policy_versions ("
	" id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL,"
	" yaml TEXT NOT NULL, etag TEXT NOT NULL, pushed_ns BIGINT NOT NULL,"
	" grp TEXT NOT NULL DEFAULT '');"
	"COMMIT;";

bool store_spec_is_pg(const char *spec)
{
	return !strncmp(spec, "postgres://", 11) || !strncmp(spec, "postgresql://", 13);
}

void pgp_text(struct pg_params *p, const char *v)
{
	p->v[p->n] = v ? v : "";
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

void pgp_opt_text(struct pg_params *p, const char *v)
{
	if (v && *v)
		pgp_text(p, v);
	else
		pgp_null(p);
}

void pgp_null(struct pg_params *p)
{
	p->v[p->n] = NULL;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

void pgp_i64(struct pg_params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
	p->v[p->n] = p->num[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

void pgp_bytes(struct pg_params *p, const void *v, size_t len)
{
	if (!v) {
		pgp_null(p);
		return;
	}
	p->v[p->n] = v;
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = 1;
}

/*
 * A connection lost (server restart, failover, network) is reset before the next statement: the
 * operation that saw it failed and said so, the next one works again. A batch whose statement
 * failed stops there and is rolled back (or was, by the server), so no statement of it runs
 * on the new connection outside its transaction.
 */
int pg_alive(struct pg_store *st)
{
	if (PQstatus(st->conn) == CONNECTION_OK)
		return 0;
	PQreset(st->conn);
	if (PQstatus(st->conn) != CONNECTION_OK) {
		log_error("failed to reconnect to store %s: %s", st->where,
			  PQerrorMessage(st->conn));
		return -EIO;
	}
	log_warn("reconnected to store %s", st->where);
	return 0;
}

PGresult *pg_exec_raw(struct pg_store *st, const char *what, const char *sql, int n,
		      const char *const *v, const int *len, const int *fmt, int binary)
{
	PGresult *r;

	if (pg_alive(st)) {
		log_error("failed to %s: no connection to the database", what);
		return NULL;
	}
	r = PQexecParams(st->conn, sql, n, NULL, v, len, fmt, binary);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	log_error("failed to %s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(st->conn));
	PQclear(r);
	return NULL;
}

static PGresult *exec_fmt(struct pg_store *st, const char *what, const char *sql,
			  const struct pg_params *p, int binary)
{
	return pg_exec_raw(st, what, sql, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
			   p ? p->fmt : NULL, binary);
}

PGresult *pg_exec(struct pg_store *st, const char *what, const char *sql,
		  const struct pg_params *p)
{
	return exec_fmt(st, what, sql, p, 0);
}

PGresult *pg_exec_bin(struct pg_store *st, const char *what, const char *sql,
		      const struct pg_params *p)
{
	return exec_fmt(st, what, sql, p, 1);
}

int pg_cmd(struct pg_store *st, const char *what, const char *sql, const struct pg_params *p,
	   uint64_t *rows)
{
	PGresult *r = pg_exec(st, what, sql, p);

	if (!r)
		return -EIO;
	if (rows)
		*rows = strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The server's notices ("relation already exists, skipping") are not the collector's news. */
static void quiet(void *arg, const char *msg)
{
	log_debug("postgres: %s", msg);
}

int pg_store_open(const char *spec, struct store **out)
{
	char where[512], *msg, *nl;
	struct pg_store *st;
	PGresult *r;

	store_spec_redact(spec, where, sizeof(where));
	st = calloc(1, sizeof(*st));
	if (!st || !(st->where = strdup(where))) {
		free(st);
		return -ENOMEM;
	}
	st->conn = PQconnectdb(spec);
	if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
		msg = st->conn ? PQerrorMessage(st->conn) : "out of memory";
		/* libpq's messages end in a newline and may span lines: one log line */
		while ((nl = strchr(msg, '\n')) && nl[1])
			*nl = ' ';
		if (nl)
			*nl = '\0';
		log_error("failed to open store %s: %s", where, msg);
		goto fail;
	}
	PQsetNoticeProcessor(st->conn, quiet, NULL);
	r = PQexec(st->conn, schema);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error("failed to set up database %s: %s", where, PQresultErrorMessage(r));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	*out = &st->base;
	return 0;
fail:
	pg_store_close(&st->base);
	return -EIO;
}

void pg_store_close(struct store *store)
{
	struct pg_store *st = pg_of(store);

	if (!st)
		return;
	PQfinish(st->conn);
	free(st->where);
	free(st->ev);
	free(st);
}

int pg_store_set_durable(struct store *store, int durable)
{
	return 0;
}

int pg_store_agent_add(struct store *store, const char *agent_id, const char *key_hash,
		       const Aitrail__V1__AgentInfo *info, uint64_t now_ns)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };

	pgp_text(&p, agent_id);
	pgp_text(&p, key_hash);
	pgp_text(&p, info ? info->hostname : "");
	pgp_text(&p, info ? info->host_id : "");
	pgp_text(&p, info ? info->boot_id : "");
	pgp_text(&p, info ? info->agent_version : "");
	pgp_i64(&p, (int64_t)now_ns);
	return pg_cmd(st, "add agent", "INSERT INTO agents (id, key_hash, hostname, host_id,"
		      " boot_id, agent_version, enrolled_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		      &p, NULL);
}

int pg_store_agent_by_key(struct store *store, const char *key_hash, struct store_agent *out)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	PGresult *r;
	int rc = -ENOENT;

	pgp_text(&p, key_hash);
	r = pg_exec(st, "look up agent key", "SELECT id, hostname, (revoked_ns IS NOT NULL)::int"
		    " FROM agents WHERE key_hash = $1", &p);
	if (!r)
		return -EIO;
	if (PQntuples(r)) {
		snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(r, 0, 0));
		snprintf(out->hostname, sizeof(out->hostname), "%s", PQgetvalue(r, 0, 1));
		out->revoked = (int)pg_i64(r, 0, 2);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int pg_store_agent_revoke(struct store *store, const char *agent_id, uint64_t now_ns)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	uint64_t n = 0;
	int rc;

	pgp_text(&p, agent_id);
	pgp_i64(&p, (int64_t)now_ns);
	rc = pg_cmd(st, "revoke agent", "UPDATE agents SET revoked_ns = coalesce(revoked_ns, $2)"
		    " WHERE id = $1", &p, &n);
	if (rc)
		return rc;
	return n ? 0 : -ENOENT;
}

int pg_put_stats(struct pg_store *st, const char *agent_id, const Aitrail__V1__AgentStats *stats,
		 uint64_t ts)
{
	struct pg_params p = { 0 };
	char *js = store_stats_json(stats);
	int rc;

	if (!js)
		return -ENOMEM;
	pgp_text(&p, agent_id);
	pgp_text(&p, js);
	pgp_i64(&p, (int64_t)ts);
	rc = pg_cmd(st, "store agent stats", "UPDATE agents SET stats_json = $2, stats_ns = $3"
		    " WHERE id = $1 AND coalesce(stats_ns, 0) <= $3", &p, NULL);
	free(js);
	return rc;
}

int pg_store_heartbeat(struct store *store, const char *agent_id, const Aitrail__V1__Heartbeat *hb,
		       uint64_t now_ns)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	int rc;

	pgp_text(&p, agent_id);
	pgp_i64(&p, (int64_t)now_ns);
	pgp_i64(&p, hb->interval_s);
	pgp_i64(&p, (int64_t)hb->last_batch_seq);
	pgp_i64(&p, (int64_t)hb->spool_bytes);
	pgp_i64(&p, (int64_t)hb->spool_events);
	pgp_text(&p, hb->agent ? hb->agent->hostname : "");
	pgp_text(&p, hb->agent ? hb->agent->agent_version : "");
	rc = pg_cmd(st, "store heartbeat", "UPDATE agents SET last_seen_ns = $2,"
		    " last_heartbeat_ns = $2, interval_s = $3, last_batch_seq = $4,"
		    " spool_bytes = $5, spool_events = $6,"
		    " hostname = CASE WHEN $7 = '' THEN hostname ELSE $7 END,"
		    " agent_version = CASE WHEN $8 = '' THEN agent_version ELSE $8 END"
		    " WHERE id = $1", &p, NULL);
	if (!rc && hb->stats)
		rc = pg_put_stats(st, agent_id, hb->stats, now_ns);
	return rc;
}
