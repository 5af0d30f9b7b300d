// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * DNS traffic of tracked processes, seen at the packet. Every way of sending (send, sendto,
 * sendmsg, sendmmsg, write) reaches net_dev_queue in the sender's context: a datagram to port
 * 53 from a tracked process is a query, and its local port is remembered with the sender's
 * header. Answers are taken where every received packet passes (netif_receive_skb, loopback
 * included), by that port: how the process later reads them (recv, read, a copy without a
 * checksum pass) no longer matters. Messages go to user space unparsed.
 *
 * TCP (dns_tcp_*): the SYN a tracked process sends to port 53 marks its local port; both
 * directions of that connection are then followed by sequence number and cut into messages at
 * their two-byte length prefixes. A segment's payload sits in page fragments that a tracing
 * program can't address, so these programs read it through an skb dynptr, which tp_btf
 * programs may use only on newer kernels: where the verifier refuses them the agent turns them
 * off and says so, and UDP is still seen.
 */
#include "bpf/common.bpf.h"
#include <bpf/bpf_endian.h>

#include "bpf/dns.h"

#define DNS_PORT 53
#define DNS_TCP_MSGS 4 /* messages cut from one segment; past them the stream is given up */

extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym __weak;

/* 0: send path, 1: receive path (softirq may interrupt a send) */
AT_SCRATCH_MAP(dns_scratch, struct at_dns_msg, 2);

#include "bpf/policy_dns.bpf.h"

struct dns_port_key {
	__u16 family;
	__u16 port; /* the querying socket's local port, host order */
	__u8 proto; /* IPPROTO_UDP, IPPROTO_TCP */
	__u8 _pad[3];
};

enum dns_stream_state {
	DNS_ST_NONE,   /* no SYN seen: nothing is known about where messages start */
	DNS_ST_SYNCED, /* at a length prefix, or inside a message (left bytes to skip) */
	DNS_ST_HALF,   /* one byte of a length prefix seen (half) */
	DNS_ST_START,  /* a length prefix seen; the message (left bytes) starts in the next one */
	DNS_ST_LOST,   /* a gap or too many messages in a segment: the rest is not parsed */
};

/* One direction of a DNS-over-TCP connection. */
struct dns_stream {
	__u32 next_seq; /* sequence number of the next byte expected */
	__u16 left;     /* bytes of the current message still to come */
	__u8 state;     /* enum dns_stream_state */
	__u8 half;
	__u16 mlen;     /* length of the message being gathered */
	__u8 acc;       /* 1: that message is being gathered in dns_tcp_acc */
	__u8 _pad;
};

struct dns_port_val {
	struct at_hdr hdr;        /* of the process that sent the query (UDP) or the SYN (TCP) */
	struct dns_stream tcp[2]; /* TCP only: [0] what it sent, [1] what it received */
};

/* Local ports that sent a query or opened a TCP connection to port 53. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct dns_port_key);
	__type(value, struct dns_port_val);
} dns_ports SEC(".maps");

/*
 * Every packet of the host passes the receive hook: this says, with one read of the linear
 * headers, whether it is UDP or TCP (proto) from port 53, before anything costlier is done.
 */
static __always_inline bool dns_from_port53(const unsigned char *l3, __u16 eth_proto, __u8 proto)
{
	__u8 h[44];
	__u32 l4;

	if (eth_proto == ETH_P_IP) {
		/* an IPv4 header without options, then the ports */
		if (bpf_probe_read_kernel(h, 24, l3) || h[9] != proto)
			return false;
		l4 = (h[0] & 0xf) * 4;
		if (l4 != 20 && bpf_probe_read_kernel(h + 20, 4, l3 + l4))
			return false;
		return h[20] == 0 && h[21] == DNS_PORT;
	}
	if (eth_proto == ETH_P_IPV6) {
		if (bpf_probe_read_kernel(h, 44, l3) || h[6] != proto)
			return false;
		return h[40] == 0 && h[41] == DNS_PORT;
	}
	return false;
}

/*
 * Reads the addresses and ports of a UDP datagram whose IP header is at l3. On success fills
 * m->family, m->server (the far end), m->len, the ports and the payload address.
 */
