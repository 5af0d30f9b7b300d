// SPDX-License-Identifier: Apache-2.0
/* config_load(): a good file applies, every kind of error names its line and applies nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "common/log.h"

static char cfg_path[64];
static char err_path[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Runs config_load with stderr captured; returns the result and the log text in out. */
static int load_capture(struct agent_config *c, const char *yaml, char *out, size_t len)
{
	int saved, fd, err;
	FILE *f;
	size_t n;

	write_file(cfg_path, yaml);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	f = fopen(err_path, "w+");
	assert_non_null(f);
	fd = fileno(f);
	dup2(fd, STDERR_FILENO);
	err = config_load(c, cfg_path);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	return err;
}

static int setup(void **state)
{
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/aitrail-test-config-%d.yaml", getpid());
	snprintf(err_path, sizeof(err_path), "/tmp/aitrail-test-config-%d.err", getpid());
	log_init("test", LOG_LVL_INFO);
	return 0;
}

static int teardown(void **state)
{
	unlink(cfg_path);
	unlink(err_path);
	return 0;
}

static const struct cfg_tool *find_tool(const struct agent_config *c, const char *name)
{
	for (int i = 0; i < c->n_tools; i++)
		if (!strcmp(c->tools[i].name, name))
			return &c->tools[i];
	return NULL;
}

/* files: (agent/fileio.c): sizes, the defaults switch, patterns checked with FILE:LINE */
static void test_files_section(void **state)
{
	struct agent_config c;
	char log[2048];

	config_defaults(&c);
	assert_int_equal(c.hash_max_bytes, 64ULL << 20);
	assert_int_equal(c.sensitive_defaults, 1);
	assert_int_equal(load_capture(&c, "files:\n  hash_max_bytes: 1M\n"
				      "  sensitive_defaults: false\n"
				      "  sensitive_paths: [\"~/.myorg/**\", \"*.p12\"]\n",
				      log, sizeof(log)), 0);
	assert_int_equal(c.hash_max_bytes, 1ULL << 20);
	assert_int_equal(c.sensitive_defaults, 0);
	assert_int_equal(c.n_sensitive, 2);
	assert_string_equal(c.sensitive[1], "*.p12");

	config_defaults(&c);
	assert_int_equal(load_capture(&c, "files:\n  sensitive_paths:\n    - \"*.pem\"\n"
				      "    - \"~x/y\"\n", log, sizeof(log)), -EINVAL);
	assert_non_null(strstr(log, ":4: files.sensitive_paths: '~x/y': ~ must be followed by /"));
	assert_int_equal(load_capture(&c, "files:\n  sensitive_defaults: maybe\n", log,
				      sizeof(log)), -EINVAL);
	assert_non_null(strstr(log, ":2: files.sensitive_defaults: expected true or false"));
	assert_int_equal(load_capture(&c, "files:\n  hash_bytes: 1\n", log, sizeof(log)),
			 -EINVAL);
}

static void test_defaults(void **state)
{
	struct agent_config c;
	const struct cfg_tool *t;

	config_defaults(&c);
	assert_int_equal(c.n_tools, 9);
	t = find_tool(&c, "claude");
	assert_non_null(t);
	assert_string_equal(t->names[0], "claude");
	assert_string_equal(t->argv[0], "@anthropic-ai/claude-code");
	assert_string_equal(t->env[0], "CLAUDECODE=1");
	t = find_tool(&c, "codex");
	assert_string_equal(t->env[0], "CODEX_SESSION_ID=");
	assert_non_null(find_tool(&c, "amp"));
	assert_int_equal(c.n_interpreters, 4);
	assert_string_equal(c.interpreters[3], "python3");
	assert_int_equal(c.stats_interval_s, 30);
	assert_string_equal(c.collector_url, "");
	assert_string_equal(c.state_dir, "/var/lib/aitrail");
	assert_true(c.spool_max_bytes == 1ULL << 30);
	assert_int_equal(c.spool_full_policy, SPOOL_DROP_OLDEST);
	assert_int_equal(c.batch_max_events, 1000);
	assert_int_equal(c.batch_max_bytes, 1 << 20);
	assert_int_equal(c.batch_max_ms, 1000);
	assert_int_equal(c.batch_drain_max_events, 10000);
	assert_int_equal(c.batch_drain_max_bytes, 8 << 20);
}

