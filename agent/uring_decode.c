// SPDX-License-Identifier: Apache-2.0
/*
 * The uring module: io_uring and io_uring_setup events (bpf/uring.h): what a session did
 * through a ring, where the syscall hooks can't see. A relative name is joined with the
 * directory the kernel walked at submission, like file events, but lexically only.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "agent/partsoff.h"
#include "agent/file_decode.h"
#include "agent/module.h"
#include "agent/net_decode.h"
#include "agent/sweep.h"
#include "agent/uring_decode.h"
#include "bpf/aitrail.skel.h"
#include "bpf/net.h"
#include "bpf/uring.h"
#include "common/log.h"
#include "common/util.h"

/* A request not completed by then is reported without its result (a blocked open, a ring torn
 * down with requests in flight): the event must not wait for ever, nor the map fill up. */
#define URING_HOLD_MAX_MS 10000

_Static_assert(sizeof(struct at_uring_setup) % 8 == 0, "ring buffer records are 8-byte aligned");
_Static_assert(offsetof(struct at_uring_op, data) % 8 == 0, "data starts 8-byte aligned");

static const char *op_name(unsigned int op)
{
	switch (op) {
	case 16:
		return "connect";
	case 18:
		return "openat";
	case 28:
		return "openat2";
	case 35:
		return "renameat";
	case 36:
		return "unlinkat";
	case 37:
		return "mkdirat";
	case 38:
		return "symlinkat";
	case 39:
		return "linkat";
	}
	return NULL;
}

/* name as passed, joined to base when relative; "" when absent. */
static char *join(const char *base, size_t base_len, const char *name, size_t name_len,
		  struct arena *ar)
{
	char buf[AT_URING_BASE + AT_URING_NAME + 2];

	if (!name_len)
		return arena_strndup(ar, "", 1);
	if (name[0] == '/' || !base_len || !base[0])
		snprintf(buf, sizeof(buf), "%.*s", (int)name_len, name);
	else
		snprintf(buf, sizeof(buf), "%.*s/%.*s", (int)base_len, base, (int)name_len, name);
	if (buf[0] == '/')
		file_path_collapse(buf);
	return arena_strndup(ar, buf, sizeof(buf));
}

/* A string field of data: NUL-terminated within its slot, or the record is malformed. */
static int field(const struct at_uring_op *r, size_t len, size_t off, size_t cap, size_t n,
		 const char **out)
{
	*out = r->data + off;
	if (!n)
		return 0;
	if (n > cap || offsetof(struct at_uring_op, data) + off + n > len || r->data[off + n - 1])
		return -EINVAL;
	return 0;
}

int uring_op_fill(const struct at_uring_op *r, size_t len, Aitrail__V1__UringOp *u,
		  struct arena *ar)
{
	static struct file_op_text t; /* flag names only; one record at a time */
	const char *name, *name2, *base;
	char addr[INET6_ADDRSTRLEN];

	if (len < offsetof(struct at_uring_op, data) || !op_name(r->opcode) ||
	    field(r, len, 0, AT_URING_NAME, r->name_len, &name) ||
	    field(r, len, AT_URING_NAME, AT_URING_NAME, r->name2_len, &name2) ||
	    field(r, len, 2 * AT_URING_NAME, AT_URING_BASE, r->base_len, &base))
		return -EINVAL;
	u->op = (char *)op_name(r->opcode);
	u->fd = r->fd;
	u->result = r->result < 0 ? r->result : 0;
	if (r->opcode == 18 || r->opcode == 28)
		u->new_fd = r->result >= 0 && !(r->uflags & AT_URING_F_DIRECT) ? r->result : -1;
	u->completed = r->uflags & AT_URING_F_COMPLETED;
	u->mode = r->mode;
	if (r->opcode == 16) {
		if (r->family != AF_INET && r->family != AF_INET6)
			return 0; /* the address could not be read: the op is still reported */
		inet_ntop(r->family, r->addr, addr, sizeof(addr));
		u->daddr = arena_strndup(ar, addr, sizeof(addr));
		u->family = r->family == AF_INET ? "inet" : "inet6";
		u->dport = r->port;
		return u->daddr ? 0 : -ENOMEM;
	}
	if (r->opcode == 38) /* symlinkat: the target is text, not resolved */
		u->path = arena_strndup(ar, name, r->name_len ? r->name_len : 1);
	else
		u->path = join(base, r->base_len, name, r->name_len, ar);
	/* the second name resolves from its own dirfd; joined only when that is the same one */
	if (r->name2_len)
		u->new_path = join(r->fd2 == r->fd ? base : "", r->fd2 == r->fd ? r->base_len : 0,
				   name2, r->name2_len, ar);
	if (!u->path || (r->name2_len && !u->new_path))
		return -ENOMEM;
	if (r->opcode == 18 || r->opcode == 28) {
		t.n_flags = 0;
		file_open_flags(r->open_flags, &t);
		u->flags = arena_alloc(ar, sizeof(char *) * (t.n_flags ? t.n_flags : 1));
		if (!u->flags)
			return -ENOMEM;
		for (size_t i = 0; i < t.n_flags; i++) {
			u->flags[i] = arena_strndup(ar, t.flags[i], 32);
			if (!u->flags[i])
				return -ENOMEM;
		}
		u->n_flags = t.n_flags;
	}
	return 0;
}

