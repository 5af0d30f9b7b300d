/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of network records (bpf/net.h) into NetConnect bodies (agent/net_decode.c: the net
 * module). net_connect_text is the pure part, kept apart from the arena so it can be tested on
 * canned records.
 */
#ifndef AITRAIL_NET_DECODE_H
#define AITRAIL_NET_DECODE_H

#include <stddef.h>

#include "agent/emit.h"
#include "bpf/net.h"

/* "@" + name for abstract unix names; NULs inside a name are shown as '@', as ss(8) does. */
#define NET_ADDR_TEXT_MAX (AT_UNIX_PATH_MAX + 2)

struct net_connect_text {
	const char *family;   /* inet, inet6, unix */
	const char *proto;    /* tcp, udp, unix-stream, unix-dgram, ...; "" when unknown */
	const char *syscall;  /* connect, sendto, sendmsg, sendmmsg */
	char daddr[NET_ADDR_TEXT_MAX];
	char saddr[NET_ADDR_TEXT_MAX];
	char proto_buf[24];   /* proto of a kind without a fixed name, e.g. "ip-proto-132" */
};

/* Validates a raw record and renders its text fields. -EINVAL names nothing: the caller logs. */
int net_connect_text(const struct at_net_connect *r, size_t len, struct net_connect_text *t);

/*
 * A net_connect event from a connect record made elsewhere (agent/uring_decode.c: a connect
 * through a ring): named, classed and reported like one the kernel sent.
 */
int net_connect_event(const struct at_hdr *h, const struct at_net_connect *r, size_t len,
		      at_event *ev, struct arena *ar);

#endif