static void test_good_file(void **state)
{
	struct agent_config c;
	const struct cfg_tool *t;
	char log[4096];

	config_defaults(&c);
	assert_int_equal(load_capture(&c,
		"output: none\n"
		"signatures:\n"
		"  mode: extend\n"
		"  interpreters: [node, ruby]\n"
		"  tools:\n"
		"    - tool: claude\n"
		"      env: [CLAUDE_CODE_ENTRYPOINT=]\n"
		"    - tool: mybot\n"
		"      names: [mybot, mybot-cli]\n"
		"      argv: [\"mybot/main.py\"]\n"
		"ring_buffers: {core_kb: 8192, file_kb: 16384}\n"
		"stats_interval_s: 10\n"
		"state_dir: /tmp/aitrail-state\n"
		"collector:\n"
		"  url: https://collector.example:8443/\n"
		"  enroll_token: s3cret\n"
		"  ca_file: /etc/aitrail/ca.pem\n"
		"spool: {max_bytes: 512M, when_full: drop_newest}\n"
		"batch: {max_events: 500, max_bytes: 262144, max_ms: 250, drain_max_events: 5000,"
		" drain_max_bytes: 2M}\n",
		log, sizeof(log)), 0);
	assert_string_equal(log, "");
	assert_int_equal(c.output, OUTPUT_NONE);
	assert_int_equal(c.n_interpreters, 5); /* node is not added twice */
	assert_string_equal(c.interpreters[4], "ruby");
	assert_int_equal(c.n_tools, 10);
	t = find_tool(&c, "claude");
	assert_int_equal(t->n_env, 2);
	assert_string_equal(t->env[1], "CLAUDE_CODE_ENTRYPOINT=");
	t = find_tool(&c, "mybot");
	assert_non_null(t);
	assert_int_equal(t->n_names, 2);
	assert_string_equal(t->argv[0], "mybot/main.py");
	assert_int_equal(c.rb_core_kb, 8192);
	assert_int_equal(c.rb_file_kb, 16384);
	assert_int_equal(c.stats_interval_s, 10);
	assert_string_equal(c.state_dir, "/tmp/aitrail-state");
	assert_string_equal(c.collector_url, "https://collector.example:8443");
	assert_string_equal(c.enroll_token, "s3cret");
	assert_true(c.spool_max_bytes == 512ULL << 20);
	assert_int_equal(c.spool_full_policy, SPOOL_DROP_NEWEST);
	assert_int_equal(c.batch_max_events, 500);
	assert_int_equal(c.batch_max_bytes, 262144);
	assert_int_equal(c.batch_max_ms, 250);
	assert_int_equal(c.batch_drain_max_events, 5000);
	assert_int_equal(c.batch_drain_max_bytes, 2 << 20);
	assert_string_equal(c.path, cfg_path);
}

static void test_replace(void **state)
{
	struct agent_config c;
	char log[4096];

	config_defaults(&c);
	assert_int_equal(load_capture(&c,
		"signatures:\n"
		"  tools:\n"
		"    - {tool: only, names: [only]}\n"
		"  mode: replace\n",
		log, sizeof(log)), 0);
	assert_int_equal(c.n_tools, 1);
	assert_string_equal(c.tools[0].name, "only");
	assert_int_equal(c.n_interpreters, 4); /* not given: kept */
}

static void test_empty_file(void **state)
{
	struct agent_config c, d;
	char log[256];

	config_defaults(&c);
	config_defaults(&d);
	assert_int_equal(load_capture(&c, "", log, sizeof(log)), 0);
	assert_int_equal(c.n_tools, d.n_tools);
	assert_int_equal(c.batch_max_events, d.batch_max_events);
}

static void test_missing_file(void **state)
{
	struct agent_config c;

	config_defaults(&c);
	assert_int_equal(config_load(&c, "/nonexistent/aitrail.yaml"), -ENOENT);
}

struct bad_case {
	const char *yaml;
	int line;
	const char *words; /* must appear in the message */
};

