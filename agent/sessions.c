// SPDX-License-Identifier: Apache-2.0
/*
 * Sessions: the public id, session_start / session_end events and per-session counts. The
 * kernel knows a session by its root's (tgid, start time); the id turns that into something
 * unique across hosts and boots.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "agent/agent.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "agent/sink.h"
#include "bpf/session.h"
#include "common/log.h"

/* /proc/PID/stat reports start time in USER_HZ ticks: ids use that precision so a session
 * found by the /proc scan after an agent restart keeps the id the kernel path gave it. */
#define NS_PER_TICK 10000000ULL

void session_make_id(const char *machine_id, const char *boot_id, uint32_t root_pid,
		     uint64_t root_start_ns, char out[33])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char buf[256];
	int n, i;

	n = snprintf(buf, sizeof(buf), "%s\n%s\n%u\n%llu", machine_id, boot_id, root_pid,
		     (unsigned long long)(root_start_ns / NS_PER_TICK));
	if (n < 0 || n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	SHA256((const unsigned char *)buf, n, md);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[32] = '\0';
}

const char *tool_name(struct agent *a, uint16_t tool)
{
	if (tool >= 1 && tool <= a->cfg->n_tools)
		return a->cfg->tools[tool - 1].name;
	return "unknown";
}

struct session *session_find(struct agent *a, uint32_t root_pid, uint64_t root_start)
{
	struct session *s;

	for (s = a->sessions; s; s = s->next)
		if (s->root_pid == root_pid && s->root_start / NS_PER_TICK == root_start / NS_PER_TICK)
			return s;
	return NULL;
}

struct session *session_get(struct agent *a, uint32_t root_pid, uint64_t root_start,
			    uint16_t tool)
{
	struct session *s = session_find(a, root_pid, root_start);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->root_pid = root_pid;
	s->root_start = root_start;
	s->tool = tool;
	s->start_ns = root_start;
	s->processes = 1;
	session_make_id(a->machine_id, a->boot_id, root_pid, root_start, s->id);
	s->next = a->sessions;
	a->sessions = s;
	return s;
}

size_t sessions_active(struct agent *a)
{
	struct session *s;
	size_t n = 0;

	for (s = a->sessions; s; s = s->next)
		if (!s->ended && !s->end_pending)
			n++;
	return n;
}

void session_fill_event(struct agent *a, at_event *ev, uint32_t root_pid, uint64_t root_start,
			uint16_t tool)
{
	struct session *s;

	if (!root_pid || !ev->session)
		return;
	s = session_get(a, root_pid, root_start, tool);
	ev->session->root_pid = root_pid;
	ev->session->tool = (char *)tool_name(a, tool);
	if (s)
		ev->session->id = s->id;
}

/* Reads "version" from a package.json; 0 when found. */
static int package_version(const char *path, char *out, size_t len)
{
	json_object *root = json_object_from_file(path), *v;
	int ret = -ENOENT;

	if (!root)
		return -ENOENT;
	if (json_object_object_get_ex(root, "version", &v) && json_object_is_type(v, json_type_string)) {
		snprintf(out, len, "%s", json_object_get_string(v));
		ret = 0;
	}
	json_object_put(root);
	return ret;
}

/*
 * Agents shipped as npm packages carry their version in the package.json of the package
 * directory: look beside the script (interpreter argv) or the resolved executable, walking up
 * a few directories. Unknown stays empty: no guessing.
 */
