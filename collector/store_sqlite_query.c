// SPDX-License-Identifier: Apache-2.0
/*
 * SQLite backend, query half: sessions, a session's events and timeline, agents. Answers are
 * JSON objects whose shape is the query API's (collector/api.c) and the CLI's input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pbjson.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_sqlite.h"
#include "collector/timeline.h"
#include "common/util.h"

static sqlite3_stmt *prepare(struct sqlite_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_error("failed to prepare query: %s", sqlite3_errmsg(st->db));
		return NULL;
	}
	return s;
}

static void add_str(json_object *o, const char *k, sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void add_int(json_object *o, const char *k, sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		json_object_object_add(o, k, NULL);
	else
		json_object_object_add(o, k, json_object_new_int64(sqlite3_column_int64(s, col)));
}

static void add_ts(json_object *o, const char *k, sqlite3_stmt *s, int col)
{
	store_json_ts(o, k, sqlite3_column_type(s, col) != SQLITE_NULL,
		      (uint64_t)sqlite3_column_int64(s, col));
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

#define SESSION_COLS "id, tool, host, user, agent_id, root_pid, start_ns, last_ns, end_ns," \
	" exit_code, signal, events, cwd, argv"

static json_object *session_row(sqlite3_stmt *s)
{
	json_object *o = json_object_new_object();
	const char *argv = (const char *)sqlite3_column_text(s, 13);

	add_str(o, "id", s, 0);
	add_str(o, "tool", s, 1);
	add_str(o, "host", s, 2);
	add_str(o, "user", s, 3);
	add_str(o, "agent_id", s, 4);
	add_int(o, "root_pid", s, 5);
	add_ts(o, "start", s, 6);
	add_ts(o, "last", s, 7);
	add_ts(o, "end", s, 8);
	add_int(o, "exit_code", s, 9);
	add_str(o, "signal", s, 10);
	add_int(o, "events", s, 11);
	add_str(o, "cwd", s, 12);
	json_object_object_add(o, "argv", argv ? json_tokener_parse(argv) : json_object_new_array());
	return o;
}

int sqlite_store_query_sessions(struct store *store, const struct session_filter *f,
				json_object **out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = prepare(st,
		"SELECT " SESSION_COLS " FROM sessions"
		" WHERE (?1 IS NULL OR host = ?1) AND (?2 IS NULL OR user = ?2)"
		" AND (?3 IS NULL OR tool = ?3) AND (?4 IS NULL OR agent_id = ?4)"
		" AND (?5 = 0 OR last_ns >= ?5) AND (?6 = 0 OR start_ns <= ?6)"
		" ORDER BY start_ns DESC LIMIT ?7");
	json_object *arr;
	int rc;

	if (!s)
		return -EIO;
	bind_opt_text(s, 1, f->host);
	bind_opt_text(s, 2, f->user);
	bind_opt_text(s, 3, f->tool);
	bind_opt_text(s, 4, f->agent_id);
	sqlite3_bind_int64(s, 5, (int64_t)f->since_ns);
	sqlite3_bind_int64(s, 6, (int64_t)f->until_ns);
	sqlite3_bind_int64(s, 7, f->limit);
	arr = json_object_new_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_object_array_add(arr, session_row(s));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_object_put(arr);
		return sqlite_db_err(st, "query sessions");
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "sessions", arr);
	return 0;
}

static void event_row(json_object *o, sqlite3_stmt *s)
{
	add_int(o, "seq", s, 0);
	add_ts(o, "ts", s, 1);
	add_str(o, "type", s, 2);
	add_str(o, "host", s, 3);
	add_int(o, "pid", s, 4);
	add_int(o, "ppid", s, 5);
	add_str(o, "user", s, 6);
	add_str(o, "comm", s, 7);
	add_str(o, "exe", s, 8);
	add_str(o, "detail", s, 9);
}

#define EVENT_COLS "seq, ts, type, host, pid, ppid, user, comm, exe, detail"

/*
 * 0 and the session's row as JSON (row may be NULL) when it is known, -ENOENT when not: "no
 * events" and "no such session" differ.
 */
static int session_known(struct sqlite_store *st, const char *id, json_object **row)
{
	sqlite3_stmt *s = prepare(st, "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1");
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && row)
		*row = session_row(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : sqlite_db_err(st, "look up session");
}