/*
 * A connect through a ring is a net_connect like any other (syscall io_uring_connect): named,
 * classed and reported with the rest. Without a completion its outcome is EINPROGRESS.
 */
static int connect_event(const struct at_uring_op *r, at_event *ev, struct arena *ar)
{
	struct at_net_connect c;

	memset(&c, 0, sizeof(c));
	c.hdr = r->hdr;
	c.hdr.type = AT_REC_NET_CONNECT;
	c.hdr.size = sizeof(c);
	c.family = r->family;
	c.sock_type = r->sock_type;
	c.protocol = r->protocol;
	c.dport = r->port;
	c.sport = r->sport;
	c.syscall = AT_NET_SYS_URING_CONNECT;
	c.result = r->uflags & AT_URING_F_COMPLETED ? r->result : -EINPROGRESS;
	if (!c.sock_type)
		c.nflags |= AT_NET_F_NO_SOCK;
	memcpy(c.daddr, r->addr, sizeof(c.daddr));
	ev->type = "net_connect";
	return net_connect_event(&c.hdr, &c, sizeof(c), ev, ar);
}

static int decode_op(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		     at_event *ev, struct arena *ar)
{
	Aitrail__V1__UringOp *u = arena_alloc(ar, sizeof(*u));
	const struct at_uring_op *r = rec;
	int err;

	if (len >= offsetof(struct at_uring_op, data) && r->opcode == 16 &&
	    (r->family == AF_INET || r->family == AF_INET6))
		return connect_event(r, ev, ar);
	if (!u)
		return -ENOMEM;
	aitrail__v1__uring_op__init(u);
	err = uring_op_fill(r, len, u, ar);
	if (err)
		return err;
	if (r->uflags & (AT_URING_F_NAME_TRUNC | AT_URING_F_BASE_TRUNC))
		ev_add_truncated(ev, ar, "path");
	ev->type = "io_uring";
	ev->body_case = AITRAIL__V1__EVENT__BODY_IO_URING;
	ev->io_uring = u;
	return 0;
}

static int decode_setup(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			at_event *ev, struct arena *ar)
{
	const struct at_uring_setup *r = rec;
	Aitrail__V1__UringOp *u = arena_alloc(ar, sizeof(*u));

	if (!u)
		return -ENOMEM;
	aitrail__v1__uring_op__init(u);
	u->op = "setup";
	u->fd = r->fd;
	u->result = r->fd < 0 ? r->fd : 0;
	u->completed = true;
	u->sq_entries = r->sq_entries;
	u->setup_flags = r->flags;
	ev->type = "io_uring_setup";
	ev->body_case = AITRAIL__V1__EVENT__BODY_IO_URING;
	ev->io_uring = u;
	return 0;
}

static const struct agent_rec uring_recs[] = {
	{ AT_REC_URING_OP, offsetof(struct at_uring_op, data), NULL, decode_op },
	{ AT_REC_URING_SETUP, sizeof(struct at_uring_setup), NULL, decode_setup },
	{ 0 },
};

static size_t op_size(void *rec)
{
	struct at_uring_op *r = rec;

	r->hdr.size = (offsetof(struct at_uring_op, data) + 2 * AT_URING_NAME + r->base_len + 7) &
		      ~7u;
	if (r->hdr.size > sizeof(*r))
		r->hdr.size = sizeof(*r);
	return r->hdr.size;
}

