// SPDX-License-Identifier: Apache-2.0
/* agent/session_decode.c on canned records: exec decoding, truncation, exit status, sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "agent/config.h"
#include "agent/agent.h"
#include "agent/dispatch.h"
#include "agent/module.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "bpf/session.h"

/* The modules' handlers, reached through their rows as agent/dispatch.c reaches them. */
#define process_on_exec(...) dispatch_find(AT_REC_EXEC)->decode(__VA_ARGS__)
#define process_on_exit(...) dispatch_find(AT_REC_EXIT)->decode(__VA_ARGS__)

static struct agent_config cfg;
static struct agent ag;

static int setup(void **state)
{
	memset(&ag, 0, sizeof(ag));
	config_defaults(&cfg);
	ag.cfg = &cfg;
	arena_init(&ag.arena, 0);
	return 0;
}

static int teardown(void **state)
{
	sessions_free(&ag);
	proctable_free(&ag);
	arena_free(&ag.arena);
	return 0;
}

static void fill_hdr(struct at_hdr *h, uint32_t type, uint32_t size, uint32_t pid)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->size = size;
	h->pid = pid;
	h->tid = pid;
	h->ppid = 1;
	h->root_pid = 100;
	h->root_start = 5000000000ULL;
	h->tool = 1;
	h->ts = 6000000000ULL;
	memcpy(h->comm, "sh", 3);
}

static void test_exec(void **state)
{
	static struct at_exec_rec r;
	at_event ev = AITRAIL__V1__EVENT__INIT;
	static const char argv[] = "sh\0-c\0echo hi > f";

	memset(&r, 0, sizeof(r));
	fill_hdr(&r.hdr, AT_REC_EXEC, sizeof(r), 101);
	strcpy(r.filename, "/bin/sh");
	r.filename_len = 7;
	/* the last argument was cut: no NUL at the end */
	memcpy(r.argv, argv, sizeof(argv) - 1);
	r.argv_len = sizeof(argv) - 1 - 3;
	r.trunc = AT_EXEC_TRUNC_ARGV;
	strcpy(r.cwd, "/home/u");
	r.cwd_len = 7;
	r.nested_tool = 2;
	agent_fill_event(&ag, &ev, &r.hdr, &ag.arena);
	assert_int_equal(process_on_exec(&ag, &r.hdr, &r, sizeof(r), &ev, &ag.arena), 0);
	assert_string_equal(ev.type, "exec");
	assert_string_equal(ev.exec->exe, "/bin/sh");
	assert_int_equal(ev.exec->n_argv, 3);
	assert_string_equal(ev.exec->argv[0], "sh");
	assert_string_equal(ev.exec->argv[2], "echo hi ");
	assert_string_equal(ev.exec->cwd, "/home/u");
	assert_string_equal(ev.exec->nested_tool, cfg.tools[1].name);
	assert_int_equal(ev.n_truncated, 1);
	assert_string_equal(ev.truncated[0], "argv");
	assert_string_equal(ev.session->tool, cfg.tools[0].name);
	assert_int_equal(ev.session->root_pid, 100);
	assert_int_equal(strlen(ev.session->id), 32);
	/* the process table now knows the new image */
	assert_string_equal(proctable_get(&ag, 101)->exe, "/bin/sh");
	arena_reset(&ag.arena);
}

static void test_exec_bad_lengths(void **state)
{
	static struct at_exec_rec r;
	at_event ev = AITRAIL__V1__EVENT__INIT;

	memset(&r, 0, sizeof(r));
	fill_hdr(&r.hdr, AT_REC_EXEC, sizeof(r), 102);
	r.argv_len = AT_ARGV_MAX + 1;
	assert_int_equal(process_on_exec(&ag, &r.hdr, &r, sizeof(r), &ev, &ag.arena), -EINVAL);
	/* dispatch counts it as a decode error and emits nothing */
	ag.decode_errors = 0;
	assert_int_equal(dispatch_record(&ag, &r, sizeof(r)), 0);
	assert_int_equal(ag.decode_errors, 1);
	assert_int_equal(ag.events_emitted, 0);
	/* shorter than its type's size */
	assert_int_equal(dispatch_record(&ag, &r, 40), 0);
	assert_int_equal(ag.decode_errors, 2);
}

static void test_exit_status_and_session_end(void **state)
{
	struct at_exit_rec r;
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct session *s;

	memset(&r, 0, sizeof(r));
	fill_hdr(&r.hdr, AT_REC_EXIT, sizeof(r), 100);
	r.status = SIGKILL;
	agent_fill_event(&ag, &ev, &r.hdr, &ag.arena);
	assert_int_equal(process_on_exit(&ag, &r.hdr, &r, sizeof(r), &ev, &ag.arena), 0);
	assert_int_equal(ev.exit->exit_code, 128 + SIGKILL);
	assert_string_equal(ev.exit->signal, "SIGKILL");
	s = session_find(&ag, 100, 5000000000ULL);
	assert_non_null(s);
	assert_true(s->end_pending);
	assert_string_equal(s->signal, "SIGKILL");
	arena_reset(&ag.arena);

	memset(&ev, 0, sizeof(ev));
	aitrail__v1__event__init(&ev);
	fill_hdr(&r.hdr, AT_REC_EXIT, sizeof(r), 103);
	r.status = 3 << 8;
	assert_int_equal(process_on_exit(&ag, &r.hdr, &r, sizeof(r), &ev, &ag.arena), 0);
	assert_int_equal(ev.exit->exit_code, 3);
	assert_true(ev.exit->signal == NULL || ev.exit->signal[0] == '\0');
	arena_reset(&ag.arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_bad_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status_and_session_end, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
