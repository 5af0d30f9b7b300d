// SPDX-License-Identifier: Apache-2.0
/*
 * Policy parsing and validation. The whole document is checked and every problem reported as
 * "FILE:LINE: what" before anything is returned: a policy is accepted whole or not at all, so
 * the caller keeps the one in force when a new file is bad.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/log.h"
#include "common/policy_rules.h"
#include "common/util.h"

#define POL_MAX_RULES 4096
#define POL_MAX_FILE (4 << 20)

struct pctx {
	yaml_document_t *doc;
	const char *src;
	struct pol_errors *err;
	struct policy *p;
};

static void perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	struct pol_errors *e = c->err;
	char msg[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s:%lu: %s", c->src, n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
	e->n++;
	if (e->len >= sizeof(e->buf) - 1)
		return;
	len = snprintf(e->buf + e->len, sizeof(e->buf) - e->len, "%s:%lu: %s\n", c->src,
		       n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
	if (len > 0)
		e->len = e->len + len < sizeof(e->buf) ? e->len + len : sizeof(e->buf) - 1;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (names[i] && s && !strcmp(names[i], s))
			return i;
	return -1;
}

static const char *const cat_words[] = { "network", "file_write", "file_read", "exec" };
static const char *const action_words[] = { "allow", "alert", "deny", "kill" };
static const char *const mode_words[] = { "enforce", "monitor" };

static int parse_word(struct pctx *c, const yaml_node_t *n, const char *what,
		      const char *const *words, int nwords, const char *list)
{
	const char *s = scalar(n);
	int v;

	if (!s) {
		perr(c, n, "%s must be a scalar (one of %s)", what, list);
		return -1;
	}
	v = lookup(words, nwords, s);
	if (v < 0)
		perr(c, n, "unknown %s '%s' (expected %s)", what, s, list);
	return v;
}

#define CAT_LIST "network, file_write, file_read, exec"
#define ACTION_LIST "allow, alert, deny, kill"
#define MODE_LIST "enforce, monitor"

/* A scalar or a sequence of scalars, each checked by check (NULL: any non-empty string). */
typedef int (*item_check)(struct pctx *c, const yaml_node_t *n, const char *key, const char *s);

