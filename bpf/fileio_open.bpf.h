/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An fd a tracked process just opened, by a syscall (fileio_open.bpf.c) or through io_uring
 * (fileio_uring.bpf.c): a write access starts following the fd, a read of a sensitive-path
 * candidate is reported, and a read-only open counts against its directory.
 */
#ifndef AITRAIL_FILEIO_OPEN_BPF_H
#define AITRAIL_FILEIO_OPEN_BPF_H

#include "bpf/fileio.bpf.h"
#include "bpf/fileio_match.bpf.h"

/* Read-only opens per session and directory; the agent reports them periodically. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct at_fio_rdir_key);
	__type(value, struct at_fio_rdir_val);
} fio_rdirs SEC(".maps") __weak;

/* Sends r, whose path the walk wrote: n bytes with the NUL, pflags what the walk found. */
static __always_inline void fio_send_open(struct at_fio_open *r, __u32 n, __u32 pflags)
{
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
	fio_send_open(r, n, pflags);
}

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
	if (flags & __O_TMPFILE)
		r->oflags |= AT_FIO_O_TMPFILE;
	r->ino = BPF_CORE_READ(inode, i_ino);
	r->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	r->_pad = 0;
	r->size = BPF_CORE_READ(inode, i_size);
	if (type == AT_REC_FIO_WOPEN) {
		struct at_fio_fd key = { .tgid = id >> 32, .fd = (__s32)ret };
		struct at_fio_state st = {}, *old;

		/* the fd number was freed without close(2) (O_CLOEXEC exec, dup2): report it */
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
	fio_send_open(r, n, pflags);
}

#endif
