// SPDX-License-Identifier: Apache-2.0
/*
 * Host-name rules in the kernel. A cgroup hook sees only an address, so the agent turns the
 * names a session resolved into addresses: for each DNS answer of a session, the first host
 * rule (host/vendor, no session attributes, no CIDR) that names the answered name for the
 * session's tool gets an exact-address entry in the network verdict map. `allow
 * api.anthropic.com` thus follows the answers when the address changes, per session tool.
 *
 * First-match order still holds: an entry carries the earlier of its host rule and the static
 * rule the kernel would otherwise find for that address.
 *
 * The answer reaches the process before the agent has read it from the ring buffer, so the
 * rules' names also go to the kernel (pol_dns, bpf/policy_dns.bpf.h), which adds the entries
 * while the answer is on its way; what the kernel can't match (a glob other than "*.name") is
 * left to this file, with that window (docs/policy.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "common/log.h"
#include "agent/policy_agent.h"
#include "common/util.h"
#include "bpf/policy.h"

static bool tool_listed(const struct pol_rule *r, const char *tool)
{
	if (!r->tool.n)
		return true;
	for (int i = 0; tool && i < r->tool.n; i++)
		if (!strcmp(r->tool.v[i], tool))
			return true;
	return false;
}

static bool name_listed(const struct pol_rule *r, const char *name)
{
	for (int i = 0; i < r->host.n; i++)
		if (pol_glob_match(r->host.v[i], name, 0))
			return true;
	for (int i = 0; i < r->vendor.n; i++)
		if (policy_vendor_matches(r->vendor.v[i], name))
			return true;
	return false;
}

/* The first host rule deciding name for tool, or -1. */
static int host_rule(const struct policy *p, const char *tool, const char *name)
{
	for (int i = 0; p && i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];

		if (r->cat != POL_CAT_NETWORK || (!r->host.n && !r->vendor.n) || r->user.n ||
		    r->cwd.n || r->repo.n || r->n_cidr || r->dst_class.n)
			continue;
		if (tool_listed(r, tool) && name_listed(r, name))
			return i;
	}
	return -1;
}

/* Longest static entry of the same bucket containing key: what the kernel finds without us. */
static const struct pol_entry *static_match(const struct pol_entries *e,
					    const struct at_pol_net_key *k, bool *exact)
{
	const struct pol_entry *best = NULL;
	uint32_t best_bits = 0;
	const uint8_t *kb = (const uint8_t *)k + 4;

	*exact = false;
	for (size_t i = 0; i < e->n; i++) {
		uint32_t bits, full, rest;
		const uint8_t *x = e->v[i].key + 4;

		memcpy(&bits, e->v[i].key, 4);
		if (bits > k->prefixlen || (best && bits <= best_bits))
			continue;
		full = bits / 8;
		rest = bits % 8;
		if (memcmp(x, kb, full) || (rest && ((x[full] ^ kb[full]) & (0xff00 >> rest))))
			continue;
		best = &e->v[i];
		best_bits = bits;
	}
	*exact = best && best_bits == k->prefixlen;
	return best;
}

/* Appends the entries one remembered answer gives under the policy in force. */
static int entries_for(struct pol_agent *pa, const struct pol_dns_addr *d, struct pol_entries *out)
{
	const struct policy *p = pa->policy;
	const char *tool = d->tool && d->tool <= pa->n_tools ? pa->tool_names[d->tool - 1] : NULL;
	int i = host_rule(p, tool, d->name);
	const struct pol_rule *r;
	size_t ports = 0;

	if (i < 0)
		return 0;
	r = &p->rules[i];
	for (int j = 0; j < r->n_port; j++)
		ports += (size_t)r->port[j].hi - r->port[j].lo + 1;
	if (ports > 256)
		return 0; /* left to the agent after the fact, like the static compiler does */
	for (int j = 0; j < (r->n_port ? r->n_port : 1); j++) {
		uint32_t lo = r->n_port ? r->port[j].lo : 0, hi = r->n_port ? r->port[j].hi : 0;

		for (uint32_t port = lo; port <= hi; port++) {
			struct at_pol_net_key k = {
				.prefixlen = AT_POL_NET_FIXED_BITS + (d->family == AF_INET ? 32 : 128),
				.tool = d->tool,
				.family = d->family,
				.port = port,
			};
			struct at_pol_verdict v = { .prio = i, .action = r->action, .mode = r->mode };
			const struct pol_entry *st;
			bool exact;

			memcpy(k.addr, d->addr, 16);
			snprintf(v.rule_id, sizeof(v.rule_id), "%s", r->id);
			st = static_match(&pa->compiled.net, &k, &exact);
			if (st && ((const struct at_pol_verdict *)st->value)->prio < v.prio)
				memcpy(&v, st->value, sizeof(v));
			if (out->n == out->cap) {
				size_t cap = out->cap ? out->cap * 2 : 16;
				struct pol_entry *nv = realloc(out->v, cap * sizeof(*nv));

				if (!nv)
					return -ENOMEM;
				out->v = nv;
				out->cap = cap;
			}
			memset(&out->v[out->n], 0, sizeof(out->v[0]));
			memcpy(out->v[out->n].key, &k, sizeof(k));
			out->v[out->n].key_size = sizeof(k);
			memcpy(out->v[out->n].value, &v, sizeof(v));
			out->n++;
		}
	}
	return 0;
}