int sqlite_store_query_events(struct store *store, const struct event_filter *f,
			      json_object **out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = prepare(st,
		"SELECT " EVENT_COLS ", pb FROM events WHERE session_id = ?1"
		" AND (?2 IS NULL OR type = ?2 OR (?2 = 'file' AND type LIKE 'file_%'))"
		" AND (?3 = 0 OR ts >= ?3) AND (?4 = 0 OR ts <= ?4) ORDER BY ts, seq LIMIT ?5");
	struct pbjson_buf pb = { 0 };
	json_object *arr;
	int rc;

	if (!s)
		return -EIO;
	if ((rc = session_known(st, f->session_id, NULL))) {
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_bind_text(s, 1, f->session_id, -1, SQLITE_STATIC);
	bind_opt_text(s, 2, f->type);
	sqlite3_bind_int64(s, 3, (int64_t)f->since_ns);
	sqlite3_bind_int64(s, 4, (int64_t)f->until_ns);
	sqlite3_bind_int64(s, 5, f->limit);
	arr = json_object_new_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_object *o = json_object_new_object();

		event_row(o, s);
		json_object_object_add(o, "event", store_event_json(sqlite3_column_blob(s, 10),
							  sqlite3_column_bytes(s, 10), &pb));
		json_object_array_add(arr, o);
	}
	sqlite3_finalize(s);
	pbjson_buf_free(&pb);
	if (rc != SQLITE_DONE) {
		json_object_put(arr);
		return sqlite_db_err(st, "query events");
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "session_id", json_object_new_string(f->session_id));
	json_object_object_add(*out, "events", arr);
	return 0;
}

static const char *col_text(sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	return v ? v : "";
}

static void timeline_row_of(sqlite3_stmt *s, struct timeline_row *r)
{
	r->seq = sqlite3_column_int64(s, 0);
	r->has_ts = sqlite3_column_type(s, 1) != SQLITE_NULL;
	r->ts = (uint64_t)sqlite3_column_int64(s, 1);
	r->type = col_text(s, 2);
	r->has_pid = sqlite3_column_type(s, 4) != SQLITE_NULL;
	r->pid = (uint32_t)sqlite3_column_int64(s, 4);
	r->ppid = (uint32_t)sqlite3_column_int64(s, 5);
	r->user = col_text(s, 6);
	r->comm = col_text(s, 7);
	r->exe = col_text(s, 8);
	r->detail = col_text(s, 9);
}

int sqlite_store_query_timeline(struct store *store, const char *session_id, json_object **out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = prepare(st, "SELECT " EVENT_COLS " FROM events WHERE session_id = ?1"
				  " ORDER BY ts, seq LIMIT ?2");
	struct timeline t = { 0 };
	size_t n_events = 0;
	json_object *session = NULL;
	int rc;

	if (!s)
		return -EIO;
	if ((rc = session_known(st, session_id, &session))) {
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, TIMELINE_MAX_EVENTS);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct timeline_row row;

		n_events++;
		timeline_row_of(s, &row);
		if (timeline_add(&t, &row)) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_object_put(timeline_finish(&t));
		json_object_put(session);
		return sqlite_db_err(st, "query timeline");
	}
	*out = timeline_answer(session_id, session, &t, n_events);
	return 0;
}

/* Batch sequence ranges never received: holes below the highest batch received. */
static int agent_missing(struct sqlite_store *st, const char *id, json_object *o, int64_t *max_seq)
{
	sqlite3_stmt *s = prepare(st,
		"SELECT seq, nxt FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS nxt FROM"
		" (SELECT DISTINCT seq FROM batches WHERE agent_id = ?1)) WHERE nxt > seq + 1"
		" UNION ALL SELECT 0, min(seq) FROM batches WHERE agent_id = ?1 HAVING min(seq) > 1"
		" ORDER BY 1 LIMIT 100");
	json_object *arr;
	int rc;

	if (!s)
		return -EIO;
	arr = json_object_new_array();
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_object_array_add(arr, store_seq_range(sqlite3_column_int64(s, 0) + 1,
						 sqlite3_column_int64(s, 1) - 1));
	sqlite3_finalize(s);
	json_object_object_add(o, "batches_missing", arr);
	if (rc != SQLITE_DONE)
		return sqlite_db_err(st, "query missing batches");

	s = prepare(st, "SELECT count(*), coalesce(max(seq), 0), coalesce(sum(events), 0)"
			" FROM batches WHERE agent_id = ?1");
	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		add_int(o, "batches_received", s, 0);
		add_int(o, "last_batch_received", s, 1);
		add_int(o, "events_stored", s, 2);
		*max_seq = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sqlite_db_err(st, "count batches");
}

