/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A policy (common/policy_rules.h) compiled into the entries of the kernel's verdict maps
 * (bpf/policy.h), with what the kernel cannot decide left to the agent (agent/policy_compile.c).
 */
#ifndef AITRAIL_POLICY_COMPILE_H
#define AITRAIL_POLICY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/policy_rules.h"

/* One compiled map entry; key/value are struct at_pol_* bytes. */
struct pol_entry {
	uint8_t key[260];
	uint32_t key_size;
	uint8_t value[40];
};

struct pol_entries {
	struct pol_entry *v;
	size_t n, cap;
};

struct pol_compiled {
	struct pol_entries net, path, prog;
	uint8_t defaults[4][40];   /* struct at_pol_verdict per category */
	bool *in_kernel;           /* per rule: the kernel decides it (no agent_alert needed) */
	const char **why_not;      /* per rule: why the kernel cannot, NULL when it can */
	int n_rules;
};

/*
 * Compiles p for the kernel. tool_names[i] is the tool with id i+1 (agent config order).
 * Rules or parts the kernel cannot express are left to the agent and say why.
 */
int pol_compile(const struct policy *p, const char *const *tool_names, int n_tools,
		struct pol_compiled *out);
void pol_compiled_free(struct pol_compiled *c);

/* The mechanism that enforces file and exec rules here: lsm or tracepoint_kill (probed). */
const char *pol_probe_file_mechanism(char *why, size_t len);

#endif
