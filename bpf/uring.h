/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * io_uring operations of tracked processes, shared by bpf/uring.bpf.c and agent/uring_decode.c. An
 * operation submitted through a ring never passes the syscall hooks, so opens, connects and
 * path operations are taken from the ring's own tracepoints.
 */
#ifndef AITRAIL_URING_H
#define AITRAIL_URING_H

#include "bpf/aitrail.h"

#define AT_REC_URING_SETUP 100 /* at_uring_setup: a ring created */
#define AT_REC_URING_OP 101    /* at_uring_op: one operation, with its completion */

#define AT_URING_NAME 1024     /* bytes of a name as passed, NUL included */
#define AT_URING_BASE 4096     /* = AT_PATH_MAX: the directory a relative name resolves from */

/* at_uring_op.uflags */
#define AT_URING_F_COMPLETED (1u << 0)  /* result is the completion's; else none was seen */
#define AT_URING_F_NAME_TRUNC (1u << 1) /* name or name2 longer than AT_URING_NAME, or unread */
#define AT_URING_F_BASE_TRUNC (1u << 2) /* base cut short or unknown */
#define AT_URING_F_DIRECT (1u << 3)     /* opened into the ring's file table, not an fd */

struct at_uring_setup {
	struct at_hdr hdr;
	__s32 fd;
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 flags; /* IORING_SETUP_* */
};

/*
 * Variable size: hdr.size = offsetof(data) + 2 * AT_URING_NAME + base_len, rounded up to 8.
 * data: name at 0, name2 at AT_URING_NAME, base at 2 * AT_URING_NAME; each NUL-terminated,
 * its length counting the NUL, 0 = absent.
 */
struct at_uring_op {
	struct at_hdr hdr;
	__u8 opcode;       /* IORING_OP_* */
	__u8 family;       /* connect: AF_INET or AF_INET6 */
	__u16 port;        /* connect: host order */
	__s32 fd;          /* the op's fd: the dirfd of name (-100 = cwd), or the socket */
	__s32 fd2;         /* dirfd of name2 (rename, link) */
	__s32 result;      /* the completion: an fd, 0, or -errno */
	__u32 open_flags;  /* openat: O_*; unlinkat: AT_REMOVEDIR; rename: RENAME_* */
	__u32 mode;
	__u32 uflags;      /* AT_URING_F_* */
	__u16 sock_type;   /* connect: SOCK_STREAM, ... */
	__u16 protocol;    /* connect: IPPROTO_TCP, ... */
	__u16 name_len;
	__u16 name2_len;
	__u16 base_len;
	__u16 sport;       /* connect: the local port at completion */
	__u8 addr[16];     /* connect */
	char data[2 * AT_URING_NAME + AT_URING_BASE];
};

#endif
