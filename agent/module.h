/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An agent module is one named unit: its BPF programs and records (bpf/X.bpf.c, bpf/X.h), the
 * agent code that decodes them (agent/X_decode.c or agent/X.c), and one row: a struct
 * agent_module that file defines and one line of AGENT_MODULES below. The row says which record
 * types the module decodes, which programs are its own (and which of them this kernel cannot
 * run, with the reason logged), which optional parts the start log reports, and its start,
 * sweep and stop hooks. agent/dispatch.c, agent/loader.c and agent/main.c read the rows (through
 * agent/module.c) and name no module themselves. docs/architecture.md has the checklist.
 */
#ifndef AITRAIL_MODULE_H
#define AITRAIL_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/emit.h"

struct agent;
struct arena;
struct bpf_object;
struct sweeper;

/*
 * Decodes one record of a registered type. The handler fills ev's body (and may set type);
 * the caller has already filled ev->type from the row, ts, host, session and proc from the
 * record header and the process table. Strings and arrays come from ar, which is reset after
 * the event is written. Returns 0 to emit ev, 1 to emit nothing (record consumed, e.g. state
 * only), or -errno for a malformed record (counted as a decode error).
 */
typedef int (*agent_rec_fn)(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			    at_event *ev, struct arena *ar);

/* One record type a module decodes. A module's list ends with a zero row (type 0). */
struct agent_rec {
	uint32_t type;         /* enum at_rec_type; each type belongs to one module */
	uint32_t min_size;     /* smallest valid record, header included */
	const char *name;      /* public event type, e.g. "exec"; NULL if the handler sets it */
	agent_rec_fn decode;
};

/* An optional part named in the start log: on when its program loaded. Ends with { NULL }. */
struct agent_part {
	const char *what;      /* "DNS over TCP" */
	const char *prog;      /* the program that runs it */
	const char *on, *off;  /* what the log says in either case */
};

struct agent_module {
	const char *name;
	/* name prefixes of its BPF programs, NULL-terminated: each program has one module */
	const char *const *progs;
	/* its programs must load, or the agent does not start (else: turned off, with a warning) */
	bool core;
	const struct agent_rec *recs;
	const struct agent_part *parts;
	/* before load: turns off the programs this kernel cannot run, logging why */
	void (*autoload)(struct bpf_object *obj);
	/*
	 * records it holds in a kernel map until they are complete (agent/sweep.h): swept from a
	 * timer from start on, and all of them at shutdown, before its sweep hook
	 */
	const struct sweeper *held;
	/* after attach: fills maps, adds timers, fds and sinks; -errno stops the agent */
	int (*start)(struct agent *a);
	/* at shutdown, once the rings are drained: emits what the module still holds */
	void (*sweep)(struct agent *a);
	/* on every way out, after the final stats: detaches and frees */
	void (*stop)(struct agent *a);
};

/*
 * The modules, one line each. Hooks of the same kind run in this order (stop hooks in reverse):
 * a connect's held record is swept before the report of its still-open connection.
 */
#define AGENT_MODULES(X)                                                                         \
	X(session)  /* exec, fork, exit, session roots: agent/session_decode.c */                 \
	X(net)      /* connects and their first bytes: agent/net_decode.c */                      \
	X(file)     /* file changes: agent/file_decode.c */                                       \
	X(dns)      /* DNS queries and answers: agent/dns_decode.c */                             \
	X(uring)    /* io_uring operations: agent/uring_decode.c */                               \
	X(fileio)   /* file_write and file_read: agent/fileio.c */                                \
	X(netclose) /* net_close and open connections' bytes: agent/netclose_decode.c */          \
	X(policy)   /* enforcement and its decisions: agent/policy_run.c */

#define AGENT_MODULE_DECLARE(name) extern const struct agent_module name##_module;
AGENT_MODULES(AGENT_MODULE_DECLARE)
#undef AGENT_MODULE_DECLARE

extern const struct agent_module *const agent_modules[];
extern const size_t agent_n_modules;

/* The module a BPF program belongs to (by its name prefix), or NULL. */
const struct agent_module *module_of_prog(const char *prog);
/* The hooks of every module, in table order. */
void modules_autoload(struct bpf_object *obj);
/* Stops at the first module that fails, after logging which. */
int modules_start(struct agent *a);
void modules_sweep(struct agent *a);
void modules_stop(struct agent *a);

#endif
