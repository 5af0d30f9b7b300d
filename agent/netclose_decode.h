/* SPDX-License-Identifier: Apache-2.0 */
/* net_close events from bpf/netclose.h records (agent/netclose_decode.c: the netclose module). */
#ifndef AITRAIL_NETCLOSE_DECODE_H
#define AITRAIL_NETCLOSE_DECODE_H

#include <stddef.h>

#include "agent/arena.h"
#include "bpf/netclose.h"
#include "proto/event.pb-c.h"

/* Fills nc (allocated from ar) from a raw record; -EINVAL for a malformed one. */
int netclose_fill(const struct at_net_close *r, size_t len, Aitrail__V1__NetClose *nc,
		  struct arena *ar);

#endif
