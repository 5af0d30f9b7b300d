// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * io_uring operations of tracked processes. A request is taken at io_uring_submit_req
 * (io_uring_submit_sqe before Linux 6.4: agent/uring_decode.c points the program there), after
 * the kernel has prepared it (names are already copied into kernel memory, so what is reported
 * is what the kernel will use), kept by its address until io_uring_complete gives its result,
 * then sent. Reads and writes on a ring are not reported one by one: the open that gave the fd
 * is. A relative name's directory is walked at submission, in the submitter's context.
 */
#include "bpf/common.bpf.h"
#include <bpf/bpf_endian.h>
#include "bpf/path.bpf.h"

#include "bpf/uring.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Requests submitted and not yet completed, by the request's address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct at_uring_op);
} uring_pending SEC(".maps");

SEC("tp_btf/io_uring_create")
int BPF_PROG(uring_create, int fd, void *ring, __u32 sq_entries, __u32 cq_entries, __u32 flags)
{
	struct at_session_ref *s = at_tracked(bpf_get_current_pid_tgid() >> 32);
	struct at_uring_setup r = {};

	if (!s)
		return 0;
	at_fill_hdr(&r.hdr, AT_REC_URING_SETUP, sizeof(r), s);
	r.fd = fd;
	r.sq_entries = sq_entries;
	r.cq_entries = cq_entries;
	r.flags = flags;
	at_output(&rb_core, &r, sizeof(r), AT_CNT_RB_CORE_FULL);
	return 0;
}

/* Reads a kernel name into data at off (0 or AT_URING_NAME); returns its length with NUL. */
static __always_inline __u16 uring_name(struct at_uring_op *r, __u32 off, struct filename *fn)
{
	const char *p = BPF_CORE_READ(fn, name);
	long n;

	if (!p) {
		r->uflags |= AT_URING_F_NAME_TRUNC;
		return 0;
	}
	n = bpf_probe_read_kernel_str(&r->data[off & AT_URING_NAME], AT_URING_NAME, p);
	if (n <= 0) {
		r->uflags |= AT_URING_F_NAME_TRUNC;
		return 0;
	}
	if (n == AT_URING_NAME)
		r->uflags |= AT_URING_F_NAME_TRUNC; /* may be exactly full; said either way */
	return n;
}

/* Rename, symlink and link: two names, each with its dirfd, and the call's flags. */
static __always_inline void uring_names2(struct at_uring_op *r, int dfd, struct filename *name,
					 int dfd2, struct filename *name2, __u32 flags)
{
	r->fd = dfd;
	r->fd2 = dfd2;
	r->open_flags = flags;
	r->name_len = uring_name(r, 0, name);
	r->name2_len = uring_name(r, AT_URING_NAME, name2);
}

