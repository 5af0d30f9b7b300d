// SPDX-License-Identifier: Apache-2.0
/*
 * SQLite backend of collector/store.h: WAL, one transaction per batch, statements prepared once.
 * synchronous=NORMAL by default: a collector crash loses nothing committed, but an OS crash or
 * power loss can lose the last batches already acknowledged (the agent has dropped them from its
 * spool); store_set_durable() trades throughput for an fsync per batch. The query half lives in
 * store_sqlite_query.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_sqlite.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS agents ("
	" id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL DEFAULT '',"
	" host_id TEXT NOT NULL DEFAULT '', boot_id TEXT NOT NULL DEFAULT '',"
	" agent_version TEXT NOT NULL DEFAULT '', enrolled_ns INTEGER NOT NULL,"
	" revoked_ns INTEGER, last_seen_ns INTEGER, last_heartbeat_ns INTEGER, interval_s INTEGER,"
	" last_batch_seq INTEGER, spool_bytes INTEGER, spool_events INTEGER, stats_json TEXT,"
	" stats_ns INTEGER);"
	"CREATE TABLE IF NOT EXISTS batches ("
	" agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL,"
	" prev_hash BLOB, events INTEGER NOT NULL, received_ns INTEGER NOT NULL, flagged TEXT,"
	" PRIMARY KEY (agent_id, boot_id, seq));"
	"CREATE INDEX IF NOT EXISTS batches_agent_seq ON batches(agent_id, seq);"
	"CREATE TABLE IF NOT EXISTS events ("
	" id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, boot_id TEXT NOT NULL,"
	" batch_seq INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL,"
	" host TEXT, session_id TEXT, tool TEXT, user TEXT, uid INTEGER, pid INTEGER, ppid INTEGER,"
	" comm TEXT, exe TEXT, detail TEXT, pb BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS events_session_ts ON events(session_id, ts);"
	"CREATE INDEX IF NOT EXISTS events_ts ON events(ts);"
	"CREATE INDEX IF NOT EXISTS events_host_ts ON events(host, ts);"
	"CREATE INDEX IF NOT EXISTS events_agent_seq ON events(agent_id, seq);"
	"CREATE TABLE IF NOT EXISTS sessions ("
	" id TEXT PRIMARY KEY, tool TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',"
	" user TEXT NOT NULL DEFAULT '', agent_id TEXT NOT NULL, root_pid INTEGER,"
	" start_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, end_ns INTEGER, exit_code INTEGER,"
	" signal TEXT, events INTEGER NOT NULL DEFAULT 0, cwd TEXT, argv TEXT);"
	"CREATE INDEX IF NOT EXISTS sessions_start ON sessions(start_ns);"
	"CREATE INDEX IF NOT EXISTS sessions_host ON sessions(host, start_ns);"
	"CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user, start_ns);"
	"CREATE INDEX IF NOT EXISTS sessions_tool ON sessions(tool, start_ns);"
	"CREATE TABLE IF NOT EXISTS chain_breaks ("
	" agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
	" detected_ns INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS chain_breaks_agent ON chain_breaks(agent_id, seq);"
	"CREATE TABLE IF NOT EXISTS gaps ("
	" agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, from_seq INTEGER NOT NULL,"
	" to_seq INTEGER NOT NULL, events INTEGER NOT NULL, reason TEXT NOT NULL,"
	" received_ns INTEGER NOT NULL, UNIQUE (agent_id, boot_id, from_seq, to_seq));"
	/* the provenance ledger: every content hash a session wrote; kept by retention pruning */
	"CREATE TABLE IF NOT EXISTS provenance ("
	" sha256 TEXT NOT NULL, path TEXT NOT NULL, session_id TEXT NOT NULL DEFAULT '',"
	" tool TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', user TEXT NOT NULL DEFAULT '',"
	" ts INTEGER NOT NULL, agent_id TEXT NOT NULL, pid INTEGER, size INTEGER,"
	" renamed_from TEXT, UNIQUE (sha256, session_id, path, ts));"
	/* lookups by sha256 use the UNIQUE index, which starts with it: a second index on sha256
	 * alone only cost every file_write one more insert */
	"DROP INDEX IF EXISTS provenance_sha;";

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_AGENT_ADD] = "INSERT INTO agents (id, key_hash, hostname, host_id, boot_id,"
			 " agent_version, enrolled_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_AGENT_BY_KEY] = "SELECT id, hostname, revoked_ns IS NOT NULL FROM agents"
			    " WHERE key_hash = ?1",
	[ST_AGENT_REVOKE] = "UPDATE agents SET revoked_ns = coalesce(revoked_ns, ?2) WHERE id = ?1",
	[ST_AGENT_SEEN] = "UPDATE agents SET last_seen_ns = max(coalesce(last_seen_ns, 0), ?2),"
			  " boot_id = CASE WHEN ?3 = '' THEN boot_id ELSE ?3 END WHERE id = ?1",
	[ST_AGENT_HEARTBEAT] = "UPDATE agents SET last_seen_ns = ?2, last_heartbeat_ns = ?2,"
			       " interval_s = ?3, last_batch_seq = ?4, spool_bytes = ?5,"
			       " spool_events = ?6,"
			       " hostname = CASE WHEN ?7 = '' THEN hostname ELSE ?7 END,"
			       " agent_version = CASE WHEN ?8 = '' THEN agent_version ELSE ?8 END"
			       " WHERE id = ?1",
	[ST_AGENT_STATS] = "UPDATE agents SET stats_json = ?2, stats_ns = ?3 WHERE id = ?1"
			   " AND coalesce(stats_ns, 0) <= ?3",
	[ST_BATCH_GET] = "SELECT hash FROM batches WHERE agent_id = ?1 AND boot_id = ?2 AND seq = ?3",
	[ST_BATCH_BY_SEQ] = "SELECT hash, prev_hash FROM batches WHERE agent_id = ?1 AND seq = ?2"
			    " ORDER BY received_ns DESC LIMIT 1",
	[ST_BATCH_ADD] = "INSERT INTO batches (agent_id, boot_id, seq, hash, prev_hash, events,"
			 " received_ns, flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_EVENT_ADD] = "INSERT INTO events (agent_id, boot_id, batch_seq, seq, ts, type, host,"
			 " session_id, tool, user, uid, pid, ppid, comm, exe, detail, pb) VALUES"
			 " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
	[ST_SESSION_TOUCH] =
		"INSERT INTO sessions (id, tool, host, user, agent_id, root_pid, start_ns, last_ns,"
		" events) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET"
		" start_ns = min(start_ns, excluded.start_ns),"
		" last_ns = max(last_ns, excluded.last_ns), events = events + excluded.events,"
		" tool = CASE WHEN tool = '' THEN excluded.tool ELSE tool END,"
		" user = CASE WHEN user = '' THEN excluded.user ELSE user END,"
		" root_pid = coalesce(root_pid, excluded.root_pid)",
	[ST_SESSION_START] = "UPDATE sessions SET cwd = ?2, argv = ?3,"
			     " user = CASE WHEN ?4 = '' THEN user ELSE ?4 END WHERE id = ?1",
	[ST_SESSION_END] = "UPDATE sessions SET end_ns = ?2, exit_code = ?3, signal = ?4"
			   " WHERE id = ?1",
	[ST_CHAIN_BREAK] = "INSERT INTO chain_breaks (agent_id, boot_id, seq, kind, detected_ns)"
			   " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_PROV_ADD] = "INSERT OR IGNORE INTO provenance (sha256, path, session_id, tool, host, user,"
			" ts, agent_id, pid, size, renamed_from) VALUES"
			" (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_GAP_ADD] = "INSERT OR IGNORE INTO gaps (agent_id, boot_id, from_seq, to_seq, events,"
		       " reason, received_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

static int db_err(struct sqlite_store *st, const char *what)
{
	log_error("failed to %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

int sqlite_store_open(const char *spec, struct store **out)
{
	struct sqlite_store *st;
	char *err = NULL;
	int rc;

	if (!strncmp(spec, "sqlite:", 7))
		spec += 7;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = sqlite3_open_v2(spec, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_error("failed to open database %s: %s", spec,
			  st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/*
	 * 32 MiB of page cache rather than SQLite's 2 MiB: the events table's four indexes are
	 * touched by every batch; with less, each commit reads its pages back from the WAL.
	 * Checkpoints every 8192 pages (32 MiB of WAL) rather than 1000: the hot index pages are
	 * copied into the database, and synced, eight times less often.
	 */
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=8192;"
			 "PRAGMA foreign_keys=ON;", NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(st->db, schema, NULL, NULL, &err) != SQLITE_OK) {
		log_error("failed to set up database %s: %s", spec, err ? err : "unknown error");
		sqlite3_free(err);
		goto fail;
	}
	if (sqlite_policy_schema(st))
		goto fail;
	for (int i = 0; i < ST__COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->stmt[i], NULL) != SQLITE_OK) {
			log_error("failed to prepare statement %d: %s", i, sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	*out = &st->base;
	return 0;
fail:
	sqlite_store_close(&st->base);
	return -EIO;
}

void sqlite_store_close(struct store *store)
{
	struct sqlite_store *st = sqlite_of(store);

	if (!st)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

/* Resets and returns a prepared statement, ready for binding. */
sqlite3_stmt *sqlite_stmt_get(struct sqlite_store *st, enum store_stmt id)
{
	sqlite3_stmt *s = st->stmt[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int exec_stmt(struct sqlite_store *st, enum store_stmt id)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, id);
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

int sqlite_store_agent_add(struct store *store, const char *agent_id, const char *key_hash,
			   const Aitrail__V1__AgentInfo *info, uint64_t now_ns)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_ADD);

	bind_text(s, 1, agent_id);
	bind_text(s, 2, key_hash);
	bind_text(s, 3, info ? info->hostname : "");
	bind_text(s, 4, info ? info->host_id : "");
	bind_text(s, 5, info ? info->boot_id : "");
	bind_text(s, 6, info ? info->agent_version : "");
	sqlite3_bind_int64(s, 7, (int64_t)now_ns);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "add agent");
	return 0;
}

int sqlite_store_agent_by_key(struct store *store, const char *key_hash,
			      struct store_agent *out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_BY_KEY);
	int rc;

	bind_text(s, 1, key_hash);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_err(st, "look up agent key");
	snprintf(out->id, sizeof(out->id), "%s", (const char *)sqlite3_column_text(s, 0));
	snprintf(out->hostname, sizeof(out->hostname), "%s",
		 (const char *)sqlite3_column_text(s, 1));
	out->revoked = sqlite3_column_int(s, 2);
	sqlite3_reset(s);
	return 0;
}

int sqlite_store_agent_revoke(struct store *store, const char *agent_id, uint64_t now_ns)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_REVOKE);

	bind_text(s, 1, agent_id);
	sqlite3_bind_int64(s, 2, (int64_t)now_ns);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "revoke agent");
	return sqlite3_changes(st->db) ? 0 : -ENOENT;
}

static int put_stats(struct sqlite_store *st, const char *agent_id,
		     const Aitrail__V1__AgentStats *stats, uint64_t ts)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_STATS);
	char *js = store_stats_json(stats);
	int rc;

	if (!js)
		return -ENOMEM;
	bind_text(s, 1, agent_id);
	sqlite3_bind_text(s, 2, js, -1, free);
	sqlite3_bind_int64(s, 3, (int64_t)ts);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_err(st, "store agent stats");
}

