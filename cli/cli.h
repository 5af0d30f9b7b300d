/* SPDX-License-Identifier: Apache-2.0 */
/* aitrail CLI internals: requests to the collector (main.c) and the renderers (render.c). */
#ifndef AITRAIL_CLI_H
#define AITRAIL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "common/http_client.h"

struct cli {
	const char *server, *token, *ca;
	bool json;
	struct http_client http;
};

/* GET path from the collector: the parsed answer, or NULL after an error message. */
json_object *cli_get(struct cli *c, const char *path);
/* r with the admin token: the HTTP status, or 0 after saying the collector was unreachable. */
long cli_request(struct cli *c, struct http_request *r);
/* Appends &name=value (?name=value first), escaped, to the path q; nothing when val is NULL. */
void cli_add_param(char *q, size_t len, const char *name, const char *val);
/* The same for a TIME flag, sent as Unix ns; -EINVAL after a message naming the flag. */
int cli_add_time(char *q, size_t len, const char *flag, const char *val);

/* aitrail provenance PATH... | --git REPO (cli/provenance.c) */
int cmd_provenance(struct cli *c, int argc, char **argv);

/* aitrail policy check|test (cli/policy.c) */
int cmd_policy(struct cli *c, int argc, char **argv);

/* Tables for people; each takes the query API's answer. */
void render_sessions(FILE *f, json_object *o);
void render_events(FILE *f, json_object *o);
void render_timeline(FILE *f, json_object *o);
void render_agents(FILE *f, json_object *o);
void render_report(FILE *f, json_object *o);
/* Request counters of the collector since it started, rejects by reason. */
void render_stats(FILE *f, json_object *o);

#endif
