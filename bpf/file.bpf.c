// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File changes of tracked processes: opens with write intent, rename, unlink, rmdir, mkdir,
 * truncate, chmod, link, symlink. Arguments are kept at syscall entry, the record is built at
 * exit so it carries the result.
 *
 * Paths: a successful open and the f*() calls are named from the kernel's struct file, which
 * is exact. Every other path is named by the directory the syscall resolved against (dirfd or
 * cwd, walked in the kernel by path.bpf.h) plus the name the process passed; the agent joins
 * the two (bpf/file.h). Names are read at exit: the kernel has finished with them, and a
 * caller that rewrites its buffer during its own syscall only fools itself.
 */
#include "bpf/common.bpf.h"
#include "bpf/path.bpf.h"

#include "bpf/file.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_WRITE_INTENT (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

struct file_pending {
	__u64 name1;  /* user pointers */
	__u64 name2;
	__s64 size;
	__s32 dfd1;   /* dirfd of name1, or the fd itself for ftruncate/fchmod (name1 = 0) */
	__s32 dfd2;
	__u32 flags;
	__u32 mode;
	__u32 at_flags;
	__u8 op;
	__u8 sys;
	__u8 _pad[2];
};

AT_SYSCALL_MAP(file_pending, struct file_pending, 8192);

/*
 * Keeps a syscall's arguments, by thread, for its exit to build the record from. An open is kept
 * only when it may write.
 */
static __always_inline int file_enter(const struct file_pending *p)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!at_tracked(id >> 32))
		return 0;
	if (p->op == AT_FILE_OPEN && !(p->flags & AT_WRITE_INTENT))
		return 0;
	at_keep_pending(&file_pending, &id, p);
	return 0;
}

/*
 * The entry programs, one a syscall: which struct file_pending field each argument goes to.
 * A name is a user pointer resolved against its dirfd; name1 = 0 means dfd1 is the file itself.
 */
#define FILE_ENTER(prog, sys, ...)                                                                 \
	AT_SYS_ENTER(prog, sys)                                                                    \
	{                                                                                          \
		struct file_pending p = { __VA_ARGS__ };                                           \
                                                                                                   \
		return file_enter(&p);                                                             \
	}

FILE_ENTER(file_in_open, open, .op = AT_FILE_OPEN, .sys = AT_FSYS_OPEN, .dfd1 = AT_FDCWD,
	   .name1 = ctx->args[0], .flags = ctx->args[1], .mode = ctx->args[2])
FILE_ENTER(file_in_openat, openat, .op = AT_FILE_OPEN, .sys = AT_FSYS_OPENAT, .dfd1 = ctx->args[0],
	   .name1 = ctx->args[1], .flags = ctx->args[2], .mode = ctx->args[3])
FILE_ENTER(file_in_creat, creat, .op = AT_FILE_OPEN, .sys = AT_FSYS_CREAT, .dfd1 = AT_FDCWD,
	   .name1 = ctx->args[0], .flags = O_CREAT | O_WRONLY | O_TRUNC, .mode = ctx->args[1])
FILE_ENTER(file_in_rename, rename, .op = AT_FILE_RENAME, .sys = AT_FSYS_RENAME,
	   .dfd1 = AT_FDCWD, .name1 = ctx->args[0], .dfd2 = AT_FDCWD, .name2 = ctx->args[1])
FILE_ENTER(file_in_renameat, renameat, .op = AT_FILE_RENAME, .sys = AT_FSYS_RENAMEAT,
	   .dfd1 = ctx->args[0], .name1 = ctx->args[1], .dfd2 = ctx->args[2], .name2 = ctx->args[3])
FILE_ENTER(file_in_renameat2, renameat2, .op = AT_FILE_RENAME, .sys = AT_FSYS_RENAMEAT2,
	   .dfd1 = ctx->args[0], .name1 = ctx->args[1], .dfd2 = ctx->args[2], .name2 = ctx->args[3],
	   .at_flags = ctx->args[4])
FILE_ENTER(file_in_unlink, unlink, .op = AT_FILE_UNLINK, .sys = AT_FSYS_UNLINK,
	   .dfd1 = AT_FDCWD, .name1 = ctx->args[0])