int sqlite_store_heartbeat(struct store *store, const char *agent_id,
			   const Aitrail__V1__Heartbeat *hb, uint64_t now_ns)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_HEARTBEAT);

	bind_text(s, 1, agent_id);
	sqlite3_bind_int64(s, 2, (int64_t)now_ns);
	sqlite3_bind_int64(s, 3, hb->interval_s);
	sqlite3_bind_int64(s, 4, (int64_t)hb->last_batch_seq);
	sqlite3_bind_int64(s, 5, (int64_t)hb->spool_bytes);
	sqlite3_bind_int64(s, 6, (int64_t)hb->spool_events);
	bind_text(s, 7, hb->agent ? hb->agent->hostname : "");
	bind_text(s, 8, hb->agent ? hb->agent->agent_version : "");
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "store heartbeat");
	if (hb->stats)
		return put_stats(st, agent_id, hb->stats, now_ns);
	return 0;
}

static int chain_break(struct sqlite_store *st, const struct store_batch *b, uint64_t seq,
		       const char *kind, struct store_put_result *res)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_CHAIN_BREAK);

	bind_text(s, 1, b->agent_id);
	bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)seq);
	bind_text(s, 4, kind);
	sqlite3_bind_int64(s, 5, (int64_t)b->received_ns);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "record chain break");
	log_warn("agent %s: hash chain break at batch %llu: %s", b->agent_id,
		 (unsigned long long)seq, kind);
	if (!res->chain_break[0])
		snprintf(res->chain_break, sizeof(res->chain_break), "%s", kind);
	return 0;
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/*
 * Checks the batch against its stored neighbours: its prev_hash against batch seq-1's hash, and
 * batch seq+1's prev_hash against its hash (batches may arrive out of order after retries).
 */
