// SPDX-License-Identifier: Apache-2.0
/*
 * The net module: net_connect events from connect and send records (bpf/net.h), named by the
 * connection's first bytes (bpf/firstwrite.bpf.c) or the session's DNS answers, and the
 * connects the kernel holds back until then.
 */
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "agent/dns_decode.h"
#include "agent/module.h"
#include "agent/net_decode.h"
#include "agent/netclass.h"
#include "agent/netname.h"
#include "agent/sweep.h"
#include "bpf/aitrail.skel.h"
#include "common/log.h"
#include "common/util.h"

#define NET_HOLD_MAX_MS 1000

_Static_assert(sizeof(struct at_net_connect) % 8 == 0, "ring buffer records are 8-byte aligned");

static const char *net_proto_name(const struct at_net_connect *r, char *buf, size_t len)
{
	if (r->nflags & AT_NET_F_NO_SOCK)
		return "";
	if (r->family == AF_UNIX) {
		switch (r->sock_type) {
		case SOCK_STREAM:
			return "unix-stream";
		case SOCK_DGRAM:
			return "unix-dgram";
		case SOCK_SEQPACKET:
			return "unix-seqpacket";
		}
		snprintf(buf, len, "unix-type-%u", r->sock_type);
		return buf;
	}
	switch (r->protocol) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_UDPLITE:
		return "udplite";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmp6";
	case IPPROTO_SCTP:
		return "sctp";
	case IPPROTO_MPTCP:
		return "mptcp";
	}
	snprintf(buf, len, "ip-proto-%u", r->protocol);
	return buf;
}

static const char *net_syscall_name(unsigned int sys)
{
	switch (sys) {
	case AT_NET_SYS_CONNECT:
		return "connect";
	case AT_NET_SYS_SENDTO:
		return "sendto";
	case AT_NET_SYS_SENDMSG:
		return "sendmsg";
	case AT_NET_SYS_SENDMMSG:
		return "sendmmsg";
	case AT_NET_SYS_URING_CONNECT:
		return "io_uring_connect";
	}
	return NULL;
}

static void net_unix_text(const struct at_net_connect *r, char *out)
{
	size_t n = r->path_len, i, o = 0;

	if (r->nflags & AT_NET_F_ABSTRACT) {
		out[o++] = '@';
		for (i = 1; i < n; i++)
			out[o++] = r->path[i] ? r->path[i] : '@';
	} else {
		/* a filesystem path ends at its first NUL; addrlen may count the terminator */
		for (i = 0; i < n && r->path[i]; i++)
			out[o++] = r->path[i];
	}
	out[o] = '\0';
}

int net_connect_text(const struct at_net_connect *r, size_t len, struct net_connect_text *t)
{
	if (len < sizeof(*r) || r->path_len > AT_UNIX_PATH_MAX)
		return -EINVAL;
	t->syscall = net_syscall_name(r->syscall);
	if (!t->syscall)
		return -EINVAL;
	t->daddr[0] = t->saddr[0] = '\0';
	switch (r->family) {
	case AF_INET:
		t->family = "inet";
		inet_ntop(AF_INET, r->daddr, t->daddr, sizeof(t->daddr));
		inet_ntop(AF_INET, r->saddr, t->saddr, sizeof(t->saddr));
		break;
	case AF_INET6:
		t->family = "inet6";
		inet_ntop(AF_INET6, r->daddr, t->daddr, sizeof(t->daddr));
		inet_ntop(AF_INET6, r->saddr, t->saddr, sizeof(t->saddr));
		break;
	case AF_UNIX:
		t->family = "unix";
		net_unix_text(r, t->daddr);
		break;
	default:
		return -EINVAL;
	}
	t->proto = net_proto_name(r, t->proto_buf, sizeof(t->proto_buf));
	return 0;
}

/*
 * Keeps the DNS name beside the name the connection's bytes gave, and flags a host the session
 * never resolved to this address: an SNI or Host header aimed past what the resolver was asked
 * (domain fronting, a hard-coded address). A proxy's CONNECT names a host other than the proxy
 * by design, so it is never a mismatch.
 */
static int net_name_check(const struct at_hdr *h, const struct at_net_connect *r,
			  const char *name, const char *source, const char *dns,
			  Aitrail__V1__NetConnect *nc, struct arena *ar)
{
	nc->dns_name = arena_strndup(ar, dns, DNS_NAME_MAX);
	if (!nc->dns_name)
		return -ENOMEM;
	if (strcmp(source, "http_connect") && strcasecmp(name, dns) &&
	    !dns_names_answered(h->root_pid, h->root_start, r->family, r->daddr, name))
		nc->name_mismatch = true;
	return 0;
}

