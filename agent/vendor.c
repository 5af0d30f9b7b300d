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

#include "agent/config.h"
#include "common/log.h"
#include "common/util.h"
#include "common/yaml_doc.h"
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
				       VENDOR_CLASS_OTHER, NULL };

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
	int i = ydoc_word(classes, name);

	return i < 0 ? NULL : classes[i];
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
	if (grow_array(&extra, &cap_extra, n_extra + 1, sizeof(*extra)))
		return -ENOMEM;
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

/* --- the vendor file ---------------------------------------------------------------------- */

/* One `- match: ..., class: ..., vendor: ...` item. */
struct vendor_item {
	char match[VENDOR_PATTERN_MAX];
	int cls;
	char vendor[VENDOR_NAME_MAX];
};

static int check_pattern(const struct yval *v)
{
	if (!pattern_ok(v->text))
		return yval_err(v, "'%s' is not a host name or glob (letters, digits, . - _ and *; "
				"at most %d bytes)", v->text, VENDOR_PATTERN_MAX - 1);
	return 0;
}

static const struct ykey item_keys[] = {
	YK_STR("match", struct vendor_item, match, .fn = check_pattern),
	YK_ENUM("class", struct vendor_item, cls, classes),
	YK_STR("vendor", struct vendor_item, vendor),
};

static const struct ytable item_table = YTABLE("vendors[]", item_keys);

struct vendor_file {
	yaml_node_t *vendors;
};

static const struct ykey file_keys[] = {
	YK_NODE("vendors", struct vendor_file, vendors),
};

static const struct ytable file_table = YTABLE("", file_keys);

static int load_item(struct ydoc *d, yaml_node_t *n)
{
	struct vendor_item it = { .cls = -1 };
	int err;

	err = ydoc_walk(d, n, &item_table, &it);
	if (err)
		return err;
	if (!it.match[0] || it.cls < 0) {
		ydoc_err(d, n, "vendors[]: needs both 'match' and 'class'");
		return -EINVAL;
	}
	err = vendor_add(it.match, classes[it.cls], it.vendor);
	if (err)
		ydoc_err(d, n, "failed to add vendor entry '%s': %s", it.match, strerror(-err));
	return err;
}

int vendor_load_file(const char *path)
{
	struct vendor_file vf = {};
	struct ydoc d = {};
	yaml_node_t *root;
	size_t keep = n_extra;
	int err;

	err = ydoc_load_file(&d, path, "vendor file");
	if (err)
		return err;
	root = ydoc_root(&d);
	err = root ? ydoc_walk(&d, root, &file_table, &vf) : 0;
	if (!err && (!vf.vendors || vf.vendors->type != YAML_SEQUENCE_NODE)) {
		ydoc_err(&d, vf.vendors ? vf.vendors : root,
			 "expected 'vendors:' with a list of entries");
		err = -EINVAL;
	}
	for (size_t i = 0; !err && i < ydoc_count(vf.vendors); i++)
		err = load_item(&d, ydoc_item(&d, vf.vendors, i));
	if (err) {
		/* all of the file or none of it */
		while (n_extra > keep) {
			n_extra--;
			free((void *)extra[n_extra].pattern);
			free((void *)extra[n_extra].vendor);
		}
	}
	ydoc_free(&d);
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