static int verify_chain(struct sqlite_store *st, const struct store_batch *b,
			struct store_put_result *res)
{
	sqlite3_stmt *s;
	int rc;

	if (!b->hash_ok && (rc = chain_break(st, b, b->seq, "hash_mismatch", res)))
		return rc;
	if (b->seq == 1) {
		if (!is_zero(b->prev_hash, b->prev_hash_len))
			return chain_break(st, b, b->seq, "prev_mismatch", res);
	} else {
		s = sqlite_stmt_get(st, ST_BATCH_BY_SEQ);
		bind_text(s, 1, b->agent_id);
		sqlite3_bind_int64(s, 2, (int64_t)(b->seq - 1));
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			int same = (size_t)sqlite3_column_bytes(s, 0) == b->prev_hash_len &&
				   !memcmp(sqlite3_column_blob(s, 0), b->prev_hash, b->prev_hash_len);

			sqlite3_reset(s);
			if (!same && (rc = chain_break(st, b, b->seq, "prev_mismatch", res)))
				return rc;
		} else if (rc != SQLITE_DONE) {
			return db_err(st, "look up previous batch");
		}
	}
	s = sqlite_stmt_get(st, ST_BATCH_BY_SEQ);
	bind_text(s, 1, b->agent_id);
	sqlite3_bind_int64(s, 2, (int64_t)(b->seq + 1));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int same = sqlite3_column_bytes(s, 1) == STORE_HASH_LEN &&
			   !memcmp(sqlite3_column_blob(s, 1), b->hash, STORE_HASH_LEN);

		sqlite3_reset(s);
		if (!same)
			return chain_break(st, b, b->seq + 1, "prev_mismatch", res);
	} else if (rc != SQLITE_DONE) {
		return db_err(st, "look up next batch");
	}
	return 0;
}

