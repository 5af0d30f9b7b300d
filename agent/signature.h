/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's session-root rules (bpf/session.bpf.c) in C, for the /proc scan. */
#ifndef AITRAIL_SIGNATURE_H
#define AITRAIL_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

struct agent_config;

/* Returns enum at_match and sets *tool; env may be NULL. argv/env are NUL separated blocks. */
int signature_match(const struct agent_config *c, const char *comm, const char *exe_base,
		    const char *argv, size_t argv_len, const char *env, size_t env_len,
		    uint16_t *tool);
const char *match_name(int how);

#endif
