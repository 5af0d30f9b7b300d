// SPDX-License-Identifier: Apache-2.0
/*
 * The PostgreSQL backend's rows for store_put_batch (store_batch.h). A batch's transaction holds
 * the agent's advisory lock, so concurrent collectors verify an agent's chain one batch at a
 * time, as SQLite's single writer does. Event rows are sent in chunks (ev_rows below).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/store.h"
#include "collector/store_batch.h"
#include "collector/store_pg.h"

/*
 * Event rows go in EV_CHUNK to a statement: one round trip and one plan per chunk rather than
 * per event (ingest was 18 times slower than SQLite's one row at a time). The rows' other effects
 * (sessions, provenance, gaps) do not read the events table, so they need not wait for them.
 */
#define EV_COLS 17
#define EV_CHUNK 64
_Static_assert(EV_CHUNK * EV_COLS <= 65535, "libpq takes at most 65535 parameters");

struct pg_ev_rows {
	int n;
	struct pg_params row[EV_CHUNK];
	char detail[EV_CHUNK][1024];
	const char *v[EV_CHUNK * EV_COLS];
	int len[EV_CHUNK * EV_COLS], fmt[EV_CHUNK * EV_COLS];
	/* "$65535, " is 8 characters; a row adds "(" and ")"; the head is below 200 */
	char sql[EV_CHUNK * (EV_COLS * 8 + 2) + 256];
};

static int pg_rows_begin(struct store *store, const struct store_batch *b)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };

	if (pg_cmd(st, "begin transaction", "BEGIN", NULL, NULL))
		return -EIO;
	if (st->ev)
		st->ev->n = 0;
	pgp_text(&p, b->agent_id);
	if (pg_cmd(st, "lock agent", "SELECT pg_advisory_xact_lock(hashtext($1))", &p, NULL)) {
		pg_cmd(st, "roll back batch", "ROLLBACK", NULL, NULL);
		return -EIO;
	}
	return 0;
}

static int pg_rows_commit(struct store *store)
{
	return pg_cmd(pg_of(store), "commit batch", "COMMIT", NULL, NULL);
}

static void pg_rows_rollback(struct store *store)
{
	struct pg_store *st = pg_of(store);

	if (st->ev)
		st->ev->n = 0;
	pg_cmd(st, "roll back batch", "ROLLBACK", NULL, NULL);
}

/* Copies at most STORE_HASH_LEN bytes of a bytea column; *len is the column's own length. */
static void bytes(const PGresult *r, int col, uint8_t *out, size_t *len)
{
	size_t n = PQgetisnull(r, 0, col) ? 0 : (size_t)PQgetlength(r, 0, col);

	*len = n;
	if (n)
		memcpy(out, PQgetvalue(r, 0, col), n < STORE_HASH_LEN ? n : STORE_HASH_LEN);
}

static int pg_rows_batch_find(struct store *store, const char *what, const char *agent_id,
			      const char *boot_id, uint64_t seq, struct store_link *out)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	PGresult *r;
	int found;

	pgp_text(&p, agent_id);
	pgp_i64(&p, (int64_t)seq);
	if (boot_id) {
		pgp_text(&p, boot_id);
		r = pg_exec_bin(st, what, "SELECT hash, prev_hash FROM batches WHERE agent_id = $1"
				" AND seq = $2 AND boot_id = $3", &p);
	} else {
		r = pg_exec_bin(st, what, "SELECT hash, prev_hash FROM batches WHERE agent_id = $1"
				" AND seq = $2 ORDER BY received_ns DESC LIMIT 1", &p);
	}
	if (!r)
		return -EIO;
	found = PQntuples(r) > 0;
	if (found) {
		bytes(r, 0, out->hash, &out->hash_len);
		bytes(r, 1, out->prev_hash, &out->prev_hash_len);
	}
	PQclear(r);
	return found;
}

static int pg_rows_batch_add(struct store *store, const struct store_batch *b, const char *flagged)
{
	struct pg_params p = { 0 };

	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)b->seq);
	pgp_bytes(&p, b->hash, STORE_HASH_LEN);
	pgp_bytes(&p, b->prev_hash_len ? b->prev_hash : NULL, b->prev_hash_len);
	pgp_i64(&p, (int64_t)b->n_events);
	pgp_i64(&p, (int64_t)b->received_ns);
	pgp_opt_text(&p, flagged);
	return pg_cmd(pg_of(store), "store batch", "INSERT INTO batches (agent_id, boot_id, seq,"
		      " hash, prev_hash, events, received_ns, flagged) VALUES ($1, $2, $3, $4, $5,"
		      " $6, $7, $8)", &p, NULL);
}

