// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The first write on an established TCP connection of a tracked process: its first bytes say
 * which host the process meant (TLS ClientHello SNI, an HTTP proxy CONNECT, an HTTP Host
 * header) where the address alone cannot. The held connect record (net_estab) leaves the map
 * with those bytes attached. Parsing is user space's job.
 */
#include "bpf/net.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

AT_SCRATCH_MAP(fw_scratch, struct at_net_connect_data, 1);

/* buf/len: what the process wrote first on fd (a tracked process's, checked by the caller) */
static __always_inline int fw_capture_fd(__s32 fd, const void *buf, __u64 len)
{
	struct at_net_connect_data *d;
	struct at_net_connect *v;
	struct sock *sk;
	__u32 zero = 0, n;
	__u16 type;
	__u64 key;

	sk = net_fd_sock(fd, &type);
	if (!sk || type != SOCK_STREAM)
		return 0;
	key = (__u64)sk;
	v = bpf_map_lookup_elem(&net_estab, &key);
	if (!v)
		return 0;
	d = bpf_map_lookup_elem(&fw_scratch, &zero);
	if (!d)
		return 0;
	__builtin_memcpy(&d->c, v, sizeof(d->c));
	if (bpf_map_delete_elem(&net_estab, &key))
		return 0; /* the connection ended meanwhile and was reported */
	n = len < AT_NET_DATA_MAX ? len : AT_NET_DATA_MAX;
	barrier_var(n);
	n &= AT_NET_DATA_MAX * 2 - 1;
	if (n > AT_NET_DATA_MAX)
		n = AT_NET_DATA_MAX;
	if (n && buf && bpf_probe_read_user(d->data, n, buf)) {
		at_count(AT_CNT_READ_USER_FAIL);
		n = 0;
		d->c.hdr.flags |= AT_F_READ_FAIL;
	}
	d->data_len = n;
	d->write_len = len > 0xffffffffULL ? 0xffffffff : len;
	n = (offsetof(struct at_net_connect_data, data) + n + 7) & ~7u;
	if (n > sizeof(*d))
		n = sizeof(*d);
	d->c.hdr.type = AT_REC_NET_CONNECT_DATA;
	d->c.hdr.size = n;
	at_output(&rb_core, d, n, AT_CNT_RB_CORE_FULL);
	return 0;
}

static __always_inline int fw_capture(__s32 fd, const void *buf, __u64 len)
{
	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	return fw_capture_fd(fd, buf, len);
}

/* The first element of an iovec array: where a writev or sendmsg starts. */
static __always_inline int fw_capture_iov(__s32 fd, const struct iovec *iov)
{
	struct iovec v;

	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_probe_read_user(&v, sizeof(v), iov))
		return 0;
	return fw_capture(fd, v.iov_base, v.iov_len);
}

AT_SYS_ENTER(fw_write, write)
{
	return fw_capture(ctx->args[0], (const void *)ctx->args[1], ctx->args[2]);
}

AT_SYS_ENTER(fw_writev, writev)
{
	return fw_capture_iov(ctx->args[0], (const struct iovec *)ctx->args[1]);
}

AT_SYS_ENTER(fw_sendto, sendto)
{
	return fw_capture(ctx->args[0], (const void *)ctx->args[1], ctx->args[2]);
}

AT_SYS_ENTER(fw_sendmsg, sendmsg)
{
	struct user_msghdr m;

	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)ctx->args[1]) || !m.msg_iovlen)
		return 0;
	return fw_capture_iov(ctx->args[0], m.msg_iov);
}

/*
 * A send or write through an io_uring ring is the connection's first write all the same. The
 * ring has not picked the request's file yet at submission: the fd is looked up, in the
 * submitter's context, as for write(2). A request on the ring's own file table is not seen.
 */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(fw_uring_submit, struct io_kiocb *req)
{
	__u8 op = BPF_CORE_READ(req, opcode);
	const void *buf;
	__u64 len;

	if (op != IORING_OP_SEND && op != IORING_OP_WRITE)
		return 0;
	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (BPF_CORE_READ(req, flags) & REQ_F_FIXED_FILE)
		return 0;
	if (op == IORING_OP_SEND) {
		struct io_sr_msg *m = (void *)&req->cmd;

		buf = BPF_CORE_READ(m, buf);
		len = BPF_CORE_READ(m, len);
	} else {
		struct io_rw *rw = (void *)&req->cmd;

		buf = (const void *)BPF_CORE_READ(rw, addr);
		len = BPF_CORE_READ(rw, len);
	}
	return fw_capture_fd(BPF_CORE_READ(req, cqe.fd), buf, len);
}
