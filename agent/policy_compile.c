// SPDX-License-Identifier: Apache-2.0
/*
 * Compiling a policy into the kernel's verdict maps, and probing the file mechanism.
 *
 * The kernel maps are longest-prefix tries, not ordered rule lists. First-match order is kept
 * by giving every entry the earliest rule (lowest prio) among all rules of its bucket whose
 * prefix contains the entry: the longest entry matching an address or path then carries the
 * earliest rule that matches it. The kernel takes the lowest prio over its few buckets
 * (this tool / any tool, this port / any port).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>

#include "common/log.h"
#include "agent/policy_compile.h"
#include "common/util.h"
#include "bpf/policy.h"

#define POL_MAX_PORTS_IN_KERNEL 256

_Static_assert(sizeof(struct at_pol_net_key) <= sizeof(((struct pol_entry *)0)->key), "key");
_Static_assert(sizeof(struct at_pol_path_key) <= sizeof(((struct pol_entry *)0)->key), "key");
_Static_assert(sizeof(struct at_pol_verdict) <= sizeof(((struct pol_entry *)0)->value), "val");
_Static_assert(sizeof(struct at_pol_decision) % 8 == 0, "record padding");
_Static_assert((int)POL_CAT_EXEC == (int)AT_POL_CAT_EXEC && (int)POL_KILL == (int)AT_POL_KILL &&
		       (int)POL_MONITOR == (int)AT_POL_MONITOR,
	       "policy.h and bpf/policy.h numbers agree");

/* --- compiling */

struct cand {
	uint8_t key[260];
	uint32_t key_size;
	uint32_t bucket_bytes; /* bytes after prefixlen that must match whole */
	uint32_t bits;         /* prefixlen */
	int rule;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static int cand_add(struct cands *c, const void *key, uint32_t key_size, uint32_t bucket_bytes,
		    int rule)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cand *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	memcpy(c->v[c->n].key, key, key_size);
	c->v[c->n].key_size = key_size;
	c->v[c->n].bucket_bytes = bucket_bytes;
	memcpy(&c->v[c->n].bits, key, 4);
	c->v[c->n].rule = rule;
	c->n++;
	return 0;
}

/* True when a's bit string (a->bits long, after the u32 prefixlen) is a prefix of b's. */
static bool cand_contains(const struct cand *a, const struct cand *b)
{
	const uint8_t *x = a->key + 4, *y = b->key + 4;
	uint32_t full, rest;

	if (a->bits > b->bits)
		return false;
	full = a->bits / 8;
	rest = a->bits % 8;
	if (memcmp(x, y, full))
		return false;
	return !rest || !((x[full] ^ y[full]) & (0xff00 >> rest));
}

static void fill_verdict(void *dst, const struct pol_rule *r, uint32_t prio)
{
	struct at_pol_verdict v = { .prio = prio, .action = r->action, .mode = r->mode };

	snprintf(v.rule_id, sizeof(v.rule_id), "%s", r->id);
	memcpy(dst, &v, sizeof(v));
}

static int entries_add(struct pol_entries *e, const void *key, uint32_t key_size,
		       const void *value)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct pol_entry *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	memset(&e->v[e->n], 0, sizeof(e->v[e->n]));
	memcpy(e->v[e->n].key, key, key_size);
	e->v[e->n].key_size = key_size;
	memcpy(e->v[e->n].value, value, sizeof(struct at_pol_verdict));
	e->n++;
	return 0;
}

/* One entry per distinct key, valued with the earliest containing rule of its bucket. */
static int cands_resolve(const struct policy *p, struct cands *c, struct pol_entries *out)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct cand *e = &c->v[i];
		int best = e->rule;
		bool dup = false;
		uint8_t val[40];

		for (size_t j = 0; j < i && !dup; j++)
			dup = !memcmp(c->v[j].key, e->key, e->key_size);
		if (dup)
			continue;
		for (size_t j = 0; j < c->n; j++) {
			const struct cand *o = &c->v[j];

			if (o->rule < best && !memcmp(o->key + 4, e->key + 4, e->bucket_bytes) &&
			    cand_contains(o, e))
				best = o->rule;
		}
		fill_verdict(val, &p->rules[best], best);
		if (entries_add(out, e->key, e->key_size, val))
			return -ENOMEM;
	}
	return 0;
}

static int tool_ids(const struct pol_rule *r, const char *const *names, int n, uint8_t *ids,
		    int *n_ids)
{
	*n_ids = 0;
	if (!r->tool.n) {
		ids[(*n_ids)++] = 0;
		return 0;
	}
	for (int i = 0; i < r->tool.n; i++)
		for (int t = 0; t < n && t < AT_TOOL_MAX - 1; t++)
			if (names[t] && !strcmp(names[t], r->tool.v[i]))
				ids[(*n_ids)++] = t + 1;
	return 0;
}

