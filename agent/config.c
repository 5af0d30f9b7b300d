// SPDX-License-Identifier: Apache-2.0
/*
 * Agent configuration: built-in defaults and the YAML file (deploy/agent.yaml documents every
 * key). The file is parsed into a scratch copy and only copied over the caller's config when
 * all of it is valid, so a bad file never leaves a half-applied configuration behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "agent/config.h"
#include "agent/fileio_match.h"
#include "common/log.h"
#include "common/policy_rules.h"
#include "common/util.h"

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

void config_defaults(struct agent_config *c)
{
	unsigned int i, j;

	memset(c, 0, sizeof(*c));
	c->output = OUTPUT_JSON;
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
	c->rb_core_kb = 4096;
	c->rb_file_kb = 8192;
	c->max_tracked = 65536;
	c->stats_interval_s = 30;
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/aitrail");
	c->spool_max_bytes = 1ULL << 30;
	c->spool_full_policy = SPOOL_DROP_OLDEST;
	c->batch_max_events = 1000;
	c->batch_max_bytes = 1U << 20;
	c->batch_max_ms = 1000;
	c->batch_drain_max_events = 10000;
	c->batch_drain_max_bytes = 8U << 20;
	c->policy_self_protect = 1;
	c->hash_max_bytes = 64ULL << 20;
	c->sensitive_defaults = 1;
	c->net_report_interval_s = 30;
}

/* --- parsing ------------------------------------------------------------------------------ */

struct cfg_parse {
	const char *file;
	yaml_document_t *doc;
	struct agent_config *c;
};

#define cfg_err(p, node, fmt, ...)                                                                 \
	log_error("%s:%zu: " fmt, (p)->file, (size_t)(node)->start_mark.line + 1, ##__VA_ARGS__)

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "empty";
	}
}

