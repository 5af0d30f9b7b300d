// SPDX-License-Identifier: Apache-2.0
/*
 * Agent configuration: built-in defaults and the YAML file (deploy/agent.yaml documents every
 * key), both through the key tables below. The file is parsed into a scratch copy and only
 * copied over the caller's config when all of it is valid, so a bad file never leaves a
 * half-applied configuration behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/config.h"
#include "agent/fileio_match.h"
#include "common/log.h"
#include "common/policy_rules.h"
#include "common/util.h"
#include "common/yaml_doc.h"

struct builtin_tool {
	const char *name;
	const char *names[3];
	const char *argv;
	const char *env;
};

static const struct builtin_tool builtin_tools[] = {
	{ "claude", { "claude" }, "@anthropic-ai/claude-code", "CLAUDECODE=1" },
	{ "codex", { "codex" }, "@openai/codex", "CODEX_SESSION_ID=" },
	{ "gemini", { "gemini" }, "@google/gemini-cli", NULL },
	{ "cursor-agent", { "cursor-agent" }, NULL, NULL },
	{ "aider", { "aider" }, "aider", NULL },
	{ "copilot", { "copilot" }, NULL, NULL },
	{ "goose", { "goose" }, NULL, NULL },
	{ "opencode", { "opencode" }, NULL, NULL },
	{ "amp", { "amp" }, NULL, NULL },
};

static const char *const builtin_interpreters[] = { "node", "bun", "deno", "python3" };

/* --- checks, after a value is stored ------------------------------------------------------ */

static int check_abs_path(const struct yval *v)
{
	const char *s = v->val;

	if (s[0] != '/')
		return yval_err(v, "'%s' must be an absolute path", s);
	return 0;
}

static int check_abs_path_or_empty(const struct yval *v)
{
	return *(const char *)v->val ? check_abs_path(v) : 0;
}

static int check_pow2(const struct yval *v)
{
	uint32_t x = *(uint32_t *)v->val;

	/* the kernel wants a power-of-two multiple of the page size */
	if (x & (x - 1))
		return yval_err(v, "%u is not a power of two", x);
	return 0;
}