static __always_inline int dns_parse(unsigned char *l3, __u16 proto, bool sent,
				     struct at_dns_msg *m, __u16 *lport, unsigned char **payload)
{
	struct udphdr uh;
	unsigned char *l4;
	__u8 next;

	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3))
			return -1;
		next = ip.protocol;
		l4 = l3 + ip.ihl * 4;
		m->family = AF_INET;
		__builtin_memcpy(m->server, sent ? (void *)&ip.daddr : (void *)&ip.saddr, 4);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3))
			return -1;
		next = ip6.nexthdr; /* extension headers on a DNS datagram: not chased */
		l4 = l3 + sizeof(ip6);
		m->family = AF_INET6;
		__builtin_memcpy(m->server, sent ? (void *)&ip6.daddr : (void *)&ip6.saddr, 16);
	} else {
		return -1;
	}
	if (next != IPPROTO_UDP || bpf_probe_read_kernel(&uh, sizeof(uh), l4))
		return -1;
	if (bpf_ntohs(sent ? uh.dest : uh.source) != DNS_PORT)
		return -1;
	*lport = bpf_ntohs(sent ? uh.source : uh.dest);
	m->port = DNS_PORT;
	m->len = bpf_ntohs(uh.len) - sizeof(uh);
	*payload = l4 + sizeof(uh);
	return 0;
}

/* Sends m with n bytes of data captured; learn: hand a received answer to the policy first. */
static __always_inline void dns_send_rec(struct at_dns_msg *m, __u32 n, bool sent, bool learn)
{
	m->cap_len = n;
	m->dir = sent ? AT_DNS_SENT : AT_DNS_RECEIVED;
	m->_pad[0] = m->_pad[1] = 0;
	n = (offsetof(struct at_dns_msg, data) + n + 7) & ~7u;
	if (n > sizeof(*m))
		n = sizeof(*m);
	m->hdr.size = n;
	if (learn && !sent)
		pol_dns_learn();
	at_output(&rb_core, m, n, AT_CNT_RB_CORE_FULL);
}

/* Copies the payload (never past the skb's linear part) and sends the record. */
static __always_inline void dns_output(const struct sk_buff *skb, struct at_dns_msg *m,
				       unsigned char *payload, bool sent, bool learn)
{
	unsigned char *tail = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, tail);
	__u32 n, linear;

	linear = payload < tail ? tail - payload : 0;
	n = m->len < linear ? m->len : linear;
	n = n < AT_DNS_MAX ? n : AT_DNS_MAX;
	barrier_var(n);
	n &= 2 * AT_DNS_MAX - 1;
	if (n > AT_DNS_MAX)
		return;
	if (n && bpf_probe_read_kernel(m->data, n, payload)) {
		at_count(AT_CNT_READ_KERN_FAIL);
		return;
	}
	m->proto = IPPROTO_UDP;
	dns_send_rec(m, n, sent, learn);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(dns_sent, struct sk_buff *skb)
{
	struct sock *sk = skb->sk;
	struct at_session_ref *s;
	struct dns_port_key k = {};
	struct dns_port_val v = {};
	unsigned char *payload;
	struct at_dns_msg *m;
	__u32 zero = 0;
	__u16 lport;

	/* a datagram sent has its socket: anything but UDP is left at two loads */
	if (sk && sk->sk_protocol != IPPROTO_UDP)
		return 0;
	s = at_tracked(bpf_get_current_pid_tgid() >> 32);
	if (!s)
		return 0;
	m = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!m)
		return 0;
	if (dns_parse(BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, network_header),
		      bpf_ntohs(BPF_CORE_READ(skb, protocol)), true, m, &lport, &payload))
		return 0;
	at_fill_hdr(&m->hdr, AT_REC_DNS_MSG, sizeof(*m), s);
	k.family = m->family;
	k.port = lport;
	k.proto = IPPROTO_UDP;
	v.hdr = m->hdr;
	bpf_map_update_elem(&dns_ports, &k, &v, BPF_ANY);
	dns_output(skb, m, payload, true, false);
	return 0;
}