static int want_scalar(struct cfg_parse *p, yaml_node_t *n, const char *key, const char **out)
{
	if (n->type != YAML_SCALAR_NODE) {
		cfg_err(p, n, "%s: expected a string or number, got %s", key, node_kind(n));
		return -EINVAL;
	}
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static int get_string(struct cfg_parse *p, yaml_node_t *n, const char *key, char *dst,
		      size_t size)
{
	const char *s;
	int err;

	err = want_scalar(p, n, key, &s);
	if (err)
		return err;
	if (strlen(s) >= size) {
		cfg_err(p, n, "%s: too long (%zu bytes, at most %zu)", key, strlen(s), size - 1);
		return -ENAMETOOLONG;
	}
	snprintf(dst, size, "%s", s);
	return 0;
}

static int get_u64(struct cfg_parse *p, yaml_node_t *n, const char *key, uint64_t min,
		   uint64_t max, uint64_t *out)
{
	const char *s;
	int err;

	err = want_scalar(p, n, key, &s);
	if (err)
		return err;
	err = parse_u64(s, min, max, out);
	if (err == -EINVAL) {
		cfg_err(p, n, "%s: '%s' is not a whole non-negative number", key, s);
		return err;
	}
	if (err) {
		cfg_err(p, n, "%s: %s is out of range [%llu, %llu]", key, s, (unsigned long long)min,
			(unsigned long long)max);
		return err;
	}
	return 0;
}

static int get_u32(struct cfg_parse *p, yaml_node_t *n, const char *key, uint32_t min,
		   uint32_t max, uint32_t *out)
{
	uint64_t v;
	int err;

	err = get_u64(p, n, key, min, max, &v);
	if (!err)
		*out = v;
	return err;
}

/* Sizes accept a plain byte count or a K/M/G (KiB/MiB/GiB) suffix: "512M", "1GiB". */
static int get_size(struct cfg_parse *p, yaml_node_t *n, const char *key, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	static const struct {
		const char *sfx;
		unsigned int shift;
	} units[] = { { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "K", 10 }, { "M", 20 },
		      { "G", 30 } };
	char num[32];
	const char *s;
	size_t len, sl;
	unsigned int i, shift = 0;
	uint64_t v;
	int err;

	err = want_scalar(p, n, key, &s);
	if (err)
		return err;
	len = strlen(s);
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		sl = strlen(units[i].sfx);
		if (len > sl && !strcmp(s + len - sl, units[i].sfx)) {
			shift = units[i].shift;
			len -= sl;
			break;
		}
	}
	if (len >= sizeof(num))
		len = sizeof(num) - 1; /* still rejected below: the suffix is left in */
	memcpy(num, s, len);
	num[len] = '\0';
	if (parse_u64(num, 0, UINT64_MAX >> shift, &v)) {
		cfg_err(p, n, "%s: '%s' is not a size (bytes, or a number with K, M or G)", key, s);
		return -EINVAL;
	}
	v <<= shift;
	if (v < min || v > max) {
		cfg_err(p, n, "%s: %s is out of range [%llu, %llu] bytes", key, s,
			(unsigned long long)min, (unsigned long long)max);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

static int get_pow2_kb(struct cfg_parse *p, yaml_node_t *n, const char *key, uint32_t *out)
{
	uint32_t v;
	int err;

	/* the kernel wants a power-of-two multiple of the page size */
	err = get_u32(p, n, key, 4, 1U << 20, &v);
	if (err)
		return err;
	if (v & (v - 1)) {
		cfg_err(p, n, "%s: %u is not a power of two", key, v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int want_kind(struct cfg_parse *p, yaml_node_t *n, const char *key, yaml_node_type_t type)
{
	static const char *const names[] = {
		[YAML_SCALAR_NODE] = "a scalar",
		[YAML_SEQUENCE_NODE] = "a list",
		[YAML_MAPPING_NODE] = "a mapping",
	};

	if (n->type == type)
		return 0;
	cfg_err(p, n, "%s: expected %s, got %s", key, names[type], node_kind(n));
	return -EINVAL;
}

/* Appends each scalar of a list into a fixed table, rejecting duplicates and overlong items. */
static int get_list(struct cfg_parse *p, yaml_node_t *n, const char *key, char *tab, size_t width,
		    int max, int *count)
{
	yaml_node_item_t *it;
	int err, i;

	err = want_kind(p, n, key, YAML_SEQUENCE_NODE);
	if (err)
		return err;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *it);
		const char *s;

		err = want_scalar(p, item, key, &s);
		if (err)
			return err;
		if (!*s) {
			cfg_err(p, item, "%s: empty pattern", key);
			return -EINVAL;
		}
		if (strlen(s) >= width) {
			cfg_err(p, item, "%s: '%s' is too long for the kernel matcher (%zu bytes, at most %zu)",
				key, s, strlen(s), width - 1);
			return -ENAMETOOLONG;
		}
		for (i = 0; i < *count; i++)
			if (!strcmp(tab + i * width, s))
				break;
		if (i < *count)
			continue;
		if (*count >= max) {
			cfg_err(p, item, "%s: too many entries (at most %d)", key, max);
			return -E2BIG;
		}
		snprintf(tab + (*count)++ * width, width, "%s", s);
	}
	return 0;
}

typedef int (*key_fn)(struct cfg_parse *p, yaml_node_t *val, const char *key, void *arg);

struct key_handler {
	const char *key;
	key_fn fn;
};

/* Walks a mapping, dispatching each key; an unknown or repeated key is an error. */
static int walk_map(struct cfg_parse *p, yaml_node_t *n, const char *where,
		    const struct key_handler *h, size_t nh, void *arg)
{
	yaml_node_pair_t *pair;
	uint64_t seen = 0;
	size_t i;
	int err;

	err = want_kind(p, n, where, YAML_MAPPING_NODE);
	if (err)
		return err;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const char *ks;

		if (k->type != YAML_SCALAR_NODE) {
			cfg_err(p, k, "%s: keys must be plain names", where);
			return -EINVAL;
		}
		ks = (const char *)k->data.scalar.value;
		for (i = 0; i < nh; i++)
			if (!strcmp(ks, h[i].key))
				break;
		if (i == nh) {
			cfg_err(p, k, "%s: unknown key '%s'", where, ks);
			return -EINVAL;
		}
		if (seen & (1ULL << i)) {
			cfg_err(p, k, "%s: key '%s' given twice", where, ks);
			return -EINVAL;
		}
		seen |= 1ULL << i;
		err = h[i].fn(p, v, ks, arg);
		if (err)
			return err;
	}
	return 0;
}

#define WALK(p, n, where, table, arg) walk_map(p, n, where, table, ARRAY_SIZE(table), arg)

static int k_output(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	const char *s;
	int err = want_scalar(p, v, key, &s);

	if (err)
		return err;
	if (!strcmp(s, "json"))
		p->c->output = OUTPUT_JSON;
	else if (!strcmp(s, "none"))
		p->c->output = OUTPUT_NONE;
	else {
		cfg_err(p, v, "output: '%s' is not one of json, none", s);
		return -EINVAL;
	}
	return 0;
}

static int k_verbose(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	const char *s;
	int err = want_scalar(p, v, key, &s);

	if (err)
		return err;
	if (!strcmp(s, "true") || !strcmp(s, "yes"))
		p->c->verbose = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "no"))
		p->c->verbose = 0;
	else {
		cfg_err(p, v, "verbose: '%s' is not true or false", s);
		return -EINVAL;
	}
	return 0;
}

