/* SPDX-License-Identifier: Apache-2.0 */
/* aitrail CLI internals: the HTTP client (main.c) and the renderers (render.c). */
#ifndef AITRAIL_CLI_H
#define AITRAIL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <curl/curl.h>
#include <json-c/json.h>

struct cli {
	const char *server, *token, *ca;
	bool json;
	CURL *curl;
};

/* GET path from the collector: the parsed answer, or NULL after an error message. */
json_object *cli_get(struct cli *c, const char *path);

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
