// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * net_close: bytes sent and received per TCP connection of a tracked process. Nothing is hooked
 * on the data path: the kernel already counts per socket (tcp_sock bytes_acked, bytes_received,
 * bytes_sent), so the counters are read once when the socket closes. A connection is noted when
 * it enters SYN_SENT, which happens inside connect() in the caller's context (the only moment
 * the owner is known for sure); its header is kept so the close, often in softirq context, can
 * be attributed. Long connections: the agent runs netclose_iter every few seconds, which reports
 * the counters of the noted sockets still open.
 */
#include "bpf/common.bpf.h"

#include "bpf/netclose.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Outbound TCP connections of tracked processes, by struct sock pointer. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct at_net_close);
} netclose_socks SEC(".maps");

/* Addresses and ports: read once established (the close runs after the port is released). */
static __always_inline void netclose_read_addr(struct at_net_close *r, const struct sock *sk)
{
	r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (r->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)r->daddr, sk, __sk_common.skc_daddr);
		BPF_CORE_READ_INTO((__u32 *)r->saddr, sk, __sk_common.skc_rcv_saddr);
	} else {
		bpf_core_read(r->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		bpf_core_read(r->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
}

/* The byte counters, and which FINs are in them; st: the state the socket is (was) in. */
static __always_inline void netclose_read(struct at_net_close *r, const struct sock *sk, int st)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	unsigned long flags = BPF_CORE_READ(sk, __sk_common.skc_flags);

	r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	r->bytes_received = BPF_CORE_READ(tp, bytes_received);
	r->total_retrans = BPF_CORE_READ(tp, total_retrans);
	/* bytes_sent arrived in 4.19; older kernels have the other two */
	if (bpf_core_field_exists(tp->bytes_sent))
		r->bytes_sent = BPF_CORE_READ(tp, bytes_sent);
	else
		r->cflags |= AT_NC_F_NO_SENT;
	/* these states are reached only by sending our FIN; snd_una past it means it was acked */
	if ((st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSING ||
	     st == TCP_LAST_ACK) && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		r->cflags |= AT_NC_F_FIN_OUT;
	if (flags & (1UL << SOCK_DONE)) /* tcp_fin() saw the peer's FIN */
		r->cflags |= AT_NC_F_FIN_IN;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(netclose_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 key = (__u64)sk;
	struct at_net_close *v, *r;
	struct at_session_ref *s;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		struct at_net_close n = {};

		s = at_tracked(bpf_get_current_pid_tgid() >> 32);
		if (!s)
			return 0;
		at_fill_hdr(&n.hdr, AT_REC_NET_CLOSE, sizeof(n), s);
		n.start_ts = n.hdr.ts;
		if (bpf_map_update_elem(&netclose_socks, &key, &n, BPF_ANY))
			at_count(AT_CNT_NETCLOSE_FULL);
		return 0;
	}
	if (newstate != TCP_CLOSE && !(oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED))
		return 0;
	v = bpf_map_lookup_elem(&netclose_socks, &key);
	if (!v)
		return 0;
	if (newstate == TCP_ESTABLISHED) {
		netclose_read_addr(v, sk);
		return 0;
	}
	if (oldstate == TCP_SYN_SENT) {
		/* never connected: net_connect already says how it failed, no bytes moved */
		bpf_map_delete_elem(&netclose_socks, &key);
		return 0;
	}
	r = bpf_ringbuf_reserve(&rb_core, sizeof(*r), 0);
	if (!r) {
		at_count(AT_CNT_RB_CORE_FULL);
		bpf_map_delete_elem(&netclose_socks, &key);
		return 0;
	}
	__builtin_memcpy(r, v, sizeof(*r));
	bpf_map_delete_elem(&netclose_socks, &key);
	r->hdr.ts = bpf_ktime_get_boot_ns();
	r->cflags = AT_NC_F_FINAL;
	netclose_read(r, sk, oldstate);
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/*
 * Periodic report: walks the TCP sockets of the agent's network namespace and writes a record
 * for each noted, established one to the iterator's reader (the agent), which dispatches them.
 */
SEC("iter/tcp")
int netclose_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct at_net_close *v, r;
	struct tcp_sock *tp;
	__u64 key;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* time-wait and request sockets: not the connections we noted */
	key = (__u64)tp;
	v = bpf_map_lookup_elem(&netclose_socks, &key);
	if (!v)
		return 0;
	__builtin_memcpy(&r, v, sizeof(r));
	r.hdr.ts = bpf_ktime_get_boot_ns();
	r.cflags = 0;
	if (!r.family)
		return 0; /* not established yet */
	netclose_read(&r, (struct sock *)tp, BPF_CORE_READ(skc, skc_state));
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