static int all_entries(struct pol_agent *pa, struct pol_entries *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < pa->n_dns; i++)
		if (pa->dns[i].used && entries_for(pa, &pa->dns[i], out))
			return -ENOMEM;
	return 0;
}

static bool has_key(const struct pol_entries *e, const uint8_t *key, uint32_t size)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].key_size == size && !memcmp(e->v[i].key, key, size))
			return true;
	return false;
}

/*
 * Writes next, then takes back what prev had and next has not: a stale key goes back to its
 * static value when the compiled policy has one, else it is deleted.
 */
static void sync_entries(struct pol_agent *pa, const struct pol_entries *prev,
			 const struct pol_entries *next)
{
	if (pa->maps.net < 0)
		return;
	for (size_t i = 0; i < next->n; i++)
		if (bpf_map_update_elem(pa->maps.net, next->v[i].key, next->v[i].value, BPF_ANY))
			log_warn("failed to add a DNS-derived network policy entry: %s",
				 strerror(errno));
	for (size_t i = 0; prev && i < prev->n; i++) {
		const struct pol_entries *st = &pa->compiled.net;
		const uint8_t *k = prev->v[i].key;
		bool restored = false;

		if (has_key(next, k, prev->v[i].key_size))
			continue;
		for (size_t j = 0; j < st->n && !restored; j++)
			if (!memcmp(st->v[j].key, k, prev->v[i].key_size)) {
				bpf_map_update_elem(pa->maps.net, k, st->v[j].value, BPF_ANY);
				restored = true;
			}
		if (!restored && bpf_map_delete_elem(pa->maps.net, k) && errno != ENOENT)
			log_warn("failed to remove a DNS-derived network policy entry: %s",
				 strerror(errno));
	}
}

/* Entries of the previous policy, computed before the swap, so the swap can take them back. */
static struct pol_entries prev_dns;

void pol_dns_before_reload(struct pol_agent *pa)
{
	free(prev_dns.v);
	if (all_entries(pa, &prev_dns))
		memset(&prev_dns, 0, sizeof(prev_dns));
}

static int tool_id(const struct pol_agent *pa, const char *name)
{
	for (int i = 0; name && i < pa->n_tools; i++)
		if (pa->tool_names[i] && !strcmp(pa->tool_names[i], name))
			return i + 1;
	return 0;
}

/* ---- host names for the kernel (bpf/policy_dns.bpf.h), so a fresh answer counts at once */

/*
 * The hash the kernel computes for a name in DNS wire form (struct at_pol_dns_key). -EINVAL
 * for anything but a plain name: a glob can't be matched by hashing.
 */
static int wire_hash(const char *name, uint64_t *out)
{
	uint8_t wire[256];
	size_t n = 0;
	uint64_t h = 0;

	while (*name) {
		size_t l = strcspn(name, ".");

		if (!l || l > 63 || n + l + 2 > sizeof(wire))
			return -EINVAL;
		wire[n++] = l;
		for (size_t i = 0; i < l; i++) {
			char c = name[i];

			if (strchr("*?[]\\", c))
				return -EINVAL;
			wire[n++] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
		}
		name += l + (name[l] == '.');
	}
	if (!n)
		return -EINVAL;
	wire[n++] = 0;
	while (n--)
		h = h * AT_POL_DNS_HASH_MUL + wire[n];
	*out = h;
	return 0;
}

/* "name" (suffix 0) or "*.name" (suffix 1); -EINVAL for any other glob. */
static int dns_key(const char *pat, uint8_t tool, struct at_pol_dns_key *k)
{
	uint64_t h;
	int ret;

	memset(k, 0, sizeof(*k));
	k->tool = tool;
	if (!strncmp(pat, "*.", 2)) {
		k->suffix = 1;
		pat += 2;
	}
	ret = wire_hash(pat, &h);

	k->hash = h;
	return ret;
}

static int clear_map(int fd)
{
	struct at_pol_dns_key k;

	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k) && errno != ENOENT)
			return -errno;
	return 0;
}

