// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Session tracking: which processes belong to which AI-agent session. A process becomes a
 * session root when its exec matches a signature (comm, exe name, interpreter argv, environment
 * marker); every process forked by a tracked process is tracked from the moment of fork, so
 * nothing it does between fork/exec and a user-space reaction is missed.
 */
#include "bpf/common.bpf.h"
#include "bpf/path.bpf.h"
#include "bpf/session.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Number of used entries in sig_argv / sig_env, set by the agent before load. */
const volatile __u32 sess_n_argv = 0;
const volatile __u32 sess_n_env = 0;

struct sig_name {
	char name[AT_SIG_NAME_LEN];
};

/* comm or exe basename -> tool id */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, struct sig_name);
	__type(value, __u16);
} sig_names SEC(".maps");

/* interpreters whose argv is searched for sig_argv patterns */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct sig_name);
	__type(value, __u8);
} sig_interp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AT_SIG_MAX_PATTERNS);
	__type(key, __u32);
	__type(value, struct at_sig_pattern);
} sig_argv SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AT_SIG_MAX_PATTERNS);
	__type(key, __u32);
	__type(value, struct at_sig_pattern);
} sig_env SEC(".maps");

/*
 * Bytes that start a pattern (argv) or a marker (env), filled by the agent before load: the
 * search only compares patterns at positions whose byte is in the table.
 */
const volatile __u8 sess_argv_first[256] = {};
const volatile __u8 sess_env_first[256] = {};

/* Our own scratch: the exec record, candidate positions, then the environment window. */
#define SESS_ENV_OFF 4096
#define SESS_MAX_CAND 1024
#define SESS_CHUNK 64
struct sess_scratch {
	struct at_exec_rec rec;
	__u16 cand[SESS_MAX_CAND];
	/* in the map value, not the loop context: the verifier tracks stack values exactly and
	 * would explore every count separately */
	__u32 n_cand;
	__u32 over;
	char pad[SESS_ENV_OFF * 2 - sizeof(struct at_exec_rec) - 2 * SESS_MAX_CAND - 8];
	char env[AT_ENV_SCAN_MAX];
};

AT_SCRATCH_MAP(sess_heap, struct sess_scratch, 1);

static __always_inline struct sess_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sess_heap, &zero);
}

/*
 * State of one search, passed to the bpf_loop callbacks. Phase 1 walks the buffer in chunks
 * and keeps the positions worth a comparison (argv: the byte starts some pattern; env: an entry
 * starts there with such a byte); phase 2 tries each pattern at each kept position. One
 * callback per byte and pattern would cost hundreds of microseconds on every exec.
 */
struct search_ctx {
	__u32 len;   /* bytes valid in the buffer */
	__u32 pat;   /* pattern index being searched */
	__u16 tool;  /* result: tool id, 0 = no match */
	__u16 env;   /* environment (markers at entry start) instead of argv (substrings) */
};

static __always_inline int match_at(const char *buf, __u32 len, __u32 pos,
				    const struct at_sig_pattern *p)
{
	__u32 plen = p->len;

	if (plen == 0 || plen > AT_SIG_PATTERN_LEN || pos + plen > len)
		return 0;
	for (__u32 k = 0; k < AT_SIG_PATTERN_LEN; k++) {
		if (k >= plen)
			return 1;
		if (buf[(pos + k) & (AT_ENV_SCAN_MAX - 1)] != p->pat[k])
			return 0;
	}
	return 1;
}

