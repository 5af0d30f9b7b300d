/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's whole configuration: built-in defaults (config_defaults), then the YAML file
 * (config_load), then command-line flags. Everything is validated before any BPF is loaded.
 */
#ifndef AITRAIL_CONFIG_H
#define AITRAIL_CONFIG_H

#include <limits.h>
#include <stdint.h>

#define CFG_MAX_TOOLS 31        /* tool ids 1..31 (bpf/aitrail.h AT_TOOL_MAX) */
#define CFG_MAX_PATTERNS 8      /* per tool and per kind */
#define CFG_NAME_LEN 16         /* comm / exe basename, matched against the kernel's 16 bytes */
#define CFG_PATTERN_LEN 48      /* argv substring or env marker, matched in the kernel */
#define CFG_MAX_INTERPRETERS 8
#define CFG_MAX_SENSITIVE 64      /* files.sensitive_paths patterns */
#define CFG_SENSITIVE_LEN 256

enum cfg_output { OUTPUT_JSON = 0, OUTPUT_NONE = 1 };
enum cfg_spool_policy { SPOOL_DROP_OLDEST = 0, SPOOL_DROP_NEWEST = 1 };

struct cfg_tool {
	char name[32];                                     /* "claude" */
	char names[CFG_MAX_PATTERNS][CFG_NAME_LEN];        /* comm or exe basename */
	int n_names;
	char argv[CFG_MAX_PATTERNS][CFG_PATTERN_LEN];      /* substring of an interpreter's argv */
	int n_argv;
	char env[CFG_MAX_PATTERNS][CFG_PATTERN_LEN];       /* "CLAUDECODE=1" or "CODEX_SESSION_ID=" */
	int n_env;
};

struct agent_config {
	char path[PATH_MAX];                               /* config file; "" = defaults only */
	enum cfg_output output;
	int verbose;

	char interpreters[CFG_MAX_INTERPRETERS][CFG_NAME_LEN];
	int n_interpreters;
	struct cfg_tool tools[CFG_MAX_TOOLS];
	int n_tools;

	uint32_t rb_core_kb;                               /* ring buffer sizes, KiB, power of 2 */
	uint32_t rb_file_kb;
	uint32_t max_tracked;                              /* tracked-process map entries */
	uint32_t stats_interval_s;

	/* shipping; collector_url "" = do not ship */
	char collector_url[512];
	char enroll_token[256];
	char state_dir[PATH_MAX];                          /* agent key, spool */
	char ca_file[PATH_MAX];
	char cert_file[PATH_MAX];
	char key_file[PATH_MAX];
	uint64_t spool_max_bytes;
	enum cfg_spool_policy spool_full_policy;
	uint32_t batch_max_events;
	uint32_t batch_max_bytes;
	uint32_t batch_max_ms;
	uint32_t batch_drain_max_events;
	uint32_t batch_drain_max_bytes;

	/* policy enforcement (agent/policy*.c); policy_file "" = none */
	char policy_file[PATH_MAX];
	char policy_cgroup[PATH_MAX];                      /* "" = the cgroup v2 root */
	int policy_self_protect;                           /* 1: stop processes aiming at us */
	uint32_t policy_fetch_s;                           /* poll the collector; 0 = never */
	char policy_host_group[65];                        /* "" = the fleet policy */

	/* file_write / file_read (agent/fileio.c) */
	uint64_t hash_max_bytes;                           /* larger files: not hashed */
	int sensitive_defaults;                            /* 1: the built-in sensitive paths */
	char sensitive[CFG_MAX_SENSITIVE][CFG_SENSITIVE_LEN];
	int n_sensitive;
	/* destination classes (agent/vendor.c); "" = vendors.yaml beside the config, if any */
	char vendor_file[PATH_MAX];
	uint32_t net_report_interval_s;                    /* open connections' bytes; 0 = never */
};

void config_defaults(struct agent_config *c);
/* Loads and validates the YAML file over c. Errors are logged as "FILE:LINE: what"; -errno. */
int config_load(struct agent_config *c, const char *path);

#endif
