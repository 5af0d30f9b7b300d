// SPDX-License-Identifier: Apache-2.0
/*
 * aitrail policy check FILE
 * aitrail policy test FILE [--since TIME] [--until TIME] [--limit N]
 * aitrail policy push FILE [--group G]
 * aitrail policy show [--group G]
 * aitrail policy rm --group G
 *
 * check validates locally (the agents' parser, every FILE:LINE problem). test validates the
 * same way, then has the collector replay the stored events of the window through the policy
 * (POST /v1/policy/test) and shows what it would have decided. push validates and makes the
 * file the policy agents fetch (POST /v1/policy), for the fleet or one host group (agents with
 * policy.host_group: G); show prints what an agent of the group (or any) gets; rm hands a group
 * back to the fleet policy.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/policy_rules.h"
#include "common/timeparse.h"
#include "common/util.h"

struct body {
	char *p;
	size_t len;
};

static int read_file(const char *path, struct body *out)
{
	FILE *f = fopen(path, "r");
	size_t n, cap = 0;
	char buf[65536];

	if (!f) {
		fprintf(stderr, "aitrail policy: failed to open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (grow_array(&out->p, &cap, out->len + n + 1, 1)) {
			fclose(f);
			return -ENOMEM;
		}
		memcpy(out->p + out->len, buf, n);
		out->len += n;
		out->p[out->len] = '\0';
	}
	fclose(f);
	return 0;
}

/* Local validation first: the errors name the user's file and line, not the collector's copy. */
static int validate(const char *path, bool quiet)
{
	struct pol_errors err;
	struct policy *p;
	int ret = policy_load_file(path, &p, &err);

	if (ret) {
		fputs(err.buf, stderr);
		fprintf(stderr, "aitrail policy: %s refused: %d problem%s\n", path, err.n,
			err.n == 1 ? "" : "s");
		return ret;
	}
	if (!quiet)
		printf("%s: valid, %d rule%s\n", path, p->n_rules, p->n_rules == 1 ? "" : "s");
	policy_free(p);
	return 0;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v ? json_object_get_string(v) : "";
}

static int64_t jnum(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v ? json_object_get_int64(v) : 0;
}

static void render(json_object *o)
{
	json_object *dec = json_object_object_get(o, "decisions");
	json_object *rules = json_object_object_get(o, "rules");
	json_object *m = json_object_object_get(o, "matches");

	printf("%" PRId64 " events replayed: %" PRId64 " allow, %" PRId64 " alert, %" PRId64
	       " deny, %" PRId64 " kill\n",
	       jnum(o, "events_examined"), jnum(dec, "allow"), jnum(dec, "alert"),
	       jnum(dec, "deny"), jnum(dec, "kill"));
	if (jnum(o, "events_undecodable"))
		printf("%" PRId64 " stored events could not be decoded and were skipped\n",
		       jnum(o, "events_undecodable"));
	printf("\n%-32s %-10s %-6s %-8s %s\n", "RULE", "CATEGORY", "ACTION", "MODE", "MATCHES");
	for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
		json_object *r = json_object_array_get_idx(rules, i);

		printf("%-32s %-10s %-6s %-8s %" PRId64 "\n", jstr(r, "rule_id"), jstr(r, "category"),
		       jstr(r, "action"), jstr(r, "mode"), jnum(r, "matches"));
	}
	if (!m || !json_object_array_length(m))
		return;
	printf("\n%-30s %-8s %-8s %-10s %-6s %-24s %s\n", "TIME", "TOOL", "USER", "CATEGORY",
	       "ACTION", "RULE", "TARGET");
	for (size_t i = 0; i < json_object_array_length(m); i++) {
		json_object *e = json_object_array_get_idx(m, i);

		printf("%-30s %-8s %-8s %-10s %-6s %-24s %s\n", jstr(e, "ts"), jstr(e, "tool"),
		       jstr(e, "user"), jstr(e, "category"), jstr(e, "action"), jstr(e, "rule_id"),
		       jstr(e, "target"));
	}
	if (json_object_get_boolean(json_object_object_get(o, "matches_truncated")))
		printf("(more matches than --limit; counts above are complete)\n");
}

/* GET, or POST with body; DELETE when del. The HTTP status, 0 when unreachable. */
static long request(struct cli *c, const char *path, const struct body *body, bool del)
{
	struct http_request r = {
		.method = del ? "DELETE" : NULL,
		.path = path,
		.content_type = "application/yaml",
		.body = body ? (body->p ? body->p : "") : NULL,
		.body_len = body ? body->len : 0,
		.timeout_ms = 600000, /* a replay over a long window takes a while */
	};

	return cli_request(c, &r);
}

static void print_error(struct cli *c, const char *what, long status)
{
	json_object *o = c->http.reply_len ? json_tokener_parse(c->http.reply) : NULL;

	if (status)
		fprintf(stderr, "aitrail policy %s: the collector answered HTTP %ld: %s\n%s", what,
			status, o ? jstr(o, "error") : "not JSON", o ? jstr(o, "errors") : "");
	json_object_put(o);
}

/*
 * Validates the policy at path, then POSTs it to q: the collector's JSON answer, or NULL after
 * a message with the exit code in *rc (2: the file, 1: the collector).
 */