FILE_ENTER(file_in_unlinkat, unlinkat,
	   .op = (__u32)ctx->args[2] & AT_REMOVEDIR ? AT_FILE_RMDIR : AT_FILE_UNLINK,
	   .sys = AT_FSYS_UNLINKAT, .dfd1 = ctx->args[0], .name1 = ctx->args[1],
	   .at_flags = ctx->args[2])
FILE_ENTER(file_in_rmdir, rmdir, .op = AT_FILE_RMDIR, .sys = AT_FSYS_RMDIR, .dfd1 = AT_FDCWD,
	   .name1 = ctx->args[0])
FILE_ENTER(file_in_mkdir, mkdir, .op = AT_FILE_MKDIR, .sys = AT_FSYS_MKDIR, .dfd1 = AT_FDCWD,
	   .name1 = ctx->args[0], .mode = ctx->args[1])
FILE_ENTER(file_in_mkdirat, mkdirat, .op = AT_FILE_MKDIR, .sys = AT_FSYS_MKDIRAT,
	   .dfd1 = ctx->args[0], .name1 = ctx->args[1], .mode = ctx->args[2])
FILE_ENTER(file_in_truncate, truncate, .op = AT_FILE_TRUNCATE, .sys = AT_FSYS_TRUNCATE,
	   .dfd1 = AT_FDCWD, .name1 = ctx->args[0], .size = ctx->args[1])
FILE_ENTER(file_in_ftruncate, ftruncate, .op = AT_FILE_TRUNCATE, .sys = AT_FSYS_FTRUNCATE,
	   .dfd1 = ctx->args[0], .size = ctx->args[1])
FILE_ENTER(file_in_chmod, chmod, .op = AT_FILE_CHMOD, .sys = AT_FSYS_CHMOD, .dfd1 = AT_FDCWD,
	   .name1 = ctx->args[0], .mode = ctx->args[1])
FILE_ENTER(file_in_fchmod, fchmod, .op = AT_FILE_CHMOD, .sys = AT_FSYS_FCHMOD,
	   .dfd1 = ctx->args[0], .mode = ctx->args[1])
FILE_ENTER(file_in_fchmodat, fchmodat, .op = AT_FILE_CHMOD, .sys = AT_FSYS_FCHMODAT,
	   .dfd1 = ctx->args[0], .name1 = ctx->args[1], .mode = ctx->args[2])
FILE_ENTER(file_in_fchmodat2, fchmodat2, .op = AT_FILE_CHMOD, .sys = AT_FSYS_FCHMODAT2,
	   .dfd1 = ctx->args[0], .name1 = ctx->args[1], .mode = ctx->args[2],
	   .at_flags = ctx->args[3])
FILE_ENTER(file_in_link, link, .op = AT_FILE_LINK, .sys = AT_FSYS_LINK, .dfd1 = AT_FDCWD,
	   .name1 = ctx->args[0], .dfd2 = AT_FDCWD, .name2 = ctx->args[1])
FILE_ENTER(file_in_linkat, linkat, .op = AT_FILE_LINK, .sys = AT_FSYS_LINKAT,
	   .dfd1 = ctx->args[0], .name1 = ctx->args[1], .dfd2 = ctx->args[2], .name2 = ctx->args[3],
	   .at_flags = ctx->args[4])
/* symlink(target, linkpath): path 1 is the new link, path 2 the target text as given. */
FILE_ENTER(file_in_symlink, symlink, .op = AT_FILE_SYMLINK, .sys = AT_FSYS_SYMLINK,
	   .dfd1 = AT_FDCWD, .name1 = ctx->args[1], .dfd2 = AT_FDCWD, .name2 = ctx->args[0])
FILE_ENTER(file_in_symlinkat, symlinkat, .op = AT_FILE_SYMLINK, .sys = AT_FSYS_SYMLINKAT,
	   .dfd1 = ctx->args[1], .name1 = ctx->args[2], .dfd2 = AT_FDCWD, .name2 = ctx->args[0])

/* openat2 passes its flags in a struct: read only for a tracked process. */
AT_SYS_ENTER(file_in_openat2, openat2)
{
	struct file_pending p = { .op = AT_FILE_OPEN, .sys = AT_FSYS_OPENAT2, .dfd1 = ctx->args[0],
				  .name1 = ctx->args[1] };
	struct open_how how = {};

	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2])) {
		/* the syscall fails with EFAULT too; nothing was written */
		at_count(AT_CNT_READ_USER_FAIL);
		return 0;
	}
	p.flags = how.flags;
	p.mode = how.mode;
	return file_enter(&p);
}

