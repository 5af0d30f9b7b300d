/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A d_path() for BPF: the absolute path of a dentry/vfsmount pair, built from the kernel's own
 * structures the way fs/d_path.c does it, so the answer is what the process sees and not what
 * it typed: relative names, dirfds, "..", and symlinked directories are already resolved.
 *
 * The walk goes up d_parent, crosses each mount point through struct mount (mnt_mountpoint,
 * mnt_parent) and stops at the task's fs->root, so a chrooted or containerised process gets
 * paths in its own view. It is a bpf_loop() callback, verified once however many call sites
 * and however deep the walk (AT_PATH_DEPTH components).
 *
 * Names are prepended from the end of a per-CPU scratch buffer, then copied out. Odd bytes in
 * names (newlines, invalid UTF-8) are kept as they are: escaping is the writer's business.
 * Nothing here takes locks; a rename racing with the walk can give a mix of old and new names,
 * as d_path() without rename_lock would.
 */
#ifndef AITRAIL_PATH_BPF_H
#define AITRAIL_PATH_BPF_H

#include "bpf/common.bpf.h"

#define AT_PATH_MAX 4096  /* bytes of a path, NUL included; callers reserve this much */
#define AT_PATH_DEPTH (AT_PATH_MAX / 2 + 32) /* enough for any path that fits, plus mounts */
#define AT_NAME_MAX 255

/* What the walk found, in *flags of the path functions. */
#define AT_PATH_F_TRUNC (1u << 0)    /* too long or too deep: the leading components are missing */
#define AT_PATH_F_DELETED (1u << 1)  /* the dentry is unlinked (d_path adds " (deleted)") */
#define AT_PATH_F_DETACHED (1u << 2) /* hit a root that is not the task's: lazily unmounted, or
				      * outside its chroot; the path is relative to that root */
#define AT_PATH_F_NOFILE (1u << 3)   /* no such fd, or no fs struct: dst is "" */
#define AT_PATH_F_PSEUDO (1u << 4)   /* not in any tree (pipe, socket, memfd): dst is its name,
				      * or "<fstype>:[<inode>]" when it has none */

/*
 * Twice the path size: a name of up to AT_NAME_MAX bytes is written at an offset masked to
 * AT_PATH_MAX - 1, which the verifier can then prove stays inside the value.
 */
struct at_path_scratch {
	char buf[AT_PATH_MAX * 2];
};

AT_SCRATCH_MAP(path_scratch, struct at_path_scratch, 1) __weak;

struct at_walk {
	__u64 dentry;      /* struct dentry * being prepended */
	__u64 mnt;         /* struct mount * it lives on */
	__u64 root_dentry; /* task's fs->root */
	__u64 root_mnt;    /* struct vfsmount * */
	__u32 cur;         /* first used byte of the scratch buffer */
	__u32 flags;
};

static __always_inline struct vfsmount *at_vfsmnt(__u64 mnt)
{
	return (struct vfsmount *)(mnt + bpf_core_field_offset(struct mount, mnt));
}

static long at_walk_step(__u32 i, void *vctx)
{
	struct at_walk *w = vctx;
	struct dentry *d = (struct dentry *)w->dentry;
	struct mount *mnt = (struct mount *)w->mnt;
	struct vfsmount *vfsmnt = at_vfsmnt(w->mnt);
	struct at_path_scratch *s;
	struct dentry *parent;
	const unsigned char *name;
	__u32 zero = 0, len, off;

	if (w->dentry == w->root_dentry && (__u64)vfsmnt == w->root_mnt)
		return 1;

	if (d == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (up != mnt) {
			/* Cross to the directory this mount sits on; nothing to prepend. */
			w->dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = (__u64)up;
			return 0;
		}
		/* The namespace's root, or a detached tree: not the task's root. */
		w->flags |= AT_PATH_F_DETACHED;
		return 1;
	}

	parent = BPF_CORE_READ(d, d_parent);
	if (parent == d) {
		/* A disconnected dentry (e.g. from open_by_handle_at): no way further up. */
		w->flags |= AT_PATH_F_DETACHED;
		return 1;
	}

	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	if (len > AT_NAME_MAX || len + 1 > w->cur) {
		w->flags |= AT_PATH_F_TRUNC;
		return 1;
	}

	s = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!s)
		return 1;
	off = w->cur - len;
	if (bpf_probe_read_kernel(&s->buf[off & (AT_PATH_MAX - 1)], len & AT_NAME_MAX, name)) {
		at_count(AT_CNT_READ_KERN_FAIL);
		w->flags |= AT_PATH_F_TRUNC;
		return 1;
	}
	off--;
	s->buf[off & (AT_PATH_MAX - 1)] = '/';
	w->cur = off;
	w->dentry = (__u64)parent;
	return 0;
}

/*
 * A file that lives in no directory tree: a pipe, a socket, a memfd. d_path() asks the
 * filesystem (d_dname); here its own name is used when it has one ("memfd:x"), else the
 * filesystem and inode ("pipefs:[1234]"), which the agent renders as /proc does ("pipe:[1234]").
 */