static long find_candidates(__u64 i, void *data)
{
	struct search_ctx *c = data;
	struct sess_scratch *s = scratch();
	__u32 base = (__u32)i * SESS_CHUNK;
	const char *buf;

	if (!s)
		return 1;
	buf = c->env ? s->env : s->rec.argv;
	for (__u32 j = 0; j < SESS_CHUNK; j++) {
		__u32 pos = base + j;
		__u8 b;

		if (pos >= c->len)
			return 1;
		b = buf[pos & (AT_ENV_SCAN_MAX - 1)];
		if (c->env) {
			if (pos > 0 && s->env[(pos - 1) & (AT_ENV_SCAN_MAX - 1)] != '\0')
				continue;
			if (!sess_env_first[b])
				continue;
		} else if (!sess_argv_first[b]) {
			continue;
		}
		if (s->n_cand >= SESS_MAX_CAND) {
			s->over = 1;
			return 1;
		}
		s->cand[s->n_cand & (SESS_MAX_CAND - 1)] = pos;
		s->n_cand++;
	}
	return 0;
}

static long try_candidate(__u64 i, void *data)
{
	struct search_ctx *c = data;
	struct sess_scratch *s = scratch();
	struct at_sig_pattern *p;
	__u32 idx = c->pat;

	if (!s)
		return 1;
	p = bpf_map_lookup_elem(c->env ? (void *)&sig_env : (void *)&sig_argv, &idx);
	if (!p)
		return 1;
	if (match_at(c->env ? s->env : s->rec.argv, c->len, s->cand[i & (SESS_MAX_CAND - 1)], p)) {
		c->tool = p->tool;
		return 1;
	}
	return 0;
}

static long search_pat(__u64 i, void *data)
{
	struct search_ctx *c = data;
	struct sess_scratch *s = scratch();

	if (!s)
		return 1;
	c->pat = (__u32)i;
	bpf_loop(s->n_cand, try_candidate, c, 0);
	return c->tool ? 1 : 0;
}

/* Runs both phases over c->len bytes for n_pats patterns; returns the tool id or 0. */
static __always_inline __u16 search(struct sess_scratch *s, struct search_ctx *c, __u32 n_pats)
{
	s->n_cand = 0;
	s->over = 0;
	bpf_loop((c->len + SESS_CHUNK - 1) / SESS_CHUNK, find_candidates, c, 0);
	if (s->over)
		at_count(c->env ? AT_CNT_ENV_SCAN_TRUNC : AT_CNT_ARGV_TRUNC);
	if (!s->n_cand)
		return 0;
	bpf_loop(n_pats < AT_SIG_MAX_PATTERNS ? n_pats : AT_SIG_MAX_PATTERNS, search_pat, c, 0);
	return c->tool;
}

static __always_inline __u16 lookup_name(void *map, const char *name)
{
	__u16 *tool = bpf_map_lookup_elem(map, name);

	return tool ? *tool : 0;
}

/* Reads the new image's argv into rec; returns 0 or -1 when it could not be read. */
static __always_inline int read_argv(struct task_struct *task, struct at_exec_rec *rec)
{
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;

	if (len > AT_ARGV_MAX) {
		len = AT_ARGV_MAX;
		rec->trunc |= AT_EXEC_TRUNC_ARGV;
		rec->hdr.flags |= AT_F_TRUNC_ARGV;
		at_count(AT_CNT_ARGV_TRUNC);
	}
	if (len == 0)
		return 0;
	if (bpf_probe_read_user(rec->argv, len, (void *)start)) {
		rec->trunc |= AT_EXEC_READ_FAIL_ARGV;
		rec->hdr.flags |= AT_F_READ_FAIL;
		at_count(AT_CNT_READ_USER_FAIL);
		return -1;
	}
	rec->argv_len = len;
	return 0;
}

static __always_inline __u16 match_env(struct task_struct *task, struct sess_scratch *s)
{
	struct search_ctx c = { .env = 1 };
	unsigned long start = BPF_CORE_READ(task, mm, env_start);
	unsigned long end = BPF_CORE_READ(task, mm, env_end);
	__u64 len = end > start ? end - start : 0;

	if (len > AT_ENV_SCAN_MAX) {
		len = AT_ENV_SCAN_MAX;
		at_count(AT_CNT_ENV_SCAN_TRUNC);
	}
	if (len == 0)
		return 0;
	if (bpf_probe_read_user(s->env, len, (void *)start)) {
		at_count(AT_CNT_READ_USER_FAIL);
		return 0;
	}
	c.len = len;
	return search(s, &c, sess_n_env);
}

