/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's #define constants that BPF programs need. vmlinux.h cannot give them: BTF keeps
 * types and enums, not macros. Each is written once, here, with the header it comes from;
 * tests/unit/test_bpf_consts.c compares every UAPI value with the system's kernel headers and
 * fails on a name it does not know.
 *
 * Enum constants come from vmlinux.h and are not repeated: IPPROTO_*, SOCK_STREAM/SOCK_DGRAM,
 * TCP_* states, IORING_OP_*, and the kernel-internal SOCK_DONE and REQ_F_FIXED_FILE.
 */
#ifndef AITRAIL_CONSTS_BPF_H
#define AITRAIL_CONSTS_BPF_H

/* ---- UAPI: fixed for good, checked by the unit test */

/* address families: include/linux/socket.h (the values are the ABI of socket(2)) */
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

/* include/uapi/linux/if_ether.h */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* include/uapi/asm-generic/fcntl.h: x86 and arm64 use these; a few other architectures don't */
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_APPEND 02000
#define __O_TMPFILE 020000000 /* O_TMPFILE is this plus O_DIRECTORY */
#define F_DUPFD 0

/* include/uapi/linux/fcntl.h */
#define F_DUPFD_CLOEXEC 1030
#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200

/* include/uapi/linux/stat.h */
#define S_IFMT 0170000
#define S_IFREG 0100000

/* include/uapi/asm-generic/errno-base.h, errno.h */
#define EINTR 4
#define EALREADY 114
#define EINPROGRESS 115

/* include/uapi/asm-generic/signal.h */
#define SIGKILL 9

/*
 * ---- Kernel-internal: not in any UAPI header, so the unit test can only insist that each is
 * listed. Unchanged for many releases; compare with the kernel's sources when one moves.
 */

/* include/linux/errno.h: seen in a syscall's return value, never by the caller */
#define ERESTARTSYS 512
#define ERESTART_RESTARTBLOCK 516

/* include/linux/fs.h: file->f_mode */
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000

/* include/linux/sched/signal.h: signal_struct->flags */
#define SIGNAL_GROUP_EXIT 0x00000004

#endif
