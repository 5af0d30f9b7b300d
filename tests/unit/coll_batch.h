/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds events and batches for the collector's tests, the way an agent would: every
 * allocation is tracked and freed with tb_free; batch hashes come from common/wire.c.
 */
#ifndef AITRAIL_TEST_COLL_BATCH_H
#define AITRAIL_TEST_COLL_BATCH_H

#include <stdlib.h>
#include <string.h>

#include "proto/event.pb-c.h"
#include "common/wire.h"
#include "proto/wire.pb-c.h"

#define TB_MAX 8192

struct tb {
	void *ptrs[TB_MAX];
	int n;
};

static inline void *tb_alloc(struct tb *t, size_t sz)
{
	void *p = calloc(1, sz);

	if (t->n < TB_MAX)
		t->ptrs[t->n++] = p;
	return p;
}

static inline void tb_free(struct tb *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->ptrs[i]);
	t->n = 0;
}

static inline char **tb_strv(struct tb *t, const char *const *v, size_t *n)
{
	char **out;

	for (*n = 0; v && v[*n]; (*n)++)
		;
	out = tb_alloc(t, (*n + 1) * sizeof(char *));
	for (size_t i = 0; i < *n; i++)
		out[i] = (char *)v[i];
	return out;
}

static inline Aitrail__V1__Event *tb_event(struct tb *t, const char *type, uint64_t ts,
					   const char *sid, const char *tool, uint32_t pid,
					   uint32_t ppid, const char *comm, uint64_t seq)
{
	Aitrail__V1__Event *ev = tb_alloc(t, sizeof(*ev));
	Aitrail__V1__Session *s = tb_alloc(t, sizeof(*s));
	Aitrail__V1__Proc *p = tb_alloc(t, sizeof(*p));

	aitrail__v1__event__init(ev);
	aitrail__v1__session__init(s);
	aitrail__v1__proc__init(p);
	ev->type = (char *)type;
	ev->ts = ts;
	ev->host = (char *)"devbox1";
	ev->seq = seq;
	if (sid) {
		s->id = (char *)sid;
		s->tool = (char *)tool;
		s->root_pid = 100;
		ev->session = s;
	}
	p->pid = pid;
	p->ppid = ppid;
	p->uid = 1000;
	p->user = (char *)"alice";
	p->comm = (char *)comm;
	p->exe = (char *)"/usr/bin/x";
	ev->proc = p;
	return ev;
}

static inline void tb_exec(struct tb *t, Aitrail__V1__Event *ev, const char *exe,
			   const char *const *argv)
{
	Aitrail__V1__Exec *x = tb_alloc(t, sizeof(*x));

	aitrail__v1__exec__init(x);
	x->exe = (char *)exe;
	x->argv = tb_strv(t, argv, &x->n_argv);
	ev->proc->exe = (char *)exe;
	ev->body_case = AITRAIL__V1__EVENT__BODY_EXEC;
	ev->exec = x;
}

static inline void tb_connect(struct tb *t, Aitrail__V1__Event *ev, const char *daddr,
			      uint32_t port, int32_t result)
{
	Aitrail__V1__NetConnect *n = tb_alloc(t, sizeof(*n));

	aitrail__v1__net_connect__init(n);
	n->family = (char *)"inet";
	n->proto = (char *)"tcp";
	n->daddr = (char *)daddr;
	n->dport = port;
	n->result = result;
	n->syscall = (char *)"connect";
	ev->body_case = AITRAIL__V1__EVENT__BODY_NET_CONNECT;
	ev->net_connect = n;
}

static inline void tb_file(struct tb *t, Aitrail__V1__Event *ev, const char *path)
{
	Aitrail__V1__FileOp *f = tb_alloc(t, sizeof(*f));

	aitrail__v1__file_op__init(f);
	f->path = (char *)path;
	ev->body_case = AITRAIL__V1__EVENT__BODY_FILE;
	ev->file = f;
}

static inline void tb_session_start(struct tb *t, Aitrail__V1__Event *ev, const char *cwd,
				    const char *const *argv)
{
	Aitrail__V1__SessionStart *s = tb_alloc(t, sizeof(*s));

	aitrail__v1__session_start__init(s);
	s->cwd = (char *)cwd;
	s->argv = tb_strv(t, argv, &s->n_argv);
	s->user = (char *)"alice";
	ev->body_case = AITRAIL__V1__EVENT__BODY_SESSION_START;
	ev->session_start = s;
}

static inline void tb_session_end(struct tb *t, Aitrail__V1__Event *ev, int32_t code)
{
	Aitrail__V1__SessionEnd *s = tb_alloc(t, sizeof(*s));

	aitrail__v1__session_end__init(s);
	s->exit_code = code;
	ev->body_case = AITRAIL__V1__EVENT__BODY_SESSION_END;
	ev->session_end = s;
}

static inline void tb_exit(struct tb *t, Aitrail__V1__Event *ev, int32_t code)
{
	Aitrail__V1__Exit *x = tb_alloc(t, sizeof(*x));

	aitrail__v1__exit__init(x);
	x->exit_code = code;
	ev->body_case = AITRAIL__V1__EVENT__BODY_EXIT;
	ev->exit = x;
}

static inline Aitrail__V1__Gap *tb_gap(struct tb *t, uint64_t from, uint64_t to,
				       const char *reason)
{
	Aitrail__V1__Gap *g = tb_alloc(t, sizeof(*g));

	aitrail__v1__gap__init(g);
	g->from_seq = from;
	g->to_seq = to;
	g->events = to - from + 1;
	g->reason = (char *)reason;
	return g;
}

/* A batch chained to prev (NULL for the first); its hash is stored in the batch. */
static inline Aitrail__V1__Batch *tb_batch(struct tb *t, const char *agent_id, const char *boot,
					   uint64_t seq, const uint8_t *prev,
					   Aitrail__V1__Event **evs, size_t n)
{
	Aitrail__V1__Batch *b = tb_alloc(t, sizeof(*b));
	Aitrail__V1__AgentInfo *a = tb_alloc(t, sizeof(*a));

	aitrail__v1__batch__init(b);
	aitrail__v1__agent_info__init(a);
	a->agent_id = (char *)agent_id;
	a->hostname = (char *)"devbox1";
	a->boot_id = (char *)boot;
	b->version = 1;
	b->agent = a;
	b->seq = seq;
	b->events = tb_alloc(t, (n + 1) * sizeof(*b->events));
	memcpy(b->events, evs, n * sizeof(*evs));
	b->n_events = n;
	b->prev_hash.data = tb_alloc(t, WIRE_HASH_LEN);
	b->prev_hash.len = WIRE_HASH_LEN;
	if (prev)
		memcpy(b->prev_hash.data, prev, WIRE_HASH_LEN);
	b->hash.data = tb_alloc(t, WIRE_HASH_LEN);
	b->hash.len = WIRE_HASH_LEN;
	wire_batch_hash(b, b->hash.data);
	return b;
}

#endif
