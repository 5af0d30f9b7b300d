// SPDX-License-Identifier: Apache-2.0
/*
 * PostgreSQL backend: store_put_batch, with the SQLite backend's semantics (collector/store.h):
 * dedup by (agent, boot, seq), the hash chain checked against both stored neighbours, gaps,
 * session rows, the provenance ledger, all in one transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_pg.h"

static int chain_break(struct pg_store *st, const struct store_batch *b, uint64_t seq,
		       const char *kind, struct store_put_result *res)
{
	struct pg_params p = { 0 };
	int rc;

	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)seq);
	pgp_text(&p, kind);
	pgp_i64(&p, (int64_t)b->received_ns);
	rc = pg_cmd(st, "record chain break", "INSERT INTO chain_breaks (agent_id, boot_id, seq,"
		    " kind, detected_ns) VALUES ($1, $2, $3, $4, $5)", &p, NULL);
	if (rc)
		return rc;
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

static bool same_bytes(const PGresult *r, int col, const uint8_t *v, size_t len)
{
	return !PQgetisnull(r, 0, col) ? (size_t)PQgetlength(r, 0, col) == len &&
					 !memcmp(PQgetvalue(r, 0, col), v, len)
				       : len == 0;
}

/* hash and prev_hash of the agent's latest batch seq (any boot); NULL on error. */
static PGresult *batch_by_seq(struct pg_store *st, const char *agent_id, uint64_t seq)
{
	struct pg_params p = { 0 };

	pgp_text(&p, agent_id);
	pgp_i64(&p, (int64_t)seq);
	return pg_exec_bin(st, "look up neighbour batch", "SELECT hash, prev_hash FROM batches"
			   " WHERE agent_id = $1 AND seq = $2 ORDER BY received_ns DESC LIMIT 1",
			   &p);
}

/*
 * Checks the batch against its stored neighbours: its prev_hash against batch seq-1's hash, and
 * batch seq+1's prev_hash against its hash (batches may arrive out of order after retries).
 */
static int verify_chain(struct pg_store *st, const struct store_batch *b,
			struct store_put_result *res)
{
	PGresult *r;
	bool same;
	int rc;

	if (!b->hash_ok && (rc = chain_break(st, b, b->seq, "hash_mismatch", res)))
		return rc;
	if (b->seq == 1) {
		if (!is_zero(b->prev_hash, b->prev_hash_len))
			return chain_break(st, b, b->seq, "prev_mismatch", res);
	} else {
		if (!(r = batch_by_seq(st, b->agent_id, b->seq - 1)))
			return -EIO;
		same = !PQntuples(r) || same_bytes(r, 0, b->prev_hash, b->prev_hash_len);
		PQclear(r);
		if (!same && (rc = chain_break(st, b, b->seq, "prev_mismatch", res)))
			return rc;
	}
	if (!(r = batch_by_seq(st, b->agent_id, b->seq + 1)))
		return -EIO;
	same = !PQntuples(r) || (PQgetlength(r, 0, 1) == STORE_HASH_LEN &&
				 !memcmp(PQgetvalue(r, 0, 1), b->hash, STORE_HASH_LEN));
	PQclear(r);
	return same ? 0 : chain_break(st, b, b->seq + 1, "prev_mismatch", res);
}

static int put_gap(struct pg_store *st, const struct store_batch *b, const Aitrail__V1__Gap *g)
{
	struct pg_params p = { 0 };

	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)g->from_seq);
	pgp_i64(&p, (int64_t)g->to_seq);
	pgp_i64(&p, (int64_t)g->events);
	pgp_text(&p, g->reason);
	pgp_i64(&p, (int64_t)b->received_ns);
	return pg_cmd(st, "store gap", "INSERT INTO gaps (agent_id, boot_id, from_seq, to_seq,"
		      " events, reason, received_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		      " ON CONFLICT DO NOTHING", &p, NULL);
}

