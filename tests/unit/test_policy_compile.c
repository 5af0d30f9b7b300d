// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel's verdict maps are longest-prefix tries; the compiler precomputes first-match
 * order into them. These tests run the kernel's lookups (bpf/policy.bpf.c) over the compiled
 * entries in user space and check that they agree with the ordered evaluator on many targets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/policy_rules.h"
#include "agent/policy_agent.h"
#include "bpf/policy.h"

static const char *const tools[] = { "claude", "codex" };

static struct policy *parse(const char *text)
{
	struct pol_errors err;
	struct policy *p;

	if (policy_parse("t.yaml", text, strlen(text), &p, &err)) {
		fprintf(stderr, "%s", err.buf);
		fail();
	}
	return p;
}

/* Longest matching entry of one LPM map for key k (prefixlen = full length). */
static const struct at_pol_verdict *lpm(const struct pol_entries *e, const uint8_t *k,
					uint32_t bits)
{
	const struct at_pol_verdict *best = NULL;
	uint32_t best_bits = 0;

	for (size_t i = 0; i < e->n; i++) {
		uint32_t eb;
		const uint8_t *x = e->v[i].key + 4;
		uint32_t full, rest;

		memcpy(&eb, e->v[i].key, 4);
		if (eb > bits || (best && eb <= best_bits))
			continue;
		full = eb / 8;
		rest = eb % 8;
		if (memcmp(x, k + 4, full))
			continue;
		if (rest && ((x[full] ^ k[4 + full]) & (0xff00 >> rest)))
			continue;
		best = (const void *)e->v[i].value;
		best_bits = eb;
	}
	return best;
}

static const struct at_pol_verdict *better(const struct at_pol_verdict *a,
					   const struct at_pol_verdict *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return b->prio < a->prio ? b : a;
}

/* What bpf/policy.bpf.c decides for a connect. */
static const struct at_pol_verdict *kernel_net(const struct pol_compiled *c, uint8_t tool,
					       int family, const uint8_t *addr, uint16_t port)
{
	struct at_pol_net_key k = { .family = family };
	const struct at_pol_verdict *v = NULL;
	uint32_t bits = AT_POL_NET_FIXED_BITS + (family == AF_INET ? 32 : 128);
	uint8_t tl[2] = { tool, 0 };
	uint16_t pl[2] = { port, 0 };

	memcpy(k.addr, addr, family == AF_INET ? 4 : 16);
	for (int t = 0; t < 2; t++)
		for (int p = 0; p < 2; p++) {
			k.tool = tl[t];
			k.port = pl[p];
			k.prefixlen = bits;
			v = better(v, lpm(&c->net, (const uint8_t *)&k, bits));
		}
	return v ? v : (const void *)c->defaults[POL_CAT_NETWORK];
}

static const struct at_pol_verdict *kernel_path(const struct pol_compiled *c, uint8_t tool,
						int cat, const char *path)
{
	struct at_pol_path_key k = { .cat = cat };
	const struct at_pol_verdict *v = NULL;
	size_t n = strlen(path) + 1;
	uint32_t bits = AT_POL_PATH_FIXED_BITS + 8 * n;

	memcpy(k.path, path, n);
	k.tool = tool;
	v = lpm(&c->path, (const uint8_t *)&k, bits);
	k.tool = 0;
	v = better(v, lpm(&c->path, (const uint8_t *)&k, bits));
	if (cat == POL_CAT_EXEC) {
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

		for (size_t i = 0; i < c->prog.n; i++) {
			const struct at_pol_prog_key *pk = (const void *)c->prog.v[i].key;

			if ((pk->tool == tool || pk->tool == 0) && !strcmp(pk->name, base))
				v = better(v, (const void *)c->prog.v[i].value);
		}
	}
	return v ? v : (const void *)c->defaults[cat];
}

