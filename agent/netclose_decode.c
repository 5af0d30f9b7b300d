// SPDX-License-Identifier: Apache-2.0
/*
 * net_close: the kernel reports a tracked TCP connection's own byte counters when it closes
 * (bpf/netclose.bpf.c). Connections that stay open are reported every net_report_interval_s
 * by running the netclose_iter program, which walks the TCP sockets of the agent's network
 * namespace (connections in other namespaces are reported at close only).
 * The name comes from the connect of the same connection (agent/netclass.c), else from the
 * session's DNS answers.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/dns_decode.h"
#include "agent/loop.h"
#include "agent/module.h"
#include "agent/netclass.h"
#include "agent/netclose_decode.h"
#include "agent/vendor.h"
#include "bpf/aitrail.skel.h"
#include "bpf/net.h"
#include "common/log.h"
#include "common/util.h"

_Static_assert(sizeof(struct at_net_close) % 8 == 0, "ring buffer records are 8-byte aligned");

/* Sequence-space count minus the control bytes in it (bpf/netclose.h). */
static uint64_t netclose_payload(uint64_t seq_bytes, unsigned int control)
{
	return seq_bytes > control ? seq_bytes - control : 0;
}

int netclose_fill(const struct at_net_close *r, size_t len, Aitrail__V1__NetClose *nc,
		  struct arena *ar)
{
	char d[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN];
	int af;

	if (len < sizeof(*r))
		return -EINVAL;
	if (r->family == AF_INET) {
		af = AF_INET;
		nc->family = "inet";
	} else if (r->family == AF_INET6) {
		af = AF_INET6;
		nc->family = "inet6";
	} else {
		return -EINVAL;
	}
	inet_ntop(af, r->daddr, d, sizeof(d));
	inet_ntop(af, r->saddr, s, sizeof(s));
	nc->proto = "tcp";
	nc->daddr = arena_strndup(ar, d, sizeof(d));
	nc->saddr = arena_strndup(ar, s, sizeof(s));
	if (!nc->daddr || !nc->saddr)
		return -ENOMEM;
	nc->dport = r->dport;
	nc->sport = r->sport;
	nc->bytes_sent = netclose_payload(r->bytes_acked, 1 + !!(r->cflags & AT_NC_F_FIN_OUT));
	nc->bytes_received = netclose_payload(r->bytes_received, !!(r->cflags & AT_NC_F_FIN_IN));
	nc->bytes_sent_total = r->bytes_sent;
	nc->segs_retrans = r->total_retrans;
	nc->duration_ns = r->hdr.ts > r->start_ts ? r->hdr.ts - r->start_ts : 0;
	nc->final = !!(r->cflags & AT_NC_F_FINAL);
	return 0;
}

static int netclose_decode(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			   at_event *ev, struct arena *ar)
{
	const struct at_net_close *r = rec;
	Aitrail__V1__NetClose *nc = arena_alloc(ar, sizeof(*nc));
	const char *src = NULL;
	struct vendor_match m;
	const char *name = NULL, *source = NULL;
	int err;

	if (!nc)
		return -ENOMEM;
	aitrail__v1__net_close__init(nc);
	err = netclose_fill(r, len, nc, ar);
	if (err)
		return err;
	name = netclass_name(r->hdr.root_pid, r->family, r->dport, r->sport, r->daddr, &src);
	if (name) {
		source = src;
	} else {
		name = dns_names_lookup(h->root_pid, h->root_start, r->family, r->daddr);
		source = "dns";
	}
	if (name) {
		nc->dst_name = arena_strndup(ar, name, DNS_NAME_MAX);
		nc->name_source = (char *)source;
		if (!nc->dst_name)
			return -ENOMEM;
		vendor_classify(name, &m);
		nc->dst_class = (char *)m.dst_class;
		nc->vendor = (char *)m.vendor;
	}
	ev->body_case = AITRAIL__V1__EVENT__BODY_NET_CLOSE;
	ev->net_close = nc;
	return 0;
}

static const struct agent_rec netclose_recs[] = {
	{ AT_REC_NET_CLOSE, sizeof(struct at_net_close), "net_close", netclose_decode },
	{ 0 },
};

/* Reports every open connection now (a non-final net_close each). */
static void netclose_report_open(struct agent *a)
{
	struct at_net_close r;
	size_t got = 0;
	ssize_t n;
	int fd;

	if (!a->skel || !a->skel->links.netclose_iter)
		return;
	fd = bpf_iter_create(bpf_link__fd(a->skel->links.netclose_iter));
	if (fd < 0) {
		log_warn("failed to create the open-connection iterator: %s", strerror(errno));
		return;
	}
	for (;;) {
		n = read(fd, (char *)&r + got, sizeof(r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_warn("failed to read the open-connection iterator: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += n;
		if (got == sizeof(r)) {
			agent_emit_record(a, &netclose_recs[0], &r, sizeof(r));
			got = 0;
		}
	}
	close(fd);
}

static void on_report_timer(struct agent *a, void *arg)
{
	netclose_report_open(a);
}

/* Adds the timer that reports the bytes of connections still open (net_report_interval_s). */
static int netclose_start(struct agent *a)
{
	int err;

	if (!a->cfg->net_report_interval_s)
		return 0;
	err = loop_add_timer(a, a->cfg->net_report_interval_s * 1000, on_report_timer, NULL);
	if (err < 0)
		log_error("failed to add the open-connection report timer: %s", strerror(-err));
	return err < 0 ? err : 0;
}

const struct agent_module netclose_module = {
	.name = "netclose",
	.progs = (const char *const[]){ "netclose_", NULL },
	.recs = netclose_recs,
	.start = netclose_start,
	.sweep = netclose_report_open, /* bytes so far of connections still open */
};