static int pg_rows_chain_break_add(struct store *store, const struct store_batch *b, uint64_t seq,
				   const char *kind)
{
	struct pg_params p = { 0 };

	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)seq);
	pgp_text(&p, kind);
	pgp_i64(&p, (int64_t)b->received_ns);
	return pg_cmd(pg_of(store), "record chain break", "INSERT INTO chain_breaks (agent_id,"
		      " boot_id, seq, kind, detected_ns) VALUES ($1, $2, $3, $4, $5)", &p, NULL);
}

static int pg_rows_events_flush(struct store *store)
{
	struct pg_store *st = pg_of(store);
	struct pg_ev_rows *rows = st->ev;
	size_t pos;
	PGresult *r;
	int k = 0;

	if (!rows || !rows->n)
		return 0;
	pos = (size_t)snprintf(rows->sql, sizeof(rows->sql), "INSERT INTO events (agent_id,"
			       " boot_id, batch_seq, seq, ts, type, host, session_id, tool, usr,"
			       " uid, pid, ppid, comm, exe, detail, pb) VALUES ");
	for (int i = 0; i < rows->n; i++) {
		for (int c = 0; c < EV_COLS; c++, k++) {
			rows->v[k] = rows->row[i].v[c];
			rows->len[k] = rows->row[i].len[c];
			rows->fmt[k] = rows->row[i].fmt[c];
			pos += (size_t)snprintf(rows->sql + pos, sizeof(rows->sql) - pos, "%s$%d%s",
						c ? "" : i ? ", (" : "(", k + 1,
						c == EV_COLS - 1 ? ")" : ", ");
		}
	}
	rows->n = 0;
	r = pg_exec_raw(st, "store events", rows->sql, k, rows->v, rows->len, rows->fmt, 0);
	PQclear(r);
	return r ? 0 : -EIO;
}

static int pg_rows_event_add(struct store *store, const struct store_event_row *r)
{
	struct pg_store *st = pg_of(store);
	struct pg_params *p;
	char *detail;

	/* kept from batch to batch: the chunk is some 150 kB */
	if (!st->ev && !(st->ev = calloc(1, sizeof(*st->ev))))
		return -ENOMEM;
	p = &st->ev->row[st->ev->n];
	detail = st->ev->detail[st->ev->n];
	snprintf(detail, sizeof(st->ev->detail[0]), "%s", r->detail);
	memset(p, 0, sizeof(*p));
	pgp_text(p, r->agent_id);
	pgp_text(p, r->boot_id);
	pgp_i64(p, (int64_t)r->batch_seq);
	pgp_i64(p, (int64_t)r->seq);
	pgp_i64(p, (int64_t)r->ts);
	pgp_text(p, r->type);
	pgp_text(p, r->host);
	if (r->session_id) {
		pgp_text(p, r->session_id);
		pgp_text(p, r->tool);
	} else {
		pgp_null(p);
		pgp_null(p);
	}
	if (r->has_proc) {
		pgp_text(p, r->user);
		pgp_i64(p, r->uid);
		pgp_i64(p, r->pid);
		pgp_i64(p, r->ppid);
		pgp_text(p, r->comm);
		pgp_text(p, r->exe);
	} else {
		for (int k = 0; k < 6; k++)
			pgp_null(p);
	}
	pgp_text(p, detail);
	pgp_bytes(p, r->pb ? r->pb : (const uint8_t *)"", r->pb_len);
	if (++st->ev->n == EV_CHUNK)
		return pg_rows_events_flush(store);
	return 0;
}

static int pg_rows_session_touch(struct store *store, const char *agent_id,
				 const struct session_touch *t)
{
	struct pg_params p = { 0 };

	pgp_text(&p, t->id);
	pgp_text(&p, t->tool);
	pgp_text(&p, t->host);
	pgp_text(&p, t->user);
	pgp_text(&p, agent_id);
	if (t->root_pid)
		pgp_i64(&p, t->root_pid);
	else
		pgp_null(&p);
	pgp_i64(&p, (int64_t)t->first_ns);
	pgp_i64(&p, (int64_t)t->last_ns);
	pgp_i64(&p, (int64_t)t->events);
	return pg_cmd(pg_of(store), "update session", "INSERT INTO sessions AS s (id, tool, host,"
		      " usr, agent_id, root_pid, start_ns, last_ns, events) VALUES ($1, $2, $3, $4,"
		      " $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET"
		      " start_ns = least(s.start_ns, excluded.start_ns),"
		      " last_ns = greatest(s.last_ns, excluded.last_ns),"
		      " events = s.events + excluded.events,"
		      " tool = CASE WHEN s.tool = '' THEN excluded.tool ELSE s.tool END,"
		      " usr = CASE WHEN s.usr = '' THEN excluded.usr ELSE s.usr END,"
		      " root_pid = coalesce(s.root_pid, excluded.root_pid)", &p, NULL);
}

