// SPDX-License-Identifier: Apache-2.0
/*
 * The dns module: dns_query and dns_answer events from the DNS messages of bpf/dns.h, and the
 * names the answers teach (for net_connect and net_close).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "agent/partsoff.h"
#include "agent/dns_decode.h"
#include "agent/module.h"
#include "common/log.h"

#define DNS_HDR_LEN 12
#define DNS_MAX_JUMPS 32     /* compression pointers followed per name: stops loops */
#define DNS_NAME_SLOTS 4096  /* name cache: direct-mapped, a collision forgets the older name */
#define DNS_PAIR_SLOTS 16384 /* (name, address) answers seen: fingerprints, direct-mapped */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Reads the name at *off into out (dotted, no final dot; "." for the root). *off moves past the
 * name where it sits in the message, not past where pointers led. Returns 0 or -EBADMSG.
 */
static int dns_read_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, o = 0, end = 0;
	int jumps = 0;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return -EBADMSG;
		l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++jumps > DNS_MAX_JUMPS)
				return -EBADMSG;
			if (!end)
				end = pos + 2;
			pos = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG; /* 0x40/0x80 label types are obsolete */
		if (!l) {
			if (!end)
				end = pos + 1;
			break;
		}
		if (pos + 1 + l > len)
			return -EBADMSG;
		if (o && o + 1 < outlen)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = msg[pos + 1 + i];

			/* bytes that would make the name ambiguous or unprintable are escaped */
			if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
				if (o + 1 < outlen)
					out[o++] = c;
			} else if (o + 4 < outlen) {
				o += snprintf(out + o, outlen - o, "\\%03u", c);
			}
		}
		pos += 1 + l;
	}
	if (!o && outlen > 1)
		out[o++] = '.';
	out[o] = '\0';
	*off = end;
	return 0;
}

const char *dns_type_name(unsigned int type, char *buf, size_t len)
{
	switch (type) {
	case 1:
		return "A";
	case 2:
		return "NS";
	case 5:
		return "CNAME";
	case 6:
		return "SOA";
	case 12:
		return "PTR";
	case 15:
		return "MX";
	case 16:
		return "TXT";
	case 28:
		return "AAAA";
	case 33:
		return "SRV";
	case 64:
		return "SVCB";
	case 65:
		return "HTTPS";
	case 255:
		return "ANY";
	}
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

const char *dns_rcode_name(unsigned int rcode, char *buf, size_t len)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",  "REFUSED" };

	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

static void dns_parse_answer(const uint8_t *msg, size_t len, size_t rd, unsigned int type,
			     unsigned int rdlen, const char *owner, struct dns_parsed *d)
{
	char *out = d->answers[d->n_answers];
	char data[DNS_NAME_MAX], tbuf[16];
	const char *tname = dns_type_name(type, tbuf, sizeof(tbuf));
	struct dns_addr *a = &d->addrs[d->n_addrs];
	size_t off = rd;

	data[0] = '\0';
	if ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)) {
		a->family = type == 1 ? AF_INET : AF_INET6;
		memset(a->addr, 0, sizeof(a->addr));
		memcpy(a->addr, msg + rd, rdlen);
		inet_ntop(a->family, a->addr, data, sizeof(data));
		d->n_addrs++;
	} else if (type == 5 || type == 2 || type == 12) {
		if (dns_read_name(msg, len, &off, data, sizeof(data)))
			snprintf(data, sizeof(data), "(bad name)");
	}
	snprintf(out, DNS_ANSWER_TEXT, "%s %s%s%s", owner, tname, data[0] ? " " : "", data);
	d->n_answers++;
}

int dns_parse(const uint8_t *msg, size_t len, struct dns_parsed *d)
{
	unsigned int qd, an, flags;
	size_t off = DNS_HDR_LEN;
	char owner[DNS_NAME_MAX];

	memset(d, 0, offsetof(struct dns_parsed, answers));
	d->n_addrs = 0;
	d->incomplete = false;
	if (len < DNS_HDR_LEN)
		return -EBADMSG;
	d->id = rd16(msg);
	flags = rd16(msg + 2);
	d->response = flags & 0x8000;
	d->rcode = flags & 0xf;
	qd = rd16(msg + 4);
	an = rd16(msg + 6);
	if (qd < 1)
		return -EBADMSG; /* every query and answer we care about carries its question */
	if (dns_read_name(msg, len, &off, d->qname, sizeof(d->qname)) || off + 4 > len)
		return -EBADMSG;
	d->qtype = rd16(msg + off);
	off += 4;
	/* further questions are vanishingly rare; skip them */
	for (unsigned int i = 1; i < qd; i++) {
		if (dns_read_name(msg, len, &off, owner, sizeof(owner)) || off + 4 > len) {
			d->incomplete = true;
			return 0;
		}
		off += 4;
	}
	for (unsigned int i = 0; i < an && d->n_answers < DNS_MAX_ANSWERS; i++) {
		unsigned int type, rdlen;

		if (dns_read_name(msg, len, &off, owner, sizeof(owner)) || off + 10 > len) {
			d->incomplete = true;
			break;
		}
		type = rd16(msg + off);
		rdlen = rd16(msg + off + 8);
		off += 10;
		if (off + rdlen > len) {
			d->incomplete = true;
			break;
		}
		dns_parse_answer(msg, len, off, type, rdlen, owner, d);
		off += rdlen;
	}
	return 0;
}

