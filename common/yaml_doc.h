/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading YAML files (on libyaml's document API) for every file aitrail reads: the agent and
 * collector configs, the vendors file and policies. One document is loaded whole; values are
 * read through typed getters, or through a table of keys that says, for each key of a mapping,
 * its type, bounds, default and where it goes. Every problem is reported as "FILE:LINE: what"
 * (or "ORIGIN: what" for values from elsewhere, "--db"), once, through one sink.
 *
 * A key table reads like the file it describes:
 *
 *	static const struct ykey batch_keys[] = {
 *		YK_UINT("max_events", struct agent_config, batch_max_events, 1, 100000,
 *			.def = "1000"),
 *		YK_SIZE("max_bytes", struct agent_config, batch_max_bytes, 4096, 64ULL << 20,
 *			.def = "1M"),
 *	};
 *	static const struct ytable batch = YTABLE("batch", batch_keys);
 *
 * An unknown key, a key given twice or a value of the wrong kind is an error naming FILE:LINE
 * and the key ("batch.max_events: 0 is out of range [1, 100000]").
 */
#ifndef AITRAIL_YAML_DOC_H
#define AITRAIL_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

struct ydoc {
	const char *file;     /* the FILE of FILE:LINE */
	const char *origin;   /* with no file: the prefix of every message ("--db") */
	bool keep_going;      /* report every problem, not only the first (policies) */
	int n_errors;
	/* where messages go ("FILE:LINE: what", no newline); NULL: log_error */
	void (*sink)(void *arg, const char *msg);
	void *sink_arg;
	yaml_document_t doc;
	bool loaded;
};

/* A document whose values come from elsewhere: messages read "ORIGIN: what". */
#define YDOC_ORIGIN(o) ((struct ydoc){ .origin = (o) })

/*
 * Loads path (what names it in the open error: "config", "vendor file"). -errno after a
 * message: "failed to open WHAT PATH: reason" or "PATH:LINE: YAML syntax error: ...".
 */
int ydoc_load_file(struct ydoc *d, const char *path, const char *what);
/* The same for text in memory; d->file names it in messages. */
int ydoc_load_text(struct ydoc *d, const char *text, size_t len);
void ydoc_free(struct ydoc *d);
/* The top node; NULL for an empty document (nothing, or an empty scalar). */
yaml_node_t *ydoc_root(struct ydoc *d);

/* Reports "FILE:LINE: what" at node n (line 1 when n is NULL) and counts it. */
void ydoc_err(struct ydoc *d, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "a scalar", "a list", "a mapping": for messages. */
const char *ydoc_kind(const yaml_node_t *n);
/* A scalar's text; NULL for any other node. */
const char *ydoc_text(const yaml_node_t *n);
/* The items of a list: ydoc_count() of them, ydoc_item(d, n, 0..count-1). */
size_t ydoc_count(const yaml_node_t *n);
yaml_node_t *ydoc_item(struct ydoc *d, const yaml_node_t *n, size_t i);
/* 0, or -EINVAL after "LABEL: expected a list, got a scalar". */
int ydoc_want(struct ydoc *d, const yaml_node_t *n, const char *label, yaml_node_type_t type);
/* Index of s in words (NULL-terminated), or -1. */
int ydoc_word(const char *const *words, const char *s);

/* --- key tables --------------------------------------------------------------------------- */

enum ytype {
	YT_STR,    /* char[size]: a scalar that fits */
	YT_BOOL,   /* int: true/yes or false/no */
	YT_UINT,   /* uint32_t or uint64_t (size 4 or 8): a whole number in [min, max] */
	YT_SIZE,   /* the same in bytes, with an optional K, M, G (KiB, MiB, GiB) suffix */
	YT_ENUM,   /* int: the index in words (arg) of the scalar */
	YT_LIST,   /* char[max][size] and an int count at off_n: a list of distinct scalars */
	YT_NODE,   /* yaml_node_t *: the node itself, for the caller to read later */
	YT_MAP,    /* a mapping read with the table arg, into the same target */
	YT_SCALAR, /* a scalar handed to fn, which stores it */
	YT_FN,     /* any node handed to fn, with the whole target */
};

struct ykey;

/* What a handler or a check is given. */
struct yval {
	struct ydoc *doc;
	yaml_node_t *node;      /* NULL when the value came from elsewhere (ytable_set) */
	yaml_node_t *key_node;  /* the key of a mapping pair, NULL otherwise */
	const struct ykey *key;
	const char *label;      /* the key's full name: "batch.max_events" */
	const char *text;       /* the scalar (for a list: the item); NULL for other nodes */
	void *val;              /* where it was stored (a list: the item); YT_MAP, YT_FN: target */
};

/* Reports "FILE:LINE: LABEL: what" at the value. Returns -EINVAL, for return yval_err(...). */
int yval_err(const struct yval *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct ykey {
	const char *name;
	enum ytype type;
	size_t off;             /* destination in the target */
	size_t size;            /* YT_STR, YT_LIST: bytes of one string; YT_UINT, YT_SIZE: 4 or 8 */
	uint64_t min, max;      /* YT_UINT, YT_SIZE: bounds; YT_LIST: max = entries */
	size_t off_n;           /* YT_LIST: the int count */
	const void *arg;        /* YT_ENUM: words; YT_MAP: struct ytable; YT_LIST: what limits the
				 * length of an item, for the message ("the kernel matcher") */
	const char *def;        /* the default, written as in the file; NULL: none */
	/* YT_SCALAR, YT_FN: the handler. Else an optional check, after the value (each item of a
	 * list) is stored: 0 or -errno after yval_err. */
	int (*fn)(const struct yval *v);
};

struct ytable {
	const char *path;       /* prefix of the keys' labels: "batch"; "" at the top */
	const char *where;      /* prefix of the mapping's own messages; NULL: path */
	const char *noun;       /* "unknown NOUN 'x'"; NULL: "key" */
	const char *not_map;    /* the message when the node is no mapping; NULL: "expected..." */
	const struct ykey *keys;
	size_t n_keys;
};

/* YTABLE("batch", batch_keys), YTABLE("", rule_keys, .noun = "rule key") */
#define YTABLE(path_, keys_, ...)                                                                  \
	{ .path = (path_), .keys = (keys_), .n_keys = sizeof(keys_) / sizeof((keys_)[0]),           \
	  __VA_ARGS__ }

#define YK__FIELD(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define YK_STR(k, T, f, ...) { .name = (k), .type = YT_STR, YK__FIELD(T, f), __VA_ARGS__ }
#define YK_BOOL(k, T, f, ...) { .name = (k), .type = YT_BOOL, YK__FIELD(T, f), __VA_ARGS__ }
#define YK_UINT(k, T, f, lo, hi, ...)                                                              \
	{ .name = (k), .type = YT_UINT, YK__FIELD(T, f), .min = (lo), .max = (hi), __VA_ARGS__ }
#define YK_SIZE(k, T, f, lo, hi, ...)                                                              \
	{ .name = (k), .type = YT_SIZE, YK__FIELD(T, f), .min = (lo), .max = (hi), __VA_ARGS__ }
#define YK_ENUM(k, T, f, words, ...)                                                               \
	{ .name = (k), .type = YT_ENUM, YK__FIELD(T, f), .arg = (words), __VA_ARGS__ }
/* f is char f[max][size], fn the int count */
#define YK_LIST(k, T, f, fn_, ...)                                                                 \
	{ .name = (k), .type = YT_LIST, .off = offsetof(T, f),                                     \
	  .size = sizeof(((T *)0)->f[0]),                                                          \
	  .max = sizeof(((T *)0)->f) / sizeof(((T *)0)->f[0]), .off_n = offsetof(T, fn_),          \
	  __VA_ARGS__ }
#define YK_NODE(k, T, f, ...) { .name = (k), .type = YT_NODE, .off = offsetof(T, f), __VA_ARGS__ }
#define YK_MAP(k, table, ...) { .name = (k), .type = YT_MAP, .arg = (table), __VA_ARGS__ }
#define YK_SCALAR(k, T, f, handler, ...)                                                           \
	{ .name = (k), .type = YT_SCALAR, YK__FIELD(T, f), .fn = (handler), __VA_ARGS__ }
#define YK_FN(k, handler, ...) { .name = (k), .type = YT_FN, .fn = (handler), __VA_ARGS__ }

/*
 * Reads the mapping n with table t into target. Stops at the first problem unless
 * d->keep_going; returns 0 or -EINVAL (-ENOMEM) once every problem was reported.
 */
int ydoc_walk(struct ydoc *d, yaml_node_t *n, const struct ytable *t, void *target);
/*
 * Loads path (what: "config", see ydoc_load_file) and reads it with t into target; an empty
 * file changes nothing. 0 or -errno after the messages.
 */
int ydoc_read_file(const char *path, const char *what, const struct ytable *t, void *target);
/* Reads the value n of one key k (its full name label) into target. */
int ydoc_apply(struct ydoc *d, yaml_node_t *n, const struct ykey *k, const char *label,
	       void *target);
/*
 * Sets key name of t (or of its nested tables: "batch.max_events") from text, a value given
 * elsewhere than in a file (a command-line flag); messages start with d's origin. -ENOENT when
 * there is no such scalar key.
 */
int ytable_set(struct ydoc *d, const struct ytable *t, void *target, const char *name,
	       const char *text);
/* Applies every default of t and its nested tables to target; -EINVAL names a bad one. */
int ytable_defaults(const struct ytable *t, void *target);

#endif
