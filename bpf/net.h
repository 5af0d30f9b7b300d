/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Network records shared by bpf/net.bpf.c and agent/net_decode.c. Addresses are kept as the
 * kernel has them (network byte order, raw unix path bytes) so decoding lives in one place: user
 * space.
 */
#ifndef AITRAIL_NET_H
#define AITRAIL_NET_H

#include "bpf/aitrail.h"

/* sizeof(sockaddr_un.sun_path): abstract names may use all of it and contain NULs. */
#define AT_UNIX_PATH_MAX 108
/* Buffer for the caller's sockaddr (sockaddr_storage); a power of 2 so a mask bounds reads. */
#define AT_SOCKADDR_MAX 128

enum at_net_syscall {
	AT_NET_SYS_CONNECT = 1,
	AT_NET_SYS_SENDTO = 2,
	AT_NET_SYS_SENDMSG = 3,
	AT_NET_SYS_SENDMMSG = 4,
	AT_NET_SYS_URING_CONNECT = 5, /* IORING_OP_CONNECT (agent/uring_decode.c makes the record) */
};

/* at_net_connect.nflags */
#define AT_NET_F_NONBLOCK (1u << 0)  /* outcome came from the socket after EINPROGRESS */
#define AT_NET_F_ABSTRACT (1u << 1)  /* unix: abstract name, path holds the bytes after the NUL */
#define AT_NET_F_NO_SOCK (1u << 2)   /* the fd did not resolve to a socket: type/local unknown */
#define AT_NET_F_TRUNC (1u << 3)     /* unix path longer than the copied bytes */

/*
 * AT_REC_NET_CONNECT. Fixed size. For inet/inet6, daddr/saddr hold 4 or 16 address bytes and
 * the ports are in host byte order; for unix, path holds path_len bytes (no terminator).
 */
struct at_net_connect {
	struct at_hdr hdr;
	__u16 family;      /* AF_INET, AF_INET6, AF_UNIX */
	__u16 sock_type;   /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET; 0 if unknown */
	__u16 protocol;    /* IPPROTO_TCP, IPPROTO_UDP, ... as the socket has it */
	__u16 dport;
	__u16 sport;
	__u8 syscall;      /* enum at_net_syscall */
	__u8 nflags;       /* AT_NET_F_* */
	__s32 result;      /* 0 or -errno */
	__u32 path_len;
	__u8 daddr[16];
	__u8 saddr[16];
	char path[AT_UNIX_PATH_MAX];
	__u8 _pad[8];
};

/* First bytes of a connection's first write kept for naming its peer; a ClientHello fits. */
#define AT_NET_DATA_MAX 1024

/*
 * AT_REC_NET_CONNECT_DATA: an established TCP connect with the start of its first write.
 * Variable size: c.hdr.size = offsetof(data) + data_len, rounded up to 8.
 */
struct at_net_connect_data {
	struct at_net_connect c;
	__u32 data_len;  /* bytes in data */
	__u32 write_len; /* bytes the write asked to send */
	__u8 data[AT_NET_DATA_MAX];
};

#endif