static int agent_gaps(struct sqlite_store *st, const char *id, json_object *o)
{
	sqlite3_stmt *s = prepare(st, "SELECT from_seq, to_seq, events, reason, boot_id FROM gaps"
				  " WHERE agent_id = ?1 ORDER BY from_seq LIMIT 100");
	json_object *arr;
	int rc;

	if (!s)
		return -EIO;
	arr = json_object_new_array();
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_object *g = json_object_new_object();

		add_int(g, "from_seq", s, 0);
		add_int(g, "to_seq", s, 1);
		add_int(g, "events", s, 2);
		add_str(g, "reason", s, 3);
		add_str(g, "boot_id", s, 4);
		json_object_array_add(arr, g);
	}
	sqlite3_finalize(s);
	json_object_object_add(o, "gaps", arr);
	if (rc != SQLITE_DONE)
		return sqlite_db_err(st, "query gaps");
	s = prepare(st, "SELECT coalesce(sum(events), 0) FROM gaps WHERE agent_id = ?1");
	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		add_int(o, "events_declared_lost", s, 0);
	sqlite3_finalize(s);
	return 0;
}

static int agent_breaks(struct sqlite_store *st, const char *id, json_object *o)
{
	sqlite3_stmt *s = prepare(st, "SELECT seq, kind, detected_ns, boot_id FROM chain_breaks"
				  " WHERE agent_id = ?1 ORDER BY seq, detected_ns LIMIT 100");
	json_object *arr;
	int rc;

	if (!s)
		return -EIO;
	arr = json_object_new_array();
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_object *b = json_object_new_object();

		add_int(b, "seq", s, 0);
		add_str(b, "kind", s, 1);
		add_ts(b, "detected", s, 2);
		add_str(b, "boot_id", s, 3);
		json_object_array_add(arr, b);
	}
	sqlite3_finalize(s);
	json_object_object_add(o, "chain_breaks", arr);
	return rc == SQLITE_DONE ? 0 : sqlite_db_err(st, "query chain breaks");
}

int sqlite_store_query_agents(struct store *store, const struct store_liveness *l,
			      json_object **out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = prepare(st,
		"SELECT id, hostname, host_id, boot_id, agent_version, enrolled_ns, revoked_ns,"
		" last_seen_ns, last_heartbeat_ns, interval_s, last_batch_seq, spool_bytes,"
		" spool_events, stats_json FROM agents ORDER BY hostname, id");
	json_object *arr;
	int rc = 0, qrc;

	if (!s)
		return -EIO;
	arr = json_object_new_array();
	while (!rc && (qrc = sqlite3_step(s)) == SQLITE_ROW) {
		json_object *o = json_object_new_object();
		const char *id = (const char *)sqlite3_column_text(s, 0);
		const char *stats = (const char *)sqlite3_column_text(s, 13);
		int64_t max_seq = 0;

		add_str(o, "id", s, 0);
		add_str(o, "host", s, 1);
		add_str(o, "host_id", s, 2);
		add_str(o, "boot_id", s, 3);
		add_str(o, "agent_version", s, 4);
		add_ts(o, "enrolled", s, 5);
		add_ts(o, "revoked", s, 6);
		add_ts(o, "last_seen", s, 7);
		add_ts(o, "last_heartbeat", s, 8);
		store_agent_liveness(o, sqlite3_column_int64(s, 9),
				     (uint64_t)sqlite3_column_int64(s, 7),
				     sqlite3_column_type(s, 6) != SQLITE_NULL, l);
		add_int(o, "last_batch_cut", s, 10);
		add_int(o, "spool_bytes", s, 11);
		add_int(o, "spool_events", s, 12);
		json_object_object_add(o, "stats", stats ? json_tokener_parse(stats) : NULL);
		rc = agent_missing(st, id, o, &max_seq);
		json_object_object_add(o, "batches_pending",
				       store_batches_pending(sqlite3_column_int64(s, 10), max_seq));
		if (!rc)
			rc = agent_gaps(st, id, o);
		if (!rc)
			rc = agent_breaks(st, id, o);
		json_object_array_add(arr, o);
	}
	sqlite3_finalize(s);
	if (!rc && qrc != SQLITE_DONE)
		rc = sqlite_db_err(st, "query agents");
	if (rc) {
		json_object_put(arr);
		return rc;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "agents", arr);
	return 0;
}
