// SPDX-License-Identifier: Apache-2.0
/*
 * PostgreSQL backend, query half: sessions, a session's events and timeline, agents, with the
 * JSON shape of the SQLite backend's answers (store_sqlite_query.c), value for value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_pg.h"
#include "collector/timeline.h"
#include "common/util.h"

static void add_str(json_object *o, const char *k, const PGresult *r, int row, int col)
{
	json_object_object_add(o, k, json_object_new_string(PQgetvalue(r, row, col)));
}

static void add_int(json_object *o, const char *k, const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		json_object_object_add(o, k, NULL);
	else
		json_object_object_add(o, k, json_object_new_int64(pg_i64(r, row, col)));
}

static void add_ts(json_object *o, const char *k, const PGresult *r, int row, int col)
{
	store_json_ts(o, k, !PQgetisnull(r, row, col), (uint64_t)pg_i64(r, row, col));
}

#define SESSION_COLS "id, tool, host, usr, agent_id, root_pid, start_ns, last_ns, end_ns," \
	" exit_code, signal, events, cwd, argv"

static json_object *session_row(const PGresult *r, int row)
{
	json_object *o = json_object_new_object();

	add_str(o, "id", r, row, 0);
	add_str(o, "tool", r, row, 1);
	add_str(o, "host", r, row, 2);
	add_str(o, "user", r, row, 3);
	add_str(o, "agent_id", r, row, 4);
	add_int(o, "root_pid", r, row, 5);
	add_ts(o, "start", r, row, 6);
	add_ts(o, "last", r, row, 7);
	add_ts(o, "end", r, row, 8);
	add_int(o, "exit_code", r, row, 9);
	add_str(o, "signal", r, row, 10);
	add_int(o, "events", r, row, 11);
	add_str(o, "cwd", r, row, 12);
	json_object_object_add(o, "argv", PQgetisnull(r, row, 13) ? json_object_new_array() :
			       json_tokener_parse(PQgetvalue(r, row, 13)));
	return o;
}

int pg_store_query_sessions(struct store *store, const struct session_filter *f, json_object **out)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	json_object *arr;
	PGresult *r;

	pgp_opt_text(&p, f->host);
	pgp_opt_text(&p, f->user);
	pgp_opt_text(&p, f->tool);
	pgp_opt_text(&p, f->agent_id);
	pgp_i64(&p, (int64_t)f->since_ns);
	pgp_i64(&p, (int64_t)f->until_ns);
	pgp_i64(&p, f->limit);
	r = pg_exec(st, "query sessions", "SELECT " SESSION_COLS " FROM sessions"
		    " WHERE ($1::text IS NULL OR host = $1) AND ($2::text IS NULL OR usr = $2)"
		    " AND ($3::text IS NULL OR tool = $3) AND ($4::text IS NULL OR agent_id = $4)"
		    " AND ($5::bigint = 0 OR last_ns >= $5) AND ($6::bigint = 0 OR start_ns <= $6)"
		    " ORDER BY start_ns DESC LIMIT $7", &p);
	if (!r)
		return -EIO;
	arr = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_object_array_add(arr, session_row(r, i));
	PQclear(r);
	*out = json_object_new_object();
	json_object_object_add(*out, "sessions", arr);
	return 0;
}

#define EVENT_COLS "seq, ts, type, host, pid, ppid, usr, comm, exe, detail"

static void event_row(json_object *o, const PGresult *r, int row)
{
	add_int(o, "seq", r, row, 0);
	add_ts(o, "ts", r, row, 1);
	add_str(o, "type", r, row, 2);
	add_str(o, "host", r, row, 3);
	add_int(o, "pid", r, row, 4);
	add_int(o, "ppid", r, row, 5);
	add_str(o, "user", r, row, 6);
	add_str(o, "comm", r, row, 7);
	add_str(o, "exe", r, row, 8);
	add_str(o, "detail", r, row, 9);
}

/*
 * 0 and the session's row as JSON (row may be NULL) when it is known, -ENOENT when not: "no
 * events" and "no such session" differ.
 */
static int session_known(struct pg_store *st, const char *id, json_object **row)
{
	struct pg_params p = { 0 };
	PGresult *r;
	int rc;

	pgp_text(&p, id);
	r = pg_exec(st, "look up session", "SELECT " SESSION_COLS " FROM sessions WHERE id = $1",
		    &p);
	if (!r)
		return -EIO;
	rc = PQntuples(r) ? 0 : -ENOENT;
	if (!rc && row)
		*row = session_row(r, 0);
	PQclear(r);
	return rc;
}