static const char *net_policy =
	"version: 1\n"
	"defaults: {network: deny}\n"
	"rules:\n"
	"  - {id: r0, category: network, action: allow, match: {cidr: 10.1.0.0/16}}\n"
	"  - {id: r1, category: network, action: deny, match: {cidr: 10.0.0.0/8, port: [22, 80-82]}}\n"
	"  - {id: r2, category: network, action: alert, match: {cidr: 10.1.2.0/24}}\n"
	"  - {id: r3, category: network, action: kill, match: {tool: codex, cidr: 10.0.0.0/8}}\n"
	"  - {id: r4, category: network, action: allow, match: {port: 443}}\n"
	"  - {id: r5, category: network, action: deny, mode: monitor, match: {cidr: 10.1.2.3}}\n"
	"  - {id: r6, category: network, action: allow, match: {tool: claude, cidr: 10.0.0.0/9}}\n"
	"  - {id: r7, category: network, action: alert, match: {cidr: ['fd00::/8', '::1']}}\n"
	"  - {id: r8, category: network, action: deny, match: {host: '*.example.com'}}\n";

static void test_net_first_match_in_kernel(void **state)
{
	struct policy *p = parse(net_policy);
	struct pol_compiled c;
	static const char *const addrs[] = { "10.1.2.3", "10.1.2.4", "10.1.9.9", "10.2.0.1",
					     "10.200.0.1", "11.0.0.1", "127.0.0.1", "fd00::1",
					     "::1", "fe80::1" };
	static const uint16_t ports[] = { 22, 80, 81, 83, 443, 8080 };
	int checked = 0;

	assert_int_equal(pol_compile(p, tools, 2, &c), 0);
	assert_true(c.in_kernel[0] && c.in_kernel[7]);
	assert_false(c.in_kernel[8]); /* host names: agent after the fact */
	assert_non_null(c.why_not[8]);
	for (size_t ai = 0; ai < sizeof(addrs) / sizeof(addrs[0]); ai++)
		for (size_t pi = 0; pi < sizeof(ports) / sizeof(ports[0]); pi++)
			for (int tool = 1; tool <= 2; tool++) {
				struct pol_target t = { .cat = POL_CAT_NETWORK,
							.port = ports[pi] };
				struct pol_session s = { .tool = tools[tool - 1] };
				const struct at_pol_verdict *kv;
				struct pol_decision d;

				t.family = strchr(addrs[ai], ':') ? AF_INET6 : AF_INET;
				inet_pton(t.family, addrs[ai], t.addr);
				policy_eval(p, &s, &t, &d);
				kv = kernel_net(&c, tool, t.family, t.addr, t.port);
				if (strcmp(kv->rule_id, d.rule_id) || kv->action != d.action ||
				    kv->mode != d.mode) {
					fprintf(stderr, "%s port %u tool %s: kernel %s, evaluator %s\n",
						addrs[ai], t.port, s.tool, kv->rule_id, d.rule_id);
					fail();
				}
				checked++;
			}
	assert_int_equal(checked, 120);
	pol_compiled_free(&c);
	policy_free(p);
}

static const char *path_policy =
	"version: 1\n"
	"defaults: {exec: alert}\n"
	"rules:\n"
	"  - {id: f0, category: file_write, action: allow, match: {path: /etc/aitrail/**}}\n"
	"  - {id: f1, category: file_write, action: kill, match: {path: /etc/**}}\n"
	"  - {id: f2, category: file_write, action: alert, match: {path: /etc/aitrail/x.yaml}}\n"
	"  - {id: f3, category: file_write, action: deny, match: {tool: codex, path: /home/**}}\n"
	"  - {id: f4, category: file_write, action: deny, match: {path: /home/a/file}}\n"
	"  - {id: f5, category: file_read, action: alert, match: {path: /etc/shadow}}\n"
	"  - {id: f6, category: file_write, action: kill, match: {path: '/home/*/.ssh/**'}}\n"
	"  - {id: x0, category: exec, action: allow, match: {program: /usr/bin/git}}\n"
	"  - {id: x1, category: exec, action: kill, match: {program: [nc, git]}}\n"
	"  - {id: x2, category: exec, action: deny, match: {program: /usr/bin/**}}\n"
	"  - {id: x3, category: exec, action: alert, match: {program: curl, argv: '*| sh*'}}\n";

