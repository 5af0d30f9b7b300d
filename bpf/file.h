/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * File-change records shared by bpf/file.bpf.c and agent/file_decode.c.
 *
 * A record carries up to two paths. Each is either complete (resolved by the kernel from an
 * open file: `base` only, `rel_len` 0) or a pair the agent joins: `base`, the canonical
 * directory the syscall resolved against (dirfd or cwd, from kernel structures; empty when the
 * name is absolute), and `rel`, the name as the process passed it. BPF cannot look names up, so
 * the join and the collapse of "." and ".." happen in user space (agent/file_decode.c).
 */
#ifndef AITRAIL_FILE_H
#define AITRAIL_FILE_H

#include "bpf/aitrail.h"

#define AT_FILE_PATH_MAX 4096 /* = AT_PATH_MAX in bpf/path.bpf.h, NUL included */

enum at_file_op {
	AT_FILE_OPEN = 1, /* AT_REC_FILE_OPEN; every other op is AT_REC_FILE_OP */
	AT_FILE_RENAME = 2,
	AT_FILE_UNLINK = 3,
	AT_FILE_RMDIR = 4,
	AT_FILE_MKDIR = 5,
	AT_FILE_TRUNCATE = 6,
	AT_FILE_CHMOD = 7,
	AT_FILE_LINK = 8,
	AT_FILE_SYMLINK = 9,
	AT_FILE_OP_MAX,
};

/* The syscall behind a record, for the agent's follow-the-last-component rules. */
enum at_file_sys {
	AT_FSYS_OPEN = 1,
	AT_FSYS_OPENAT,
	AT_FSYS_OPENAT2,
	AT_FSYS_CREAT,
	AT_FSYS_RENAME,
	AT_FSYS_RENAMEAT,
	AT_FSYS_RENAMEAT2,
	AT_FSYS_UNLINK,
	AT_FSYS_UNLINKAT,
	AT_FSYS_RMDIR,
	AT_FSYS_MKDIR,
	AT_FSYS_MKDIRAT,
	AT_FSYS_TRUNCATE,
	AT_FSYS_FTRUNCATE,
	AT_FSYS_CHMOD,
	AT_FSYS_FCHMOD,
	AT_FSYS_FCHMODAT,
	AT_FSYS_FCHMODAT2,
	AT_FSYS_LINK,
	AT_FSYS_LINKAT,
	AT_FSYS_SYMLINK,
	AT_FSYS_SYMLINKAT,
	AT_FSYS_MAX,
};

/* at_file.fflags; the path walk flags (AT_PATH_F_*) of path 1 and path 2 are kept apart. */
#define AT_FILE_F_TRUNC1 (1u << 0)    /* path 1 base cut short (leading components missing) */
#define AT_FILE_F_DELETED1 (1u << 1)  /* path 1 came from an unlinked file */
#define AT_FILE_F_DETACHED1 (1u << 2) /* path 1 base is outside the task's root */
#define AT_FILE_F_NOFILE1 (1u << 3)   /* path 1: dirfd/fd was not an open file */
#define AT_FILE_F_TRUNC2 (1u << 4)
#define AT_FILE_F_DELETED2 (1u << 5)
#define AT_FILE_F_DETACHED2 (1u << 6)
#define AT_FILE_F_NOFILE2 (1u << 7)
#define AT_FILE_F_REL_FAULT1 (1u << 8) /* path 1 name could not be read from user memory */
#define AT_FILE_F_REL_FAULT2 (1u << 9)
#define AT_FILE_F_REL_TRUNC1 (1u << 10) /* path 1 name longer than AT_FILE_PATH_MAX */
#define AT_FILE_F_REL_TRUNC2 (1u << 11)
#define AT_FILE_F_RAW2 (1u << 12)      /* path 2 is text, not a path (symlink target) */
#define AT_FILE_F_FOREIGN_ROOT (1u << 13) /* task's root is not its mount namespace's root */
#define AT_FILE_F_PSEUDO1 (1u << 14)   /* path 1 is a pipe, socket or memfd: a name, not a path */

/*
 * AT_REC_FILE_OPEN and AT_REC_FILE_OP. Variable size: hdr.size = offsetof(data) + the four
 * lengths, rounded up to 8. data holds base1, rel1, base2, rel2 back to back, each
 * NUL-terminated and counted with its NUL; a length of 0 means absent.
 */
struct at_file {
	struct at_hdr hdr;
	__u8 op;            /* enum at_file_op */
	__u8 sys;           /* enum at_file_sys */
	__u16 fflags;       /* AT_FILE_F_* */
	__s32 result;       /* 0 (or the fd for open) / -errno */
	__u32 open_flags;   /* open: O_* as passed (creat: O_CREAT|O_WRONLY|O_TRUNC) */
	__u32 mode;         /* open with O_CREAT/O_TMPFILE, mkdir, chmod */
	__s64 size;         /* truncate length */
	__u32 at_flags;     /* *at() flags: AT_REMOVEDIR, AT_SYMLINK_FOLLOW, RENAME_*, ... */
	__u32 mnt_ns;       /* mount namespace inode of the task */
	__u16 base1_len;
	__u16 rel1_len;
	__u16 base2_len;
	__u16 rel2_len;
	char data[];
};

#define AT_FILE_DATA_MAX (4 * AT_FILE_PATH_MAX)

#endif
