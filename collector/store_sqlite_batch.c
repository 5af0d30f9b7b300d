// SPDX-License-Identifier: Apache-2.0
/*
 * The SQLite backend's rows for store_put_batch (store_batch.h): each operation is one of the
 * statements prepared at open (store_sqlite.c). The transaction is BEGIN IMMEDIATE: the write
 * lock is taken before the chain is read, so two collectors on one file verify an agent's chain
 * one batch at a time.
 */
#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "collector/store.h"
#include "collector/store_batch.h"
#include "collector/store_sqlite.h"

static int exec_stmt(struct sqlite_store *st, enum store_stmt id)
{
	sqlite3_stmt *s = sqlite_stmt_get(st, id);
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

/* Runs a statement that answers no rows. */
static int done(struct sqlite_store *st, sqlite3_stmt *s, const char *what)
{
	return sqlite3_step(s) == SQLITE_DONE ? 0 : sqlite_db_err(st, what);
}

static int sqlite_rows_begin(struct store *store, const struct store_batch *b)
{
	struct sqlite_store *st = sqlite_of(store);

	return exec_stmt(st, ST_BEGIN) ? sqlite_db_err(st, "begin transaction") : 0;
}

static int sqlite_rows_commit(struct store *store)
{
	struct sqlite_store *st = sqlite_of(store);

	return exec_stmt(st, ST_COMMIT) ? sqlite_db_err(st, "commit batch") : 0;
}

static void sqlite_rows_rollback(struct store *store)
{
	exec_stmt(sqlite_of(store), ST_ROLLBACK);
}

/* Copies at most STORE_HASH_LEN bytes of a blob column; *len is the column's own length. */
static void blob(sqlite3_stmt *s, int col, uint8_t *out, size_t *len)
{
	size_t n = (size_t)sqlite3_column_bytes(s, col);

	*len = n;
	if (n)
		memcpy(out, sqlite3_column_blob(s, col), n < STORE_HASH_LEN ? n : STORE_HASH_LEN);
}

static int sqlite_rows_batch_find(struct store *store, const char *what, const char *agent_id,
				  const char *boot_id, uint64_t seq, struct store_link *out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s;
	int rc;

	if (boot_id) {
		s = sqlite_stmt_get(st, ST_BATCH_GET);
		sqlite_bind_text(s, 1, agent_id);
		sqlite_bind_text(s, 2, boot_id);
		sqlite3_bind_int64(s, 3, (int64_t)seq);
	} else {
		s = sqlite_stmt_get(st, ST_BATCH_BY_SEQ);
		sqlite_bind_text(s, 1, agent_id);
		sqlite3_bind_int64(s, 2, (int64_t)seq);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return sqlite_db_err(st, what);
	blob(s, 0, out->hash, &out->hash_len);
	blob(s, 1, out->prev_hash, &out->prev_hash_len);
	sqlite3_reset(s);
	return 1;
}

static int sqlite_rows_batch_add(struct store *store, const struct store_batch *b,
				 const char *flagged)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_BATCH_ADD);

	sqlite_bind_text(s, 1, b->agent_id);
	sqlite_bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)b->seq);
	sqlite3_bind_blob(s, 4, b->hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, b->prev_hash, (int)b->prev_hash_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (int64_t)b->n_events);
	sqlite3_bind_int64(s, 7, (int64_t)b->received_ns);
	if (flagged)
		sqlite_bind_text(s, 8, flagged);
	return done(st, s, "store batch");
}

static int sqlite_rows_chain_break_add(struct store *store, const struct store_batch *b,
				       uint64_t seq, const char *kind)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_CHAIN_BREAK);

	sqlite_bind_text(s, 1, b->agent_id);
	sqlite_bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)seq);
	sqlite_bind_text(s, 4, kind);
	sqlite3_bind_int64(s, 5, (int64_t)b->received_ns);
	return done(st, s, "record chain break");
}

static int sqlite_rows_event_add(struct store *store, const struct store_event_row *r)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_EVENT_ADD);

	sqlite_bind_text(s, 1, r->agent_id);
	sqlite_bind_text(s, 2, r->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)r->batch_seq);
	sqlite3_bind_int64(s, 4, (int64_t)r->seq);
	sqlite3_bind_int64(s, 5, (int64_t)r->ts);
	sqlite_bind_text(s, 6, r->type);
	sqlite_bind_text(s, 7, r->host);
	if (r->session_id) {
		sqlite_bind_text(s, 8, r->session_id);
		sqlite_bind_text(s, 9, r->tool);
	}
	if (r->has_proc) {
		sqlite_bind_text(s, 10, r->user);
		sqlite3_bind_int64(s, 11, r->uid);
		sqlite3_bind_int64(s, 12, r->pid);
		sqlite3_bind_int64(s, 13, r->ppid);
		sqlite_bind_text(s, 14, r->comm);
		sqlite_bind_text(s, 15, r->exe);
	}
	sqlite3_bind_text(s, 16, r->detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, 17, r->pb, (int)r->pb_len, SQLITE_STATIC);
	return done(st, s, "store event");
}

