// SPDX-License-Identifier: Apache-2.0
/*
 * Policy enforcement at run time: loading and reloading the policy into the kernel maps,
 * decoding the kernel's decision records, and the after-the-fact decisions (agent_alert) on
 * what the kernel cannot decide.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/log.h"
#include "agent/policy_agent.h"
#include "common/util.h"
#include "bpf/policy.h"


static const char *const mech_names[] = {
	[AT_POL_MECH_NONE] = "none",
	[AT_POL_MECH_CGROUP_SOCK_ADDR] = "cgroup_sock_addr",
	[AT_POL_MECH_LSM] = "lsm",
	[AT_POL_MECH_TRACEPOINT_KILL] = "tracepoint_kill",
	[AT_POL_MECH_AGENT_ALERT] = "agent_alert",
};

static const char *const outcome_names[] = {
	[AT_POL_OUT_RECORDED] = "recorded",
	[AT_POL_OUT_BLOCKED] = "blocked",
	[AT_POL_OUT_KILLED] = "killed",
	[AT_POL_OUT_FAILED] = "failed",
};

/*
 * Categories the kernel has anything to decide on: kernel entries, host rules (their entries
 * come with DNS answers) or a default other than allow. The hooks of the others return before
 * reading a path, so a network-only policy costs file opens nothing.
 */
static uint32_t cat_mask(const struct pol_agent *pa)
{
	const struct pol_compiled *c = &pa->compiled;
	uint32_t m = 0;

	if (!pa->policy)
		return 0;
	for (int i = 0; i < POL_CAT_MAX; i++)
		if (((const struct at_pol_verdict *)c->defaults[i])->action != AT_POL_ALLOW)
			m |= 1u << i;
	if (c->net.n)
		m |= 1u << AT_POL_CAT_NETWORK;
	for (int i = 0; i < pa->policy->n_rules; i++)
		if (pa->policy->rules[i].cat == POL_CAT_NETWORK &&
		    (pa->policy->rules[i].host.n || pa->policy->rules[i].vendor.n))
			m |= 1u << AT_POL_CAT_NETWORK;
	for (size_t i = 0; i < c->path.n; i++)
		m |= 1u << ((const struct at_pol_path_key *)c->path.v[i].key)->cat;
	if (c->prog.n)
		m |= 1u << AT_POL_CAT_EXEC;
	return m;
}

