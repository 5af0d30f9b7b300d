// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy enforcement for session processes.
 *
 * Network: cgroup sock_addr hooks look the destination up in pol_net (LPM on tool, family,
 * port, address) and refuse the connect/sendmsg with EPERM. These programs cannot send
 * signals, so a `kill` verdict marks the thread in pol_kill_pending and the syscall's exit
 * tracepoint sends SIGKILL before the process is back in user space.
 *
 * Files and exec: without BPF LSM nothing here can make a syscall fail, so a deny or kill is
 * enforced by SIGKILL from the syscall's entry tracepoint. The syscall itself still runs to
 * completion (see docs/policy.md for what that lets through); the process never executes
 * another instruction.
 *
 * Self-protection: a session process that signals, pidfd_opens, ptraces or writes the memory
 * of the agent is killed the same way.
 */
#include "bpf/common.bpf.h"
#include <bpf/bpf_endian.h>

#include "bpf/path.bpf.h"
#include "bpf/policy.h"
#include "bpf/policy_maps.bpf.h"

#define PATH_MASK 255

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct at_pol_path_key);
	__type(value, struct at_pol_verdict);
} pol_path SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct at_pol_prog_key);
	__type(value, struct at_pol_verdict);
} pol_prog SEC(".maps");

/* Default verdict per category (enum at_pol_cat). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AT_POL_CAT_MAX);
	__type(key, __u32);
	__type(value, struct at_pol_verdict);
} pol_defaults SEC(".maps");

/* Thread ids of the agent (and anything else it protects): self-protection targets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} pol_protected SEC(".maps");

/* Threads a cgroup hook decided to kill: SIGKILL at the syscall's exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} pol_kill_pending SEC(".maps");

/* Per-process decision rate: a loop of denied connects must not flood the core ring buffer. */
struct pol_rate {
	__u64 window_start;
	__u64 sent;
	__u64 suppressed;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct pol_rate);
} pol_rate SEC(".maps");

/* The directory a relative name is resolved against (path.bpf.h writes AT_PATH_MAX bytes). */
struct pol_dir {
	char buf[AT_PATH_MAX];
};

AT_SCRATCH_MAP(pol_dir, struct pol_dir, 1);

struct pol_scratch {
	struct at_pol_path_key key;
	struct at_pol_decision rec;
};

AT_SCRATCH_MAP(pol_scratch, struct pol_scratch, 1);

static __always_inline struct at_pol_cfg *pol_config(void)
{
	__u32 zero = 0;
	struct at_pol_cfg *c = bpf_map_lookup_elem(&pol_cfg, &zero);

	return c && c->enabled ? c : NULL;
}

static __always_inline struct pol_scratch *pol_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pol_scratch, &zero);
}

/* Earlier rule wins: the lower prio of two candidate verdicts. */
static __always_inline struct at_pol_verdict *pol_better(struct at_pol_verdict *a,
							 struct at_pol_verdict *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return b->prio < a->prio ? b : a;
}

static __always_inline struct at_pol_verdict *pol_default(__u32 cat)
{
	return bpf_map_lookup_elem(&pol_defaults, &cat);
}

/*
 * True when this process may send one more decision record now; otherwise counts it. Kills
 * always go out (the process is gone after this one). Returns the count to report in *supp.
 */
static __always_inline bool pol_rate_ok(__u32 tgid, __u8 outcome, __u32 *supp)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct pol_rate *r = bpf_map_lookup_elem(&pol_rate, &tgid);
	__u64 n;

	*supp = 0;
	if (!r) {
		struct pol_rate fresh = { .window_start = now, .sent = 1 };

		bpf_map_update_elem(&pol_rate, &tgid, &fresh, BPF_ANY);
		return true;
	}
	if (now - r->window_start >= 1000000000ULL) {
		r->window_start = now;
		r->sent = 0;
	}
	if (r->sent >= AT_POL_RATE_PER_SEC && outcome != AT_POL_OUT_KILLED) {
		__sync_fetch_and_add(&r->suppressed, 1);
		return false;
	}
	r->sent++;
	/* take exactly what was read: a concurrent thread's count stays for the next record */
	n = r->suppressed;
	if (n)
		__sync_fetch_and_add(&r->suppressed, -n);
	*supp = (__u32)n;
	return true;
}