/* Fills ev from a connect record; name/source: what the connection's first bytes named. */
static int net_fill(const struct at_hdr *h, const struct at_net_connect *r, size_t len,
		    const char *name, const char *source, at_event *ev, struct arena *ar)
{
	struct net_connect_text t;
	Aitrail__V1__NetConnect *nc;
	const char *dns;
	int err;

	err = net_connect_text(r, len, &t);
	if (err) {
		log_debug("failed to decode net_connect record: family %u, syscall %u, path_len %u",
			  r->family, r->syscall, r->path_len);
		return err;
	}
	nc = arena_alloc(ar, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	aitrail__v1__net_connect__init(nc);
	nc->family = (char *)t.family;
	nc->proto = arena_strndup(ar, t.proto, sizeof(t.daddr));
	nc->daddr = arena_strndup(ar, t.daddr, sizeof(t.daddr));
	nc->saddr = arena_strndup(ar, t.saddr, sizeof(t.saddr));
	nc->syscall = (char *)t.syscall;
	if (!nc->proto || !nc->daddr || !nc->saddr)
		return -ENOMEM;
	if (r->family != AF_UNIX) {
		nc->dport = r->dport;
		nc->sport = r->sport;
		/* what the client itself asked for beats what a resolver said about the address */
		dns = dns_names_lookup(h->root_pid, h->root_start, r->family, r->daddr);
		if (!name) {
			name = dns;
			source = "dns";
		} else if (dns) {
			err = net_name_check(h, r, name, source, dns, nc, ar);
			if (err)
				return err;
		}
		if (name) {
			nc->dst_name = arena_strndup(ar, name, DNS_NAME_MAX);
			nc->name_source = (char *)source;
			if (!nc->dst_name)
				return -ENOMEM;
		}
	}
	netclass_on_connect(h, r, nc); /* dst_class, vendor; the name for the close */
	nc->result = r->result;
	nc->nonblocking = !!(r->nflags & AT_NET_F_NONBLOCK);
	ev->body_case = AITRAIL__V1__EVENT__BODY_NET_CONNECT;
	ev->net_connect = nc;
	return 0;
}

int net_connect_event(const struct at_hdr *h, const struct at_net_connect *r, size_t len,
		      at_event *ev, struct arena *ar)
{
	return net_fill(h, r, len, NULL, NULL, ev, ar);
}

static int decode_connect(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			  at_event *ev, struct arena *ar)
{
	return net_connect_event(h, rec, len, ev, ar);
}

static int decode_connect_data(struct agent *a, const struct at_hdr *h, const void *rec,
			       size_t len, at_event *ev, struct arena *ar)
{
	const struct at_net_connect_data *d = rec;
	char name[DNS_NAME_MAX];
	const char *source;

	if (len < offsetof(struct at_net_connect_data, data) || d->data_len > AT_NET_DATA_MAX ||
	    offsetof(struct at_net_connect_data, data) + d->data_len > len)
		return -EINVAL;
	source = netname_from_data(d->data, d->data_len, name, sizeof(name));
	return net_fill(h, &d->c, sizeof(d->c), source ? name : NULL, source, ev, ar);
}

static const struct agent_rec net_recs[] = {
	{ AT_REC_NET_CONNECT, sizeof(struct at_net_connect), "net_connect", decode_connect },
	{ AT_REC_NET_CONNECT_DATA, offsetof(struct at_net_connect_data, data), "net_connect",
	  decode_connect_data },
	{ 0 },
};

/*
 * Connect records the kernel holds back (bpf/net.bpf.h): established TCP connects waiting for a
 * first write that may name the peer, and non-blocking connects waiting for their outcome. The
 * sweep takes entries older than NET_HOLD_MAX_MS, and everything at shutdown.
 */
static size_t connect_done(void *rec)
{
	return sizeof(struct at_net_connect);
}

static size_t connect_pending(void *rec)
{
	((struct at_net_connect *)rec)->result = -EINPROGRESS; /* the agent stops first */
	return sizeof(struct at_net_connect);
}

static int sweep_map(struct agent *a, int fd, uint64_t min_age_ns, bool pending)
{
	struct at_net_connect r;

	return sweep_held(a, fd, &r, min_age_ns, pending ? connect_pending : connect_done,
			  &net_recs[0]);
}

/* Emits held connect records: old ones, or (all) every one, before the agent stops. */
static void net_sweep(struct agent *a, bool all)
{
	/* a batch per tick; at shutdown, until the maps are empty */
	int rounds = all ? 8192 / SWEEP_BATCH + 1 : 1;

	if (!a->skel)
		return;
	for (int i = 0; i < rounds; i++)
		if (!sweep_map(a, bpf_map__fd(a->skel->maps.net_estab),
			       all ? 0 : NET_HOLD_MAX_MS * 1000000ULL, false))
			break;
	for (int i = 0; all && i < rounds; i++)
		if (!sweep_map(a, bpf_map__fd(a->skel->maps.net_synsent), 0, true))
			break;
}


const struct agent_module net_module = {
	.name = "net",
	.progs = (const char *const[]){ "net_", "fw_", NULL },
	.recs = net_recs,
	/* at shutdown, connects the kernel still held are emitted, not dropped */
	.held = &(const struct sweeper){ "held-connect", NET_HOLD_MAX_MS / 2, net_sweep },
};
