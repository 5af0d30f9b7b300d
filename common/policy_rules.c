// SPDX-License-Identifier: Apache-2.0
/*
 * Policy evaluation: globs, CIDRs, vendor classes and the first-match walk. Parsing and
 * validation live in policy_parse.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/policy_rules.h"
#include "common/util.h"

static const char *const cat_names[] = {
	[POL_CAT_NETWORK] = "network",
	[POL_CAT_FILE_WRITE] = "file_write",
	[POL_CAT_FILE_READ] = "file_read",
	[POL_CAT_EXEC] = "exec",
	[POL_CAT_SELF_PROTECT] = "self_protect",
};

static const char *const action_names[] = {
	[POL_ALLOW] = "allow", [POL_ALERT] = "alert", [POL_DENY] = "deny", [POL_KILL] = "kill",
};

const char *policy_category_name(enum pol_category c)
{
	return (unsigned)c < ARRAY_SIZE(cat_names) ? cat_names[c] : "unknown";
}

const char *policy_action_name(enum pol_action a)
{
	return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a] : "unknown";
}

const char *policy_mode_name(enum pol_mode m)
{
	return m == POL_MONITOR ? "monitor" : "enforce";
}

/*
 * Vendor classes name the endpoints of a provider so a rule can say "vendor: openai" instead
 * of a host list that goes stale. Hosts only: addresses come from the session's DNS answers.
 */
struct vendor {
	const char *name;
	const char *hosts[8];
};

static const struct vendor vendors[] = {
	{ "anthropic", { "anthropic.com", "*.anthropic.com", "claude.ai", "*.claude.ai" } },
	{ "openai", { "openai.com", "*.openai.com", "chatgpt.com", "*.chatgpt.com" } },
	{ "google", { "generativelanguage.googleapis.com", "*.aiplatform.googleapis.com",
		      "gemini.google.com" } },
	{ "github", { "github.com", "*.github.com", "*.githubusercontent.com",
		      "*.githubcopilot.com" } },
	{ "package_registry", { "registry.npmjs.org", "pypi.org", "files.pythonhosted.org",
				"crates.io", "static.crates.io", "proxy.golang.org",
				"rubygems.org", "repo.maven.apache.org" } },
	{ "paste_site", { "pastebin.com", "*.pastebin.com", "paste.ee", "hastebin.com",
			  "transfer.sh", "0x0.st", "termbin.com" } },
};

const char *const *policy_vendor_hosts(const char *vendor)
{
	for (size_t i = 0; i < ARRAY_SIZE(vendors); i++)
		if (!strcmp(vendors[i].name, vendor))
			return vendors[i].hosts;
	return NULL;
}

bool policy_vendor_matches(const char *vendor, const char *host)
{
	const char *const *h = policy_vendor_hosts(vendor);

	for (int i = 0; h && i < 8 && h[i]; i++)
		if (pol_glob_match(h[i], host, 0))
			return true;
	return false;
}

/* --- globs */

/* Length of the class at p ('[' included) or 0 when it is not closed. */
static size_t class_len(const char *p)
{
	const char *q = p + 1;

	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']')
		q++;
	return *q == ']' ? (size_t)(q - p + 1) : 0;
}