/* Softirq: the reader is unknown here, so the answer takes the header of its query. */
static __always_inline int dns_rx(struct sk_buff *skb, bool learn)
{
	struct dns_port_key k = {};
	struct dns_port_val *v;
	unsigned char *payload;
	struct at_dns_msg *m;
	__u32 one = 1;
	__u16 lport;

	if (!dns_from_port53(skb->data, bpf_ntohs(skb->protocol), IPPROTO_UDP))
		return 0;
	m = bpf_map_lookup_elem(&dns_scratch, &one);
	if (!m)
		return 0;
	if (dns_parse(BPF_CORE_READ(skb, data), bpf_ntohs(BPF_CORE_READ(skb, protocol)), false, m,
		      &lport, &payload))
		return 0;
	k.family = m->family;
	k.port = lport;
	k.proto = IPPROTO_UDP;
	v = bpf_map_lookup_elem(&dns_ports, &k);
	if (!v)
		return 0;
	__builtin_memcpy(&m->hdr, &v->hdr, sizeof(m->hdr));
	m->hdr.ts = bpf_ktime_get_boot_ns();
	dns_output(skb, m, payload, false, learn);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(dns_received, struct sk_buff *skb)
{
	return dns_rx(skb, true);
}

/* For kernels without bpf_loop (before 5.17): the agent loads this one instead. */
SEC("?tp_btf/netif_receive_skb")
int BPF_PROG(dns_received_nopol, struct sk_buff *skb)
{
	return dns_rx(skb, false);
}

/* ---- DNS over TCP */

struct dns_tcp_seg {
	__u32 off; /* payload offset from skb->data */
	__u32 len; /* payload bytes */
	__u32 seq;
	bool syn;
};

/*
 * Reads the IP and TCP headers of a segment to or from port 53. Fills the far end into m, the
 * local port into k and the payload's place into g.
 */
static __always_inline int dns_tcp_parse(struct sk_buff *skb, const struct bpf_dynptr *p,
					 bool sent, struct at_dns_msg *m,
					 struct dns_port_key *k, struct dns_tcp_seg *g)
{
	__u32 nh = BPF_CORE_READ(skb, network_header) -
		   (BPF_CORE_READ(skb, data) - BPF_CORE_READ(skb, head));
	__u32 end = BPF_CORE_READ(skb, len), l4, iplen;
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	struct tcphdr th;

	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_dynptr_read(&ip, sizeof(ip), p, nh, 0) || ip.protocol != IPPROTO_TCP)
			return -1;
		l4 = nh + ip.ihl * 4;
		iplen = bpf_ntohs(ip.tot_len);
		m->family = AF_INET;
		__builtin_memcpy(m->server, sent ? (void *)&ip.daddr : (void *)&ip.saddr, 4);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_dynptr_read(&ip6, sizeof(ip6), p, nh, 0) || ip6.nexthdr != IPPROTO_TCP)
			return -1;
		l4 = nh + sizeof(ip6);
		iplen = bpf_ntohs(ip6.payload_len);
		iplen = iplen ? iplen + sizeof(ip6) : 0;
		m->family = AF_INET6;
		__builtin_memcpy(m->server, sent ? (void *)&ip6.daddr : (void *)&ip6.saddr, 16);
	} else {
		return -1;
	}
	if (bpf_dynptr_read(&th, sizeof(th), p, l4, 0))
		return -1;
	if (bpf_ntohs(sent ? th.dest : th.source) != DNS_PORT)
		return -1;
	/* a received frame may carry link-layer padding past the IP length; 0 is a big GSO */
	if (iplen && nh + iplen < end)
		end = nh + iplen;
	k->family = m->family;
	k->port = bpf_ntohs(sent ? th.source : th.dest);
	k->proto = IPPROTO_TCP;
	g->off = l4 + th.doff * 4;
	g->len = g->off < end ? end - g->off : 0;
	g->seq = bpf_ntohl(th.seq);
	g->syn = th.syn;
	m->port = DNS_PORT;
	m->proto = IPPROTO_TCP;
	return 0;
}

/* Sends the message of len bytes at off, of which avail are in this segment. */
static __always_inline void dns_tcp_emit(const struct bpf_dynptr *p, struct at_dns_msg *m,
					 __u32 off, __u32 avail, __u32 len, bool sent)
{
	__u32 n = len < avail ? len : avail;

	n = n < AT_DNS_MAX ? n : AT_DNS_MAX;
	barrier_var(n);
	n &= 2 * AT_DNS_MAX - 1;
	if (n > AT_DNS_MAX)
		return;
	if (n && bpf_dynptr_read(m->data, n, p, off, 0)) {
		at_count(AT_CNT_READ_KERN_FAIL);
		return;
	}
	m->len = len;
	dns_send_rec(m, n, sent, true);
}

static __always_inline void dns_tcp_lost(struct dns_stream *st)
{
	st->state = DNS_ST_LOST;
	at_count(AT_CNT_DNS_TCP_UNPARSED);
}

