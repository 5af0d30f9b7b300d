// SPDX-License-Identifier: Apache-2.0
/*
 * Ring-buffer record -> event. The table below is the one place a record type is bound to its
 * decoder: a module adds its rows (and includes its header) here.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "agent/core.h"
#include "agent/dns_decode.h"
#include "agent/file_decode.h"
#include "agent/fileio_agent.h"
#include "common/log.h"
#include "agent/net_decode.h"
#include "agent/netclose_decode.h"
#include "common/pbjson.h"
#include "agent/policy_run.h"
#include "bpf/policy.h"
#include "agent/session_decode.h"
#include "bpf/session.h"
#include "common/util.h"
#include "agent/uring_decode.h"

static const struct at_rec_type_info rec_types[] = {
	{ AT_REC_EXEC, sizeof(struct at_exec_rec), "exec", process_on_exec },
	{ AT_REC_SESSION_START, sizeof(struct at_exec_rec), "exec", process_on_session_start },
	{ AT_REC_FORK, sizeof(struct at_fork_rec), "fork", process_on_fork },
	{ AT_REC_EXIT, sizeof(struct at_exit_rec), "exit", process_on_exit },
	{ AT_REC_NET_CONNECT, sizeof(struct at_net_connect), "net_connect", net_decode_connect },
	{ AT_REC_NET_CONNECT_DATA, offsetof(struct at_net_connect_data, data), "net_connect",
	  net_decode_connect_data },
	{ AT_REC_NET_CLOSE, sizeof(struct at_net_close), "net_close", netclose_decode },
	{ AT_REC_FILE_OPEN, sizeof(struct at_file), NULL, file_decode },
	{ AT_REC_FILE_OP, sizeof(struct at_file), NULL, file_decode },
	{ AT_REC_DNS_MSG, offsetof(struct at_dns_msg, data), NULL, dns_decode_msg },
	{ AT_REC_POLICY_DECISION, sizeof(struct at_pol_decision), "policy_decision",
	  policy_decode_record },
	{ AT_REC_FIO_WOPEN, offsetof(struct at_fio_open, path), NULL, fileio_decode_wopen },
	{ AT_REC_FIO_CLOSE, sizeof(struct at_fio_close), NULL, fileio_decode_close },
	{ AT_REC_FIO_EXIT, sizeof(struct at_fio_close), NULL, fileio_decode_close },
	{ AT_REC_FIO_READ, offsetof(struct at_fio_open, path), "file_read", fileio_decode_read },
	{ AT_REC_FIO_RENAME, sizeof(struct at_fio_rename), NULL, fileio_decode_rename },
	{ AT_REC_FIO_HANDOVER, sizeof(struct at_fio_handover), NULL, fileio_decode_handover },
	{ AT_REC_FIO_RDIR, offsetof(struct at_fio_open, path), NULL, fileio_decode_rdir },
	{ AT_REC_URING_OP, offsetof(struct at_uring_op, data), NULL, uring_decode_op },
	{ AT_REC_URING_SETUP, sizeof(struct at_uring_setup), NULL, uring_decode_setup },
};

static const struct at_rec_type_info *find_type(uint32_t type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rec_types); i++)
		if (rec_types[i].type == type)
			return &rec_types[i];
	return NULL;
}

uint64_t boot_to_unix_ns(struct agent *a, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + a->boot_to_unix);
}

/* ts, host, session and proc from the header and the process table. */
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

int dispatch_record(struct agent *a, const void *data, size_t size)
{
	const struct at_rec_type_info *ti;
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
	ti = find_type(h.type);
	if (!ti || size < ti->min_size || h.size > size) {
		a->decode_errors++;
		log_debug("bad record: type %u, %zu bytes (header says %u)", h.type, size, h.size);
		return 0;
	}
	ev.type = (char *)(ti->name ? ti->name : "");
	agent_fill_event(a, &ev, &h, &a->arena);
	ret = ti->handler(a, &h, data, size, &ev, &a->arena);
	if (ret < 0) {
		a->decode_errors++;
		log_debug("failed to decode record type %u: %s", h.type, strerror(-ret));
	} else if (ret == 0) {
		agent_emit(a, &ev);
	}
	arena_reset(&a->arena);
	return 0;
}

int agent_add_sink(struct agent *a, agent_sink_fn fn, void *arg)
{
	if (a->n_sinks >= AGENT_MAX_SINKS)
		return -ENOSPC;
	a->sinks[a->n_sinks].fn = fn;
	a->sinks[a->n_sinks].arg = arg;
	a->n_sinks++;
	return 0;
}

int agent_emit(struct agent *a, at_event *ev)
{
	/* a sink may remove itself (broken stdout): iterate over a copy so no other sink misses
	 * this event */
	__typeof__(a->sinks[0]) sinks[AGENT_MAX_SINKS];
	int i, n = a->n_sinks, err = 0;

	session_check_started(a, ev);
	ev->seq = ++a->seq;
	a->events_emitted++;
	session_count_event(a, ev);
	memcpy(sinks, a->sinks, n * sizeof(sinks[0]));
	for (i = 0; i < n; i++) {
		int e = sinks[i].fn(a, ev, sinks[i].arg);

		if (e) {
			a->sink_errors++;
			err = e;
		}
	}
	return err;
}