/* The directory a relative name resolves from, walked now, in the submitter's context. */
static __always_inline void uring_base(struct at_uring_op *r, int dfd)
{
	__u32 pflags = 0, n;

	if (!r->name_len || r->data[0] == '/')
		return;
	n = at_dirfd_path(dfd, &r->data[2 * AT_URING_NAME], &pflags);
	if (!n || (pflags & (AT_PATH_F_TRUNC | AT_PATH_F_NOFILE)))
		r->uflags |= AT_URING_F_BASE_TRUNC;
	r->base_len = n < AT_URING_BASE ? n : AT_URING_BASE;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit, struct io_kiocb *req)
{
	struct at_session_ref *s = at_tracked(bpf_get_current_pid_tgid() >> 32);
	void *cmd = &req->cmd;
	struct at_uring_op *r;
	__u64 key = (__u64)req;
	__u8 op;

	if (!s)
		return 0;
	op = BPF_CORE_READ(req, opcode);
	switch (op) {
	case IORING_OP_CONNECT: case IORING_OP_OPENAT: case IORING_OP_OPENAT2:
	case IORING_OP_RENAMEAT: case IORING_OP_UNLINKAT: case IORING_OP_MKDIRAT:
	case IORING_OP_SYMLINKAT: case IORING_OP_LINKAT:
		break;
	default:
		return 0;
	}
	r = at_heap();
	if (!r)
		return 0;
	__builtin_memset(r, 0, offsetof(struct at_uring_op, data));
	at_fill_hdr(&r->hdr, AT_REC_URING_OP, sizeof(*r), s);
	r->opcode = op;
	r->data[0] = r->data[AT_URING_NAME] = 0;
	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2) {
		struct io_open *o = cmd;

		r->fd = BPF_CORE_READ(o, dfd);
		r->open_flags = BPF_CORE_READ(o, how.flags);
		r->mode = BPF_CORE_READ(o, how.mode);
		if (BPF_CORE_READ(o, file_slot))
			r->uflags |= AT_URING_F_DIRECT;
		r->name_len = uring_name(r, 0, BPF_CORE_READ(o, filename));
	} else if (op == IORING_OP_UNLINKAT) {
		struct io_unlink *u = cmd;

		r->fd = BPF_CORE_READ(u, dfd);
		r->open_flags = BPF_CORE_READ(u, flags);
		r->name_len = uring_name(r, 0, BPF_CORE_READ(u, filename));
	} else if (op == IORING_OP_MKDIRAT) {
		struct io_mkdir *m = cmd;

		r->fd = BPF_CORE_READ(m, dfd);
		r->mode = BPF_CORE_READ(m, mode);
		r->name_len = uring_name(r, 0, BPF_CORE_READ(m, filename));
	} else if (op == IORING_OP_RENAMEAT) {
		struct io_rename *n = cmd;

		uring_names2(r, BPF_CORE_READ(n, old_dfd), BPF_CORE_READ(n, oldpath),
			     BPF_CORE_READ(n, new_dfd), BPF_CORE_READ(n, newpath),
			     BPF_CORE_READ(n, flags));
	} else if (op == IORING_OP_SYMLINKAT || op == IORING_OP_LINKAT) {
		struct io_link *l = cmd;

		uring_names2(r, BPF_CORE_READ(l, old_dfd), BPF_CORE_READ(l, oldpath),
			     BPF_CORE_READ(l, new_dfd), BPF_CORE_READ(l, newpath),
			     BPF_CORE_READ(l, flags));
	} else {
		struct io_connect *c = cmd;
		struct sockaddr_in6 sa = {};
		struct sockaddr *uaddr = BPF_CORE_READ(c, addr);

		r->fd = BPF_CORE_READ(req, cqe.fd);
		/* the address as the process passed it; the kernel's copy moved between releases */
		if (bpf_probe_read_user(&sa, sizeof(sa), uaddr)) {
			at_count(AT_CNT_READ_USER_FAIL);
		} else if (sa.sin6_family == AF_INET) {
			struct sockaddr_in *in = (void *)&sa;

			r->family = AF_INET;
			r->port = bpf_ntohs(in->sin_port);
			__builtin_memcpy(r->addr, &in->sin_addr, 4);
		} else if (sa.sin6_family == AF_INET6) {
			r->family = AF_INET6;
			r->port = bpf_ntohs(sa.sin6_port);
			__builtin_memcpy(r->addr, &sa.sin6_addr, 16);
		}
	}
	if (op != IORING_OP_CONNECT && op != IORING_OP_SYMLINKAT)
		uring_base(r, r->fd);
	at_keep_pending(&uring_pending, &key, r);
	return 0;
}

static __always_inline int uring_completed(void *req, __s32 res)
{
	__u64 key = (__u64)req;
	struct at_uring_op *r = bpf_map_lookup_elem(&uring_pending, &key);
	__u32 n;

	if (!r)
		return 0;
	r->result = res;
	r->uflags |= AT_URING_F_COMPLETED;
	if (r->opcode == IORING_OP_CONNECT) {
		struct socket *sock = BPF_CORE_READ((struct io_kiocb *)req, file, private_data);
		struct sock *sk = BPF_CORE_READ(sock, sk);

		r->sock_type = BPF_CORE_READ(sk, sk_type);
		r->protocol = BPF_CORE_READ(sk, sk_protocol);
		r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	r->hdr.ts = bpf_ktime_get_boot_ns();
	n = r->base_len;
	n = (offsetof(struct at_uring_op, data) + 2 * AT_URING_NAME + n + 7) & ~7u;
	if (n > sizeof(*r))
		n = sizeof(*r);
	r->hdr.size = n;
	/* whoever deletes the entry sends it: the agent's sweep may have taken it meanwhile */
	if (!bpf_map_delete_elem(&uring_pending, &key))
		at_output(&rb_core, r, n, AT_CNT_RB_CORE_FULL);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	return uring_completed(req, BPF_CORE_READ(cqe, res));
}

/* 6.1 and 6.12 pass io_uring_complete the result itself (agent/uring_decode.c loads one of the two) */
SEC("?tp_btf/io_uring_complete")
int BPF_PROG(uring_complete_res, void *ring, void *req, __u64 user_data, int res)
{
	return uring_completed(req, res);
}