/* --- signatures --------------------------------------------------------------------------- */

struct sig_state {
	int replace;              /* mode: replace seen */
	yaml_node_t *tools;       /* applied after mode is known, whatever the key order */
	yaml_node_t *interpreters;
};

static int k_sig_mode(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	struct sig_state *st = arg;
	const char *s;
	int err = want_scalar(p, v, key, &s);

	if (err)
		return err;
	if (!strcmp(s, "replace"))
		st->replace = 1;
	else if (strcmp(s, "extend")) {
		cfg_err(p, v, "signatures.mode: '%s' is not one of extend, replace", s);
		return -EINVAL;
	}
	return 0;
}

static int k_sig_tools(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	((struct sig_state *)arg)->tools = v;
	return 0;
}

static int k_sig_interp(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	((struct sig_state *)arg)->interpreters = v;
	return 0;
}

struct tool_state {
	struct cfg_tool *t;
	int has_name;
};

static int k_tool_name(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	struct tool_state *ts = arg;
	char name[sizeof(ts->t->name)];
	int err;

	err = get_string(p, v, "signatures.tools[].tool", name, sizeof(name));
	if (err)
		return err;
	if (!*name) {
		cfg_err(p, v, "signatures.tools[].tool: empty name");
		return -EINVAL;
	}
	snprintf(ts->t->name, sizeof(ts->t->name), "%s", name);
	ts->has_name = 1;
	return 0;
}

static int k_tool_names(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	struct cfg_tool *t = ((struct tool_state *)arg)->t;

	return get_list(p, v, "signatures.tools[].names", &t->names[0][0], CFG_NAME_LEN,
			CFG_MAX_PATTERNS, &t->n_names);
}

static int k_tool_argv(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	struct cfg_tool *t = ((struct tool_state *)arg)->t;

	return get_list(p, v, "signatures.tools[].argv", &t->argv[0][0], CFG_PATTERN_LEN,
			CFG_MAX_PATTERNS, &t->n_argv);
}

static int k_tool_env(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	struct cfg_tool *t = ((struct tool_state *)arg)->t;

	return get_list(p, v, "signatures.tools[].env", &t->env[0][0], CFG_PATTERN_LEN,
			CFG_MAX_PATTERNS, &t->n_env);
}

static const struct key_handler tool_keys[] = {
	{ "tool", k_tool_name },
	{ "names", k_tool_names },
	{ "argv", k_tool_argv },
	{ "env", k_tool_env },
};

static int apply_tool(struct cfg_parse *p, yaml_node_t *n)
{
	struct agent_config *c = p->c;
	struct cfg_tool tmp = {};
	struct tool_state ts = { .t = &tmp };
	struct cfg_tool *t;
	int err, i;

	/* first pass only to learn the name, so patterns extend an existing tool of that name */
	err = WALK(p, n, "signatures.tools[]", tool_keys, &ts);
	if (err)
		return err;
	if (!ts.has_name) {
		cfg_err(p, n, "signatures.tools[]: missing 'tool' (the tool's name)");
		return -EINVAL;
	}
	for (i = 0; i < c->n_tools; i++)
		if (!strcmp(c->tools[i].name, tmp.name))
			break;
	if (i == c->n_tools) {
		if (c->n_tools >= CFG_MAX_TOOLS) {
			cfg_err(p, n, "signatures.tools: too many tools (at most %d)", CFG_MAX_TOOLS);
			return -E2BIG;
		}
		memset(&c->tools[c->n_tools], 0, sizeof(c->tools[0]));
		c->n_tools++;
	}
	t = &c->tools[i];
	ts.t = t;
	ts.has_name = 0;
	err = WALK(p, n, "signatures.tools[]", tool_keys, &ts);
	if (err)
		return err;
	if (!t->n_names && !t->n_argv && !t->n_env) {
		cfg_err(p, n, "signatures.tools[]: tool '%s' has no names, argv or env patterns",
			t->name);
		return -EINVAL;
	}
	return 0;
}

