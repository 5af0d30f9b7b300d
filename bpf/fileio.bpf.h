/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the fileio_*.bpf.c programs share; bpf/fileio.h is their record ABI with the agent. A write
 * is followed in fio_open from the open that gave write access (fileio_open.bpf.c, or io_uring:
 * fileio_uring.bpf.c) through the write syscalls (fileio_write.bpf.c) and the copies of the fd
 * (fileio_dup.bpf.c) to its close or the process's exit (fileio_close.bpf.c); a rename carries it
 * to its final name (fileio_rename.bpf.c). Every hook starts with the `tracked` lookup or a
 * lookup in these maps, so processes outside sessions cost one hash lookup per syscall.
 *
 * The maps are __weak, as in maps.bpf.h: each object that includes them defines them and the
 * linker keeps one.
 */
#ifndef AITRAIL_FILEIO_BPF_H
#define AITRAIL_FILEIO_BPF_H

#include "bpf/path.bpf.h"
#include "bpf/fileio.h"

/* fds opened with write access, until close or exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct at_fio_fd);
	__type(value, struct at_fio_state);
} fio_open SEC(".maps") __weak;

/* Processes with entries in fio_open, and their session: exit flushes them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct at_session_ref);
} fio_procs SEC(".maps") __weak;

/* A rename record is built here: four paths do not fit the stack. */
AT_SCRATCH_MAP(fio_rename_scratch, struct at_fio_rename, 1) __weak;

/* Sends the close (or exit) record of a followed fd; f gives the size at close, NULL if gone. */
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

/* The directory a rename's name rel resolves against: dfd's path, "" for an absolute name. */
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

#endif
