// SPDX-License-Identifier: Apache-2.0
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

static struct policy *parse_ok(const char *text)
{
	struct pol_errors err;
	struct policy *p = NULL;
	int ret = policy_parse("t.yaml", text, strlen(text), &p, &err);

	if (ret)
		fprintf(stderr, "unexpected errors:\n%s", err.buf);
	assert_int_equal(ret, 0);
	assert_non_null(p);
	return p;
}

/* The policy must be refused and the errors must contain want (which carries the line). */
static void parse_bad(const char *text, const char *want)
{
	struct pol_errors err;
	struct policy *p = (void *)1;
	int ret = policy_parse("t.yaml", text, strlen(text), &p, &err);

	assert_int_equal(ret, -EINVAL);
	assert_null(p);
	assert_true(err.n >= 1);
	if (!strstr(err.buf, want)) {
		fprintf(stderr, "want '%s' in:\n%s", want, err.buf);
		fail();
	}
}

static const char *good =
	"version: 1\n"
	"mode: enforce\n"
	"defaults:\n"
	"  network: alert\n"
	"  exec: allow\n"
	"rules:\n"
	"  - id: allow-internal\n"                  /* 7 */
	"    category: network\n"
	"    action: allow\n"
	"    match: {cidr: [10.1.0.0/16]}\n"
	"  - id: deny-ten\n"                         /* 11 */
	"    category: network\n"
	"    action: deny\n"
	"    match:\n"
	"      cidr: [10.0.0.0/8, 'fd00::/8']\n"
	"      port: [22, 8000-8100]\n"
	"  - id: claude-api\n"
	"    category: network\n"
	"    action: allow\n"
	"    match: {tool: claude, vendor: anthropic}\n"
	"  - id: ssh-keys\n"
	"    category: file_write\n"
	"    action: kill\n"
	"    mode: monitor\n"
	"    match: {path: ['/home/*/.ssh/**', /etc/passwd]}\n"
	"  - id: pipe-to-shell\n"
	"    category: exec\n"
	"    action: alert\n"
	"    match: {program: curl, argv: '*| sh*'}\n"
	"  - id: secret-repo\n"
	"    category: file_read\n"
	"    action: deny\n"
	"    match: {cwd: /srv/secret/**, user: [alice, bob], path: /srv/secret/**}\n";

static void test_parse_good(void **state)
{
	struct policy *p = parse_ok(good);

	assert_int_equal(p->n_rules, 6);
	assert_string_equal(p->rules[0].id, "allow-internal");
	assert_int_equal(p->rules[0].line, 7);
	assert_int_equal(p->rules[1].line, 11);
	assert_int_equal(p->rules[1].n_cidr, 2);
	assert_int_equal(p->rules[1].n_port, 2);
	assert_int_equal(p->rules[1].port[1].lo, 8000);
	assert_int_equal(p->rules[1].port[1].hi, 8100);
	assert_int_equal(p->rules[3].action, POL_KILL);
	assert_int_equal(p->rules[3].mode, POL_MONITOR);
	assert_int_equal(p->rules[2].mode, POL_ENFORCE);
	assert_int_equal(p->defaults[POL_CAT_NETWORK].action, POL_ALERT);
	assert_int_equal(p->defaults[POL_CAT_FILE_READ].action, POL_ALLOW);
	policy_free(p);
}

