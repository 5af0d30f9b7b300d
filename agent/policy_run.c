// SPDX-License-Identifier: Apache-2.0
/*
 * The policy module: enforcement inside aitrail-agent. Starts agent/policy_agent.c on the
 * loaded skeleton, attaches the cgroup hooks, watches the policy file, polls the collector,
 * decodes the kernel's decision records and emits the after-the-fact (agent_alert) decisions.
 *
 * After-the-fact decisions are queued and emitted from a timer, not from inside the sink that
 * saw the event: emitting from a sink would hand the decision to the later sinks before the
 * event that caused it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/module.h"
#include "agent/policy_agent.h"
#include "agent/policy_fetch.h"
#include "agent/proctable.h"
#include "bpf/aitrail.skel.h"
#include "bpf/policy.h"
#include "common/log.h"
#include "common/util.h"

#define PENDING_MAX 256
#define TICK_MS 200

struct pending {
	uint64_t ts;
	char session_id[40];
	char tool[32];
	uint32_t root_pid;
	uint32_t pid, ppid, uid;
	char user[64];
	char comm[16];
	char exe[256];
	char type[32];
	struct pol_decision_buf d;
};

static struct {
	struct pol_agent *pa;
	struct pol_fetch *fetch;
	struct bpf_link *links[4];
	int n_links;
	int watch_fd;
	const char *names[CFG_MAX_TOOLS];
	struct pending *q;
	size_t nq;
	uint64_t dropped;
} P = { .watch_fd = -1 };

static int policy_decode_record(struct agent *a, const struct at_hdr *h, const void *rec,
				size_t len, at_event *ev, struct arena *ar)
{
	Aitrail__V1__PolicyDecision *pd = arena_alloc(ar, sizeof(*pd));
	struct pol_decision_buf b;

	if (!pd || pol_decode_record(rec, len, &b))
		return -EINVAL;
	*pd = b.pd;
	pd->rule_id = arena_strndup(ar, b.rule_id, sizeof(b.rule_id));
	pd->target = arena_strndup(ar, b.target, sizeof(b.target));
	pd->detail = arena_strndup(ar, b.detail, sizeof(b.detail));
	if (!pd->rule_id || !pd->target || !pd->detail)
		return -ENOMEM;
	ev->type = "policy_decision";
	ev->body_case = AITRAIL__V1__EVENT__BODY_POLICY_DECISION;
	ev->policy_decision = pd;
	return 0;
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static int policy_sink(struct agent *a, const at_event *ev, void *arg)
{
	struct pol_session s = { 0 };
	struct proc_info *root;
	struct pending *p;

	if (!P.pa || ev->body_case == AITRAIL__V1__EVENT__BODY_POLICY_DECISION)
		return 0;
	pol_agent_on_event(P.pa, ev);
	if (ev->session && ev->session->root_pid) {
		root = proctable_get(a, ev->session->root_pid);
		s.cwd = root && root->cwd ? root->cwd : NULL;
	}
	if (P.nq == PENDING_MAX) {
		struct pol_decision_buf tmp;

		/* counted and said: a decision the agent could not record is a loss */
		if (pol_agent_check_event(P.pa, ev, &s, &tmp)) {
			if (!P.dropped++ || !(P.dropped % 1000))
				log_warn("policy: %llu after-the-fact decisions dropped (queue full)",
					 (unsigned long long)P.dropped);
		}
		return 0;
	}
	p = &P.q[P.nq];
	if (!pol_agent_check_event(P.pa, ev, &s, &p->d))
		return 0;
	p->ts = ev->ts;
	copy(p->session_id, sizeof(p->session_id), ev->session ? ev->session->id : NULL);
	copy(p->tool, sizeof(p->tool), ev->session ? ev->session->tool : NULL);
	p->root_pid = ev->session ? ev->session->root_pid : 0;
	p->pid = ev->proc ? ev->proc->pid : 0;
	p->ppid = ev->proc ? ev->proc->ppid : 0;
	p->uid = ev->proc ? ev->proc->uid : 0;
	copy(p->user, sizeof(p->user), ev->proc ? ev->proc->user : NULL);
	copy(p->comm, sizeof(p->comm), ev->proc ? ev->proc->comm : NULL);
	copy(p->exe, sizeof(p->exe), ev->proc ? ev->proc->exe : NULL);
	P.nq++;
	return 0;
}