static int flush_touches(struct pg_store *st, const struct store_batch *b, struct touches *ts)
{
	for (int i = 0; i < ts->n; i++) {
		const struct session_touch *t = &ts->t[i];
		struct pg_params p = { 0 };
		int rc;

		pgp_text(&p, t->id);
		pgp_text(&p, t->tool);
		pgp_text(&p, t->host);
		pgp_text(&p, t->user);
		pgp_text(&p, b->agent_id);
		if (t->root_pid)
			pgp_i64(&p, t->root_pid);
		else
			pgp_null(&p);
		pgp_i64(&p, (int64_t)t->first_ns);
		pgp_i64(&p, (int64_t)t->last_ns);
		pgp_i64(&p, (int64_t)t->events);
		rc = pg_cmd(st, "update session", "INSERT INTO sessions AS s (id, tool, host,"
			    " usr, agent_id, root_pid, start_ns, last_ns, events) VALUES ($1, $2,"
			    " $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET"
			    " start_ns = least(s.start_ns, excluded.start_ns),"
			    " last_ns = greatest(s.last_ns, excluded.last_ns),"
			    " events = s.events + excluded.events,"
			    " tool = CASE WHEN s.tool = '' THEN excluded.tool ELSE s.tool END,"
			    " usr = CASE WHEN s.usr = '' THEN excluded.usr ELSE s.usr END,"
			    " root_pid = coalesce(s.root_pid, excluded.root_pid)", &p, NULL);
		if (rc)
			return rc;
	}
	ts->n = 0;
	ts->last = 0;
	return 0;
}

static int touch_session(struct pg_store *st, const struct store_batch *b, struct touches *ts,
			 const Aitrail__V1__Event *ev)
{
	int rc = store_touches_add(ts, ev);

	if (rc == -ENOSPC && !(rc = flush_touches(st, b, ts)))
		rc = store_touches_add(ts, ev);
	return rc;
}

/* Session start and end details; the session row exists by then (flush_touches ran). */
static int put_session_edge(struct pg_store *st, const Aitrail__V1__Event *ev)
{
	struct pg_params p = { 0 };
	int rc = 0;

	pgp_text(&p, ev->session->id);
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START) {
		const Aitrail__V1__SessionStart *ss = ev->session_start;
		char *argv = store_argv_json(ss->n_argv, ss->argv);

		pgp_text(&p, ss->cwd);
		if (argv)
			pgp_text(&p, argv);
		else
			pgp_null(&p);
		pgp_text(&p, ss->user);
		rc = pg_cmd(st, "store session start", "UPDATE sessions SET cwd = $2, argv = $3,"
			    " usr = CASE WHEN $4 = '' THEN usr ELSE $4 END WHERE id = $1", &p,
			    NULL);
		free(argv);
	} else if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_END) {
		pgp_i64(&p, (int64_t)ev->ts);
		pgp_i64(&p, ev->session_end->exit_code);
		pgp_text(&p, ev->session_end->signal);
		rc = pg_cmd(st, "store session end", "UPDATE sessions SET end_ns = $2,"
			    " exit_code = $3, signal = $4 WHERE id = $1", &p, NULL);
	}
	return rc;
}

/* A file_write with a content hash goes into the provenance ledger. */
static int put_provenance(struct pg_store *st, const struct store_batch *b,
			  const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__FileWrite *fw = ev->file_write;
	const Aitrail__V1__Session *ss = ev->session;
	struct pg_params p = { 0 };

	if (!fw->sha256 || strlen(fw->sha256) != 64 || !fw->path[0])
		return 0; /* not hashed (too large, gone): nothing to match content against */
	pgp_text(&p, fw->sha256);
	pgp_text(&p, fw->path);
	pgp_text(&p, ss ? ss->id : "");
	pgp_text(&p, ss ? ss->tool : "");
	pgp_text(&p, ev->host);
	pgp_text(&p, ev->proc ? ev->proc->user : "");
	pgp_i64(&p, (int64_t)ev->ts);
	pgp_text(&p, b->agent_id);
	if (ev->proc)
		pgp_i64(&p, ev->proc->pid);
	else
		pgp_null(&p);
	pgp_i64(&p, fw->size);
	pgp_opt_text(&p, fw->renamed_from);
	return pg_cmd(st, "store provenance", "INSERT INTO provenance (sha256, path, session_id,"
		      " tool, host, usr, ts, agent_id, pid, size, renamed_from) VALUES ($1, $2, $3,"
		      " $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING", &p, NULL);
}