/* Fills and sends the decision record; rec->path/addr were filled by the caller. */
static __always_inline void pol_emit(struct at_pol_decision *rec, const struct at_session_ref *s,
				     const struct at_pol_verdict *v, __u8 cat, __u8 mech,
				     __u8 outcome, __u32 hook, __u32 gen)
{
	/*
	 * The fields go in before at_fill_hdr: clang 14's BPF backend dropped constant stores
	 * placed right after its bpf_get_current_comm() call (the record went out with zeros).
	 */
	rec->cat = cat;
	rec->action = v->action;
	rec->mode = v->mode;
	rec->mech = mech;
	rec->outcome = outcome;
	rec->hook = hook;
	rec->generation = gen;
	if (!pol_rate_ok(bpf_get_current_pid_tgid() >> 32, outcome, &rec->suppressed))
		return;
	at_fill_hdr(&rec->hdr, AT_REC_POLICY_DECISION, sizeof(*rec), s);
	__builtin_memcpy(rec->rule_id, v->rule_id, AT_POL_ID_LEN);
	at_output(&rb_core, rec, sizeof(*rec), AT_CNT_RB_CORE_FULL);
}

/* --- network: cgroup sock_addr */

static __always_inline struct at_pol_verdict *pol_net_lookup(struct at_pol_net_key *k, __u8 tool,
							     __u16 port)
{
	struct at_pol_verdict *best = NULL;

	k->tool = tool;
	k->port = port;
	best = pol_better(best, bpf_map_lookup_elem(&pol_net, k));
	k->port = 0;
	best = pol_better(best, bpf_map_lookup_elem(&pol_net, k));
	k->tool = 0;
	k->port = port;
	best = pol_better(best, bpf_map_lookup_elem(&pol_net, k));
	k->port = 0;
	best = pol_better(best, bpf_map_lookup_elem(&pol_net, k));
	return best;
}

static __always_inline int pol_sock_addr(struct bpf_sock_addr *ctx, __u8 family, __u32 hook)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_pol_net_key k = {};
	struct at_pol_verdict *v;
	struct at_session_ref *s;
	struct pol_scratch *sc;
	struct at_pol_cfg *cfg;
	__u8 outcome = AT_POL_OUT_RECORDED;
	__u16 port;
	int verdict = 1;

	cfg = pol_config();
	if (!cfg || !(cfg->cat_mask & (1u << AT_POL_CAT_NETWORK)))
		return 1;
	s = at_tracked(id >> 32);
	if (!s)
		return 1;
	port = bpf_ntohs((__u16)ctx->user_port);
	k.family = family;
	if (family == AF_INET) {
		__u32 a = ctx->user_ip4;

		k.prefixlen = AT_POL_NET_FIXED_BITS + 32;
		__builtin_memcpy(k.addr, &a, 4);
	} else {
		__u32 a[4];

		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		k.prefixlen = AT_POL_NET_FIXED_BITS + 128;
		__builtin_memcpy(k.addr, a, 16);
	}
	v = pol_net_lookup(&k, (__u8)s->tool, port);
	if (!v)
		v = pol_default(AT_POL_CAT_NETWORK);
	if (!v || v->action == AT_POL_ALLOW)
		return 1;
	if (v->mode == AT_POL_ENFORCE && v->action >= AT_POL_DENY) {
		verdict = 0;
		outcome = AT_POL_OUT_BLOCKED;
		if (v->action == AT_POL_KILL) {
			__u8 one = 1;

			if (bpf_map_update_elem(&pol_kill_pending, &id, &one, BPF_ANY) == 0)
				outcome = AT_POL_OUT_KILLED;
		}
	}
	sc = pol_scratch_get();
	if (sc) {
		struct at_pol_decision *rec = &sc->rec;

		rec->family = family;
		rec->port = port;
		__builtin_memcpy(rec->addr, k.addr, 16);
		rec->path_len = 0;
		rec->target_pid = 0;
		rec->arg = 0;
		pol_emit(rec, s, v, AT_POL_CAT_NETWORK, AT_POL_MECH_CGROUP_SOCK_ADDR, outcome, hook,
			 cfg->generation);
	}
	return verdict;
}

