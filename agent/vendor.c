// SPDX-License-Identifier: Apache-2.0
/*
 * Host name -> destination class and vendor. The built-in table is compiled in so a host with
 * no data file still classifies; deploy/vendors.yaml carries the same entries for people to
 * read and extend (vendor_file: in the agent config).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "agent/config.h"
#include "common/log.h"
#include "common/util.h"
#include "agent/vendor.h"

struct vendor_entry {
	const char *pattern;
	const char *dst_class;
	const char *vendor;
};

#define M VENDOR_CLASS_MODEL
#define T VENDOR_CLASS_TELEMETRY
#define R VENDOR_CLASS_REGISTRY
#define G VENDOR_CLASS_GIT

static const struct vendor_entry builtin[] = {
	{ "api.anthropic.com", M, "anthropic" },
	{ "*.anthropic.com", M, "anthropic" },
	{ "claude.ai", M, "anthropic" },
	{ "*.claude.ai", M, "anthropic" },
	{ "statsig.anthropic.com", T, "anthropic" },
	{ "api.openai.com", M, "openai" },
	{ "*.openai.com", M, "openai" },
	{ "chatgpt.com", M, "openai" },
	{ "*.chatgpt.com", M, "openai" },
	{ "generativelanguage.googleapis.com", M, "google" },
	{ "*-aiplatform.googleapis.com", M, "google" },
	{ "aiplatform.googleapis.com", M, "google" },
	{ "*.githubcopilot.com", M, "github_copilot" },
	{ "copilot-proxy.githubusercontent.com", M, "github_copilot" },
	{ "api.mistral.ai", M, "mistral" },
	{ "codestral.mistral.ai", M, "mistral" },
	{ "api.cohere.com", M, "cohere" },
	{ "api.cohere.ai", M, "cohere" },
	{ "api.groq.com", M, "groq" },
	{ "api.deepseek.com", M, "deepseek" },
	{ "api.x.ai", M, "xai" },
	{ "openrouter.ai", M, "openrouter" },
	{ "api.together.xyz", M, "together" },
	{ "api.together.ai", M, "together" },
	{ "api.perplexity.ai", M, "perplexity" },
	{ "statsig.com", T, "statsig" },
	{ "*.statsig.com", T, "statsig" },
	{ "featuregates.org", T, "statsig" },
	{ "*.featuregates.org", T, "statsig" },
	{ "sentry.io", T, "sentry" },
	{ "*.sentry.io", T, "sentry" },
	{ "*.datadoghq.com", T, "datadog" },
	{ "*.datadoghq.eu", T, "datadog" },
	{ "registry.npmjs.org", R, "npm" },
	{ "registry.yarnpkg.com", R, "npm" },
	{ "pypi.org", R, "pypi" },
	{ "files.pythonhosted.org", R, "pypi" },
	{ "crates.io", R, "crates" },
	{ "index.crates.io", R, "crates" },
	{ "static.crates.io", R, "crates" },
	{ "proxy.golang.org", R, "go" },
	{ "sum.golang.org", R, "go" },
	{ "deb.debian.org", R, "debian" },
	{ "security.debian.org", R, "debian" },
	{ "archive.ubuntu.com", R, "ubuntu" },
	{ "*.archive.ubuntu.com", R, "ubuntu" },
	{ "security.ubuntu.com", R, "ubuntu" },
	{ "rubygems.org", R, "rubygems" },
	{ "repo.maven.apache.org", R, "maven" },
	{ "repo1.maven.org", R, "maven" },
	{ "api.nuget.org", R, "nuget" },
	{ "registry-1.docker.io", R, "docker" },
	{ "github.com", G, "github" },
	{ "api.github.com", G, "github" },
	{ "codeload.github.com", G, "github" },
	{ "raw.githubusercontent.com", G, "github" },
	{ "objects.githubusercontent.com", G, "github" },
	{ "gitlab.com", G, "gitlab" },
	{ "bitbucket.org", G, "bitbucket" },
};

#undef M
#undef T
#undef R
#undef G

static const char *const classes[] = { VENDOR_CLASS_MODEL, VENDOR_CLASS_TELEMETRY,
				       VENDOR_CLASS_REGISTRY, VENDOR_CLASS_GIT,
				       VENDOR_CLASS_OTHER };

/* Entries from the vendor file; they win over built-in entries of equal specificity. */
static struct vendor_entry *extra;
static size_t n_extra, cap_extra;

