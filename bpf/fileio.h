/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What sessions wrote and read: records shared by bpf/fileio_*.bpf.c and agent/fileio.c.
 *
 * A write is followed from the open that gave write access to the close of that fd (or the
 * process's exit): the kernel counts the bytes the write syscalls returned, the agent hashes
 * the file once the close record arrives. A rename of a just-written file carries the write over
 * to its final name (the editor's and the agent's atomic save). Reads are reported only for
 * sensitive paths; the kernel drops what cannot match (bpf maps of names), the agent decides.
 */
#ifndef AITRAIL_FILEIO_H
#define AITRAIL_FILEIO_H

#include "bpf/aitrail.h"

#define AT_FIO_PATH_MAX 4096 /* = AT_PATH_MAX of bpf/path.bpf.h, NUL included */
#define AT_FIO_KEY_LEN 32    /* names in the sensitive-path maps, NUL included */
#define AT_FIO_DIR_DEPTH 16  /* ancestors of an opened file compared with fio_dirs */

/* Record types: the 50s of the files range in bpf/aitrail.h. */
#define AT_REC_FIO_WOPEN 50  /* at_fio_open: an fd opened with write access */
#define AT_REC_FIO_CLOSE 51  /* at_fio_close: that fd closed */
#define AT_REC_FIO_EXIT 52   /* at_fio_close with fd = -1: the process exited, fds still open */
#define AT_REC_FIO_READ 53   /* at_fio_open: a sensitive-path candidate opened for reading */
#define AT_REC_FIO_RENAME 54 /* at_fio_rename */
#define AT_REC_FIO_RDIR 55   /* at_fio_open: first read-only open in a directory by a session;
			      * ino = the fio_rdirs key's dir, path = the directory */
#define AT_REC_FIO_HANDOVER 56 /* at_fio_handover: an fd with write access closed while a dup
				* of it stays open (the shell's `> file`): the write goes on there */

/* at_fio_open.oflags: what the open did */
#define AT_FIO_O_CREATED (1u << 0)   /* the open created the file */
#define AT_FIO_O_TRUNC (1u << 1)     /* O_TRUNC on a regular file */
#define AT_FIO_O_APPEND (1u << 2)
#define AT_FIO_O_TMPFILE (1u << 3)
#define AT_FIO_O_NOT_REG (1u << 4)   /* not a regular file (device, pipe, ...) */
#define AT_FIO_O_UNTRACKED (1u << 5) /* fio_open map full: no close record will follow */
#define AT_FIO_O_URING (1u << 6)     /* opened through io_uring: writes on a ring are not counted */

/* Value of fio_dirs/fio_names/fio_exts/fio_prefixes: only presence matters. */
struct at_fio_key {
	char name[AT_FIO_KEY_LEN];
};

/* AT_REC_FIO_WOPEN and AT_REC_FIO_READ. Sent up to the end of path (size rounded up to 8). */
struct at_fio_open {
	struct at_hdr hdr;
	__s32 fd;
	__u32 open_flags;  /* O_* as passed */
	__u32 oflags;      /* AT_FIO_O_* */
	__u16 path_len;    /* with the NUL */
	__u16 pflags;      /* AT_PATH_F_* of the walk */
	__u64 ino;
	__u32 dev;
	__u32 _pad;
	__s64 size;        /* i_size right after the open (after O_TRUNC) */
	char path[AT_FIO_PATH_MAX];
};

/* AT_REC_FIO_CLOSE and AT_REC_FIO_EXIT (fd -1: every fd of hdr.pid still open). */
struct at_fio_close {
	struct at_hdr hdr;
	__s32 fd;
	__u32 writes;      /* write syscalls that returned > 0 */
	__u64 bytes;       /* sum of what they returned */
	__s64 size;        /* i_size at close */
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

/*
 * AT_REC_FIO_RENAME after a successful rename*: each side is `base` (canonical directory the
 * name was resolved against, empty for an absolute name) and `rel`, the name as passed.
 */
struct at_fio_rename {
	struct at_hdr hdr;
	__u16 base1_len;   /* lengths with the NUL; 0 = not read */
	__u16 rel1_len;
	__u16 base2_len;
	__u16 rel2_len;
	__u32 rflags;      /* RENAME_* */
	__u32 pflags;      /* AT_PATH_F_* of both walks */
	char base1[AT_FIO_PATH_MAX];
	char rel1[AT_FIO_PATH_MAX];
	char base2[AT_FIO_PATH_MAX];
	char rel2[AT_FIO_PATH_MAX];
};

/* Key of fio_open: one fd of one process. */
struct at_fio_fd {
	__u32 tgid;
	__s32 fd;
};

/* Key and value of fio_rdirs: read-only opens per session and directory (dentry pointer). */
struct at_fio_rdir_key {
	__u32 root_pid;
	__u32 _pad;
	__u64 dir;
};

struct at_fio_rdir_val {
	__u64 root_start;
	__u64 count;
};

/* Value of fio_open. */
struct at_fio_state {
	__u64 bytes;
	__u32 writes;
	__s32 twin;        /* fd + 1 of a dup holding the same file; 0 = none */
};

/* AT_REC_FIO_HANDOVER */
struct at_fio_handover {
	struct at_hdr hdr;
	__s32 from_fd;
	__s32 to_fd;
};

#endif