static int add_str(struct pol_strv *v, const char *s)
{
	char **nv = realloc(v->v, (v->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	v->v = nv;
	v->v[v->n] = strdup(s);
	if (!v->v[v->n])
		return -ENOMEM;
	v->n++;
	return 0;
}

static int for_each_item(struct pctx *c, const yaml_node_t *n, const char *key,
			 int (*fn)(struct pctx *c, const yaml_node_t *item, const char *key,
				   void *arg),
			 void *arg)
{
	int bad = 0;

	if (n->type == YAML_SCALAR_NODE)
		return fn(c, n, key, arg);
	if (n->type != YAML_SEQUENCE_NODE) {
		perr(c, n, "'%s' must be a value or a list of values", key);
		return -EINVAL;
	}
	if (n->data.sequence.items.start == n->data.sequence.items.top) {
		perr(c, n, "'%s' is an empty list (omit the key to match anything)", key);
		return -EINVAL;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);

		if (!item || item->type != YAML_SCALAR_NODE) {
			perr(c, item ? item : n, "'%s' list items must be plain values", key);
			bad = -EINVAL;
			continue;
		}
		if (fn(c, item, key, arg))
			bad = -EINVAL;
	}
	return bad;
}

enum str_kind { STR_PLAIN, STR_GLOB, STR_PATH_GLOB, STR_VENDOR, STR_CLASS };

struct str_arg {
	struct pol_strv *v;
	enum str_kind kind;
};

static int item_str(struct pctx *c, const yaml_node_t *n, const char *key, void *arg)
{
	struct str_arg *a = arg;
	const char *s = scalar(n), *why;

	if (!s || !*s) {
		perr(c, n, "'%s' must not be empty", key);
		return -EINVAL;
	}
	switch (a->kind) {
	case STR_PATH_GLOB:
		if (s[0] != '/' && strncmp(s, "**", 2)) {
			perr(c, n, "bad glob '%s' for '%s': paths are absolute (start with '/' or '**')",
			     s, key);
			return -EINVAL;
		}
		/* fall through */
	case STR_GLOB:
		if (pol_glob_check(s, &why)) {
			perr(c, n, "bad glob '%s' for '%s': %s", s, key, why);
			return -EINVAL;
		}
		break;
	case STR_VENDOR:
		/* the agent's vendor table (deploy/vendors.yaml) names more: any lowercase word */
		if (!policy_vendor_hosts(s) && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
						       strlen(s)) {
			perr(c, n,
			     "bad vendor '%s' (a vendor name as in deploy/vendors.yaml, e.g. "
			     "anthropic, openai, github, paste_site)",
			     s);
			return -EINVAL;
		}
		break;
	case STR_CLASS:
		if (strcmp(s, "model_vendor") && strcmp(s, "telemetry") &&
		    strcmp(s, "package_registry") && strcmp(s, "git_host") && strcmp(s, "other")) {
			perr(c, n,
			     "unknown class '%s' (expected model_vendor, telemetry, package_registry, "
			     "git_host, other)",
			     s);
			return -EINVAL;
		}
		break;
	case STR_PLAIN:
		break;
	}
	return add_str(a->v, s) ? -ENOMEM : 0;
}

static int item_cidr(struct pctx *c, const yaml_node_t *n, const char *key, void *arg)
{
	struct pol_rule *r = arg;
	struct pol_cidr cidr, *nc;
	const char *why;

	if (pol_cidr_parse(scalar(n), &cidr, &why)) {
		perr(c, n, "bad CIDR '%s': %s", scalar(n), why);
		return -EINVAL;
	}
	nc = realloc(r->cidr, (r->n_cidr + 1) * sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	r->cidr = nc;
	r->cidr[r->n_cidr++] = cidr;
	return 0;
}

static int item_port(struct pctx *c, const yaml_node_t *n, const char *key, void *arg)
{
	struct pol_rule *r = arg;
	const char *s = scalar(n), *dash = strchr(s, '-');
	struct pol_ports pr, *np;
	uint64_t lo, hi;
	char buf[16];

	if (dash && (size_t)(dash - s) < sizeof(buf)) {
		memcpy(buf, s, dash - s);
		buf[dash - s] = '\0';
		if (parse_u64(buf, 1, 65535, &lo) || parse_u64(dash + 1, 1, 65535, &hi) || lo > hi) {
			perr(c, n, "bad port range '%s' (expected LOW-HIGH within 1-65535)", s);
			return -EINVAL;
		}
	} else if (parse_u64(s, 1, 65535, &lo)) {
		perr(c, n, "bad port '%s' (expected 1-65535 or a range LOW-HIGH)", s);
		return -EINVAL;
	} else {
		hi = lo;
	}
	pr.lo = lo;
	pr.hi = hi;
	np = realloc(r->port, (r->n_port + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	r->port = np;
	r->port[r->n_port++] = pr;
	return 0;
}

/* Which match keys a category accepts. */
enum { K_ANY = 0xf, K_NET = 1 << POL_CAT_NETWORK, K_FILE = (1 << POL_CAT_FILE_WRITE) |
	(1 << POL_CAT_FILE_READ), K_EXEC = 1 << POL_CAT_EXEC };

static const struct match_key {
	const char *name;
	unsigned cats;
} match_keys[] = {
	{ "tool", K_ANY }, { "user", K_ANY }, { "cwd", K_ANY },      { "repo", K_ANY },
	{ "host", K_NET }, { "vendor", K_NET }, { "class", K_NET }, { "cidr", K_NET },
	{ "port", K_NET },
	{ "path", K_FILE }, { "program", K_EXEC }, { "argv", K_EXEC },
};

static int parse_match_key(struct pctx *c, struct pol_rule *r, const char *k, yaml_node_t *v)
{
	struct str_arg a = { 0 };

	if (!strcmp(k, "cidr"))
		return for_each_item(c, v, k, item_cidr, r);
	if (!strcmp(k, "port"))
		return for_each_item(c, v, k, item_port, r);
	if (!strcmp(k, "tool"))
		a = (struct str_arg){ &r->tool, STR_PLAIN };
	else if (!strcmp(k, "user"))
		a = (struct str_arg){ &r->user, STR_PLAIN };
	else if (!strcmp(k, "cwd"))
		a = (struct str_arg){ &r->cwd, STR_PATH_GLOB };
	else if (!strcmp(k, "repo"))
		a = (struct str_arg){ &r->repo, STR_GLOB };
	else if (!strcmp(k, "host"))
		a = (struct str_arg){ &r->host, STR_GLOB };
	else if (!strcmp(k, "vendor"))
		a = (struct str_arg){ &r->vendor, STR_VENDOR };
	else if (!strcmp(k, "class"))
		a = (struct str_arg){ &r->dst_class, STR_CLASS };
	else if (!strcmp(k, "path"))
		a = (struct str_arg){ &r->path, STR_PATH_GLOB };
	else if (!strcmp(k, "program"))
		a = (struct str_arg){ &r->program, STR_GLOB };
	else if (!strcmp(k, "argv"))
		a = (struct str_arg){ &r->argv, STR_GLOB };
	else
		return -EINVAL;
	return for_each_item(c, v, k, item_str, &a);
}

static int parse_match(struct pctx *c, struct pol_rule *r, yaml_node_t *m)
{
	int bad = 0;

	if (m->type != YAML_MAPPING_NODE) {
		perr(c, m, "'match' must be a mapping of match keys");
		return -EINVAL;
	}
	for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
		const char *k = scalar(kn);
		size_t i;

		for (i = 0; k && i < ARRAY_SIZE(match_keys); i++)
			if (!strcmp(match_keys[i].name, k))
				break;
		if (!k || i == ARRAY_SIZE(match_keys)) {
			perr(c, kn,
			     "unknown match key '%s' (expected tool, user, cwd, repo, host, vendor, "
			     "class, cidr, port, path, program, argv)",
			     k ? k : "?");
			bad = -EINVAL;
			continue;
		}
		if (!(match_keys[i].cats & (1u << r->cat))) {
			perr(c, kn, "match key '%s' does not apply to category %s", k,
			     policy_category_name(r->cat));
			bad = -EINVAL;
			continue;
		}
		if (parse_match_key(c, r, k, vn))
			bad = -EINVAL;
	}
	return bad;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= POL_ID_MAX || !strncmp(s, "default", 7))
		return false;
	for (const char *p = s; *p; p++)
		if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
		      ('0' <= *p && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

static int parse_rule(struct pctx *c, yaml_node_t *n, struct pol_rule *r, enum pol_mode dmode)
{
	yaml_node_t *id = NULL, *cat = NULL, *action = NULL, *mode = NULL, *match = NULL;
	int bad = 0, v;

	r->line = n->start_mark.line + 1;
	r->mode = dmode;
	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "a rule must be a mapping with id, category, action");
		return -EINVAL;
	}
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
		const char *k = scalar(kn);

		if (k && !strcmp(k, "id"))
			id = vn;
		else if (k && !strcmp(k, "category"))
			cat = vn;
		else if (k && !strcmp(k, "action"))
			action = vn;
		else if (k && !strcmp(k, "mode"))
			mode = vn;
		else if (k && !strcmp(k, "match"))
			match = vn;
		else if (k && !strcmp(k, "description"))
			;
		else {
			perr(c, kn,
			     "unknown rule key '%s' (expected id, category, action, mode, match, "
			     "description)",
			     k ? k : "?");
			bad = -EINVAL;
		}
	}
	if (!id) {
		perr(c, n, "rule has no 'id'");
		bad = -EINVAL;
	} else if (!scalar(id) || !valid_id(scalar(id))) {
		perr(c, id,
		     "bad rule id '%s': 1-%d characters of A-Z a-z 0-9 - _ . not starting with "
		     "'default'",
		     scalar(id) ? scalar(id) : "?", POL_ID_MAX - 1);
		bad = -EINVAL;
	} else {
		snprintf(r->id, sizeof(r->id), "%s", scalar(id));
	}
	if (!cat) {
		perr(c, n, "rule '%s' has no 'category' (" CAT_LIST ")", r->id);
		return -EINVAL;
	}
	v = parse_word(c, cat, "category", cat_words, ARRAY_SIZE(cat_words), CAT_LIST);
	if (v < 0)
		return -EINVAL;
	r->cat = v;
	if (!action) {
		perr(c, n, "rule '%s' has no 'action' (" ACTION_LIST ")", r->id);
		bad = -EINVAL;
	} else if ((v = parse_word(c, action, "action", action_words, ARRAY_SIZE(action_words),
				   ACTION_LIST)) < 0) {
		bad = -EINVAL;
	} else {
		r->action = v;
	}
	if (mode) {
		v = parse_word(c, mode, "mode", mode_words, ARRAY_SIZE(mode_words), MODE_LIST);
		if (v < 0)
			bad = -EINVAL;
		else
			r->mode = v;
	}
	if (match && parse_match(c, r, match))
		bad = -EINVAL;
	return bad;
}

static int parse_defaults(struct pctx *c, yaml_node_t *n, enum pol_mode dmode)
{
	int bad = 0;

	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "'defaults' must be a mapping of category: action");
		return -EINVAL;
	}
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
		int cat, act;

		cat = parse_word(c, kn, "category", cat_words, ARRAY_SIZE(cat_words), CAT_LIST);
		if (cat < 0) {
			bad = -EINVAL;
			continue;
		}
		c->p->defaults[cat].mode = dmode;
		if (vn->type == YAML_MAPPING_NODE) {
			perr(c, vn, "default for %s must be an action (" ACTION_LIST ")",
			     cat_words[cat]);
			bad = -EINVAL;
			continue;
		}
		act = parse_word(c, vn, "action", action_words, ARRAY_SIZE(action_words),
				 ACTION_LIST);
		if (act < 0)
			bad = -EINVAL;
		else
			c->p->defaults[cat].action = act;
	}
	return bad;
}