/* '*' matches any run of characters, dots included; everything else case-insensitively. */
static bool glob_match(const char *p, const char *s, size_t slen)
{
	const char *star = NULL, *back = NULL, *end = s + slen;

	while (s < end) {
		if (*p == '*') {
			star = ++p;
			back = s;
		} else if (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s)) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++back;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* Higher is more specific; -1: no match. */
static int match_score(const char *pattern, const char *host, size_t len)
{
	size_t literal = 0;
	const char *c;

	if (!glob_match(pattern, host, len))
		return -1;
	for (c = pattern; *c; c++)
		literal += *c != '*';
	if (literal == strlen(pattern))
		return 1 << 20; /* exact name */
	return (int)literal;
}

void vendor_classify(const char *host, struct vendor_match *m)
{
	const struct vendor_entry *best = NULL;
	int best_score = -1, sc;
	size_t len, i;

	m->dst_class = VENDOR_CLASS_OTHER;
	m->vendor = "";
	if (!host || !*host)
		return;
	len = strlen(host);
	if (host[len - 1] == '.')
		len--;
	for (i = 0; i < ARRAY_SIZE(builtin); i++) {
		sc = match_score(builtin[i].pattern, host, len);
		if (sc > best_score) {
			best_score = sc;
			best = &builtin[i];
		}
	}
	for (i = 0; i < n_extra; i++) {
		sc = match_score(extra[i].pattern, host, len);
		if (sc >= best_score && sc >= 0) {
			best_score = sc;
			best = &extra[i];
		}
	}
	if (best) {
		m->dst_class = best->dst_class;
		m->vendor = best->vendor;
	}
}

static const char *class_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(classes); i++)
		if (!strcmp(classes[i], name))
			return classes[i];
	return NULL;
}

static bool pattern_ok(const char *p)
{
	size_t n = strlen(p);

	if (!n || n >= VENDOR_PATTERN_MAX)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_*", *p))
			return false;
	return true;
}

