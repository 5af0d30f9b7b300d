// SPDX-License-Identifier: Apache-2.0
/*
 * Sessions already running when the agent starts: every process in /proc is checked against
 * the same signatures the kernel applies at exec (agent/signature.c); a match with no matching
 * ancestor is a session root and its descendants join it. They are seeded into `tracked` so
 * the kernel attributes everything they do from then on. A descendant that was reparented
 * away from its root before the agent started cannot be linked to it and is not seeded.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf/aitrail.skel.h"
#include "agent/agent.h"
#include "agent/procscan.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "agent/signature.h"
#include "common/log.h"
#include "bpf/session.h"
#include "common/util.h"

#define NS_PER_TICK 10000000ULL /* USER_HZ = 100 */

struct scan_proc {
	uint32_t pid, ppid, uid;
	uint64_t start_ns;
	char comm[16];
	uint16_t tool;    /* signature match */
	int how;
	int root;         /* index of the session root, -1 if none */
	int new_session;  /* a root whose session this pass created */
};

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total < len) {
		n = read(fd, buf + total, len - total);
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	return total;
}

static int read_stat(uint32_t pid, struct scan_proc *p)
{
	char path[64], buf[1024], *rp;
	unsigned long long start = 0;
	unsigned int ppid = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (!rp)
		return -EINVAL;
	/* fields after "(comm)": 3 state, 4 ppid, ... 22 starttime */
	if (sscanf(rp + 2, "%*c %u %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu", &ppid, &start) != 2)
		return -EINVAL;
	p->ppid = ppid;
	p->start_ns = start * NS_PER_TICK;
	return 0;
}

static uint32_t read_uid(uint32_t pid)
{
	char path[64], buf[2048], *l;
	unsigned int uid = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	l = strstr(buf, "\nUid:");
	if (l)
		sscanf(l + 5, "%u", &uid);
	return uid;
}

static void read_link(uint32_t pid, const char *what, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, what);
	n = readlink(path, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void read_comm(uint32_t pid, char *out)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	n = read_file(path, out, 15);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
}

static int match_proc(struct agent *a, struct scan_proc *p)
{
	static char argv[AT_ARGV_MAX], env[AT_ENV_SCAN_MAX];
	char path[64], exe[PATH_MAX];
	const char *base;
	ssize_t na, ne;

	read_comm(p->pid, p->comm);
	read_link(p->pid, "exe", exe, sizeof(exe));
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", p->pid);
	na = read_file(path, argv, sizeof(argv));
	snprintf(path, sizeof(path), "/proc/%u/environ", p->pid);
	ne = read_file(path, env, sizeof(env));
	p->how = signature_match(a->cfg, p->comm, base, argv, na > 0 ? na : 0,
				 ne > 0 ? env : NULL, ne > 0 ? ne : 0, &p->tool);
	return p->how;
}

static struct scan_proc *find(struct scan_proc *v, size_t n, uint32_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].pid == pid)
			return &v[i];
	return NULL;
}

/* Seeds the process table with what /proc says about pid. */
static struct proc_info *seed_proc(struct agent *a, const struct scan_proc *sp,
				   const struct scan_proc *root)
{
	struct proc_info *p = proctable_upsert(a, sp->pid);
	char path[64], buf[AT_ARGV_MAX + 1], link[PATH_MAX];
	const char *argv[64];
	size_t argc = 0, i = 0;
	ssize_t n;

	if (!p)
		return NULL;
	p->ppid = sp->ppid;
	p->uid = sp->uid;
	memcpy(p->comm, sp->comm, sizeof(p->comm));
	p->root_pid = root->pid;
	p->root_start = root->start_ns;
	p->tool = root->tool;
	read_link(sp->pid, "exe", link, sizeof(link));
	proctable_set_exe(p, link);
	read_link(sp->pid, "cwd", link, sizeof(link));
	proctable_set_cwd(p, link);
	snprintf(path, sizeof(path), "/proc/%u/cmdline", sp->pid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		while (i < (size_t)n && argc < sizeof(argv) / sizeof(argv[0])) {
			argv[argc++] = buf + i;
			i += strlen(buf + i) + 1;
		}
		proctable_set_argv(p, argv, argc);
	}
	return p;
}

int procscan_run(struct agent *a)
{
	int fd = bpf_map__fd(a->skel->maps.tracked);
	struct scan_proc *v = NULL;
	size_t n = 0, cap = 0, i;
	size_t roots = 0, members = 0;
	uint32_t self = getpid();
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (!d) {
		log_error("failed to scan /proc: %s", strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		struct scan_proc p = { .root = -1 };
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (!isdigit((unsigned char)de->d_name[0]) || *end || pid == self)
			continue;
		p.pid = pid;
		if (read_stat(p.pid, &p))
			continue; /* gone meanwhile */
		p.uid = read_uid(p.pid);
		match_proc(a, &p);
		if (n == cap) {
			struct scan_proc *nv = realloc(v, (cap ? cap * 2 : 512) * sizeof(*v));

			if (!nv) {
				closedir(d);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 512;
		}
		v[n++] = p;
	}
	closedir(d);

	/* the outermost matching ancestor is the root: a nested agent stays in its outer session */
	for (i = 0; i < n; i++) {
		struct scan_proc *q = &v[i];
		int depth = 0;

		while (q && depth++ < 4096) {
			if (q->how)
				v[i].root = q - v;
			if (q->ppid == 0 || q->ppid == q->pid)
				break;
			q = find(v, n, q->ppid);
		}
	}
	for (i = 0; i < n; i++) {
		struct scan_proc *sp = &v[i], *root;
		struct at_session_ref ref = {};
		struct proc_info *p;
		struct session *s;

		if (sp->root < 0)
			continue;
		root = &v[sp->root];
		ref.root_pid = root->pid;
		ref.root_start = root->start_ns;
		ref.tool = root->tool;
		/* an inherited env marker does not make a child an agent of its own */
		if (sp->how && sp->how != AT_MATCH_ENV && sp != root)
			ref.flags = AT_F_NESTED_AGENT;
		/* the kernel may have tracked it already (second pass): keep the kernel's entry */
		if (bpf_map_update_elem(fd, &sp->pid, &ref, BPF_NOEXIST) && errno != EEXIST) {
			log_warn("failed to track pid %u of session %u: %s", sp->pid, root->pid,
				 strerror(errno));
			continue;
		}
		members++;
		p = seed_proc(a, sp, root);
		if (sp != root)
			continue;
		if (session_find(a, root->pid, root->start_ns))
			continue;
		s = session_get(a, root->pid, root->start_ns, root->tool);
		if (!s || !p)
			continue;
		roots++;
		root->new_session = 1;
		session_emit_start(a, s, p, "scan", now_boottime_ns());
		s->start_ns = root->start_ns;
	}
	for (i = 0; i < n; i++) {
		struct session *s;

		if (v[i].root < 0 || &v[v[i].root] == &v[i])
			continue;
		if (!v[v[i].root].new_session)
			continue;
		s = session_find(a, v[v[i].root].pid, v[v[i].root].start_ns);
		if (s)
			s->processes++;
	}
	log_debug("/proc scan: %zu processes, %zu sessions found, %zu processes seeded", n, roots,
		  members);
	free(v);
	return 0;
}