/* ---- names the session's own answers taught */

struct name_slot {
	uint64_t root_start;
	uint32_t root_pid;
	struct dns_addr a;
	char name[DNS_NAME_MAX];
};

static struct name_slot *name_slots;
/*
 * Every (session, address, name) an answer gave, as a 64-bit fingerprint: the name cache keeps
 * only the last name per address, while a CDN address answers for many names, and a mismatch
 * must not be claimed for a name the session did resolve to that address.
 */
static uint64_t *pair_slots;

static size_t name_hash(uint32_t root_pid, uint64_t root_start, uint16_t family,
			const uint8_t *addr)
{
	uint64_t h = 14695981039346656037ULL;
	uint8_t key[30];

	memcpy(key, &root_start, 8);
	memcpy(key + 8, &root_pid, 4);
	memcpy(key + 12, &family, 2);
	memcpy(key + 14, addr, 16);
	for (size_t i = 0; i < sizeof(key); i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return h % DNS_NAME_SLOTS;
}

static uint64_t pair_hash(uint32_t root_pid, uint64_t root_start, uint16_t family,
			  const uint8_t *addr, const char *name)
{
	uint64_t h = name_hash(root_pid, root_start, family, addr) * 1099511628211ULL;

	/* DNS names compare without case */
	for (const char *c = name; *c; c++) {
		char l = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c;

		h = (h ^ (uint8_t)l) * 1099511628211ULL;
	}
	return h | 1; /* 0 marks an empty slot */
}

bool dns_names_answered(uint32_t root_pid, uint64_t root_start, uint16_t family,
			const uint8_t *addr, const char *name)
{
	uint64_t h;

	if (!pair_slots)
		return false;
	h = pair_hash(root_pid, root_start, family, addr, name);
	return pair_slots[h % DNS_PAIR_SLOTS] == h;
}

void dns_names_learn(uint32_t root_pid, uint64_t root_start, const struct dns_addr *a,
		     const char *name)
{
	struct name_slot *s;
	uint64_t h;

	if (!pair_slots)
		pair_slots = calloc(DNS_PAIR_SLOTS, sizeof(*pair_slots));
	if (pair_slots) {
		h = pair_hash(root_pid, root_start, a->family, a->addr, name);
		pair_slots[h % DNS_PAIR_SLOTS] = h;
	}

	if (!name_slots) {
		name_slots = calloc(DNS_NAME_SLOTS, sizeof(*name_slots));
		if (!name_slots) {
			log_warn("failed to allocate the DNS name cache: %s", strerror(ENOMEM));
			return;
		}
	}
	s = &name_slots[name_hash(root_pid, root_start, a->family, a->addr)];
	s->root_start = root_start;
	s->root_pid = root_pid;
	s->a = *a;
	snprintf(s->name, sizeof(s->name), "%s", name);
}

const char *dns_names_lookup(uint32_t root_pid, uint64_t root_start, uint16_t family,
			     const uint8_t *addr)
{
	struct name_slot *s;

	if (!name_slots)
		return NULL;
	s = &name_slots[name_hash(root_pid, root_start, family, addr)];
	if (s->root_pid != root_pid || s->root_start != root_start || s->a.family != family ||
	    memcmp(s->a.addr, addr, 16))
		return NULL;
	return s->name;
}

void dns_names_free(void)
{
	free(name_slots);
	name_slots = NULL;
	free(pair_slots);
	pair_slots = NULL;
}

/* ---- records */

/*
 * Chooses the DNS programs this kernel can run, with a warning for what is then missing: the
 * TCP ones need the kfunc they read segments with, and the ones that turn answers into policy
 * entries in the kernel need bpf_loop.
 */
static void dns_autoload(struct bpf_object *obj)
{
	static int dynptr = -1, loop = -1;
	struct bpf_program *prog;
	struct btf *vmlinux;

	if (dynptr < 0) {
		vmlinux = btf__load_vmlinux_btf();
		dynptr = vmlinux && btf__find_by_name_kind(vmlinux, "bpf_dynptr_from_skb",
							   BTF_KIND_FUNC) > 0;
		btf__free(vmlinux);
		loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) == 1;
		if (!dynptr || !loop)
			log_warn("this kernel has no %s: DNS over TCP is not parsed (UDP is)",
				 dynptr ? "bpf_loop" : "bpf_dynptr_from_skb");
		if (!loop)
			log_warn("this kernel has no bpf_loop: a host-name policy rule takes "
				 "effect for an address only once the agent has read the DNS "
				 "answer");
	}
	if (!dynptr)
		part_off("DNS over TCP", "no bpf_dynptr_from_skb kfunc, Linux 6.4+");
	else if (!loop)
		part_off("DNS over TCP", "no bpf_loop helper, Linux 5.17+");
	if (!loop)
		part_off("host-name policy in the kernel", "no bpf_loop helper, Linux 5.17+");
	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);

		if (!strncmp(name, "dns_tcp_", 8) && (!dynptr || !loop))
			bpf_program__set_autoload(prog, false);
		else if (!strcmp(name, "dns_received") && !loop)
			bpf_program__set_autoload(prog, false);
		else if (!strcmp(name, "dns_received_nopol") && !loop)
			bpf_program__set_autoload(prog, true);
	}
}