static const struct key_handler sig_keys[] = {
	{ "mode", k_sig_mode },
	{ "tools", k_sig_tools },
	{ "interpreters", k_sig_interp },
};

static int k_signatures(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	struct agent_config *c = p->c;
	struct sig_state st = {};
	yaml_node_item_t *it;
	int err;

	err = WALK(p, v, "signatures", sig_keys, &st);
	if (err)
		return err;
	if (st.replace) {
		c->n_tools = 0;
		memset(c->tools, 0, sizeof(c->tools));
		if (st.interpreters) {
			c->n_interpreters = 0;
			memset(c->interpreters, 0, sizeof(c->interpreters));
		}
	}
	if (st.interpreters) {
		err = get_list(p, st.interpreters, "signatures.interpreters", &c->interpreters[0][0],
			       CFG_NAME_LEN, CFG_MAX_INTERPRETERS, &c->n_interpreters);
		if (err)
			return err;
	}
	if (st.tools) {
		err = want_kind(p, st.tools, "signatures.tools", YAML_SEQUENCE_NODE);
		if (err)
			return err;
		for (it = st.tools->data.sequence.items.start; it < st.tools->data.sequence.items.top;
		     it++) {
			err = apply_tool(p, yaml_document_get_node(p->doc, *it));
			if (err)
				return err;
		}
	}
	if (st.replace && !c->n_tools) {
		cfg_err(p, v, "signatures: mode replace with no tools would never start a session");
		return -EINVAL;
	}
	return 0;
}

/* --- the other sections ------------------------------------------------------------------- */

static int k_rb_core(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_pow2_kb(p, v, "ring_buffers.core_kb", &p->c->rb_core_kb);
}

static int k_rb_file(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_pow2_kb(p, v, "ring_buffers.file_kb", &p->c->rb_file_kb);
}

static const struct key_handler rb_keys[] = {
	{ "core_kb", k_rb_core },
	{ "file_kb", k_rb_file },
};

static int k_ring_buffers(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return WALK(p, v, "ring_buffers", rb_keys, NULL);
}

static int k_max_tracked(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_u32(p, v, key, 1024, 1U << 22, &p->c->max_tracked);
}

static int k_stats_interval(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	/* 0 turns periodic stats off; the final stats event is still written */
	return get_u32(p, v, key, 0, 86400, &p->c->stats_interval_s);
}

static int k_state_dir(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	int err = get_string(p, v, key, p->c->state_dir, sizeof(p->c->state_dir));

	if (!err && p->c->state_dir[0] != '/') {
		cfg_err(p, v, "state_dir: '%s' must be an absolute path", p->c->state_dir);
		return -EINVAL;
	}
	return err;
}