static int parse_root(struct pctx *c, yaml_node_t *root)
{
	yaml_node_t *rules = NULL, *defaults = NULL, *version = NULL, *mode = NULL;
	enum pol_mode dmode = POL_ENFORCE;
	int bad = 0;

	if (!root) {
		perr(c, NULL, "empty policy (expected version, defaults, rules)");
		return -EINVAL;
	}
	if (root->type != YAML_MAPPING_NODE) {
		perr(c, root, "a policy must be a mapping with version, mode, defaults, rules");
		return -EINVAL;
	}
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
		const char *k = scalar(kn);

		if (k && !strcmp(k, "version"))
			version = vn;
		else if (k && !strcmp(k, "mode"))
			mode = vn;
		else if (k && !strcmp(k, "defaults"))
			defaults = vn;
		else if (k && !strcmp(k, "rules"))
			rules = vn;
		else {
			perr(c, kn, "unknown key '%s' (expected version, mode, defaults, rules)",
			     k ? k : "?");
			bad = -EINVAL;
		}
	}
	if (!version) {
		perr(c, root, "missing 'version: 1'");
		bad = -EINVAL;
	} else if (!scalar(version) || strcmp(scalar(version), "1")) {
		perr(c, version, "unsupported version '%s' (this agent reads version 1)",
		     scalar(version) ? scalar(version) : "?");
		bad = -EINVAL;
	}
	if (mode) {
		int v = parse_word(c, mode, "mode", mode_words, ARRAY_SIZE(mode_words), MODE_LIST);

		if (v < 0)
			bad = -EINVAL;
		else
			dmode = v;
	}
	for (int i = 0; i < POL_CAT_MAX; i++)
		c->p->defaults[i] = (struct pol_default){ POL_ALLOW, dmode };
	if (defaults && parse_defaults(c, defaults, dmode))
		bad = -EINVAL;
	if (!rules)
		return bad;
	if (rules->type != YAML_SEQUENCE_NODE) {
		perr(c, rules, "'rules' must be a list of rules");
		return -EINVAL;
	}
	size_t n = rules->data.sequence.items.top - rules->data.sequence.items.start;

	if (n > POL_MAX_RULES) {
		perr(c, rules, "too many rules: %zu (at most %d)", n, POL_MAX_RULES);
		return -EINVAL;
	}
	c->p->rules = calloc(n ? n : 1, sizeof(*c->p->rules));
	if (!c->p->rules)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *rn = yaml_document_get_node(c->doc, rules->data.sequence.items.start[i]);
		struct pol_rule *r = &c->p->rules[c->p->n_rules++];

		if (parse_rule(c, rn, r, dmode)) {
			bad = -EINVAL;
			continue;
		}
		for (int j = 0; j < c->p->n_rules - 1; j++) {
			if (!strcmp(c->p->rules[j].id, r->id)) {
				perr(c, rn, "duplicate rule id '%s' (first at line %d)", r->id,
				     c->p->rules[j].line);
				bad = -EINVAL;
				break;
			}
		}
	}
	return bad;
}