/* Reports held requests: those past their time, or all of them (all: the agent's shutdown). */
static void uring_sweep(struct agent *a, bool all)
{
	static struct at_uring_op r; /* 6 KiB: one at a time, from the one loop */

	if (!a->skel || bpf_map__fd(a->skel->maps.uring_pending) < 0)
		return;
	for (int i = 0; i < (all ? 1024 / 64 : 1); i++)
		if (!sweep_held(a, bpf_map__fd(a->skel->maps.uring_pending), &r,
				all ? 0 : URING_HOLD_MAX_MS * 1000000ULL, op_size, &uring_recs[0]))
			break;
}

/*
 * io_uring's tracepoints changed between the kernels fleets run: 6.1 submits at
 * io_uring_submit_sqe (renamed io_uring_submit_req later, same first argument, the request),
 * and 6.1 and 6.12 pass io_uring_complete the result as its fourth argument where newer kernels
 * (6.18) pass the cqe. The submit programs are pointed at whichever name this kernel has; of
 * each completion program and its *_res twin, the one matching the kernel's arguments loads.
 */
static struct {
	bool probed;
	const char *submit;  /* tracepoint name, NULL when absent */
	int complete_args;   /* io_uring_complete's arguments: 3 (cqe), 7 (result), 0 absent */
	char why[160];       /* why io_uring is off, when it is */
} utp;

static void uring_probe(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	const struct btf_type *t;
	int id;

	utp.probed = true;
	if (!vmlinux) {
		snprintf(utp.why, sizeof(utp.why), "no kernel BTF");
		return;
	}
	if (btf__find_by_name_kind(vmlinux, "btf_trace_io_uring_submit_req", BTF_KIND_TYPEDEF) > 0)
		utp.submit = "io_uring_submit_req";
	else if (btf__find_by_name_kind(vmlinux, "btf_trace_io_uring_submit_sqe",
					BTF_KIND_TYPEDEF) > 0)
		utp.submit = "io_uring_submit_sqe";
	/* btf_trace_X is a pointer to the probe's prototype, whose first argument is __data */
	id = btf__find_by_name_kind(vmlinux, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
	t = t ? btf__type_by_id(vmlinux, t->type) : NULL;
	t = t && btf_is_ptr(t) ? btf__type_by_id(vmlinux, t->type) : NULL;
	if (t && btf_is_func_proto(t))
		utp.complete_args = btf_vlen(t) - 1;
	btf__free(vmlinux);
	if (!utp.submit)
		snprintf(utp.why, sizeof(utp.why), "no io_uring_submit_req or io_uring_submit_sqe "
			 "tracepoint: a kernel without io_uring");
	else if (utp.complete_args != 3 && utp.complete_args != 7)
		snprintf(utp.why, sizeof(utp.why), "io_uring_complete tracepoint with %d arguments, "
			 "a layout this build does not know", utp.complete_args);
	if (utp.why[0])
		log_info("io_uring is off: %s", utp.why);
	else
		log_info("io_uring: submissions at %s, results from io_uring_complete's %s",
			 utp.submit, utp.complete_args == 7 ? "result argument" : "cqe");
}

/* Before load: points the io_uring programs at this kernel's tracepoints, or turns them off. */
static void uring_autoload(struct bpf_object *obj)
{
	struct bpf_program *prog;

	if (!utp.probed)
		uring_probe();
	if (utp.why[0])
		part_off("io_uring", utp.why);
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog), *name = bpf_program__name(prog);
		size_t n = strlen(name);
		bool res_twin = n > 4 && !strcmp(name + n - 4, "_res");

		if (strncmp(sec, "tp_btf/io_uring_", 16))
			continue;
		if (utp.why[0])
			bpf_program__set_autoload(prog, false);
		else if (!strcmp(sec, "tp_btf/io_uring_complete"))
			bpf_program__set_autoload(prog, res_twin == (utp.complete_args == 7));
		else if (!strcmp(sec, "tp_btf/io_uring_submit_req") &&
			 strcmp(utp.submit, "io_uring_submit_req") &&
			 bpf_program__set_attach_target(prog, 0, utp.submit))
			log_warn("failed to point %s at %s: its io_uring events will be missing",
				 name, utp.submit);
	}
}

const struct agent_module uring_module = {
	.name = "uring",
	.progs = (const char *const[]){ "uring_", NULL },
	.recs = uring_recs,
	.parts = (const struct agent_part[]){
		{ "io_uring", "uring_submit", "on", "off" },
		{ NULL },
	},
	.autoload = uring_autoload,
	/* requests held past their time without a completion; all of them at shutdown */
	.held = &(const struct sweeper){ "io_uring", URING_HOLD_MAX_MS / 4, uring_sweep },
};