/* dns_query or dns_answer */
static int dns_decode_msg(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			  at_event *ev, struct arena *ar)
{
	const struct at_dns_msg *m = rec;
	static struct dns_parsed d; /* 9 KiB: one record at a time, from the one loop */
	Aitrail__V1__DnsMessage *dm;
	char server[INET6_ADDRSTRLEN], buf[16];
	int err;

	if (len < offsetof(struct at_dns_msg, data) || m->cap_len > AT_DNS_MAX ||
	    offsetof(struct at_dns_msg, data) + m->cap_len > len ||
	    (m->family != AF_INET && m->family != AF_INET6) ||
	    (m->dir != AT_DNS_SENT && m->dir != AT_DNS_RECEIVED))
		return -EINVAL;
	err = dns_parse(m->data, m->cap_len, &d);
	if (err) {
		log_debug("failed to parse a %u-byte DNS message from pid %u: not DNS", m->cap_len,
			  h->pid);
		return err;
	}
	dm = arena_alloc(ar, sizeof(*dm));
	if (!dm)
		return -ENOMEM;
	aitrail__v1__dns_message__init(dm);
	inet_ntop(m->family, m->server, server, sizeof(server));
	dm->server = arena_strndup(ar, server, sizeof(server));
	dm->server_port = m->port;
	dm->transport = m->proto == IPPROTO_TCP ? "tcp" : "udp";
	dm->qname = arena_strndup(ar, d.qname, sizeof(d.qname));
	dm->qtype = arena_strndup(ar, dns_type_name(d.qtype, buf, sizeof(buf)), sizeof(buf));
	dm->id = d.id;
	dm->truncated = d.incomplete || m->cap_len < m->len;
	if (!dm->server || !dm->qname || !dm->qtype)
		return -ENOMEM;
	if (d.response) {
		dm->rcode = arena_strndup(ar, dns_rcode_name(d.rcode, buf, sizeof(buf)), sizeof(buf));
		dm->answers = arena_alloc(ar, sizeof(char *) * (d.n_answers ? d.n_answers : 1));
		if (!dm->rcode || !dm->answers)
			return -ENOMEM;
		for (int i = 0; i < d.n_answers; i++) {
			dm->answers[i] = arena_strndup(ar, d.answers[i], DNS_ANSWER_TEXT);
			if (!dm->answers[i])
				return -ENOMEM;
		}
		dm->n_answers = d.n_answers;
		for (int i = 0; i < d.n_addrs; i++)
			dns_names_learn(h->root_pid, h->root_start, &d.addrs[i], d.qname);
	}
	ev->type = d.response ? "dns_answer" : "dns_query";
	ev->body_case = AITRAIL__V1__EVENT__BODY_DNS;
	ev->dns = dm;
	return 0;
}

const struct agent_module dns_module = {
	.name = "dns",
	.progs = (const char *const[]){ "dns_", NULL },
	.recs = (const struct agent_rec[]){
		{ AT_REC_DNS_MSG, offsetof(struct at_dns_msg, data), NULL, dns_decode_msg },
		{ 0 },
	},
	.parts = (const struct agent_part[]){
		{ "DNS over TCP", "dns_tcp_received", "on", "off" },
		{ NULL },
	},
	.autoload = dns_autoload,
};