static bool class_match(const char *p, size_t len, char c, bool fold)
{
	bool neg = false, hit = false;
	const char *end = p + len - 1;

	p++;
	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	if (fold)
		c = tolower((unsigned char)c);
	for (bool first = true; p < end; first = false) {
		char lo = *p, hi = *p;

		if (!first && lo == ']')
			break;
		if (p + 2 < end && p[1] == '-') {
			hi = p[2];
			p += 3;
		} else {
			p++;
		}
		if (fold) {
			lo = tolower((unsigned char)lo);
			hi = tolower((unsigned char)hi);
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	return hit != neg;
}

/*
 * Iterative matcher with one backtrack point per star kind: a `*` can only be retried up to the
 * next separator, a `**` anywhere. Host globs (sep 0) compare case-insensitively.
 */
bool pol_glob_match(const char *pat, const char *str, char sep)
{
	const char *p = pat, *s = str;
	const char *star_p = NULL, *star_s = NULL;
	bool fold = sep == 0;

	while (*s) {
		if (*p == '*') {
			bool dbl = p[1] == '*';

			while (*p == '*')
				p++;
			if (dbl || !sep) {
				star_p = p;
				star_s = s;
				continue;
			}
			/* single star: try every split inside this path component */
			for (const char *t = s;; t++) {
				if (pol_glob_match(p, t, sep))
					return true;
				if (!*t || *t == sep)
					break;
			}
			goto backtrack;
		}
		if (*p == '?' && *s != sep) {
			p++;
			s++;
			continue;
		}
		if (*p == '[') {
			size_t n = class_len(p);

			if (n && *s != sep && class_match(p, n, *s, fold)) {
				p += n;
				s++;
				continue;
			}
			if (n)
				goto backtrack;
		}
		if (*p && (fold ? tolower((unsigned char)*p) == tolower((unsigned char)*s) : *p == *s)) {
			p++;
			s++;
			continue;
		}
backtrack:
		if (!star_p)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (*p == '*')
		p++;
	return !*p;
}

int pol_glob_check(const char *pat, const char **why)
{
	if (!*pat) {
		*why = "empty glob";
		return -EINVAL;
	}
	for (const char *p = pat; *p; p++) {
		if (*p == '[') {
			size_t n = class_len(p);

			if (!n) {
				*why = "unclosed '['";
				return -EINVAL;
			}
			if (n == 2 || (n == 3 && (p[1] == '!' || p[1] == '^'))) {
				*why = "empty character class";
				return -EINVAL;
			}
			p += n - 1;
		} else if (*p == ']') {
			*why = "']' without '['";
			return -EINVAL;
		} else if (*p == '*' && p[1] == '*' && p[2] == '*') {
			*why = "'***' is not a glob operator (use '**')";
			return -EINVAL;
		}
	}
	return 0;
}

enum pol_glob_shape pol_glob_shape(const char *pat, size_t *prefix_len)
{
	size_t n = strcspn(pat, "*?[");

	*prefix_len = n;
	if (!pat[n])
		return POL_GLOB_EXACT;
	if (!strcmp(pat + n, "**"))
		return POL_GLOB_PREFIX;
	return POL_GLOB_OTHER;
}

/* --- addresses */

int pol_cidr_parse(const char *s, struct pol_cidr *c, const char **why)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= sizeof(buf)) {
		*why = "not an address";
		return -EINVAL;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -EINVAL;
	}
	if (slash) {
		uint64_t v;

		if (parse_u64(slash + 1, 0, max, &v)) {
			*why = max == 32 ? "prefix length must be 0-32" : "prefix length must be 0-128";
			return -EINVAL;
		}
		c->prefix = v;
	} else {
		c->prefix = max;
	}
	for (int bit = c->prefix; bit < max; bit++) {
		if (c->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "address has bits set beyond the prefix length";
			return -EINVAL;
		}
	}
	return 0;
}

bool pol_cidr_contains(const struct pol_cidr *c, int family, const uint8_t *addr)
{
	int full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family)
		return false;
	if (memcmp(c->addr, addr, full))
		return false;
	if (rest && ((c->addr[full] ^ addr[full]) & (0xff00 >> rest)))
		return false;
	return true;
}

/* --- matching */

static bool any_glob(const struct pol_strv *v, const char *s, char sep)
{
	if (!v->n)
		return true;
	if (!s)
		return false;
	for (int i = 0; i < v->n; i++)
		if (pol_glob_match(v->v[i], s, sep))
			return true;
	return false;
}

