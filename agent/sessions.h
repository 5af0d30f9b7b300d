/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session table (agent/sessions.c): public ids, session_start / session_end events and
 * per-session counts.
 */
#ifndef AITRAIL_SESSIONS_H
#define AITRAIL_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/emit.h"

struct agent;
struct proc_info;

struct session {
	struct session *next;
	uint32_t root_pid;
	uint64_t root_start;
	uint16_t tool;
	char id[33];
	uint64_t start_ns;  /* boottime */
	bool started;       /* session_start emitted */
	bool ended;
	bool end_pending;   /* root exited; session_end goes out after the buffers are drained */
	bool exit_unknown;  /* the root's exit record was lost: found gone by the reaper */
	int32_t exit_code;
	char signal[16];
	uint64_t end_ns;
	uint64_t processes, execs, net_connect, file_ops;
	/* the root process as session_start saw it: session_end's proc, after the root is gone */
	uint32_t root_ppid, root_uid;
	char root_comm[16];
	char *root_exe;     /* malloc'd, NULL until session_start */
};

/* id = hex of the first 16 bytes of sha256(machine-id, boot-id, root pid, root start in ticks) */
void session_make_id(const char *machine_id, const char *boot_id, uint32_t root_pid,
		     uint64_t root_start_ns, char out[33]);
struct session *session_find(struct agent *a, uint32_t root_pid, uint64_t root_start);
struct session *session_get(struct agent *a, uint32_t root_pid, uint64_t root_start,
			    uint16_t tool);
size_t sessions_active(struct agent *a);
/* Counts an event against its session; called for every emitted event. */
void session_count_event(struct agent *a, const at_event *ev);
/* Emits a late session_start when ev's session never had one. */
void session_check_started(struct agent *a, const at_event *ev);
void sessions_flush_ended(struct agent *a);
/* Ends sessions whose root is gone though its exit record never came (lost). */
void sessions_reap(struct agent *a, uint64_t now_boot_ns);
void sessions_free(struct agent *a);
const char *tool_name(struct agent *a, uint16_t tool);
/* Fills ev->session for a record's session key; strings point into the session table. */
void session_fill_event(struct agent *a, at_event *ev, uint32_t root_pid, uint64_t root_start,
			uint16_t tool);
/* Emits session_start for a root found by the kernel or by the /proc scan. */
int session_emit_start(struct agent *a, struct session *s, const struct proc_info *p,
		       const char *matched_by, uint64_t ts_boot);

#endif