int pg_store_query_events(struct store *store, const struct event_filter *f, json_object **out)
{
	struct pg_store *st = pg_of(store);
	struct pbjson_buf pb = { 0 };
	struct pg_params p = { 0 };
	json_object *arr;
	PGresult *r;
	int rc;

	if ((rc = session_known(st, f->session_id, NULL)))
		return rc;
	pgp_text(&p, f->session_id);
	pgp_opt_text(&p, f->type);
	pgp_i64(&p, (int64_t)f->since_ns);
	pgp_i64(&p, (int64_t)f->until_ns);
	pgp_i64(&p, f->limit);
	r = pg_exec(st, "query events", "SELECT " EVENT_COLS ", pb FROM events"
		    " WHERE session_id = $1"
		    " AND ($2::text IS NULL OR type = $2 OR ($2 = 'file' AND type LIKE 'file_%'))"
		    " AND ($3::bigint = 0 OR ts >= $3) AND ($4::bigint = 0 OR ts <= $4)"
		    " ORDER BY ts, seq LIMIT $5",
		    &p);
	if (!r)
		return -EIO;
	arr = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_object *o = json_object_new_object();
		size_t len = 0;
		unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 10),
						     &len);

		event_row(o, r, i);
		json_object_object_add(o, "event", raw ? store_event_json(raw, len, &pb) : NULL);
		PQfreemem(raw);
		json_object_array_add(arr, o);
	}
	PQclear(r);
	pbjson_buf_free(&pb);
	*out = json_object_new_object();
	json_object_object_add(*out, "session_id", json_object_new_string(f->session_id));
	json_object_object_add(*out, "events", arr);
	return 0;
}

static void timeline_row_of(const PGresult *r, int row, struct timeline_row *t)
{
	t->seq = pg_i64(r, row, 0);
	t->has_ts = !PQgetisnull(r, row, 1);
	t->ts = (uint64_t)pg_i64(r, row, 1);
	t->type = PQgetvalue(r, row, 2);
	t->has_pid = !PQgetisnull(r, row, 4);
	t->pid = (uint32_t)pg_i64(r, row, 4);
	t->ppid = (uint32_t)pg_i64(r, row, 5);
	t->user = PQgetvalue(r, row, 6);
	t->comm = PQgetvalue(r, row, 7);
	t->exe = PQgetvalue(r, row, 8);
	t->detail = PQgetvalue(r, row, 9);
}

int pg_store_query_timeline(struct store *store, const char *session_id, json_object **out)
{
	struct pg_store *st = pg_of(store);
	struct timeline t = { 0 };
	struct pg_params p = { 0 };
	json_object *session = NULL;
	PGresult *r;
	int rc, n_events, oom = 0;

	if ((rc = session_known(st, session_id, &session)))
		return rc;
	pgp_text(&p, session_id);
	pgp_i64(&p, TIMELINE_MAX_EVENTS);
	r = pg_exec(st, "query timeline", "SELECT " EVENT_COLS " FROM events WHERE session_id = $1"
		    " ORDER BY ts, seq LIMIT $2", &p);
	if (!r) {
		json_object_put(session);
		return -EIO;
	}
	n_events = PQntuples(r);
	for (int i = 0; i < n_events && !oom; i++) {
		struct timeline_row row;

		timeline_row_of(r, i, &row);
		oom = timeline_add(&t, &row) != 0;
	}
	PQclear(r);
	if (oom) {
		json_object_put(timeline_finish(&t));
		json_object_put(session);
		log_error("failed to query timeline: out of memory");
		return -ENOMEM;
	}
	*out = timeline_answer(session_id, session, &t, n_events);
	return 0;
}

/* Batch sequence ranges never received: holes below the highest batch received. */
static int agent_missing(struct pg_store *st, const char *id, json_object *o, int64_t *max_seq)
{
	struct pg_params p = { 0 };
	json_object *arr;
	PGresult *r;

	pgp_text(&p, id);
	r = pg_exec(st, "query missing batches", "SELECT seq, nxt FROM (SELECT seq, lead(seq)"
		    " OVER (ORDER BY seq) AS nxt FROM (SELECT DISTINCT seq FROM batches"
		    " WHERE agent_id = $1) AS d) AS h WHERE nxt > seq + 1"
		    " UNION ALL SELECT 0, min(seq) FROM batches WHERE agent_id = $1"
		    " HAVING min(seq) > 1 ORDER BY 1 LIMIT 100", &p);
	arr = json_object_new_array();
	json_object_object_add(o, "batches_missing", arr);
	if (!r)
		return -EIO;
	for (int i = 0; i < PQntuples(r); i++)
		json_object_array_add(arr, store_seq_range((uint64_t)pg_i64(r, i, 0) + 1,
						 (uint64_t)pg_i64(r, i, 1) - 1));
	PQclear(r);
	r = pg_exec(st, "count batches", "SELECT count(*), coalesce(max(seq), 0),"
		    " coalesce(sum(events), 0) FROM batches WHERE agent_id = $1", &p);
	if (!r)
		return -EIO;
	add_int(o, "batches_received", r, 0, 0);
	add_int(o, "last_batch_received", r, 0, 1);
	add_int(o, "events_stored", r, 0, 2);
	*max_seq = pg_i64(r, 0, 1);
	PQclear(r);
	return 0;
}

