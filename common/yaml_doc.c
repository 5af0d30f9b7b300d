// SPDX-License-Identifier: Apache-2.0
/*
 * YAML documents and key tables (common/yaml_doc.h). A value is converted from its text by the
 * same code whether it comes from a file, a command-line flag or a table default, so the three
 * accept the same things and say the same things about what they refuse.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/yaml_doc.h"

#define MSG_MAX 1024
#define LABEL_MAX 128

/* --- documents ---------------------------------------------------------------------------- */

static void vreport(struct ydoc *d, const yaml_node_t *n, const char *fmt, va_list ap)
{
	char msg[MSG_MAX], line[MSG_MAX + 300];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (d->file)
		snprintf(line, sizeof(line), "%s:%lu: %s", d->file,
			 n ? (unsigned long)n->start_mark.line + 1 : 1UL, msg);
	else if (d->origin)
		snprintf(line, sizeof(line), "%s: %s", d->origin, msg);
	else
		snprintf(line, sizeof(line), "%s", msg);
	d->n_errors++;
	if (d->sink)
		d->sink(d->sink_arg, line);
	else
		log_error("%s", line);
}

void ydoc_err(struct ydoc *d, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(d, n, fmt, ap);
	va_end(ap);
}

static int load(struct ydoc *d, yaml_parser_t *parser)
{
	yaml_node_t at;

	if (!yaml_parser_load(parser, &d->doc)) {
		at.start_mark = parser->problem_mark;
		ydoc_err(d, &at, "YAML syntax error: %s%s%s",
			 parser->problem ? parser->problem : "invalid YAML",
			 parser->context ? " " : "", parser->context ? parser->context : "");
		return -EINVAL;
	}
	d->loaded = true;
	return 0;
}

