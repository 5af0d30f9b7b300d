// SPDX-License-Identifier: Apache-2.0
/* Destination classes: built-in table, most specific pattern wins, vendor files and their errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "common/log.h"
#include "agent/vendor.h"

static void expect_class(const char *host, const char *cls, const char *vendor)
{
	struct vendor_match m;

	vendor_classify(host, &m);
	if (strcmp(m.dst_class, cls) || strcmp(m.vendor, vendor))
		fail_msg("%s: got %s/%s, want %s/%s", host, m.dst_class, m.vendor, cls, vendor);
}

static void test_builtin(void **state)
{
	expect_class("api.anthropic.com", "model_vendor", "anthropic");
	expect_class("API.Anthropic.COM.", "model_vendor", "anthropic");
	expect_class("console.anthropic.com", "model_vendor", "anthropic");
	/* exact beats the *.anthropic.com glob */
	expect_class("statsig.anthropic.com", "telemetry", "anthropic");
	expect_class("claude.ai", "model_vendor", "anthropic");
	expect_class("api.openai.com", "model_vendor", "openai");
	expect_class("chatgpt.com", "model_vendor", "openai");
	expect_class("generativelanguage.googleapis.com", "model_vendor", "google");
	expect_class("us-central1-aiplatform.googleapis.com", "model_vendor", "google");
	expect_class("storage.googleapis.com", "other", "");
	expect_class("api.individual.githubcopilot.com", "model_vendor", "github_copilot");
	expect_class("copilot-proxy.githubusercontent.com", "model_vendor", "github_copilot");
	expect_class("api.mistral.ai", "model_vendor", "mistral");
	expect_class("o123.ingest.sentry.io", "telemetry", "sentry");
	expect_class("http-intake.logs.datadoghq.com", "telemetry", "datadog");
	expect_class("registry.npmjs.org", "package_registry", "npm");
	expect_class("files.pythonhosted.org", "package_registry", "pypi");
	expect_class("proxy.golang.org", "package_registry", "go");
	expect_class("github.com", "git_host", "github");
	expect_class("codeload.github.com", "git_host", "github");
	expect_class("gitlab.com", "git_host", "gitlab");
	/* a glob needs its dot: the bare domain and look-alikes do not match */
	expect_class("anthropic.com", "other", "");
	expect_class("evilanthropic.com", "other", "");
	expect_class("api.anthropic.com.evil.net", "other", "");
	expect_class("example.com", "other", "");
	expect_class("", "other", "");
}

static void test_add(void **state)
{
	vendor_reset();
	assert_int_equal(vendor_add("*.corp-llm.example", "model_vendor", "inhouse"), 0);
	assert_int_equal(vendor_add("api.anthropic.com", "other", "proxy"), 0);
	expect_class("gw.corp-llm.example", "model_vendor", "inhouse");
	/* a file entry overrides the built-in one of the same pattern */
	expect_class("api.anthropic.com", "other", "proxy");
	expect_class("console.anthropic.com", "model_vendor", "anthropic");
	assert_int_equal(vendor_add("x.example", "nonsense", "v"), -EINVAL);
	assert_int_equal(vendor_add("bad host", "other", "v"), -EINVAL);
	assert_int_equal(vendor_add("", "other", "v"), -EINVAL);
	vendor_reset();
	expect_class("api.anthropic.com", "model_vendor", "anthropic");
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_vendor_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_file(void **state)
{
	char *ok = write_tmp("vendors:\n  - match: llm.internal\n    class: model_vendor\n"
			     "    vendor: internal\n  - match: \"*.npm.internal\"\n"
			     "    class: package_registry\n    vendor: npm-mirror\n");
	char *bad = write_tmp("vendors:\n  - match: good.example\n    class: git_host\n"
			      "  - match: x.example\n    class: modelvendor\n");
	char *badkey = write_tmp("vendors:\n  - match: a.example\n    clas: other\n");

	vendor_reset();
	assert_int_equal(vendor_load_file(ok), 0);
	expect_class("llm.internal", "model_vendor", "internal");
	expect_class("registry.npm.internal", "package_registry", "npm-mirror");
	/* all of a bad file or none of it */
	assert_int_equal(vendor_load_file(bad), -EINVAL);
	expect_class("good.example", "other", "");
	assert_int_equal(vendor_load_file(badkey), -EINVAL);
	assert_int_equal(vendor_load_file("/nonexistent/vendors.yaml"), -ENOENT);
	vendor_reset();
	unlink(ok);
	unlink(bad);
	unlink(badkey);
	free(ok);
	free(bad);
	free(badkey);
}

/* The shipped data file loads and agrees with the built-in table. */
static void test_shipped(void **state)
{
	vendor_reset();
	assert_int_equal(vendor_load_file("deploy/vendors.yaml"), 0);
	expect_class("api.anthropic.com", "model_vendor", "anthropic");
	expect_class("statsig.anthropic.com", "telemetry", "anthropic");
	expect_class("deb.debian.org", "package_registry", "debian");
	vendor_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_shipped),
	};

	log_min_level = LOG_LVL_ERROR + 1; /* the error paths are the point */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