static void flush_pending(struct agent *a)
{
	for (size_t i = 0; i < P.nq; i++) {
		struct pending *p = &P.q[i];
		at_event ev = AITRAIL__V1__EVENT__INIT;
		Aitrail__V1__Session s = AITRAIL__V1__SESSION__INIT;
		Aitrail__V1__Proc pr = AITRAIL__V1__PROC__INIT;

		p->d.pd.rule_id = p->d.rule_id; /* the copy's own buffers */
		p->d.pd.target = p->d.target;
		p->d.pd.detail = p->d.detail;
		s.id = p->session_id;
		s.tool = p->tool;
		s.root_pid = p->root_pid;
		pr.pid = p->pid;
		pr.ppid = p->ppid;
		pr.uid = p->uid;
		pr.user = p->user;
		pr.comm = p->comm;
		pr.exe = p->exe;
		ev.type = "policy_decision";
		ev.ts = p->ts;
		ev.host = a->hostname;
		ev.session = &s;
		ev.proc = &pr;
		ev.body_case = AITRAIL__V1__EVENT__BODY_POLICY_DECISION;
		ev.policy_decision = &p->d.pd;
		agent_emit(a, &ev);
	}
	P.nq = 0;
}

static void on_tick(struct agent *a, void *arg)
{
	pol_fetch_tick(P.fetch, now_boottime_ns() / 1000000);
	flush_pending(a);
}

static void on_watch(struct agent *a, int fd, uint32_t events, void *arg)
{
	pol_agent_on_watch(P.pa, fd);
}

/* SIGHUP: reload the policy file (a refused file keeps the policy in force). */
static void policy_on_sighup(struct agent *a)
{
	if (!P.pa)
		return;
	log_info("SIGHUP: reloading the policy");
	pol_agent_reload(P.pa);
}

static void on_reload(struct agent *a, void *arg)
{
	policy_on_sighup(a);
}

static const char *cgroup_root(const struct agent_config *c)
{
	if (c->policy_cgroup[0])
		return c->policy_cgroup;
	if (!access("/sys/fs/cgroup/cgroup.controllers", F_OK))
		return "/sys/fs/cgroup";
	return "/sys/fs/cgroup/unified"; /* hybrid hierarchy */
}

static int attach_cgroup(struct agent *a)
{
	struct bpf_program *progs[] = { a->skel->progs.pol_connect4, a->skel->progs.pol_connect6,
					a->skel->progs.pol_sendmsg4, a->skel->progs.pol_sendmsg6 };
	const char *path = cgroup_root(a->cfg);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		log_error("failed to open policy cgroup %s: %s", path, strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < ARRAY_SIZE(progs); i++) {
		struct bpf_link *l;

		if (bpf_program__fd(progs[i]) < 0) {
			log_warn("policy: %s did not load on this kernel: its destinations are not "
				 "enforced", bpf_program__name(progs[i]));
			continue;
		}
		l = bpf_program__attach_cgroup(progs[i], fd);
		if (!l) {
			log_error("failed to attach %s to cgroup %s: %s", bpf_program__name(progs[i]),
				  path, strerror(errno));
			close(fd);
			return -errno;
		}
		P.links[P.n_links++] = l;
	}
	close(fd);
	log_info("policy: network hooks attached to cgroup %s", path);
	return 0;
}