static void free_strv(struct pol_strv *v)
{
	for (int i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n_rules; i++) {
		struct pol_rule *r = &p->rules[i];

		free_strv(&r->tool);
		free_strv(&r->user);
		free_strv(&r->cwd);
		free_strv(&r->repo);
		free_strv(&r->host);
		free_strv(&r->vendor);
		free_strv(&r->dst_class);
		free_strv(&r->path);
		free_strv(&r->program);
		free_strv(&r->argv);
		free(r->cidr);
		free(r->port);
	}
	free(p->rules);
	free(p);
}

int policy_parse(const char *source, const char *text, size_t len, struct policy **out,
		 struct pol_errors *err)
{
	struct pol_errors local;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pctx c;
	int ret;

	if (!err)
		err = &local;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	c = (struct pctx){ .doc = &doc, .src = source, .err = err };
	c.p = calloc(1, sizeof(*c.p));
	if (!c.p)
		return -ENOMEM;
	snprintf(c.p->source, sizeof(c.p->source), "%s", source);
	if (!yaml_parser_initialize(&parser)) {
		free(c.p);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_node_t at = { .start_mark = parser.problem_mark };

		perr(&c, &at, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "?",
		     parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		free(c.p);
		return -EINVAL;
	}
	ret = parse_root(&c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret || err->n) {
		policy_free(c.p);
		return ret == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	*out = c.p;
	return 0;
}

int policy_load_file(const char *path, struct policy **out, struct pol_errors *err)
{
	struct pol_errors local;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (!err)
		err = &local;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		err->len = snprintf(err->buf, sizeof(err->buf), "%s: failed to open policy: %s\n",
				    path, strerror(-ret));
		err->n = 1;
		log_error("failed to open policy %s: %s", path, strerror(-ret));
		return ret;
	}
	buf = malloc(POL_MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, POL_MAX_FILE + 1, f);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	if (!ret && len > POL_MAX_FILE) {
		err->len = snprintf(err->buf, sizeof(err->buf),
				    "%s: policy larger than %d bytes\n", path, POL_MAX_FILE);
		err->n = 1;
		log_error("failed to load policy %s: larger than %d bytes", path, POL_MAX_FILE);
		ret = -EFBIG;
	}
	if (!ret)
		ret = policy_parse(path, buf, len, out, err);
	else if (ret == -EIO)
		log_error("failed to read policy %s: %s", path, strerror(EIO));
	free(buf);
	return ret;
}