static int put_gap(struct sqlite_store *st, const struct store_batch *b, const Aitrail__V1__Gap *g)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_GAP_ADD);

	bind_text(s, 1, b->agent_id);
	bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)g->from_seq);
	sqlite3_bind_int64(s, 4, (int64_t)g->to_seq);
	sqlite3_bind_int64(s, 5, (int64_t)g->events);
	bind_text(s, 6, g->reason);
	sqlite3_bind_int64(s, 7, (int64_t)b->received_ns);
	return sqlite3_step(s) == SQLITE_DONE ? 0 : db_err(st, "store gap");
}

static int flush_touches(struct sqlite_store *st, const struct store_batch *b, struct touches *ts)
{
	for (int i = 0; i < ts->n; i++) {
		const struct session_touch *t = &ts->t[i];
		sqlite3_stmt *s = sqlite_stmt_get(st, ST_SESSION_TOUCH);

		bind_text(s, 1, t->id);
		bind_text(s, 2, t->tool);
		bind_text(s, 3, t->host);
		bind_text(s, 4, t->user);
		bind_text(s, 5, b->agent_id);
		if (t->root_pid)
			sqlite3_bind_int64(s, 6, t->root_pid);
		sqlite3_bind_int64(s, 7, (int64_t)t->first_ns);
		sqlite3_bind_int64(s, 8, (int64_t)t->last_ns);
		sqlite3_bind_int64(s, 9, (int64_t)t->events);
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_err(st, "update session");
	}
	ts->n = 0;
	ts->last = 0;
	return 0;
}