/* After attach: loads policy.file, attaches the cgroup hooks, adds its fds and timer. */
static int policy_start(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	char fetched[PATH_MAX + 32];
	const char *path = c->policy_file;
	struct pol_agent_opts o = { 0 };
	struct pol_maps maps;
	struct stat st;
	int err;

	if (!path[0] && !(c->policy_fetch_s && c->collector_url[0])) {
		log_info("policy: no policy.file configured; enforcement off");
		return 0;
	}
	if (!path[0]) {
		snprintf(fetched, sizeof(fetched), "%s/policy.yaml", c->state_dir);
		path = fetched;
	}
	for (int i = 0; i < c->n_tools; i++)
		P.names[i] = c->tools[i].name;
	maps = (struct pol_maps){
		.net = bpf_map__fd(a->skel->maps.pol_net),
		.path = bpf_map__fd(a->skel->maps.pol_path),
		.prog = bpf_map__fd(a->skel->maps.pol_prog),
		.defaults = bpf_map__fd(a->skel->maps.pol_defaults),
		.cfg = bpf_map__fd(a->skel->maps.pol_cfg),
		.dns = bpf_map__fd(a->skel->maps.pol_dns),
		.protected_pids = bpf_map__fd(a->skel->maps.pol_protected),
	};
	o.tool_names = P.names;
	o.n_tools = c->n_tools;
	o.self_protect = c->policy_self_protect;
	/* a fetched policy may not exist yet: start without one and let the watcher load it */
	o.policy_path = stat(path, &st) && errno == ENOENT && c->policy_fetch_s ? NULL : path;
	err = pol_agent_new(&maps, &o, &P.pa);
	if (err)
		return err; /* pol_agent_new said FILE:LINE and what */
	if (!o.policy_path)
		pol_agent_set_path(P.pa, path);
	P.q = calloc(PENDING_MAX, sizeof(*P.q));
	if (!P.q)
		return -ENOMEM;
	err = attach_cgroup(a);
	if (err)
		return err;
	P.watch_fd = pol_agent_watch(P.pa);
	if (P.watch_fd < 0 || loop_add_fd(a, P.watch_fd, EPOLLIN, on_watch, NULL))
		log_warn("policy: %s is not watched; reload with SIGHUP", path);
	if (c->policy_fetch_s && c->collector_url[0]) {
		struct pol_fetch_opts fo = {
			.collector_url = c->collector_url, .state_dir = c->state_dir, .dest = path,
			.ca_file = c->ca_file, .cert_file = c->cert_file, .key_file = c->key_file,
			.interval_s = c->policy_fetch_s, .host_group = c->policy_host_group,
		};

		err = pol_fetch_new(&fo, &P.fetch);
		if (err && err != -ENOENT)
			return err;
	}
	if (loop_add_timer(a, TICK_MS, on_tick, NULL) < 0 || loop_on_reload(a, on_reload, NULL))
		return -EINVAL;
	return agent_add_sink(a, policy_sink, NULL);
}

/* Emits the decisions still queued and detaches. */
static void policy_stop(struct agent *a)
{
	if (P.q)
		flush_pending(a);
	for (int i = 0; i < P.n_links; i++)
		bpf_link__destroy(P.links[i]);
	P.n_links = 0;
	if (P.watch_fd >= 0)
		close(P.watch_fd);
	P.watch_fd = -1;
	pol_fetch_free(P.fetch);
	pol_agent_free(P.pa);
	free(P.q);
	P.fetch = NULL;
	P.pa = NULL;
	P.q = NULL;
}

const struct agent_module policy_module = {
	.name = "policy",
	.progs = (const char *const[]){ "pol_", NULL },
	.recs = (const struct agent_rec[]){
		{ AT_REC_POLICY_DECISION, sizeof(struct at_pol_decision), "policy_decision",
		  policy_decode_record },
		{ 0 },
	},
	/* the DNS program that also turns a session's answers into policy entries */
	.parts = (const struct agent_part[]){
		{ "host-name policy entries made", "dns_received", "in the kernel",
		  "by the agent only" },
		{ NULL },
	},
	.start = policy_start,
	.stop = policy_stop,
};
