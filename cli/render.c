// SPDX-License-Identifier: Apache-2.0
/*
 * Human output of the aitrail CLI: aligned tables, and the timeline as a process tree where
 * each process's own events and its children's subtrees are interleaved in time order.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define DETAIL_MAX 200

static const char *str(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v && !json_object_is_type(v, json_type_null) ? json_object_get_string(v) : "";
}

static int64_t num(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v ? json_object_get_int64(v) : 0;
}

static bool has(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v && !json_object_is_type(v, json_type_null);
}

static json_object *arr(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v && json_object_is_type(v, json_type_array) ? v : NULL;
}

static size_t alen(json_object *a)
{
	return a ? json_object_array_length(a) : 0;
}

/* "2026-11-28 14:03:07" in UTC; with_ms adds ".123". */
static const char *when(int64_t ns, bool with_ms, char *buf, size_t len)
{
	time_t s = ns / 1000000000LL;
	struct tm tm;
	size_t n;

	if (ns <= 0)
		return "-";
	gmtime_r(&s, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (with_ms && n + 5 <= len)
		snprintf(buf + n, len - n, ".%03d", (int)(ns / 1000000LL % 1000));
	return buf;
}

static const char *duration(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000LL;

	if (ns < 0)
		return "-";
	if (s < 60)
		snprintf(buf, len, "%" PRId64 ".%01" PRId64 "s", s, (int64_t)(ns / 100000000LL % 10));
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
	return buf;
}

void render_sessions(FILE *f, json_object *o)
{
	json_object *a = arr(o, "sessions");
	char t[32], d[32], status[48];

	if (!alen(a)) {
		fprintf(f, "no sessions match\n");
		return;
	}
	fprintf(f, "%-19s  %-36s  %-8s  %-16s  %-10s  %9s  %7s  %s\n", "START (UTC)", "SESSION",
		"TOOL", "HOST", "USER", "DURATION", "EVENTS", "STATUS");
	for (size_t i = 0; i < alen(a); i++) {
		json_object *s = json_object_array_get_idx(a, i);
		bool ended = has(s, "end_ns");
		int64_t end = ended ? num(s, "end_ns") : num(s, "last_ns");

		if (!ended)
			snprintf(status, sizeof(status), "running");
		else if (*str(s, "signal"))
			snprintf(status, sizeof(status), "killed by %s", str(s, "signal"));
		else
			snprintf(status, sizeof(status), "exit %" PRId64, num(s, "exit_code"));
		fprintf(f, "%-19s  %-36s  %-8s  %-16s  %-10s  %9s  %7" PRId64 "  %s\n",
			when(num(s, "start_ns"), false, t, sizeof(t)), str(s, "id"), str(s, "tool"),
			str(s, "host"), str(s, "user"),
			duration(end - num(s, "start_ns"), d, sizeof(d)), num(s, "events"), status);
	}
	fprintf(f, "%zu session%s\n", alen(a), alen(a) == 1 ? "" : "s");
}

void render_events(FILE *f, json_object *o)
{
	json_object *a = arr(o, "events");
	char t[40];

	if (!alen(a)) {
		fprintf(f, "no events match in session %s\n", str(o, "session_id"));
		return;
	}
	fprintf(f, "%-23s  %8s  %-14s  %7s  %-15s  %s\n", "TIME (UTC)", "SEQ", "TYPE", "PID",
		"COMM", "DETAIL");
	for (size_t i = 0; i < alen(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);

		fprintf(f, "%-23s  %8" PRId64 "  %-14s  %7" PRId64 "  %-15s  %s\n",
			when(num(e, "ts_ns"), true, t, sizeof(t)), num(e, "seq"), str(e, "type"),
			num(e, "pid"), str(e, "comm"), str(e, "detail"));
	}
	fprintf(f, "%zu event%s\n", alen(a), alen(a) == 1 ? "" : "s");
}

static void tl_proc(FILE *f, json_object *p, const char *indent)
{
	json_object *act = arr(p, "activity"), *kids = arr(p, "children");
	size_t ai = 0, ki = 0, na = alen(act), nk = alen(kids);
	char t[40], sub[256];

	fprintf(f, "%s[%" PRId64 "] %s  %s  (%s)\n", indent, num(p, "pid"), str(p, "comm"),
		str(p, "exe"), str(p, "user"));
	snprintf(sub, sizeof(sub), "%s    ", indent);
	/* merge the process's events with its children, each child placed at its first event */
	while (ai < na || ki < nk) {
		json_object *e = ai < na ? json_object_array_get_idx(act, ai) : NULL;
		json_object *k = ki < nk ? json_object_array_get_idx(kids, ki) : NULL;

		if (e && (!k || num(e, "ts_ns") <= num(k, "first_ns"))) {
			const char *d = str(e, "detail");

			/* a tree is read by eye: long argv lists are cut, --json has them whole */
			fprintf(f, "%s%s  %-13s %.*s%s\n", sub,
				when(num(e, "ts_ns"), true, t, sizeof(t)), str(e, "type"), DETAIL_MAX,
				d, strlen(d) > DETAIL_MAX ? "..." : "");
			ai++;
		} else {
			tl_proc(f, k, sub);
			ki++;
		}
	}
}

void render_timeline(FILE *f, json_object *o)
{
	json_object *a = arr(o, "processes");

	if (!alen(a)) {
		fprintf(f, "no events in session %s\n", str(o, "session_id"));
		return;
	}
	json_object *s = json_object_object_get(o, "session");
	char t[32], d[32];

	fprintf(f, "session %s (times UTC)\n", str(o, "session_id"));
	if (s && json_object_is_type(s, json_type_object)) {
		fprintf(f, "  %s on %s as %s, started %s", str(s, "tool"), str(s, "host"),
			str(s, "user"), when(num(s, "start_ns"), false, t, sizeof(t)));
		if (!has(s, "end_ns"))
			fprintf(f, ", still running\n");
		else if (*str(s, "signal"))
			fprintf(f, ", killed by %s after %s\n", str(s, "signal"),
				duration(num(s, "end_ns") - num(s, "start_ns"), d, sizeof(d)));
		else
			fprintf(f, ", exit %" PRId64 " after %s\n", num(s, "exit_code"),
				duration(num(s, "end_ns") - num(s, "start_ns"), d, sizeof(d)));
		if (*str(s, "cwd"))
			fprintf(f, "  in %s\n", str(s, "cwd"));
	}
	for (size_t i = 0; i < alen(a); i++)
		tl_proc(f, json_object_array_get_idx(a, i), "");
	if (json_object_get_boolean(json_object_object_get(o, "truncated")))
		fprintf(f, "(stopped after the first %" PRId64 " events; see aitrail events "
			"--session %s --since TIME for the rest)\n", num(o, "events"),
			str(o, "session_id"));
}

static void ranges(json_object *a, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!alen(a)) {
		snprintf(buf, len, "-");
		return;
	}
	for (size_t i = 0; i < alen(a) && off < len; i++) {
		json_object *r = json_object_array_get_idx(a, i);
		int64_t from = num(r, "from_seq"), to = num(r, "to_seq");

		if (from == to)
			off += snprintf(buf + off, len - off, "%s%" PRId64, i ? "," : "", from);
		else
			off += snprintf(buf + off, len - off, "%s%" PRId64 "-%" PRId64, i ? "," : "",
					from, to);
	}
}

