/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's core internals: the agent object, the epoll loop, the process table, sessions and
 * the sinks events are handed to. Modules that decode records only need agent/agent.h; this
 * header is for the pieces that run the daemon (and for modules that need process context).
 */
#ifndef AITRAIL_CORE_H
#define AITRAIL_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/agent.h"
#include "agent/config.h"

#define AGENT_VERSION "0.1.0"

struct aitrail;
struct ring_buffer;

struct arena {
	struct arena_chunk *head;
	size_t chunk_size;
};

void arena_init(struct arena *ar, size_t chunk_size);
void arena_reset(struct arena *ar);
void arena_free(struct arena *ar);

/* ---- sinks: every emitted event goes to each registered sink, in order */
typedef int (*agent_sink_fn)(struct agent *a, const at_event *ev, void *arg);
int agent_add_sink(struct agent *a, agent_sink_fn fn, void *arg);

/* ---- epoll loop */
typedef void (*loop_fd_cb)(struct agent *a, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct agent *a, void *arg);
/* Watches fd for events (EPOLLIN, ...) and calls cb from the loop. */
int loop_add_fd(struct agent *a, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_del_fd(struct agent *a, int fd);
/* Calls cb every interval_ms from the loop (a timerfd). */
int loop_add_timer(struct agent *a, uint32_t interval_ms, loop_timer_cb cb, void *arg);
/* Calls cb from the loop on SIGHUP (e.g. reload a policy file). */
int loop_on_reload(struct agent *a, loop_timer_cb cb, void *arg);
/* cb runs at the end of every loop iteration, after the events it brought were emitted */
int loop_on_idle(struct agent *a, loop_timer_cb cb, void *arg);
int loop_run(struct agent *a);
void loop_stop(struct agent *a);
void loop_free(struct agent *a);

/* ---- process table */
struct proc_info {
	uint32_t pid;
	uint32_t ppid;
	uint32_t uid;
	char comm[16];
	char *exe;       /* malloc'd, may be NULL */
	char *cwd;
	char **argv;     /* NULL-terminated, malloc'd */
	size_t argc;
	uint32_t root_pid;
	uint64_t root_start;
	uint16_t tool;
	uint64_t exited_ns; /* boottime of exit, 0 while alive */
};

struct proc_info *proctable_get(struct agent *a, uint32_t pid);
struct proc_info *proctable_upsert(struct agent *a, uint32_t pid);
void proctable_set_exe(struct proc_info *p, const char *exe);
void proctable_set_cwd(struct proc_info *p, const char *cwd);
void proctable_set_argv(struct proc_info *p, const char *const *argv, size_t argc);
void proctable_exited(struct agent *a, uint32_t pid, uint64_t boot_ns);
/* Drops entries that exited more than age_ns ago. */
void proctable_expire(struct agent *a, uint64_t now_boot_ns, uint64_t age_ns);
void proctable_reap(struct agent *a, uint64_t now_boot_ns);
size_t proctable_count(struct agent *a);
void proctable_free(struct agent *a);
const char *user_name(struct agent *a, uint32_t uid);

/* ---- sessions */
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

/* ---- signatures (the kernel's rules, in C, for the /proc scan) */
/* Returns enum at_match and sets *tool; env may be NULL. argv/env are NUL separated blocks. */
int signature_match(const struct agent_config *c, const char *comm, const char *exe_base,
		    const char *argv, size_t argv_len, const char *env, size_t env_len,
		    uint16_t *tool);
const char *match_name(int how);

/* ---- the /proc scan: seeds `tracked` with sessions already running */
int procscan_run(struct agent *a);

/* ---- records */
int dispatch_record(struct agent *a, const void *data, size_t size);
uint64_t boot_to_unix_ns(struct agent *a, uint64_t boot_ns);
void agent_fill_event(struct agent *a, at_event *ev, const struct at_hdr *h, struct arena *ar);

/* ---- stats */
int stats_emit(struct agent *a, bool final);
/* The counters of an agent_stats body (also sent in the shipper's heartbeats). */
void stats_fill(struct agent *a, Aitrail__V1__AgentStats *st, Aitrail__V1__LossCounters *lost);

/* ---- loader */
int loader_probe(void);
int loader_start(struct agent *a);
void loader_drain(struct agent *a);
void loader_stop(struct agent *a);
/* Adds the counters map's per-CPU sums into out[AT_CNT_MAX]. */
int loader_read_counters(struct agent *a, uint64_t *out);

#define AGENT_MAX_SINKS 8

struct loop;
struct proctable;
struct scan_root;

struct agent {
	struct agent_config *cfg;
	struct aitrail *skel;
	struct ring_buffer *rb;
	struct loop *loop;
	struct proctable *procs;
	struct session *sessions;
	struct scan_root *scan_roots;
	struct arena arena;
	FILE *json_out;

	char hostname[256];
	char machine_id[64];
	char boot_id[64];
	int64_t boot_to_unix;   /* CLOCK_REALTIME - CLOCK_BOOTTIME at start, ns */

	struct {
		agent_sink_fn fn;
		void *arg;
	} sinks[AGENT_MAX_SINKS];
	int n_sinks;

	uint64_t seq;
	uint64_t events_emitted;
	uint64_t records_read;
	uint64_t decode_errors;
	uint64_t spool_dropped;  /* filled by the spool when it drops events */
	uint64_t unclean_stops;  /* the spool's count of earlier runs killed or crashed */
	uint64_t sink_errors;
};

#endif