static int touch_session(struct sqlite_store *st, const struct store_batch *b, struct touches *ts,
			 const Aitrail__V1__Event *ev)
{
	int rc = store_touches_add(ts, ev);

	if (rc == -ENOSPC && !(rc = flush_touches(st, b, ts)))
		rc = store_touches_add(ts, ev);
	return rc;
}

/* Session start and end details; the session row exists by then (flush_touches ran). */
static int put_session_edge(struct sqlite_store *st, const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__Session *ss = ev->session;
	sqlite3_stmt *s;

	if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START) {
		const Aitrail__V1__SessionStart *st_ = ev->session_start;
		char *argv = store_argv_json(st_->n_argv, st_->argv);

		s = sqlite_stmt_get(st, ST_SESSION_START);
		bind_text(s, 1, ss->id);
		bind_text(s, 2, st_->cwd);
		sqlite3_bind_text(s, 3, argv, -1, free);
		bind_text(s, 4, st_->user);
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_err(st, "store session start");
	} else if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_END) {
		s = sqlite_stmt_get(st, ST_SESSION_END);
		bind_text(s, 1, ss->id);
		sqlite3_bind_int64(s, 2, (int64_t)ev->ts);
		sqlite3_bind_int64(s, 3, ev->session_end->exit_code);
		bind_text(s, 4, ev->session_end->signal);
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_err(st, "store session end");
	}
	return 0;
}

/* A file_write with a content hash goes into the provenance ledger. */
static int put_provenance(struct sqlite_store *st, const struct store_batch *b,
			  const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__FileWrite *fw = ev->file_write;
	const Aitrail__V1__Session *ss = ev->session;
	sqlite3_stmt *s;

	if (!fw->sha256 || strlen(fw->sha256) != 64 || !fw->path[0])
		return 0; /* not hashed (too large, gone): nothing to match content against */
	s = sqlite_stmt_get(st, ST_PROV_ADD);
	bind_text(s, 1, fw->sha256);
	bind_text(s, 2, fw->path);
	bind_text(s, 3, ss ? ss->id : "");
	bind_text(s, 4, ss ? ss->tool : "");
	bind_text(s, 5, ev->host);
	bind_text(s, 6, ev->proc ? ev->proc->user : "");
	sqlite3_bind_int64(s, 7, (int64_t)ev->ts);
	bind_text(s, 8, b->agent_id);
	if (ev->proc)
		sqlite3_bind_int64(s, 9, ev->proc->pid);
	sqlite3_bind_int64(s, 10, fw->size);
	if (fw->renamed_from && fw->renamed_from[0])
		bind_text(s, 11, fw->renamed_from);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "store provenance");
	return 0;
}

static int put_event(struct sqlite_store *st, const struct store_batch *b, size_t i,
		     struct touches *ts)
{
	const Aitrail__V1__Event *ev = b->events[i];
	const Aitrail__V1__Proc *p = ev->proc;
	const Aitrail__V1__Session *ss = ev->session;
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_EVENT_ADD);
	char detail[1024];
	int has_session = ss && ss->id[0];
	int rc;

	event_detail(ev, detail, sizeof(detail));
	bind_text(s, 1, b->agent_id);
	bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)b->seq);
	sqlite3_bind_int64(s, 4, (int64_t)ev->seq);
	sqlite3_bind_int64(s, 5, (int64_t)ev->ts);
	bind_text(s, 6, ev->type);
	bind_text(s, 7, ev->host);
	if (has_session) {
		bind_text(s, 8, ss->id);
		bind_text(s, 9, ss->tool);
	}
	if (p) {
		bind_text(s, 10, p->user);
		sqlite3_bind_int64(s, 11, p->uid);
		sqlite3_bind_int64(s, 12, p->pid);
		sqlite3_bind_int64(s, 13, p->ppid);
		bind_text(s, 14, p->comm);
		bind_text(s, 15, p->exe);
	}
	sqlite3_bind_text(s, 16, detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, 17, b->packed[i], (int)b->packed_len[i], SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "store event");
	if (has_session && (rc = touch_session(st, b, ts, ev)))
		return rc;
	if (has_session && (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START ||
			    ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_END) &&
	    ((rc = flush_touches(st, b, ts)) || (rc = put_session_edge(st, ev))))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_FILE_WRITE && (rc = put_provenance(st, b, ev)))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_GAP && (rc = put_gap(st, b, ev->gap)))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_AGENT_STATS &&
	    (rc = put_stats(st, b->agent_id, ev->agent_stats, ev->ts)))
		return rc;
	return 0;
}

