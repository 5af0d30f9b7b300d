// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Writes and sensitive reads of tracked processes (bpf/fileio.h). Every hook starts with the
 * `tracked` lookup, so processes outside sessions cost one hash lookup per syscall.
 */
#include "bpf/path.bpf.h"
#include "bpf/fileio.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_TMPFILE 020000000
#define S_IFMT 0170000
#define S_IFREG 0100000

/* fio_cfg slots */
enum { FIO_CFG_FLAGS = 0, FIO_CFG_PREFIX_LENS = 1, FIO_CFG_MAX };
#define FIO_CFG_F_READS (1u << 0)    /* report sensitive reads at all */
#define FIO_CFG_F_ALL_READS (1u << 1) /* a pattern the maps cannot express: send every read */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FIO_CFG_MAX);
	__type(key, __u32);
	__type(value, __u32);
} fio_cfg SEC(".maps");

/* Sensitive-path candidates, filled by the agent from its patterns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct at_fio_key);
	__type(value, __u8);
} fio_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct at_fio_key);
	__type(value, __u8);
} fio_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct at_fio_key);
	__type(value, __u8);
} fio_exts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct at_fio_key);
	__type(value, __u8);
} fio_prefixes SEC(".maps");

/* fds opened with write access, until close or exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct at_fio_fd);
	__type(value, struct at_fio_state);
} fio_open SEC(".maps");

/* Processes with entries in fio_open, and their session: exit flushes them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct at_session_ref);
} fio_procs SEC(".maps");

/* Read-only opens per session and directory; the agent reports them periodically. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct at_fio_rdir_key);
	__type(value, struct at_fio_rdir_val);
} fio_rdirs SEC(".maps");

/* Syscall enter -> exit, by thread. */
struct fio_open_args {
	__u64 flags;
};

struct fio_rename_args {
	__u64 oldname;
	__u64 newname;
	__s32 olddfd;
	__s32 newdfd;
	__u32 flags;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct fio_open_args);
} fio_opening SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct at_fio_fd);
} fio_writing SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct fio_rename_args);
} fio_renaming SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct at_fio_rename);
} fio_rename_scratch SEC(".maps");

static __always_inline __u32 fio_cfg_get(__u32 slot)
{
	__u32 *v = bpf_map_lookup_elem(&fio_cfg, &slot);

	return v ? *v : 0;
}

/* ---- the kernel half of the sensitive-path matcher */

struct fio_walk {
	__u64 dentry;
	__u32 hit;
};

static long fio_dir_step(__u32 i, void *vctx)
{
	struct fio_walk *w = vctx;
	struct dentry *d = (struct dentry *)w->dentry;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct at_fio_key k = {};

	if (!parent || parent == d)
		return 1;
	if (BPF_CORE_READ(parent, d_name.len) < AT_FIO_KEY_LEN &&
	    bpf_probe_read_kernel_str(k.name, sizeof(k.name), BPF_CORE_READ(parent, d_name.name)) > 0 &&
	    bpf_map_lookup_elem(&fio_dirs, &k)) {
		w->hit = 1;
		return 1;
	}
	w->dentry = (__u64)parent;
	return 0;
}

/*
 * Name checks run as bpf_loop() callbacks: verified once, not once per iteration and call site.
 * base holds the file's name (NUL-padded), len its length.
 */
struct fio_name_ctx {
	struct at_fio_key base;
	struct at_fio_key k;
	__u32 len;
	__u32 lens; /* prefix lengths present in fio_prefixes, bit n = n bytes */
	__u32 dot;  /* index of the last '.' in base */
	__u32 hit;
};

static long fio_prefix_step(__u32 i, void *vctx)
{
	struct fio_name_ctx *c = vctx;
	__u32 j = i & (AT_FIO_KEY_LEN - 1);

	if (i >= c->len || i >= AT_FIO_KEY_LEN - 1)
		return 1;
	barrier_var(j);
	j &= AT_FIO_KEY_LEN - 1;
	c->k.name[j] = c->base.name[j];
	if ((c->lens & (1u << ((i + 1) & 31))) && bpf_map_lookup_elem(&fio_prefixes, &c->k)) {
		c->hit = 1;
		return 1;
	}
	return 0;
}