static void test_path_first_match_in_kernel(void **state)
{
	struct policy *p = parse(path_policy);
	struct pol_compiled c;
	static const char *const paths[] = { "/etc/passwd", "/etc/aitrail/x.yaml", "/etc/aitrail",
					     "/etc", "/etcetera", "/home/a/file", "/home/a/file2",
					     "/home/b/x", "/etc/shadow", "/tmp/x" };
	static const char *const progs[] = { "/usr/bin/git", "/usr/bin/nc", "/bin/nc",
					     "/usr/bin/ls", "/opt/git", "/bin/sh" };

	assert_int_equal(pol_compile(p, tools, 2, &c), 0);
	assert_false(c.in_kernel[6]);  /* a '*' inside the path */
	assert_false(c.in_kernel[10]); /* argv */
	for (int cat = POL_CAT_FILE_WRITE; cat <= POL_CAT_FILE_READ; cat++)
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			for (int tool = 1; tool <= 2; tool++) {
				struct pol_target t = { .cat = cat, .path = paths[i] };
				struct pol_session s = { .tool = tools[tool - 1] };
				const struct at_pol_verdict *kv = kernel_path(&c, tool, cat, paths[i]);
				struct pol_decision d;

				policy_eval(p, &s, &t, &d);
				if (strcmp(kv->rule_id, d.rule_id) || kv->action != d.action) {
					fprintf(stderr, "%s %s tool %s: kernel %s, evaluator %s\n",
						policy_category_name(cat), paths[i], s.tool,
						kv->rule_id, d.rule_id);
					fail();
				}
			}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char *argv[] = { (char *)progs[i] };
		struct pol_target t = { .cat = POL_CAT_EXEC, .program = progs[i], .argv = argv,
					.argc = 1 };
		struct pol_session s = { .tool = "claude" };
		const struct at_pol_verdict *kv = kernel_path(&c, 1, POL_CAT_EXEC, progs[i]);
		struct pol_decision d;

		policy_eval(p, &s, &t, &d);
		if (strcmp(kv->rule_id, d.rule_id)) {
			fprintf(stderr, "exec %s: kernel %s, evaluator %s\n", progs[i], kv->rule_id,
				d.rule_id);
			fail();
		}
	}
	pol_compiled_free(&c);
	policy_free(p);
}

static void test_unknown_tool_never_applies(void **state)
{
	struct policy *p = parse("version: 1\nrules:\n"
				 "  - {id: a, category: network, action: deny, match: {tool: aider}}\n");
	struct pol_compiled c;

	assert_int_equal(pol_compile(p, tools, 2, &c), 0);
	assert_int_equal(c.net.n, 0);
	pol_compiled_free(&c);
	policy_free(p);
}

static void test_decode_record(void **state)
{
	struct at_pol_decision r = { 0 };
	struct pol_decision_buf b;

	r.hdr.type = AT_REC_POLICY_DECISION;
	r.cat = AT_POL_CAT_NETWORK;
	r.action = AT_POL_DENY;
	r.mech = AT_POL_MECH_CGROUP_SOCK_ADDR;
	r.outcome = AT_POL_OUT_BLOCKED;
	r.family = AF_INET6;
	r.port = 443;
	r.hook = AT_POL_HOOK_CONNECT6;
	inet_pton(AF_INET6, "fd00::7", r.addr);
	strcpy(r.rule_id, "no-ula");
	assert_int_equal(pol_decode_record(&r, sizeof(r), &b), 0);
	assert_string_equal(b.pd.rule_id, "no-ula");
	assert_string_equal(b.pd.target, "[fd00::7]:443");
	assert_string_equal(b.pd.outcome, "blocked");
	assert_string_equal(b.pd.mechanism, "cgroup_sock_addr");
	assert_string_equal(b.pd.category, "network");
	assert_string_equal(b.pd.action, "deny");
	assert_string_equal(b.pd.mode, "enforce");

	memset(&r, 0, sizeof(r));
	r.cat = AT_POL_CAT_FILE_WRITE;
	r.action = AT_POL_KILL;
	r.mech = AT_POL_MECH_TRACEPOINT_KILL;
	r.outcome = AT_POL_OUT_KILLED;
	r.hook = AT_POL_HOOK_OPEN;
	r.path_len = 11;
	memcpy(r.path, "/etc/passwdGARBAGE", 18);
	assert_int_equal(pol_decode_record(&r, sizeof(r), &b), 0);
	assert_string_equal(b.pd.target, "/etc/passwd");
	assert_string_equal(b.pd.outcome, "killed");
	assert_int_equal(pol_decode_record(&r, sizeof(r) - 1, &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_first_match_in_kernel),
		cmocka_unit_test(test_path_first_match_in_kernel),
		cmocka_unit_test(test_unknown_tool_never_applies),
		cmocka_unit_test(test_decode_record),
	};

	log_init("test_policy_compile", (enum log_level)(LOG_LVL_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