static int agent_gaps(struct pg_store *st, const char *id, json_object *o)
{
	struct pg_params p = { 0 };
	json_object *arr;
	PGresult *r;

	pgp_text(&p, id);
	r = pg_exec(st, "query gaps", "SELECT from_seq, to_seq, events, reason, boot_id FROM gaps"
		    " WHERE agent_id = $1 ORDER BY from_seq LIMIT 100", &p);
	arr = json_object_new_array();
	json_object_object_add(o, "gaps", arr);
	if (!r)
		return -EIO;
	for (int i = 0; i < PQntuples(r); i++) {
		json_object *g = json_object_new_object();

		add_int(g, "from_seq", r, i, 0);
		add_int(g, "to_seq", r, i, 1);
		add_int(g, "events", r, i, 2);
		add_str(g, "reason", r, i, 3);
		add_str(g, "boot_id", r, i, 4);
		json_object_array_add(arr, g);
	}
	PQclear(r);
	r = pg_exec(st, "count lost events", "SELECT coalesce(sum(events), 0) FROM gaps"
		    " WHERE agent_id = $1", &p);
	if (r)
		add_int(o, "events_declared_lost", r, 0, 0);
	PQclear(r);
	return 0;
}

static int agent_breaks(struct pg_store *st, const char *id, json_object *o)
{
	struct pg_params p = { 0 };
	json_object *arr;
	PGresult *r;

	pgp_text(&p, id);
	r = pg_exec(st, "query chain breaks", "SELECT seq, kind, detected_ns, boot_id"
		    " FROM chain_breaks WHERE agent_id = $1 ORDER BY seq, detected_ns LIMIT 100",
		    &p);
	arr = json_object_new_array();
	json_object_object_add(o, "chain_breaks", arr);
	if (!r)
		return -EIO;
	for (int i = 0; i < PQntuples(r); i++) {
		json_object *b = json_object_new_object();

		add_int(b, "seq", r, i, 0);
		add_str(b, "kind", r, i, 1);
		add_ts(b, "detected", r, i, 2);
		add_str(b, "boot_id", r, i, 3);
		json_object_array_add(arr, b);
	}
	PQclear(r);
	return 0;
}

int pg_store_query_agents(struct store *store, const struct store_liveness *l,
			  json_object **out)
{
	struct pg_store *st = pg_of(store);
	json_object *arr;
	PGresult *r;
	int rc = 0;

	/* byte order, as SQLite sorts text, whatever the database's collation */
	r = pg_exec(st, "query agents", "SELECT id, hostname, host_id, boot_id, agent_version,"
		    " enrolled_ns, revoked_ns, last_seen_ns, last_heartbeat_ns, interval_s,"
		    " last_batch_seq, spool_bytes, spool_events, stats_json FROM agents"
		    " ORDER BY hostname COLLATE \"C\", id COLLATE \"C\"", NULL);
	if (!r)
		return -EIO;
	arr = json_object_new_array();
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		json_object *o = json_object_new_object();
		const char *id = PQgetvalue(r, i, 0);
		int64_t max_seq = 0;

		add_str(o, "id", r, i, 0);
		add_str(o, "host", r, i, 1);
		add_str(o, "host_id", r, i, 2);
		add_str(o, "boot_id", r, i, 3);
		add_str(o, "agent_version", r, i, 4);
		add_ts(o, "enrolled", r, i, 5);
		add_ts(o, "revoked", r, i, 6);
		add_ts(o, "last_seen", r, i, 7);
		add_ts(o, "last_heartbeat", r, i, 8);
		store_agent_liveness(o, pg_i64(r, i, 9), (uint64_t)pg_i64(r, i, 7),
				     !PQgetisnull(r, i, 6), l);
		add_int(o, "last_batch_cut", r, i, 10);
		add_int(o, "spool_bytes", r, i, 11);
		add_int(o, "spool_events", r, i, 12);
		json_object_object_add(o, "stats", PQgetisnull(r, i, 13) ? NULL :
				       json_tokener_parse(PQgetvalue(r, i, 13)));
		rc = agent_missing(st, id, o, &max_seq);
		json_object_object_add(o, "batches_pending",
				       store_batches_pending(pg_i64(r, i, 10), max_seq));
		if (!rc)
			rc = agent_gaps(st, id, o);
		if (!rc)
			rc = agent_breaks(st, id, o);
		json_object_array_add(arr, o);
	}
	PQclear(r);
	if (rc) {
		json_object_put(arr);
		return rc;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "agents", arr);
	return 0;
}