static void test_parse_errors(void **state)
{
	parse_bad("version: 1\nrulez: []\n", "t.yaml:2: unknown key 'rulez'");
	parse_bad("rules: []\n", "t.yaml:1: missing 'version: 1'");
	parse_bad("version: 2\n", "t.yaml:1: unsupported version '2'");
	parse_bad("version: 1\nmode: loud\n", "t.yaml:2: unknown mode 'loud'");
	parse_bad("version: 1\ndefaults:\n  network: allow\n  printer: deny\n",
		  "t.yaml:4: unknown category 'printer'");
	parse_bad("version: 1\ndefaults:\n  network: block\n", "t.yaml:3: unknown action 'block'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: net\n    action: deny\n",
		  "t.yaml:4: unknown category 'net'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: drop\n",
		  "t.yaml:5: unknown action 'drop'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    mode: strict\n",
		  "t.yaml:6: unknown mode 'strict'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      cidr: 10.0.0.0/33\n",
		  "t.yaml:7: bad CIDR '10.0.0.0/33'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      cidr: [10.0.0.1/8]\n",
		  "t.yaml:7: bad CIDR '10.0.0.1/8': address has bits set");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      cidr: [example.com]\n",
		  "t.yaml:7: bad CIDR 'example.com'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      port: [443, 70000]\n",
		  "t.yaml:7: bad port '70000'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      port: 0\n",
		  "t.yaml:7: bad port '0'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      port: 9000-8000\n",
		  "t.yaml:7: bad port range '9000-8000'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: file_write\n    action: deny\n"
		  "    match:\n      path: '/etc/[abc'\n",
		  "t.yaml:7: bad glob '/etc/[abc' for 'path': unclosed '['");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: file_write\n    action: deny\n"
		  "    match:\n      path: etc/passwd\n",
		  "t.yaml:7: bad glob 'etc/passwd' for 'path': paths are absolute");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      host: 'a]b'\n",
		  "t.yaml:7: bad glob 'a]b' for 'host'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      hostname: x\n",
		  "t.yaml:7: unknown match key 'hostname'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      path: /etc/passwd\n",
		  "t.yaml:7: match key 'path' does not apply to category network");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      vendor: Acme Corp\n",
		  "t.yaml:7: bad vendor 'Acme Corp'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match:\n      class: llm\n",
		  "t.yaml:7: unknown class 'llm'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    colour: red\n",
		  "t.yaml:6: unknown rule key 'colour'");
	parse_bad("version: 1\nrules:\n  - category: network\n    action: deny\n",
		  "t.yaml:3: rule has no 'id'");
	parse_bad("version: 1\nrules:\n  - id: 'has space'\n    category: network\n    action: deny\n",
		  "t.yaml:3: bad rule id 'has space'");
	parse_bad("version: 1\nrules:\n  - id: a\n    action: deny\n",
		  "t.yaml:3: rule 'a' has no 'category'");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: exec\n    action: deny\n"
		  "  - id: a\n    category: exec\n    action: deny\n",
		  "t.yaml:6: duplicate rule id 'a' (first at line 3)");
	parse_bad("version: 1\nrules:\n  - id: a\n    category: exec\n    action: deny\n"
		  "    match:\n      argv: []\n",
		  "t.yaml:7: 'argv' is an empty list");
	parse_bad("version: 1\nrules: {a: b}\n", "t.yaml:2: 'rules' must be a list");
	parse_bad("version: 1\nrules:\n  - id: a\n   category: [\n", "YAML syntax error");
	parse_bad("- just\n- a list\n", "t.yaml:1: a policy must be a mapping");
	parse_bad("", "empty policy");
}

static void test_all_errors_reported(void **state)
{
	const char *text = "version: 1\n"
			   "rules:\n"
			   "  - id: a\n"
			   "    category: network\n"
			   "    action: deny\n"
			   "    match: {port: 99999}\n"
			   "  - id: b\n"
			   "    category: exec\n"
			   "    action: explode\n";
	struct pol_errors err;
	struct policy *p;

	assert_int_equal(policy_parse("t.yaml", text, strlen(text), &p, &err), -EINVAL);
	assert_int_equal(err.n, 2);
	assert_non_null(strstr(err.buf, "t.yaml:6: bad port '99999'"));
	assert_non_null(strstr(err.buf, "t.yaml:9: unknown action 'explode'"));
}

/* A repeated key would silently drop the first value (a second match: widening a rule). */
static void test_repeated_key(void **state)
{
	parse_bad("version: 1\nrules:\n  - id: a\n    category: network\n    action: deny\n"
		  "    match: {host: evil.example}\n    match: {port: 443}\n",
		  "t.yaml:7: key 'match' given twice");
}

static void test_load_file_missing(void **state)
{
	struct pol_errors err;
	struct policy *p;

	assert_int_equal(policy_load_file("/nonexistent/policy.yaml", &p, &err), -ENOENT);
	assert_non_null(strstr(err.buf, "/nonexistent/policy.yaml"));
}

