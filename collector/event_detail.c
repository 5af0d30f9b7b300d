// SPDX-License-Identifier: Apache-2.0
/*
 * One-line summaries of event bodies. Stored as a column so that tables and timelines read
 * without unpacking every event; the packed event stays the source of truth.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "collector/event_detail.h"
#include "common/util.h"

struct sbuf {
	char *p;
	size_t len, off;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->off >= b->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->off, b->len - b->off, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->off += (size_t)n < b->len - b->off ? (size_t)n : b->len - b->off - 1;
}

static void sb_result(struct sbuf *b, int32_t result)
{
	char eb[16];

	if (result)
		sb_add(b, " = %s", errno_name(result, eb, sizeof(eb)));
}

/* " [O_WRONLY|O_CREAT]", or nothing */
static void sb_flags(struct sbuf *b, size_t n, char **flags)
{
	if (!n)
		return;
	sb_add(b, " [");
	for (size_t i = 0; i < n; i++)
		sb_add(b, "%s%s", i ? "|" : "", flags[i]);
	sb_add(b, "]");
}

static void sb_argv(struct sbuf *b, size_t n, char **argv)
{
	for (size_t i = 0; i < n; i++)
		sb_add(b, "%s%s", i ? " " : "", argv[i]);
}

void event_detail(const Aitrail__V1__Event *ev, char *buf, size_t len)
{
	struct sbuf b = { buf, len, 0 };

	buf[0] = '\0';
	switch (ev->body_case) {
	case AITRAIL__V1__EVENT__BODY_SESSION_START:
		sb_argv(&b, ev->session_start->n_argv, ev->session_start->argv);
		if (ev->session_start->cwd[0])
			sb_add(&b, " (in %s)", ev->session_start->cwd);
		break;
	case AITRAIL__V1__EVENT__BODY_SESSION_END:
		if (ev->session_end->signal[0])
			sb_add(&b, "killed by %s", ev->session_end->signal);
		else
			sb_add(&b, "exit %d", ev->session_end->exit_code);
		break;
	case AITRAIL__V1__EVENT__BODY_EXEC:
		if (ev->exec->n_argv)
			sb_argv(&b, ev->exec->n_argv, ev->exec->argv);
		else
			sb_add(&b, "%s", ev->exec->exe);
		if (ev->exec->nested_tool[0])
			sb_add(&b, " [nested %s]", ev->exec->nested_tool);
		break;
	case AITRAIL__V1__EVENT__BODY_EXIT:
		if (ev->exit->signal[0])
			sb_add(&b, "killed by %s", ev->exit->signal);
		else
			sb_add(&b, "exit %d", ev->exit->exit_code);
		break;
	case AITRAIL__V1__EVENT__BODY_NET_CONNECT: {
		const Aitrail__V1__NetConnect *n = ev->net_connect;

		if (!strcmp(n->family, "inet6"))
			sb_add(&b, "%s [%s]:%u", n->proto, n->daddr, n->dport);
		else if (!strcmp(n->family, "unix"))
			sb_add(&b, "%s %s", n->proto, n->daddr);
		else
			sb_add(&b, "%s %s:%u", n->proto, n->daddr, n->dport);
		sb_result(&b, n->result);
		if (n->dst_name[0])
			sb_add(&b, " %s", n->dst_name);
		if (n->vendor[0])
			sb_add(&b, " [%s %s]", n->dst_class, n->vendor);
		if (n->name_mismatch)
			sb_add(&b, " NAME MISMATCH (DNS: %s)", n->dns_name);
		break;
	}
	case AITRAIL__V1__EVENT__BODY_NET_CLOSE: {
		const Aitrail__V1__NetClose *c = ev->net_close;

		sb_add(&b, "%s %s:%u sent %llu received %llu in %.1f s%s", c->proto,
		       c->dst_name[0] ? c->dst_name : c->daddr, c->dport,
		       (unsigned long long)c->bytes_sent, (unsigned long long)c->bytes_received,
		       c->duration_ns / 1e9, c->final ? "" : " (open)");
		if (c->vendor[0])
			sb_add(&b, " [%s %s]", c->dst_class, c->vendor);
		break;
	}
	case AITRAIL__V1__EVENT__BODY_FILE: {
		const Aitrail__V1__FileOp *f = ev->file;

		sb_add(&b, "%s", f->path);
		if (f->new_path[0])
			sb_add(&b, " -> %s", f->new_path);
		sb_flags(&b, f->n_flags, f->flags);
		sb_result(&b, f->result);
		break;
	}
	case AITRAIL__V1__EVENT__BODY_IO_URING: {
		const Aitrail__V1__UringOp *u = ev->io_uring;

		if (!strcmp(u->op, "setup")) {
			sb_add(&b, "ring fd %d, %u entries", u->fd, u->sq_entries);
			break;
		}
		sb_add(&b, "%s ", u->op);
		if (u->daddr[0])
			sb_add(&b, strcmp(u->family, "inet6") ? "%s:%u" : "[%s]:%u", u->daddr,
			       u->dport);
		else
			sb_add(&b, "%s", u->path);
		if (u->new_path[0])
			sb_add(&b, " -> %s", u->new_path);
		sb_flags(&b, u->n_flags, u->flags);
		if (u->completed && u->result)
			sb_result(&b, u->result);
		else if (u->completed && (!strcmp(u->op, "openat") || !strcmp(u->op, "openat2")))
			sb_add(&b, " = fd %d", u->new_fd);
		else if (!u->completed)
			sb_add(&b, " (no completion seen)");
		break;
	}
	case AITRAIL__V1__EVENT__BODY_FILE_WRITE: {
		const Aitrail__V1__FileWrite *w = ev->file_write;

		sb_add(&b, "%s %lld bytes", w->path, (long long)w->size);
		if (w->renamed_from[0])
			sb_add(&b, " (saved via %s)", w->renamed_from);
		if (w->sha256[0])
			sb_add(&b, " sha256:%.16s", w->sha256);
		else
			sb_add(&b, " not hashed: %s", w->not_hashed);
		break;
	}
	case AITRAIL__V1__EVENT__BODY_FILE_READ_DIRS: {
		const Aitrail__V1__FileReadDirs *d = ev->file_read_dirs;

		sb_add(&b, "reads in %zu directories outside %s, %llu inside", d->n_dirs,
		       d->cwd[0] ? d->cwd : "the working directory",
		       (unsigned long long)d->inside_cwd);
		break;
	}
	case AITRAIL__V1__EVENT__BODY_FILE_READ:
		sb_add(&b, "%s (sensitive: %s)", ev->file_read->path, ev->file_read->pattern);
		break;
	case AITRAIL__V1__EVENT__BODY_GAP:
		sb_add(&b, "lost %llu events (seq %llu-%llu): %s",
		       (unsigned long long)ev->gap->events, (unsigned long long)ev->gap->from_seq,
		       (unsigned long long)ev->gap->to_seq, ev->gap->reason);
		break;
	case AITRAIL__V1__EVENT__BODY_POLICY_DECISION: {
		const Aitrail__V1__PolicyDecision *p = ev->policy_decision;

		sb_add(&b, "%s %s %s (%s, rule %s)", p->action, p->category, p->target, p->outcome,
		       p->rule_id);
		break;
	}
	case AITRAIL__V1__EVENT__BODY_AGENT_STATS:
		sb_add(&b, "%llu events emitted", (unsigned long long)ev->agent_stats->events_emitted);
		break;
	default:
		break;
	}
}
