// SPDX-License-Identifier: Apache-2.0
/* common/yaml_doc.c: typed keys, FILE:LINE messages, every problem or the first, flags, defaults. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "common/yaml_doc.h"

struct opts {
	char name[8];
	int on;
	uint32_t count;
	uint64_t bytes;
	int color;
	char tags[3][6];
	int n_tags;
	uint32_t inner;
	yaml_node_t *raw;
	int fn_calls;
};

static const char *const colors[] = { "red", "green", NULL };

static int check_even(const struct yval *v)
{
	return *(uint32_t *)v->val % 2 ? yval_err(v, "%u is odd", *(uint32_t *)v->val) : 0;
}

static int count_fn(const struct yval *v)
{
	((struct opts *)v->val)->fn_calls++;
	return 0;
}

#define T struct opts
static const struct ykey inner_keys[] = {
	YK_UINT("value", T, inner, 0, 100, .def = "4", .fn = check_even),
};
static const struct ytable inner = YTABLE("inner", inner_keys);

static const struct ykey keys[] = {
	YK_STR("name", T, name, .def = "anon"),
	YK_BOOL("on", T, on, .def = "yes"),
	YK_UINT("count", T, count, 1, 10, .def = "3"),
	YK_SIZE("bytes", T, bytes, 1024, 1ULL << 30, .def = "1M"),
	YK_ENUM("color", T, color, colors, .def = "green"),
	YK_LIST("tags", T, tags, n_tags, .arg = "the table"),
	YK_MAP("inner", &inner),
	YK_NODE("raw", T, raw),
	YK_FN("fn", count_fn),
};
#undef T
static const struct ytable table = YTABLE("", keys);

/* Messages land here instead of the log. */
static char msgs[4096];

static void sink(void *arg, const char *msg)
{
	size_t n = strlen(msgs);

	snprintf(msgs + n, sizeof(msgs) - n, "%s\n", msg);
}

static int walk(const char *text, struct opts *o, bool keep_going, int *n_errors)
{
	struct ydoc d = { .file = "t.yaml", .keep_going = keep_going, .sink = sink };
	int err;

	msgs[0] = '\0';
	assert_int_equal(ytable_defaults(&table, o), 0);
	err = ydoc_load_text(&d, text, strlen(text));
	if (!err && ydoc_root(&d))
		err = ydoc_walk(&d, ydoc_root(&d), &table, o);
	if (n_errors)
		*n_errors = d.n_errors;
	ydoc_free(&d);
	return err;
}

static void want(const char *text, const char *msg)
{
	struct opts o = { 0 };

	if (!walk(text, &o, false, NULL))
		fail_msg("accepted: %s", text);
	if (!strstr(msgs, msg))
		fail_msg("want '%s' in: %s", msg, msgs);
}

static void test_defaults_and_values(void **state)
{
	struct opts o = { 0 };

	assert_int_equal(walk("", &o, false, NULL), 0);
	assert_string_equal(o.name, "anon");
	assert_int_equal(o.on, 1);
	assert_int_equal(o.count, 3);
	assert_true(o.bytes == 1 << 20);
	assert_int_equal(o.color, 1);
	assert_int_equal(o.inner, 4);
	assert_int_equal(walk("name: x\non: false\ncount: 10\nbytes: 2GiB\n", &o, false, NULL),
			 -EINVAL);
	assert_non_null(strstr(msgs, "t.yaml:4: bytes: 2GiB is out of range [1024, 1073741824]"));
	memset(&o, 0, sizeof(o));
	assert_int_equal(walk("name: x\non: false\ncount: 10\nbytes: 512K\ncolor: red\n"
			      "tags: [a, b, a]\ninner: {value: 8}\nraw: [1, 2]\nfn: {}\n",
			      &o, false, NULL), 0);
	assert_string_equal(o.name, "x");
	assert_int_equal(o.on, 0);
	assert_int_equal(o.count, 10);
	assert_true(o.bytes == 512 << 10);
	assert_int_equal(o.color, 0);
	assert_int_equal(o.n_tags, 2); /* a repeat is not added twice */
	assert_string_equal(o.tags[1], "b");
	assert_int_equal(o.inner, 8);
	assert_non_null(o.raw);
	assert_int_equal(o.raw->type, YAML_SEQUENCE_NODE);
	assert_int_equal(o.fn_calls, 1);
	assert_string_equal(msgs, "");
}