static void test_glob(void **state)
{
	assert_true(pol_glob_match("/etc/passwd", "/etc/passwd", '/'));
	assert_false(pol_glob_match("/etc/passwd", "/etc/passwd-", '/'));
	assert_true(pol_glob_match("/etc/*", "/etc/shadow", '/'));
	assert_false(pol_glob_match("/etc/*", "/etc/ssh/sshd_config", '/'));
	assert_true(pol_glob_match("/etc/**", "/etc/ssh/sshd_config", '/'));
	assert_false(pol_glob_match("/etc/**", "/etcetera", '/'));
	assert_true(pol_glob_match("/home/*/.ssh/**", "/home/alice/.ssh/id_rsa", '/'));
	assert_false(pol_glob_match("/home/*/.ssh/**", "/home/alice/x/.ssh/id_rsa", '/'));
	assert_true(pol_glob_match("/home/**/.env", "/home/alice/p/q/.env", '/'));
	assert_true(pol_glob_match("**/.env", "/srv/app/.env", '/'));
	assert_true(pol_glob_match("/tmp/*.sh", "/tmp/run.sh", '/'));
	assert_false(pol_glob_match("/tmp/*.sh", "/tmp/a/run.sh", '/'));
	assert_true(pol_glob_match("/tmp/file?", "/tmp/file1", '/'));
	assert_false(pol_glob_match("/tmp/file?", "/tmp/file", '/'));
	assert_true(pol_glob_match("/dev/tty[0-9]", "/dev/tty3", '/'));
	assert_false(pol_glob_match("/dev/tty[!0-9]", "/dev/tty3", '/'));
	assert_true(pol_glob_match("/a*b*c", "/axxbyyc", '/'));
	assert_false(pol_glob_match("/a*b*c", "/axxbyy", '/'));
	/* hosts: '*' crosses dots, case folds */
	assert_true(pol_glob_match("*.anthropic.com", "api.anthropic.com", 0));
	assert_true(pol_glob_match("*.anthropic.com", "A.B.Anthropic.COM", 0));
	assert_false(pol_glob_match("*.anthropic.com", "anthropic.com", 0));
	assert_false(pol_glob_match("*.anthropic.com", "evilanthropic.com", 0));
	assert_true(pol_glob_match("*| sh*", "-fsSL https://x/i.sh | sh -s", 0));

	const char *why;

	assert_int_equal(pol_glob_check("/a/[b", &why), -EINVAL);
	assert_int_equal(pol_glob_check("/a/[]", &why), -EINVAL);
	assert_int_equal(pol_glob_check("/a/***", &why), -EINVAL);
	assert_int_equal(pol_glob_check("", &why), -EINVAL);
	assert_int_equal(pol_glob_check("/a/[]x]", &why), 0);
	assert_int_equal(pol_glob_check("/a/**/b*", &why), 0);
}

static void test_glob_shape(void **state)
{
	size_t n;

	assert_int_equal(pol_glob_shape("/etc/passwd", &n), POL_GLOB_EXACT);
	assert_int_equal(n, 11);
	assert_int_equal(pol_glob_shape("/etc/**", &n), POL_GLOB_PREFIX);
	assert_int_equal(n, 5);
	assert_int_equal(pol_glob_shape("/etc/*", &n), POL_GLOB_OTHER);
	assert_int_equal(pol_glob_shape("/home/*/.ssh/**", &n), POL_GLOB_OTHER);
}

/* Whether c holds addr (text, of family af). */
static bool in(const struct pol_cidr *c, int af, const char *addr)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(af, addr, a), 1);
	return pol_cidr_contains(c, af, a);
}