static const char *net_why_not(const struct pol_rule *r)
{
	size_t ports = 0;

	if (r->user.n || r->cwd.n || r->repo.n)
		return "user, cwd and repo are session attributes the kernel does not have";
	if (r->dst_class.n)
		return "destination classes are known to the agent only after the fact";
	if (r->host.n || r->vendor.n)
		return "host names: the kernel knows only the addresses the session's DNS answers gave";
	for (int i = 0; i < r->n_port; i++)
		ports += (size_t)r->port[i].hi - r->port[i].lo + 1;
	if (ports > POL_MAX_PORTS_IN_KERNEL)
		return "port ranges wider than 256 ports are not expanded into the kernel";
	return NULL;
}

static int compile_net(const struct policy *p, int i, const uint8_t *tools, int n_tools,
		       struct cands *c)
{
	const struct pol_rule *r = &p->rules[i];
	struct pol_cidr any[2] = { { .family = AF_INET }, { .family = AF_INET6 } };
	const struct pol_cidr *cidrs = r->n_cidr ? r->cidr : any;
	int n_cidr = r->n_cidr ? r->n_cidr : 2;

	for (int t = 0; t < n_tools; t++)
		for (int ci = 0; ci < n_cidr; ci++) {
			int np = r->n_port ? r->n_port : 1;

			for (int pi = 0; pi < np; pi++) {
				uint32_t lo = r->n_port ? r->port[pi].lo : 0;
				uint32_t hi = r->n_port ? r->port[pi].hi : 0;

				for (uint32_t port = lo; port <= hi; port++) {
					struct at_pol_net_key k = {
						.prefixlen = AT_POL_NET_FIXED_BITS + cidrs[ci].prefix,
						.tool = tools[t],
						.family = cidrs[ci].family,
						.port = port,
					};

					memcpy(k.addr, cidrs[ci].addr, 16);
					if (cand_add(c, &k, sizeof(k), 4, i))
						return -ENOMEM;
				}
			}
		}
	return 0;
}

static const char *path_why_not(const struct pol_rule *r)
{
	const struct pol_strv *globs = r->cat == POL_CAT_EXEC ? &r->program : &r->path;

	if (r->user.n || r->cwd.n || r->repo.n)
		return "user, cwd and repo are session attributes the kernel does not have";
	if (r->argv.n)
		return "argv globs are matched by the agent after the fact";
	for (int i = 0; i < globs->n; i++) {
		const char *g = globs->v[i];
		size_t n;
		enum pol_glob_shape shape = pol_glob_shape(g, &n);

		if (r->cat == POL_CAT_EXEC && !strchr(g, '/')) {
			if (shape != POL_GLOB_EXACT)
				return "program name globs are matched by the agent after the fact";
			if (strlen(g) >= AT_POL_NAME_LEN)
				return "program name longer than the kernel's 31-byte key";
			continue;
		}
		if (shape == POL_GLOB_OTHER)
			return "only exact paths and DIR/** prefixes are matched in the kernel";
		if (n >= AT_POL_PATH_MAX)
			return "path longer than the kernel's 253-byte key";
	}
	return NULL;
}

static int compile_path(const struct policy *p, int i, const uint8_t *tools, int n_tools,
			struct cands *c, struct cands *progs)
{
	const struct pol_rule *r = &p->rules[i];
	const struct pol_strv *globs = r->cat == POL_CAT_EXEC ? &r->program : &r->path;
	static char *const slash[] = { "/**" };
	const struct pol_strv all = { (char **)slash, 1 };

	if (!globs->n)
		globs = &all;
	for (int t = 0; t < n_tools; t++)
		for (int g = 0; g < globs->n; g++) {
			const char *s = globs->v[g];
			size_t n;
			enum pol_glob_shape shape = pol_glob_shape(s, &n);

			if (r->cat == POL_CAT_EXEC && !strchr(s, '/')) {
				struct at_pol_prog_key pk = { .tool = tools[t] };
				uint32_t fake_bits = 0;
				uint8_t buf[4 + sizeof(pk)];

				/* hash keys have no prefix: a zero-length "bucket" compares whole */
				snprintf(pk.name, sizeof(pk.name), "%s", s);
				memcpy(buf, &fake_bits, 4);
				memcpy(buf + 4, &pk, sizeof(pk));
				if (cand_add(progs, buf, sizeof(buf), sizeof(pk), i))
					return -ENOMEM;
				continue;
			}
			struct at_pol_path_key k = { .tool = tools[t], .cat = r->cat };

			memcpy(k.path, s, n);
			/* an exact path carries its NUL so it cannot match longer names */
			k.prefixlen = AT_POL_PATH_FIXED_BITS + 8 * (n + (shape == POL_GLOB_EXACT));
			if (cand_add(c, &k, sizeof(k), 2, i))
				return -ENOMEM;
		}
	return 0;
}