/* ---- exit: build the record */

#define FILE_DATA_MASK (AT_FILE_DATA_MAX - 1)

/* Data is written at offsets the verifier must bound: each piece at most AT_FILE_PATH_MAX. */
static __always_inline char *file_slot(struct at_file *r, __u32 off)
{
	return r->data + (off & FILE_DATA_MASK);
}

/*
 * One path as base + rel at data[*off]: the name as given, and unless it is absolute the
 * kernel's canonical path of its dirfd (or cwd). shift selects the path-1 or path-2 flags.
 */
static __always_inline void file_put_named(struct at_file *r, __u32 *off, __s32 dfd, __u64 name,
					   int shift, __u16 *base_len, __u16 *rel_len)
{
	__u32 pf = 0;
	long n;
	char c = 0;

	if (bpf_probe_read_user(&c, 1, (void *)name)) {
		at_count(AT_CNT_READ_USER_FAIL);
		r->fflags |= (shift ? AT_FILE_F_REL_FAULT2 : AT_FILE_F_REL_FAULT1);
		return;
	}
	if (c != '/') {
		n = at_dirfd_path(dfd, file_slot(r, *off), &pf);
		n &= AT_FILE_PATH_MAX * 2 - 1;
		if (n > AT_FILE_PATH_MAX)
			n = AT_FILE_PATH_MAX;
		*base_len = n;
		*off += n;
		r->fflags |= (pf & 0xf) << shift;
	}
	n = bpf_probe_read_user_str(file_slot(r, *off), AT_FILE_PATH_MAX, (void *)name);
	if (n <= 0) {
		at_count(AT_CNT_READ_USER_FAIL);
		r->fflags |= (shift ? AT_FILE_F_REL_FAULT2 : AT_FILE_F_REL_FAULT1);
		return;
	}
	if (n >= AT_FILE_PATH_MAX) {
		n = AT_FILE_PATH_MAX;
		r->fflags |= (shift ? AT_FILE_F_REL_TRUNC2 : AT_FILE_F_REL_TRUNC1);
		at_count(AT_CNT_PATH_TRUNC);
	}
	*rel_len = n;
	*off += n;
}

/* Text that is not a path (a symlink's target): rel only, never joined. */
static __always_inline void file_put_text(struct at_file *r, __u32 *off, __u64 text)
{
	long n = bpf_probe_read_user_str(file_slot(r, *off), AT_FILE_PATH_MAX, (void *)text);

	r->fflags |= AT_FILE_F_RAW2;
	if (n <= 0) {
		at_count(AT_CNT_READ_USER_FAIL);
		r->fflags |= AT_FILE_F_REL_FAULT2;
		return;
	}
	if (n >= AT_FILE_PATH_MAX) {
		n = AT_FILE_PATH_MAX;
		r->fflags |= AT_FILE_F_REL_TRUNC2;
		at_count(AT_CNT_PATH_TRUNC);
	}
	r->rel2_len = n;
	*off += n;
}

/* Path of an open fd, complete (base only). */
static __always_inline void file_put_fd(struct at_file *r, __u32 *off, __s32 fd)
{
	__u32 pf = 0;
	long n = at_fd_path(fd, file_slot(r, *off), &pf);

	n &= AT_FILE_PATH_MAX * 2 - 1;
	if (n > AT_FILE_PATH_MAX)
		n = AT_FILE_PATH_MAX;
	r->base1_len = n;
	*off += n;
	r->fflags |= pf & 0xf;
	if (pf & AT_PATH_F_PSEUDO)
		r->fflags |= AT_FILE_F_PSEUDO1;
}

/*
 * Whether the task's root is not its mount namespace's root: chrooted, or pivoted somewhere.
 * The namespace's root is the first mount; "/" is normally mounted right on top of it.
 */
static __always_inline bool file_foreign_root(struct task_struct *task)
{
	struct dentry *rd = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *rm = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *m = container_of(rm, struct mount, mnt);
	struct mount *up = BPF_CORE_READ(m, mnt_parent);

	if (rd != BPF_CORE_READ(rm, mnt_root))
		return true;
	if (up == m)
		return false;
	return BPF_CORE_READ(m, mnt_mountpoint) != BPF_CORE_READ(up, mnt.mnt_root) ||
	       BPF_CORE_READ(up, mnt_parent) != up;
}

