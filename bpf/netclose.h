/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * net_close records shared by bpf/netclose.bpf.c and agent/netclose_decode.c: the byte counters
 * of a tracked process's TCP connection, read from the kernel's own tcp_sock when it closes, or
 * when the agent's periodic walk (an iter/tcp program) finds it still open.
 */
#ifndef AITRAIL_NETCLOSE_H
#define AITRAIL_NETCLOSE_H

#include "bpf/aitrail.h"

/* at_net_close.cflags */
#define AT_NC_F_FINAL (1u << 0)     /* the connection closed; otherwise a periodic report */
#define AT_NC_F_NO_SENT (1u << 1)   /* this kernel's tcp_sock has no bytes_sent */
/*
 * The kernel's counters count sequence space, so control bytes are in them: bytes_acked holds
 * our SYN (always) and our FIN once acknowledged, bytes_received the peer's FIN once received.
 * The kernel side says which are in; user space takes them out to get payload bytes.
 */
#define AT_NC_F_FIN_OUT (1u << 2)   /* our FIN was acknowledged: in bytes_acked */
#define AT_NC_F_FIN_IN (1u << 3)    /* the peer's FIN arrived: in bytes_received */

/*
 * AT_REC_NET_CLOSE. Fixed size. The header is the connecting process's, taken at connect;
 * hdr.ts is the time of the close (or of the report). Addresses as in at_net_connect: 4 or 16
 * bytes, network order; ports in host order.
 */
struct at_net_close {
	struct at_hdr hdr;
	__u64 start_ts;       /* CLOCK_BOOTTIME ns of the connect */
	__u64 bytes_acked;    /* tcp_sock bytes_acked: sequence space the peer acknowledged */
	__u64 bytes_received; /* tcp_sock bytes_received: sequence space received in order */
	__u64 bytes_sent;     /* bytes sent, retransmissions included */
	__u32 total_retrans;
	__u16 family;         /* AF_INET, AF_INET6 */
	__u16 dport;
	__u16 sport;
	__u8 cflags;          /* AT_NC_F_* */
	__u8 _pad1;
	__u8 daddr[16];
	__u8 saddr[16];
	__u32 _pad2;
};

#endif
