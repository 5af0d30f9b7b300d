// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * net_connect: connect(2) of tracked processes, and the first datagram an unconnected socket
 * sends to each destination. The address is copied at syscall entry (the caller's memory may
 * change afterwards); the socket's type and the local address the kernel chose are read at
 * exit. A non-blocking TCP connect is parked in net_synsent until the socket leaves SYN_SENT,
 * so the event carries the real outcome instead of EINPROGRESS.
 */
#include "bpf/common.bpf.h"
#include <bpf/bpf_endian.h>

#include "bpf/net.h"
#include "bpf/net.bpf.h"

#define AT_MMSG_MAX 8 /* sendmmsg messages whose destinations are looked at */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct net_pending {
	__s32 fd;
	__u32 addrlen;
	__u8 syscall;
	__u8 _pad[7];
	__u64 mmsg; /* sendmmsg: the caller's message array, for the messages after the first */
	__u8 sa[AT_SOCKADDR_MAX];
};

AT_SYSCALL_MAP(net_pending, struct net_pending, 8192);

/* Non-blocking TCP connects waiting for their outcome, by struct sock pointer. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct at_net_connect);
} net_synsent SEC(".maps");

struct net_dest_key {
	__u64 sk;
	__u8 addr[16]; /* inet/inet6 address, or a hash and length of the unix path */
	__u16 port;
	__u16 family;
	__u32 _pad;
};

/* Destinations each unconnected socket already reported; LRU: forgetting one only repeats it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct net_dest_key);
	__type(value, __u8);
} net_dests SEC(".maps");

/* Copies a destination sockaddr; returns its length, or 0 when it is not one we report. */
static __always_inline __u32 net_read_sockaddr(struct net_pending *p, const void *uaddr,
					       __u64 addrlen)
{
	__u32 n;

	if (!uaddr || addrlen < 2)
		return 0; /* no destination (connected send) or one the kernel rejects */
	/* sockaddr_un, the longest we take, is 110 bytes */
	n = addrlen < AT_SOCKADDR_MAX - 1 ? addrlen : AT_SOCKADDR_MAX - 1;
	barrier_var(n); /* keep the mask: clang would drop it and pass the unbounded copy */
	n &= AT_SOCKADDR_MAX - 1;
	if (bpf_probe_read_user(p->sa, n, uaddr)) {
		at_count(AT_CNT_READ_USER_FAIL); /* the kernel fails the call with EFAULT too */
		return 0;
	}
	switch (*(__u16 *)p->sa) {
	case AF_INET:
	case AF_INET6:
	case AF_UNIX:
		p->addrlen = n;
		return n;
	}
	return 0; /* AF_UNSPEC disconnects; netlink and others are not network peers */
}

static __always_inline int net_enter(__s32 fd, const void *uaddr, __u64 addrlen, __u8 sys,
				     __u64 mmsg)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct net_pending p = {};
	__u32 n;

	if (!at_tracked(id >> 32))
		return 0;
	n = net_read_sockaddr(&p, uaddr, addrlen);
	if (!n)
		return 0;
	p.fd = fd;
	p.syscall = sys;
	p.mmsg = mmsg;
	at_keep_pending(&net_pending, &id, &p);
	return 0;
}

AT_SYS_ENTER(net_enter_connect, connect)
{
	return net_enter(ctx->args[0], (const void *)ctx->args[1], ctx->args[2],
			 AT_NET_SYS_CONNECT, 0);
}

AT_SYS_ENTER(net_enter_sendto, sendto)
{
	return net_enter(ctx->args[0], (const void *)ctx->args[4], ctx->args[5],
			 AT_NET_SYS_SENDTO, 0);
}

static __always_inline int net_enter_msg(__s32 fd, const struct user_msghdr *um, __u8 sys)
{
	struct user_msghdr m;

	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_probe_read_user(&m, sizeof(m), um)) {
		at_count(AT_CNT_READ_USER_FAIL);
		return 0;
	}
	return net_enter(fd, m.msg_name, (__u32)m.msg_namelen, sys,
			 sys == AT_NET_SYS_SENDMMSG ? (__u64)um : 0);
}

AT_SYS_ENTER(net_enter_sendmsg, sendmsg)
{
	return net_enter_msg(ctx->args[0], (const void *)ctx->args[1], AT_NET_SYS_SENDMSG);
}

AT_SYS_ENTER(net_enter_sendmmsg, sendmmsg)
{
	return net_enter_msg(ctx->args[0], (const void *)ctx->args[1], AT_NET_SYS_SENDMMSG);
}