static __noinline int file_exit(long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct at_session_ref *s;
	struct file_pending *pp, p;
	struct at_file *r;
	__u32 off = 0, size;

	s = at_tracked(id >> 32);
	if (!s)
		return 0;
	pp = bpf_map_lookup_elem(&file_pending, &id);
	if (!pp)
		return 0;
	p = *pp;
	bpf_map_delete_elem(&file_pending, &id);

	r = at_heap();
	if (!r)
		return 0;
	r->op = p.op;
	r->sys = p.sys;
	r->fflags = 0;
	r->result = ret;
	r->open_flags = p.flags;
	r->mode = p.mode;
	r->size = p.size;
	r->at_flags = p.at_flags;
	r->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	r->base1_len = r->rel1_len = r->base2_len = r->rel2_len = 0;
	if (file_foreign_root(task))
		r->fflags |= AT_FILE_F_FOREIGN_ROOT;

	if (p.op == AT_FILE_OPEN && ret >= 0)
		file_put_fd(r, &off, ret);
	else if (!p.name1)
		file_put_fd(r, &off, p.dfd1); /* ftruncate, fchmod */
	else
		file_put_named(r, &off, p.dfd1, p.name1, 0, &r->base1_len, &r->rel1_len);

	if (p.op == AT_FILE_SYMLINK)
		file_put_text(r, &off, p.name2);
	else if (p.name2)
		file_put_named(r, &off, p.dfd2, p.name2, 4, &r->base2_len, &r->rel2_len);

	size = (offsetof(struct at_file, data) + off + 7) & ~7u;
	if (size > sizeof(struct at_heap))
		return 0; /* cannot happen: four pieces of AT_FILE_PATH_MAX fit */
	at_fill_hdr(&r->hdr, p.op == AT_FILE_OPEN ? AT_REC_FILE_OPEN : AT_REC_FILE_OP, size, s);
	if (r->fflags & (AT_FILE_F_TRUNC1 | AT_FILE_F_REL_TRUNC1))
		r->hdr.flags |= AT_F_TRUNC_PATH;
	if (r->fflags & (AT_FILE_F_TRUNC2 | AT_FILE_F_REL_TRUNC2))
		r->hdr.flags |= AT_F_TRUNC_PATH2;
	if (r->fflags & (AT_FILE_F_REL_FAULT1 | AT_FILE_F_REL_FAULT2))
		r->hdr.flags |= AT_F_READ_FAIL;
	return at_output_file(r, size, AT_CNT_RB_FILE_FULL);
}

AT_SYS_EXIT_RET(file_out_open, open, file_exit)
AT_SYS_EXIT_RET(file_out_openat, openat, file_exit)
AT_SYS_EXIT_RET(file_out_openat2, openat2, file_exit)
AT_SYS_EXIT_RET(file_out_creat, creat, file_exit)
AT_SYS_EXIT_RET(file_out_rename, rename, file_exit)
AT_SYS_EXIT_RET(file_out_renameat, renameat, file_exit)
AT_SYS_EXIT_RET(file_out_renameat2, renameat2, file_exit)
AT_SYS_EXIT_RET(file_out_unlink, unlink, file_exit)
AT_SYS_EXIT_RET(file_out_unlinkat, unlinkat, file_exit)
AT_SYS_EXIT_RET(file_out_rmdir, rmdir, file_exit)
AT_SYS_EXIT_RET(file_out_mkdir, mkdir, file_exit)
AT_SYS_EXIT_RET(file_out_mkdirat, mkdirat, file_exit)
AT_SYS_EXIT_RET(file_out_truncate, truncate, file_exit)
AT_SYS_EXIT_RET(file_out_ftruncate, ftruncate, file_exit)
AT_SYS_EXIT_RET(file_out_chmod, chmod, file_exit)
AT_SYS_EXIT_RET(file_out_fchmod, fchmod, file_exit)
AT_SYS_EXIT_RET(file_out_fchmodat, fchmodat, file_exit)
AT_SYS_EXIT_RET(file_out_fchmodat2, fchmodat2, file_exit)
AT_SYS_EXIT_RET(file_out_link, link, file_exit)
AT_SYS_EXIT_RET(file_out_linkat, linkat, file_exit)
AT_SYS_EXIT_RET(file_out_symlink, symlink, file_exit)
AT_SYS_EXIT_RET(file_out_symlinkat, symlinkat, file_exit)