void pol_compiled_free(struct pol_compiled *c)
{
	free(c->net.v);
	free(c->path.v);
	free(c->prog.v);
	free(c->in_kernel);
	free(c->why_not);
	memset(c, 0, sizeof(*c));
}

static const char *const default_ids[] = { "default:network", "default:file_write",
					   "default:file_read", "default:exec" };

int pol_compile(const struct policy *p, const char *const *tool_names, int n_tools,
		struct pol_compiled *out)
{
	struct cands net = { 0 }, path = { 0 }, progs = { 0 };
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->n_rules = p->n_rules;
	out->in_kernel = calloc(p->n_rules + 1, sizeof(*out->in_kernel));
	out->why_not = calloc(p->n_rules + 1, sizeof(*out->why_not));
	if (!out->in_kernel || !out->why_not) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (int c = 0; c < POL_CAT_MAX; c++) {
		struct at_pol_verdict v = { .prio = AT_POL_PRIO_DEFAULT,
					    .action = p->defaults[c].action,
					    .mode = p->defaults[c].mode };

		snprintf(v.rule_id, sizeof(v.rule_id), "%s", default_ids[c]);
		memcpy(out->defaults[c], &v, sizeof(v));
	}
	for (int i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];
		uint8_t tools[AT_TOOL_MAX];
		int nt;
		const char *why = r->cat == POL_CAT_NETWORK ? net_why_not(r) : path_why_not(r);

		out->why_not[i] = why;
		if (why)
			continue;
		out->in_kernel[i] = true;
		tool_ids(r, tool_names, n_tools, tools, &nt);
		if (!nt) {
			log_warn("%s:%d: rule '%s' names no tool this agent knows: it never applies",
				 p->source, r->line, r->id);
			continue;
		}
		ret = r->cat == POL_CAT_NETWORK ? compile_net(p, i, tools, nt, &net)
						: compile_path(p, i, tools, nt, &path, &progs);
		if (ret)
			goto cleanup;
	}
	ret = cands_resolve(p, &net, &out->net);
	if (!ret)
		ret = cands_resolve(p, &path, &out->path);
	if (!ret) {
		/* hash keys: strip the fake prefixlen */
		struct pol_entries tmp = { 0 };

		ret = cands_resolve(p, &progs, &tmp);
		for (size_t i = 0; !ret && i < tmp.n; i++)
			ret = entries_add(&out->prog, tmp.v[i].key + 4, tmp.v[i].key_size - 4,
					  tmp.v[i].value);
		free(tmp.v);
	}
cleanup:
	free(net.v);
	free(path.v);
	free(progs.v);
	if (ret)
		pol_compiled_free(out);
	return ret;
}

/* --- probing */

const char *pol_probe_file_mechanism(char *why, size_t len)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_LSM_MAC);
	char lsms[512] = "";
	FILE *f;
	int id, fd;

	if (!vmlinux) {
		snprintf(why, len, "no kernel BTF: BPF LSM cannot be loaded");
		return "tracepoint_kill";
	}
	id = btf__find_by_name_kind(vmlinux, "bpf_lsm_file_open", BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id < 0) {
		snprintf(why, len, "kernel built without CONFIG_BPF_LSM");
		return "tracepoint_kill";
	}
	opts.attach_btf_id = id;
	fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "at_lsm_probe", "GPL", insns, ARRAY_SIZE(insns),
			   &opts);
	if (fd < 0) {
		snprintf(why, len, "loading a BPF LSM program failed: %s", strerror(-fd));
		return "tracepoint_kill";
	}
	close(fd);
	f = fopen("/sys/kernel/security/lsm", "r");
	if (f) {
		if (!fgets(lsms, sizeof(lsms), f))
			lsms[0] = '\0';
		fclose(f);
	}
	if (!strstr(lsms, "bpf")) {
		snprintf(why, len, "BPF LSM loads but is not in the active LSM list (%s)", lsms);
		return "tracepoint_kill";
	}
	/* LSM programs are not part of this build yet: say so rather than claim them */
	snprintf(why, len, "BPF LSM is available, but this build enforces files from tracepoints");
	return "tracepoint_kill";
}
