// SPDX-License-Identifier: Apache-2.0
/* aitrail: the command line of the collector's query API. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/timeparse.h"
#include "common/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: aitrail [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  sessions [--host H] [--user U] [--tool T] [--agent ID] [--since TIME] [--until TIME]\n"
		"           [--limit N]\n"
		"  events --session ID [--type T] [--since TIME] [--until TIME] [--limit N]\n"
		"           T: exec, exit, net_connect, file (every file_*), file_write, ...\n"
		"  timeline --session ID\n"
		"  agents\n"
		"  agents revoke ID\n"
		"  stats          the collector's request and reject counters since it started\n"
		"  policy check FILE\n"
		"  policy test FILE [--since TIME] [--until TIME] [--limit N]\n"
		"  policy push FILE [--group G]    for the fleet, or agents with policy.host_group G\n"
		"  policy show [--group G]\n"
		"  policy rm --group G             the group follows the fleet policy again\n"
		"  report [--since TIME] [--until TIME]   for compliance: sessions by tool, user and\n"
		"                 host; destinations and bytes sent; sensitive reads; files written;\n"
		"                 policy decisions\n"
		"  provenance [--json] PATH...   which files hold content an AI session wrote\n"
		"  provenance [--json] --git REPO   the same for every tracked file of a repository;\n"
		"                 exit 0: none, 1: some found, 2: could not tell\n"
		"\n"
		"Global options:\n"
		"  --server URL   collector (default $AITRAIL_SERVER or http://127.0.0.1:8443)\n"
		"  --token T      admin token (default $AITRAIL_TOKEN)\n"
		"  --ca FILE      CA certificate to verify an https collector ($AITRAIL_CA)\n"
		"  --json         JSON output for scripts\n"
		"\n"
		"TIME is RFC 3339 (2026-11-28T14:03:00Z), a UTC date or time (2026-11-28, \"2026-11-28\n"
		"14:03\", 14:03), or an age: 90s, 15m, 2h, 7d, 1w.\n");
}

long cli_request(struct cli *c, struct http_request *r)
{
	long status;

	r->bearer = c->token;
	status = http_perform(&c->http, r);
	if (!status) {
		fprintf(stderr, "aitrail: failed to reach the collector at %s: %s\n", c->server,
			http_reason(&c->http));
		if (http_cert_refused(&c->http))
			fprintf(stderr, "aitrail: pass the CA that signed the collector's certificate "
				"with --ca FILE or AITRAIL_CA\n");
	}
	return status;
}

/* GET (post=false) or POST path; returns the parsed JSON answer, or NULL after an error line. */
static json_object *call(struct cli *c, const char *path, bool post)
{
	struct http_request r = { .path = path, .body = post ? "" : NULL };
	long status = cli_request(c, &r);
	json_object *o, *msg;

	if (!status)
		return NULL;
	o = c->http.reply_len ? json_tokener_parse(c->http.reply) : NULL;
	if (status == 200 && o)
		return o;
	msg = o ? json_object_object_get(o, "error") : NULL;
	if (status == 401)
		fprintf(stderr, "aitrail: the collector refused the token (401): %s\n"
			"aitrail: pass the admin token with --token or AITRAIL_TOKEN\n",
			msg ? json_object_get_string(msg) : "unauthorized");
	else if (msg)
		fprintf(stderr, "aitrail: %s (HTTP %ld)\n", json_object_get_string(msg), status);
	else
		fprintf(stderr, "aitrail: unexpected answer from %s%s: HTTP %ld%s\n", c->server, path,
			status, o ? "" : ", not JSON (is this an aitrail collector?)");
	json_object_put(o);
	return NULL;
}

json_object *cli_get(struct cli *c, const char *path)
{
	return call(c, path, false);
}

void cli_add_param(char *q, size_t len, const char *name, const char *val)
{
	char *e;

	if (!val)
		return;
	e = http_escape(val);
	snprintf(q + strlen(q), len - strlen(q), "%c%s=%s", strchr(q, '?') ? '&' : '?', name,
		 e ? e : "");
	curl_free(e);
}

/* Validates a TIME flag here, so the error names the flag; sends Unix ns. */
int cli_add_time(char *q, size_t len, const char *flag, const char *val)
{
	uint64_t ns;
	char b[32];

	if (!val)
		return 0;
	if (parse_time_arg(val, now_realtime_ns(), &ns)) {
		fprintf(stderr, "aitrail: --%s %s: expected RFC 3339 (2026-11-28T14:03:00Z), a UTC "
			"date or time (2026-11-28, 14:03), or an age like 90s, 15m, 2h, 7d, 1w\n",
			flag, val);
		return -EINVAL;
	}
	snprintf(b, sizeof(b), "%" PRIu64, ns);
	cli_add_param(q, len, flag, b);
	return 0;
}

