// SPDX-License-Identifier: Apache-2.0
/* The agent config's policy section (agent/config.c): values and FILE:LINE errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config.h"
#include "common/log.h"

static int load(const char *text, struct agent_config *c)
{
	char path[] = "/tmp/aitrail-test-polcfg-XXXXXX";
	int fd = mkstemp(path), ret;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_defaults(c);
	ret = config_load(c, path);
	unlink(path);
	return ret;
}

static void test_policy_section(void **state)
{
	struct agent_config *c = malloc(sizeof(*c));

	assert_int_equal(load("policy:\n"
			      "  file: /etc/aitrail/policy.yaml\n"
			      "  cgroup: /sys/fs/cgroup\n"
			      "  self_protect: false\n"
			      "  fetch_interval_s: 60\n", c), 0);
	assert_string_equal(c->policy_file, "/etc/aitrail/policy.yaml");
	assert_string_equal(c->policy_cgroup, "/sys/fs/cgroup");
	assert_int_equal(c->policy_self_protect, 0);
	assert_int_equal(c->policy_fetch_s, 60);
	config_defaults(c);
	assert_string_equal(c->policy_file, "");
	assert_int_equal(c->policy_self_protect, 1);
	assert_int_equal(c->policy_fetch_s, 0);
	assert_int_equal(load("policy:\n  file: policy.yaml\n", c), -EINVAL);
	assert_int_equal(load("policy:\n  self_protect: maybe\n", c), -EINVAL);
	assert_int_equal(load("policy:\n  fetch_interval_s: -1\n", c), -EINVAL);
	assert_int_equal(load("policy:\n  enforce: yes\n", c), -EINVAL);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_section),
	};

	log_init("test_policy_config", (enum log_level)(LOG_LVL_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