static __always_inline __u32 at_pseudo_name(struct dentry *dentry, char *dst, __u32 *flags)
{
	static const char fmt[] = "%s:[%lu]";
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	__u64 args[2];
	long n;

	*flags |= AT_PATH_F_PSEUDO;
	if (len) {
		n = bpf_probe_read_kernel_str(dst, AT_NAME_MAX + 1, BPF_CORE_READ(dentry, d_name.name));
	} else {
		args[0] = (__u64)BPF_CORE_READ(dentry, d_sb, s_type, name);
		args[1] = BPF_CORE_READ(dentry, d_inode, i_ino);
		/* returns the length it wanted, which may exceed what it wrote */
		n = bpf_snprintf(dst, 64, fmt, args, sizeof(args));
		if (n > 64)
			n = 64;
	}
	/* callers rely on a result the verifier knows is within [1, AT_PATH_MAX] */
	if (n <= 0) {
		dst[0] = '\0';
		return 1;
	}
	return n & (AT_NAME_MAX * 2 + 1);
}

/* No file to name (no such fd, no fs struct): dst is "", length 1 with its NUL. */
static __always_inline __u32 at_no_path(char *dst, __u32 *flags)
{
	dst[0] = '\0';
	*flags |= AT_PATH_F_NOFILE;
	return 1;
}

/*
 * Writes the absolute path of (dentry, vfsmnt) as seen by the current task into dst, which
 * must have AT_PATH_MAX bytes, NUL-terminated. Returns the length including the NUL (>= 2 for
 * a path, 1 for ""). On truncation dst holds the deepest components that fit, AT_PATH_F_TRUNC
 * is set in *flags and AT_CNT_PATH_TRUNC counted.
 */
static __always_inline __u32 at_d_path(struct dentry *dentry, struct vfsmount *vfsmnt, char *dst,
				       __u32 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct at_path_scratch *s;
	struct at_walk w = {};
	__u32 zero = 0, start, n;

	dst[0] = '\0';
	s = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!s)
		return 1;
	if (!dentry || !vfsmnt) {
		*flags |= AT_PATH_F_NOFILE;
		return 1;
	}

	w.dentry = (__u64)dentry;
	w.mnt = (__u64)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w.root_dentry = (__u64)BPF_CORE_READ(task, fs, root.dentry);
	w.root_mnt = (__u64)BPF_CORE_READ(task, fs, root.mnt);
	w.cur = AT_PATH_MAX - 1;
	s->buf[AT_PATH_MAX - 1] = '\0';

	/* Unlinked: unhashed and not a root (d_unlinked()). */
	if (!BPF_CORE_READ(dentry, d_hash.pprev) && BPF_CORE_READ(dentry, d_parent) != dentry)
		w.flags |= AT_PATH_F_DELETED;

	bpf_loop(AT_PATH_DEPTH, at_walk_step, &w, 0);
	if (!(w.flags & (AT_PATH_F_TRUNC | AT_PATH_F_DETACHED)) &&
	    !(w.dentry == w.root_dentry &&
	      w.mnt + bpf_core_field_offset(struct mount, mnt) == w.root_mnt))
		w.flags |= AT_PATH_F_TRUNC; /* ran out of iterations */

	if (w.cur == AT_PATH_MAX - 1 && w.dentry == (__u64)dentry &&
	    BPF_CORE_READ(dentry, d_parent) == dentry && dentry != BPF_CORE_READ(vfsmnt, mnt_root))
		return at_pseudo_name(dentry, dst, flags);
	if (w.cur == AT_PATH_MAX - 1) {
		/* Nothing prepended: the root itself. */
		w.cur = AT_PATH_MAX - 2;
		s->buf[AT_PATH_MAX - 2] = '/';
	}
	if (w.flags & AT_PATH_F_TRUNC)
		at_count(AT_CNT_PATH_TRUNC);
	*flags |= w.flags;

	start = w.cur & (AT_PATH_MAX - 1);
	n = AT_PATH_MAX - start;
	if (bpf_probe_read_kernel(dst, n, &s->buf[start])) {
		at_count(AT_CNT_READ_KERN_FAIL);
		dst[0] = '\0';
		return 1;
	}
	return n;
}

static __always_inline __u32 at_path_of(const struct path *p, char *dst, __u32 *flags)
{
	return at_d_path(BPF_CORE_READ(p, dentry), BPF_CORE_READ(p, mnt), dst, flags);
}

/* fd -> struct file * through task->files->fdt; NULL when fd is not open. */
static __always_inline struct file *at_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/* Path of an open fd of the current task. */
static __always_inline __u32 at_fd_path(int fd, char *dst, __u32 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *f = at_fd_file(task, fd);

	if (!f)
		return at_no_path(dst, flags);
	return at_path_of(&f->f_path, dst, flags);
}

/* The current task's working directory (fs->pwd). */
static __always_inline __u32 at_cwd_path(char *dst, __u32 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(task, fs);

	if (!fs)
		return at_no_path(dst, flags);
	return at_path_of(&fs->pwd, dst, flags);
}

/* The directory a *at() syscall resolves relative names against: dirfd, or cwd for AT_FDCWD. */
static __always_inline __u32 at_dirfd_path(int dirfd, char *dst, __u32 *flags)
{
	if (dirfd == AT_FDCWD)
		return at_cwd_path(dst, flags);
	return at_fd_path(dirfd, dst, flags);
}

#endif
