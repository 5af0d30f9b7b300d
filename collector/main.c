// SPDX-License-Identifier: Apache-2.0
/* aitrail-collector: receives agents' batches over HTTP(S), stores them, answers queries. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/coll_config.h"
#include "common/log.h"
#include "collector/server.h"
#include "collector/store.h"
#include "common/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: aitrail-collector [OPTIONS]\n"
		"\n"
		"  -c, --config FILE            YAML config (keys as the long options, '-' -> '_')\n"
		"  -l, --listen ADDR:PORT       listen address (default 127.0.0.1:8443; :PORT = all)\n"
		"      --admin-listen ADDR:PORT the query API on its own address (default: --listen)\n"
		"  -d, --db SPEC                SQLite file (default /var/lib/aitrail/collector.db)\n"
		"                               or postgres://USER@HOST/DB (libpq URI)\n"
		"      --tls-cert FILE          server certificate (PEM); enables HTTPS\n"
		"      --tls-key FILE           server key (PEM)\n"
		"      --tls-client-ca FILE     CA that signs agent client certificates (mTLS)\n"
		"      --enroll-token TOKEN     token agents enroll with\n"
		"      --enroll-token-file FILE ... read from the first line of FILE\n"
		"      --admin-token TOKEN      token of the query API (aitrail CLI)\n"
		"      --admin-token-file FILE  ... read from the first line of FILE\n"
		"      --heartbeat-s N          heartbeat interval assumed for agents (default 30)\n"
		"      --silent-after N         intervals without news before an agent is silent (3)\n"
		"      --max-body-bytes N       cap of a compressed request body (default 8 MiB)\n"
		"      --max-inflated-bytes N   cap of an inflated request body (default 64 MiB)\n"
		"      --max-batch-events N     events per batch (default 100000)\n"
		"      --max-buffered-bytes N   request bodies in memory, all connections (256 MiB)\n"
		"      --retention-days N       delete events older than N days (default 0: keep all)\n"
		"      --durable 0|1            1: fsync each batch before acknowledging it, so a power\n"
		"                               loss cannot take acknowledged events (default 0)\n"
		"  -v, --verbose                debug logging\n"
		"  -h, --help\n");
}

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "admin-listen", required_argument, NULL, 1 },
	{ "db", required_argument, NULL, 'd' },
	{ "tls-cert", required_argument, NULL, 1 },
	{ "tls-key", required_argument, NULL, 1 },
	{ "tls-client-ca", required_argument, NULL, 1 },
	{ "enroll-token", required_argument, NULL, 1 },
	{ "enroll-token-file", required_argument, NULL, 1 },
	{ "admin-token", required_argument, NULL, 1 },
	{ "admin-token-file", required_argument, NULL, 1 },
	{ "heartbeat-s", required_argument, NULL, 1 },
	{ "silent-after", required_argument, NULL, 1 },
	{ "max-body-bytes", required_argument, NULL, 1 },
	{ "max-inflated-bytes", required_argument, NULL, 1 },
	{ "max-batch-events", required_argument, NULL, 1 },
	{ "max-buffered-bytes", required_argument, NULL, 1 },
	{ "retention-days", required_argument, NULL, 1 },
	{ "durable", required_argument, NULL, 1 },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Applies one flag through the config table, so flags and YAML keys cannot drift apart. */
static int apply_flag(struct collector_opts *o, const char *name, const char *val)
{
	char key[64], where[80];
	int err;

	snprintf(key, sizeof(key), "%s", name);
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
	snprintf(where, sizeof(where), "--%s", name);
	err = collector_config_set(o, key, val, where);
	if (err == -ENOENT)
		log_error("%s: not a collector option", where);
	return err;
}

/* Silent agents seen at the last check, so each change is logged once. */
struct silence {
	char (*ids)[64];
	size_t n;
};

static bool was_silent(const struct silence *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->ids[i], id))
			return true;
	return false;
}

/*
 * Logs agents that fell silent or came back. Runs on the main thread with its own database
 * connection (WAL lets it read while the server thread writes).
 */
