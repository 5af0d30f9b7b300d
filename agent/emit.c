// SPDX-License-Identifier: Apache-2.0
/*
 * Record -> event -> sinks. Everything that emits comes through here; the session table sees
 * each event on its way (a late session_start, the session's counts) before the sinks do.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/emit.h"
#include "agent/module.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "agent/sink.h"
#include "common/log.h"

void agent_fill_event(struct agent *a, at_event *ev, const struct at_hdr *h, struct arena *ar)
{
	Aitrail__V1__Session *sess = arena_alloc(ar, sizeof(*sess));
	Aitrail__V1__Proc *proc = arena_alloc(ar, sizeof(*proc));
	struct proc_info *p = proctable_get(a, h->pid);

	ev->ts = boot_to_unix_ns(a, h->ts);
	ev->host = a->hostname;
	if (sess && h->root_pid) {
		aitrail__v1__session__init(sess);
		ev->session = sess;
		session_fill_event(a, ev, h->root_pid, h->root_start, h->tool);
	}
	if (proc) {
		aitrail__v1__proc__init(proc);
		proc->pid = h->pid;
		proc->ppid = h->ppid;
		proc->uid = h->uid;
		proc->user = (char *)user_name(a, h->uid);
		proc->comm = arena_strndup(ar, h->comm, sizeof(h->comm));
		proc->exe = p && p->exe ? p->exe : "";
		ev->proc = proc;
	}
}

int agent_emit(struct agent *a, at_event *ev)
{
	session_check_started(a, ev);
	session_count_event(a, ev);
	return sinks_write(a, ev);
}

int agent_emit_record(struct agent *a, const struct agent_rec *rt, const void *data, size_t size)
{
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct at_hdr h;
	int ret;

	a->records_read++;
	if (size < sizeof(h)) {
		a->decode_errors++;
		log_debug("record of %zu bytes is shorter than its header", size);
		return 0;
	}
	memcpy(&h, data, sizeof(h));
	if (!rt || rt->type != h.type || size < rt->min_size || h.size > size) {
		a->decode_errors++;
		log_debug("bad record: type %u, %zu bytes (header says %u)", h.type, size, h.size);
		return 0;
	}
	ev.type = (char *)(rt->name ? rt->name : "");
	agent_fill_event(a, &ev, &h, &a->arena);
	ret = rt->decode(a, &h, data, size, &ev, &a->arena);
	if (ret < 0) {
		a->decode_errors++;
		log_debug("failed to decode record type %u: %s", h.type, strerror(-ret));
	} else if (ret == 0) {
		agent_emit(a, &ev);
	}
	arena_reset(&a->arena);
	return 0;
}
