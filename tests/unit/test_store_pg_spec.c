// SPDX-License-Identifier: Apache-2.0
/* PostgreSQL store specs: which specs go to the backend, and passwords kept out of messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "collector/store.h"
#include "collector/store_pg.h"

static void test_scheme(void **state)
{
	assert_true(store_spec_is_pg("postgres://db/aitrail"));
	assert_true(store_spec_is_pg("postgresql:///aitrail?host=/run/pg"));
	assert_false(store_spec_is_pg("/var/lib/aitrail/collector.db"));
	assert_false(store_spec_is_pg("sqlite:/tmp/x.db"));
	assert_false(store_spec_is_pg("postgres:/x"));
	assert_false(store_spec_is_pg("./postgres://x"));
}

static void redacts(const char *spec, const char *want)
{
	char buf[256];

	store_spec_redact(spec, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_redact(void **state)
{
	redacts("postgres://aitrail:s3cret@db.example:5432/aitrail",
		"postgres://aitrail:***@db.example:5432/aitrail");
	redacts("postgresql://aitrail@db/aitrail", "postgresql://aitrail@db/aitrail");
	redacts("postgres:///aitrail?host=/run/pg&port=5433",
		"postgres:///aitrail?host=/run/pg&port=5433");
	redacts("postgres://db/aitrail?user=a&password=s3cret&sslmode=require",
		"postgres://db/aitrail?user=a&password=***&sslmode=require");
	redacts("postgres://u:p@w@db/x?password=z", "postgres://u:***@db/x?password=***");
	/* an @ after the host is not userinfo */
	redacts("postgres://db/x?application_name=a:b@c", "postgres://db/x?application_name=a:b@c");
}

static void test_redact_truncates(void **state)
{
	char buf[16];

	store_spec_redact("postgres://u:secretpassword@db/x", buf, sizeof(buf));
	assert_string_equal(buf, "postgres://u:**");
	assert_null(strstr(buf, "secret"));
}

static void test_open_fails_clearly(void **state)
{
	struct store *st = NULL;

	/* no server listens in a directory that does not exist */
	assert_int_equal(store_open("postgresql://u:pw@/aitrail?host=/nonexistent-aitrail-dir",
				    &st), -EIO);
	assert_null(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scheme),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_redact_truncates),
		cmocka_unit_test(test_open_fails_clearly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