static int pg_rows_session_start(struct store *store, const char *session_id, const char *cwd,
				 const char *argv_json, const char *user)
{
	struct pg_params p = { 0 };

	pgp_text(&p, session_id);
	pgp_text(&p, cwd);
	if (argv_json)
		pgp_text(&p, argv_json);
	else
		pgp_null(&p);
	pgp_text(&p, user);
	return pg_cmd(pg_of(store), "store session start", "UPDATE sessions SET cwd = $2,"
		      " argv = $3, usr = CASE WHEN $4 = '' THEN usr ELSE $4 END WHERE id = $1", &p,
		      NULL);
}

static int pg_rows_session_end(struct store *store, const char *session_id, uint64_t end_ns,
			       int32_t exit_code, const char *signal)
{
	struct pg_params p = { 0 };

	pgp_text(&p, session_id);
	pgp_i64(&p, (int64_t)end_ns);
	pgp_i64(&p, exit_code);
	pgp_text(&p, signal);
	return pg_cmd(pg_of(store), "store session end", "UPDATE sessions SET end_ns = $2,"
		      " exit_code = $3, signal = $4 WHERE id = $1", &p, NULL);
}

static int pg_rows_provenance_add(struct store *store, const struct store_prov_row *r)
{
	struct pg_params p = { 0 };

	pgp_text(&p, r->sha256);
	pgp_text(&p, r->path);
	pgp_text(&p, r->session_id);
	pgp_text(&p, r->tool);
	pgp_text(&p, r->host);
	pgp_text(&p, r->user);
	pgp_i64(&p, (int64_t)r->ts);
	pgp_text(&p, r->agent_id);
	if (r->has_pid)
		pgp_i64(&p, r->pid);
	else
		pgp_null(&p);
	pgp_i64(&p, (int64_t)r->size);
	pgp_opt_text(&p, r->renamed_from);
	return pg_cmd(pg_of(store), "store provenance", "INSERT INTO provenance (sha256, path,"
		      " session_id, tool, host, usr, ts, agent_id, pid, size, renamed_from) VALUES"
		      " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING", &p,
		      NULL);
}

static int pg_rows_gap_add(struct store *store, const struct store_batch *b,
			   const Aitrail__V1__Gap *g)
{
	struct pg_params p = { 0 };

	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)g->from_seq);
	pgp_i64(&p, (int64_t)g->to_seq);
	pgp_i64(&p, (int64_t)g->events);
	pgp_text(&p, g->reason);
	pgp_i64(&p, (int64_t)b->received_ns);
	return pg_cmd(pg_of(store), "store gap", "INSERT INTO gaps (agent_id, boot_id, from_seq,"
		      " to_seq, events, reason, received_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		      " ON CONFLICT DO NOTHING", &p, NULL);
}

static int pg_rows_agent_stats(struct store *store, const char *agent_id,
			       const Aitrail__V1__AgentStats *stats, uint64_t ts)
{
	return pg_put_stats(pg_of(store), agent_id, stats, ts);
}

static int pg_rows_agent_seen(struct store *store, const struct store_batch *b)
{
	struct pg_params p = { 0 };

	pgp_text(&p, b->agent_id);
	pgp_i64(&p, (int64_t)b->received_ns);
	pgp_text(&p, b->boot_id);
	return pg_cmd(pg_of(store), "update agent", "UPDATE agents SET last_seen_ns ="
		      " greatest(coalesce(last_seen_ns, 0), $2), boot_id = CASE WHEN $3 = ''"
		      " THEN boot_id ELSE $3 END WHERE id = $1", &p, NULL);
}

const struct store_rows_ops pg_rows_ops = {
	.begin = pg_rows_begin,
	.commit = pg_rows_commit,
	.rollback = pg_rows_rollback,
	.batch_find = pg_rows_batch_find,
	.batch_add = pg_rows_batch_add,
	.chain_break_add = pg_rows_chain_break_add,
	.event_add = pg_rows_event_add,
	.events_flush = pg_rows_events_flush,
	.session_touch = pg_rows_session_touch,
	.session_start = pg_rows_session_start,
	.session_end = pg_rows_session_end,
	.provenance_add = pg_rows_provenance_add,
	.gap_add = pg_rows_gap_add,
	.agent_stats = pg_rows_agent_stats,
	.agent_seen = pg_rows_agent_seen,
};