static const struct bad_case bad_cases[] = {
	{ "output: json\nbogus: 1\n", 2, "unknown key 'bogus'" },
	{ "spool:\n  max_bytes: 1G\n  whenfull: drop_oldest\n", 3, "unknown key 'whenfull'" },
	{ "stats_interval_s: [1, 2]\n", 1, "expected a string or number, got a list" },
	{ "stats_interval_s: thirty\n", 1, "not a whole non-negative number" },
	{ "output: json\n\nstats_interval_s: 999999\n", 3, "out of range" },
	{ "batch:\n  max_events: 0\n", 2, "out of range" },
	{ "batch: {max_events: -5}\n", 1, "batch.max_events" },
	{ "batch:\n  max_ms: 5\n  drain_max_events: 200000\n", 3, "batch.drain_max_events" },
	{ "batch:\n  drain_max_bytes: 100M\n", 2, "out of range" },
	{ "ring_buffers:\n  core_kb: 3000\n", 2, "not a power of two" },
	{ "spool:\n  max_bytes: 12 parsecs\n", 2, "not a size" },
	{ "spool:\n  max_bytes: 1K\n", 2, "out of range" },
	{ "spool:\n  when_full: explode\n", 2, "drop_oldest, drop_newest" },
	{ "output: xml\n", 1, "not one of json, none" },
	{ "collector:\n  url: ftp://x\n", 2, "http:// or https://" },
	{ "collector:\n  url: https://x\n  cert_file: /c.pem\n", 2, "go together" },
	{ "state_dir: relative/dir\n", 1, "absolute path" },
	{ "signatures:\n  tools:\n    - tool: x\n      argv:\n        - "
	  "\"this-pattern-is-far-too-long-for-the-kernel-matcher-buffer\"\n",
	  5, "too long for the kernel" },
	{ "signatures:\n  tools:\n    - names: [x]\n", 3, "missing 'tool'" },
	{ "signatures:\n  mode: merge\n", 2, "extend, replace" },
	{ "signatures:\n  tools:\n    - tool: x\n", 3, "no names, argv or env" },
	{ "signatures: {mode: replace, interpreters: [node]}\n", 1, "never start a session" },
	{ "signatures:\n  interpreters: [a, b, c, d, e]\n", 2, "too many entries" },
	{ "signatures:\n  tools:\n    - {tool: x, names: [a,b,c,d,e,f,g,h,i]}\n", 3,
	  "too many entries" },
	{ "output: json\noutput: none\n", 2, "given twice" },
	{ "policy:\n  fetch_interval_s: 5\n  host_group: ci/runners\n", 3,
	  "policy.host_group: 'ci/runners'" },
	{ "spool: {max_bytes: 1G\n", 2, "" },
	{ "- a\n- b\n", 1, "expected a mapping, got a list" },
};

static void test_bad_files(void **state)
{
	struct agent_config c, ref;
	char log[4096], want[128];
	unsigned int i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];

		config_defaults(&c);
		/* pre-change something the bad file also touches: it must survive untouched */
		c.stats_interval_s = 7;
		ref = c;
		if (load_capture(&c, b->yaml, log, sizeof(log)) >= 0)
			fail_msg("case %u accepted: %s", i, b->yaml);
		snprintf(want, sizeof(want), "%s:%d: ", cfg_path, b->line);
		if (!strstr(log, want) || !strstr(log, b->words))
			fail_msg("case %u: want '%s' and '%s' in: %s", i, want, b->words, log);
		if (memcmp(&c, &ref, sizeof(c)))
			fail_msg("case %u: config changed although the file was rejected", i);
	}
}

static void test_too_many_tools(void **state)
{
	struct agent_config c;
	char yaml[8192], log[4096];
	int n = 0, i;

	config_defaults(&c);
	n += snprintf(yaml + n, sizeof(yaml) - n, "signatures:\n  tools:\n");
	for (i = 0; i < CFG_MAX_TOOLS; i++)
		n += snprintf(yaml + n, sizeof(yaml) - n, "    - {tool: t%d, names: [t%d]}\n", i, i);
	assert_int_not_equal(load_capture(&c, yaml, log, sizeof(log)), 0);
	/* 9 built-ins + 22 fit; the 23rd (line 3 + 22) is one too many */
	snprintf(yaml, sizeof(yaml), "%s:%d: ", cfg_path, 3 + CFG_MAX_TOOLS - 9);
	assert_non_null(strstr(log, yaml));
	assert_non_null(strstr(log, "too many tools"));
	assert_int_equal(c.n_tools, 9);
}

static void test_shipped_default(void **state)
{
	struct agent_config c, d;

	config_defaults(&c);
	config_defaults(&d);
	/* deploy/agent.yaml documents the defaults: loading it must change nothing else */
	assert_int_equal(config_load(&c, "deploy/agent.yaml"), 0);
	memset(c.path, 0, sizeof(c.path));
	assert_memory_equal(&c, &d, sizeof(c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_files_section),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_too_many_tools),
		cmocka_unit_test(test_shipped_default),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