static void check_silence(struct store *st, const struct collector_opts *o, struct silence *prev)
{
	struct silence now = { 0 };
	json_object *res, *arr;
	size_t n;

	if (store_query_agents(st, now_realtime_ns(), o->silent_after, o->heartbeat_s, &res))
		return;
	arr = json_object_object_get(res, "agents");
	n = json_object_array_length(arr);
	now.ids = calloc(n + 1, sizeof(*now.ids));
	for (size_t i = 0; now.ids && i < n; i++) {
		json_object *a = json_object_array_get_idx(arr, i);
		const char *id = json_object_get_string(json_object_object_get(a, "id"));
		const char *host = json_object_get_string(json_object_object_get(a, "host"));
		bool silent = json_object_get_boolean(json_object_object_get(a, "silent"));

		if (silent) {
			snprintf(now.ids[now.n++], sizeof(now.ids[0]), "%s", id);
			if (!was_silent(prev, id))
				log_warn("agent %s (host %s) is silent: no heartbeat or batch for %u "
					 "intervals; last seen %s", id, host, o->silent_after,
					 json_object_get_string(json_object_object_get(a, "last_seen")));
		} else if (was_silent(prev, id)) {
			log_info("agent %s (host %s) is back", id, host);
		}
	}
	json_object_put(res);
	free(prev->ids);
	*prev = now;
}

/* Deletes what is past retention, in chunks, at most a bounded amount per tick. */
static void prune(struct store *st, const struct collector_opts *o)
{
	uint64_t before, n, total = 0;

	if (!o->retention_days)
		return;
	before = now_realtime_ns() - (uint64_t)o->retention_days * 86400ULL * 1000000000ULL;
	for (int i = 0; i < 100; i++) {
		if (store_prune(st, before, 10000, &n))
			return;
		total += n;
		if (n < 10000)
			break;
	}
	if (total)
		log_info("retention: deleted %llu events older than %u days",
			 (unsigned long long)total, o->retention_days);
}

int main(int argc, char **argv)
{
	struct collector_opts o;
	struct store *st = NULL, *watch = NULL, *st_admin = NULL;
	struct server *admin = NULL;
	struct silence silent = { 0 };
	struct timespec tick;
	struct server *srv = NULL;
	const char *config = NULL;
	char where[512];
	sigset_t set;
	int c, idx, sig, err;

	log_init("aitrail-collector", LOG_LVL_INFO);
	collector_opts_defaults(&o);
	/* the config file first, whatever its place, so that flags override it */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:l:d:vh", long_opts, &idx)) != -1)
		if (c == 'c')
			config = optarg;
	if (config && collector_config_load(&o, config))
		return 2;
	opterr = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:l:d:vh", long_opts, &idx)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'l':
			if (apply_flag(&o, "listen", optarg))
				return 2;
			break;
		case 'd':
			if (apply_flag(&o, "db", optarg))
				return 2;
			break;
		case 1:
			if (apply_flag(&o, long_opts[idx].name, optarg))
				return 2;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	if (o.verbose)
		log_init("aitrail-collector", LOG_LVL_DEBUG);
	if (collector_config_check(&o))
		return 2;

	/* block the signals before MHD starts its thread, so that only sigwait sees them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = store_open(o.db, &st);
	if (err)
		goto cleanup;
	if (o.durable && (err = store_set_durable(st, 1)))
		goto cleanup;
	err = server_start(st, &o, &srv);
	if (err)
		goto cleanup;
	if (o.admin_listen[0]) {
		err = store_open(o.db, &st_admin);
		if (!err)
			err = server_start_admin(st_admin, &o, srv, &admin);
		if (err)
			goto cleanup;
	}
	store_spec_redact(o.db, where, sizeof(where));
	log_info("collector ready (database %s)", where);
	if (store_open(o.db, &watch))
		log_warn("failed to open a second database connection: silent agents are not logged");
	tick.tv_sec = o.heartbeat_s;
	tick.tv_nsec = 0;
	while ((sig = sigtimedwait(&set, NULL, &tick)) < 0) {
		if (errno == EAGAIN && watch) {
			check_silence(watch, &o, &silent);
			prune(watch, &o);
		}
		else if (errno != EINTR && errno != EAGAIN)
			break;
	}
	log_info("stopping on %s", sig > 0 ? strsignal(sig) : "error");
cleanup:
	server_stop(admin);
	server_stop(srv);
	store_close(st_admin);
	store_close(watch);
	store_close(st);
	free(silent.ids);
	return err ? 1 : 0;
}