static void find_tool_version(const struct proc_info *p, char *out, size_t len)
{
	const char *cands[3] = { NULL, NULL, NULL };
	char real[PATH_MAX], dir[PATH_MAX], pj[PATH_MAX + 16];
	size_t c;
	int up;

	out[0] = '\0';
	if (p->argc > 1)
		cands[0] = p->argv[1];
	cands[1] = p->exe;
	for (c = 0; c < 3; c++) {
		if (!cands[c] || cands[c][0] != '/')
			continue;
		if (!realpath(cands[c], real))
			continue;
		snprintf(dir, sizeof(dir), "%s", real);
		/* native installs keep each release as versions/<version> */
		{
			char *slash = strrchr(dir, '/');

			if (slash && slash - dir >= 9 && !strncmp(slash - 9, "/versions", 9) &&
			    slash[1]) {
				snprintf(out, len, "%s", slash + 1);
				return;
			}
		}
		for (up = 0; up < 4; up++) {
			char *slash = strrchr(dir, '/');

			if (!slash || slash == dir)
				break;
			*slash = '\0';
			snprintf(pj, sizeof(pj), "%s/package.json", dir);
			if (access(pj, R_OK) == 0 && !package_version(pj, out, len))
				return;
		}
	}
}

int session_emit_start(struct agent *a, struct session *s, const struct proc_info *p,
		       const char *matched_by, uint64_t ts_boot)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__Session sess = AITRAIL__V1__SESSION__INIT;
	Aitrail__V1__Proc proc = AITRAIL__V1__PROC__INIT;
	Aitrail__V1__SessionStart st = AITRAIL__V1__SESSION_START__INIT;
	char version[64];

	ev.type = "session_start";
	ev.ts = boot_to_unix_ns(a, ts_boot);
	ev.host = a->hostname;
	ev.session = &sess;
	ev.proc = &proc;
	session_fill_event(a, &ev, s->root_pid, s->root_start, s->tool);
	proc.pid = p->pid;
	proc.ppid = p->ppid;
	proc.uid = p->uid;
	proc.user = (char *)user_name(a, p->uid);
	proc.comm = (char *)p->comm;
	proc.exe = p->exe ? p->exe : "";
	st.n_argv = p->argc;
	st.argv = p->argv;
	st.cwd = p->cwd ? p->cwd : "";
	st.user = proc.user;
	st.exe = proc.exe;
	st.matched_by = (char *)matched_by;
	find_tool_version(p, version, sizeof(version));
	st.tool_version = version;
	ev.body_case = AITRAIL__V1__EVENT__BODY_SESSION_START;
	ev.session_start = &st;
	s->start_ns = ts_boot;
	s->started = true;
	s->root_ppid = p->ppid;
	s->root_uid = p->uid;
	snprintf(s->root_comm, sizeof(s->root_comm), "%s", p->comm);
	free(s->root_exe);
	s->root_exe = strdup(proc.exe); /* NULL on ENOMEM: session_end then names no exe */
	log_info("session %s started: %s pid %u (%s, matched by %s)", s->id, tool_name(a, s->tool),
		 s->root_pid, p->exe ? p->exe : p->comm, matched_by);
	/* not counted against the session, and never late itself: straight to the sinks */
	return sinks_write(a, &ev);
}

static int emit_end(struct agent *a, struct session *s)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__Session sess = AITRAIL__V1__SESSION__INIT;
	Aitrail__V1__SessionEnd end = AITRAIL__V1__SESSION_END__INIT;
	Aitrail__V1__SessionCounts counts = AITRAIL__V1__SESSION_COUNTS__INIT;
	Aitrail__V1__Proc proc = AITRAIL__V1__PROC__INIT;

	ev.type = "session_end";
	ev.ts = boot_to_unix_ns(a, s->end_ns);
	ev.host = a->hostname;
	ev.session = &sess;
	ev.proc = &proc;
	proc.pid = s->root_pid;
	proc.ppid = s->root_ppid;
	proc.uid = s->root_uid;
	proc.user = (char *)user_name(a, s->root_uid);
	proc.comm = s->root_comm;
	proc.exe = s->root_exe ? s->root_exe : "";
	session_fill_event(a, &ev, s->root_pid, s->root_start, s->tool);
	end.exit_code = s->exit_code;
	end.signal = s->signal;
	end.duration_ns = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
	counts.processes = s->processes;
	counts.execs = s->execs;
	counts.net_connect = s->net_connect;
	counts.file_ops = s->file_ops;
	end.counts = &counts;
	if (s->exit_unknown) {
		static char *trunc[] = { "exit_code" };

		ev.truncated = trunc;
		ev.n_truncated = 1;
	}
	ev.body_case = AITRAIL__V1__EVENT__BODY_SESSION_END;
	ev.session_end = &end;
	log_info("session %s ended: %s pid %u, exit %d%s%s, %llu processes, %llu execs", s->id,
		 tool_name(a, s->tool), s->root_pid, s->exit_code, s->signal[0] ? " " : "",
		 s->signal, (unsigned long long)s->processes, (unsigned long long)s->execs);
	/* a session whose start and events were all lost is announced before it ends */
	session_check_started(a, &ev);
	return sinks_write(a, &ev);
}

