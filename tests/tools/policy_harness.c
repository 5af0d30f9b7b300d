// SPDX-License-Identifier: Apache-2.0
/*
 * Test-only loader for the policy programs, so tests/e2e/test_policy.py can exercise the
 * kernel enforcement on processes it names (there is no session detection here: the test
 * says which pids are "tracked"). It loads only the pol_* programs, attaches the cgroup
 * hooks to the cgroup given (a child cgroup the test made), runs agent/policy_agent.c, and prints
 * one JSON object per line on stdout:
 *   {"type":"ready",...}  {"type":"policy_decision",...}  {"type":"policy_reload",...}
 * Commands on stdin: "track PID", "untrack PID", "reload", "dns NAME ADDR" (a DNS answer
 * the tracked session received, as agent/dns_decode.c would report it). SIGHUP reloads too;
 * EOF, SIGINT or SIGTERM detach everything and exit.
 *
 * With --collector URL --state-dir DIR it also polls the collector for the fleet policy
 * (agent/policy_fetch.c) every --fetch-interval seconds and installs it into --policy FILE.
 *
 * usage: policy_harness --policy FILE --cgroup DIR [--tool NAME]
 *                       [--collector URL --state-dir DIR [--fetch-interval S]
 *                        [--host-group G]]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/aitrail.skel.h"
#include "common/log.h"
#include "agent/policy_agent.h"
#include "agent/policy_fetch.h"
#include "common/util.h"
#include "bpf/policy.h"

static void json_str(const char *k, const char *v, bool comma)
{
	printf("\"%s\":\"", k);
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\"%s", comma ? "," : "");
}

static int on_record(void *ctx, void *data, size_t len)
{
	const struct at_hdr *h = data;
	struct pol_decision_buf b;

	if (len < sizeof(*h) || h->type != AT_REC_POLICY_DECISION)
		return 0;
	if (pol_decode_record(data, len, &b)) {
		log_warn("failed to decode policy record: %zu bytes", len);
		return 0;
	}
	printf("{\"type\":\"policy_decision\",\"pid\":%u,\"tid\":%u,\"comm\":\"%.16s\",", h->pid,
	       h->tid, h->comm);
	json_str("rule_id", b.pd.rule_id, true);
	json_str("action", b.pd.action, true);
	json_str("mode", b.pd.mode, true);
	json_str("mechanism", b.pd.mechanism, true);
	json_str("outcome", b.pd.outcome, true);
	json_str("category", b.pd.category, true);
	json_str("target", b.pd.target, true);
	json_str("detail", b.pd.detail, true);
	printf("\"suppressed\":%llu}\n", (unsigned long long)b.pd.suppressed);
	return 0;
}

static void report_reload(struct pol_agent *pa, int ret)
{
	printf("{\"type\":\"policy_reload\",\"ok\":%s,\"generation\":%u,", ret ? "false" : "true",
	       pol_agent_generation(pa));
	json_str("errors", ret ? pol_agent_last_errors(pa) : "", false);
	printf("}\n");
}

static int track(struct aitrail *skel, const char *arg, bool on)
{
	struct at_session_ref ref = { .tool = 1 };
	uint64_t pid;

	if (parse_u64(arg, 1, UINT32_MAX, &pid))
		return -EINVAL;
	ref.root_pid = pid;
	uint32_t key = pid;

	if (on)
		return bpf_map_update_elem(bpf_map__fd(skel->maps.tracked), &key, &ref, BPF_ANY)
			       ? -errno
			       : 0;
	return bpf_map_delete_elem(bpf_map__fd(skel->maps.tracked), &key) ? -errno : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "tool", required_argument, NULL, 't' },
		{ "collector", required_argument, NULL, 'u' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "fetch-interval", required_argument, NULL, 'i' },
		{ "host-group", required_argument, NULL, 'g' },
		{},
	};
	const char *policy = NULL, *cgroup = NULL, *tool = "claude", *coll = NULL, *state = NULL;
	const char *group = NULL;
	struct pol_fetch *fetch = NULL;
	uint32_t fetch_s = 1;
	struct bpf_link *links[64] = {};
	struct ring_buffer *rb = NULL;
	struct aitrail *skel = NULL;
	struct pol_agent *pa = NULL;
	struct bpf_program *prog;
	int cg_fd = -1, sfd = -1, wfd = -1, ep = -1, n_links = 0, ret = 1, opt;
	sigset_t mask;

	log_init("policy_harness", LOG_LVL_INFO);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'p')
			policy = optarg;
		else if (opt == 'c')
			cgroup = optarg;
		else if (opt == 't')
			tool = optarg;
		else if (opt == 'u')
			coll = optarg;
		else if (opt == 'g')
			group = optarg;
		else if (opt == 's')
			state = optarg;
		else if (opt == 'i')
			fetch_s = atoi(optarg);
		else
			return 2;
	}
	if (!policy || !cgroup) {
		fprintf(stderr, "usage: policy_harness --policy FILE --cgroup DIR [--tool NAME]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	/* self-protection tests aim these at us: they must not end the harness */
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY);
	if (cg_fd < 0) {
		log_error("failed to open cgroup %s: %s", cgroup, strerror(errno));
		goto cleanup;
	}
	skel = aitrail__open();
	if (!skel) {
		log_error("failed to open BPF skeleton: %s", strerror(errno));
		goto cleanup;
	}
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, !strncmp(bpf_program__name(prog), "pol_", 4));
	if (aitrail__load(skel)) {
		log_error("failed to load BPF programs: %s", strerror(errno));
		goto cleanup;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		enum bpf_attach_type t = bpf_program__expected_attach_type(prog);
		struct bpf_link *l;

		if (strncmp(bpf_program__name(prog), "pol_", 4))
			continue;
		if (n_links == (int)ARRAY_SIZE(links)) {
			log_error("failed to attach %s: too many programs", bpf_program__name(prog));
			goto cleanup;
		}
		if (t == BPF_CGROUP_INET4_CONNECT || t == BPF_CGROUP_INET6_CONNECT ||
		    t == BPF_CGROUP_UDP4_SENDMSG || t == BPF_CGROUP_UDP6_SENDMSG)
			l = bpf_program__attach_cgroup(prog, cg_fd);
		else
			l = bpf_program__attach(prog);
		if (!l) {
			log_error("failed to attach %s: %s", bpf_program__name(prog), strerror(errno));
			goto cleanup;
		}
		links[n_links++] = l;
	}
	{
		const char *names[1] = { tool };
		struct pol_maps maps = {
			.net = bpf_map__fd(skel->maps.pol_net),
			.path = bpf_map__fd(skel->maps.pol_path),
			.prog = bpf_map__fd(skel->maps.pol_prog),
			.defaults = bpf_map__fd(skel->maps.pol_defaults),
			.cfg = bpf_map__fd(skel->maps.pol_cfg),
			.dns = bpf_map__fd(skel->maps.pol_dns),
			.protected_pids = bpf_map__fd(skel->maps.pol_protected),
		};
		struct pol_agent_opts o = {
			.policy_path = policy, .tool_names = names, .n_tools = 1, .self_protect = true,
		};

		if (pol_agent_new(&maps, &o, &pa))
			goto cleanup;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rb_core), on_record, NULL, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	wfd = pol_agent_watch(pa);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!rb || sfd < 0 || wfd < 0 || ep < 0) {
		log_error("failed to set up the event loop: %s", strerror(errno));
		goto cleanup;
	}
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u32 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	ev.data.u32 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev);
	ev.data.u32 = 3;
	epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb), &ev);
	if (coll && state) {
		struct pol_fetch_opts fo = { .collector_url = coll, .state_dir = state,
					     .dest = policy, .interval_s = fetch_s,
					     .host_group = group };

		if (pol_fetch_new(&fo, &fetch))
			goto cleanup;
	}
	printf("{\"type\":\"ready\",\"pid\":%d,\"generation\":%u}\n", getpid(),
	       pol_agent_generation(pa));

	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, fetch ? 100 : 1000);

		pol_fetch_tick(fetch, now_boottime_ns() / 1000000);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0) {
				char line[256];

				if (!fgets(line, sizeof(line), stdin)) {
					ret = 0;
					goto cleanup;
				}
				line[strcspn(line, "\n")] = '\0';
				if (!strncmp(line, "track ", 6))
					printf("{\"type\":\"ack\",\"result\":%d}\n",
					       track(skel, line + 6, true));
				else if (!strncmp(line, "untrack ", 8))
					printf("{\"type\":\"ack\",\"result\":%d}\n",
					       track(skel, line + 8, false));
				else if (!strncmp(line, "dns ", 4)) {
					char name[256], addr[64];

					if (sscanf(line + 4, "%255s %63s", name, addr) == 2)
						printf("{\"type\":\"ack\",\"result\":%d}\n",
						       pol_agent_learn_address(pa, tool, name, addr));
				} else if (!strcmp(line, "reload"))
					report_reload(pa, pol_agent_reload(pa));
			} else if (evs[i].data.u32 == 1) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					report_reload(pa, pol_agent_reload(pa));
				} else if (si.ssi_signo == SIGUSR1) {
					printf("{\"type\":\"signal\",\"signo\":%u,\"from\":%u}\n",
					       si.ssi_signo, si.ssi_pid);
				} else {
					ret = 0;
					goto cleanup;
				}
			} else if (evs[i].data.u32 == 2) {
				uint32_t gen = pol_agent_generation(pa);
				int r = pol_agent_on_watch(pa, wfd);

				if (r || pol_agent_generation(pa) != gen)
					report_reload(pa, r);
			} else {
				ring_buffer__consume(rb);
			}
		}
	}
cleanup:
	if (rb)
		ring_buffer__consume(rb);
	ring_buffer__free(rb);
	pol_fetch_free(fetch);
	for (int i = 0; i < n_links; i++)
		bpf_link__destroy(links[i]);
	pol_agent_free(pa);
	aitrail__destroy(skel);
	if (ep >= 0)
		close(ep);
	if (wfd >= 0)
		close(wfd);
	if (sfd >= 0)
		close(sfd);
	if (cg_fd >= 0)
		close(cg_fd);
	return ret;
}
