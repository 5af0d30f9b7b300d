// SPDX-License-Identifier: Apache-2.0
/*
 * store_put_batch for every backend: what a batch means (store_batch.h), decided here once; the
 * backend's store_rows_ops only write and read rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "collector/event_detail.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_batch.h"

#define TOUCH_MAX 32

/* The sessions a batch touched and not yet written; last is the one touched last. */
struct touches {
	struct session_touch t[TOUCH_MAX];
	int n, last;
};

/* One batch being stored. */
struct put {
	struct store *st;
	const struct store_rows_ops *rows;
	const struct store_batch *b;
	struct store_put_result *res;
	struct touches ts;
};

static int chain_break(struct put *p, uint64_t seq, const char *kind)
{
	int rc = p->rows->chain_break_add(p->st, p->b, seq, kind);

	if (rc)
		return rc;
	log_warn("agent %s: hash chain break at batch %llu: %s", p->b->agent_id,
		 (unsigned long long)seq, kind);
	if (!p->res->chain_break[0])
		snprintf(p->res->chain_break, sizeof(p->res->chain_break), "%s", kind);
	return 0;
}

static bool same(const uint8_t *stored, size_t stored_len, const uint8_t *v, size_t len)
{
	return stored_len == len && (!len || !memcmp(stored, v, len));
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Checks the batch against its stored neighbours: its prev_hash against batch seq-1's hash, and
 * batch seq+1's prev_hash against its hash (batches may arrive out of order after retries).
 */
static int verify_chain(struct put *p)
{
	const struct store_batch *b = p->b;
	struct store_link l;
	int rc;

	if (!b->hash_ok && (rc = chain_break(p, b->seq, "hash_mismatch")))
		return rc;
	if (b->seq == 1) {
		if (!is_zero(b->prev_hash, b->prev_hash_len))
			return chain_break(p, b->seq, "prev_mismatch");
	} else {
		rc = p->rows->batch_find(p->st, "look up previous batch", b->agent_id, NULL,
					 b->seq - 1, &l);
		if (rc < 0)
			return rc;
		if (rc && !same(l.hash, l.hash_len, b->prev_hash, b->prev_hash_len) &&
		    (rc = chain_break(p, b->seq, "prev_mismatch")))
			return rc;
	}
	rc = p->rows->batch_find(p->st, "look up next batch", b->agent_id, NULL, b->seq + 1, &l);
	if (rc < 0)
		return rc;
	if (rc && !same(l.prev_hash, l.prev_hash_len, b->hash, STORE_HASH_LEN))
		return chain_break(p, b->seq + 1, "prev_mismatch");
	return 0;
}

static int flush_touches(struct put *p)
{
	struct touches *ts = &p->ts;
	int rc;

	for (int i = 0; i < ts->n; i++)
		if ((rc = p->rows->session_touch(p->st, p->b->agent_id, &ts->t[i])))
			return rc;
	ts->n = 0;
	ts->last = 0;
	return 0;
}

/* Adds ev (which has a session) to its session's touch; -ENOSPC: flush the touches, add again. */
static int touches_add(struct touches *ts, const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__Session *ss = ev->session;
	const char *user = ev->proc ? ev->proc->user : "";
	struct session_touch *t = NULL;
	int i;

	if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START && ev->session_start->user[0])
		user = ev->session_start->user;
	if (!user)
		user = "";
	if (ts->n && !strcmp(ts->t[ts->last].id, ss->id))
		t = &ts->t[ts->last];
	for (i = 0; !t && i < ts->n; i++)
		if (!strcmp(ts->t[i].id, ss->id))
			t = &ts->t[i];
	if (!t) {
		if (ts->n == TOUCH_MAX)
			return -ENOSPC;
		t = &ts->t[ts->n++];
		*t = (struct session_touch){ .id = ss->id, .tool = ss->tool ? ss->tool : "",
					     .host = ev->host ? ev->host : "", .user = user,
					     .root_pid = ss->root_pid, .first_ns = ev->ts,
					     .last_ns = ev->ts };
	}
	ts->last = t - ts->t;
	if (!t->tool[0] && ss->tool)
		t->tool = ss->tool;
	if (!t->user[0])
		t->user = user;
	if (!t->root_pid)
		t->root_pid = ss->root_pid;
	if (ev->ts < t->first_ns)
		t->first_ns = ev->ts;
	if (ev->ts > t->last_ns)
		t->last_ns = ev->ts;
	t->events++;
	return 0;
}

static int touch_session(struct put *p, const Aitrail__V1__Event *ev)
{
	int rc = touches_add(&p->ts, ev);

	if (rc == -ENOSPC && !(rc = flush_touches(p)))
		rc = touches_add(&p->ts, ev);
	return rc;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* Session start and end details; the session row exists by then (flush_touches ran). */
static int put_session_edge(struct put *p, const Aitrail__V1__Event *ev)
{
	const char *id = ev->session->id;
	int rc = 0;

	if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START) {
		const Aitrail__V1__SessionStart *s = ev->session_start;
		char *argv = store_argv_json(s->n_argv, s->argv);

		rc = p->rows->session_start(p->st, id, str(s->cwd), argv, str(s->user));
		free(argv);
	} else if (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_END) {
		rc = p->rows->session_end(p->st, id, ev->ts, ev->session_end->exit_code,
					  str(ev->session_end->signal));
	}
	return rc;
}

