/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Policy enforcement ABI between bpf/policy.bpf.c and agent/policy_agent.c: the verdict maps the
 * agent compiles a policy into, and the decision record the kernel emits. Action, mode and
 * category numbers are those of common/policy_rules.h.
 */
#ifndef AITRAIL_POLICY_BPF_ABI_H
#define AITRAIL_POLICY_BPF_ABI_H

#include "bpf/aitrail.h"

#define AT_POL_ID_LEN 32     /* rule id with NUL (POL_ID_MAX) */
#define AT_POL_PATH_MAX 254  /* path bytes in an LPM key: 2 + 254 = 256, the LPM data limit */
#define AT_POL_NAME_LEN 32   /* program basename key */
#define AT_POL_PRIO_DEFAULT 0xffffffffu
/* Recorded decisions per process per second; the rest are counted in the next record. */
#define AT_POL_RATE_PER_SEC 64

enum at_pol_cat {
	AT_POL_CAT_NETWORK = 0,
	AT_POL_CAT_FILE_WRITE = 1,
	AT_POL_CAT_FILE_READ = 2,
	AT_POL_CAT_EXEC = 3,
	AT_POL_CAT_SELF_PROTECT = 4,
	AT_POL_CAT_MAX = 5,
};

enum at_pol_action { AT_POL_ALLOW = 0, AT_POL_ALERT = 1, AT_POL_DENY = 2, AT_POL_KILL = 3 };
enum at_pol_mode { AT_POL_ENFORCE = 0, AT_POL_MONITOR = 1 };

enum at_pol_mech {
	AT_POL_MECH_NONE = 0,
	AT_POL_MECH_CGROUP_SOCK_ADDR = 1,
	AT_POL_MECH_LSM = 2,
	AT_POL_MECH_TRACEPOINT_KILL = 3,
	AT_POL_MECH_AGENT_ALERT = 4,
};

enum at_pol_outcome {
	AT_POL_OUT_RECORDED = 0, /* decided and recorded, nothing stopped (alert, monitor) */
	AT_POL_OUT_BLOCKED = 1,  /* the operation failed with EPERM */
	AT_POL_OUT_KILLED = 2,   /* SIGKILL sent before the syscall returned */
	AT_POL_OUT_FAILED = 3,   /* enforcement was due but the helper failed */
};

/* Which hook saw it: for the record's detail and for what the mechanism can prevent. */
enum at_pol_hook {
	AT_POL_HOOK_CONNECT4 = 1,
	AT_POL_HOOK_CONNECT6 = 2,
	AT_POL_HOOK_SENDMSG4 = 3,
	AT_POL_HOOK_SENDMSG6 = 4,
	AT_POL_HOOK_OPEN = 10,     /* open, openat, openat2, creat */
	AT_POL_HOOK_UNLINK = 11,
	AT_POL_HOOK_RENAME = 12,
	AT_POL_HOOK_TRUNCATE = 13,
	AT_POL_HOOK_URING_OPEN = 14,   /* io_uring openat, openat2 */
	AT_POL_HOOK_URING_UNLINK = 15,
	AT_POL_HOOK_URING_RENAME = 16,
	AT_POL_HOOK_EXEC = 20,
	AT_POL_HOOK_KILL = 30,     /* kill, tkill, tgkill */
	AT_POL_HOOK_PIDFD_OPEN = 31,
	AT_POL_HOOK_PTRACE = 32,
	AT_POL_HOOK_PROCESS_VM = 33,
};

/* Value of every verdict map. Lower prio = earlier rule; the agent precomputes first-match. */
struct at_pol_verdict {
	__u32 prio;
	__u8 action;
	__u8 mode;
	__u8 _pad[2];
	char rule_id[AT_POL_ID_LEN];
};

/* pol_net LPM key: tool and family and port match whole, then prefixlen-32 address bits. */
struct at_pol_net_key {
	__u32 prefixlen;
	__u8 tool;   /* 0 = any tool */
	__u8 family; /* AF_INET, AF_INET6 */
	__u16 port;  /* host order; 0 = any port */
	__u8 addr[16];
};
#define AT_POL_NET_FIXED_BITS 32

/* pol_path LPM key: an exact path ends with its NUL byte, a prefix does not. */
struct at_pol_path_key {
	__u32 prefixlen;
	__u8 tool;
	__u8 cat; /* file_write, file_read, exec */
	char path[AT_POL_PATH_MAX];
};
#define AT_POL_PATH_FIXED_BITS 16

/* pol_prog hash key: exec by program basename. */
struct at_pol_prog_key {
	__u8 tool;
	__u8 _pad[3];
	char name[AT_POL_NAME_LEN];
};

/* pol_cfg[0]: set by the agent after load and on every policy change. */
struct at_pol_cfg {
	__u32 enabled;      /* 0: every hook returns at once */
	__u32 agent_tgid;   /* self-protection: the agent's pid */
	__u32 agent_pgid;
	__u32 self_protect; /* 1: kill session processes that signal or trace the agent */
	__u32 generation;   /* policy generation, bumped on every load */
	__u32 cat_mask;     /* bit per enum at_pol_cat with anything to decide; others return at once */
	__u32 dns_names;    /* entries in pol_dns: 0 = DNS answers are not looked at */
};

/*
 * pol_dns: host names of network rules, for the kernel to turn a session's DNS answer into
 * pol_net entries before the answer reaches the process. The name is hashed in DNS wire form
 * (length-prefixed labels, letters lowered, the final zero byte included) from its last byte
 * back: h = h * AT_POL_DNS_HASH_MUL + byte. suffix 1 is "*.name": any name ending in .name.
 */
#define AT_POL_DNS_HASH_MUL 0x100000001b3ULL
#define AT_POL_DNS_PORTS 4

struct at_pol_dns_key {
	__u64 hash;
	__u8 tool;   /* 0 = any tool */
	__u8 suffix;
	__u8 _pad[6];
};

struct at_pol_dns_val {
	struct at_pol_verdict v; /* of the first rule naming it; prio orders rules */
	__u16 ports[AT_POL_DNS_PORTS];
	__u8 n_ports;            /* 0: any port */
	__u8 _pad[7];
};

/*
 * AT_REC_POLICY_DECISION (also for self-protection, category AT_POL_CAT_SELF_PROTECT).
 * Fixed size; path holds path_len bytes without terminator.
 */
struct at_pol_decision {
	struct at_hdr hdr;
	__u8 cat;
	__u8 action;
	__u8 mode;
	__u8 mech;
	__u8 outcome;
	__u8 family;
	__u16 port;
	__u8 addr[16];
	__u32 hook;       /* enum at_pol_hook */
	__s32 target_pid; /* self-protection: the pid the syscall aimed at */
	__s64 arg;        /* self-protection: signal number or ptrace request */
	__u32 path_len;
	__u32 generation;
	__u32 suppressed; /* decisions of this process not sent since the last one (rate limit) */
	__u32 _pad;
	char rule_id[AT_POL_ID_LEN];
	char path[AT_POL_PATH_MAX + 2];
};

#endif
