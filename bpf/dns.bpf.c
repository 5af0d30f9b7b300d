// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * DNS traffic of tracked processes, seen at the packet. Every way of sending (send, sendto,
 * sendmsg, sendmmsg, write) reaches net_dev_queue in the sender's context: a datagram to port
 * 53 from a tracked process is a query, and its local port is remembered with the sender's
 * header. Answers are taken where every received packet passes (netif_receive_skb, loopback
 * included), by that port: how the process later reads them (recv, read, a copy without a
 * checksum pass) no longer matters. Only UDP is taken; the payload goes to user space unparsed.
 */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#include "dns.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP 17
#define DNS_PORT 53

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2); /* 0: send path, 1: receive path (softirq may interrupt a send) */
	__type(key, __u32);
	__type(value, struct at_dns_msg);
} dns_scratch SEC(".maps");

struct dns_port_key {
	__u16 family;
	__u16 port; /* the querying socket's local port, host order */
};

/* Local ports that sent a query, with the header answers are attributed to. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct dns_port_key);
	__type(value, struct at_hdr);
} dns_ports SEC(".maps");

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

/* Copies the payload (never past the skb's linear part) and sends the record. */
static __always_inline void dns_output(const struct sk_buff *skb, struct at_dns_msg *m,
				       unsigned char *payload, bool sent)
{
	unsigned char *tail = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, tail);
	__u32 n, linear;

	linear = payload < tail ? tail - payload : 0;
	n = m->len < linear ? m->len : linear;
	n = n < AT_DNS_MAX ? n : AT_DNS_MAX;
	barrier_var(n);
	n &= 1023;
	if (n > AT_DNS_MAX)
		return;
	if (n && bpf_probe_read_kernel(m->data, n, payload)) {
		at_count(AT_CNT_READ_KERN_FAIL);
		return;
	}
	m->cap_len = n;
	m->dir = sent ? AT_DNS_SENT : AT_DNS_RECEIVED;
	m->_pad[0] = m->_pad[1] = m->_pad[2] = 0;
	n = (offsetof(struct at_dns_msg, data) + n + 7) & ~7u;
	if (n > sizeof(*m))
		n = sizeof(*m);
	m->hdr.size = n;
	at_output(&rb_core, m, n, AT_CNT_RB_CORE_FULL);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(dns_sent, struct sk_buff *skb)
{
	struct at_session_ref *s = at_tracked(bpf_get_current_pid_tgid() >> 32);
	struct dns_port_key k = {};
	unsigned char *payload;
	struct at_dns_msg *m;
	__u32 zero = 0;
	__u16 lport;

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
	bpf_map_update_elem(&dns_ports, &k, &m->hdr, BPF_ANY);
	dns_output(skb, m, payload, true);
	return 0;
}

/* Softirq: the reader is unknown here, so the answer takes the header of its query. */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(dns_received, struct sk_buff *skb)
{
	struct dns_port_key k = {};
	unsigned char *payload;
	struct at_dns_msg *m;
	struct at_hdr *h;
	__u32 one = 1;
	__u16 lport;

	m = bpf_map_lookup_elem(&dns_scratch, &one);
	if (!m)
		return 0;
	if (dns_parse(BPF_CORE_READ(skb, data), bpf_ntohs(BPF_CORE_READ(skb, protocol)), false, m,
		      &lport, &payload))
		return 0;
	k.family = m->family;
	k.port = lport;
	h = bpf_map_lookup_elem(&dns_ports, &k);
	if (!h)
		return 0;
	__builtin_memcpy(&m->hdr, h, sizeof(m->hdr));
	m->hdr.ts = bpf_ktime_get_boot_ns();
	dns_output(skb, m, payload, false);
	return 0;
}