/* A message longer than the rest of its segment, gathered across the segments that follow. */
struct dns_acc_key {
	struct dns_port_key k;
	__u8 dir; /* 0 sent, 1 received */
	__u8 _pad[7];
};

struct dns_acc {
	__u32 have;                  /* bytes gathered, at most AT_DNS_MAX */
	__u32 _pad;
	__u8 data[2 * AT_DNS_MAX];   /* twice the room: masked offset + bounded length fit */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dns_acc_key);
	__type(value, struct dns_acc);
} dns_tcp_acc SEC(".maps");

/* Sends a gathered message and forgets it. */
static __always_inline void dns_acc_send(struct dns_acc *acc, const struct dns_acc_key *ak,
					 struct dns_stream *st, struct at_dns_msg *m, bool sent)
{
	__u32 n = acc->have;

	barrier_var(n);
	n &= 2 * AT_DNS_MAX - 1;
	if (n <= AT_DNS_MAX && (!n || !bpf_probe_read_kernel(m->data, n, acc->data))) {
		m->len = st->mlen;
		dns_send_rec(m, n, sent, true);
	}
	st->acc = 0;
	bpf_map_delete_elem(&dns_tcp_acc, ak);
}

/* Appends up to n bytes of the segment at off to acc; sends the message once it is whole. */
static __always_inline void dns_acc_add(const struct bpf_dynptr *p, struct dns_acc *acc,
					const struct dns_acc_key *ak, struct dns_stream *st,
					struct at_dns_msg *m, __u32 off, __u32 n, bool sent)
{
	__u32 at = acc->have, room;

	barrier_var(at);
	at &= AT_DNS_MAX - 1;
	room = acc->have < AT_DNS_MAX ? AT_DNS_MAX - acc->have : 0;
	n = n < room ? n : room;
	barrier_var(n);
	n &= 2 * AT_DNS_MAX - 1;
	if (n > AT_DNS_MAX)
		return;
	if (n && !bpf_dynptr_read(&acc->data[at], n, p, off, 0))
		acc->have = at + n;
	if (!st->left || acc->have >= AT_DNS_MAX || acc->have >= st->mlen)
		dns_acc_send(acc, ak, st, m, sent);
}

/*
 * Cuts a segment of one direction into messages. A message that goes on past its segment is
 * gathered from the segments that follow (its first AT_DNS_MAX bytes) and sent when whole.
 */