void render_agents(FILE *f, json_object *o)
{
	json_object *a = arr(o, "agents");
	char t[32], miss[64];

	if (!alen(a)) {
		fprintf(f, "no agents enrolled\n");
		return;
	}
	fprintf(f, "%-19s  %-16s  %-19s  %-7s  %8s  %-12s  %9s  %6s\n", "AGENT", "HOST",
		"LAST SEEN (UTC)", "STATUS", "BATCHES", "MISSING", "LOST EVTS", "BREAKS");
	for (size_t i = 0; i < alen(a); i++) {
		json_object *g = json_object_array_get_idx(a, i);
		const char *status = has(g, "revoked_ns") ? "revoked" :
				     json_object_get_boolean(json_object_object_get(g, "silent")) ?
				     "SILENT" : "ok";

		ranges(arr(g, "batches_missing"), miss, sizeof(miss));
		fprintf(f, "%-19s  %-16s  %-19s  %-7s  %8" PRId64 "  %-12s  %9" PRId64 "  %6zu\n",
			str(g, "id"), str(g, "host"), when(num(g, "last_seen_ns"), false, t, sizeof(t)),
			status, num(g, "batches_received"), miss, num(g, "events_declared_lost"),
			alen(arr(g, "chain_breaks")));
	}
	/* what needs a closer look, agent by agent */
	for (size_t i = 0; i < alen(a); i++) {
		json_object *g = json_object_array_get_idx(a, i), *br = arr(g, "chain_breaks");
		json_object *lost = json_object_object_get(json_object_object_get(g, "stats"), "lost");

		for (size_t j = 0; j < alen(br); j++) {
			json_object *b = json_object_array_get_idx(br, j);

			fprintf(f, "%s: hash chain break at batch %" PRId64 ": %s\n", str(g, "id"),
				num(b, "seq"), str(b, "kind"));
		}
		if (has(g, "batches_pending"))
			fprintf(f, "%s: batches %" PRId64 "-%" PRId64 " cut by the agent, not received "
				"yet\n", str(g, "id"),
				num(json_object_object_get(g, "batches_pending"), "from_seq"),
				num(json_object_object_get(g, "batches_pending"), "to_seq"));
		if (lost && json_object_is_type(lost, json_type_object)) {
			json_object_object_foreach(lost, k, v) {
				if (json_object_get_int64(v))
					fprintf(f, "%s: loss counter %s = %" PRId64 "\n", str(g, "id"), k,
						json_object_get_int64(v));
			}
		}
	}
}