/* Puts one rule's names into pol_dns; an earlier rule's entry for the same key stays. */
static int put_rule(struct pol_agent *pa, int i, const char *pat, uint8_t tool,
		    const struct at_pol_dns_val *v)
{
	struct at_pol_dns_key k;

	if (dns_key(pat, tool, &k))
		return -EINVAL;
	if (bpf_map_update_elem(pa->maps.dns, &k, v, BPF_NOEXIST)) {
		if (errno == EEXIST)
			return 0;
		/* once per policy: more names than the map holds would flood the log */
		if (!pa->dns_kernel_failed++)
			log_warn("failed to add host name %s of rule %d to the kernel: %s (names "
				 "past this one are matched by the agent after it reads the "
				 "answer)", pat, i, strerror(errno));
		return -errno;
	}
	pa->dns_kernel_names++;
	return 0;
}

/* Can the kernel decide this rule's names? Only plain names and "*.name", at most 4 ports. */
static bool rule_fits_kernel(const struct pol_rule *r, struct at_pol_dns_val *v)
{
	const char *const *vh;
	struct at_pol_dns_key k;
	size_t n = 0;

	for (int j = 0; j < r->n_port; j++)
		for (uint32_t port = r->port[j].lo; port <= r->port[j].hi; port++) {
			if (n == AT_POL_DNS_PORTS)
				return false;
			v->ports[n++] = port;
		}
	v->n_ports = n;
	for (int j = 0; j < r->host.n; j++)
		if (dns_key(r->host.v[j], 0, &k))
			return false;
	for (int j = 0; j < r->vendor.n; j++) {
		vh = policy_vendor_hosts(r->vendor.v[j]);
		for (int h = 0; vh && h < 8 && vh[h]; h++)
			if (dns_key(vh[h], 0, &k))
				return false;
	}
	return true;
}

/*
 * Writes pol_dns from the policy in force: the host rules in order, up to the first one the
 * kernel can't decide (a glob, more than 4 ports), since a later rule must not win a name an
 * earlier one would decide; the agent still handles every rule when it reads the answer.
 */
static void compile_names(struct pol_agent *pa)
{
	const struct policy *p = pa->policy;
	int i;

	pa->dns_kernel_names = 0;
	pa->dns_kernel_failed = 0;
	if (pa->maps.dns < 0)
		return;
	if (clear_map(pa->maps.dns)) {
		log_warn("failed to clear the kernel's host-name map: %s", strerror(errno));
		return;
	}
	for (i = 0; p && i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];
		struct at_pol_dns_val v = {
			.v = { .prio = i, .action = r->action, .mode = r->mode },
		};
		uint8_t tools[AT_TOOL_MAX];
		int n_tools = 0;

		if (r->cat != POL_CAT_NETWORK || (!r->host.n && !r->vendor.n) || r->user.n ||
		    r->cwd.n || r->repo.n || r->n_cidr || r->dst_class.n)
			continue;
		if (!rule_fits_kernel(r, &v))
			break;
		snprintf(v.v.rule_id, sizeof(v.v.rule_id), "%s", r->id);
		if (!r->tool.n)
			tools[n_tools++] = 0;
		for (int t = 0; t < r->tool.n && n_tools < AT_TOOL_MAX; t++) {
			int id = tool_id(pa, r->tool.v[t]);

			if (id > 0)
				tools[n_tools++] = id;
		}
		for (int t = 0; t < n_tools; t++) {
			for (int j = 0; j < r->host.n; j++)
				put_rule(pa, i, r->host.v[j], tools[t], &v);
			for (int j = 0; j < r->vendor.n; j++) {
				const char *const *vh = policy_vendor_hosts(r->vendor.v[j]);

				for (int h = 0; vh && h < 8 && vh[h]; h++)
					put_rule(pa, i, vh[h], tools[t], &v);
			}
		}
		/* a later rule must not win a name this one failed to put in (logged) */
		if (pa->dns_kernel_failed)
			return;
	}
	if (p && i < p->n_rules)
		log_info("%s:%d: rule '%s' and the host rules after it are applied to DNS answers "
			 "by the agent only, once it has read them (a glob or more than %d ports)",
			 p->source, p->rules[i].line, p->rules[i].id, AT_POL_DNS_PORTS);
}

static bool is_dns_key(const uint8_t *key)
{
	const struct at_pol_net_key *k = (const void *)key;

	return k->prefixlen == AT_POL_NET_FIXED_BITS + 32 ||
	       k->prefixlen == AT_POL_NET_FIXED_BITS + 128;
}

/*
 * Takes back exact-address entries that neither the compiled policy nor the answers the agent
 * remembers account for: ones the kernel added from an answer whose record the agent then
 * lost, under a policy no longer in force.
 */
