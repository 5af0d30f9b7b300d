/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Process and session records (types 1-19 of bpf/aitrail.h) and the signature tables the agent
 * fills before attach. Fixed-width types only, explicit padding.
 */
#ifndef AITRAIL_SESSION_H
#define AITRAIL_SESSION_H

#include "bpf/aitrail.h"

#define AT_FILENAME_MAX 512
#define AT_ARGV_MAX 2048  /* argv bytes kept, NUL separated */
#define AT_CWD_MAX 1024
#define AT_ENV_SCAN_MAX 8192 /* environment bytes searched for markers */
#define AT_SIG_NAME_LEN 16
#define AT_SIG_PATTERN_LEN 48
#define AT_SIG_MAX_PATTERNS 32 /* argv substrings and env markers, each */

/* How a session root was recognised (at_exec_rec.matched_by) */
enum at_match {
	AT_MATCH_NONE = 0,
	AT_MATCH_COMM = 1,
	AT_MATCH_EXE = 2,
	AT_MATCH_ARGV = 3,
	AT_MATCH_ENV = 4,
	AT_MATCH_SCAN = 5, /* agent only: found by the /proc scan */
};

/*
 * AT_REC_EXEC and AT_REC_SESSION_START. Strings are not NUL terminated beyond their length;
 * argv is the raw argument block (NUL separated). hdr.flags carries AT_F_TRUNC_ARGV and
 * AT_F_READ_FAIL; the record is sent whole up to the end of cwd.
 */
struct at_exec_rec {
	struct at_hdr hdr;
	__u16 filename_len;
	__u16 argv_len;
	__u16 cwd_len;
	__u16 nested_tool;  /* tool id this process matched while already in a session, else 0 */
	__u16 matched_by;   /* enum at_match, SESSION_START only */
	__u16 trunc;        /* AT_EXEC_TRUNC_* */
	__u32 argc;
	char filename[AT_FILENAME_MAX];
	char argv[AT_ARGV_MAX];
	char cwd[AT_CWD_MAX];
};

#define AT_EXEC_TRUNC_FILENAME (1u << 0)
#define AT_EXEC_TRUNC_ARGV (1u << 1)
#define AT_EXEC_TRUNC_CWD (1u << 2)
#define AT_EXEC_READ_FAIL_ARGV (1u << 3)
#define AT_EXEC_NO_CWD (1u << 4) /* cwd not resolved by this build */

/* AT_REC_EXIT; hdr describes the exiting process. */
struct at_exit_rec {
	struct at_hdr hdr;
	__u32 status;   /* wait(2) status: (code << 8) | signal */
	__u32 _pad;
	__u64 start;    /* the process's start_boottime, ns */
};

/* AT_REC_FORK; hdr.pid is the child, hdr.ppid the parent. */
struct at_fork_rec {
	struct at_hdr hdr;
	__u64 child_start; /* start_boottime, ns */
};

/* Value of sig_argv / sig_env (array maps, entries 0..n-1 used). */
struct at_sig_pattern {
	char pat[AT_SIG_PATTERN_LEN];
	__u16 len;
	__u16 tool;
	__u32 _pad;
};

#endif
