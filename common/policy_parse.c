// SPDX-License-Identifier: Apache-2.0
/*
 * Policy parsing and validation. The whole document is checked and every problem reported as
 * "FILE:LINE: what" before anything is returned: a policy is accepted whole or not at all, so
 * the caller keeps the one in force when a new file is bad.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/policy_rules.h"
#include "common/util.h"
#include "common/yaml_doc.h"

#define POL_MAX_RULES 4096
#define POL_MAX_FILE (4 << 20)

struct pctx {
	struct ydoc *d;
	struct policy *p;
};

#define perr(c, n, ...) ydoc_err((c)->d, n, __VA_ARGS__)

/* Every message goes to the log and into the caller's pol_errors, one per line. */
static void collect(void *arg, const char *msg)
{
	struct pol_errors *e = arg;
	int len;

	log_error("%s", msg);
	e->n++;
	if (e->len >= sizeof(e->buf) - 1)
		return;
	len = snprintf(e->buf + e->len, sizeof(e->buf) - e->len, "%s\n", msg);
	if (len > 0)
		e->len = e->len + len < sizeof(e->buf) ? e->len + len : sizeof(e->buf) - 1;
}

static const char *const cat_words[] = { "network", "file_write", "file_read", "exec", NULL };
static const char *const action_words[] = { "allow", "alert", "deny", "kill", NULL };
static const char *const mode_words[] = { "enforce", "monitor", NULL };

static int parse_word(struct pctx *c, const yaml_node_t *n, const char *what,
		      const char *const *words, const char *list)
{
	const char *s = ydoc_text(n);
	int v;

	if (!s) {
		perr(c, n, "%s must be a scalar (one of %s)", what, list);
		return -1;
	}
	v = ydoc_word(words, s);
	if (v < 0)
		perr(c, n, "unknown %s '%s' (expected %s)", what, s, list);
	return v;
}

#define CAT_LIST "network, file_write, file_read, exec"
#define ACTION_LIST "allow, alert, deny, kill"
#define MODE_LIST "enforce, monitor"

/* A mode: key, when there is one, into *mode. */
static int parse_mode(struct pctx *c, const yaml_node_t *n, enum pol_mode *mode)
{
	int v = n ? parse_word(c, n, "mode", mode_words, MODE_LIST) : (int)*mode;

	if (v < 0)
		return -EINVAL;
	*mode = v;
	return 0;
}

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

/* A scalar or a sequence of scalars, each handed to fn. */
static int for_each_item(struct pctx *c, yaml_node_t *n, const char *key,
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
	if (!ydoc_count(n)) {
		perr(c, n, "'%s' is an empty list (omit the key to match anything)", key);
		return -EINVAL;
	}
	for (size_t i = 0; i < ydoc_count(n); i++) {
		yaml_node_t *item = ydoc_item(c->d, n, i);

		if (!ydoc_text(item)) {
			perr(c, item ? item : n, "'%s' list items must be plain values", key);
			bad = -EINVAL;
			continue;
		}
		if (fn(c, item, key, arg))
			bad = -EINVAL;
	}
	return bad;
}

enum str_kind { STR_PLAIN, STR_GLOB, STR_PATH_GLOB, STR_VENDOR, STR_CLASS, STR_CIDR, STR_PORT };

struct str_arg {
	struct pol_strv *v;
	enum str_kind kind;
};

static int item_str(struct pctx *c, const yaml_node_t *n, const char *key, void *arg)
{
	struct str_arg *a = arg;
	const char *s = ydoc_text(n), *why;

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
	default:
		break;
	}
	return add_str(a->v, s) ? -ENOMEM : 0;
}

