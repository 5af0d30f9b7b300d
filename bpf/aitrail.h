/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by every BPF program and the agent: the record header, the numbered record
 * types and the loss counters. Fixed-width types only and explicit padding: user space reads
 * these bytes straight out of the ring buffer.
 *
 * Record types are numbered once and never reused; a retired type keeps its number commented
 * out. Ranges: 1-19 process and session, 20-39 network, 40-69 files, 70-89 DNS and names,
 * 90-109 policy, 110-127 agent internal.
 */
#ifndef AITRAIL_H
#define AITRAIL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AT_COMM_LEN 16
#define AT_TOOL_MAX 32 /* tool ids are 1..AT_TOOL_MAX-1; 0 = not a session */

enum at_rec_type {
	AT_REC_EXEC = 1,
	AT_REC_EXIT = 2,
	AT_REC_FORK = 3,
	AT_REC_SESSION_START = 4,
	AT_REC_NET_CONNECT = 20,
	AT_REC_NET_CONNECT_DATA = 21,
	AT_REC_NET_CLOSE = 22,
	AT_REC_FILE_OPEN = 40,
	AT_REC_FILE_OP = 41,
	/* 50-54: write tracking, sensitive reads, renames (bpf/fileio.h) */
	AT_REC_DNS_MSG = 70,
	AT_REC_POLICY_DECISION = 90,
	AT_REC_SELF_PROTECT = 91,
};

#include "bpf/counters.h" /* enum at_counter: the loss counters */

/* Flags in at_hdr.flags */
#define AT_F_NESTED_AGENT (1u << 0) /* this process matched an agent signature inside a session */
#define AT_F_TRUNC_PATH (1u << 1)
#define AT_F_TRUNC_ARGV (1u << 2)
#define AT_F_READ_FAIL (1u << 3)
#define AT_F_TRUNC_PATH2 (1u << 4) /* second path (rename/link target) truncated */

/*
 * Every record starts with this header. The session is identified in the kernel by the root
 * process's tgid and start time; the agent turns that into the public session id.
 */
struct at_hdr {
	__u64 ts;          /* CLOCK_BOOTTIME ns (bpf_ktime_get_boot_ns) */
	__u64 root_start;  /* session root's start_boottime, ns */
	__u32 type;        /* enum at_rec_type */
	__u32 size;        /* whole record, header included, bytes */
	__u32 pid;         /* tgid */
	__u32 tid;         /* thread id */
	__u32 ppid;        /* real_parent's tgid */
	__u32 uid;         /* real uid */
	__u32 root_pid;    /* session root tgid */
	__u16 tool;        /* tool id of the session (index into the agent's tool table) */
	__u16 flags;       /* AT_F_* */
	char comm[AT_COMM_LEN];
};

/* Value of the `tracked` map (key: tgid). */
struct at_session_ref {
	__u64 root_start; /* root's start_boottime, ns */
	__u32 root_pid;
	__u16 tool;
	__u16 flags;      /* AT_F_NESTED_AGENT when this process is itself an agent */
};

#endif
