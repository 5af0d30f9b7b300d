// SPDX-License-Identifier: Apache-2.0
/*
 * The module table (agent/module.h) against the one BPF object: every program has exactly one
 * module, every record type one row, every row and part is usable. A feature added without
 * its row (or with a row naming a program that does not exist) fails here, not on a host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/dispatch.h"
#include "agent/module.h"
#include "bpf/aitrail.skel.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* Opened, not loaded: reading the object needs no privileges. */
static struct aitrail *open_skel(void)
{
	struct aitrail *skel;

	libbpf_set_print(quiet);
	skel = aitrail__open();
	assert_non_null(skel);
	return skel;
}

static void test_every_program_has_one_module(void **state)
{
	struct aitrail *skel = open_skel();
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, skel->obj) {
		const char *name = bpf_program__name(prog);
		const char *const *p;
		int owners = 0;
		size_t i;

		for (i = 0; i < agent_n_modules; i++)
			for (p = agent_modules[i]->progs; p && *p; p++)
				owners += !strncmp(name, *p, strlen(*p));
		if (owners != 1)
			fail_msg("program %s belongs to %d modules (want 1): give its module's "
				 "row a prefix for it", name, owners);
		assert_non_null(module_of_prog(name));
		n++;
	}
	assert_true(n > 0);
	aitrail__destroy(skel);
}

/* Each module owns programs; parts name programs that exist. */
static void test_rows_name_real_programs(void **state)
{
	struct aitrail *skel = open_skel();
	size_t i, j, cores = 0;

	for (i = 0; i < agent_n_modules; i++) {
		const struct agent_module *m = agent_modules[i];
		const struct agent_part *p;
		struct bpf_program *prog;
		int owned = 0;

		assert_non_null(m->name);
		for (j = 0; j < i; j++)
			if (!strcmp(agent_modules[j]->name, m->name))
				fail_msg("module %s has two rows", m->name);
		bpf_object__for_each_program(prog, skel->obj)
			owned += module_of_prog(bpf_program__name(prog)) == m;
		if (!owned)
			fail_msg("module %s owns no program of the BPF object", m->name);
		for (p = m->parts; p && p->what; p++) {
			if (!bpf_object__find_program_by_name(skel->obj, p->prog))
				fail_msg("module %s: part '%s' names program %s, which does not "
					 "exist", m->name, p->what, p->prog);
			assert_non_null(p->on);
			assert_non_null(p->off);
		}
		cores += m->core;
	}
	/* the session programs: without them nothing is tracked */
	assert_int_equal(cores, 1);
	assert_true(module_of_prog("at_sched_exec")->core);
	aitrail__destroy(skel);
}

static void test_every_record_type_has_one_row(void **state)
{
	unsigned char seen[128] = {};
	size_t i, rows = 0;

	for (i = 0; i < agent_n_modules; i++) {
		const struct agent_rec *r;

		for (r = agent_modules[i]->recs; r && r->type; r++) {
			if (r->type >= sizeof(seen))
				fail_msg("module %s: record type %u is out of the dispatcher's range",
					 agent_modules[i]->name, r->type);
			if (seen[r->type]++)
				fail_msg("record type %u has two rows", r->type);
			assert_non_null(r->decode);
			assert_true(r->min_size >= sizeof(struct at_hdr));
			assert_ptr_equal(dispatch_find(r->type), r);
			rows++;
		}
	}
	assert_true(rows > 0);
	assert_null(dispatch_find(0));
	assert_null(dispatch_find(AT_REC_SELF_PROTECT)); /* no module decodes it */
	assert_null(dispatch_find(1000));
}

/*
 * A record emitted through a row it does not belong to (a sweep handing the wrong row) is a
 * decode error, not an event.
 */
static void test_record_through_wrong_row(void **state)
{
	static struct agent_config cfg;
	struct agent a = { .cfg = &cfg };
	struct at_hdr h = { .type = AT_REC_FORK, .size = sizeof(h) };

	arena_init(&a.arena, 0);
	agent_emit_record(&a, dispatch_find(AT_REC_EXIT), &h, sizeof(h));
	assert_int_equal(a.records_read, 1);
	assert_int_equal(a.decode_errors, 1);
	assert_int_equal(a.events_emitted, 0);
	agent_emit_record(&a, NULL, &h, sizeof(h));
	assert_int_equal(a.decode_errors, 2);
	arena_free(&a.arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_program_has_one_module),
		cmocka_unit_test(test_rows_name_real_programs),
		cmocka_unit_test(test_every_record_type_has_one_row),
		cmocka_unit_test(test_record_through_wrong_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
