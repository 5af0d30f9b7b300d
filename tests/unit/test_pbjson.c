// SPDX-License-Identifier: Apache-2.0
/* common/pbjson.c: escaping, oneof flattening, ts, result, omitted empties. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "proto/event.pb-c.h"
#include "common/pbjson.h"

static char *render(const ProtobufCMessage *m, struct pbjson_buf *b)
{
	pbjson_buf_reset(b);
	assert_int_equal(pbjson_append(b, m), 0);
	return b->data;
}

static void test_escaping(void **state)
{
	struct pbjson_buf b = {};
	static const char raw[] = "a\"b\\c\nd\te\x01" "f\x7f" "\xc3\xa9" "\xff" "g";

	pbjson_append_string(&b, raw, sizeof(raw) - 1);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007f\xc3\xa9\\u00ffg\"");
	pbjson_buf_reset(&b);
	/* a cut multi-byte sequence and a surrogate are not UTF-8: bytes kept as \u00XX */
	pbjson_append_string(&b, "\xe2\x82", 2);
	assert_string_equal(b.data, "\"\\u00e2\\u0082\"");
	pbjson_buf_reset(&b);
	pbjson_append_string(&b, "\xed\xa0\x80", 3);
	assert_string_equal(b.data, "\"\\u00ed\\u00a0\\u0080\"");
	pbjson_buf_free(&b);
}

static void test_exec_flattened(void **state)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__Session s = AITRAIL__V1__SESSION__INIT;
	Aitrail__V1__Proc p = AITRAIL__V1__PROC__INIT;
	Aitrail__V1__Exec ex = AITRAIL__V1__EXEC__INIT;
	char *argv[] = { "sh", "-c", "echo \"hi\"" };
	struct pbjson_buf b = {};

	ev.type = "exec";
	ev.ts = 1795852987123456789ULL;
	ev.host = "h1";
	s.id = "abc";
	s.tool = "claude";
	s.root_pid = 10;
	ev.session = &s;
	p.pid = 11;
	p.ppid = 10;
	p.comm = "sh";
	ev.proc = &p;
	ev.seq = 7;
	ex.exe = "/bin/sh";
	ex.argv = argv;
	ex.n_argv = 3;
	ex.cwd = "/tmp";
	ev.body_case = AITRAIL__V1__EVENT__BODY_EXEC;
	ev.exec = &ex;
	assert_string_equal(render(&ev.base, &b),
		"{\"type\":\"exec\",\"ts\":\"2026-11-28T08:03:07.123456789Z\",\"host\":\"h1\","
		"\"session\":{\"id\":\"abc\",\"tool\":\"claude\",\"root_pid\":10},"
		"\"proc\":{\"pid\":11,\"ppid\":10,\"uid\":0,\"comm\":\"sh\"},\"seq\":7,"
		"\"exe\":\"/bin/sh\",\"argv\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\"],\"cwd\":\"/tmp\"}");
	pbjson_buf_free(&b);
}

static void test_result_and_truncated(void **state)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__NetConnect nc = AITRAIL__V1__NET_CONNECT__INIT;
	char *trunc[] = { "argv" };
	struct pbjson_buf b = {};
	char *out;

	ev.type = "net_connect";
	ev.body_case = AITRAIL__V1__EVENT__BODY_NET_CONNECT;
	ev.net_connect = &nc;
	nc.result = -ECONNREFUSED;
	out = render(&ev.base, &b);
	assert_non_null(strstr(out, "\"result\":\"ECONNREFUSED\""));
	assert_null(strstr(out, "truncated"));
	nc.result = 0;
	ev.truncated = trunc;
	ev.n_truncated = 1;
	out = render(&ev.base, &b);
	assert_non_null(strstr(out, "\"result\":0"));
	assert_non_null(strstr(out, "\"truncated\":[\"argv\"]"));
	/* ts 0 still renders as a time; unset messages are left out */
	assert_non_null(strstr(out, "\"ts\":\"1970-01-01T00:00:00.000000000Z\""));
	assert_null(strstr(out, "session"));
	pbjson_buf_free(&b);
}

static void test_nested_stats(void **state)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__AgentStats st = AITRAIL__V1__AGENT_STATS__INIT;
	Aitrail__V1__LossCounters lost = AITRAIL__V1__LOSS_COUNTERS__INIT;
	struct pbjson_buf b = {};
	char *out;

	ev.type = "agent_stats";
	ev.body_case = AITRAIL__V1__EVENT__BODY_AGENT_STATS;
	ev.agent_stats = &st;
	st.lost = &lost;
	st.final = 1;
	lost.rb_file_full = 18446744073709551615ULL;
	out = render(&ev.base, &b);
	assert_non_null(strstr(out, "\"lost\":{\"rb_core_full\":0,\"rb_file_full\":18446744073709551615,"));
	assert_non_null(strstr(out, "\"final\":true"));
	pbjson_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_exec_flattened),
		cmocka_unit_test(test_result_and_truncated),
		cmocka_unit_test(test_nested_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