static long fio_dot_step(__u32 i, void *vctx)
{
	struct fio_name_ctx *c = vctx;

	if (i >= c->len)
		return 1;
	if (c->base.name[i & (AT_FIO_KEY_LEN - 1)] == '.')
		c->dot = i;
	return 0;
}

static long fio_ext_step(__u32 i, void *vctx)
{
	struct fio_name_ctx *c = vctx;
	__u32 src = c->dot + i, dst = i;

	if (src >= c->len || i >= AT_FIO_KEY_LEN - 1)
		return 1;
	dst &= AT_FIO_KEY_LEN - 1;
	src &= AT_FIO_KEY_LEN - 1;
	barrier_var(dst);
	barrier_var(src);
	c->k.name[dst & (AT_FIO_KEY_LEN - 1)] = c->base.name[src & (AT_FIO_KEY_LEN - 1)];
	return 0;
}

static __always_inline bool fio_sensitive(struct dentry *d)
{
	struct fio_name_ctx c = {};
	const unsigned char *name;
	struct fio_walk w = {};
	__u32 len, off;

	if (fio_cfg_get(FIO_CFG_FLAGS) & FIO_CFG_F_ALL_READS)
		return true;
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	if (len < AT_FIO_KEY_LEN) {
		if (bpf_probe_read_kernel_str(c.base.name, sizeof(c.base.name), name) <= 0)
			return false;
		if (bpf_map_lookup_elem(&fio_names, &c.base))
			return true;
		c.len = len;
		c.lens = fio_cfg_get(FIO_CFG_PREFIX_LENS);
		if (c.lens) {
			bpf_loop(AT_FIO_KEY_LEN, fio_prefix_step, &c, 0);
			if (c.hit)
				return true;
		}
	} else {
		/* long names: their extension is in the last bytes */
		off = len - (AT_FIO_KEY_LEN - 1);
		if (bpf_probe_read_kernel(c.base.name, AT_FIO_KEY_LEN - 1, name + off))
			return false;
		c.len = AT_FIO_KEY_LEN - 1;
	}
	c.dot = AT_FIO_KEY_LEN;
	bpf_loop(AT_FIO_KEY_LEN, fio_dot_step, &c, 0);
	if (c.dot < AT_FIO_KEY_LEN) {
		__builtin_memset(&c.k, 0, sizeof(c.k));
		bpf_loop(AT_FIO_KEY_LEN, fio_ext_step, &c, 0);
		if (bpf_map_lookup_elem(&fio_exts, &c.k))
			return true;
	}
	w.dentry = (__u64)d;
	bpf_loop(AT_FIO_DIR_DEPTH, fio_dir_step, &w, 0);
	return w.hit;
}

/* ---- opens */