/*
 * Tries every signature on the process that just exec'd. Fills rec->argv on the way when it had
 * to read it (want_argv forces the read). Returns enum at_match and the tool id in *tool.
 */
static __always_inline __u16 match_signature(struct task_struct *task, struct linux_binprm *bprm,
					     struct sess_scratch *s, __u16 *tool, int in_session)
{
	struct sig_name comm = {}, exe = {};
	const unsigned char *name;

	bpf_get_current_comm(comm.name, sizeof(comm.name));
	*tool = lookup_name(&sig_names, comm.name);
	if (*tool)
		return AT_MATCH_COMM;
	name = BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
	if (name && bpf_probe_read_kernel_str(exe.name, sizeof(exe.name), name) < 0)
		at_count(AT_CNT_READ_KERN_FAIL);
	*tool = lookup_name(&sig_names, exe.name);
	if (*tool)
		return AT_MATCH_EXE;
	if (sess_n_argv && (bpf_map_lookup_elem(&sig_interp, comm.name) ||
			    bpf_map_lookup_elem(&sig_interp, exe.name))) {
		struct search_ctx c = {};

		if (!s->rec.argv_len && !(s->rec.trunc & AT_EXEC_READ_FAIL_ARGV))
			read_argv(task, &s->rec);
		c.len = s->rec.argv_len;
		*tool = search(s, &c, sess_n_argv);
		if (*tool)
			return AT_MATCH_ARGV;
	}
	/* markers are inherited by every child of an agent: inside a session they say nothing */
	if (sess_n_env && !in_session) {
		*tool = match_env(task, s);
		if (*tool)
			return AT_MATCH_ENV;
	}
	return AT_MATCH_NONE;
}

/* fs->pwd through the path walker, built in the (now free) environment window, then cut to
 * what the record holds. */
static __always_inline void cwd_into(struct sess_scratch *s, struct at_exec_rec *rec)
{
	__u32 flags = 0, n;

	n = at_cwd_path(s->env, &flags);
	if (n <= 1 || (flags & AT_PATH_F_NOFILE)) {
		rec->cwd_len = 0;
		rec->trunc |= AT_EXEC_NO_CWD;
		return;
	}
	n--; /* without the NUL */
	if (flags & AT_PATH_F_TRUNC)
		rec->trunc |= AT_EXEC_TRUNC_CWD;
	if (n > AT_CWD_MAX) {
		n = AT_CWD_MAX;
		rec->trunc |= AT_EXEC_TRUNC_CWD;
		at_count(AT_CNT_PATH_TRUNC);
	}
	if (bpf_probe_read_kernel(rec->cwd, n & (2 * AT_CWD_MAX - 1), s->env)) {
		at_count(AT_CNT_READ_KERN_FAIL);
		rec->cwd_len = 0;
		rec->trunc |= AT_EXEC_NO_CWD;
		return;
	}
	rec->cwd_len = n;
}

static __always_inline void fill_exec(struct task_struct *task, struct linux_binprm *bprm,
				      struct sess_scratch *s)
{
	struct at_exec_rec *rec = &s->rec;
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n;