/* Fills the outcome of a parked connect from the socket's new state. */
static __always_inline void net_outcome(struct at_net_connect *r, const struct sock *sk, int st)
{
	int err;

	if (st == TCP_ESTABLISHED) {
		r->result = 0;
		net_read_local(r, sk);
		return;
	}
	/* keep the local port read at connect: a closing socket has already released it */
	err = BPF_CORE_READ(sk, sk_err);
	/* closed before any answer: the outcome is unknown, say so rather than drop it */
	r->result = err ? -err : -EINPROGRESS;
}

static __always_inline void net_fill_dest(struct at_net_connect *r, const struct net_pending *p)
{
	__u16 family = *(__u16 *)p->sa;
	__u32 len;

	r->family = family;
	if (family == AF_INET) {
		r->dport = bpf_ntohs(*(__u16 *)&p->sa[2]);
		__builtin_memcpy(r->daddr, &p->sa[4], 4);
	} else if (family == AF_INET6) {
		r->dport = bpf_ntohs(*(__u16 *)&p->sa[2]);
		__builtin_memcpy(r->daddr, &p->sa[8], 16);
	} else {
		len = p->addrlen - 2;
		if (len > AT_UNIX_PATH_MAX)
			len = AT_UNIX_PATH_MAX;
		r->path_len = len;
		__builtin_memcpy(r->path, &p->sa[2], AT_UNIX_PATH_MAX);
		if (len && !r->path[0])
			r->nflags |= AT_NET_F_ABSTRACT;
	}
}

/* True the first time this socket sends to this destination. */
static __always_inline bool net_new_dest(const struct at_net_connect *r, struct sock *sk)
{
	struct net_dest_key k = {};
	__u64 h = 14695981039346656037ULL;
	__u8 one = 1;

	k.sk = (__u64)sk;
	k.family = r->family;
	k.port = r->dport;
	if (r->family == AF_UNIX) {
		for (int i = 0; i < AT_UNIX_PATH_MAX; i++) {
			if (i >= r->path_len)
				break;
			h = (h ^ (__u8)r->path[i]) * 1099511628211ULL;
		}
		__builtin_memcpy(k.addr, &h, 8);
		k.port = r->path_len;
	} else {
		__builtin_memcpy(k.addr, r->daddr, 16);
	}
	return bpf_map_update_elem(&net_dests, &k, &one, BPF_NOEXIST) == 0;
}

/* The messages of one sendmmsg after the first, read back from the caller's array. */
static __always_inline void net_mmsg_rest(struct at_net_connect *r, struct sock *sk, __u64 um,
					  long sent)
{
	struct net_pending q = {};
	struct user_msghdr m;

	for (int i = 1; i < AT_MMSG_MAX; i++) {
		if (i >= sent)
			break;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)(um + i * sizeof(struct mmsghdr)))) {
			at_count(AT_CNT_READ_USER_FAIL);
			break;
		}
		if (!net_read_sockaddr(&q, m.msg_name, (__u32)m.msg_namelen))
			continue;
		r->dport = 0;
		r->path_len = 0;
		r->nflags &= ~AT_NET_F_ABSTRACT;
		__builtin_memset(r->daddr, 0, sizeof(r->daddr));
		net_fill_dest(r, &q);
		if (net_new_dest(r, sk))
			at_output(&rb_core, r, sizeof(*r), AT_CNT_RB_CORE_FULL);
	}
}

/* Parks a connect that returned EINPROGRESS; returns 1 when the caller must not emit it. */
static __always_inline int net_park(struct at_net_connect *r, struct sock *sk)
{
	__u64 key = (__u64)sk;
	int st;

	r->nflags |= AT_NET_F_NONBLOCK;
	if (bpf_map_update_elem(&net_synsent, &key, r, BPF_NOEXIST)) {
		if (bpf_map_lookup_elem(&net_synsent, &key))
			return 1; /* connect again on a socket already parked: one event */
		at_count(AT_CNT_PENDING_FULL);
		return 0; /* emit now, with EINPROGRESS, rather than lose it */
	}
	/*
	 * On loopback the handshake can finish inside connect(), before the entry existed. Whoever
	 * deletes the entry owns the event: us here, or net_sock_state on another CPU.
	 */
	st = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (st == TCP_SYN_SENT || bpf_map_delete_elem(&net_synsent, &key))
		return 1;
	net_outcome(r, sk, st);
	return 0;
}

