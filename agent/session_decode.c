// SPDX-License-Identifier: Apache-2.0
/*
 * The session module: the process records of bpf/session.bpf.c (bpf/session.h) decoded into
 * exec and exit events, the process table and the session table: exec, session start, fork,
 * exit. Its programs are the core: without them nothing is tracked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/module.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "agent/signature.h"
#include "bpf/session.h"
#include "common/log.h"

/* Splits a NUL-separated argument block into an arena array; a cut last string is kept. */
static char **split_argv(struct arena *ar, const char *buf, size_t len, size_t *argc)
{
	size_t n = 0, i, k = 0;
	char **v;

	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			n++;
	if (len && buf[len - 1] != '\0')
		n++;
	v = arena_alloc(ar, (n + 1) * sizeof(char *));
	if (!v)
		return NULL;
	for (i = 0; i < len && k < n;) {
		size_t l = strnlen(buf + i, len - i);

		v[k++] = arena_strndup(ar, buf + i, l);
		i += l + 1;
	}
	*argc = k;
	return v;
}

static int decode_exec(struct agent *a, const struct at_exec_rec *r, at_event *ev,
		       struct arena *ar, struct proc_info **pinfo)
{
	Aitrail__V1__Exec *ex = arena_alloc(ar, sizeof(*ex));
	struct proc_info *p;
	size_t argc = 0;
	char **argv;
	char *exe;

	if (!ex)
		return -ENOMEM;
	if (r->filename_len > AT_FILENAME_MAX || r->argv_len > AT_ARGV_MAX ||
	    r->cwd_len > AT_CWD_MAX)
		return -EINVAL;
	aitrail__v1__exec__init(ex);
	ex->exe = arena_strndup(ar, r->filename, r->filename_len);
	argv = split_argv(ar, r->argv, r->argv_len, &argc);
	ex->argv = argv;
	ex->n_argv = argv ? argc : 0;
	ex->cwd = arena_strndup(ar, r->cwd, r->cwd_len);
	if (r->nested_tool)
		ex->nested_tool = (char *)tool_name(a, r->nested_tool);
	if (r->trunc & (AT_EXEC_TRUNC_ARGV | AT_EXEC_READ_FAIL_ARGV))
		ev_add_truncated(ev, ar, "argv");
	if (r->trunc & AT_EXEC_TRUNC_FILENAME)
		ev_add_truncated(ev, ar, "exe");
	if (r->trunc & (AT_EXEC_TRUNC_CWD | AT_EXEC_NO_CWD))
		ev_add_truncated(ev, ar, "cwd");
	ev->body_case = AITRAIL__V1__EVENT__BODY_EXEC;
	ev->exec = ex;
	ev->type = "exec";

	/* the process's exe is absolute even when execve was given a relative name */
	exe = ex->exe;
	if (exe && exe[0] != '/' && r->cwd_len && !(r->trunc & AT_EXEC_TRUNC_CWD))
		exe = arena_printf(ar, "%s/%s", ex->cwd, exe[0] == '.' && exe[1] == '/' ? exe + 2 : exe);
	p = proctable_upsert(a, r->hdr.pid);
	if (p) {
		p->ppid = r->hdr.ppid;
		p->uid = r->hdr.uid;
		memcpy(p->comm, r->hdr.comm, sizeof(p->comm));
		p->comm[sizeof(p->comm) - 1] = '\0';
		proctable_set_exe(p, exe);
		if (r->cwd_len)
			proctable_set_cwd(p, ex->cwd);
		proctable_set_argv(p, (const char *const *)ex->argv, ex->n_argv);
		p->root_pid = r->hdr.root_pid;
		p->root_start = r->hdr.root_start;
		p->tool = r->hdr.tool;
	}
	if (ev->proc)
		ev->proc->exe = exe ? exe : "";
	*pinfo = p;
	return 0;
}

static int exec_record(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar)
{
	struct proc_info *p;

	return decode_exec(a, rec, ev, ar, &p);
}

/* The root's exec: session_start first, then the exec event itself. */
static int session_start_record(struct agent *a, const struct at_hdr *h, const void *rec,
				size_t len, at_event *ev, struct arena *ar)
{
	const struct at_exec_rec *r = rec;
	struct proc_info *p = NULL;
	struct session *s;
	int err;

	err = decode_exec(a, r, ev, ar, &p);
	if (err)
		return err;
	s = session_get(a, h->root_pid, h->root_start, h->tool);
	if (s && p) {
		s->start_ns = h->ts;
		session_emit_start(a, s, p, match_name(r->matched_by), h->ts);
	}
	return 0;
}

static int fork_record(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar)
{
	struct proc_info *parent = proctable_get(a, h->ppid), *p;
	struct session *s;

	p = proctable_upsert(a, h->pid);
	if (p) {
		p->ppid = h->ppid;
		p->uid = h->uid;
		memcpy(p->comm, h->comm, sizeof(p->comm));
		p->comm[sizeof(p->comm) - 1] = '\0';
		p->root_pid = h->root_pid;
		p->root_start = h->root_start;
		p->tool = h->tool;
		/* until it execs, a child runs its parent's image */
		if (parent && parent != p) {
			proctable_set_exe(p, parent->exe);
			proctable_set_cwd(p, parent->cwd);
			proctable_set_argv(p, (const char *const *)parent->argv, parent->argc);
		}
	}
	s = session_find(a, h->root_pid, h->root_start);
	if (s)
		s->processes++;
	return 1;
}

static int exit_record(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar)
{
	const struct at_exit_rec *r = rec;
	Aitrail__V1__Exit *ex = arena_alloc(ar, sizeof(*ex));
	int sig = r->status & 0x7f;
	struct session *s;

	if (!ex)
		return -ENOMEM;
	aitrail__v1__exit__init(ex);
	ex->exit_code = (r->status >> 8) & 0xff;
	if (sig) {
		const char *abbrev = sigabbrev_np(sig);

		ex->signal = abbrev ? arena_printf(ar, "SIG%s", abbrev) : arena_printf(ar, "%d", sig);
		ex->exit_code = 128 + sig;
	}
	ev->body_case = AITRAIL__V1__EVENT__BODY_EXIT;
	ev->exit = ex;
	proctable_exited(a, h->pid, h->ts);
	if (h->pid == h->root_pid) {
		s = session_get(a, h->root_pid, h->root_start, h->tool);
		if (s && !s->ended) {
			s->end_pending = true;
			s->end_ns = h->ts;
			s->exit_code = ex->exit_code;
			snprintf(s->signal, sizeof(s->signal), "%s", ex->signal ? ex->signal : "");
		}
	}
	return 0;
}


const struct agent_module session_module = {
	.name = "session",
	.progs = (const char *const[]){ "at_sched_", NULL },
	.core = true,
	.recs = (const struct agent_rec[]){
		{ AT_REC_EXEC, sizeof(struct at_exec_rec), "exec", exec_record },
		{ AT_REC_SESSION_START, sizeof(struct at_exec_rec), "exec", session_start_record },
		{ AT_REC_FORK, sizeof(struct at_fork_rec), "fork", fork_record },
		{ AT_REC_EXIT, sizeof(struct at_exit_rec), "exit", exit_record },
		{ 0 },
	},
};
