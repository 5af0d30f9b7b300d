/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_close events (bpf/netclose.h) and the destination classes of network events: the name a
 * connect carried is remembered by its addresses so the close of the same connection says it.
 */
#ifndef AITRAIL_NETCLOSE_DECODE_H
#define AITRAIL_NETCLOSE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "bpf/netclose.h"

struct at_net_connect;

/* Called by agent/net_decode.c for every decoded connect: dst_class/vendor, and the name for the
 * close. */
void netclose_on_connect(const struct at_hdr *h, const struct at_net_connect *r,
			 Aitrail__V1__NetConnect *nc);

/* The name the connect of this connection carried, or NULL; *source: how it was learnt. */
const char *netclass_name(uint32_t root_pid, uint16_t family, uint16_t dport, uint16_t sport,
			  const uint8_t *daddr, const char **source);

/* Fills nc (allocated from ar) from a raw record; -EINVAL for a malformed one. */
int netclose_fill(const struct at_net_close *r, size_t len, Aitrail__V1__NetClose *nc,
		  struct arena *ar);

/* Ring-buffer handler for AT_REC_NET_CLOSE (agent/dispatch.c). */
int netclose_decode(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		    at_event *ev, struct arena *ar);

/* Adds the timer that reports the bytes of connections still open (net_report_interval_s). */
int netclose_start(struct agent *a);
/* Reports every open connection now (a non-final net_close each); the agent's shutdown. */
void netclose_report_open(struct agent *a);

#endif