static void test_cidr(void **state)
{
	struct pol_cidr c;
	const char *why;

	assert_int_equal(pol_cidr_parse("10.0.0.0/8", &c, &why), 0);
	assert_true(in(&c, AF_INET, "10.200.3.4"));
	assert_false(in(&c, AF_INET, "11.0.0.1"));
	assert_int_equal(pol_cidr_parse("192.168.1.128/25", &c, &why), 0);
	assert_true(in(&c, AF_INET, "192.168.1.200"));
	assert_false(in(&c, AF_INET, "192.168.1.127"));
	assert_int_equal(pol_cidr_parse("127.0.0.1", &c, &why), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(pol_cidr_parse("0.0.0.0/0", &c, &why), 0);
	assert_true(in(&c, AF_INET, "8.8.8.8"));
	assert_false(in(&c, AF_INET6, "::1"));
	assert_int_equal(pol_cidr_parse("fd00::/8", &c, &why), 0);
	assert_true(in(&c, AF_INET6, "fd12::1"));
	assert_false(in(&c, AF_INET6, "fe80::1"));
	assert_int_equal(pol_cidr_parse("10.0.0.0/", &c, &why), -EINVAL);
	assert_int_equal(pol_cidr_parse("10.0.0/8", &c, &why), -EINVAL);
	assert_int_equal(pol_cidr_parse("::1/129", &c, &why), -EINVAL);
}

static struct pol_target net(const char *addr, uint16_t port, const char *host)
{
	struct pol_target t = { .cat = POL_CAT_NETWORK, .port = port, .host = host };

	if (inet_pton(AF_INET, addr, t.addr) == 1)
		t.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, t.addr) == 1)
		t.family = AF_INET6;
	return t;
}

static void test_first_match(void **state)
{
	struct policy *p = parse_ok(good);
	struct pol_session claude = { .tool = "claude", .user = "alice", .cwd = "/srv/secret/x" };
	struct pol_session codex = { .tool = "codex", .user = "carol", .cwd = "/home/carol" };
	struct pol_decision d;
	struct pol_target t;

	/* 10.1/16 is allowed by the first rule although the second (deny 10/8) also matches */
	t = net("10.1.2.3", 22, NULL);
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "allow-internal");
	assert_int_equal(d.action, POL_ALLOW);
	t = net("10.2.2.3", 22, NULL);
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "deny-ten");
	assert_int_equal(d.action, POL_DENY);
	/* port outside the rule's list: falls through to the default */
	t = net("10.2.2.3", 443, NULL);
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "default:network");
	assert_int_equal(d.action, POL_ALERT);
	assert_null(d.rule);
	t = net("fd00::5", 8050, NULL);
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "deny-ten");
	/* vendor class and tool */
	t = net("160.79.104.10", 443, "api.anthropic.com");
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "claude-api");
	policy_eval(p, &codex, &t, &d);
	assert_string_equal(d.rule_id, "default:network");
	/* no host known: a vendor rule cannot match */
	t = net("160.79.104.10", 443, NULL);
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "default:network");

	/* files */
	t = (struct pol_target){ .cat = POL_CAT_FILE_WRITE, .path = "/home/alice/.ssh/authorized_keys" };
	policy_eval(p, &codex, &t, &d);
	assert_string_equal(d.rule_id, "ssh-keys");
	assert_int_equal(d.action, POL_KILL);
	assert_int_equal(d.mode, POL_MONITOR);
	t.cat = POL_CAT_FILE_READ; /* the rule is about writes only */
	policy_eval(p, &codex, &t, &d);
	assert_string_equal(d.rule_id, "default:file_read");
	t.path = "/srv/secret/plans.txt";
	policy_eval(p, &claude, &t, &d);
	assert_string_equal(d.rule_id, "secret-repo");
	policy_eval(p, &codex, &t, &d); /* carol is not in the user list */
	assert_string_equal(d.rule_id, "default:file_read");

	/* exec: program basename and argv glob */
	char *argv1[] = { "curl", "-fsSL", "https://x/i.sh", "|", "sh" };
	char *argv2[] = { "curl", "-o", "out", "https://x/" };

	t = (struct pol_target){ .cat = POL_CAT_EXEC, .program = "/usr/bin/curl", .argv = argv1,
				 .argc = 5 };
	policy_eval(p, &codex, &t, &d);
	assert_string_equal(d.rule_id, "pipe-to-shell");
	t.argv = argv2;
	t.argc = 4;
	policy_eval(p, &codex, &t, &d);
	assert_string_equal(d.rule_id, "default:exec");
	policy_free(p);
}