static void test_errors_name_file_line_key(void **state)
{
	want("name: x\nbogus: 1\n", "t.yaml:2: unknown key 'bogus' (expected name, on, count");
	want("count: 1\ncount: 2\n", "t.yaml:2: key 'count' given twice");
	want("count: 0\n", "t.yaml:1: count: 0 is out of range [1, 10]");
	want("count: ten\n", "t.yaml:1: count: 'ten' is not a whole non-negative number");
	want("\n\ncount: [1]\n", "t.yaml:3: count: expected a string or number, got a list");
	want("bytes: 3 parsecs\n", "t.yaml:1: bytes: '3 parsecs' is not a size");
	want("on: maybe\n", "t.yaml:1: on: expected true or false, got 'maybe'");
	want("color: blue\n", "t.yaml:1: color: 'blue' is not one of red, green");
	want("name: toolong!\n", "t.yaml:1: name: too long (8 bytes, at most 7)");
	want("tags: [a, b, c, d]\n", "t.yaml:1: tags: too many entries (at most 3)");
	want("tags:\n  - ok\n  - sixsix\n", "t.yaml:3: tags: 'sixsix' is too long for the table");
	want("tags: x\n", "t.yaml:1: tags: expected a list, got a scalar");
	want("inner:\n  value: 3\n", "t.yaml:2: inner.value: 3 is odd");
	want("inner:\n  other: 3\n", "t.yaml:2: inner: unknown key 'other' (expected value)");
	want("- a\n", "t.yaml:1: expected a mapping, got a list");
	want("count: {a: 1\n", "t.yaml:2: YAML syntax error");
}

static void test_every_problem_or_the_first(void **state)
{
	const char *text = "count: 0\nbogus: 1\ncolor: blue\nname: ok\n";
	struct opts o = { 0 };
	int n;

	assert_int_equal(walk(text, &o, false, &n), -EINVAL);
	assert_int_equal(n, 1);
	assert_int_equal(walk(text, &o, true, &n), -EINVAL);
	assert_int_equal(n, 3);
	assert_non_null(strstr(msgs, "t.yaml:1: count"));
	assert_non_null(strstr(msgs, "t.yaml:2: unknown key 'bogus'"));
	assert_non_null(strstr(msgs, "t.yaml:3: color"));
	assert_string_equal(o.name, "ok"); /* the walk went on past the problems */
}

static void test_set_from_elsewhere(void **state)
{
	struct ydoc d = YDOC_ORIGIN("--inner-value");
	struct opts o = { 0 };

	d.sink = sink;
	msgs[0] = '\0';
	assert_int_equal(ytable_set(&d, &table, &o, "count", "7"), 0);
	assert_int_equal(o.count, 7);
	assert_int_equal(ytable_set(&d, &table, &o, "inner.value", "6"), 0);
	assert_int_equal(o.inner, 6);
	assert_int_equal(ytable_set(&d, &table, &o, "inner.value", "5"), -EINVAL);
	assert_non_null(strstr(msgs, "--inner-value: inner.value: 5 is odd"));
	assert_int_equal(ytable_set(&d, &table, &o, "nope", "1"), -ENOENT);
	assert_int_equal(ytable_set(&d, &table, &o, "inner", "1"), -ENOENT);
	assert_int_equal(ytable_set(&d, &table, &o, "tags", "a"), -ENOENT);
}

static const struct ytable strict =
	YTABLE("", keys, .not_map = "a test file is a mapping of name, on, count");

static void test_files(void **state)
{
	char path[] = "/tmp/aitrail-test-ydoc-XXXXXX";
	struct opts o = { 0 };
	struct ydoc d = { 0 };
	FILE *f;
	int fd;

	assert_int_equal(ydoc_load_file(&d, "/nonexistent/x.yaml", "test file"), -ENOENT);
	ydoc_free(&d);
	assert_int_equal(ydoc_read_file("/nonexistent/x.yaml", "test file", &table, &o), -ENOENT);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("name: file\ncount: 2\n", f);
	fclose(f);
	assert_int_equal(ydoc_read_file(path, "test file", &table, &o), 0);
	assert_string_equal(o.name, "file");
	assert_int_equal(o.count, 2);
	f = fopen(path, "w");
	fputs("", f);
	fclose(f);
	assert_int_equal(ydoc_read_file(path, "test file", &table, &o), 0); /* empty: no change */
	assert_int_equal(o.count, 2);
	unlink(path);
	/* a table may say what its mapping is when it is something else */
	want("[1, 2]\n", "t.yaml:1: expected a mapping, got a list");
	d = (struct ydoc){ .file = "t.yaml", .sink = sink };
	msgs[0] = '\0';
	assert_int_equal(ydoc_load_text(&d, "- 1\n", 4), 0);
	assert_int_equal(ydoc_walk(&d, ydoc_root(&d), &strict, &o), -EINVAL);
	assert_string_equal(msgs, "t.yaml:1: a test file is a mapping of name, on, count\n");
	ydoc_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_errors_name_file_line_key),
		cmocka_unit_test(test_every_problem_or_the_first),
		cmocka_unit_test(test_set_from_elsewhere),
		cmocka_unit_test(test_files),
	};

	log_init("test_yaml_doc", (enum log_level)(LOG_LVL_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