static __always_inline void dns_tcp_segment(const struct bpf_dynptr *p, struct dns_stream *st,
					    const struct dns_tcp_seg *g, struct at_dns_msg *m,
					    const struct dns_port_key *k, bool sent)
{
	struct dns_acc_key ak = { .k = *k, .dir = !sent };
	__u32 pos = 0, len = g->len, mlen = 0, take, i;
	bool gather = false;
	struct dns_acc *acc;
	__u8 b[2];

	if (g->syn) {
		st->next_seq = g->seq + 1;
		st->left = 0;
		st->state = DNS_ST_SYNCED;
		if (st->acc)
			bpf_map_delete_elem(&dns_tcp_acc, &ak);
		st->acc = 0;
		return;
	}
	if (!len || st->state == DNS_ST_NONE || st->state == DNS_ST_LOST)
		return;
	if (g->seq != st->next_seq) {
		__s32 d = (__s32)(st->next_seq - g->seq);

		if (d < 0) { /* bytes before this segment were never seen */
			dns_tcp_lost(st);
			return;
		}
		if ((__u32)d >= len)
			return; /* a retransmission of what was parsed */
		pos = d;
	}
	st->next_seq = g->seq + len;
	/* the rest of a message begun in an earlier segment */
	if (st->left && st->state != DNS_ST_START) {
		take = st->left < len - pos ? st->left : len - pos;
		st->left -= take;
		acc = st->acc ? bpf_map_lookup_elem(&dns_tcp_acc, &ak) : NULL;
		if (acc)
			dns_acc_add(p, acc, &ak, st, m, g->off + pos, take, sent);
		pos += take;
	}
	for (i = 0; i < DNS_TCP_MSGS; i++) {
		if (pos >= len)
			return;
		if (st->state == DNS_ST_START) {
			mlen = st->left;
			st->left = 0;
			st->state = DNS_ST_SYNCED;
		} else if (st->state == DNS_ST_HALF) {
			if (bpf_dynptr_read(b, 1, p, g->off + pos, 0))
				break;
			mlen = (__u32)st->half << 8 | b[0];
			pos += 1;
			st->state = DNS_ST_SYNCED;
		} else if (len - pos == 1) {
			if (bpf_dynptr_read(b, 1, p, g->off + pos, 0))
				break;
			st->half = b[0];
			st->state = DNS_ST_HALF;
			return;
		} else {
			if (bpf_dynptr_read(b, 2, p, g->off + pos, 0))
				break;
			mlen = (__u32)b[0] << 8 | b[1];
			pos += 2;
		}
		if (pos >= len) {
			st->left = mlen;
			st->state = DNS_ST_START;
			return;
		}
		take = mlen < len - pos ? mlen : len - pos;
		if (take < mlen && take < AT_DNS_MAX) {
			gather = true; /* goes on in the next segments: gathered below */
			break;
		}
		dns_tcp_emit(p, m, g->off + pos, len - pos, mlen, sent);
		st->left = mlen - take; /* past the bytes kept: skipped in the next segments */
		pos += take;
	}
	if (gather) {
		struct dns_acc *nacc;

		st->mlen = mlen;
		st->left = mlen - take;
		nacc = bpf_map_lookup_elem(&dns_tcp_acc, &ak);
		if (!nacc) {
			/* any bytes will do as the new value: only have is read before written */
			void *blank = at_heap();

			if (blank)
				bpf_map_update_elem(&dns_tcp_acc, &ak, blank, BPF_ANY);
			nacc = bpf_map_lookup_elem(&dns_tcp_acc, &ak);
		}
		if (!nacc) { /* no room to gather: the first part alone, marked cut */
			dns_tcp_emit(p, m, g->off + pos, len - pos, mlen, sent);
			return;
		}
		nacc->have = 0;
		st->acc = 1;
		dns_acc_add(p, nacc, &ak, st, m, g->off + pos, take, sent);
		return;
	}
	if (pos < len)
		dns_tcp_lost(st);
}

static __always_inline int dns_tcp(struct sk_buff *skb, bool sent)
{
	struct dns_port_key k = {};
	struct dns_port_val *v;
	struct dns_tcp_seg g;
	struct bpf_dynptr p;
	struct at_dns_msg *m;
	__u32 slot = !sent;

	if (!bpf_dynptr_from_skb)
		return 0;
	if (sent) {
		/* a segment sent has its socket: two loads, no copy */
		struct sock *sk = skb->sk;

		if (!sk || sk->sk_protocol != IPPROTO_TCP ||
		    sk->__sk_common.skc_dport != bpf_htons(DNS_PORT))
			return 0;
	} else if (!dns_from_port53(skb->head + skb->network_header, bpf_ntohs(skb->protocol),
				    IPPROTO_TCP)) {
		return 0;
	}
	m = bpf_map_lookup_elem(&dns_scratch, &slot);
	if (!m || bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &p))
		return 0;
	if (dns_tcp_parse(skb, &p, sent, m, &k, &g))
		return 0;
	if (sent && g.syn) {
		/* a SYN leaves in the connecting process's own context */
		struct at_session_ref *s = at_tracked(bpf_get_current_pid_tgid() >> 32);
		struct dns_port_val nv = {};

		if (!s) {
			/* the port may have been a session's */
			bpf_map_delete_elem(&dns_ports, &k);
			return 0;
		}
		at_fill_hdr(&nv.hdr, AT_REC_DNS_MSG, sizeof(*m), s);
		bpf_map_update_elem(&dns_ports, &k, &nv, BPF_ANY);
	}
	v = bpf_map_lookup_elem(&dns_ports, &k);
	if (!v)
		return 0;
	__builtin_memcpy(&m->hdr, &v->hdr, sizeof(m->hdr));
	m->hdr.ts = bpf_ktime_get_boot_ns();
	dns_tcp_segment(&p, &v->tcp[!sent], &g, m, &k, sent);
	return 0;
}

/* Segments may leave in softirq context (retransmits, ACK-clocked sends): attributed by port. */
SEC("tp_btf/net_dev_queue")
int BPF_PROG(dns_tcp_sent, struct sk_buff *skb)
{
	return dns_tcp(skb, true);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(dns_tcp_received, struct sk_buff *skb)
{
	return dns_tcp(skb, false);
}
