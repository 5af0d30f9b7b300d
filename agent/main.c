// SPDX-License-Identifier: Apache-2.0
/* aitrail-agent: watches AI coding agents from the kernel and reports what their sessions do. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/loader.h"
#include "agent/loop.h"
#include "agent/module.h"
#include "agent/procscan.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "agent/ship_agent.h"
#include "agent/stats.h"
#include "agent/vendor.h"
#include "common/log.h"
#include "common/pbjson.h"
#include "common/util.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
		"usage: aitrail-agent [--config FILE] [--output json|none] [--verbose] [--help] "
		"[--version]\n"
		"\n"
		"Tracks AI coding agent sessions (Claude Code, Codex CLI, ...) from the kernel and\n"
		"reports the commands, connections and file changes of every session process.\n"
		"\n"
		"  -c, --config FILE    YAML configuration (default: built-in signatures, no shipping)\n"
		"  -o, --output MODE    json: one event per line on stdout (default); none: no output\n"
		"  -v, --verbose        debug logging, including libbpf and the verifier\n"
		"  -h, --help           this help\n"
		"  -V, --version        print the version\n"
		"\n"
		"Runs as root on Linux 5.8+ with BTF. SIGINT/SIGTERM: drain, final stats, exit 0.\n");
}

static int json_sink(struct agent *a, const at_event *ev, void *arg)
{
	int err = pbjson_write_line(a->json_out, &ev->base);

	/* the loop's fflush may have failed (reader gone): retry it once to learn why */
	if (!err && ferror(a->json_out)) {
		clearerr(a->json_out);
		if (fflush(a->json_out))
			err = -EIO;
	}
	if (err == -EIO) {
		log_error("failed to write events to stdout: %s; JSON output stopped",
			  strerror(errno));
		a->cfg->output = OUTPUT_NONE;
		/* only this sink goes: the spool must keep receiving events */
		agent_remove_sink(a, json_sink);
	}
	return err;
}

static void on_stats_timer(struct agent *a, void *arg)
{
	uint64_t now = now_boottime_ns();

	/* first drain what is queued: a root's exit may be waiting there */
	if (a->rb)
		ring_buffer__consume(a->rb);
	sessions_reap(a, now);
	proctable_reap(a, now);
	sessions_flush_ended(a);
	stats_emit(a, false);
	/* exited processes stay a minute for records still in the other lane */
	proctable_expire(a, now, 60ULL * 1000000000ULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct agent_config cfg;
	const char *config_path = NULL, *output = NULL;
	struct agent a = {};
	int verbose = 0, opt, err, ret = 1;

	log_init("aitrail-agent", LOG_LVL_INFO);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:o:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("aitrail-agent %s\n", AGENT_VERSION);
			return 0;
		case ':':
			log_error("option %s needs a value (see --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			log_error("unknown option %s (see --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_USAGE;
	}

	config_defaults(&cfg);
	if (config_path && config_load(&cfg, config_path))
		return EXIT_USAGE; /* config_load said FILE:LINE and what */
	if (vendor_setup(&cfg))
		return EXIT_USAGE; /* the vendor file said FILE:LINE and what */
	if (output) {
		if (!strcmp(output, "json")) {
			cfg.output = OUTPUT_JSON;
		} else if (!strcmp(output, "none")) {
			cfg.output = OUTPUT_NONE;
		} else {
			log_error("invalid --output value '%s': expected json or none", output);
			return EXIT_USAGE;
		}
	}
	if (verbose)
		cfg.verbose = 1;
	if (cfg.verbose)
		log_init("aitrail-agent", LOG_LVL_DEBUG);

	if (loader_probe())
		return 1;
	/* loading takes seconds: a SIGTERM meanwhile waits for the loop and ends it cleanly */
	{
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGHUP);
		sigprocmask(SIG_BLOCK, &mask, NULL);
	}

	agent_init(&a, &cfg);
	signal(SIGPIPE, SIG_IGN);
	if (cfg.output == OUTPUT_JSON)
		agent_add_sink(&a, json_sink, NULL);
	/* with a collector configured: the spool sink; the event seq continues from the spool */
	if (agent_ship_start(&a))
		goto cleanup;

	err = loader_start(&a);
	if (err)
		goto cleanup;
	if (loop_add_timer(&a, cfg.stats_interval_s * 1000, on_stats_timer, NULL) < 0)
		goto cleanup;
	if (modules_start(&a))
		goto cleanup;
	/* processes that forked between the first scan and attach */
	procscan_run(&a);
	log_info("ready: tracking %zu sessions, %zu processes (output %s)", sessions_active(&a),
		 proctable_count(&a), cfg.output == OUTPUT_JSON ? "json" : "none");
	if (a.json_out)
		fflush(a.json_out);

	err = loop_run(&a);
	loader_drain(&a);
	modules_sweep(&a); /* what the modules still hold: emitted, not dropped */
	sessions_flush_ended(&a);
	stats_emit(&a, true);
	if (a.json_out)
		fflush(a.json_out);
	ret = err ? 1 : 0;
cleanup:
	modules_stop(&a);
	agent_ship_stop(&a); /* after the final events: ships what it can, the spool keeps the rest */
	loader_stop(&a);
	agent_free(&a);
	return ret;
}
