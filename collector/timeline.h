/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A session's timeline as a process tree, built from its events in time order. Both store
 * backends read the rows; the tree is built here once.
 */
#ifndef AITRAIL_TIMELINE_H
#define AITRAIL_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* One event of the session as the store has it; strings are never NULL ("" when absent). */
struct timeline_row {
	int64_t seq;
	bool has_ts;
	uint64_t ts;
	const char *type, *user, *comm, *exe, *detail;
	bool has_pid; /* agent-level events have no process */
	uint32_t pid, ppid;
};

struct tl_proc;

struct timeline {
	struct tl_proc *procs;
	size_t n, cap;
};

/* A timeline is read by a person; past this many events it says it stopped. */
#define TIMELINE_MAX_EVENTS 200000

/* Adds the next event (in ts, seq order). 0, or -ENOMEM. */
int timeline_add(struct timeline *t, const struct timeline_row *r);
/* The tree's roots (a JSON array, each process with its activity and children); frees t. */
json_object *timeline_finish(struct timeline *t);
/*
 * The query's answer: the session (taken over), its process tree (t is finished and freed) and
 * how many events were read (n_events of TIMELINE_MAX_EVENTS at most).
 */
json_object *timeline_answer(const char *session_id, json_object *session, struct timeline *t,
			     size_t n_events);

#endif
