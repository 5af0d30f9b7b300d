// SPDX-License-Identifier: Apache-2.0
/* agent/signature.c (the kernel's session-root rules in C) and agent/sessions.c's ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "agent/config.h"
#include "agent/sessions.h"
#include "agent/signature.h"
#include "bpf/session.h"

static struct agent_config cfg;

static int setup(void **state)
{
	config_defaults(&cfg);
	return 0;
}

static int tool_id(const char *name)
{
	int i;

	for (i = 0; i < cfg.n_tools; i++)
		if (!strcmp(cfg.tools[i].name, name))
			return i + 1;
	return -1;
}

static int match(const char *comm, const char *exe, const char *argv, size_t alen,
		 const char *env, size_t elen, uint16_t *tool)
{
	return signature_match(&cfg, comm, exe, argv, alen, env, elen, tool);
}

static void test_comm_and_exe(void **state)
{
	uint16_t tool = 0;

	assert_int_equal(match("claude", "claude", NULL, 0, NULL, 0, &tool), AT_MATCH_COMM);
	assert_int_equal(tool, tool_id("claude"));
	/* a renamed binary is still found by what the kernel executed */
	assert_int_equal(match("my-wrapper", "codex", NULL, 0, NULL, 0, &tool), AT_MATCH_EXE);
	assert_int_equal(tool, tool_id("codex"));
	assert_int_equal(match("claudette", "claudette", NULL, 0, NULL, 0, &tool), AT_MATCH_NONE);
	assert_int_equal(tool, 0);
}

static void test_interpreter_argv(void **state)
{
	static const char argv[] = "node\0/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js\0-p";
	static const char py[] = "python3\0/home/u/.local/bin/aider\0--yes";
	uint16_t tool = 0;

	assert_int_equal(match("node", "node", argv, sizeof(argv), NULL, 0, &tool), AT_MATCH_ARGV);
	assert_int_equal(tool, tool_id("claude"));
	assert_int_equal(match("python3", "python3.11", py, sizeof(py), NULL, 0, &tool),
			 AT_MATCH_ARGV);
	assert_int_equal(tool, tool_id("aider"));
	/* the same argv in a program that is not an interpreter is not a session */
	assert_int_equal(match("cat", "cat", argv, sizeof(argv), NULL, 0, &tool), AT_MATCH_NONE);
}

static void test_argv_window(void **state)
{
	static char argv[AT_ARGV_MAX + 100];
	const char *pat = "@openai/codex";
	uint16_t tool = 0;

	memset(argv, 'x', sizeof(argv));
	/* beyond the bytes the kernel reads: not seen, like in the kernel */
	memcpy(argv + AT_ARGV_MAX + 10, pat, strlen(pat));
	assert_int_equal(match("node", "node", argv, sizeof(argv), NULL, 0, &tool), AT_MATCH_NONE);
	memcpy(argv + AT_ARGV_MAX - strlen(pat), pat, strlen(pat));
	assert_int_equal(match("node", "node", argv, sizeof(argv), NULL, 0, &tool), AT_MATCH_ARGV);
	assert_int_equal(tool, tool_id("codex"));
}

static void test_env_marker(void **state)
{
	static const char env[] = "PATH=/bin\0XCLAUDECODE=1\0HOME=/root";
	static const char env2[] = "PATH=/bin\0CODEX_SESSION_ID=abc\0";
	static const char env3[] = "CLAUDECODE=1\0";
	uint16_t tool = 0;

	/* a marker counts at the start of an entry only */
	assert_int_equal(match("sh", "sh", NULL, 0, env, sizeof(env), &tool), AT_MATCH_NONE);
	assert_int_equal(match("sh", "sh", NULL, 0, env2, sizeof(env2), &tool), AT_MATCH_ENV);
	assert_int_equal(tool, tool_id("codex"));
	assert_int_equal(match("sh", "sh", NULL, 0, env3, sizeof(env3), &tool), AT_MATCH_ENV);
	assert_int_equal(tool, tool_id("claude"));
}

static void test_long_names_truncate_like_comm(void **state)
{
	uint16_t tool = 0;

	/* the kernel keeps 15 characters of a name */
	snprintf(cfg.tools[0].names[cfg.tools[0].n_names++], CFG_NAME_LEN, "%s",
		 "averyveryverylo");
	assert_int_equal(match("averyveryverylo", "averyveryverylongname", NULL, 0, NULL, 0, &tool),
			 AT_MATCH_COMM);
	cfg.tools[0].n_names--;
}

static void test_session_id(void **state)
{
	char a[33], b[33], c[33], d[33];

	session_make_id("m1", "b1", 42, 123456789000ULL, a);
	session_make_id("m1", "b1", 42, 123456789000ULL, b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 32);
	/* the /proc scan knows the start time to the tick: same id as the kernel's ns value */
	session_make_id("m1", "b1", 42, 123450000000ULL, c);
	assert_string_equal(a, c);
	session_make_id("m1", "b2", 42, 123456789000ULL, d);
	assert_string_not_equal(a, d);
	session_make_id("m2", "b1", 42, 123456789000ULL, d);
	assert_string_not_equal(a, d);
	session_make_id("m1", "b1", 43, 123456789000ULL, d);
	assert_string_not_equal(a, d);
	session_make_id("m1", "b1", 42, 123466789000ULL, d);
	assert_string_not_equal(a, d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_comm_and_exe, setup),
		cmocka_unit_test_setup(test_interpreter_argv, setup),
		cmocka_unit_test_setup(test_argv_window, setup),
		cmocka_unit_test_setup(test_env_marker, setup),
		cmocka_unit_test_setup(test_long_names_truncate_like_comm, setup),
		cmocka_unit_test(test_session_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