static json_object *post_file(struct cli *c, const char *what, const char *q, const char *path,
			      int *rc)
{
	struct body file = { 0 };
	json_object *o;
	long status;

	*rc = 2;
	if (validate(path, true) || read_file(path, &file)) {
		free(file.p);
		return NULL;
	}
	status = request(c, q, &file, false);
	free(file.p);
	*rc = 1;
	o = status == 200 && c->http.reply_len ? json_tokener_parse(c->http.reply) : NULL;
	if (!o)
		print_error(c, what, status);
	return o;
}

static int policy_test(struct cli *c, const char *path, const char *since, const char *until,
		       const char *limit)
{
	char q[4096] = "/v1/policy/test";
	json_object *o;
	int rc;

	cli_add_param(q, sizeof(q), "name", path);
	if (cli_add_time(q, sizeof(q), "since", since) ||
	    cli_add_time(q, sizeof(q), "until", until))
		return 2;
	cli_add_param(q, sizeof(q), "limit", limit);
	o = post_file(c, "test", q, path, &rc);
	if (!o)
		return rc;
	if (c->json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		render(o);
	json_object_put(o);
	return 0;
}

/* Appends group=G to the path q; false after a message when G is no group name */
static bool group_query(const char *group, char *q, size_t len)
{
	if (group && !policy_group_valid(group)) {
		fprintf(stderr, "aitrail policy: --group %s: expected 1-64 of A-Z a-z 0-9 . _ -\n",
			group);
		return false;
	}
	cli_add_param(q, len, "group", group);
	return true;
}

static int policy_push(struct cli *c, const char *path, const char *group)
{
	char q[4096] = "/v1/policy";
	json_object *o;
	int rc;

	cli_add_param(q, sizeof(q), "name", path);
	if (!group_query(group, q, sizeof(q)))
		return 2;
	o = post_file(c, "push", q, path, &rc);
	if (!o)
		return rc;
	if (c->json)
		printf("%s\n", json_object_to_json_string(o));
	else
		printf("pushed %s for %s%s: %" PRId64 " rules, etag %s; agents pick it up on their "
		       "next poll\n", path, group ? "host group " : "", group ? group : "the fleet",
		       jnum(o, "rules"), jstr(o, "etag"));
	json_object_put(o);
	return 0;
}

static int policy_show(struct cli *c, const char *group)
{
	char q[128] = "/v1/policy";
	const char *served, *etag;
	long status;

	if (!group_query(group, q, sizeof(q)))
		return 2;
	status = request(c, q, NULL, false);
	if (status != 200) {
		print_error(c, "show", status);
		return 1;
	}
	served = http_header(&c->http, "X-Aitrail-Policy-Group");
	etag = http_header(&c->http, "ETag");
	if (!served)
		served = "?";
	if (!etag)
		etag = "";
	if (group && strcmp(served, group))
		fprintf(stderr, "# host group %s has no policy of its own: its agents get the %s "
			"policy, etag %s\n", group, served, etag);
	else
		fprintf(stderr, "# current policy of %s%s, etag %s\n",
			strcmp(served, "fleet") ? "host group " : "the ", served, etag);
	fwrite(c->http.reply ? c->http.reply : "", 1, c->http.reply_len, stdout);
	return 0;
}

static int policy_rm(struct cli *c, const char *group)
{
	char q[128] = "/v1/policy";
	long status;

	if (!group) {
		fprintf(stderr, "aitrail policy rm: expected --group G (the fleet policy can only be "
			"replaced, with push)\n");
		return 2;
	}
	if (!group_query(group, q, sizeof(q)))
		return 2;
	status = request(c, q, NULL, true);
	if (status != 200) {
		print_error(c, "rm", status);
		return 1;
	}
	if (c->json)
		printf("%s", c->http.reply_len ? c->http.reply : "{}\n");
	else
		printf("host group %s follows the fleet policy again; its agents pick it up on "
		       "their next poll\n", group);
	return 0;
}

int cmd_policy(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "limit", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *since = NULL, *until = NULL, *limit = NULL, *group = NULL;
	uint64_t n;
	int ch;

	optind = 0; /* 0, not 1: glibc re-reads the ordering mode (main parsed with '+') */
	while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		switch (ch) {
		case 's': since = optarg; break;
		case 'u': until = optarg; break;
		case 'l': limit = optarg; break;
		case 'g': group = optarg; break;
		case 'j': c->json = true; break;
		default:
			fprintf(stderr, "aitrail: see aitrail --help\n");
			return 2;
		}
	}
	if (limit && parse_u64(limit, 1, 100000, &n)) {
		fprintf(stderr, "aitrail policy test: --limit %s: expected 1 to 100000\n", limit);
		return 2;
	}
	if (optind + 1 == argc && !strcmp(argv[optind], "show"))
		return policy_show(c, group);
	if (optind + 1 == argc && !strcmp(argv[optind], "rm"))
		return policy_rm(c, group);
	if (optind + 2 != argc || (strcmp(argv[optind], "check") && strcmp(argv[optind], "test") &&
				   strcmp(argv[optind], "push"))) {
		fprintf(stderr, "aitrail policy: expected check FILE, test FILE [--since T], "
			"push FILE [--group G], show [--group G] or rm --group G\n");
		return 2;
	}
	if (group && strcmp(argv[optind], "push")) {
		fprintf(stderr, "aitrail policy %s: --group applies to push, show and rm\n",
			argv[optind]);
		return 2;
	}
	if (!strcmp(argv[optind], "check"))
		return validate(argv[optind + 1], false) ? 2 : 0;
	if (!strcmp(argv[optind], "push"))
		return policy_push(c, argv[optind + 1], group);
	return policy_test(c, argv[optind + 1], since, until, limit);
}
