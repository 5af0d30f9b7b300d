// SPDX-License-Identifier: Apache-2.0
/*
 * SQLite backend of collector/store.h: WAL, one transaction per batch, statements prepared once.
 * synchronous=NORMAL by default: a collector crash loses nothing committed, but an OS crash or
 * power loss can lose the last batches already acknowledged (the agent has dropped them from its
 * spool); store_set_durable() trades throughput for an fsync per batch. The batch rows are
 * store_sqlite_batch.c's, the query half store_sqlite_query.c's.
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
	[ST_BATCH_GET] = "SELECT hash, prev_hash FROM batches WHERE agent_id = ?1 AND boot_id = ?2"
			 " AND seq = ?3",
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

int sqlite_db_err(struct sqlite_store *st, const char *what)
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

int sqlite_store_agent_add(struct store *store, const char *agent_id, const char *key_hash,
			   const Aitrail__V1__AgentInfo *info, uint64_t now_ns)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_ADD);

	sqlite_bind_text(s, 1, agent_id);
	sqlite_bind_text(s, 2, key_hash);
	sqlite_bind_text(s, 3, info ? info->hostname : "");
	sqlite_bind_text(s, 4, info ? info->host_id : "");
	sqlite_bind_text(s, 5, info ? info->boot_id : "");
	sqlite_bind_text(s, 6, info ? info->agent_version : "");
	sqlite3_bind_int64(s, 7, (int64_t)now_ns);
	if (sqlite3_step(s) != SQLITE_DONE)
		return sqlite_db_err(st, "add agent");
	return 0;
}

int sqlite_store_agent_by_key(struct store *store, const char *key_hash,
			      struct store_agent *out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_BY_KEY);
	int rc;

	sqlite_bind_text(s, 1, key_hash);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return sqlite_db_err(st, "look up agent key");
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

	sqlite_bind_text(s, 1, agent_id);
	sqlite3_bind_int64(s, 2, (int64_t)now_ns);
	if (sqlite3_step(s) != SQLITE_DONE)
		return sqlite_db_err(st, "revoke agent");
	return sqlite3_changes(st->db) ? 0 : -ENOENT;
}

int sqlite_put_stats(struct sqlite_store *st, const char *agent_id,
		     const Aitrail__V1__AgentStats *stats, uint64_t ts)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_STATS);
	char *js = store_stats_json(stats);
	int rc;

	if (!js)
		return -ENOMEM;
	sqlite_bind_text(s, 1, agent_id);
	sqlite3_bind_text(s, 2, js, -1, free);
	sqlite3_bind_int64(s, 3, (int64_t)ts);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sqlite_db_err(st, "store agent stats");
}

int sqlite_store_heartbeat(struct store *store, const char *agent_id,
			   const Aitrail__V1__Heartbeat *hb, uint64_t now_ns)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_HEARTBEAT);

	sqlite_bind_text(s, 1, agent_id);
	sqlite3_bind_int64(s, 2, (int64_t)now_ns);
	sqlite3_bind_int64(s, 3, hb->interval_s);
	sqlite3_bind_int64(s, 4, (int64_t)hb->last_batch_seq);
	sqlite3_bind_int64(s, 5, (int64_t)hb->spool_bytes);
	sqlite3_bind_int64(s, 6, (int64_t)hb->spool_events);
	sqlite_bind_text(s, 7, hb->agent ? hb->agent->hostname : "");
	sqlite_bind_text(s, 8, hb->agent ? hb->agent->agent_version : "");
	if (sqlite3_step(s) != SQLITE_DONE)
		return sqlite_db_err(st, "store heartbeat");
	if (hb->stats)
		return sqlite_put_stats(st, agent_id, hb->stats, now_ns);
	return 0;
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
		return sqlite_db_err(st, "prepare pruning");
	sqlite3_bind_int64(s, 1, (int64_t)before_ns);
	sqlite3_bind_int64(s, 2, max_rows);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sqlite_db_err(st, "prune events");
	*deleted = (uint64_t)sqlite3_changes(st->db);
	if (*deleted == max_rows)
		return 0;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM sessions WHERE coalesce(end_ns, last_ns) < ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return sqlite_db_err(st, "prepare pruning");
	sqlite3_bind_int64(s, 1, (int64_t)before_ns);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sqlite_db_err(st, "prune sessions");
}

int sqlite_store_set_durable(struct store *store, int durable)
{
	struct sqlite_store *st = sqlite_of(store);

	if (sqlite3_exec(st->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			 NULL, NULL, NULL) != SQLITE_OK)
		return sqlite_db_err(st, "set synchronous");
	return 0;
}