static int sqlite_rows_session_touch(struct store *store, const char *agent_id,
				     const struct session_touch *t)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_SESSION_TOUCH);

	sqlite_bind_text(s, 1, t->id);
	sqlite_bind_text(s, 2, t->tool);
	sqlite_bind_text(s, 3, t->host);
	sqlite_bind_text(s, 4, t->user);
	sqlite_bind_text(s, 5, agent_id);
	if (t->root_pid)
		sqlite3_bind_int64(s, 6, t->root_pid);
	sqlite3_bind_int64(s, 7, (int64_t)t->first_ns);
	sqlite3_bind_int64(s, 8, (int64_t)t->last_ns);
	sqlite3_bind_int64(s, 9, (int64_t)t->events);
	return done(st, s, "update session");
}

static int sqlite_rows_session_start(struct store *store, const char *session_id, const char *cwd,
				     const char *argv_json, const char *user)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_SESSION_START);

	sqlite_bind_text(s, 1, session_id);
	sqlite_bind_text(s, 2, cwd);
	sqlite3_bind_text(s, 3, argv_json, -1, SQLITE_TRANSIENT);
	sqlite_bind_text(s, 4, user);
	return done(st, s, "store session start");
}

static int sqlite_rows_session_end(struct store *store, const char *session_id, uint64_t end_ns,
				   int32_t exit_code, const char *signal)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_SESSION_END);

	sqlite_bind_text(s, 1, session_id);
	sqlite3_bind_int64(s, 2, (int64_t)end_ns);
	sqlite3_bind_int64(s, 3, exit_code);
	sqlite_bind_text(s, 4, signal);
	return done(st, s, "store session end");
}

static int sqlite_rows_provenance_add(struct store *store, const struct store_prov_row *r)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_PROV_ADD);

	sqlite_bind_text(s, 1, r->sha256);
	sqlite_bind_text(s, 2, r->path);
	sqlite_bind_text(s, 3, r->session_id);
	sqlite_bind_text(s, 4, r->tool);
	sqlite_bind_text(s, 5, r->host);
	sqlite_bind_text(s, 6, r->user);
	sqlite3_bind_int64(s, 7, (int64_t)r->ts);
	sqlite_bind_text(s, 8, r->agent_id);
	if (r->has_pid)
		sqlite3_bind_int64(s, 9, r->pid);
	sqlite3_bind_int64(s, 10, (int64_t)r->size);
	if (r->renamed_from)
		sqlite_bind_text(s, 11, r->renamed_from);
	return done(st, s, "store provenance");
}

static int sqlite_rows_gap_add(struct store *store, const struct store_batch *b,
			       const Aitrail__V1__Gap *g)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_GAP_ADD);

	sqlite_bind_text(s, 1, b->agent_id);
	sqlite_bind_text(s, 2, b->boot_id);
	sqlite3_bind_int64(s, 3, (int64_t)g->from_seq);
	sqlite3_bind_int64(s, 4, (int64_t)g->to_seq);
	sqlite3_bind_int64(s, 5, (int64_t)g->events);
	sqlite_bind_text(s, 6, g->reason);
	sqlite3_bind_int64(s, 7, (int64_t)b->received_ns);
	return done(st, s, "store gap");
}

static int sqlite_rows_agent_stats(struct store *store, const char *agent_id,
				   const Aitrail__V1__AgentStats *stats, uint64_t ts)
{
	return sqlite_put_stats(sqlite_of(store), agent_id, stats, ts);
}

static int sqlite_rows_agent_seen(struct store *store, const struct store_batch *b)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = sqlite_stmt_get(st, ST_AGENT_SEEN);

	sqlite_bind_text(s, 1, b->agent_id);
	sqlite3_bind_int64(s, 2, (int64_t)b->received_ns);
	sqlite_bind_text(s, 3, b->boot_id);
	return done(st, s, "update agent");
}

const struct store_rows_ops sqlite_rows_ops = {
	.begin = sqlite_rows_begin,
	.commit = sqlite_rows_commit,
	.rollback = sqlite_rows_rollback,
	.batch_find = sqlite_rows_batch_find,
	.batch_add = sqlite_rows_batch_add,
	.chain_break_add = sqlite_rows_chain_break_add,
	.event_add = sqlite_rows_event_add,
	.session_touch = sqlite_rows_session_touch,
	.session_start = sqlite_rows_session_start,
	.session_end = sqlite_rows_session_end,
	.provenance_add = sqlite_rows_provenance_add,
	.gap_add = sqlite_rows_gap_add,
	.agent_stats = sqlite_rows_agent_stats,
	.agent_seen = sqlite_rows_agent_seen,
};
