// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel's session-root rules (bpf/session.bpf.c) in C, for processes that were already
 * running when the agent started. Same order, same bounds: a process the kernel would have
 * recognised at exec is recognised here, and nothing else.
 */
#include <string.h>

#include "agent/config.h"
#include "agent/signature.h"
#include "bpf/session.h"

static const char *const match_names[] = {
	[AT_MATCH_NONE] = "", [AT_MATCH_COMM] = "comm", [AT_MATCH_EXE] = "exe",
	[AT_MATCH_ARGV] = "argv", [AT_MATCH_ENV] = "env", [AT_MATCH_SCAN] = "scan",
};

const char *match_name(int how)
{
	if (how < 0 || how > AT_MATCH_SCAN)
		return "";
	return match_names[how];
}

/* The kernel compares 16-byte, NUL padded names: at most 15 characters take part. */
static int name_eq(const char *a, const char *b)
{
	return strncmp(a, b, AT_SIG_NAME_LEN - 1) == 0;
}

static uint16_t lookup_name(const struct agent_config *c, const char *name)
{
	int i, j;

	if (!name || !*name)
		return 0;
	for (i = 0; i < c->n_tools; i++)
		for (j = 0; j < c->tools[i].n_names; j++)
			if (name_eq(c->tools[i].names[j], name))
				return i + 1;
	return 0;
}

static int is_interpreter(const struct agent_config *c, const char *name)
{
	int i;

	if (!name || !*name)
		return 0;
	for (i = 0; i < c->n_interpreters; i++)
		if (name_eq(c->interpreters[i], name))
			return 1;
	return 0;
}

static uint16_t search_argv(const struct agent_config *c, const char *argv, size_t len)
{
	int i, j;

	if (len > AT_ARGV_MAX)
		len = AT_ARGV_MAX;
	for (i = 0; i < c->n_tools; i++) {
		for (j = 0; j < c->tools[i].n_argv; j++) {
			const char *pat = c->tools[i].argv[j];
			size_t plen = strnlen(pat, CFG_PATTERN_LEN);

			if (plen && memmem(argv, len, pat, plen))
				return i + 1;
		}
	}
	return 0;
}

static uint16_t search_env(const struct agent_config *c, const char *env, size_t len)
{
	int i, j;

	if (len > AT_ENV_SCAN_MAX)
		len = AT_ENV_SCAN_MAX;
	/* pattern-major, like the kernel: the first configured marker present wins */
	for (i = 0; i < c->n_tools; i++) {
		for (j = 0; j < c->tools[i].n_env; j++) {
			const char *pat = c->tools[i].env[j];
			size_t plen = strnlen(pat, CFG_PATTERN_LEN), pos;

			if (!plen)
				continue;
			for (pos = 0; pos + plen <= len; pos++) {
				if (pos > 0 && env[pos - 1] != '\0')
					continue;
				if (!memcmp(env + pos, pat, plen))
					return i + 1;
			}
		}
	}
	return 0;
}

int signature_match(const struct agent_config *c, const char *comm, const char *exe_base,
		    const char *argv, size_t argv_len, const char *env, size_t env_len,
		    uint16_t *tool)
{
	*tool = lookup_name(c, comm);
	if (*tool)
		return AT_MATCH_COMM;
	*tool = lookup_name(c, exe_base);
	if (*tool)
		return AT_MATCH_EXE;
	if (argv && (is_interpreter(c, comm) || is_interpreter(c, exe_base))) {
		*tool = search_argv(c, argv, argv_len);
		if (*tool)
			return AT_MATCH_ARGV;
	}
	if (env) {
		*tool = search_env(c, env, env_len);
		if (*tool)
			return AT_MATCH_ENV;
	}
	return AT_MATCH_NONE;
}