	rec->argc = BPF_CORE_READ(bprm, argc);
	if (!rec->argv_len && !(rec->trunc & AT_EXEC_READ_FAIL_ARGV))
		read_argv(task, rec);
	n = bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename), filename);
	if (n < 0) {
		at_count(AT_CNT_READ_KERN_FAIL);
		rec->hdr.flags |= AT_F_READ_FAIL;
		n = 0;
	} else if (n > 0) {
		n--; /* without the NUL */
	}
	if (n >= AT_FILENAME_MAX - 1)
		rec->trunc |= AT_EXEC_TRUNC_FILENAME;
	rec->filename_len = n;
	cwd_into(s, rec);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(at_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct at_session_ref *ref = at_tracked(tgid);
	struct at_session_ref cur = {};
	struct sess_scratch *s;
	struct at_exec_rec *rec;
	__u16 how, tool = 0;
	__u32 type = AT_REC_EXEC;
	int in_session = 0;

	if (ref) {
		cur = *ref;
		in_session = 1;
	}
	s = scratch();
	if (!s)
		return 0;
	rec = &s->rec;
	rec->argv_len = 0;
	rec->trunc = 0;
	rec->hdr.flags = 0;
	rec->nested_tool = 0;
	rec->matched_by = 0;

	how = match_signature(task, bprm, s, &tool, in_session);
	if (!in_session) {
		if (!how)
			return 0;
		cur.root_pid = tgid;
		cur.root_start = BPF_CORE_READ(task, group_leader, start_boottime);
		cur.tool = tool;
		cur.flags = 0;
		if (bpf_map_update_elem(&tracked, &tgid, &cur, BPF_ANY)) {
			at_count(AT_CNT_TRACKED_FULL);
			return 0;
		}
		type = AT_REC_SESSION_START;
		rec->matched_by = how;
	} else if (how) {
		/* an agent inside a session stays in the outer session, flagged */
		cur.flags |= AT_F_NESTED_AGENT;
		bpf_map_update_elem(&tracked, &tgid, &cur, BPF_EXIST);
		rec->nested_tool = tool;
	}

	{
		__u16 keep = rec->hdr.flags;

		at_fill_hdr(&rec->hdr, type, sizeof(*rec), &cur);
		rec->hdr.flags |= keep;
	}
	fill_exec(task, bprm, s);
	at_output(&rb_core, rec, sizeof(*rec), AT_CNT_RB_CORE_FULL);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(at_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct at_session_ref *ref, cref;
	struct at_fork_rec rec = {};

	if (cpid != ctgid)
		return 0; /* a new thread, not a new process */
	ref = at_tracked(ptgid);
	if (!ref)
		return 0;
	cref = *ref;
	cref.flags = 0; /* the child is not itself the nested agent until it execs one */
	if (bpf_map_update_elem(&tracked, &ctgid, &cref, BPF_ANY)) {
		at_count(AT_CNT_TRACKED_FULL);
		return 0;
	}
	at_fill_hdr(&rec.hdr, AT_REC_FORK, sizeof(rec), &cref);
	rec.hdr.pid = ctgid;
	rec.hdr.tid = ctgid;
	rec.hdr.ppid = BPF_CORE_READ(child, real_parent, tgid);
	rec.child_start = BPF_CORE_READ(child, start_boottime);
	at_output(&rb_core, &rec, sizeof(rec), AT_CNT_RB_CORE_FULL);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(at_sched_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct at_session_ref *ref = at_tracked(tgid);
	struct at_session_ref sref;
	struct at_exit_rec rec = {};
	unsigned int sflags;

	if (!ref)
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* other threads of the group still run */
	sref = *ref;
	/* two last threads may both see live == 0: the one that deletes reports */
	if (bpf_map_delete_elem(&tracked, &tgid))
		return 0;
	at_fill_hdr(&rec.hdr, AT_REC_EXIT, sizeof(rec), &sref);
	rec.hdr.pid = tgid;
	sflags = BPF_CORE_READ(p, signal, flags);
	if (sflags & SIGNAL_GROUP_EXIT)
		rec.status = BPF_CORE_READ(p, signal, group_exit_code);
	else
		rec.status = BPF_CORE_READ(p, exit_code);
	rec.start = BPF_CORE_READ(p, group_leader, start_boottime);
	at_output(&rb_core, &rec, sizeof(rec), AT_CNT_RB_CORE_FULL);
	return 0;
}