static int check_url(const struct yval *v)
{
	char *url = v->val;

	if (*url && strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return yval_err(v, "'%s' must start with http:// or https://", url);
	/* the shipper appends /v1/...; a trailing slash would double it */
	while (*url && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	return 0;
}

static int check_mtls(const struct yval *v)
{
	const struct agent_config *c = v->val;

	if (!c->cert_file[0] != !c->key_file[0])
		return yval_err(v, "cert_file and key_file go together (mutual TLS)");
	return 0;
}

static int check_host_group(const struct yval *v)
{
	const char *s = v->val;

	if (*s && !policy_group_valid(s))
		return yval_err(v, "'%s' is not \"\" or 1-64 of A-Z a-z 0-9 . _ -", s);
	return 0;
}

static int check_sensitive(const struct yval *v)
{
	const char *why = fio_pattern_invalid(v->text);

	return why ? yval_err(v, "'%s': %s", v->text, why) : 0;
}

static int check_nonempty(const struct yval *v)
{
	return *(const char *)v->val ? 0 : yval_err(v, "empty name");
}

/* --- signatures --------------------------------------------------------------------------- */

#define KERNEL_MATCHER .arg = "the kernel matcher"

/* a signatures: mapping; tools and interpreters are applied once mode is known */
struct sig_nodes {
	int replace;
	yaml_node_t *tools, *interpreters;
};

static const char *const sig_modes[] = { "extend", "replace", NULL };

static const struct ykey sig_keys[] = {
	YK_ENUM("mode", struct sig_nodes, replace, sig_modes),
	YK_NODE("tools", struct sig_nodes, tools),
	YK_NODE("interpreters", struct sig_nodes, interpreters),
};

static const struct ytable sig_table = YTABLE("signatures", sig_keys);

static const struct ykey interp_key =
	YK_LIST("interpreters", struct agent_config, interpreters, n_interpreters, KERNEL_MATCHER);

/* one signatures.tools[] entry: the name first, so patterns extend a tool of that name */
struct tool_nodes {
	char name[sizeof(((struct cfg_tool *)0)->name)];
	yaml_node_t *lists[3];
};

static const struct ykey tool_keys[] = {
	YK_STR("tool", struct tool_nodes, name, .fn = check_nonempty),
	YK_NODE("names", struct tool_nodes, lists[0]),
	YK_NODE("argv", struct tool_nodes, lists[1]),
	YK_NODE("env", struct tool_nodes, lists[2]),
};

static const struct ytable tool_table = YTABLE("signatures.tools[]", tool_keys);

static const struct ykey tool_lists[] = {
	YK_LIST("signatures.tools[].names", struct cfg_tool, names, n_names, KERNEL_MATCHER),
	YK_LIST("signatures.tools[].argv", struct cfg_tool, argv, n_argv, KERNEL_MATCHER),
	YK_LIST("signatures.tools[].env", struct cfg_tool, env, n_env, KERNEL_MATCHER),
};

static int apply_tool(struct ydoc *d, yaml_node_t *n, struct agent_config *c)
{
	struct tool_nodes tn = {};
	struct cfg_tool *t;
	int err, i;

	err = ydoc_walk(d, n, &tool_table, &tn);
	if (err)
		return err;
	if (!tn.name[0]) {
		ydoc_err(d, n, "signatures.tools[]: missing 'tool' (the tool's name)");
		return -EINVAL;
	}
	for (i = 0; i < c->n_tools; i++)
		if (!strcmp(c->tools[i].name, tn.name))
			break;
	if (i == c->n_tools) {
		if (c->n_tools >= CFG_MAX_TOOLS) {
			ydoc_err(d, n, "signatures.tools: too many tools (at most %d)", CFG_MAX_TOOLS);
			return -E2BIG;
		}
		memset(&c->tools[c->n_tools], 0, sizeof(c->tools[0]));
		snprintf(c->tools[c->n_tools].name, sizeof(c->tools[0].name), "%s", tn.name);
		c->n_tools++;
	}
	t = &c->tools[i];
	for (i = 0; i < (int)ARRAY_SIZE(tool_lists); i++) {
		if (!tn.lists[i])
			continue;
		err = ydoc_apply(d, tn.lists[i], &tool_lists[i], tool_lists[i].name, t);
		if (err)
			return err;
	}
	if (!t->n_names && !t->n_argv && !t->n_env) {
		ydoc_err(d, n, "signatures.tools[]: tool '%s' has no names, argv or env patterns",
			 t->name);
		return -EINVAL;
	}
	return 0;
}

static int apply_signatures(const struct yval *v)
{
	struct agent_config *c = v->val;
	struct sig_nodes sn = {};
	size_t i;
	int err;

	err = ydoc_walk(v->doc, v->node, &sig_table, &sn);
	if (err)
		return err;
	if (sn.replace) {
		c->n_tools = 0;
		memset(c->tools, 0, sizeof(c->tools));
		if (sn.interpreters) {
			c->n_interpreters = 0;
			memset(c->interpreters, 0, sizeof(c->interpreters));
		}
	}
	if (sn.interpreters) {
		err = ydoc_apply(v->doc, sn.interpreters, &interp_key, "signatures.interpreters", c);
		if (err)
			return err;
	}
	if (sn.tools) {
		err = ydoc_want(v->doc, sn.tools, "signatures.tools", YAML_SEQUENCE_NODE);
		for (i = 0; !err && i < ydoc_count(sn.tools); i++)
			err = apply_tool(v->doc, ydoc_item(v->doc, sn.tools, i), c);
		if (err)
			return err;
	}
	if (sn.replace && !c->n_tools)
		return yval_err(v, "mode replace with no tools would never start a session");
	return 0;
}

/* --- the key tables: every key of deploy/agent.yaml, its bounds and its default ------------ */

#define C struct agent_config

static const char *const output_words[] = { [OUTPUT_JSON] = "json", [OUTPUT_NONE] = "none",
					    NULL };
static const char *const spool_full_words[] = { [SPOOL_DROP_OLDEST] = "drop_oldest",
						[SPOOL_DROP_NEWEST] = "drop_newest", NULL };

static const struct ykey rb_keys[] = {
	YK_UINT("core_kb", C, rb_core_kb, 4, 1U << 20, .def = "4096", .fn = check_pow2),
	YK_UINT("file_kb", C, rb_file_kb, 4, 1U << 20, .def = "8192", .fn = check_pow2),
};

static const struct ykey collector_keys[] = {
	YK_STR("url", C, collector_url, .fn = check_url),
	YK_STR("enroll_token", C, enroll_token),
	YK_STR("ca_file", C, ca_file),
	YK_STR("cert_file", C, cert_file),
	YK_STR("key_file", C, key_file),
};

static const struct ykey spool_keys[] = {
	/* below 64 KiB a single batch could not fit; above 1 TiB is surely a typo */
	YK_SIZE("max_bytes", C, spool_max_bytes, 64ULL << 10, 1ULL << 40, .def = "1G"),
	YK_ENUM("when_full", C, spool_full_policy, spool_full_words, .def = "drop_oldest"),
};

static const struct ykey batch_keys[] = {
	YK_UINT("max_events", C, batch_max_events, 1, 100000, .def = "1000"),
	YK_SIZE("max_bytes", C, batch_max_bytes, 4096, 64ULL << 20, .def = "1M"),
	YK_UINT("max_ms", C, batch_max_ms, 1, 600000, .def = "1000"),
	/* the collector refuses batches over its max_batch_events, 100000 by default */
	YK_UINT("drain_max_events", C, batch_drain_max_events, 1, 100000, .def = "10000"),
	YK_SIZE("drain_max_bytes", C, batch_drain_max_bytes, 4096, 64ULL << 20, .def = "8M"),
};

static const struct ykey policy_keys[] = {
	YK_STR("host_group", C, policy_host_group, .fn = check_host_group),
	YK_STR("file", C, policy_file, .fn = check_abs_path_or_empty),
	YK_STR("cgroup", C, policy_cgroup, .fn = check_abs_path_or_empty),
	YK_BOOL("self_protect", C, policy_self_protect, .def = "true"),
	YK_UINT("fetch_interval_s", C, policy_fetch_s, 0, 86400, .def = "0"),
};

static const struct ykey files_keys[] = {
	YK_SIZE("hash_max_bytes", C, hash_max_bytes, 0, 1ULL << 40, .def = "64M"),
	YK_BOOL("sensitive_defaults", C, sensitive_defaults, .def = "true"),
	YK_LIST("sensitive_paths", C, sensitive, n_sensitive, .fn = check_sensitive),
};

static const struct ytable rb_table = YTABLE("ring_buffers", rb_keys);
static const struct ytable collector_table = YTABLE("collector", collector_keys);
static const struct ytable spool_table = YTABLE("spool", spool_keys);
static const struct ytable batch_table = YTABLE("batch", batch_keys);
static const struct ytable policy_table = YTABLE("policy", policy_keys);
static const struct ytable files_table = YTABLE("files", files_keys);

static const struct ykey top_keys[] = {
	YK_ENUM("output", C, output, output_words, .def = "json"),
	YK_BOOL("verbose", C, verbose, .def = "false"),
	YK_FN("signatures", apply_signatures),
	YK_MAP("ring_buffers", &rb_table),
	YK_UINT("max_tracked", C, max_tracked, 1024, 1U << 22, .def = "65536"),
	/* 0 turns periodic stats off; the final stats event is still written */
	YK_UINT("stats_interval_s", C, stats_interval_s, 0, 86400, .def = "30"),
	YK_STR("state_dir", C, state_dir, .def = "/var/lib/aitrail", .fn = check_abs_path),
	YK_MAP("collector", &collector_table, .fn = check_mtls),
	YK_MAP("spool", &spool_table),
	YK_MAP("batch", &batch_table),
	YK_MAP("policy", &policy_table),
	YK_MAP("files", &files_table),
	YK_STR("vendor_file", C, vendor_file, .fn = check_abs_path_or_empty),
	YK_UINT("net_report_interval_s", C, net_report_interval_s, 0, 86400, .def = "30"),
};

static const struct ytable top_table = YTABLE("", top_keys, .where = "top level");

#undef C

void config_defaults(struct agent_config *c)
{
	unsigned int i, j;

	memset(c, 0, sizeof(*c));
	/* a default the table itself refuses is a bug that must not ship */
	if (ytable_defaults(&top_table, c))
		abort();
	for (i = 0; i < ARRAY_SIZE(builtin_interpreters); i++)
		snprintf(c->interpreters[i], CFG_NAME_LEN, "%s", builtin_interpreters[i]);
	c->n_interpreters = ARRAY_SIZE(builtin_interpreters);
	for (i = 0; i < ARRAY_SIZE(builtin_tools); i++) {
		const struct builtin_tool *b = &builtin_tools[i];
		struct cfg_tool *t = &c->tools[i];

		snprintf(t->name, sizeof(t->name), "%s", b->name);
		for (j = 0; j < ARRAY_SIZE(b->names) && b->names[j]; j++)
			snprintf(t->names[t->n_names++], CFG_NAME_LEN, "%s", b->names[j]);
		if (b->argv)
			snprintf(t->argv[t->n_argv++], CFG_PATTERN_LEN, "%s", b->argv);
		if (b->env)
			snprintf(t->env[t->n_env++], CFG_PATTERN_LEN, "%s", b->env);
	}
	c->n_tools = ARRAY_SIZE(builtin_tools);
}

int config_load(struct agent_config *c, const char *path)
{
	struct agent_config *tmp = malloc(sizeof(*tmp));
	int err;

	if (!tmp)
		return -ENOMEM;
	*tmp = *c;
	/* an empty file means "all defaults" */
	err = ydoc_read_file(path, "config", &top_table, tmp);
	if (!err) {
		snprintf(tmp->path, sizeof(tmp->path), "%s", path);
		*c = *tmp;
	}
	free(tmp);
	return err;
}
