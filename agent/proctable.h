/* SPDX-License-Identifier: Apache-2.0 */
/* pid -> what the agent knows about the process (agent/proctable.c). */
#ifndef AITRAIL_PROCTABLE_H
#define AITRAIL_PROCTABLE_H

#include <stddef.h>
#include <stdint.h>

struct agent;

struct proc_info {
	uint32_t pid;
	uint32_t ppid;
	uint32_t uid;
	char comm[16];
	char *exe;       /* malloc'd, may be NULL */
	char *cwd;
	char **argv;     /* NULL-terminated, malloc'd */
	size_t argc;
	uint32_t root_pid;
	uint64_t root_start;
	uint16_t tool;
	uint64_t exited_ns; /* boottime of exit, 0 while alive */
};

struct proc_info *proctable_get(struct agent *a, uint32_t pid);
struct proc_info *proctable_upsert(struct agent *a, uint32_t pid);
void proctable_set_exe(struct proc_info *p, const char *exe);
void proctable_set_cwd(struct proc_info *p, const char *cwd);
void proctable_set_argv(struct proc_info *p, const char *const *argv, size_t argc);
void proctable_exited(struct agent *a, uint32_t pid, uint64_t boot_ns);
/* Drops entries that exited more than age_ns ago. */
void proctable_expire(struct agent *a, uint64_t now_boot_ns, uint64_t age_ns);
void proctable_reap(struct agent *a, uint64_t now_boot_ns);
size_t proctable_count(struct agent *a);
void proctable_free(struct agent *a);
const char *user_name(struct agent *a, uint32_t uid);

#endif
