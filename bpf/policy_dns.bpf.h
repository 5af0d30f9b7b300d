/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel half of host-name rules. A session's DNS answer for a name that a network rule
 * names puts the answer's addresses into pol_net while the packet is still on its way to the
 * process, so the connect that follows the answer finds them. The agent does the same from the
 * ring buffer later (agent/policy_dns.c), and takes the entries back when the policy changes.
 */
#ifndef AITRAIL_POLICY_DNS_BPF_H
#define AITRAIL_POLICY_DNS_BPF_H

#include "bpf/dns.h"
#include "bpf/policy_maps.bpf.h"

/* Included by dns.bpf.c after its dns_scratch map, whose receive slot holds the message. */

#define PD_MASK (AT_DNS_MAX - 1)
#define PD_NAME_MAX 256
#define PD_ANSWERS 16    /* answer records looked at */
#define PD_OWNER_LABELS 64

struct pd_scratch {
	__u8 name[PD_NAME_MAX];  /* the question's name in wire form, letters lowered */
	__u8 start[PD_NAME_MAX]; /* 1 where a label starts */
};

AT_SCRATCH_MAP(pol_dns_scratch, struct pd_scratch, 1);

/* Loop state of pol_dns_learn's bpf_loop callbacks. */
struct pd_ctx {
	__u32 len;  /* bytes of the message captured */
	__u32 next; /* where the next label of the question's name starts */
	__u32 end;  /* length of the question's name, final zero included; 0 = not found */
	__u32 pos;
	__u32 an;
	__u16 tool;
	bool found;
	__u8 _pad;
	__u64 h;
	struct at_pol_dns_val best;
};

static __always_inline struct at_dns_msg *pd_msg(void)
{
	__u32 one = 1; /* dns_scratch's receive slot, where the message is */

	return bpf_map_lookup_elem(&dns_scratch, &one);
}

static __always_inline struct pd_scratch *pd_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pol_dns_scratch, &zero);
}

static __always_inline __u8 pd_at(const struct at_dns_msg *m, __u32 off)
{
	return m->data[off & PD_MASK];
}

/* Copies the question's name, letters lowered, marking where labels start. */
static long pd_name_cb(__u64 i, void *arg)
{
	struct pd_ctx *c = arg;
	struct at_dns_msg *m = pd_msg();
	struct pd_scratch *sc = pd_scratch();
	__u8 b;

	if (!m || !sc || 12 + i >= c->len)
		return 1;
	b = pd_at(m, 12 + i);
	if (i == c->next) {
		if (b > 63)
			return 1; /* a pointer in the question: not written by any resolver */
		sc->start[i & 255] = 1;
		c->next = i + b + 1;
	} else {
		sc->start[i & 255] = 0;
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
	}
	sc->name[i & 255] = b;
	if (i + 1 == c->next && !b) {
		c->end = i + 1;
		return 1;
	}
	return 0;
}

static __always_inline void pd_better(struct pd_ctx *c, struct at_pol_dns_key *k)
{
	struct at_pol_dns_val *v = bpf_map_lookup_elem(&pol_dns, k);

	if (v && (!c->found || v->v.prio < c->best.v.prio)) {
		c->best = *v;
		c->found = true;
	}
}

/* Hashes the name from its last byte back; at each label start, looks the suffix up. */
static long pd_hash_cb(__u64 i, void *arg)
{
	struct pd_ctx *c = arg;
	struct pd_scratch *sc = pd_scratch();
	__u32 j = c->end - 1 - i;

	if (!sc || i >= c->end)
		return 1;
	c->h = c->h * AT_POL_DNS_HASH_MUL + sc->name[j & 255];
	if (sc->start[j & 255] && sc->name[j & 255]) {
		struct at_pol_dns_key k = { .hash = c->h, .suffix = j != 0 };

		k.tool = c->tool;
		pd_better(c, &k);
		k.tool = 0;
		pd_better(c, &k);
	}
	return 0;
}