SEC("cgroup/connect4")
int pol_connect4(struct bpf_sock_addr *ctx)
{
	return pol_sock_addr(ctx, AF_INET, AT_POL_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int pol_connect6(struct bpf_sock_addr *ctx)
{
	return pol_sock_addr(ctx, AF_INET6, AT_POL_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int pol_sendmsg4(struct bpf_sock_addr *ctx)
{
	return pol_sock_addr(ctx, AF_INET, AT_POL_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int pol_sendmsg6(struct bpf_sock_addr *ctx)
{
	return pol_sock_addr(ctx, AF_INET6, AT_POL_HOOK_SENDMSG6);
}

/* The exit of a call a cgroup hook decided to kill: the kill is due whatever the call returned. */
static __always_inline int pol_kill_if_pending(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (bpf_map_lookup_elem(&pol_kill_pending, &id)) {
		bpf_map_delete_elem(&pol_kill_pending, &id);
		bpf_send_signal(SIGKILL);
	}
	return 0;
}

AT_SYS_EXIT_RET(pol_exit_connect, connect, pol_kill_if_pending)
AT_SYS_EXIT_RET(pol_exit_sendto, sendto, pol_kill_if_pending)
AT_SYS_EXIT_RET(pol_exit_sendmsg, sendmsg, pol_kill_if_pending)
AT_SYS_EXIT_RET(pol_exit_sendmmsg, sendmmsg, pol_kill_if_pending)

/* --- files and exec: kill from the syscall entry */

struct slash_ctx {
	__u32 n;     /* bytes read, NUL included */
	__u32 slash; /* index after the last '/' */
};

static long pol_find_slash(__u32 i, void *ctx)
{
	struct slash_ctx *c = ctx;
	struct pol_scratch *sc;

	if (i >= c->n || i >= AT_POL_PATH_MAX)
		return 1;
	sc = pol_scratch_get();
	if (!sc)
		return 1;
	__u64 idx = i;

	/* clang drops a plain mask it can prove redundant; the verifier needs it */
	asm volatile("%0 &= 255" : "+r"(idx));
	if (sc->key.path[idx] == '/')
		c->slash = i + 1;
	return 0;
}

/*
 * A relative name becomes dir + "/" + name, dir being the dirfd's or the cwd's path as the
 * kernel has it (bpf/path.bpf.h). Returns the length with the NUL, 0 when it does not fit the
 * key or the directory could not be read. "." and ".." inside the name are not folded.
 */
static __always_inline long pol_resolve_relative(struct at_pol_path_key *k, int dirfd,
						 const char *uptr)
{
	struct pol_dir *d;
	__u32 zero = 0, flags = 0, dl, off, room;
	long n;

	d = bpf_map_lookup_elem(&pol_dir, &zero);
	if (!d)
		return 0;
	dl = at_dirfd_path(dirfd, d->buf, &flags);
	if (flags || dl < 2 || dl > AT_POL_PATH_MAX - 2)
		return 0;
	dl -= 1; /* without the NUL */
	if (bpf_probe_read_kernel(k->path, dl & 0xff, d->buf))
		return 0;
	if (dl > 1) /* "/" already ends in a slash */
		k->path[dl++ & 0xff] = '/';
	off = dl;
	/* the verifier needs the bounds clang would prove away: an opaque mask keeps them */
	asm volatile("%0 &= 255" : "+r"(off));
	if (off >= AT_POL_PATH_MAX - 1)
		return 0;
	room = AT_POL_PATH_MAX - off;
	asm volatile("%0 &= 255" : "+r"(room));
	/* "./name" is the common spelling of a name in the cwd */
	n = bpf_probe_read_user_str(k->path + off, room, uptr);
	if (n <= 0)
		return 0;
	if (n >= 3 && k->path[off] == '.' && k->path[(off + 1) & 0xff] == '/') {
		n = bpf_probe_read_user_str(k->path + off, room, uptr + 2);
		if (n <= 0)
			return 0;
	}
	if (dl + n >= AT_POL_PATH_MAX)
		return 0; /* cut short: an exact rule could match a longer name's prefix */
	return dl + n;
}

/*
 * Decides on the user path at uptr (relative to dirfd) for category cat. Names the kernel
 * cannot resolve here (too long, unreadable directory) are left to the agent after the fact.
 */
static __always_inline void pol_path_check(int dirfd, const char *uptr, __u8 cat, __u32 hook)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_pol_verdict *v = NULL, *p;
	struct at_pol_path_key *k;
	struct at_session_ref *s;
	struct pol_scratch *sc;
	struct at_pol_cfg *cfg;
	__u8 outcome = AT_POL_OUT_RECORDED;
	long n;

	cfg = pol_config();
	if (!cfg || !(cfg->cat_mask & (1u << cat)))
		return;
	s = at_tracked(id >> 32);
	if (!s)
		return;
	sc = pol_scratch_get();
	if (!sc)
		return;
	k = &sc->key;
	n = bpf_probe_read_user_str(k->path, sizeof(k->path), uptr);
	if (n <= 0) {
		at_count(AT_CNT_READ_USER_FAIL);
		return;
	}
	if (k->path[0] != '/' && cat != AT_POL_CAT_EXEC) {
		n = pol_resolve_relative(k, dirfd, uptr);
		if (!n)
			return;
	}
	if (k->path[0] == '/') {
		k->cat = cat;
		/* an exact entry ends with the NUL: a path cut short only hits prefix entries */
		k->prefixlen = AT_POL_PATH_FIXED_BITS + (__u32)n * 8;
		k->tool = (__u8)s->tool;
		v = bpf_map_lookup_elem(&pol_path, k);
		k->tool = 0;
		v = pol_better(v, bpf_map_lookup_elem(&pol_path, k));
	}

	if (cat == AT_POL_CAT_EXEC) {
		struct at_pol_prog_key pk = {};
		struct slash_ctx sctx = { .n = n };

		/* a callback is verified once; an open loop here explodes the verifier's states */
		bpf_loop(AT_POL_PATH_MAX, pol_find_slash, &sctx, 0);
		bpf_probe_read_kernel_str(pk.name, sizeof(pk.name), k->path + (sctx.slash & 0xff));
		pk.tool = (__u8)s->tool;
		v = pol_better(v, bpf_map_lookup_elem(&pol_prog, &pk));
		pk.tool = 0;
		v = pol_better(v, bpf_map_lookup_elem(&pol_prog, &pk));
	}
	if (!v)
		v = pol_default(cat);
	if (!v || v->action == AT_POL_ALLOW)
		return;
	if (v->mode == AT_POL_ENFORCE && v->action >= AT_POL_DENY)
		outcome = bpf_send_signal(SIGKILL) ? AT_POL_OUT_FAILED : AT_POL_OUT_KILLED;

	p = v;
	{
		struct at_pol_decision *rec = &sc->rec;
		__u32 len = n - 1;

		if (len > AT_POL_PATH_MAX)
			len = AT_POL_PATH_MAX;
		bpf_probe_read_kernel(rec->path, len & PATH_MASK, k->path);
		rec->path_len = len;
		rec->family = 0;
		rec->port = 0;
		rec->target_pid = 0;
		rec->arg = 0;
		pol_emit(rec, s, p, cat, AT_POL_MECH_TRACEPOINT_KILL, outcome, hook,
			 cfg->generation);
	}
}

static __always_inline bool pol_open_writes(__u64 flags)
{
	return flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND);
}

/* An open is a write when its flags may write, a read otherwise. */
static __always_inline int pol_open_check(int dirfd, const char *name, __u64 flags, __u32 hook)
{
	pol_path_check(dirfd, name,
		       pol_open_writes(flags) ? AT_POL_CAT_FILE_WRITE : AT_POL_CAT_FILE_READ, hook);
	return 0;
}

static __always_inline int pol_write_check(int dirfd, const char *name, __u32 hook)
{
	pol_path_check(dirfd, name, AT_POL_CAT_FILE_WRITE, hook);
	return 0;
}

/* A rename writes both names: a protected file can be replaced as well as moved away. */
static __always_inline int pol_rename_check(int olddfd, const char *oldname, int newdfd,
					    const char *newname, __u32 hook)
{
	pol_write_check(olddfd, oldname, hook);
	return pol_write_check(newdfd, newname, hook);
}

AT_SYS_ENTER(pol_enter_openat, openat)
{
	return pol_open_check((int)ctx->args[0], (const char *)ctx->args[1], ctx->args[2],
			      AT_POL_HOOK_OPEN);
}

AT_SYS_ENTER(pol_enter_openat2, openat2)
{
	__u64 flags = 0;

	/* struct open_how starts with the flags */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	return pol_open_check((int)ctx->args[0], (const char *)ctx->args[1], flags,
			      AT_POL_HOOK_OPEN);
}

AT_SYS_ENTER(pol_enter_open, open)
{
	return pol_open_check(AT_FDCWD, (const char *)ctx->args[0], ctx->args[1], AT_POL_HOOK_OPEN);
}

AT_SYS_ENTER(pol_enter_creat, creat)
{
	return pol_write_check(AT_FDCWD, (const char *)ctx->args[0], AT_POL_HOOK_OPEN);
}

AT_SYS_ENTER(pol_enter_truncate, truncate)
{
	return pol_write_check(AT_FDCWD, (const char *)ctx->args[0], AT_POL_HOOK_TRUNCATE);
}

AT_SYS_ENTER(pol_enter_unlinkat, unlinkat)
{
	return pol_write_check((int)ctx->args[0], (const char *)ctx->args[1], AT_POL_HOOK_UNLINK);
}

AT_SYS_ENTER(pol_enter_unlink, unlink)
{
	return pol_write_check(AT_FDCWD, (const char *)ctx->args[0], AT_POL_HOOK_UNLINK);
}

AT_SYS_ENTER(pol_enter_renameat2, renameat2)
{
	return pol_rename_check((int)ctx->args[0], (const char *)ctx->args[1], (int)ctx->args[2],
				(const char *)ctx->args[3], AT_POL_HOOK_RENAME);
}

AT_SYS_ENTER(pol_enter_renameat, renameat)
{
	return pol_rename_check((int)ctx->args[0], (const char *)ctx->args[1], (int)ctx->args[2],
				(const char *)ctx->args[3], AT_POL_HOOK_RENAME);
}

AT_SYS_ENTER(pol_enter_rename, rename)
{
	return pol_rename_check(AT_FDCWD, (const char *)ctx->args[0], AT_FDCWD,
				(const char *)ctx->args[1], AT_POL_HOOK_RENAME);
}

/*
 * io_uring requests never pass the syscall hooks: the same decisions at submission, in the
 * submitter's context, on the name as the process passed it (the kernel keeps its address).
 */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(pol_uring_submit, struct io_kiocb *req)
{
	void *cmd = &req->cmd;
	__u8 op = BPF_CORE_READ(req, opcode);

	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2) {
		struct io_open *o = cmd;

		pol_open_check(BPF_CORE_READ(o, dfd), BPF_CORE_READ(o, filename, uptr),
			       BPF_CORE_READ(o, how.flags), AT_POL_HOOK_URING_OPEN);
	} else if (op == IORING_OP_UNLINKAT) {
		struct io_unlink *u = cmd;

		pol_write_check(BPF_CORE_READ(u, dfd), BPF_CORE_READ(u, filename, uptr),
				AT_POL_HOOK_URING_UNLINK);
	} else if (op == IORING_OP_RENAMEAT) {
		struct io_rename *r = cmd;

		pol_rename_check(BPF_CORE_READ(r, old_dfd), BPF_CORE_READ(r, oldpath, uptr),
				 BPF_CORE_READ(r, new_dfd), BPF_CORE_READ(r, newpath, uptr),
				 AT_POL_HOOK_URING_RENAME);
	}
	return 0;
}

AT_SYS_ENTER(pol_enter_execve, execve)
{
	pol_path_check(AT_FDCWD, (const char *)ctx->args[0], AT_POL_CAT_EXEC, AT_POL_HOOK_EXEC);
	return 0;
}

AT_SYS_ENTER(pol_enter_execveat, execveat)
{
	pol_path_check((int)ctx->args[0], (const char *)ctx->args[1],
		       AT_POL_CAT_EXEC, AT_POL_HOOK_EXEC);
	return 0;
}

/* --- self-protection */

static __always_inline int pol_self_check(__s64 target, __s64 arg, __u32 hook)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_session_ref *s;
	struct pol_scratch *sc;
	struct at_pol_cfg *cfg;
	struct at_pol_verdict self_verdict = {
		.action = AT_POL_KILL,
		.mode = AT_POL_ENFORCE,
		.rule_id = "self-protect",
	};
	__u32 t;
	__u8 outcome;

	cfg = pol_config();
	if (!cfg || !cfg->self_protect)
		return 0;
	s = at_tracked(id >> 32);
	if (!s)
		return 0;
	if (hook == AT_POL_HOOK_KILL && arg == 0)
		return 0; /* signal 0 only asks whether the pid exists */
	if (target < 0 && (__u32)bpf_get_current_uid_gid() != 0) {
		return 0; /* broadcast or group kills by other users cannot reach a root agent */
	} else if (target == -1) {
		/* kill(-1) reaches every process the caller may signal, the agent included */
	} else if (target < 0) {
		if ((__u32)(-target) != cfg->agent_pgid)
			return 0;
	} else {
		t = (__u32)target;
		if (!bpf_map_lookup_elem(&pol_protected, &t))
			return 0;
	}
	outcome = bpf_send_signal(SIGKILL) ? AT_POL_OUT_FAILED : AT_POL_OUT_KILLED;
	sc = pol_scratch_get();
	if (!sc)
		return 0;
	sc->rec.target_pid = (__s32)target;
	sc->rec.arg = arg;
	sc->rec.path_len = 0;
	sc->rec.family = 0;
	sc->rec.port = 0;
	pol_emit(&sc->rec, s, &self_verdict, AT_POL_CAT_SELF_PROTECT,
		 AT_POL_MECH_TRACEPOINT_KILL, outcome, hook, cfg->generation);
	return 0;
}

/* A call that names one process by pid: 0 and below name none to check (or the caller). */
static __always_inline int pol_self_check_pid(__s64 pid, __s64 arg, __u32 hook)
{
	if (pid <= 0)
		return 0;
	return pol_self_check(pid, arg, hook);
}

AT_SYS_ENTER(pol_enter_kill, kill)
{
	return pol_self_check((int)ctx->args[0], (int)ctx->args[1], AT_POL_HOOK_KILL);
}

AT_SYS_ENTER(pol_enter_tkill, tkill)
{
	return pol_self_check((int)ctx->args[0], (int)ctx->args[1], AT_POL_HOOK_KILL);
}

AT_SYS_ENTER(pol_enter_tgkill, tgkill)
{
	return pol_self_check((int)ctx->args[0], (int)ctx->args[2], AT_POL_HOOK_KILL);
}

/* pidfd_send_signal needs a pidfd: refusing pidfd_open of the agent covers it */
AT_SYS_ENTER(pol_enter_pidfd_open, pidfd_open)
{
	return pol_self_check_pid((int)ctx->args[0], -1, AT_POL_HOOK_PIDFD_OPEN);
}

AT_SYS_ENTER(pol_enter_ptrace, ptrace)
{
	if (ctx->args[0] == 0)
		return 0; /* PTRACE_TRACEME names no other process */
	return pol_self_check_pid((int)ctx->args[1], (long)ctx->args[0], AT_POL_HOOK_PTRACE);
}

AT_SYS_ENTER(pol_enter_process_vm_writev, process_vm_writev)
{
	return pol_self_check_pid((int)ctx->args[0], -1, AT_POL_HOOK_PROCESS_VM);
}