/*
 * An event of a session whose session_start never came (its record was lost to a full ring
 * buffer, counted there): announce the session from what the process table knows, so no
 * session's events appear without a start.
 */
void session_check_started(struct agent *a, const at_event *ev)
{
	struct proc_info *p, dummy = {};
	struct session *s;

	if (!ev->session || !ev->session->root_pid || !ev->session->id ||
	    !strcmp(ev->type, "session_start"))
		return;
	for (s = a->sessions; s; s = s->next)
		if (s->root_pid == ev->session->root_pid && !strcmp(s->id, ev->session->id))
			break;
	if (!s || s->started)
		return;
	s->started = true;
	p = proctable_get(a, s->root_pid);
	if (!p || p->root_pid != s->root_pid) {
		dummy.pid = s->root_pid;
		p = &dummy;
	}
	log_warn("session %s: its start was not seen (lost record); announcing it late", s->id);
	session_emit_start(a, s, p, "late", s->root_start);
}

void session_count_event(struct agent *a, const at_event *ev)
{
	struct session *s;

	if (!ev->session || !ev->session->root_pid || !ev->session->id)
		return;
	for (s = a->sessions; s; s = s->next)
		if (s->root_pid == ev->session->root_pid && !strcmp(s->id, ev->session->id))
			break;
	if (!s)
		return;
	if (!strcmp(ev->type, "exec"))
		s->execs++;
	else if (!strcmp(ev->type, "net_connect"))
		s->net_connect++;
	else if (!strncmp(ev->type, "file_", 5))
		s->file_ops++;
}

/*
 * Called by the loop once both ring buffers are drained: the root's exit was read, and any file
 * or network record the session made before it is now counted too.
 */
void sessions_flush_ended(struct agent *a)
{
	struct session **pp = &a->sessions, *s;
	size_t n;

	for (s = a->sessions; s; s = s->next) {
		if (s->end_pending) {
			s->end_pending = false;
			s->ended = true;
			emit_end(a, s);
		}
	}
	/* Ended sessions are kept for reparented descendants; their ids can always be
	 * recomputed, so the oldest ended ones go when the list grows long. */
	n = 0;
	while ((s = *pp)) {
		if (++n > 1024 && s->ended) {
			*pp = s->next;
			free(s->root_exe);
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

/* Is the process pid still the one that started at start_ns (to the tick)? */
static bool root_alive(uint32_t pid, uint64_t start_ns)
{
	char path[64], buf[1024], *rp;
	unsigned long long start;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			  "%*d %*d %*d %llu", &start) != 1)
		return true; /* unreadable: assume alive rather than end a live session */
	return start == start_ns / NS_PER_TICK;
}

void sessions_reap(struct agent *a, uint64_t now_boot_ns)
{
	struct session *s;

	for (s = a->sessions; s; s = s->next) {
		if (s->ended || s->end_pending || root_alive(s->root_pid, s->root_start))
			continue;
		log_warn("session %s: root pid %u is gone but its exit was not seen (lost record)",
			 s->id, s->root_pid);
		s->end_pending = true;
		s->exit_unknown = true;
		s->end_ns = now_boot_ns;
	}
}

void sessions_free(struct agent *a)
{
	struct session *s = a->sessions;

	while (s) {
		struct session *next = s->next;

		free(s->root_exe);
		free(s);
		s = next;
	}
	a->sessions = NULL;
}
