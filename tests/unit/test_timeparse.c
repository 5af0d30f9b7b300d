// SPDX-License-Identifier: Apache-2.0
/* common/timeparse.c: RFC 3339, short UTC forms, clock times, ages, Unix ns, and bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/timeparse.h"

#define S 1000000000ULL
/* 2026-11-28T14:03:07.5Z */
#define NOW (1795874587ULL * S + 500000000ULL)

static uint64_t parse(const char *s)
{
	uint64_t v = 0;

	assert_int_equal(parse_time_arg(s, NOW, &v), 0);
	return v;
}

static void bad(const char *s)
{
	uint64_t v;

	if (parse_time_arg(s, NOW, &v) != -EINVAL)
		fail_msg("'%s' was accepted", s);
}

static void test_rfc3339(void **state)
{
	uint64_t v;

	assert_int_equal(parse("2026-11-28T14:03:07Z"), 1795874587ULL * S);
	assert_int_equal(parse("2026-11-28T14:03:07.123456789Z"), 1795874587ULL * S + 123456789);
	assert_int_equal(parse("2026-11-28T16:03:07+02:00"), 1795874587ULL * S);
	assert_int_equal(parse("2026-11-28T13:33:07.5-00:30"), 1795874587ULL * S + 500000000);
	assert_int_equal(parse_rfc3339("2026-11-28T14:03:07Z", &v), 0);
	assert_int_equal(parse_rfc3339("2026-11-28 14:03", &v), -EINVAL); /* strict */
}

static void test_short_forms(void **state)
{
	assert_int_equal(parse("2026-11-28"), 1795824000ULL * S);
	assert_int_equal(parse("2026-11-28 14:03"), 1795874580ULL * S);
	assert_int_equal(parse("2026-11-28T14:03:07"), 1795874587ULL * S);
	assert_int_equal(parse("14:03"), 1795874580ULL * S);
	/* a clock time still ahead today means yesterday's */
	assert_int_equal(parse("15:00"), (1795824000ULL - 86400 + 15 * 3600) * S);
}

static void test_ages_and_ns(void **state)
{
	assert_int_equal(parse("90s"), NOW - 90 * S);
	assert_int_equal(parse("15m"), NOW - 900 * S);
	assert_int_equal(parse("2h"), NOW - 7200 * S);
	assert_int_equal(parse("7d"), NOW - 7 * 86400 * S);
	assert_int_equal(parse("1w"), NOW - 7 * 86400 * S);
	assert_int_equal(parse("1795874587000000000"), 1795874587ULL * S);
}

static void test_bad(void **state)
{
	bad("");
	bad("yesterday");
	bad("2h30m");
	bad("-2h");
	bad("2y");
	bad("99999999999d");
	bad("2026-13-01");
	bad("2026-11-28T25:00:00Z");
	bad("2026-11-28T14:03:07+2");
	bad("2026-11-28T14:03:07Zjunk");
	bad("1969-12-31T23:59:59Z");
	bad("24:00");
	bad("14:3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_short_forms),
		cmocka_unit_test(test_ages_and_ns),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
