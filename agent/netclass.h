/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Destination classes of network events, and the name a connect carried remembered by its
 * addresses, so the close of the same connection says it (agent/netclass.c).
 */
#ifndef AITRAIL_NETCLASS_H
#define AITRAIL_NETCLASS_H

#include <stdint.h>

#include "bpf/aitrail.h"
#include "proto/event.pb-c.h"

struct at_net_connect;

/* For every decoded connect (agent/net_decode.c): dst_class/vendor, and the name for the close. */
void netclass_on_connect(const struct at_hdr *h, const struct at_net_connect *r,
			 Aitrail__V1__NetConnect *nc);

/* The name the connect of this connection carried, or NULL; *source: how it was learnt. */
const char *netclass_name(uint32_t root_pid, uint16_t family, uint16_t dport, uint16_t sport,
			  const uint8_t *daddr, const char **source);

#endif
