// SPDX-License-Identifier: Apache-2.0
/* io_uring records: names joined with the walked directory, flags, results, bad records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/arena.h"
#include "agent/uring_decode.h"

static struct arena ar;
static struct at_uring_op rec;

static size_t set_names(struct at_uring_op *r, const char *name, const char *name2,
			const char *base)
{
	r->name_len = name ? strlen(name) + 1 : 0;
	r->name2_len = name2 ? strlen(name2) + 1 : 0;
	r->base_len = base ? strlen(base) + 1 : 0;
	if (name)
		memcpy(r->data, name, r->name_len);
	if (name2)
		memcpy(r->data + AT_URING_NAME, name2, r->name2_len);
	if (base)
		memcpy(r->data + 2 * AT_URING_NAME, base, r->base_len);
	return offsetof(struct at_uring_op, data) + 2 * AT_URING_NAME + r->base_len;
}

static void test_open_relative(void **state)
{
	Aitrail__V1__UringOp u = AITRAIL__V1__URING_OP__INIT;
	size_t len;

	memset(&rec, 0, sizeof(rec));
	rec.opcode = 18;
	rec.fd = AT_FDCWD;
	rec.open_flags = O_WRONLY | O_CREAT | O_TRUNC;
	rec.mode = 0600;
	rec.result = 7;
	rec.uflags = AT_URING_F_COMPLETED;
	len = set_names(&rec, "../b/./x.txt", NULL, "/home/u/a");
	assert_int_equal(uring_op_fill(&rec, len, &u, &ar), 0);
	assert_string_equal(u.op, "openat");
	assert_string_equal(u.path, "/home/u/b/x.txt");
	assert_int_equal(u.n_flags, 3);
	assert_string_equal(u.flags[0], "O_WRONLY");
	assert_int_equal(u.new_fd, 7);
	assert_int_equal(u.result, 0);
	assert_true(u.completed);
}

static void test_failed_rename_other_dirfd(void **state)
{
	Aitrail__V1__UringOp u = AITRAIL__V1__URING_OP__INIT;
	size_t len;

	memset(&rec, 0, sizeof(rec));
	rec.opcode = 35;
	rec.fd = 3;
	rec.fd2 = 4;
	rec.result = -ENOENT;
	rec.uflags = AT_URING_F_COMPLETED;
	len = set_names(&rec, "old", "new", "/srv");
	assert_int_equal(uring_op_fill(&rec, len, &u, &ar), 0);
	assert_string_equal(u.path, "/srv/old");
	/* new resolves from another dirfd, whose directory was not walked: kept as passed */
	assert_string_equal(u.new_path, "new");
	assert_int_equal(u.result, -ENOENT);
}

static void test_connect(void **state)
{
	Aitrail__V1__UringOp u = AITRAIL__V1__URING_OP__INIT;

	memset(&rec, 0, sizeof(rec));
	rec.opcode = 16;
	rec.family = AF_INET6;
	rec.port = 443;
	inet_pton(AF_INET6, "2001:db8::1", rec.addr);
	assert_int_equal(uring_op_fill(&rec, set_names(&rec, NULL, NULL, NULL), &u, &ar), 0);
	assert_string_equal(u.daddr, "2001:db8::1");
	assert_string_equal(u.family, "inet6");
	assert_int_equal(u.dport, 443);
	assert_false(u.completed);
}

static void test_bad(void **state)
{
	Aitrail__V1__UringOp u = AITRAIL__V1__URING_OP__INIT;
	size_t len;

	memset(&rec, 0, sizeof(rec));
	rec.opcode = 22; /* IORING_OP_READ: never sent */
	assert_int_equal(uring_op_fill(&rec, set_names(&rec, "x", NULL, NULL), &u, &ar), -EINVAL);
	rec.opcode = 18;
	len = set_names(&rec, "x", NULL, NULL);
	rec.data[1] = 'y'; /* no NUL where the length says */
	assert_int_equal(uring_op_fill(&rec, len, &u, &ar), -EINVAL);
	len = set_names(&rec, "x", NULL, "/a");
	assert_int_equal(uring_op_fill(&rec, len - 1, &u, &ar), -EINVAL); /* cut short */
	rec.base_len = AT_URING_BASE + 1;
	assert_int_equal(uring_op_fill(&rec, sizeof(rec), &u, &ar), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_relative),
		cmocka_unit_test(test_failed_rename_other_dirfd),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_bad),
	};
	int ret;

	arena_init(&ar, 1 << 16);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	arena_free(&ar);
	return ret;
}
