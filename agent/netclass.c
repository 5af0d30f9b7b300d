// SPDX-License-Identifier: Apache-2.0
/*
 * Destination classes on connects, and the connect's name kept for the close of the same
 * connection: each named connect is remembered by session, addresses and ports in a
 * direct-mapped table; a slot taken over by a later connect only costs the close its name
 * (then the session's DNS answers are asked), never the event. Kept apart from
 * agent/netclose_decode.c so the connect decoder does not pull in the daemon's loop.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/dns_decode.h"
#include "agent/netclass.h"
#include "agent/vendor.h"
#include "bpf/net.h"

#define NC_NAMES 2048 /* power of 2 */

struct nc_name {
	uint32_t root_pid;
	uint16_t family, dport, sport;
	uint8_t daddr[16];
	const char *source; /* static strings from agent/net_decode.c; NULL = empty slot */
	char name[DNS_NAME_MAX];
};

static struct nc_name names[NC_NAMES];

static uint32_t nc_hash(uint32_t root_pid, uint16_t family, uint16_t dport, uint16_t sport,
			const uint8_t *daddr)
{
	uint32_t h = 2166136261u;
	uint8_t k[26];

	memcpy(k, &root_pid, 4);
	memcpy(k + 4, &family, 2);
	memcpy(k + 6, &dport, 2);
	memcpy(k + 8, &sport, 2);
	memcpy(k + 10, daddr, 16);
	for (size_t i = 0; i < sizeof(k); i++)
		h = (h ^ k[i]) * 16777619u;
	return h & (NC_NAMES - 1);
}

void netclass_on_connect(const struct at_hdr *h, const struct at_net_connect *r,
			 Aitrail__V1__NetConnect *nc)
{
	struct vendor_match m;
	struct nc_name *e;

	if (!nc->dst_name || !nc->dst_name[0])
		return;
	vendor_classify(nc->dst_name, &m);
	nc->dst_class = (char *)m.dst_class;
	nc->vendor = (char *)m.vendor;
	if (r->family != AF_INET && r->family != AF_INET6)
		return;
	e = &names[nc_hash(h->root_pid, r->family, r->dport, r->sport, r->daddr)];
	e->root_pid = h->root_pid;
	e->family = r->family;
	e->dport = r->dport;
	e->sport = r->sport;
	memcpy(e->daddr, r->daddr, 16);
	e->source = nc->name_source ? nc->name_source : "";
	snprintf(e->name, sizeof(e->name), "%s", nc->dst_name);
}

const char *netclass_name(uint32_t root_pid, uint16_t family, uint16_t dport, uint16_t sport,
			  const uint8_t *daddr, const char **source)
{
	const struct nc_name *e = &names[nc_hash(root_pid, family, dport, sport, daddr)];

	if (!e->source || e->root_pid != root_pid || e->family != family || e->dport != dport ||
	    e->sport != sport || memcmp(e->daddr, daddr, 16))
		return NULL;
	*source = e->source;
	return e->name;
}

