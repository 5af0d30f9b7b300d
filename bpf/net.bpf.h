/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Pieces shared by the network programs (net.bpf.c, firstwrite.bpf.c): socket lookup from an
 * fd, and the map where an established TCP connect waits for the first bytes that name it.
 */
#ifndef AITRAIL_NET_BPF_H
#define AITRAIL_NET_BPF_H

#include "bpf/common.bpf.h"
#include "bpf/net.h"

enum { NET_SCRATCH_SYSCALL = 0, NET_SCRATCH_STATE = 1 };

/* Records are built here: slot 0 by syscall programs, slot 1 by net_sock_state. */
AT_SCRATCH_MAP(net_scratch, struct at_net_connect, 2) __weak;

/*
 * Established TCP connects of tracked processes, by struct sock pointer, held until the first
 * write (whose bytes may name the peer: TLS SNI, HTTP CONNECT), the end of the connection, or
 * the agent's sweep of old entries. Whoever deletes an entry emits it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct at_net_connect);
} net_estab SEC(".maps") __weak;

/* fd -> struct sock, checking the back pointers so a non-socket file is never taken for one. */
static __always_inline struct sock *net_fd_sock(__s32 fd, __u16 *type)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *so;
	struct sock *sk;

	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	if (!so || BPF_CORE_READ(so, file) != f)
		return NULL;
	sk = BPF_CORE_READ(so, sk);
	if (!sk || BPF_CORE_READ(sk, sk_socket) != so)
		return NULL;
	*type = BPF_CORE_READ(so, type);
	return sk;
}

static __always_inline void net_read_local(struct at_net_connect *r, const struct sock *sk)
{
	r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (r->family == AF_INET)
		BPF_CORE_READ_INTO((__u32 *)r->saddr, sk, __sk_common.skc_rcv_saddr);
	else if (r->family == AF_INET6)
		bpf_core_read(r->saddr, sizeof(r->saddr), &sk->__sk_common.skc_v6_rcv_saddr);
}

/* Holds an established TCP connect for its first write; anything else, or no room: emit now. */
static __always_inline void net_hold(struct at_net_connect *r, struct sock *sk)
{
	__u64 key = (__u64)sk;

	if (r->family != AF_UNIX && r->sock_type == SOCK_STREAM && r->protocol == IPPROTO_TCP &&
	    !bpf_map_update_elem(&net_estab, &key, r, BPF_NOEXIST))
		return;
	at_output(&rb_core, r, sizeof(*r), AT_CNT_RB_CORE_FULL);
}

#endif