/*
 * Event rows go in EV_CHUNK to a statement: one round trip and one plan per chunk rather than
 * per event (ingest was 18 times slower than SQLite's one row at a time). The rows' other effects
 * (sessions, provenance, gaps) do not read the events table, so they need not wait for them.
 */
#define EV_COLS 17
#define EV_CHUNK 64
_Static_assert(EV_CHUNK * EV_COLS <= 65535, "libpq takes at most 65535 parameters");

struct ev_rows {
	int n;
	struct pg_params row[EV_CHUNK];
	char detail[EV_CHUNK][1024];
	const char *v[EV_CHUNK * EV_COLS];
	int len[EV_CHUNK * EV_COLS], fmt[EV_CHUNK * EV_COLS];
	/* "$65535, " is 8 characters; a row adds "(" and ")"; the head is below 200 */
	char sql[EV_CHUNK * (EV_COLS * 8 + 2) + 256];
};

static int flush_events(struct pg_store *st, struct ev_rows *rows)
{
	size_t pos;
	PGresult *r;
	int k = 0;

	if (!rows->n)
		return 0;
	pos = (size_t)snprintf(rows->sql, sizeof(rows->sql), "INSERT INTO events (agent_id,"
			       " boot_id, batch_seq, seq, ts, type, host, session_id, tool, usr, uid,"
			       " pid, ppid, comm, exe, detail, pb) VALUES ");
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

static int put_event(struct pg_store *st, const struct store_batch *b, size_t i,
		     struct touches *ts, struct ev_rows *rows)
{
	const Aitrail__V1__Event *ev = b->events[i];
	const Aitrail__V1__Proc *pr = ev->proc;
	const Aitrail__V1__Session *ss = ev->session;
	struct pg_params *p = &rows->row[rows->n];
	char *detail = rows->detail[rows->n];
	int has_session = ss && ss->id[0];
	int rc;

	event_detail(ev, detail, sizeof(rows->detail[0]));
	memset(p, 0, sizeof(*p));
	pgp_text(p, b->agent_id);
	pgp_text(p, b->boot_id);
	pgp_i64(p, (int64_t)b->seq);
	pgp_i64(p, (int64_t)ev->seq);
	pgp_i64(p, (int64_t)ev->ts);
	pgp_text(p, ev->type);
	pgp_text(p, ev->host);
	if (has_session) {
		pgp_text(p, ss->id);
		pgp_text(p, ss->tool);
	} else {
		pgp_null(p);
		pgp_null(p);
	}
	if (pr) {
		pgp_text(p, pr->user);
		pgp_i64(p, pr->uid);
		pgp_i64(p, pr->pid);
		pgp_i64(p, pr->ppid);
		pgp_text(p, pr->comm);
		pgp_text(p, pr->exe);
	} else {
		for (int k = 0; k < 6; k++)
			pgp_null(p);
	}
	pgp_text(p, detail);
	pgp_bytes(p, b->packed[i] ? b->packed[i] : (const uint8_t *)"", b->packed_len[i]);
	if (++rows->n == EV_CHUNK && (rc = flush_events(st, rows)))
		return rc;
	if (has_session && (rc = touch_session(st, b, ts, ev)))
		return rc;
	if (has_session && (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START ||
			    ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_END) &&
	    ((rc = flush_touches(st, b, ts)) || (rc = put_session_edge(st, ev))))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_FILE_WRITE &&
	    (rc = put_provenance(st, b, ev)))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_GAP && (rc = put_gap(st, b, ev->gap)))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_AGENT_STATS &&
	    (rc = pg_put_stats(st, b->agent_id, ev->agent_stats, ev->ts)))
		return rc;
	return 0;
}