static int set_cfg(struct pol_agent *pa, bool enabled)
{
	struct at_pol_cfg cfg = {
		.enabled = enabled,
		.agent_tgid = getpid(),
		.agent_pgid = getpgrp(),
		.self_protect = pa->self_protect,
		.generation = pa->generation,
		.cat_mask = cat_mask(pa),
		.dns_names = pa->dns_kernel_names,
	};
	uint32_t zero = 0;

	if (pa->maps.cfg < 0)
		return 0;
	if (bpf_map_update_elem(pa->maps.cfg, &zero, &cfg, BPF_ANY)) {
		log_error("failed to update policy config map: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int pol_agent_protect_pid(struct pol_agent *pa, uint32_t pid)
{
	uint8_t one = 1;

	if (pa->maps.protected_pids < 0)
		return 0;
	if (bpf_map_update_elem(pa->maps.protected_pids, &pid, &one, BPF_ANY)) {
		log_error("failed to protect pid %u: %s", pid, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * A session process killed for ptrace-attaching or SIGSTOPping the agent still got its way:
 * the syscall completed before the kill, and the agent sits stopped. The keeper, a child that
 * only reads the agent's state, sends SIGCONT when it finds it stopped ('T'; a debugger's
 * tracing stop 't' is left alone). It dies with the agent (PR_SET_PDEATHSIG).
 */
static void keeper_main(pid_t agent)
{
	char path[64], buf[512], *p;

	prctl(PR_SET_NAME, "aitrail-keeper");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != agent)
		_exit(0);
	snprintf(path, sizeof(path), "/proc/%d/stat", agent);
	for (;;) {
		FILE *f = fopen(path, "r");
		size_t n;

		if (!f)
			_exit(0);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'T') {
			log_warn("agent %d was stopped (SIGSTOP or a ptrace attach): resuming it", agent);
			kill(agent, SIGCONT);
		}
		usleep(100 * 1000);
	}
}

static void start_keeper(struct pol_agent *pa)
{
	pid_t agent = getpid(), pid = fork();

	if (pid == 0)
		keeper_main(agent);
	if (pid < 0) {
		log_warn("failed to start the agent's keeper: %s; a SIGSTOP would stop the agent",
			 strerror(errno));
		return;
	}
	pa->keeper_pid = pid;
	pol_agent_protect_pid(pa, pid);
}

static int protect_self(struct pol_agent *pa)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int ret = pol_agent_protect_pid(pa, getpid());

	if (!d)
		return ret;
	while (!ret && (de = readdir(d))) {
		uint64_t tid;

		if (!parse_u64(de->d_name, 1, UINT32_MAX, &tid))
			ret = pol_agent_protect_pid(pa, tid);
	}
	closedir(d);
	return ret;
}

/* Writes every entry of next, then removes what prev had and next has not. */
static int apply_entries(int fd, const struct pol_entries *prev, const struct pol_entries *next,
			 const char *what)
{
	for (size_t i = 0; i < next->n; i++) {
		if (bpf_map_update_elem(fd, next->v[i].key, next->v[i].value, BPF_ANY)) {
			log_error("failed to update %s map (entry %zu of %zu): %s", what, i + 1,
				  next->n, strerror(errno));
			return -errno;
		}
	}
	for (size_t i = 0; i < prev->n; i++) {
		bool keep = false;

		for (size_t j = 0; j < next->n && !keep; j++)
			keep = prev->v[i].key_size == next->v[j].key_size &&
			       !memcmp(prev->v[i].key, next->v[j].key, prev->v[i].key_size);
		if (!keep && bpf_map_delete_elem(fd, prev->v[i].key) && errno != ENOENT) {
			log_error("failed to delete stale %s map entry: %s", what, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int apply(struct pol_agent *pa, const struct pol_compiled *next)
{
	int ret;

	if (pa->maps.net < 0)
		return 0;
	ret = apply_entries(pa->maps.net, &pa->compiled.net, &next->net, "network policy");
	if (!ret)
		ret = apply_entries(pa->maps.path, &pa->compiled.path, &next->path, "path policy");
	if (!ret)
		ret = apply_entries(pa->maps.prog, &pa->compiled.prog, &next->prog,
				    "program policy");
	for (uint32_t c = 0; !ret && c < POL_CAT_MAX; c++) {
		if (bpf_map_update_elem(pa->maps.defaults, &c, next->defaults[c], BPF_ANY)) {
			log_error("failed to update policy defaults map: %s", strerror(errno));
			ret = -errno;
		}
	}
	return ret;
}

int pol_agent_reload(struct pol_agent *pa)
{
	struct pol_compiled next;
	struct policy *p;
	int ret, kernel = 0;

	if (!pa->path[0])
		return 0;
	ret = policy_load_file(pa->path, &p, &pa->errors);
	if (ret) {
		log_error("policy %s refused (%d problem%s); %s", pa->path, pa->errors.n,
			  pa->errors.n == 1 ? "" : "s",
			  pa->policy ? "the previous policy stays in force"
				     : "no policy is in force");
		return ret;
	}
	ret = pol_compile(p, pa->tool_names, pa->n_tools, &next);
	if (ret) {
		log_error("failed to compile policy %s: %s", pa->path, strerror(-ret));
		policy_free(p);
		return ret;
	}
	ret = apply(pa, &next);
	if (ret) {
		/* half-applied: put the old entries back so the kernel matches the old policy */
		log_error("policy %s not applied; restoring the previous policy", pa->path);
		if (apply(pa, &pa->compiled))
			log_error("failed to restore the previous policy: kernel maps are mixed");
		pol_compiled_free(&next);
		policy_free(p);
		return ret;
	}
	pol_dns_before_reload(pa);
	pol_compiled_free(&pa->compiled);
	pa->compiled = next;
	policy_free(pa->policy);
	pa->policy = p;
	pa->generation++;
	pol_dns_rederive(pa);
	memset(&pa->errors, 0, sizeof(pa->errors));
	for (int i = 0; i < p->n_rules; i++) {
		if (next.in_kernel[i])
			kernel++;
		else
			log_info("%s:%d: rule '%s' is decided by the agent after the fact "
				 "(agent_alert): %s",
				 p->source, p->rules[i].line, p->rules[i].id, next.why_not[i]);
	}
	log_info("policy %s generation %u in force: %d rules (%d in the kernel), %zu network, "
		 "%zu path, %zu program entries",
		 pa->path, pa->generation, p->n_rules, kernel, next.net.n, next.path.n,
		 next.prog.n);
	return set_cfg(pa, true);
}

int pol_agent_new(const struct pol_maps *maps, const struct pol_agent_opts *o,
		  struct pol_agent **out)
{
	struct pol_agent *pa = calloc(1, sizeof(*pa));
	int ret;

	*out = NULL;
	if (!pa)
		return -ENOMEM;
	pa->maps = *maps;
	snprintf(pa->path, sizeof(pa->path), "%s", o->policy_path ? o->policy_path : "");
	/* copied: the caller's table may be a temporary */
	pa->names = calloc(o->n_tools + 1, sizeof(*pa->names));
	for (int i = 0; pa->names && i < o->n_tools; i++)
		pa->names[i] = strdup(o->tool_names[i] ? o->tool_names[i] : "");
	if (!pa->names) {
		free(pa);
		return -ENOMEM;
	}
	pa->tool_names = (const char *const *)pa->names;
	pa->n_tools = o->n_tools;
	pa->self_protect = o->self_protect;
	pa->file_mech = pol_probe_file_mechanism(pa->mech_why, sizeof(pa->mech_why));
	log_info("policy enforcement: network by cgroup_sock_addr, files and exec by %s (%s)",
		 pa->file_mech, pa->mech_why);
	ret = protect_self(pa);
	if (!ret && pa->self_protect && pa->maps.cfg >= 0)
		start_keeper(pa);
	if (!ret)
		ret = set_cfg(pa, false);
	if (!ret && pa->path[0])
		ret = pol_agent_reload(pa);
	if (ret) {
		pol_agent_free(pa);
		return ret;
	}
	*out = pa;
	return 0;
}

void pol_agent_free(struct pol_agent *pa)
{
	if (!pa)
		return;
	if (pa->keeper_pid > 0) {
		kill(pa->keeper_pid, SIGKILL); /* our own child, by pid */
		waitpid(pa->keeper_pid, NULL, 0);
	}
	pol_compiled_free(&pa->compiled);
	policy_free(pa->policy);
	free(pa->dns);
	for (int i = 0; pa->names && i < pa->n_tools; i++)
		free(pa->names[i]);
	free(pa->names);
	free(pa);
}

void pol_agent_set_path(struct pol_agent *pa, const char *path)
{
	snprintf(pa->path, sizeof(pa->path), "%s", path ? path : "");
}

const struct policy *pol_agent_policy(const struct pol_agent *pa)
{
	return pa->policy;
}

uint32_t pol_agent_generation(const struct pol_agent *pa)
{
	return pa->generation;
}

const char *pol_agent_last_errors(const struct pol_agent *pa)
{
	return pa->errors.buf;
}

/* --- decisions */

static void set_names(struct pol_decision_buf *b, unsigned cat, unsigned action, unsigned mode,
		      unsigned mech, unsigned outcome)
{
	Aitrail__V1__PolicyDecision init = AITRAIL__V1__POLICY_DECISION__INIT;

	b->pd = init;
	b->pd.rule_id = b->rule_id;
	b->pd.target = b->target;
	b->pd.detail = b->detail;
	b->pd.category = (char *)policy_category_name(cat);
	b->pd.action = (char *)policy_action_name(action);
	b->pd.mode = (char *)policy_mode_name(mode);
	b->pd.mechanism = (char *)(mech < ARRAY_SIZE(mech_names) ? mech_names[mech] : "unknown");
	b->pd.outcome =
		(char *)(outcome < ARRAY_SIZE(outcome_names) ? outcome_names[outcome] : "unknown");
}

static const char *hook_syscall(uint32_t hook)
{
	switch (hook) {
	case AT_POL_HOOK_CONNECT4:
	case AT_POL_HOOK_CONNECT6:
		return "connect";
	case AT_POL_HOOK_SENDMSG4:
	case AT_POL_HOOK_SENDMSG6:
		return "sendmsg";
	case AT_POL_HOOK_OPEN:
		return "open";
	case AT_POL_HOOK_UNLINK:
		return "unlink";
	case AT_POL_HOOK_RENAME:
		return "rename";
	case AT_POL_HOOK_TRUNCATE:
		return "truncate";
	case AT_POL_HOOK_URING_OPEN:
		return "io_uring openat";
	case AT_POL_HOOK_URING_UNLINK:
		return "io_uring unlinkat";
	case AT_POL_HOOK_URING_RENAME:
		return "io_uring renameat";
	case AT_POL_HOOK_EXEC:
		return "execve";
	case AT_POL_HOOK_KILL:
		return "kill";
	case AT_POL_HOOK_PIDFD_OPEN:
		return "pidfd_open";
	case AT_POL_HOOK_PTRACE:
		return "ptrace";
	case AT_POL_HOOK_PROCESS_VM:
		return "process_vm_writev";
	default:
		return "unknown";
	}
}

int pol_decode_record(const void *raw, size_t len, struct pol_decision_buf *b)
{
	const struct at_pol_decision *r = raw;
	const char *sys;

	if (len < sizeof(*r))
		return -EINVAL;
	set_names(b, r->cat, r->action, r->mode, r->mech, r->outcome);
	b->pd.suppressed = r->suppressed;
	snprintf(b->rule_id, sizeof(b->rule_id), "%.*s", (int)sizeof(r->rule_id), r->rule_id);
	sys = hook_syscall(r->hook);
	b->target[0] = b->detail[0] = '\0';
	if (r->cat == AT_POL_CAT_NETWORK) {
		char a[INET6_ADDRSTRLEN] = "?";

		inet_ntop(r->family, r->addr, a, sizeof(a));
		snprintf(b->target, sizeof(b->target), r->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 a, r->port);
		snprintf(b->detail, sizeof(b->detail), "%s", sys);
		if (r->outcome == AT_POL_OUT_KILLED)
			snprintf(b->detail, sizeof(b->detail),
				 "%s refused with EPERM, SIGKILL at the syscall's exit", sys);
		else if (r->outcome == AT_POL_OUT_BLOCKED)
			snprintf(b->detail, sizeof(b->detail), "%s refused with EPERM", sys);
	} else if (r->cat == AT_POL_CAT_SELF_PROTECT) {
		snprintf(b->target, sizeof(b->target), "pid %d", r->target_pid);
		if (r->hook == AT_POL_HOOK_KILL)
			snprintf(b->detail, sizeof(b->detail), "signal %lld aimed at the agent",
				 (long long)r->arg);
		else if (r->hook == AT_POL_HOOK_PTRACE)
			snprintf(b->detail, sizeof(b->detail), "ptrace request %lld on the agent",
				 (long long)r->arg);
		else
			snprintf(b->detail, sizeof(b->detail), "%s on the agent", sys);
	} else {
		uint32_t n = r->path_len < AT_POL_PATH_MAX ? r->path_len : AT_POL_PATH_MAX;

		snprintf(b->target, sizeof(b->target), "%.*s", (int)n, r->path);
		if (r->outcome == AT_POL_OUT_KILLED)
			/* measured: see docs/policy.md "What each mechanism prevents" */
			snprintf(b->detail, sizeof(b->detail),
				 "%s: SIGKILL at syscall entry; the syscall itself still completed",
				 sys);
		else
			snprintf(b->detail, sizeof(b->detail), "%s", sys);
	}
	return 0;
}

static void describe_target(const struct pol_target *t, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "";

	switch (t->cat) {
	case POL_CAT_NETWORK:
		if (t->family)
			inet_ntop(t->family, t->addr, a, sizeof(a));
		if (t->host)
			snprintf(buf, len, "%s:%u (%s)", t->host, t->port, a);
		else
			snprintf(buf, len, t->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, t->port);
		break;
	case POL_CAT_EXEC:
		snprintf(buf, len, "%s", t->program ? t->program : "");
		break;
	default:
		snprintf(buf, len, "%s", t->path ? t->path : "");
		break;
	}
}

int pol_agent_check_event(struct pol_agent *pa, const Aitrail__V1__Event *ev,
			  const struct pol_session *s, struct pol_decision_buf *b)
{
	struct pol_decision d;
	struct pol_target t;
	int idx;

	if (!pa->policy || policy_eval_event(pa->policy, ev, s, &d))
		return 0;
	if (!d.rule || d.action == POL_ALLOW)
		return 0; /* defaults are enforced in the kernel */
	idx = d.rule - pa->policy->rules;
	if (idx < 0 || idx >= pa->compiled.n_rules || pa->compiled.in_kernel[idx])
		return 0; /* the kernel decided and recorded it */
	policy_target_from_event(ev, &t);
	set_names(b, d.cat, d.action, d.mode, AT_POL_MECH_AGENT_ALERT, AT_POL_OUT_RECORDED);
	snprintf(b->rule_id, sizeof(b->rule_id), "%s", d.rule_id);
	describe_target(&t, b->target, sizeof(b->target));
	snprintf(b->detail, sizeof(b->detail), "%s%s",
		 d.action >= POL_DENY ? "not enforced, decided after the fact: " : "",
		 pa->compiled.why_not[idx] ? pa->compiled.why_not[idx] : "");
	return 1;
}

/* --- watching the policy file */

int pol_agent_watch(struct pol_agent *pa)
{
	char dir[sizeof(pa->path)];
	char *slash;
	int fd;

	if (!pa->path[0])
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", pa->path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_error("failed to watch policy %s: inotify_init1: %s", pa->path, strerror(errno));
		return -errno;
	}
	/* the directory, not the file: editors and config managers replace files by rename */
	if (inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
		int err = -errno;

		log_error("failed to watch policy directory %s: %s", dir, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

int pol_agent_on_watch(struct pol_agent *pa, int fd)
{
	const char *base = strrchr(pa->path, '/') ? strrchr(pa->path, '/') + 1 : pa->path;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			if (e->len && !strcmp(e->name, base) && !(e->mask & IN_CREATE))
				changed = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (!changed)
		return 0;
	log_info("policy %s changed on disk: reloading", pa->path);
	return pol_agent_reload(pa);
}