static int item_cidr(struct pctx *c, const yaml_node_t *n, const char *key, void *arg)
{
	struct pol_rule *r = arg;
	struct pol_cidr cidr, *nc;
	const char *why;

	if (pol_cidr_parse(ydoc_text(n), &cidr, &why)) {
		perr(c, n, "bad CIDR '%s': %s", ydoc_text(n), why);
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
	const char *s = ydoc_text(n), *dash = strchr(s, '-');
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

/* --- match: one row a key: the categories it applies to and how its values are read ------ */

enum { K_ANY = 0xf, K_NET = 1 << POL_CAT_NETWORK, K_FILE = (1 << POL_CAT_FILE_WRITE) |
	(1 << POL_CAT_FILE_READ), K_EXEC = 1 << POL_CAT_EXEC };

struct match_spec {
	unsigned cats;
	enum str_kind kind;
	size_t off; /* the rule's pol_strv */
};

static int match_key(const struct yval *v)
{
	const struct match_spec *m = v->key->arg;
	struct pol_rule *r = v->val;
	struct pctx c = { .d = v->doc };
	struct str_arg a = { (struct pol_strv *)((char *)r + m->off), m->kind };
	const char *k = v->key->name;

	if (!(m->cats & (1u << r->cat))) {
		perr(&c, v->key_node, "match key '%s' does not apply to category %s", k,
		     policy_category_name(r->cat));
		return -EINVAL;
	}
	if (m->kind == STR_CIDR)
		return for_each_item(&c, v->node, k, item_cidr, r);
	if (m->kind == STR_PORT)
		return for_each_item(&c, v->node, k, item_port, r);
	return for_each_item(&c, v->node, k, item_str, &a);
}

#define MATCH(name, cats_, kind_, field)                                                           \
	YK_FN(name, match_key,                                                                     \
	      .arg = &(const struct match_spec){ cats_, kind_, offsetof(struct pol_rule, field) })

static const struct ykey match_keys[] = {
	MATCH("tool", K_ANY, STR_PLAIN, tool),
	MATCH("user", K_ANY, STR_PLAIN, user),
	MATCH("cwd", K_ANY, STR_PATH_GLOB, cwd),
	MATCH("repo", K_ANY, STR_GLOB, repo),
	MATCH("host", K_NET, STR_GLOB, host),
	MATCH("vendor", K_NET, STR_VENDOR, vendor),
	MATCH("class", K_NET, STR_CLASS, dst_class),
	MATCH("cidr", K_NET, STR_CIDR, cidr),
	MATCH("port", K_NET, STR_PORT, port),
	MATCH("path", K_FILE, STR_PATH_GLOB, path),
	MATCH("program", K_EXEC, STR_GLOB, program),
	MATCH("argv", K_EXEC, STR_GLOB, argv),
};

static const struct ytable match_table = YTABLE("", match_keys, .noun = "match key",
	.not_map = "'match' must be a mapping of match keys");

/* --- rules -------------------------------------------------------------------------------- */

struct rule_nodes {
	yaml_node_t *id, *cat, *action, *mode, *match, *description;
};

static const struct ykey rule_keys[] = {
	YK_NODE("id", struct rule_nodes, id),
	YK_NODE("category", struct rule_nodes, cat),
	YK_NODE("action", struct rule_nodes, action),
	YK_NODE("mode", struct rule_nodes, mode),
	YK_NODE("match", struct rule_nodes, match),
	YK_NODE("description", struct rule_nodes, description),
};

static const struct ytable rule_table = YTABLE("", rule_keys, .noun = "rule key",
	.not_map = "a rule must be a mapping with id, category, action");

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
	struct rule_nodes rn = {};
	const char *id;
	int bad, v;

	r->line = n->start_mark.line + 1;
	r->mode = dmode;
	bad = ydoc_walk(c->d, n, &rule_table, &rn);
	if (bad == -ENOMEM || n->type != YAML_MAPPING_NODE)
		return bad;
	id = ydoc_text(rn.id);
	if (!rn.id) {
		perr(c, n, "rule has no 'id'");
		bad = -EINVAL;
	} else if (!id || !valid_id(id)) {
		perr(c, rn.id,
		     "bad rule id '%s': 1-%d characters of A-Z a-z 0-9 - _ . not starting with "
		     "'default'",
		     id ? id : "?", POL_ID_MAX - 1);
		bad = -EINVAL;
	} else {
		snprintf(r->id, sizeof(r->id), "%s", id);
	}
	if (!rn.cat) {
		perr(c, n, "rule '%s' has no 'category' (" CAT_LIST ")", r->id);
		return -EINVAL;
	}
	v = parse_word(c, rn.cat, "category", cat_words, CAT_LIST);
	if (v < 0)
		return -EINVAL;
	r->cat = v;
	if (!rn.action) {
		perr(c, n, "rule '%s' has no 'action' (" ACTION_LIST ")", r->id);
		bad = -EINVAL;
	} else if ((v = parse_word(c, rn.action, "action", action_words, ACTION_LIST)) < 0) {
		bad = -EINVAL;
	} else {
		r->action = v;
	}
	if (parse_mode(c, rn.mode, &r->mode))
		bad = -EINVAL;
	if (rn.match) {
		v = ydoc_walk(c->d, rn.match, &match_table, r);
		if (v)
			bad = v;
	}
	return bad;
}

/* --- defaults: category -> action --------------------------------------------------------- */

static int default_action(const struct yval *v)
{
	struct pol_default *def = (struct pol_default *)v->val + v->key->min;
	struct pctx c = { .d = v->doc };
	int act;

	if (v->node->type == YAML_MAPPING_NODE) {
		perr(&c, v->node, "default for %s must be an action (" ACTION_LIST ")",
		     v->key->name);
		return -EINVAL;
	}
	act = parse_word(&c, v->node, "action", action_words, ACTION_LIST);
	if (act < 0)
		return -EINVAL;
	def->action = act;
	return 0;
}

static const struct ykey default_keys[] = {
	YK_FN("network", default_action, .min = POL_CAT_NETWORK),
	YK_FN("file_write", default_action, .min = POL_CAT_FILE_WRITE),
	YK_FN("file_read", default_action, .min = POL_CAT_FILE_READ),
	YK_FN("exec", default_action, .min = POL_CAT_EXEC),
};

static const struct ytable default_table = YTABLE("", default_keys, .noun = "category",
	.not_map = "'defaults' must be a mapping of category: action");

/* --- the document ------------------------------------------------------------------------- */

struct root_nodes {
	yaml_node_t *version, *mode, *defaults, *rules;
};

static const struct ykey root_keys[] = {
	YK_NODE("version", struct root_nodes, version),
	YK_NODE("mode", struct root_nodes, mode),
	YK_NODE("defaults", struct root_nodes, defaults),
	YK_NODE("rules", struct root_nodes, rules),
};

static const struct ytable root_table = YTABLE("", root_keys,
	.not_map = "a policy must be a mapping with version, mode, defaults, rules");

static int parse_root(struct pctx *c, yaml_node_t *root)
{
	enum pol_mode dmode = POL_ENFORCE;
	struct root_nodes rn = {};
	const char *version;
	int bad;

	if (!root) {
		perr(c, NULL, "empty policy (expected version, defaults, rules)");
		return -EINVAL;
	}
	bad = ydoc_walk(c->d, root, &root_table, &rn);
	if (bad == -ENOMEM || root->type != YAML_MAPPING_NODE)
		return bad;
	version = ydoc_text(rn.version);
	if (!rn.version) {
		perr(c, root, "missing 'version: 1'");
		bad = -EINVAL;
	} else if (!version || strcmp(version, "1")) {
		perr(c, rn.version, "unsupported version '%s' (this agent reads version 1)",
		     version ? version : "?");
		bad = -EINVAL;
	}
	if (parse_mode(c, rn.mode, &dmode))
		bad = -EINVAL;
	for (int i = 0; i < POL_CAT_MAX; i++)
		c->p->defaults[i] = (struct pol_default){ POL_ALLOW, dmode };
	if (rn.defaults && ydoc_walk(c->d, rn.defaults, &default_table, c->p->defaults))
		bad = -EINVAL;
	if (!rn.rules)
		return bad;
	if (rn.rules->type != YAML_SEQUENCE_NODE) {
		perr(c, rn.rules, "'rules' must be a list of rules");
		return -EINVAL;
	}
	size_t n = ydoc_count(rn.rules);

	if (n > POL_MAX_RULES) {
		perr(c, rn.rules, "too many rules: %zu (at most %d)", n, POL_MAX_RULES);
		return -EINVAL;
	}
	c->p->rules = calloc(n ? n : 1, sizeof(*c->p->rules));
	if (!c->p->rules)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *node = ydoc_item(c->d, rn.rules, i);
		struct pol_rule *r = &c->p->rules[c->p->n_rules++];
		int err = parse_rule(c, node, r, dmode);

		if (err == -ENOMEM)
			return err;
		if (err) {
			bad = -EINVAL;
			continue;
		}
		for (int j = 0; j < c->p->n_rules - 1; j++) {
			if (!strcmp(c->p->rules[j].id, r->id)) {
				perr(c, node, "duplicate rule id '%s' (first at line %d)", r->id,
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
	struct ydoc d;
	struct pctx c;
	int ret;

	if (!err)
		err = &local;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	/* every problem, not only the first: the author fixes them all in one round */
	d = (struct ydoc){ .file = source, .keep_going = true, .sink = collect, .sink_arg = err };
	c = (struct pctx){ .d = &d };
	c.p = calloc(1, sizeof(*c.p));
	if (!c.p)
		return -ENOMEM;
	snprintf(c.p->source, sizeof(c.p->source), "%s", source);
	ret = ydoc_load_text(&d, text, len);
	if (!ret)
		ret = parse_root(&c, ydoc_root(&d));
	ydoc_free(&d);
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