/* Tells people (on stderr, so --json stays clean) when a list stopped at its limit. */
static void note_limit(json_object *o, const char *key, const char *limit, unsigned dflt)
{
	json_object *a = o ? json_object_object_get(o, key) : NULL;
	size_t n = a ? json_object_array_length(a) : 0;
	unsigned lim = limit ? (unsigned)strtoul(limit, NULL, 10) : dflt;

	if (n && n >= lim)
		fprintf(stderr, "aitrail: showing the first %zu %s only; narrow with --since/--until "
			"or raise --limit\n", n, key);
}

static int output(struct cli *c, json_object *o, void (*render)(FILE *, json_object *))
{
	if (!o)
		return 1;
	if (c->json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		render(stdout, o);
	json_object_put(o);
	return 0;
}

enum { O_HOST = 1, O_USER, O_TOOL, O_SINCE, O_UNTIL, O_LIMIT, O_SESSION, O_TYPE, O_AGENT };

static const struct option cmd_opts[] = {
	{ "host", required_argument, NULL, O_HOST },
	{ "user", required_argument, NULL, O_USER },
	{ "tool", required_argument, NULL, O_TOOL },
	{ "since", required_argument, NULL, O_SINCE },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "limit", required_argument, NULL, O_LIMIT },
	{ "session", required_argument, NULL, O_SESSION },
	{ "type", required_argument, NULL, O_TYPE },
	{ "agent", required_argument, NULL, O_AGENT },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct cmd_args {
	const char *v[O_AGENT + 1];
};

/*
 * Parses a command's flags; allowed lists the ones it takes, args whether other arguments may
 * follow. The index of the first of those, or -EINVAL after a message.
 */
static int parse_cmd(struct cli *c, const char *cmd, int argc, char **argv, const char *allowed,
		     bool args, struct cmd_args *a)
{
	int ch;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+jh", cmd_opts, NULL)) != -1) {
		if (ch == 'j') {
			c->json = true;
		} else if (ch == 'h') {
			usage(stdout);
			exit(0);
		} else if (ch > 0 && ch <= O_AGENT && strchr(allowed, '0' + ch)) {
			a->v[ch] = optarg;
		} else {
			if (ch > 0 && ch <= O_AGENT)
				fprintf(stderr, "aitrail %s: --%s does not apply here\n", cmd,
					cmd_opts[ch - 1].name);
			fprintf(stderr, "aitrail: see aitrail --help\n");
			return -EINVAL;
		}
	}
	if (a->v[O_LIMIT]) {
		uint64_t n;

		if (parse_u64(a->v[O_LIMIT], 1, 1000000, &n)) {
			fprintf(stderr, "aitrail %s: --limit %s: expected a number from 1 to 1000000\n",
				cmd, a->v[O_LIMIT]);
			return -EINVAL;
		}
	}
	if (!args && optind < argc) {
		fprintf(stderr, "aitrail %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return -EINVAL;
	}
	return optind;
}

/* --since and --until, checked and added to the query q. */
static int add_window(char *q, size_t len, const struct cmd_args *a)
{
	if (cli_add_time(q, len, "since", a->v[O_SINCE]) ||
	    cli_add_time(q, len, "until", a->v[O_UNTIL]))
		return -EINVAL;
	return 0;
}


static int cmd_sessions(struct cli *c, int argc, char **argv)
{
	struct cmd_args a;
	char q[2048] = "/v1/sessions";
	json_object *o;
	int n = parse_cmd(c, "sessions", argc, argv, "1234569", false, &a);

	if (n < 0)
		return 2;
	cli_add_param(q, sizeof(q), "host", a.v[O_HOST]);
	cli_add_param(q, sizeof(q), "user", a.v[O_USER]);
	cli_add_param(q, sizeof(q), "tool", a.v[O_TOOL]);
	cli_add_param(q, sizeof(q), "agent", a.v[O_AGENT]);
	cli_add_param(q, sizeof(q), "limit", a.v[O_LIMIT]);
	if (add_window(q, sizeof(q), &a))
		return 2;
	o = call(c, q, false);
	note_limit(o, "sessions", a.v[O_LIMIT], 1000);
	return output(c, o, render_sessions);
}

static int cmd_report(struct cli *c, int argc, char **argv)
{
	struct cmd_args a;
	char q[512] = "/v1/report";
	int n = parse_cmd(c, "report", argc, argv, "45", false, &a);

	if (n < 0)
		return 2;
	if (add_window(q, sizeof(q), &a))
		return 2;
	return output(c, call(c, q, false), render_report);
}

static int session_path(struct cli *c, const char *cmd, const char *id, const char *what,
			char *q, size_t len)
{
	char *e;

	if (!id) {
		fprintf(stderr, "aitrail %s: --session ID is required (see aitrail sessions)\n", cmd);
		return -EINVAL;
	}
	e = http_escape(id);
	snprintf(q, len, "/v1/sessions/%s/%s", e ? e : "", what);
	curl_free(e);
	return 0;
}

static int cmd_events(struct cli *c, int argc, char **argv)
{
	struct cmd_args a;
	char q[2048];
	json_object *o;
	int n = parse_cmd(c, "events", argc, argv, "45678", false, &a);

	if (n < 0 || session_path(c, "events", a.v[O_SESSION], "events", q, sizeof(q)))
		return 2;
	cli_add_param(q, sizeof(q), "type", a.v[O_TYPE]);
	cli_add_param(q, sizeof(q), "limit", a.v[O_LIMIT]);
	if (add_window(q, sizeof(q), &a))
		return 2;
	o = call(c, q, false);
	note_limit(o, "events", a.v[O_LIMIT], 10000);
	return output(c, o, render_events);
}

static int cmd_timeline(struct cli *c, int argc, char **argv)
{
	struct cmd_args a;
	char q[2048];
	int n = parse_cmd(c, "timeline", argc, argv, "7", false, &a);

	if (n < 0 || session_path(c, "timeline", a.v[O_SESSION], "timeline", q, sizeof(q)))
		return 2;
	return output(c, call(c, q, false), render_timeline);
}

static void print_revoked(FILE *f, json_object *o)
{
	fprintf(f, "revoked agent %s: its key no longer works\n",
		json_object_get_string(json_object_object_get(o, "id")));
}

static int cmd_agents(struct cli *c, int argc, char **argv)
{
	struct cmd_args a;
	char q[512];
	char *e;
	int n = parse_cmd(c, "agents", argc, argv, "", true, &a);

	if (n < 0)
		return 2;
	if (n == argc)
		return output(c, call(c, "/v1/agents", false), render_agents);
	if (strcmp(argv[n], "revoke")) {
		fprintf(stderr, "aitrail agents: unknown subcommand '%s' (did you mean revoke?)\n",
			argv[n]);
		return 2;
	}
	if (n + 2 != argc) {
		fprintf(stderr, "aitrail agents revoke: expected one agent ID (see aitrail agents)\n");
		return 2;
	}
	e = http_escape(argv[n + 1]);
	snprintf(q, sizeof(q), "/v1/agents/%s/revoke", e ? e : "");
	curl_free(e);
	return output(c, call(c, q, true), print_revoked);
}

static int cmd_stats(struct cli *c, int argc, char **argv)
{
	struct cmd_args a;
	int n = parse_cmd(c, "stats", argc, argv, "", false, &a);

	if (n < 0)
		return 2;
	return output(c, call(c, "/v1/stats", false), render_stats);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "token", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name;
		int (*fn)(struct cli *, int, char **);
	} cmds[] = {
		{ "sessions", cmd_sessions },
		{ "events", cmd_events },
		{ "timeline", cmd_timeline },
		{ "agents", cmd_agents },
		{ "stats", cmd_stats },
		{ "policy", cmd_policy },
		{ "provenance", cmd_provenance },
		{ "report", cmd_report },
	};
	struct cli c = { 0 };
	int ch, rc = 2;

	log_init("aitrail", LOG_LVL_WARN);
	c.server = getenv("AITRAIL_SERVER");
	c.token = getenv("AITRAIL_TOKEN");
	c.ca = getenv("AITRAIL_CA");
	while ((ch = getopt_long(argc, argv, "+s:t:c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.server = optarg; break;
		case 't': c.token = optarg; break;
		case 'c': c.ca = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!c.server || !*c.server)
		c.server = "http://127.0.0.1:8443";
	if (!c.token || !*c.token) {
		fprintf(stderr, "aitrail: no admin token: pass --token or set AITRAIL_TOKEN\n");
		return 2;
	}
	if (strncmp(c.server, "http://", 7) && strncmp(c.server, "https://", 8)) {
		fprintf(stderr, "aitrail: --server %s: expected http://HOST:PORT or https://...\n",
			c.server);
		return 2;
	}
	if (http_init(&c.http, &(struct http_opts){ .base_url = c.server,
						    .user_agent = "aitrail",
						    .ca_file = c.ca,
						    .connect_timeout_ms = 10000,
						    .timeout_ms = 120000 }))
		return 1;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[optind], cmds[i].name)) {
			rc = cmds[i].fn(&c, argc - optind, argv + optind);
			goto out;
		}
	}
	fprintf(stderr, "aitrail: unknown command '%s' (see aitrail --help)\n", argv[optind]);
out:
	http_cleanup(&c.http);
	return rc;
}