static __always_inline int net_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_session_ref *s;
	struct net_pending *p;
	struct at_net_connect *r;
	struct sock *sk;
	__u16 type = 0;
	__u32 zero = NET_SCRATCH_SYSCALL;

	p = bpf_map_lookup_elem(&net_pending, &id);
	if (!p)
		return 0;
	s = at_tracked(id >> 32);
	r = bpf_map_lookup_elem(&net_scratch, &zero);
	if (!s || !r)
		goto out;
	__builtin_memset(r, 0, sizeof(*r));
	at_fill_hdr(&r->hdr, AT_REC_NET_CONNECT, sizeof(*r), s);
	r->syscall = p->syscall;
	if (ret <= -ERESTARTSYS && ret >= -ERESTART_RESTARTBLOCK)
		ret = -EINTR; /* what the caller sees, or the call is restarted */
	r->result = ret < 0 ? ret : 0;
	net_fill_dest(r, p);

	sk = net_fd_sock(p->fd, &type);
	if (!sk) {
		r->nflags |= AT_NET_F_NO_SOCK;
		if (p->syscall != AT_NET_SYS_CONNECT)
			goto out; /* cannot dedup without a socket; the kernel refused it anyway */
	} else {
		r->sock_type = type;
		r->protocol = BPF_CORE_READ(sk, sk_protocol);
		net_read_local(r, sk);
	}

	if (p->syscall != AT_NET_SYS_CONNECT) {
		/* a destination on a stream socket is ignored by the kernel (or is TCP fast open) */
		if (type != SOCK_DGRAM)
			goto out;
		if (net_new_dest(r, sk))
			at_output(&rb_core, r, sizeof(*r), AT_CNT_RB_CORE_FULL);
		if (p->syscall == AT_NET_SYS_SENDMMSG && ret > 1)
			net_mmsg_rest(r, sk, p->mmsg, ret);
		goto out;
	} else if (sk && r->result == -EINPROGRESS && type == SOCK_STREAM &&
		   r->family != AF_UNIX) {
		if (net_park(r, sk))
			goto out;
	} else if (sk && r->result == -EALREADY) {
		__u64 key = (__u64)sk;

		if (bpf_map_lookup_elem(&net_synsent, &key))
			goto out; /* polling an in-progress connect: its event comes with the outcome */
	}
	if (sk && r->result == 0)
		net_hold(r, sk);
	else
		at_output(&rb_core, r, sizeof(*r), AT_CNT_RB_CORE_FULL);
out:
	bpf_map_delete_elem(&net_pending, &id);
	return 0;
}

AT_SYS_EXIT_RET(net_exit_connect, connect, net_exit)
AT_SYS_EXIT_RET(net_exit_sendto, sendto, net_exit)
AT_SYS_EXIT_RET(net_exit_sendmsg, sendmsg, net_exit)
AT_SYS_EXIT_RET(net_exit_sendmmsg, sendmmsg, net_exit)

/*
 * A parked connect learns its outcome (SYN_SENT -> ESTABLISHED or CLOSE); a held one that never
 * wrote is reported when the connection leaves ESTABLISHED. Softirq or process context: the
 * scratch slot is this program's own (the kernel does not nest a program on one CPU).
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(net_sock_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 slot = NET_SCRATCH_STATE;
	__u64 key = (__u64)sk;
	struct at_net_connect *v, *r;
	void *map;

	if (oldstate == TCP_SYN_SENT && (newstate == TCP_ESTABLISHED || newstate == TCP_CLOSE))
		map = &net_synsent;
	else if (oldstate == TCP_ESTABLISHED)
		map = &net_estab;
	else
		return 0;
	v = bpf_map_lookup_elem(map, &key);
	if (!v)
		return 0;
	r = bpf_map_lookup_elem(&net_scratch, &slot);
	if (!r)
		return 0;
	__builtin_memcpy(r, v, sizeof(*r));
	if (bpf_map_delete_elem(map, &key))
		return 0; /* another CPU took it first */
	if (map == &net_estab) {
		at_output(&rb_core, r, sizeof(*r), AT_CNT_RB_CORE_FULL);
		return 0;
	}
	net_outcome(r, sk, newstate);
	if (newstate == TCP_ESTABLISHED)
		net_hold(r, (struct sock *)sk);
	else
		at_output(&rb_core, r, sizeof(*r), AT_CNT_RB_CORE_FULL);
	return 0;
}
