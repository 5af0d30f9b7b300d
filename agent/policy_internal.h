/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by agent/policy_agent.c and agent/policy_dns.c. */
#ifndef AITRAIL_POLICY_INTERNAL_H
#define AITRAIL_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/policy_agent.h"

#define POL_DNS_MAX 4096 /* remembered (tool, name, address) triples; oldest overwritten */

struct pol_dns_addr {
	uint8_t tool;
	uint8_t family;
	uint8_t addr[16];
	char name[254];
	bool used;
};

struct pol_agent {
	struct pol_maps maps;
	char path[4096];
	const char *const *tool_names;
	char **names;                /* owned copy behind tool_names */
	int n_tools;
	bool self_protect;
	struct policy *policy;       /* in force; NULL = none */
	struct pol_compiled compiled; /* what the kernel maps hold */
	uint32_t generation;
	struct pol_errors errors;    /* of the last failed load */
	char mech_why[256];
	const char *file_mech;

	/* addresses the sessions' DNS answers gave for names host rules allow or deny */
	struct pol_dns_addr *dns;
	size_t n_dns, dns_next;
	uint64_t dns_installed, dns_overwritten;
	uint32_t dns_kernel_names;   /* entries in pol_dns */
	uint32_t dns_kernel_failed;  /* names pol_dns refused under this policy */
	int keeper_pid;              /* resumes the agent after a SIGSTOP; 0 = none */
};

/* Before a reload swaps policies: remembers the entries the old policy's host rules made. */
void pol_dns_before_reload(struct pol_agent *pa);
/* After a reload: removes the kernel entries of the old policy's host rules, adds the new. */
void pol_dns_rederive(struct pol_agent *pa);

#endif