static int put_batch_locked(struct sqlite_store *st, const struct store_batch *b,
			    struct store_put_result *res)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_BATCH_GET);
	struct touches ts = { .n = 0 };
	int rc;

	bind_text(s, 1, b->agent_id);
	bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)b->seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int same = sqlite3_column_bytes(s, 0) == STORE_HASH_LEN &&
			   !memcmp(sqlite3_column_blob(s, 0), b->hash, STORE_HASH_LEN);

		sqlite3_reset(s);
		res->status = STORE_DUPLICATE;
		/* a resend must be the same batch; anything else is a rewrite of history */
		return same ? 0 : chain_break(st, b, b->seq, "replay_mismatch", res);
	}
	if (rc != SQLITE_DONE)
		return db_err(st, "look up batch");

	if ((rc = verify_chain(st, b, res)))
		return rc;
	s = sqlite_stmt_get(st, ST_BATCH_ADD);
	bind_text(s, 1, b->agent_id);
	bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)b->seq);
	sqlite3_bind_blob(s, 4, b->hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, b->prev_hash, (int)b->prev_hash_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (int64_t)b->n_events);
	sqlite3_bind_int64(s, 7, (int64_t)b->received_ns);
	if (res->chain_break[0])
		bind_text(s, 8, res->chain_break);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(st, "store batch");
	for (size_t i = 0; i < b->n_events; i++)
		if ((rc = put_event(st, b, i, &ts)))
			return rc;
	if ((rc = flush_touches(st, b, &ts)))
		return rc;
	for (size_t i = 0; i < b->n_gaps; i++)
		if ((rc = put_gap(st, b, b->gaps[i])))
			return rc;
	res->status = STORE_STORED;
	res->stored = b->n_events;
	return 0;
}

int sqlite_store_put_batch(struct store *store, const struct store_batch *b,
			   struct store_put_result *res)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s;
	int rc;

	memset(res, 0, sizeof(*res));
	if (exec_stmt(st, ST_BEGIN))
		return db_err(st, "begin transaction");
	rc = put_batch_locked(st, b, res);
	if (!rc) {
		s = sqlite_stmt_get(st, ST_AGENT_SEEN);
		bind_text(s, 1, b->agent_id);
		sqlite3_bind_int64(s, 2, (int64_t)b->received_ns);
		bind_text(s, 3, b->boot_id);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = db_err(st, "update agent");
	}
	if (!rc && exec_stmt(st, ST_COMMIT))
		rc = db_err(st, "commit batch");
	if (rc) {
		exec_stmt(st, ST_ROLLBACK);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}

int sqlite_store_prune(struct store *store, uint64_t before_ns, uint32_t max_rows,
		       uint64_t *deleted)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = NULL;
	int rc;

	*deleted = 0;
	/* small chunks: each is one short write transaction, so ingest waits at most that long */
	if (sqlite3_prepare_v2(st->db, "DELETE FROM events WHERE id IN (SELECT id FROM events"
			       " WHERE ts < ?1 ORDER BY ts LIMIT ?2)", -1, &s, NULL) != SQLITE_OK)
		return db_err(st, "prepare pruning");
	sqlite3_bind_int64(s, 1, (int64_t)before_ns);
	sqlite3_bind_int64(s, 2, max_rows);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_err(st, "prune events");
	*deleted = (uint64_t)sqlite3_changes(st->db);
	if (*deleted == max_rows)
		return 0;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM sessions WHERE coalesce(end_ns, last_ns) < ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return db_err(st, "prepare pruning");
	sqlite3_bind_int64(s, 1, (int64_t)before_ns);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_err(st, "prune sessions");
}

int sqlite_store_set_durable(struct store *store, int durable)
{
	struct sqlite_store *st = sqlite_of(store);

	if (sqlite3_exec(st->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			 NULL, NULL, NULL) != SQLITE_OK)
		return db_err(st, "set synchronous");
	return 0;
}
