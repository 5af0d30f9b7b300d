/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of policy enforcement (agent/policy_agent.c): compiles a policy
 * (common/policy_rules.h) into the kernel's verdict maps (bpf/policy.h), reloads it keeping the
 * old one when the new file is bad, decodes the kernel's decision records, and decides after the
 * fact what the kernel cannot (globs, session attributes, argv, host names) with mechanism
 * agent_alert.
 */
#ifndef AITRAIL_POLICY_AGENT_H
#define AITRAIL_POLICY_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/event.pb-c.h"
#include "bpf/aitrail.h"
#include "agent/policy_compile.h"
#include "common/policy_rules.h"

struct pol_agent;

/* File descriptors of the maps in bpf/policy.bpf.c; -1 when not loaded (e.g. unit tests). */
struct pol_maps {
	int net, path, prog, defaults, cfg, protected_pids;
	int dns; /* pol_dns: host names the kernel turns answers into entries for; -1 = none */
};

struct pol_agent_opts {
	const char *policy_path;      /* "" or NULL: no policy, enforcement maps stay disabled */
	const char *const *tool_names;
	int n_tools;
	bool self_protect;
};

int pol_agent_new(const struct pol_maps *maps, const struct pol_agent_opts *o,
		  struct pol_agent **out);
void pol_agent_free(struct pol_agent *pa);
/*
 * (Re)loads the policy file. On any error the policy in force stays in force, and the errors
 * (FILE:LINE: what) are logged and left in pa for reporting. Returns 0 or -errno.
 */
int pol_agent_reload(struct pol_agent *pa);
/* Sets the file reload and the watcher use, without loading it now. */
void pol_agent_set_path(struct pol_agent *pa, const char *path);
const struct policy *pol_agent_policy(const struct pol_agent *pa);
uint32_t pol_agent_generation(const struct pol_agent *pa);
const char *pol_agent_last_errors(const struct pol_agent *pa);
/*
 * An inotify fd (nonblocking) for the epoll loop that reports changes of the policy file;
 * call pol_agent_on_watch when it is readable: it reloads when the file was rewritten or
 * replaced. SIGHUP handlers call pol_agent_reload directly.
 */
int pol_agent_watch(struct pol_agent *pa);
int pol_agent_on_watch(struct pol_agent *pa, int fd);
/*
 * Feeds the agent's events to the policy: a session's dns_answer for a name some host rule
 * decides installs the answered addresses in the kernel (agent/policy_dns.c). Call it for
 * every emitted event (a sink); everything else is ignored.
 */
int pol_agent_on_event(struct pol_agent *pa, const Aitrail__V1__Event *ev);
/* The same for one (tool, name, address) triple. */
int pol_agent_learn_address(struct pol_agent *pa, const char *tool, const char *name,
			    const char *addr);
/* Protects another pid of the agent (shipper thread, helper) from session processes. */
int pol_agent_protect_pid(struct pol_agent *pa, uint32_t pid);

/* Strings of one decision event; pd's pointers point into this struct or static strings. */
struct pol_decision_buf {
	Aitrail__V1__PolicyDecision pd;
	char rule_id[POL_ID_MAX];
	char target[320];
	char detail[160];
};

/* Decodes an AT_REC_POLICY_DECISION record. Returns 0 or -EINVAL for a short record. */
int pol_decode_record(const void *rec, size_t len, struct pol_decision_buf *out);

/*
 * After-the-fact decision on an event the kernel reported (net_connect, file_*, exec): fills
 * out and returns 1 when the policy says alert/deny/kill through a rule the kernel does not
 * enforce (mechanism agent_alert, outcome recorded), 0 otherwise.
 */
int pol_agent_check_event(struct pol_agent *pa, const Aitrail__V1__Event *ev,
			  const struct pol_session *s, struct pol_decision_buf *out);

/* ---- internals of agent/policy_agent.c and agent/policy_dns.c */

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