static __always_inline void fio_enter_open(__u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_open_args a = { .flags = flags };

	if (!at_tracked(id >> 32))
		return;
	if (bpf_map_update_elem(&fio_opening, &id, &a, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

/*
 * Counts a read-only open against its directory; the first one of a session in a directory sends
 * the directory's path, later ones only count. node reading 10,000 module files costs one record
 * per directory.
 */
static __always_inline void fio_count_dir(struct file *f, const struct at_session_ref *sref)
{
	struct dentry *parent = BPF_CORE_READ(f, f_path.dentry, d_parent);
	struct at_fio_rdir_key k = { .root_pid = sref->root_pid, .dir = (__u64)parent };
	struct at_fio_rdir_val nv = { .root_start = sref->root_start, .count = 1 }, *v;
	struct at_fio_open *r;
	__u32 pflags = 0, n;

	v = bpf_map_lookup_elem(&fio_rdirs, &k);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		return;
	}
	if (bpf_map_update_elem(&fio_rdirs, &k, &nv, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&fio_rdirs, &k);
		if (v)
			__sync_fetch_and_add(&v->count, 1); /* another thread added it first */
		else
			at_count(AT_CNT_PENDING_FULL);
		return;
	}
	r = at_heap();
	if (!r)
		return;
	at_fill_hdr(&r->hdr, AT_REC_FIO_RDIR, 0, sref);
	r->fd = -1;
	r->open_flags = 0;
	r->oflags = 0;
	r->ino = (__u64)parent;
	r->dev = 0;
	r->_pad = 0;
	r->size = 0;
	n = at_d_path(parent, BPF_CORE_READ(f, f_path.mnt), r->path, &pflags);
	r->pflags = pflags;
	n &= AT_FIO_PATH_MAX * 2 - 1;
	if (n > AT_FIO_PATH_MAX)
		n = AT_FIO_PATH_MAX;
	r->path_len = n;
	n = (offsetof(struct at_fio_open, path) + n + 7) & ~7u;
	if (n > sizeof(*r))
		n = sizeof(*r);
	r->hdr.size = n;
	at_output_file(r, n, AT_CNT_RB_FILEIO_FULL);
}

static __always_inline void fio_emit_close(__u32 type, const struct at_session_ref *ref,
					   __u32 tgid, __s32 fd, const struct at_fio_state *st,
					   struct file *f);

/*
 * fd ret was opened with flags by the current process (by a syscall, or by an io_uring request:
 * oflags0 AT_FIO_O_URING): starts following a write, or reports a sensitive read.
 */
static __always_inline void fio_opened(__u64 flags, long ret, __u32 oflags0)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct at_session_ref *ref, sref;
	struct at_fio_open *r;
	struct inode *inode;
	struct file *f;
	__u32 fmode, type, pflags = 0, n, mode;

	ref = at_tracked(id >> 32);
	if (ret < 0 || !ref)
		return;
	sref = *ref;
	f = at_fd_file(task, (int)ret);
	if (!f)
		return;
	fmode = BPF_CORE_READ(f, f_mode);
	if (!(fmode & FMODE_WRITE) && (fmode & FMODE_READ) &&
	    (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFREG)
		fio_count_dir(f, &sref);
	if (fmode & FMODE_WRITE) {
		type = AT_REC_FIO_WOPEN;
	} else if ((fmode & FMODE_READ) && (fio_cfg_get(FIO_CFG_FLAGS) & FIO_CFG_F_READS) &&
		   fio_sensitive(BPF_CORE_READ(f, f_path.dentry))) {
		type = AT_REC_FIO_READ;
	} else {
		return;
	}
	r = at_heap();
	if (!r)
		return;
	at_fill_hdr(&r->hdr, type, 0, &sref);
	r->fd = (__s32)ret;
	r->open_flags = (__u32)flags;
	r->oflags = oflags0;
	inode = BPF_CORE_READ(f, f_inode);
	mode = BPF_CORE_READ(inode, i_mode);
	/* devices, pipes and sockets have no content to hash */
	if ((mode & S_IFMT) != S_IFREG) {
		if (type == AT_REC_FIO_WOPEN)
			return;
		r->oflags |= AT_FIO_O_NOT_REG;
	}
	if (fmode & FMODE_CREATED)
		r->oflags |= AT_FIO_O_CREATED;
	if ((flags & O_TRUNC) && (mode & S_IFMT) == S_IFREG)
		r->oflags |= AT_FIO_O_TRUNC;
	if (flags & O_APPEND)
		r->oflags |= AT_FIO_O_APPEND;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		r->oflags |= AT_FIO_O_TMPFILE;
	r->ino = BPF_CORE_READ(inode, i_ino);
	r->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	r->_pad = 0;
	r->size = BPF_CORE_READ(inode, i_size);
	if (type == AT_REC_FIO_WOPEN) {
		struct at_fio_fd key = { .tgid = id >> 32, .fd = (__s32)ret };
		struct at_fio_state st = {}, *old;

		/* the number was freed without close(2) (exec of O_CLOEXEC, dup2): report it first */
		old = bpf_map_lookup_elem(&fio_open, &key);
		if (old) {
			struct at_fio_state o = *old;

			fio_emit_close(AT_REC_FIO_CLOSE, &sref, key.tgid, key.fd, &o, NULL);
		}
		if (bpf_map_update_elem(&fio_open, &key, &st, BPF_ANY) ||
		    bpf_map_update_elem(&fio_procs, &key.tgid, &sref, BPF_ANY)) {
			bpf_map_delete_elem(&fio_open, &key);
			r->oflags |= AT_FIO_O_UNTRACKED;
			at_count(AT_CNT_PENDING_FULL);
		}
	}
	n = at_path_of(&f->f_path, r->path, &pflags);
	if (pflags & AT_PATH_F_TRUNC)
		r->hdr.flags |= AT_F_TRUNC_PATH;
	r->pflags = pflags;
	n &= AT_FIO_PATH_MAX * 2 - 1;
	if (n > AT_FIO_PATH_MAX)
		n = AT_FIO_PATH_MAX;
	r->path_len = n;
	n = (offsetof(struct at_fio_open, path) + n + 7) & ~7u;
	if (n > sizeof(*r))
		n = sizeof(*r);
	r->hdr.size = n;
	at_output_file(r, n, AT_CNT_RB_FILEIO_FULL);
}

static __always_inline void fio_exit_open(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_open_args *pa;
	__u64 flags;

	pa = bpf_map_lookup_elem(&fio_opening, &id);
	if (!pa)
		return;
	flags = pa->flags;
	bpf_map_delete_elem(&fio_opening, &id);
	fio_opened(flags, ret, 0);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int fio_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	fio_enter_open(ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int fio_enter_open1(struct trace_event_raw_sys_enter *ctx)
{
	fio_enter_open(ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_creat")
int fio_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	fio_enter_open(O_CREAT | O_WRONLY | O_TRUNC);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int fio_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;

	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* struct open_how starts with the flags */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	fio_enter_open(flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int fio_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_open(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int fio_exit_open1(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_open(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_creat")
int fio_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_open(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int fio_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_open(ctx->ret);
	return 0;
}

/* ---- writes: count what the syscalls returned on a followed fd */

static __always_inline void fio_enter_write(__s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_fio_fd key = { .tgid = id >> 32, .fd = fd };

	if (!bpf_map_lookup_elem(&fio_open, &key))
		return;
	if (bpf_map_update_elem(&fio_writing, &id, &key, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

static __always_inline void fio_exit_write(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_fio_state *st;
	struct at_fio_fd *key;

	key = bpf_map_lookup_elem(&fio_writing, &id);
	if (!key)
		return;
	if (ret > 0) {
		st = bpf_map_lookup_elem(&fio_open, key);
		if (st) {
			__sync_fetch_and_add(&st->bytes, ret);
			__sync_fetch_and_add(&st->writes, 1);
		}
	}
	bpf_map_delete_elem(&fio_writing, &id);
}

#define FIO_WRITE_HOOKS(sys)                                                                       \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                                 \
	int fio_e_##sys(struct trace_event_raw_sys_enter *ctx)                                 \
	{                                                                                          \
		fio_enter_write((__s32)ctx->args[0]);                                              \
		return 0;                                                                          \
	}                                                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                                  \
	int fio_x_##sys(struct trace_event_raw_sys_exit *ctx)                                   \
	{                                                                                          \
		fio_exit_write(ctx->ret);                                                          \
		return 0;                                                                          \
	}

FIO_WRITE_HOOKS(write)
FIO_WRITE_HOOKS(pwrite64)
FIO_WRITE_HOOKS(writev)
FIO_WRITE_HOOKS(pwritev)
FIO_WRITE_HOOKS(pwritev2)

/* ---- close and exit */

static __always_inline void fio_emit_close(__u32 type, const struct at_session_ref *ref,
					   __u32 tgid, __s32 fd, const struct at_fio_state *st,
					   struct file *f)
{
	struct at_fio_close r = {};
	struct inode *inode;

	at_fill_hdr(&r.hdr, type, sizeof(r), ref);
	r.hdr.pid = tgid;
	r.fd = fd;
	r.writes = st->writes;
	r.bytes = st->bytes;
	r.size = -1;
	if (f) {
		inode = BPF_CORE_READ(f, f_inode);
		r.size = BPF_CORE_READ(inode, i_size);
		r.ino = BPF_CORE_READ(inode, i_ino);
		r.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	}
	at_output_file(&r, sizeof(r), AT_CNT_RB_FILEIO_FULL);
}

/*
 * The fd closes while a dup of it still holds the same file (the shell opened `> file`,
 * dup2'ed it onto stdout and closes the original before the command writes): the write is not
 * over. Its counts move to the dup and the agent is told to follow the write there.
 */
static __always_inline bool fio_hand_over(struct task_struct *task, const struct at_fio_fd *key,
					  const struct at_fio_state *st,
					  const struct at_session_ref *ref)
{
	struct at_fio_fd tk = { .tgid = key->tgid, .fd = st->twin - 1 };
	struct at_fio_handover h = {};
	struct at_fio_state *tw;

	if (!st->twin || tk.fd == key->fd)
		return false;
	tw = bpf_map_lookup_elem(&fio_open, &tk);
	if (!tw || at_fd_file(task, tk.fd) != at_fd_file(task, key->fd))
		return false;
	__sync_fetch_and_add(&tw->bytes, st->bytes);
	__sync_fetch_and_add(&tw->writes, st->writes);
	tw->twin = 0;
	at_fill_hdr(&h.hdr, AT_REC_FIO_HANDOVER, sizeof(h), ref);
	h.hdr.pid = key->tgid;
	h.from_fd = key->fd;
	h.to_fd = tk.fd;
	at_output_file(&h, sizeof(h), AT_CNT_RB_FILEIO_FULL);
	return true;
}

SEC("tracepoint/syscalls/sys_enter_close")
int fio_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct at_fio_fd key = { .tgid = tgid, .fd = (__s32)ctx->args[0] };
	struct at_session_ref *ref;
	struct at_fio_state *pst, st;

	pst = bpf_map_lookup_elem(&fio_open, &key);
	if (!pst)
		return 0;
	st = *pst;
	ref = bpf_map_lookup_elem(&fio_procs, &tgid);
	if (ref && fio_hand_over(task, &key, &st, ref)) {
		bpf_map_delete_elem(&fio_open, &key);
		return 0;
	}
	if (bpf_map_delete_elem(&fio_open, &key))
		return 0; /* a racing close of the same fd reported it */
	if (!ref)
		return 0;
	fio_emit_close(AT_REC_FIO_CLOSE, ref, tgid, key.fd, &st, at_fd_file(task, key.fd));
	return 0;
}

/* ---- dup, dup2, dup3, fcntl(F_DUPFD*): a write followed through the copies of its fd */

struct fio_dup_args {
	__s32 oldfd;
	__s32 newfd; /* dup2/dup3's target, -1 for dup and fcntl */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct fio_dup_args);
} fio_duping SEC(".maps");

static __always_inline void fio_dup_enter(__s32 oldfd, __s32 newfd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_fio_fd ok = { .tgid = id >> 32, .fd = oldfd };
	struct at_fio_fd nk = { .tgid = id >> 32, .fd = newfd };
	struct fio_dup_args a = { .oldfd = oldfd, .newfd = newfd };

	if (!at_tracked(id >> 32))
		return;
	/* only when the copied fd is followed, or dup2 is about to close one that is */
	if (!bpf_map_lookup_elem(&fio_open, &ok) &&
	    (newfd < 0 || !bpf_map_lookup_elem(&fio_open, &nk)))
		return;
	if (bpf_map_update_elem(&fio_duping, &id, &a, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

static __always_inline void fio_dup_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct fio_dup_args *pa, a;
	struct at_fio_state *old, st;
	struct at_session_ref *ref;
	struct at_fio_fd k;

	pa = bpf_map_lookup_elem(&fio_duping, &id);
	if (!pa)
		return;
	a = *pa;
	bpf_map_delete_elem(&fio_duping, &id);
	if (ret < 0 || ret == a.oldfd)
		return;
	ref = bpf_map_lookup_elem(&fio_procs, &tgid);
	if (!ref)
		return;
	/* dup2 onto a followed fd closed that fd's file without close(2): its write ends here */
	k.tgid = tgid;
	k.fd = (__s32)ret;
	old = bpf_map_lookup_elem(&fio_open, &k);
	if (old) {
		st = *old;
		if (!bpf_map_delete_elem(&fio_open, &k))
			fio_emit_close(AT_REC_FIO_CLOSE, ref, tgid, k.fd, &st, NULL);
	}
	k.fd = a.oldfd;
	old = bpf_map_lookup_elem(&fio_open, &k);
	if (!old)
		return;
	old->twin = (__s32)ret + 1;
	st = (struct at_fio_state){ .twin = a.oldfd + 1 };
	k.fd = (__s32)ret;
	if (bpf_map_update_elem(&fio_open, &k, &st, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

SEC("tracepoint/syscalls/sys_enter_dup")
int fio_enter_dup(struct trace_event_raw_sys_enter *ctx)
{
	fio_dup_enter((__s32)ctx->args[0], -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup2")
int fio_enter_dup2(struct trace_event_raw_sys_enter *ctx)
{
	fio_dup_enter((__s32)ctx->args[0], (__s32)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int fio_enter_dup3(struct trace_event_raw_sys_enter *ctx)
{
	fio_dup_enter((__s32)ctx->args[0], (__s32)ctx->args[1]);
	return 0;
}

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

SEC("tracepoint/syscalls/sys_enter_fcntl")
int fio_enter_fcntl(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[1] == F_DUPFD || ctx->args[1] == F_DUPFD_CLOEXEC)
		fio_dup_enter((__s32)ctx->args[0], -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup")
int fio_exit_dup(struct trace_event_raw_sys_exit *ctx)
{
	fio_dup_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int fio_exit_dup2(struct trace_event_raw_sys_exit *ctx)
{
	fio_dup_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int fio_exit_dup3(struct trace_event_raw_sys_exit *ctx)
{
	fio_dup_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fcntl")
int fio_exit_fcntl(struct trace_event_raw_sys_exit *ctx)
{
	fio_dup_exit(ctx->ret);
	return 0;
}

struct fio_exit_ctx {
	struct at_session_ref ref;
	__u32 tgid;
	__u32 found;
};

static long fio_exit_one(struct bpf_map *map, struct at_fio_fd *key, struct at_fio_state *st,
			 struct fio_exit_ctx *c)
{
	struct at_fio_fd k = *key;
	struct at_fio_state s = *st;

	if (k.tgid != c->tgid)
		return 0;
	if (bpf_map_delete_elem(&fio_open, &k))
		return 0;
	fio_emit_close(AT_REC_FIO_EXIT, &c->ref, c->tgid, k.fd, &s, NULL);
	c->found++;
	return 0;
}

/* Files still open when the process ends are closed by the kernel: report them here. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fio_sched_exit, struct task_struct *p)
{
	struct fio_exit_ctx c = {};
	struct at_session_ref *ref;

	c.tgid = BPF_CORE_READ(p, tgid);
	ref = bpf_map_lookup_elem(&fio_procs, &c.tgid);
	if (!ref)
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	c.ref = *ref;
	bpf_for_each_map_elem(&fio_open, fio_exit_one, &c, 0);
	bpf_map_delete_elem(&fio_procs, &c.tgid);
	return 0;
}

/* ---- rename: carries a just-written file over to its final name */

static __always_inline void fio_enter_rename(__s32 olddfd, __u64 oldname, __s32 newdfd,
					     __u64 newname, __u32 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_rename_args a = {
		.oldname = oldname, .newname = newname, .olddfd = olddfd, .newdfd = newdfd,
		.flags = flags,
	};

	if (!at_tracked(id >> 32))
		return;
	if (bpf_map_update_elem(&fio_renaming, &id, &a, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

static __always_inline __u16 fio_read_name(char *dst, __u64 uptr, __u32 *pflags)
{
	long n = bpf_probe_read_user_str(dst, AT_FIO_PATH_MAX, (const void *)uptr);

	if (n <= 0) {
		at_count(AT_CNT_READ_USER_FAIL);
		dst[0] = '\0';
		return 0;
	}
	return (__u16)n;
}

static __always_inline __u16 fio_read_base(char *dst, __s32 dfd, const char *rel, __u32 *pflags)
{
	__u32 f = 0, n;

	if (rel[0] == '/') {
		dst[0] = '\0';
		return 1;
	}
	n = at_dirfd_path(dfd, dst, &f);
	*pflags |= f;
	return (__u16)n;
}

static __always_inline void fio_exit_rename_common(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_rename_args *pa, a;
	struct at_session_ref *ref;
	struct at_fio_rename *r;
	__u32 zero = 0, pflags = 0;

	pa = bpf_map_lookup_elem(&fio_renaming, &id);
	if (!pa)
		return;
	a = *pa;
	bpf_map_delete_elem(&fio_renaming, &id);
	ref = at_tracked(id >> 32);
	if (ret != 0 || !ref)
		return;
	r = bpf_map_lookup_elem(&fio_rename_scratch, &zero);
	if (!r)
		return;
	at_fill_hdr(&r->hdr, AT_REC_FIO_RENAME, sizeof(*r), ref);
	r->rflags = a.flags;
	r->rel1_len = fio_read_name(r->rel1, a.oldname, &pflags);
	r->rel2_len = fio_read_name(r->rel2, a.newname, &pflags);
	r->base1_len = fio_read_base(r->base1, a.olddfd, r->rel1, &pflags);
	r->base2_len = fio_read_base(r->base2, a.newdfd, r->rel2, &pflags);
	r->pflags = pflags;
	at_output_file(r, sizeof(*r), AT_CNT_RB_FILEIO_FULL);
}

SEC("tracepoint/syscalls/sys_enter_rename")
int fio_enter_rename1(struct trace_event_raw_sys_enter *ctx)
{
	fio_enter_rename(AT_FDCWD, ctx->args[0], AT_FDCWD, ctx->args[1], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_renameat")
int fio_enter_renameat(struct trace_event_raw_sys_enter *ctx)
{
	fio_enter_rename((__s32)ctx->args[0], ctx->args[1], (__s32)ctx->args[2], ctx->args[3], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_renameat2")
int fio_enter_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	fio_enter_rename((__s32)ctx->args[0], ctx->args[1], (__s32)ctx->args[2], ctx->args[3],
			 (__u32)ctx->args[4]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_rename")
int fio_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_rename_common(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int fio_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_rename_common(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int fio_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	fio_exit_rename_common(ctx->ret);
	return 0;
}

/*
 * ---- io_uring: an open through a ring starts following a write (or reports a sensitive read)
 * when it completes, and a close through a ring ends it. The completion runs in a thread of the
 * same process (the submitter, an io-wq worker or the SQPOLL thread), which shares its fds.
 * Writes through a ring are not counted: the file_write says so.
 */
#define FIO_URING_OPENAT 18
#define FIO_URING_CLOSE 19
#define FIO_URING_OPENAT2 28
#define FIO_URING_RENAMEAT 35

struct fio_uring_req {
	__u64 flags; /* open: O_* */
	__s32 fd;    /* close */
	__u8 op;
	__u8 _pad[3];
};

/* LRU: a request whose completion never comes (a ring torn down) must not fill it for good */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct fio_uring_req);
} fio_uring SEC(".maps");

/* Renames through a ring, named at submission (the names the kernel copied), sent on success. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct at_fio_rename);
} fio_uring_renames SEC(".maps");

static __always_inline __u16 fio_kernel_name(char *dst, struct filename *fn)
{
	long n = bpf_probe_read_kernel_str(dst, AT_FIO_PATH_MAX, BPF_CORE_READ(fn, name));

	if (n <= 0) {
		at_count(AT_CNT_READ_KERN_FAIL);
		dst[0] = '\0';
		return 0;
	}
	return (__u16)n;
}

static __always_inline void fio_uring_rename(struct io_kiocb *req, __u64 key,
					     const struct at_session_ref *ref)
{
	struct io_rename *n = (void *)&req->cmd;
	__u32 zero = 0, pflags = 0;
	struct at_fio_rename *r = bpf_map_lookup_elem(&fio_rename_scratch, &zero);

	if (!r)
		return;
	at_fill_hdr(&r->hdr, AT_REC_FIO_RENAME, sizeof(*r), ref);
	r->rflags = BPF_CORE_READ(n, flags);
	r->rel1_len = fio_kernel_name(r->rel1, BPF_CORE_READ(n, oldpath));
	r->rel2_len = fio_kernel_name(r->rel2, BPF_CORE_READ(n, newpath));
	r->base1_len = fio_read_base(r->base1, BPF_CORE_READ(n, old_dfd), r->rel1, &pflags);
	r->base2_len = fio_read_base(r->base2, BPF_CORE_READ(n, new_dfd), r->rel2, &pflags);
	r->pflags = pflags;
	if (bpf_map_update_elem(&fio_uring_renames, &key, r, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(fio_uring_submit, struct io_kiocb *req)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fio_uring_req q = {};
	struct at_session_ref *ref;
	__u64 key = (__u64)req;
	void *cmd = &req->cmd;

	ref = at_tracked(tgid);
	if (!ref)
		return 0;
	q.op = BPF_CORE_READ(req, opcode);
	if (q.op == FIO_URING_RENAMEAT) {
		fio_uring_rename(req, key, ref);
		return 0;
	}
	if (q.op == FIO_URING_OPENAT || q.op == FIO_URING_OPENAT2) {
		struct io_open *o = cmd;

		/* into the ring's own file table: no fd to follow */
		if (BPF_CORE_READ(o, file_slot))
			return 0;
		q.flags = BPF_CORE_READ(o, how.flags);
	} else if (q.op == FIO_URING_CLOSE) {
		struct io_close *c = cmd;
		struct at_fio_fd k = { .tgid = tgid };

		q.fd = BPF_CORE_READ(c, fd);
		k.fd = q.fd;
		if (!bpf_map_lookup_elem(&fio_open, &k))
			return 0; /* not a followed write */
	} else {
		return 0;
	}
	if (bpf_map_update_elem(&fio_uring, &key, &q, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
	return 0;
}

static __always_inline int fio_uring_completed(void *req, __s32 res)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fio_uring_req *pq, q;
	struct at_session_ref *ref;
	struct at_fio_state *pst, st;
	struct at_fio_rename *rn;
	__u64 key = (__u64)req;
	struct at_fio_fd k;

	rn = bpf_map_lookup_elem(&fio_uring_renames, &key);
	if (rn) {
		if (res == 0) {
			rn->hdr.ts = bpf_ktime_get_boot_ns();
			at_output_file(rn, sizeof(*rn), AT_CNT_RB_FILEIO_FULL);
		}
		bpf_map_delete_elem(&fio_uring_renames, &key);
		return 0;
	}
	pq = bpf_map_lookup_elem(&fio_uring, &key);
	if (!pq)
		return 0;
	q = *pq;
	bpf_map_delete_elem(&fio_uring, &key);
	if (q.op != FIO_URING_CLOSE) {
		if (res >= 0)
			fio_opened(q.flags, res, AT_FIO_O_URING);
		return 0;
	}
	k.tgid = tgid;
	k.fd = q.fd;
	pst = bpf_map_lookup_elem(&fio_open, &k);
	if (res || !pst)
		return 0;
	st = *pst;
	ref = bpf_map_lookup_elem(&fio_procs, &tgid);
	if (bpf_map_delete_elem(&fio_open, &k) || !ref)
		return 0;
	fio_emit_close(AT_REC_FIO_CLOSE, ref, tgid, k.fd, &st, NULL);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(fio_uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	return fio_uring_completed(req, BPF_CORE_READ(cqe, res));
}

/* 6.1 and 6.12 pass io_uring_complete the result itself (agent/uring.c loads one of the two) */
SEC("?tp_btf/io_uring_complete")
int BPF_PROG(fio_uring_complete_res, void *ring, void *req, __u64 user_data, int res)
{
	return fio_uring_completed(req, res);
}