static void test_eval_event(void **state)
{
	const char *text = "version: 1\n"
			   "rules:\n"
			   "  - {id: w, category: file_write, action: deny, match: {path: /etc/**}}\n"
			   "  - {id: r, category: file_read, action: alert, match: {path: /etc/**}}\n"
			   "  - {id: n, category: network, action: deny, match: {cidr: 127.0.0.0/8, "
			   "port: 9}}\n"
			   "  - {id: x, category: exec, action: kill, match: {program: /usr/bin/nc}}\n";
	struct policy *p = parse_ok(text);
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__FileOp f = AITRAIL__V1__FILE_OP__INIT;
	Aitrail__V1__NetConnect n = AITRAIL__V1__NET_CONNECT__INIT;
	Aitrail__V1__Exec x = AITRAIL__V1__EXEC__INIT;
	char *wr[] = { "O_WRONLY", "O_CREAT" }, *rd[] = { "O_RDONLY" };
	char *argv[] = { "nc", "-l" };
	struct pol_decision d;

	ev.type = "file_open";
	ev.body_case = AITRAIL__V1__EVENT__BODY_FILE;
	ev.file = &f;
	f.path = "/etc/hosts";
	f.flags = wr;
	f.n_flags = 2;
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), 0);
	assert_string_equal(d.rule_id, "w");
	f.flags = rd;
	f.n_flags = 1;
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), 0);
	assert_string_equal(d.rule_id, "r");
	ev.type = "file_unlink";
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), 0);
	assert_string_equal(d.rule_id, "w");

	ev.type = "net_connect";
	ev.body_case = AITRAIL__V1__EVENT__BODY_NET_CONNECT;
	ev.net_connect = &n;
	n.daddr = "127.0.0.1";
	n.dport = 9;
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), 0);
	assert_string_equal(d.rule_id, "n");
	n.dport = 10;
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), 0);
	assert_string_equal(d.rule_id, "default:network");
	/* class and vendor as the agent's vendor table reported them */
	{
		const char *t2 = "version: 1\nrules:\n"
				 "  - {id: tel, category: network, action: deny, match: {class: telemetry}}\n"
				 "  - {id: mis, category: network, action: alert, match: {vendor: mistral}}\n";
		struct policy *p2 = parse_ok(t2);

		n.dport = 443;
		n.dst_class = "telemetry";
		assert_int_equal(policy_eval_event(p2, &ev, NULL, &d), 0);
		assert_string_equal(d.rule_id, "tel");
		n.dst_class = "model_vendor";
		n.vendor = "mistral";
		assert_int_equal(policy_eval_event(p2, &ev, NULL, &d), 0);
		assert_string_equal(d.rule_id, "mis");
		n.vendor = "";
		assert_int_equal(policy_eval_event(p2, &ev, NULL, &d), 0);
		assert_string_equal(d.rule_id, "default:network");
		policy_free(p2);
	}
	n.family = "unix";
	n.daddr = "/run/x.sock";
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), -ENOENT);

	ev.type = "exec";
	ev.body_case = AITRAIL__V1__EVENT__BODY_EXEC;
	ev.exec = &x;
	x.exe = "/usr/bin/nc";
	x.argv = argv;
	x.n_argv = 2;
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), 0);
	assert_string_equal(d.rule_id, "x");
	assert_int_equal(d.action, POL_KILL);

	ev.type = "exit";
	ev.body_case = AITRAIL__V1__EVENT__BODY_EXIT;
	assert_int_equal(policy_eval_event(p, &ev, NULL, &d), -ENOENT);
	policy_free(p);
}

static void test_shipped_policy(void **state)
{
	struct pol_errors err;
	struct policy *p;
	int ret = policy_load_file("deploy/policy.yaml", &p, &err);

	if (ret)
		fprintf(stderr, "%s", err.buf);
	assert_int_equal(ret, 0);
	assert_true(p->n_rules > 0);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_repeated_key),
		cmocka_unit_test(test_load_file_missing),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_glob_shape),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_first_match),
		cmocka_unit_test(test_eval_event),
		cmocka_unit_test(test_shipped_policy),
	};

	log_init("test_policy", (enum log_level)(LOG_LVL_ERROR + 1)); /* quiet: errors are asserted */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