static int k_coll_url(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	char *url = p->c->collector_url;
	int err = get_string(p, v, "collector.url", url, sizeof(p->c->collector_url));

	if (err)
		return err;
	if (*url && strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
		cfg_err(p, v, "collector.url: '%s' must start with http:// or https://", url);
		return -EINVAL;
	}
	/* the shipper appends /v1/...; a trailing slash would double it */
	while (*url && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	return 0;
}

static int k_coll_token(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_string(p, v, "collector.enroll_token", p->c->enroll_token,
			  sizeof(p->c->enroll_token));
}

static int k_coll_ca(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_string(p, v, "collector.ca_file", p->c->ca_file, sizeof(p->c->ca_file));
}

static int k_coll_cert(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_string(p, v, "collector.cert_file", p->c->cert_file, sizeof(p->c->cert_file));
}

static int k_coll_key(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_string(p, v, "collector.key_file", p->c->key_file, sizeof(p->c->key_file));
}

static const struct key_handler coll_keys[] = {
	{ "url", k_coll_url },
	{ "enroll_token", k_coll_token },
	{ "ca_file", k_coll_ca },
	{ "cert_file", k_coll_cert },
	{ "key_file", k_coll_key },
};

static int k_collector(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	int err = WALK(p, v, "collector", coll_keys, NULL);

	if (err)
		return err;
	if (!p->c->cert_file[0] != !p->c->key_file[0]) {
		cfg_err(p, v, "collector: cert_file and key_file go together (mutual TLS)");
		return -EINVAL;
	}
	return 0;
}

static int k_spool_max(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	/* below 64 KiB a single batch could not fit; above 1 TiB is surely a typo */
	return get_size(p, v, "spool.max_bytes", 64ULL << 10, 1ULL << 40, &p->c->spool_max_bytes);
}

static int k_spool_full(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	const char *s;
	int err = want_scalar(p, v, key, &s);

	if (err)
		return err;
	if (!strcmp(s, "drop_oldest"))
		p->c->spool_full_policy = SPOOL_DROP_OLDEST;
	else if (!strcmp(s, "drop_newest"))
		p->c->spool_full_policy = SPOOL_DROP_NEWEST;
	else {
		cfg_err(p, v, "spool.when_full: '%s' is not one of drop_oldest, drop_newest", s);
		return -EINVAL;
	}
	return 0;
}

static const struct key_handler spool_keys[] = {
	{ "max_bytes", k_spool_max },
	{ "when_full", k_spool_full },
};

static int k_spool(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return WALK(p, v, "spool", spool_keys, NULL);
}

static int k_batch_events(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_u32(p, v, "batch.max_events", 1, 100000, &p->c->batch_max_events);
}

static int k_batch_bytes(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	uint64_t b;
	int err = get_size(p, v, "batch.max_bytes", 4096, 64ULL << 20, &b);

	if (!err)
		p->c->batch_max_bytes = b;
	return err;
}

static int k_batch_ms(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_u32(p, v, "batch.max_ms", 1, 600000, &p->c->batch_max_ms);
}

static int k_batch_drain_events(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	/* the collector refuses batches over its max_batch_events, 100000 by default */
	return get_u32(p, v, "batch.drain_max_events", 1, 100000, &p->c->batch_drain_max_events);
}

static int k_batch_drain_bytes(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	uint64_t b;
	int err = get_size(p, v, "batch.drain_max_bytes", 4096, 64ULL << 20, &b);

	if (!err)
		p->c->batch_drain_max_bytes = b;
	return err;
}

static const struct key_handler batch_keys[] = {
	{ "max_events", k_batch_events },
	{ "max_bytes", k_batch_bytes },
	{ "max_ms", k_batch_ms },
	{ "drain_max_events", k_batch_drain_events },
	{ "drain_max_bytes", k_batch_drain_bytes },
};

static int k_batch(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return WALK(p, v, "batch", batch_keys, NULL);
}

static int k_pol_abs_path(struct cfg_parse *p, yaml_node_t *v, const char *key, char *dst,
			  size_t size)
{
	int err = get_string(p, v, key, dst, size);

	if (!err && dst[0] && dst[0] != '/') {
		cfg_err(p, v, "%s: '%s' must be an absolute path", key, dst);
		return -EINVAL;
	}
	return err;
}

static int k_pol_file(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return k_pol_abs_path(p, v, "policy.file", p->c->policy_file, sizeof(p->c->policy_file));
}

static int k_pol_cgroup(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return k_pol_abs_path(p, v, "policy.cgroup", p->c->policy_cgroup,
			      sizeof(p->c->policy_cgroup));
}

static int k_pol_self(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	const char *s;
	int err = want_scalar(p, v, "policy.self_protect", &s);

	if (err)
		return err;
	if (!strcmp(s, "true") || !strcmp(s, "yes"))
		p->c->policy_self_protect = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "no"))
		p->c->policy_self_protect = 0;
	else {
		cfg_err(p, v, "policy.self_protect: '%s' is not true or false", s);
		return -EINVAL;
	}
	return 0;
}

static int k_pol_fetch(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_u32(p, v, "policy.fetch_interval_s", 0, 86400, &p->c->policy_fetch_s);
}

static int k_pol_group(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	const char *s;
	int err = want_scalar(p, v, "policy.host_group", &s);

	if (err)
		return err;
	if (*s && !policy_group_valid(s)) {
		cfg_err(p, v, "policy.host_group: '%s' is not \"\" or 1-64 of A-Z a-z 0-9 . _ -",
			s);
		return -EINVAL;
	}
	snprintf(p->c->policy_host_group, sizeof(p->c->policy_host_group), "%s", s);
	return 0;
}