/* A file_write with a content hash goes into the provenance ledger. */
static int put_provenance(struct put *p, const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__FileWrite *fw = ev->file_write;
	const Aitrail__V1__Session *ss = ev->session;
	struct store_prov_row r;

	if (!fw->sha256 || strlen(fw->sha256) != 64 || !fw->path[0])
		return 0; /* not hashed (too large, gone): nothing to match content against */
	r = (struct store_prov_row){
		.sha256 = fw->sha256,
		.path = fw->path,
		.session_id = ss ? str(ss->id) : "",
		.tool = ss ? str(ss->tool) : "",
		.host = str(ev->host),
		.user = ev->proc ? str(ev->proc->user) : "",
		.agent_id = p->b->agent_id,
		.ts = ev->ts,
		.size = fw->size,
		.has_pid = ev->proc != NULL,
		.pid = ev->proc ? ev->proc->pid : 0,
		.renamed_from = fw->renamed_from && fw->renamed_from[0] ? fw->renamed_from : NULL,
	};
	return p->rows->provenance_add(p->st, &r);
}

static int put_event(struct put *p, size_t i)
{
	const struct store_batch *b = p->b;
	const Aitrail__V1__Event *ev = b->events[i];
	const Aitrail__V1__Proc *pr = ev->proc;
	const Aitrail__V1__Session *ss = ev->session;
	bool has_session = ss && ss->id[0];
	struct store_event_row r = {
		.agent_id = b->agent_id,
		.boot_id = b->boot_id,
		.batch_seq = b->seq,
		.seq = ev->seq,
		.ts = ev->ts,
		.type = str(ev->type),
		.host = str(ev->host),
		.session_id = has_session ? ss->id : NULL,
		.tool = has_session ? str(ss->tool) : NULL,
		.has_proc = pr != NULL,
		.pb = b->packed[i],
		.pb_len = b->packed_len[i],
	};
	char detail[1024];
	int rc;

	if (pr) {
		r.user = str(pr->user);
		r.comm = str(pr->comm);
		r.exe = str(pr->exe);
		r.uid = pr->uid;
		r.pid = pr->pid;
		r.ppid = pr->ppid;
	}
	event_detail(ev, detail, sizeof(detail));
	r.detail = detail;
	if ((rc = p->rows->event_add(p->st, &r)))
		return rc;
	if (has_session && (rc = touch_session(p, ev)))
		return rc;
	if (has_session && (ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_START ||
			    ev->body_case == AITRAIL__V1__EVENT__BODY_SESSION_END) &&
	    ((rc = flush_touches(p)) || (rc = put_session_edge(p, ev))))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_FILE_WRITE && (rc = put_provenance(p, ev)))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_GAP &&
	    (rc = p->rows->gap_add(p->st, b, ev->gap)))
		return rc;
	if (ev->body_case == AITRAIL__V1__EVENT__BODY_AGENT_STATS &&
	    (rc = p->rows->agent_stats(p->st, b->agent_id, ev->agent_stats, ev->ts)))
		return rc;
	return 0;
}

static int put_batch_locked(struct put *p)
{
	const struct store_batch *b = p->b;
	struct store_link l;
	int rc;

	rc = p->rows->batch_find(p->st, "look up batch", b->agent_id, b->boot_id, b->seq, &l);
	if (rc < 0)
		return rc;
	if (rc) {
		p->res->status = STORE_DUPLICATE;
		/* a resend must be the same batch; anything else is a rewrite of history */
		if (same(l.hash, l.hash_len, b->hash, STORE_HASH_LEN))
			return 0;
		return chain_break(p, b->seq, "replay_mismatch");
	}
	if ((rc = verify_chain(p)))
		return rc;
	rc = p->rows->batch_add(p->st, b, p->res->chain_break[0] ? p->res->chain_break : NULL);
	if (rc)
		return rc;
	for (size_t i = 0; i < b->n_events; i++)
		if ((rc = put_event(p, i)))
			return rc;
	if (p->rows->events_flush && (rc = p->rows->events_flush(p->st)))
		return rc;
	if ((rc = flush_touches(p)))
		return rc;
	for (size_t i = 0; i < b->n_gaps; i++)
		if ((rc = p->rows->gap_add(p->st, b, b->gaps[i])))
			return rc;
	p->res->status = STORE_STORED;
	p->res->stored = b->n_events;
	return 0;
}

int store_batch_put(struct store *st, const struct store_rows_ops *rows,
		    const struct store_batch *b, struct store_put_result *res)
{
	struct put p = { .st = st, .rows = rows, .b = b, .res = res };
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = rows->begin(st, b)))
		return rc;
	rc = put_batch_locked(&p);
	if (!rc)
		rc = rows->agent_seen(st, b);
	if (!rc)
		rc = rows->commit(st);
	if (rc) {
		rows->rollback(st);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}
