// SPDX-License-Identifier: Apache-2.0
/*
 * pid -> what we know about the process (exe, argv, cwd, session), fed by exec and fork records
 * and the /proc scan. Entries stay a while after exit so late records (file and network lanes
 * are drained separately) still find their process.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/proctable.h"

#define PT_BUCKETS 4096
#define USER_CACHE 64

struct pt_entry {
	struct pt_entry *next;
	struct proc_info info;
};

struct user_cache {
	uint32_t uid;
	char name[64];
	int used;
};

struct proctable {
	struct pt_entry *buckets[PT_BUCKETS];
	size_t count;
	struct user_cache users[USER_CACHE];
	int next_user;
};

static struct proctable *table(struct agent *a)
{
	if (!a->procs)
		a->procs = calloc(1, sizeof(*a->procs));
	return a->procs;
}

struct proc_info *proctable_get(struct agent *a, uint32_t pid)
{
	struct proctable *t = table(a);
	struct pt_entry *e;

	if (!t)
		return NULL;
	for (e = t->buckets[pid % PT_BUCKETS]; e; e = e->next)
		if (e->info.pid == pid)
			return &e->info;
	return NULL;
}

static void free_info(struct proc_info *p)
{
	size_t i;

	free(p->exe);
	free(p->cwd);
	if (p->argv) {
		for (i = 0; i < p->argc; i++)
			free(p->argv[i]);
		free(p->argv);
	}
}

/* Returns the live entry for pid, replacing an exited one (pid reuse) with a fresh one. */
struct proc_info *proctable_upsert(struct agent *a, uint32_t pid)
{
	struct proctable *t = table(a);
	struct proc_info *p = proctable_get(a, pid);
	struct pt_entry *e;

	if (p && !p->exited_ns)
		return p;
	if (p) {
		free_info(p);
		memset(p, 0, sizeof(*p));
		p->pid = pid;
		return p;
	}
	if (!t)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->info.pid = pid;
	e->next = t->buckets[pid % PT_BUCKETS];
	t->buckets[pid % PT_BUCKETS] = e;
	t->count++;
	return &e->info;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
}

void proctable_set_exe(struct proc_info *p, const char *exe)
{
	set_str(&p->exe, exe);
}

void proctable_set_cwd(struct proc_info *p, const char *cwd)
{
	set_str(&p->cwd, cwd);
}

void proctable_set_argv(struct proc_info *p, const char *const *argv, size_t argc)
{
	size_t i;

	if (p->argv) {
		for (i = 0; i < p->argc; i++)
			free(p->argv[i]);
		free(p->argv);
	}
	p->argv = calloc(argc + 1, sizeof(char *));
	p->argc = 0;
	if (!p->argv)
		return;
	for (i = 0; i < argc; i++) {
		p->argv[i] = strdup(argv[i] ? argv[i] : "");
		if (!p->argv[i])
			break;
		p->argc++;
	}
}

void proctable_exited(struct agent *a, uint32_t pid, uint64_t boot_ns)
{
	struct proc_info *p = proctable_get(a, pid);

	if (p && !p->exited_ns)
		p->exited_ns = boot_ns ? boot_ns : 1;
}

void proctable_expire(struct agent *a, uint64_t now_boot_ns, uint64_t age_ns)
{
	struct proctable *t = a->procs;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < PT_BUCKETS; i++) {
		struct pt_entry **pp = &t->buckets[i];

		while (*pp) {
			struct pt_entry *e = *pp;

			if (e->info.exited_ns && e->info.exited_ns + age_ns < now_boot_ns) {
				*pp = e->next;
				free_info(&e->info);
				free(e);
				t->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

/* Marks gone the live entries whose process no longer exists (their exit record was lost). */
void proctable_reap(struct agent *a, uint64_t now_boot_ns)
{
	struct proctable *t = a->procs;
	struct pt_entry *e;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < PT_BUCKETS; i++)
		for (e = t->buckets[i]; e; e = e->next)
			if (!e->info.exited_ns && kill(e->info.pid, 0) && errno == ESRCH)
				e->info.exited_ns = now_boot_ns;
}

size_t proctable_count(struct agent *a)
{
	struct proctable *t = a->procs;
	size_t i, n = 0;
	struct pt_entry *e;

	if (!t)
		return 0;
	for (i = 0; i < PT_BUCKETS; i++)
		for (e = t->buckets[i]; e; e = e->next)
			if (!e->info.exited_ns)
				n++;
	return n;
}

void proctable_free(struct agent *a)
{
	struct proctable *t = a->procs;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < PT_BUCKETS; i++) {
		struct pt_entry *e = t->buckets[i];

		while (e) {
			struct pt_entry *next = e->next;

			free_info(&e->info);
			free(e);
			e = next;
		}
	}
	free(t);
	a->procs = NULL;
}

/* getpwuid can read files or ask NSS: cache the answer, it is asked for every event */
const char *user_name(struct agent *a, uint32_t uid)
{
	struct proctable *t = table(a);
	struct passwd pw, *res = NULL;
	char buf[1024];
	int i;

	if (!t)
		return "";
	for (i = 0; i < USER_CACHE; i++)
		if (t->users[i].used && t->users[i].uid == uid)
			return t->users[i].name;
	i = t->next_user;
	t->next_user = (t->next_user + 1) % USER_CACHE;
	t->users[i].used = 1;
	t->users[i].uid = uid;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(t->users[i].name, sizeof(t->users[i].name), "%s", res->pw_name);
	else
		snprintf(t->users[i].name, sizeof(t->users[i].name), "%u", uid);
	return t->users[i].name;
}
