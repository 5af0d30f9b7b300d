// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/store_backend.h"
#include "collector/timeline.h"

/* A process of the timeline: one node per pid lifetime (a pid reused after exit is a new node). */
struct tl_proc {
	uint32_t pid, ppid;
	int exited;
	json_object *node, *activity;
};

static struct tl_proc *tl_find(struct timeline *t, uint32_t pid)
{
	/* the latest node of the pid: a reused pid only replaces an exited one */
	for (size_t i = t->n; i-- > 0;)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

static struct tl_proc *tl_new(struct timeline *t, const struct timeline_row *r)
{
	struct tl_proc *p;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		void *np = realloc(t->procs, cap * sizeof(*t->procs));

		if (!np)
			return NULL;
		t->procs = np;
		t->cap = cap;
	}
	p = &t->procs[t->n++];
	memset(p, 0, sizeof(*p));
	p->pid = r->pid;
	p->ppid = r->ppid;
	p->node = json_object_new_object();
	p->activity = json_object_new_array();
	json_object_object_add(p->node, "pid", json_object_new_int64(p->pid));
	json_object_object_add(p->node, "ppid", json_object_new_int64(p->ppid));
	json_object_object_add(p->node, "comm", json_object_new_string(r->comm));
	json_object_object_add(p->node, "exe", json_object_new_string(r->exe));
	json_object_object_add(p->node, "user", json_object_new_string(r->user));
	store_json_ts(p->node, "first", r->has_ts, r->ts);
	return p;
}

int timeline_add(struct timeline *t, const struct timeline_row *r)
{
	struct tl_proc *p;
	json_object *a;

	if (!r->has_pid)
		return 0;
	p = tl_find(t, r->pid);
	if (!p || (p->exited && !strcmp(r->type, "exec")))
		p = tl_new(t, r);
	if (!p)
		return -ENOMEM;
	if (!strcmp(r->type, "exec")) {
		/* the process is known by what it runs now */
		json_object_object_add(p->node, "exe", json_object_new_string(r->exe));
		json_object_object_add(p->node, "comm", json_object_new_string(r->comm));
	}
	if (!strcmp(r->type, "exit"))
		p->exited = 1;
	a = json_object_new_object();
	store_json_ts(a, "ts", r->has_ts, r->ts);
	json_object_object_add(a, "seq", json_object_new_int64(r->seq));
	json_object_object_add(a, "type", json_object_new_string(r->type));
	json_object_object_add(a, "detail", json_object_new_string(r->detail));
	json_object_array_add(p->activity, a);
	return 0;
}

json_object *timeline_finish(struct timeline *t)
{
	json_object *roots = json_object_new_array();

	for (size_t i = 0; i < t->n; i++) {
		struct tl_proc *p = &t->procs[i], *parent = NULL;

		json_object_object_add(p->node, "activity", p->activity);
		json_object_object_add(p->node, "children", json_object_new_array());
		/* the parent is the latest node of ppid created before this one */
		for (size_t j = i; j-- > 0;) {
			if (t->procs[j].pid == p->ppid) {
				parent = &t->procs[j];
				break;
			}
		}
		if (parent)
			json_object_array_add(json_object_object_get(parent->node, "children"),
					      p->node);
		else
			json_object_array_add(roots, p->node);
	}
	free(t->procs);
	memset(t, 0, sizeof(*t));
	return roots;
}

json_object *timeline_answer(const char *session_id, json_object *session, struct timeline *t,
			     size_t n_events)
{
	json_object *out = json_object_new_object();

	json_object_object_add(out, "session_id", json_object_new_string(session_id));
	json_object_object_add(out, "session", session);
	json_object_object_add(out, "processes", timeline_finish(t));
	json_object_object_add(out, "events", json_object_new_int64((int64_t)n_events));
	json_object_object_add(out, "truncated",
			       json_object_new_boolean(n_events >= TIMELINE_MAX_EVENTS));
	return out;
}