int vendor_add(const char *pattern, const char *dst_class, const char *vendor)
{
	const char *cls = class_lookup(dst_class);
	struct vendor_entry *e;

	if (!cls || !pattern_ok(pattern) || strlen(vendor) >= VENDOR_NAME_MAX)
		return -EINVAL;
	if (n_extra == cap_extra) {
		size_t cap = cap_extra ? cap_extra * 2 : 32;

		e = realloc(extra, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		extra = e;
		cap_extra = cap;
	}
	e = &extra[n_extra];
	e->pattern = strdup(pattern);
	e->vendor = strdup(vendor);
	e->dst_class = cls;
	if (!e->pattern || !e->vendor) {
		free((void *)e->pattern);
		free((void *)e->vendor);
		return -ENOMEM;
	}
	n_extra++;
	return 0;
}

void vendor_reset(void)
{
	for (size_t i = 0; i < n_extra; i++) {
		free((void *)extra[i].pattern);
		free((void *)extra[i].vendor);
	}
	free(extra);
	extra = NULL;
	n_extra = cap_extra = 0;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

#define verr(file, node, fmt, ...)                                                                 \
	log_error("%s:%zu: " fmt, file, (size_t)(node)->start_mark.line + 1, ##__VA_ARGS__)

/* One `- match: ..., class: ..., vendor: ...` item. */
static int load_item(const char *file, yaml_document_t *doc, yaml_node_t *item)
{
	const char *match = NULL, *cls = NULL, *vendor = "";
	yaml_node_pair_t *pr;
	int err;

	if (item->type != YAML_MAPPING_NODE) {
		verr(file, item, "vendors[]: expected a mapping with match, class and vendor");
		return -EINVAL;
	}
	for (pr = item->data.mapping.pairs.start; pr < item->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);
		const char *ks = scalar(k), *vs = scalar(v);

		if (!ks || !vs) {
			verr(file, k, "vendors[]: keys and values must be plain strings");
			return -EINVAL;
		}
		if (!strcmp(ks, "match")) {
			match = vs;
		} else if (!strcmp(ks, "class")) {
			if (!class_lookup(vs)) {
				verr(file, v, "vendors[].class: '%s' is not one of model_vendor, "
				     "telemetry, package_registry, git_host, other", vs);
				return -EINVAL;
			}
			cls = vs;
		} else if (!strcmp(ks, "vendor")) {
			if (strlen(vs) >= VENDOR_NAME_MAX) {
				verr(file, v, "vendors[].vendor: too long (at most %d bytes)",
				     VENDOR_NAME_MAX - 1);
				return -EINVAL;
			}
			vendor = vs;
		} else {
			verr(file, k, "vendors[]: unknown key '%s'", ks);
			return -EINVAL;
		}
	}
	if (!match || !cls) {
		verr(file, item, "vendors[]: needs both 'match' and 'class'");
		return -EINVAL;
	}
	if (!pattern_ok(match)) {
		verr(file, item, "vendors[].match: '%s' is not a host name or glob (letters, digits, "
		     ". - _ and *; at most %d bytes)", match, VENDOR_PATTERN_MAX - 1);
		return -EINVAL;
	}
	err = vendor_add(match, cls, vendor);
	if (err)
		verr(file, item, "failed to add vendor entry '%s': %s", match, strerror(-err));
	return err;
}

int vendor_load_file(const char *path)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *list = NULL;
	yaml_node_item_t *it;
	size_t keep = n_extra;
	int err = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		err = -errno;
		log_error("failed to open vendor file %s: %s", path, strerror(errno));
		return err;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		log_error("%s:%zu: failed to parse vendor file: %s", path,
			  parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *pr;

		for (pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
			const char *ks = scalar(k);

			if (ks && !strcmp(ks, "vendors")) {
				list = yaml_document_get_node(&doc, pr->value);
			} else {
				verr(path, k, "unknown key '%s' (the file holds a 'vendors:' list)",
				     ks ? ks : "?");
				err = -EINVAL;
				goto out;
			}
		}
	}
	if (!list || list->type != YAML_SEQUENCE_NODE) {
		log_error("%s:%zu: expected 'vendors:' with a list of entries", path,
			  root ? (size_t)root->start_mark.line + 1 : (size_t)1);
		err = -EINVAL;
		goto out;
	}
	for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		err = load_item(path, &doc, yaml_document_get_node(&doc, *it));
		if (err)
			break;
	}
out:
	if (err) {
		/* all of the file or none of it */
		while (n_extra > keep) {
			n_extra--;
			free((void *)extra[n_extra].pattern);
			free((void *)extra[n_extra].vendor);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return err;
}

int vendor_setup(const struct agent_config *c)
{
	char path[PATH_MAX];
	const char *slash;

	if (c->vendor_file[0])
		return vendor_load_file(c->vendor_file);
	if (!c->path[0])
		return 0;
	slash = strrchr(c->path, '/');
	if (slash)
		snprintf(path, sizeof(path), "%.*s/vendors.yaml", (int)(slash - c->path), c->path);
	else
		snprintf(path, sizeof(path), "vendors.yaml");
	if (access(path, F_OK))
		return 0; /* the built-in table alone */
	log_info("loading destination classes from %s", path);
	return vendor_load_file(path);
}