static void sweep_net(struct pol_agent *pa, const struct pol_entries *next)
{
	struct at_pol_net_key key, nk;
	struct pol_entries stale = { 0 };
	void *prev = NULL;

	if (pa->maps.net < 0)
		return;
	while (!bpf_map_get_next_key(pa->maps.net, prev, &nk)) {
		key = nk;
		prev = &key;
		if (!is_dns_key((const uint8_t *)&key) ||
		    has_key(&pa->compiled.net, (const uint8_t *)&key, sizeof(key)) ||
		    has_key(next, (const uint8_t *)&key, sizeof(key)))
			continue;
		if (stale.n == stale.cap) {
			size_t cap = stale.cap ? stale.cap * 2 : 16;
			struct pol_entry *nv = realloc(stale.v, cap * sizeof(*nv));

			if (!nv)
				break;
			stale.v = nv;
			stale.cap = cap;
		}
		memcpy(stale.v[stale.n].key, &key, sizeof(key));
		stale.v[stale.n++].key_size = sizeof(key);
	}
	for (size_t i = 0; i < stale.n; i++)
		bpf_map_delete_elem(pa->maps.net, stale.v[i].key);
	if (stale.n)
		log_debug("policy: %zu kernel-learned address entries taken back", stale.n);
	free(stale.v);
}

void pol_dns_rederive(struct pol_agent *pa)
{
	struct pol_entries next;

	compile_names(pa);
	if (all_entries(pa, &next)) {
		log_warn("failed to recompute DNS-derived policy entries: out of memory");
		return;
	}
	sync_entries(pa, &prev_dns, &next);
	sweep_net(pa, &next);
	free(prev_dns.v);
	memset(&prev_dns, 0, sizeof(prev_dns));
	free(next.v);
}

int pol_agent_learn_address(struct pol_agent *pa, const char *tool, const char *name,
			    const char *addr)
{
	struct pol_dns_addr d = { 0 }, *slot;
	struct pol_entries prev = { 0 }, next = { 0 };
	int ret;

	d.tool = tool_id(pa, tool);
	if (!d.tool || !name || !*name)
		return 0;
	if (inet_pton(AF_INET, addr, d.addr) == 1)
		d.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, d.addr) == 1)
		d.family = AF_INET6;
	else
		return -EINVAL;
	snprintf(d.name, sizeof(d.name), "%s", name);
	/* only names some host rule speaks about are worth a slot */
	if (host_rule(pa->policy, tool, d.name) < 0)
		return 0;
	if (!pa->dns) {
		pa->dns = calloc(POL_DNS_MAX, sizeof(*pa->dns));
		if (!pa->dns)
			return -ENOMEM;
	}
	for (size_t i = 0; i < pa->n_dns; i++) {
		slot = &pa->dns[i];
		if (slot->used && slot->tool == d.tool && slot->family == d.family &&
		    !memcmp(slot->addr, d.addr, 16) && !strcmp(slot->name, d.name))
			return 0; /* known */
	}
	slot = &pa->dns[pa->dns_next];
	if (slot->used) {
		pa->dns_overwritten++;
		ret = entries_for(pa, slot, &prev);
		if (ret)
			return ret;
	} else {
		pa->n_dns++;
	}
	pa->dns_next = (pa->dns_next + 1) % POL_DNS_MAX;
	*slot = d;
	slot->used = true;
	ret = entries_for(pa, slot, &next);
	if (!ret) {
		sync_entries(pa, &prev, &next);
		pa->dns_installed += next.n;
		log_debug("policy: %s resolved to %s for %s: %zu kernel entries", name, addr, tool,
			  next.n);
	}
	free(prev.v);
	free(next.v);
	return ret;
}

int pol_agent_on_event(struct pol_agent *pa, const Aitrail__V1__Event *ev)
{
	const Aitrail__V1__DnsMessage *m;
	const char *tool;

	if (!pa->policy || ev->body_case != AITRAIL__V1__EVENT__BODY_DNS || !ev->type ||
	    strcmp(ev->type, "dns_answer"))
		return 0;
	m = ev->dns;
	tool = ev->session ? ev->session->tool : NULL;
	if (!m || !m->qname || !tool)
		return 0;
	for (size_t i = 0; i < m->n_answers; i++) {
		char f[3][256];
		int n;

		/*
		 * "api.example.com A 93.184.216.34" (agent/dns_decode.c), or without the owner name.
		 * Every address record of the answer answers the question's name, CNAME chain or
		 * not, so it is learned for qname.
		 */
		n = sscanf(m->answers[i], "%255s %255s %255s", f[0], f[1], f[2]);
		if (n == 3 && (!strcmp(f[1], "A") || !strcmp(f[1], "AAAA")))
			pol_agent_learn_address(pa, tool, m->qname, f[2]);
		else if (n == 2 && (!strcmp(f[0], "A") || !strcmp(f[0], "AAAA")))
			pol_agent_learn_address(pa, tool, m->qname, f[1]);
	}
	return 0;
}