int ydoc_load_file(struct ydoc *d, const char *path, const char *what)
{
	yaml_parser_t parser;
	FILE *f;
	int err;

	if (!d->file)
		d->file = path;
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		log_error("failed to open %s %s: %s", what, path, strerror(-err));
		return err;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		log_error("failed to initialize the YAML parser: out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	err = load(d, &parser);
	yaml_parser_delete(&parser);
	fclose(f);
	return err;
}

int ydoc_load_text(struct ydoc *d, const char *text, size_t len)
{
	yaml_parser_t parser;
	int err;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	err = load(d, &parser);
	yaml_parser_delete(&parser);
	return err;
}

void ydoc_free(struct ydoc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	d->loaded = false;
}

yaml_node_t *ydoc_root(struct ydoc *d)
{
	yaml_node_t *root = d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;

	if (root && root->type == YAML_SCALAR_NODE && !root->data.scalar.length)
		return NULL;
	return root;
}

const char *ydoc_kind(const yaml_node_t *n)
{
	switch (n ? n->type : YAML_NO_NODE) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

const char *ydoc_text(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

size_t ydoc_count(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return 0;
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

yaml_node_t *ydoc_item(struct ydoc *d, const yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(&d->doc, n->data.sequence.items.start[i]);
}

int ydoc_want(struct ydoc *d, const yaml_node_t *n, const char *label, yaml_node_type_t type)
{
	yaml_node_t want = { .type = type };

	if (n && n->type == type)
		return 0;
	ydoc_err(d, n, "%s%sexpected %s, got %s", label ? label : "", label && *label ? ": " : "",
		 ydoc_kind(&want), ydoc_kind(n));
	return -EINVAL;
}

int ydoc_word(const char *const *words, const char *s)
{
	for (int i = 0; s && words[i]; i++)
		if (!strcmp(words[i], s))
			return i;
	return -1;
}

/* --- values ------------------------------------------------------------------------------- */

int yval_err(const struct yval *v, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (v->label && *v->label)
		ydoc_err(v->doc, v->node, "%s: %s", v->label, msg);
	else
		ydoc_err(v->doc, v->node, "%s", msg);
	return -EINVAL;
}

static void join(char *buf, size_t len, const char *const *names, size_t n, size_t stride)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		const char *s = *(const char *const *)((const char *)names + i * stride);

		if (!s)
			break;
		used += snprintf(buf + used, len - used, "%s%s", i ? ", " : "", s);
	}
}

static int store_uint(const struct yval *v, uint64_t x)
{
	switch (v->key->size) {
	case sizeof(uint32_t):
		*(uint32_t *)v->val = (uint32_t)x;
		return 0;
	case sizeof(uint64_t):
		*(uint64_t *)v->val = x;
		return 0;
	default:
		return yval_err(v, "internal error: %zu-byte number", v->key->size);
	}
}

static int conv_uint(const struct yval *v)
{
	const struct ykey *k = v->key;
	uint64_t x;
	int err = parse_u64(v->text, k->min, k->max, &x);

	if (err == -EINVAL)
		return yval_err(v, "'%s' is not a whole non-negative number", v->text);
	if (err)
		return yval_err(v, "%s is out of range [%llu, %llu]", v->text,
				(unsigned long long)k->min, (unsigned long long)k->max);
	return store_uint(v, x);
}

/* Sizes accept a plain byte count or a K/M/G (KiB/MiB/GiB) suffix: "512M", "1GiB". */
static int conv_size(const struct yval *v)
{
	static const struct {
		const char *sfx;
		unsigned int shift;
	} units[] = { { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "K", 10 }, { "M", 20 },
		      { "G", 30 } };
	const struct ykey *k = v->key;
	size_t len = strlen(v->text), sl;
	unsigned int shift = 0;
	char num[32];
	uint64_t x;

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		sl = strlen(units[i].sfx);
		if (len > sl && !strcmp(v->text + len - sl, units[i].sfx)) {
			shift = units[i].shift;
			len -= sl;
			break;
		}
	}
	if (len >= sizeof(num))
		len = sizeof(num) - 1; /* still refused below: the suffix is left in */
	memcpy(num, v->text, len);
	num[len] = '\0';
	if (parse_u64(num, 0, UINT64_MAX >> shift, &x))
		return yval_err(v, "'%s' is not a size (bytes, or a number with K, M or G)",
				v->text);
	x <<= shift;
	if (x < k->min || x > k->max)
		return yval_err(v, "%s is out of range [%llu, %llu] bytes", v->text,
				(unsigned long long)k->min, (unsigned long long)k->max);
	return store_uint(v, x);
}

static int conv_enum(const struct yval *v)
{
	const char *const *words = v->key->arg;
	int i = ydoc_word(words, v->text);
	char list[256];

	if (v->key->size != sizeof(int))
		return yval_err(v, "internal error: %zu-byte enum", v->key->size);
	if (i < 0) {
		join(list, sizeof(list), words, SIZE_MAX, sizeof(*words));
		return yval_err(v, "'%s' is not one of %s", v->text, list);
	}
	*(int *)v->val = i;
	return 0;
}

/* A scalar value: converted from text, stored, then checked. */
static int conv(const struct yval *v)
{
	const struct ykey *k = v->key;
	int err = 0;

	switch (k->type) {
	case YT_STR:
		if (strlen(v->text) >= k->size) {
			yval_err(v, "too long (%zu bytes, at most %zu)", strlen(v->text),
				 k->size - 1);
			return -ENAMETOOLONG;
		}
		memcpy(v->val, v->text, strlen(v->text) + 1);
		break;
	case YT_BOOL:
		if (k->size != sizeof(int))
			return yval_err(v, "internal error: %zu-byte bool", k->size);
		if (!strcmp(v->text, "true") || !strcmp(v->text, "yes"))
			*(int *)v->val = 1;
		else if (!strcmp(v->text, "false") || !strcmp(v->text, "no"))
			*(int *)v->val = 0;
		else
			return yval_err(v, "expected true or false, got '%s'", v->text);
		break;
	case YT_UINT:
		err = conv_uint(v);
		break;
	case YT_SIZE:
		err = conv_size(v);
		break;
	case YT_ENUM:
		err = conv_enum(v);
		break;
	case YT_SCALAR:
		return k->fn(v);
	default:
		return yval_err(v, "internal error: not a scalar key");
	}
	if (!err && k->fn)
		err = k->fn(v);
	return err;
}

static bool is_scalar_type(enum ytype t)
{
	return t == YT_STR || t == YT_BOOL || t == YT_UINT || t == YT_SIZE || t == YT_ENUM ||
	       t == YT_SCALAR;
}

/* Appends each scalar of a list to a fixed table, skipping repeats. */
static int apply_list(struct yval *v, char *tab)
{
	const struct ykey *k = v->key;
	yaml_node_t *list = v->node;
	int *count = v->val, err, i;

	err = ydoc_want(v->doc, list, v->label, YAML_SEQUENCE_NODE);
	if (err)
		return err;
	for (size_t j = 0; j < ydoc_count(list); j++) {
		struct yval item = *v;
		const char *s;

		item.node = ydoc_item(v->doc, list, j);
		s = ydoc_text(item.node);
		if (!s)
			return yval_err(&item, "expected a string or number, got %s",
					ydoc_kind(item.node));
		if (!*s)
			return yval_err(&item, "an empty entry");
		if (strlen(s) >= k->size) {
			yval_err(&item, "'%s' is too long%s%s (%zu bytes, at most %zu)", s,
				 k->arg ? " for " : "", k->arg ? (const char *)k->arg : "", strlen(s),
				 k->size - 1);
			return -ENAMETOOLONG;
		}
		for (i = 0; i < *count; i++)
			if (!strcmp(tab + i * k->size, s))
				break;
		if (i < *count)
			continue;
		if ((uint64_t)*count >= k->max) {
			yval_err(&item, "too many entries (at most %llu)", (unsigned long long)k->max);
			return -E2BIG;
		}
		item.text = s;
		item.val = tab + (*count)++ * k->size;
		memcpy(item.val, s, strlen(s) + 1);
		if (k->fn) {
			err = k->fn(&item);
			if (err)
				return err;
		}
	}
	return 0;
}

static int apply(struct ydoc *d, yaml_node_t *kn, yaml_node_t *n, const struct ykey *k,
		 const char *label, void *target)
{
	struct yval v = { .doc = d, .node = n, .key_node = kn, .key = k, .label = label,
			  .val = (char *)target + k->off };
	int err;

	if (is_scalar_type(k->type)) {
		v.text = ydoc_text(n);
		if (!v.text)
			return yval_err(&v, "expected a string or number, got %s", ydoc_kind(n));
		return conv(&v);
	}
	switch (k->type) {
	case YT_LIST:
		v.val = (char *)target + k->off_n;
		return apply_list(&v, (char *)target + k->off);
	case YT_NODE:
		*(yaml_node_t **)v.val = n;
		return 0;
	case YT_MAP:
		v.val = target;
		err = ydoc_walk(d, n, k->arg, target);
		return !err && k->fn ? k->fn(&v) : err;
	case YT_FN:
		v.val = target;
		return k->fn(&v);
	default:
		return yval_err(&v, "internal error: unknown key type %d", k->type);
	}
}

int ydoc_apply(struct ydoc *d, yaml_node_t *n, const struct ykey *k, const char *label,
	       void *target)
{
	return apply(d, NULL, n, k, label, target);
}

/* --- tables ------------------------------------------------------------------------------- */

static void make_label(char *buf, const struct ytable *t, const char *name)
{
	snprintf(buf, LABEL_MAX, "%s%s%s", t->path, t->path[0] ? "." : "", name);
}

int ydoc_walk(struct ydoc *d, yaml_node_t *n, const struct ytable *t, void *target)
{
	const char *where = t->where ? t->where : t->path, *sep = where[0] ? ": " : "";
	const char *noun = t->noun ? t->noun : "key";
	char label[LABEL_MAX], names[512];
	uint64_t seen = 0;
	int err, bad = 0;
	size_t i;

	if (t->n_keys > 64)
		return -E2BIG; /* the seen mask; no table comes near */
	if (t->not_map && (!n || n->type != YAML_MAPPING_NODE)) {
		ydoc_err(d, n, "%s", t->not_map);
		return -EINVAL;
	}
	err = ydoc_want(d, n, where, YAML_MAPPING_NODE);
	if (err)
		return err;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(&d->doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(&d->doc, p->value);
		const char *ks = ydoc_text(kn);

		if (!ks) {
			ydoc_err(d, kn, "%s%skeys must be plain names, not %s", where, sep,
				 ydoc_kind(kn));
			err = -EINVAL;
			goto next;
		}
		for (i = 0; i < t->n_keys; i++)
			if (!strcmp(ks, t->keys[i].name))
				break;
		if (i == t->n_keys) {
			join(names, sizeof(names), &t->keys[0].name, t->n_keys, sizeof(t->keys[0]));
			ydoc_err(d, kn, "%s%sunknown %s '%s' (expected %s)", where, sep, noun, ks,
				 names);
			err = -EINVAL;
			goto next;
		}
		if (seen & (1ULL << i)) {
			ydoc_err(d, kn, "%s%skey '%s' given twice", where, sep, ks);
			err = -EINVAL;
			goto next;
		}
		seen |= 1ULL << i;
		make_label(label, t, ks);
		err = apply(d, kn, vn, &t->keys[i], label, target);
next:
		if (err == -ENOMEM || (err && !d->keep_going))
			return err;
		if (err)
			bad = -EINVAL;
	}
	return bad;
}

int ydoc_read_file(const char *path, const char *what, const struct ytable *t, void *target)
{
	struct ydoc d = {};
	int err;

	err = ydoc_load_file(&d, path, what);
	if (!err && ydoc_root(&d))
		err = ydoc_walk(&d, ydoc_root(&d), t, target);
	ydoc_free(&d);
	return err;
}

static const struct ykey *find_key(const struct ytable *t, const char *name,
				   const struct ytable **owner)
{
	const char *dot = strchr(name, '.');

	for (size_t i = 0; i < t->n_keys; i++) {
		const struct ykey *k = &t->keys[i];

		if (dot && k->type == YT_MAP && strlen(k->name) == (size_t)(dot - name) &&
		    !strncmp(k->name, name, dot - name))
			return find_key(k->arg, dot + 1, owner);
		if (!dot && !strcmp(k->name, name)) {
			*owner = t;
			return k;
		}
	}
	return NULL;
}

static int set_text(struct ydoc *d, const struct ytable *t, const struct ykey *k, void *target,
		    const char *text)
{
	char label[LABEL_MAX];
	struct yval v = { .doc = d, .key = k, .label = label, .text = text,
			  .val = (char *)target + k->off };

	make_label(label, t, k->name);
	return conv(&v);
}

int ytable_set(struct ydoc *d, const struct ytable *t, void *target, const char *name,
	       const char *text)
{
	const struct ytable *owner;
	const struct ykey *k = find_key(t, name, &owner);

	if (!k || !is_scalar_type(k->type))
		return -ENOENT;
	return set_text(d, owner, k, target, text);
}

int ytable_defaults(const struct ytable *t, void *target)
{
	struct ydoc d = YDOC_ORIGIN("built-in default");
	int err;

	for (size_t i = 0; i < t->n_keys; i++) {
		const struct ykey *k = &t->keys[i];

		if (k->type == YT_MAP)
			err = ytable_defaults(k->arg, target);
		else if (k->def && is_scalar_type(k->type))
			err = set_text(&d, t, k, target, k->def);
		else
			err = 0;
		if (err)
			return err;
	}
	return 0;
}
