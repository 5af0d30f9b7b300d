/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy language, shared by the agent (enforcement, after-the-fact alerts) and the
 * collector (`aitrail policy test`: replay of stored events). A policy is an ordered list of
 * rules per category; the first rule that matches decides, otherwise the category's default.
 *
 * The format is documented in docs/policy.md, with deploy/policy.yaml as the shipped example:
 * top-level version (1), mode (enforce|monitor, the rules' default), defaults (category ->
 * action) and rules (id, category, action, mode, match). Every match key given must match; a
 * list matches when any element does. Keys: tool, user, cwd, repo (any category); host,
 * vendor, class, cidr, port (network); path (file_write, file_read); program, argv (exec).
 *
 * Globs: `*` any run of characters except '/', `**` any run including '/', `?` one character
 * except '/', `[a-z]`, `[!a-z]` classes. In host and argv globs '/' is not special.
 */
#ifndef AITRAIL_POLICY_RULES_H
#define AITRAIL_POLICY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/event.pb-c.h"

#define POL_ID_MAX 32 /* rule id bytes with the NUL; the kernel records carry it */

enum pol_category {
	POL_CAT_NETWORK = 0,
	POL_CAT_FILE_WRITE = 1,
	POL_CAT_FILE_READ = 2,
	POL_CAT_EXEC = 3,
	POL_CAT_MAX,
	POL_CAT_SELF_PROTECT = POL_CAT_MAX, /* decisions only: no rules, no default */
};

enum pol_action { POL_ALLOW = 0, POL_ALERT = 1, POL_DENY = 2, POL_KILL = 3 };
enum pol_mode { POL_ENFORCE = 0, POL_MONITOR = 1 };

struct pol_strv {
	char **v;
	int n;
};

struct pol_cidr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix; /* bits */
	uint8_t addr[16];
};

struct pol_ports {
	uint16_t lo, hi;
};

struct pol_rule {
	char id[POL_ID_MAX];
	int line;
	enum pol_category cat;
	enum pol_action action;
	enum pol_mode mode;

	struct pol_strv tool, user, cwd, repo;
	struct pol_strv host, vendor, dst_class;
	struct pol_cidr *cidr;
	int n_cidr;
	struct pol_ports *port;
	int n_port;
	struct pol_strv path, program, argv;
};

struct pol_default {
	enum pol_action action;
	enum pol_mode mode;
};

struct policy {
	char source[256]; /* file name, for messages */
	struct pol_default defaults[POL_CAT_MAX];
	struct pol_rule *rules;
	int n_rules;
};

/* Validation messages, "FILE:LINE: what", one per line; n counts them. */
struct pol_errors {
	char buf[4096];
	size_t len;
	int n;
};

/* What a decision is about; fields not relevant to cat are NULL/0. */
struct pol_target {
	enum pol_category cat;
	const char *host;  /* destination name when known */
	const char *vendor;    /* the agent's vendor for host ("" / NULL: unknown) */
	const char *dst_class; /* model_vendor, telemetry, package_registry, git_host, other */
	int family;        /* AF_INET/AF_INET6, 0 = no address */
	uint8_t addr[16];
	uint16_t port;
	const char *path;
	const char *program;
	char *const *argv;
	int argc;
};

struct pol_session {
	const char *tool;
	const char *user;
	const char *cwd;
	const char *repo;
};

struct pol_decision {
	const struct pol_rule *rule; /* NULL: the category's default decided */
	const char *rule_id;         /* rule id or "default:<category>" */
	enum pol_category cat;
	enum pol_action action;
	enum pol_mode mode;
};

/*
 * Parses and validates a policy. On any error nothing is returned and every problem found is
 * in err (and logged). Returns 0 or -EINVAL / -ENOENT / -ENOMEM / -errno.
 */
int policy_parse(const char *source, const char *text, size_t len, struct policy **out,
		 struct pol_errors *err);
int policy_load_file(const char *path, struct policy **out, struct pol_errors *err);
void policy_free(struct policy *p);

/* A host group name (policy overrides per group): 1-64 of A-Z a-z 0-9 . _ - */
bool policy_group_valid(const char *g);

/* First match wins; the category's default otherwise. */
void policy_eval(const struct policy *p, const struct pol_session *s, const struct pol_target *t,
		 struct pol_decision *d);
/* True when rule r matches s and t (t->cat must equal r->cat). */
bool policy_rule_matches(const struct pol_rule *r, const struct pol_session *s,
			 const struct pol_target *t);

/*
 * Fills t from an event: net_connect → network, exec → exec, file_* → file_write or file_read
 * (by open flags and operation). Strings point into ev; argv is ev's. A rename is about its
 * source path; callers wanting the target evaluate a second target with t->path = new_path.
 * Returns 0, or -ENOENT when the event is not something a policy decides on.
 */
int policy_target_from_event(const Aitrail__V1__Event *ev, struct pol_target *t);
/* Evaluates an event; session attributes not in the event (cwd, repo) come from s. */
int policy_eval_event(const struct policy *p, const Aitrail__V1__Event *ev,
		      const struct pol_session *s, struct pol_decision *d);

/* Glob matching (see above). sep '/' for paths, 0 for hosts and argv. */
bool pol_glob_match(const char *pat, const char *str, char sep);
/* 0, or -EINVAL with a reason in why when pat is not a valid glob. */
int pol_glob_check(const char *pat, const char **why);
bool pol_cidr_contains(const struct pol_cidr *c, int family, const uint8_t *addr);
int pol_cidr_parse(const char *s, struct pol_cidr *c, const char **why);
/* Literal prefix of a path glob and whether the glob is exactly "prefix" or "prefix**". */
enum pol_glob_shape { POL_GLOB_EXACT, POL_GLOB_PREFIX, POL_GLOB_OTHER };
enum pol_glob_shape pol_glob_shape(const char *pat, size_t *prefix_len);

const char *policy_category_name(enum pol_category c);
const char *policy_action_name(enum pol_action a);
const char *policy_mode_name(enum pol_mode m);
/* Host globs of a vendor class; NULL-terminated; NULL for an unknown vendor. */
const char *const *policy_vendor_hosts(const char *vendor);
bool policy_vendor_matches(const char *vendor, const char *host);

#endif
