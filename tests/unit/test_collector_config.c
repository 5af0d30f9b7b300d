// SPDX-License-Identifier: Apache-2.0
/* collector/coll_config.c: YAML keys, flags through the same table, errors naming the place. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/coll_config.h"
#include "common/log.h"

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int setup(void **state)
{
	log_init("test", LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/aitrail-ccfg-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void test_good_file(void **state)
{
	struct collector_opts o;
	char text[512];

	write_file("enroll.token", "s3cret-enroll\n");
	snprintf(text, sizeof(text),
		 "# comment\nlisten: \":9443\"\ndb: /tmp/x.db\nheartbeat_s: 10\nsilent_after: 5\n"
		 "enroll_token_file: %s/enroll.token\nadmin_token: adm\nmax_batch_events: 50\n",
		 dir);
	collector_opts_defaults(&o);
	assert_int_equal(collector_config_load(&o, write_file("c.yaml", text)), 0);
	assert_string_equal(o.listen, ":9443");
	assert_string_equal(o.db, "/tmp/x.db");
	assert_int_equal(o.heartbeat_s, 10);
	assert_int_equal(o.silent_after, 5);
	assert_string_equal(o.enroll_token, "s3cret-enroll");
	assert_string_equal(o.admin_token, "adm");
	assert_int_equal(o.max_batch_events, 50);
	assert_int_equal(o.max_body_bytes, 8 << 20); /* untouched default */
	assert_int_equal(collector_config_check(&o), 0);
}

static void test_bad_files(void **state)
{
	struct collector_opts o;

	collector_opts_defaults(&o);
	assert_int_equal(collector_config_load(&o, write_file("a.yaml", "listen: x\nbogus: 1\n")),
			 -EINVAL);
	assert_int_equal(collector_config_load(&o, write_file("b.yaml", "heartbeat_s: 0\n")),
			 -EINVAL);
	assert_int_equal(collector_config_load(&o, write_file("c.yaml", "db: [a, b]\n")), -EINVAL);
	assert_int_equal(collector_config_load(&o, write_file("d.yaml", "db: {a: 1}\n")), -EINVAL);
	assert_int_equal(collector_config_load(&o, write_file("e.yaml", "db: \"unterminated\n")),
			 -EINVAL);
	assert_int_equal(collector_config_load(&o, write_file("f.yaml",
							      "admin_token_file: /nonexistent\n")),
			 -EINVAL);
	assert_int_equal(collector_config_load(&o, write_file("g.yaml", "admin_token_file: "
							      "/dev/null\n")), -EINVAL);
	assert_true(collector_config_load(&o, "/nonexistent/c.yaml") < 0);
}

static void test_flags_and_check(void **state)
{
	struct collector_opts o;

	collector_opts_defaults(&o);
	assert_int_equal(collector_config_set(&o, "max_body_bytes", "4096", "--max-body-bytes"), 0);
	assert_int_equal(o.max_body_bytes, 4096);
	assert_int_equal(collector_config_set(&o, "nope", "1", "--nope"), -ENOENT);
	assert_int_equal(collector_config_set(&o, "silent_after", "-1", "--silent-after"), -EINVAL);
	/* an inflate cap below the body cap makes no sense */
	assert_int_equal(collector_config_set(&o, "max_inflated_bytes", "2048", "x"), 0);
	assert_int_equal(collector_config_check(&o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_flags_and_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