static const struct key_handler policy_keys[] = {
	{ "host_group", k_pol_group },
	{ "file", k_pol_file },
	{ "cgroup", k_pol_cgroup },
	{ "self_protect", k_pol_self },
	{ "fetch_interval_s", k_pol_fetch },
};

static int k_policy(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return WALK(p, v, "policy", policy_keys, NULL);
}

/* --- files: (agent/fileio.c) --------------------------------------------------------------- */

static int k_files_hash_max(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_size(p, v, "files.hash_max_bytes", 0, 1ULL << 40, &p->c->hash_max_bytes);
}

static int k_files_defaults(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	const char *s;
	int err = want_scalar(p, v, "files.sensitive_defaults", &s);

	if (err)
		return err;
	if (!strcmp(s, "true") || !strcmp(s, "yes"))
		p->c->sensitive_defaults = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "no"))
		p->c->sensitive_defaults = 0;
	else {
		cfg_err(p, v, "files.sensitive_defaults: expected true or false, got '%s'", s);
		return -EINVAL;
	}
	return 0;
}

static int k_files_sensitive(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	int err = get_list(p, v, "files.sensitive_paths", &p->c->sensitive[0][0], CFG_SENSITIVE_LEN,
			   CFG_MAX_SENSITIVE, &p->c->n_sensitive);
	yaml_node_item_t *it;

	if (err)
		return err;
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *it);
		const char *why = fio_pattern_invalid((const char *)item->data.scalar.value);

		if (why) {
			cfg_err(p, item, "files.sensitive_paths: '%s': %s", item->data.scalar.value, why);
			return -EINVAL;
		}
	}
	return 0;
}

static const struct key_handler files_keys[] = {
	{ "hash_max_bytes", k_files_hash_max },
	{ "sensitive_defaults", k_files_defaults },
	{ "sensitive_paths", k_files_sensitive },
};

static int k_files(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return WALK(p, v, "files", files_keys, NULL);
}

static int k_vendor_file(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return k_pol_abs_path(p, v, "vendor_file", p->c->vendor_file, sizeof(p->c->vendor_file));
}

static int k_net_report(struct cfg_parse *p, yaml_node_t *v, const char *key, void *arg)
{
	return get_u32(p, v, key, 0, 86400, &p->c->net_report_interval_s);
}

static const struct key_handler top_keys[] = {
	{ "files", k_files },
	{ "output", k_output },
	{ "verbose", k_verbose },
	{ "signatures", k_signatures },
	{ "ring_buffers", k_ring_buffers },
	{ "max_tracked", k_max_tracked },
	{ "stats_interval_s", k_stats_interval },
	{ "state_dir", k_state_dir },
	{ "collector", k_collector },
	{ "spool", k_spool },
	{ "batch", k_batch },
	{ "policy", k_policy },
	{ "vendor_file", k_vendor_file },
	{ "net_report_interval_s", k_net_report },
};

int config_load(struct agent_config *c, const char *path)
{
	struct agent_config *tmp = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct cfg_parse p;
	yaml_node_t *root;
	int err = 0, have_doc = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		err = -errno;
		log_error("failed to open config %s: %s", path, strerror(-err));
		return err;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		log_error("failed to initialize the YAML parser: out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		log_error("%s:%zu: %s%s%s", path, parser.problem_mark.line + 1,
			  parser.problem ? parser.problem : "invalid YAML",
			  parser.context ? " " : "", parser.context ? parser.context : "");
		err = -EINVAL;
		goto cleanup;
	}
	have_doc = 1;
	tmp = malloc(sizeof(*tmp));
	if (!tmp) {
		err = -ENOMEM;
		goto cleanup;
	}
	*tmp = *c;
	p = (struct cfg_parse){ .file = path, .doc = &doc, .c = tmp };
	root = yaml_document_get_root_node(&doc);
	/* an empty file means "all defaults" */
	if (root && !(root->type == YAML_SCALAR_NODE && !root->data.scalar.length)) {
		err = WALK(&p, root, "top level", top_keys, NULL);
		if (err)
			goto cleanup;
	}
	snprintf(tmp->path, sizeof(tmp->path), "%s", path);
	*c = *tmp;
cleanup:
	free(tmp);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return err;
}