static void stats_block(FILE *f, json_object *o, const char *indent)
{
	json_object *rej = json_object_object_get(o, "rejects");
	int64_t total = 0;

	json_object_object_foreach(o, k, v) {
		if (json_object_is_type(v, json_type_int))
			fprintf(f, "%s%-22s %12" PRId64 "\n", indent, k, json_object_get_int64(v));
	}
	if (rej && json_object_is_type(rej, json_type_object)) {
		json_object_object_foreach(rej, k2, v2) {
			(void)k2;
			total += json_object_get_int64(v2);
		}
		fprintf(f, "%s%-22s %12" PRId64 "\n", indent, "rejected", total);
		json_object_object_foreach(rej, k3, v3) {
			if (json_object_get_int64(v3))
				fprintf(f, "%s  %-20s %12" PRId64 "\n", indent, k3,
					json_object_get_int64(v3));
		}
	}
}

void render_stats(FILE *f, json_object *o)
{
	json_object *api = json_object_object_get(o, "api");

	stats_block(f, o, "");
	/* the query API on its own listener (--admin-listen) counts apart */
	if (api && json_object_is_type(api, json_type_object)) {
		fprintf(f, "query API listener:\n");
		stats_block(f, api, "  ");
	}
}

/* "1.2 MB" style, for byte counts people read */
static const char *human(int64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u)
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	else
		snprintf(buf, len, "%" PRId64 " B", n);
	return buf;
}

static void counts_line(FILE *f, const char *label, json_object *o)
{
	bool first = true;

	fprintf(f, "  %-8s", label);
	if (o && json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			fprintf(f, "%s%s %" PRId64, first ? "" : ", ", k, json_object_get_int64(v));
			first = false;
		}
	}
	fprintf(f, "%s\n", first ? "-" : "");
}

void render_report(FILE *f, json_object *o)
{
	json_object *s = json_object_object_get(o, "sessions"), *d = arr(o, "destinations");
	json_object *r = arr(o, "sensitive_reads"), *p = arr(o, "policy");
	json_object *w = json_object_object_get(o, "files_written");
	char t1[32], t2[32], b1[24], b2[24];

	fprintf(f, "aitrail report, %s to %s (UTC)\n\n",
		num(o, "since_ns") ? when(num(o, "since_ns"), false, t1, sizeof(t1)) : "the start",
		num(o, "until_ns") ? when(num(o, "until_ns"), false, t2, sizeof(t2)) : "now");
	fprintf(f, "Sessions: %" PRId64 "\n", num(s, "total"));
	counts_line(f, "by tool", json_object_object_get(s, "by_tool"));
	counts_line(f, "by user", json_object_object_get(s, "by_user"));
	counts_line(f, "by host", json_object_object_get(s, "by_host"));

	fprintf(f, "\nDestinations (TCP connections of sessions, bytes from the kernel's counters):\n");
	if (!alen(d))
		fprintf(f, "  none\n");
	else
		fprintf(f, "  %-40s  %-16s  %-12s  %5s  %10s  %10s\n", "NAME", "CLASS", "VENDOR",
			"CONNS", "SENT", "RECEIVED");
	for (size_t i = 0; i < alen(d); i++) {
		json_object *e = json_object_array_get_idx(d, i);

		fprintf(f, "  %-40s  %-16s  %-12s  %5" PRId64 "  %10s  %10s\n", str(e, "name"),
			*str(e, "class") ? str(e, "class") : "-",
			*str(e, "vendor") ? str(e, "vendor") : "-", num(e, "connections"),
			human(num(e, "bytes_sent"), b1, sizeof(b1)),
			human(num(e, "bytes_received"), b2, sizeof(b2)));
	}

	fprintf(f, "\nSensitive reads:\n");
	if (!alen(r))
		fprintf(f, "  none\n");
	for (size_t i = 0; i < alen(r); i++) {
		json_object *e = json_object_array_get_idx(r, i);

		fprintf(f, "  %-40s  %6" PRId64 " reads in %" PRId64 " sessions\n",
			str(e, "pattern"), num(e, "reads"), num(e, "sessions"));
	}

	fprintf(f, "\nFiles written: %" PRId64 " writes to %" PRId64 " paths by %" PRId64
		" sessions, %s\n", num(w, "writes"), num(w, "paths"), num(w, "sessions"),
		human(num(w, "bytes_written"), b1, sizeof(b1)));

	fprintf(f, "\nPolicy decisions:\n");
	if (!alen(p))
		fprintf(f, "  none\n");
	for (size_t i = 0; i < alen(p); i++) {
		json_object *e = json_object_array_get_idx(p, i);

		fprintf(f, "  %-32s  %-6s  %-9s  %6" PRId64 "\n", str(e, "rule_id"),
			str(e, "action"), str(e, "outcome"), num(e, "decisions"));
	}
	if (num(o, "undecodable"))
		fprintf(f, "\n%" PRId64 " stored events could not be decoded and are not counted\n",
			num(o, "undecodable"));
}