/* The address at off, on every port of the rule, unless an earlier rule decides it already. */
static __always_inline void pd_install(const struct at_dns_msg *m, const struct pd_ctx *c,
				       __u8 family, __u32 off)
{
	const struct at_pol_dns_val *r = &c->best;
	struct at_pol_net_key k = {};
	struct at_pol_verdict *cur;
	__u32 i, alen = family == AF_INET ? 4 : 16;

	k.prefixlen = AT_POL_NET_FIXED_BITS + alen * 8;
	k.tool = c->tool;
	k.family = family;
	for (i = 0; i < 16; i++)
		k.addr[i] = i < alen ? pd_at(m, off + i) : 0;
	for (i = 0; i < AT_POL_DNS_PORTS; i++) {
		if (i && i >= r->n_ports)
			break;
		k.port = r->n_ports ? r->ports[i] : 0;
		cur = bpf_map_lookup_elem(&pol_net, &k);
		if (cur && cur->prio <= r->v.prio)
			continue;
		bpf_map_update_elem(&pol_net, &k, &r->v, BPF_ANY);
	}
}

/* One answer record: skips its owner name, installs an A or AAAA address. */
static long pd_answer_cb(__u64 i, void *arg)
{
	struct pd_ctx *c = arg;
	struct at_dns_msg *m = pd_msg();
	__u32 pos = c->pos, type, rdlen, l;
	bool named = false;

	if (!m || i >= c->an)
		return 1;
	for (l = 0; l < PD_OWNER_LABELS; l++) {
		__u8 b;

		if (pos >= c->len)
			return 1;
		b = pd_at(m, pos);
		if ((b & 0xc0) == 0xc0) {
			pos += 2;
			named = true;
			break;
		}
		if (b > 63)
			return 1;
		pos += b + 1;
		if (!b) {
			named = true;
			break;
		}
	}
	if (!named || pos + 10 > c->len)
		return 1;
	type = (__u32)pd_at(m, pos) << 8 | pd_at(m, pos + 1);
	rdlen = (__u32)pd_at(m, pos + 8) << 8 | pd_at(m, pos + 9);
	pos += 10;
	if (pos + rdlen > c->len)
		return 1;
	if (type == 1 && rdlen == 4)
		pd_install(m, c, AF_INET, pos);
	else if (type == 28 && rdlen == 16)
		pd_install(m, c, AF_INET6, pos);
	c->pos = pos + rdlen;
	return 0;
}

/*
 * Learns from the message in dns_scratch's receive slot, which a session process is about to
 * receive (its header is the querying process's). A global function: the verifier checks it
 * once, not at every place a message is sent from. Returns 0.
 */
__noinline int pol_dns_learn(void)
{
	struct pd_ctx c = {};
	struct at_pol_cfg *cfg;
	struct at_dns_msg *m;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&pol_cfg, &zero);
	m = pd_msg();
	if (!m || !cfg || !cfg->enabled || !cfg->dns_names ||
	    !(cfg->cat_mask & (1u << AT_POL_CAT_NETWORK)))
		return 0;
	c.len = m->cap_len;
	/* a response without error, with answers */
	if (c.len < 12 || c.len > AT_DNS_MAX || !(pd_at(m, 2) & 0x80) || (pd_at(m, 3) & 0xf))
		return 0;
	c.an = (__u32)pd_at(m, 6) << 8 | pd_at(m, 7);
	c.tool = m->hdr.tool;
	if (!c.an)
		return 0;
	bpf_loop(PD_NAME_MAX, pd_name_cb, &c, 0);
	if (!c.end)
		return 0;
	bpf_loop(PD_NAME_MAX, pd_hash_cb, &c, 0);
	if (!c.found)
		return 0;
	c.pos = 12 + c.end + 4;
	bpf_loop(PD_ANSWERS, pd_answer_cb, &c, 0);
	return 0;
}

#endif
