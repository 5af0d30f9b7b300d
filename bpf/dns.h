/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * DNS messages of tracked processes, shared by bpf/dns.bpf.c and agent/dns_decode.c. The kernel
 * only copies the messages of port-53 traffic (a UDP datagram's payload, or one length-prefixed
 * message of a TCP stream); all parsing happens in user space.
 */
#ifndef AITRAIL_DNS_H
#define AITRAIL_DNS_H

#include "bpf/aitrail.h"

/*
 * Bytes of one message kept; larger ones are cut (cap_len < len). A power of two. TCP is what
 * resolvers fall back to for answers too big for 512 bytes, so those must fit.
 */
#define AT_DNS_MAX 2048

enum at_dns_dir {
	AT_DNS_SENT = 1,     /* a query (or anything) the process sent to port 53 */
	AT_DNS_RECEIVED = 2, /* an answer the process read from port 53 */
};

/* AT_REC_DNS_MSG. Variable size: header.size = offsetof(data) + cap_len, rounded up to 8. */
struct at_dns_msg {
	struct at_hdr hdr;
	__u16 family;   /* AF_INET, AF_INET6 */
	__u16 port;     /* the server's port, host order */
	__u8 dir;       /* enum at_dns_dir */
	__u8 proto;     /* IPPROTO_UDP (17), IPPROTO_TCP (6) */
	__u8 _pad[2];
	__u32 len;      /* payload length on the wire */
	__u32 cap_len;  /* bytes in data */
	__u8 server[16];
	__u8 data[AT_DNS_MAX];
};

#endif
