// SPDX-License-Identifier: Apache-2.0
/* common/util.c: growing arrays, the monotonic clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/util.h"

static void test_grow_array(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0, i;

	assert_int_equal(grow_array(&v, &cap, 1, sizeof(*v)), 0);
	assert_non_null(v);
	assert_true(cap >= 1);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(grow_array(&v, &cap, i + 1, sizeof(*v)), 0);
		v[i] = i * 3;
	}
	assert_true(cap >= 1000 && cap < 4000); /* doubling, not one element at a time */
	for (i = 0; i < 1000; i++)
		assert_true(v[i] == i * 3); /* kept across moves */
	/* an impossible size fails and leaves the array as it was */
	assert_int_equal(grow_array(&v, &cap, SIZE_MAX / 4, sizeof(*v)), -ENOMEM);
	assert_true(v[999] == 2997);
	free(v);
}

static void test_mono_clock(void **state)
{
	struct timespec ts = { 0, 2000000 };
	uint64_t a = now_mono_ns(), b;

	nanosleep(&ts, NULL);
	b = now_mono_ns();
	assert_true(b >= a + 2000000); /* it runs, and counts in ns */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_array),
		cmocka_unit_test(test_mono_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