static bool any_equal(const struct pol_strv *v, const char *s)
{
	if (!v->n)
		return true;
	if (!s)
		return false;
	for (int i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

static const char *basename_of(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

static bool program_matches(const struct pol_strv *v, const char *program)
{
	if (!v->n)
		return true;
	if (!program)
		return false;
	for (int i = 0; i < v->n; i++) {
		if (strchr(v->v[i], '/') ? pol_glob_match(v->v[i], program, '/')
					 : pol_glob_match(v->v[i], basename_of(program), '/'))
			return true;
	}
	return false;
}

static bool argv_matches(const struct pol_strv *v, char *const *argv, int argc)
{
	size_t len = 1;
	char *joined, *p;
	bool hit = false;

	if (!v->n)
		return true;
	/* argv[0] is the program; the glob is about the arguments */
	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	joined = malloc(len);
	if (!joined)
		return true; /* fail closed: a rule that might match is taken to match */
	p = joined;
	*p = '\0';
	for (int i = 1; i < argc; i++)
		p += sprintf(p, "%s%s", i > 1 ? " " : "", argv[i]);
	for (int i = 0; i < v->n && !hit; i++)
		hit = pol_glob_match(v->v[i], joined, 0);
	free(joined);
	return hit;
}

static bool network_matches(const struct pol_rule *r, const struct pol_target *t)
{
	if (r->n_port) {
		bool hit = false;

		for (int i = 0; i < r->n_port && !hit; i++)
			hit = t->port >= r->port[i].lo && t->port <= r->port[i].hi;
		if (!hit)
			return false;
	}
	if (r->n_cidr) {
		bool hit = false;

		for (int i = 0; i < r->n_cidr && !hit && t->family; i++)
			hit = pol_cidr_contains(&r->cidr[i], t->family, t->addr);
		if (!hit)
			return false;
	}
	if (r->host.n && !any_glob(&r->host, t->host, 0))
		return false;
	if (r->vendor.n) {
		bool hit = false;

		/* the agent's own vendor table (agent/vendor.c) or this file's host globs */
		for (int i = 0; i < r->vendor.n && !hit; i++)
			hit = (t->vendor && !strcmp(r->vendor.v[i], t->vendor)) ||
			      (t->host && policy_vendor_matches(r->vendor.v[i], t->host));
		if (!hit)
			return false;
	}
	if (r->dst_class.n && !any_equal(&r->dst_class, t->dst_class))
		return false;
	return true;
}

bool policy_rule_matches(const struct pol_rule *r, const struct pol_session *s,
			 const struct pol_target *t)
{
	if (r->cat != t->cat)
		return false;
	if (!any_equal(&r->tool, s->tool) || !any_equal(&r->user, s->user) ||
	    !any_glob(&r->cwd, s->cwd, '/') || !any_glob(&r->repo, s->repo, 0))
		return false;
	switch (t->cat) {
	case POL_CAT_NETWORK:
		return network_matches(r, t);
	case POL_CAT_FILE_WRITE:
	case POL_CAT_FILE_READ:
		return any_glob(&r->path, t->path, '/');
	case POL_CAT_EXEC:
		return program_matches(&r->program, t->program) &&
		       argv_matches(&r->argv, t->argv, t->argc);
	default:
		return false;
	}
}

static const char *const default_ids[] = {
	[POL_CAT_NETWORK] = "default:network",
	[POL_CAT_FILE_WRITE] = "default:file_write",
	[POL_CAT_FILE_READ] = "default:file_read",
	[POL_CAT_EXEC] = "default:exec",
};

void policy_eval(const struct policy *p, const struct pol_session *s, const struct pol_target *t,
		 struct pol_decision *d)
{
	static const struct pol_session none;

	if (!s)
		s = &none;
	memset(d, 0, sizeof(*d));
	d->cat = t->cat;
	for (int i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = &p->rules[i];

		if (policy_rule_matches(r, s, t)) {
			d->rule = r;
			d->rule_id = r->id;
			d->action = r->action;
			d->mode = r->mode;
			return;
		}
	}
	if ((unsigned)t->cat < POL_CAT_MAX) {
		d->rule_id = default_ids[t->cat];
		d->action = p->defaults[t->cat].action;
		d->mode = p->defaults[t->cat].mode;
	} else {
		d->rule_id = "default";
		d->action = POL_ALLOW;
	}
}

/* --- events */

static bool flag_set(const Aitrail__V1__FileOp *f, const char *name)
{
	for (size_t i = 0; i < f->n_flags; i++)
		if (!strcmp(f->flags[i], name))
			return true;
	return false;
}

/* Operations that change the file system whatever their flags say. */
static bool is_write_op(const char *type)
{
	static const char *const reads[] = { "file_open", "file_read", "file_stat", "file_access",
					     "file_readlink", "file_exec" };

	for (size_t i = 0; i < ARRAY_SIZE(reads); i++)
		if (!strcmp(type, reads[i]))
			return false;
	return true;
}

int policy_target_from_event(const Aitrail__V1__Event *ev, struct pol_target *t)
{
	memset(t, 0, sizeof(*t));
	switch (ev->body_case) {
	case AITRAIL__V1__EVENT__BODY_NET_CONNECT: {
		const Aitrail__V1__NetConnect *n = ev->net_connect;

		if (!n || !n->daddr)
			return -ENOENT;
		t->cat = POL_CAT_NETWORK;
		t->port = n->dport;
		if (n->dst_name && *n->dst_name)
			t->host = n->dst_name;
		if (n->vendor && *n->vendor)
			t->vendor = n->vendor;
		if (n->dst_class && *n->dst_class)
			t->dst_class = n->dst_class;
		if (inet_pton(AF_INET, n->daddr, t->addr) == 1)
			t->family = AF_INET;
		else if (inet_pton(AF_INET6, n->daddr, t->addr) == 1)
			t->family = AF_INET6;
		else if (!strcmp(n->family ? n->family : "", "unix"))
			return -ENOENT; /* unix sockets are local IPC, not a destination */
		return 0;
	}
	case AITRAIL__V1__EVENT__BODY_EXEC:
		if (!ev->exec)
			return -ENOENT;
		t->cat = POL_CAT_EXEC;
		t->program = ev->exec->exe && *ev->exec->exe
				     ? ev->exec->exe
				     : (ev->exec->n_argv ? ev->exec->argv[0] : NULL);
		t->argv = ev->exec->argv;
		t->argc = ev->exec->n_argv;
		return 0;
	case AITRAIL__V1__EVENT__BODY_FILE: {
		const Aitrail__V1__FileOp *f = ev->file;
		bool write;

		if (!f || !f->path)
			return -ENOENT;
		if (ev->type && strcmp(ev->type, "file_open") && strcmp(ev->type, "file_openat"))
			write = is_write_op(ev->type);
		else
			write = flag_set(f, "O_WRONLY") || flag_set(f, "O_RDWR") ||
				flag_set(f, "O_CREAT") || flag_set(f, "O_TRUNC") ||
				flag_set(f, "O_APPEND");
		t->cat = write ? POL_CAT_FILE_WRITE : POL_CAT_FILE_READ;
		t->path = f->path;
		return 0;
	}
	default:
		return -ENOENT;
	}
}

int policy_eval_event(const struct policy *p, const Aitrail__V1__Event *ev,
		      const struct pol_session *s, struct pol_decision *d)
{
	struct pol_session merged = { 0 };
	struct pol_target t;
	int err;

	err = policy_target_from_event(ev, &t);
	if (err)
		return err;
	if (s)
		merged = *s;
	if (!merged.tool && ev->session && ev->session->tool && *ev->session->tool)
		merged.tool = ev->session->tool;
	if (!merged.user && ev->proc && ev->proc->user && *ev->proc->user)
		merged.user = ev->proc->user;
	if (!merged.cwd && ev->body_case == AITRAIL__V1__EVENT__BODY_EXEC && ev->exec->cwd &&
	    *ev->exec->cwd)
		merged.cwd = ev->exec->cwd;
	policy_eval(p, &merged, &t, d);
	return 0;
}

bool policy_group_valid(const char *g)
{
	size_t n = strlen(g);

	/* the name travels in a URL query and a table: no escaping is ever needed */
	return n >= 1 && n <= 64 && strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789._-") == n;
}