static int put_batch_locked(struct pg_store *st, const struct store_batch *b,
			    struct store_put_result *res)
{
	struct touches ts = { .n = 0 };
	struct pg_params p = { 0 };
	struct ev_rows *rows;
	PGresult *r;
	bool same;
	int rc;

	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)b->seq);
	r = pg_exec_bin(st, "look up batch", "SELECT hash FROM batches WHERE agent_id = $1"
			" AND boot_id = $2 AND seq = $3", &p);
	if (!r)
		return -EIO;
	if (PQntuples(r)) {
		same = same_bytes(r, 0, b->hash, STORE_HASH_LEN);
		PQclear(r);
		res->status = STORE_DUPLICATE;
		/* a resend must be the same batch; anything else is a rewrite of history */
		return same ? 0 : chain_break(st, b, b->seq, "replay_mismatch", res);
	}
	PQclear(r);
	if ((rc = verify_chain(st, b, res)))
		return rc;
	memset(&p, 0, sizeof(p));
	pgp_text(&p, b->agent_id);
	pgp_text(&p, b->boot_id);
	pgp_i64(&p, (int64_t)b->seq);
	pgp_bytes(&p, b->hash, STORE_HASH_LEN);
	pgp_bytes(&p, b->prev_hash_len ? b->prev_hash : NULL, b->prev_hash_len);
	pgp_i64(&p, (int64_t)b->n_events);
	pgp_i64(&p, (int64_t)b->received_ns);
	pgp_opt_text(&p, res->chain_break);
	rc = pg_cmd(st, "store batch", "INSERT INTO batches (agent_id, boot_id, seq, hash,"
		    " prev_hash, events, received_ns, flagged) VALUES ($1, $2, $3, $4, $5, $6, $7,"
		    " $8)", &p, NULL);
	if (rc)
		return rc;
	if (!(rows = malloc(sizeof(*rows))))
		return -ENOMEM;
	rows->n = 0;
	for (size_t i = 0; i < b->n_events && !rc; i++)
		rc = put_event(st, b, i, &ts, rows);
	if (!rc)
		rc = flush_events(st, rows);
	free(rows);
	if (rc || (rc = flush_touches(st, b, &ts)))
		return rc;
	for (size_t i = 0; i < b->n_gaps; i++)
		if ((rc = put_gap(st, b, b->gaps[i])))
			return rc;
	res->status = STORE_STORED;
	res->stored = b->n_events;
	return 0;
}

int pg_store_put_batch(struct store *store, const struct store_batch *b,
		       struct store_put_result *res)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	int rc;

	memset(res, 0, sizeof(*res));
	if (pg_cmd(st, "begin transaction", "BEGIN", NULL, NULL))
		return -EIO;
	pgp_text(&p, b->agent_id);
	rc = pg_cmd(st, "lock agent", "SELECT pg_advisory_xact_lock(hashtext($1))", &p, NULL);
	if (!rc)
		rc = put_batch_locked(st, b, res);
	if (!rc) {
		memset(&p, 0, sizeof(p));
		pgp_text(&p, b->agent_id);
		pgp_i64(&p, (int64_t)b->received_ns);
		pgp_text(&p, b->boot_id);
		rc = pg_cmd(st, "update agent", "UPDATE agents SET last_seen_ns ="
			    " greatest(coalesce(last_seen_ns, 0), $2), boot_id = CASE WHEN $3 = ''"
			    " THEN boot_id ELSE $3 END WHERE id = $1", &p, NULL);
	}
	if (!rc)
		rc = pg_cmd(st, "commit batch", "COMMIT", NULL, NULL);
	if (rc) {
		pg_cmd(st, "roll back batch", "ROLLBACK", NULL, NULL);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}
