// SPDX-License-Identifier: Apache-2.0
/*
 * The loss counters are spelled once (bpf/counters.h, and agent/stats.h for the agent's own):
 * every one must land in the LossCounters field of its name, and every LossCounters field must
 * have a source, so a counter added on one side only fails here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/stats.h"
#include "bpf/counters.h"
#include "proto/event.pb-c.h"

static const ProtobufCMessageDescriptor *lost_desc = &aitrail__v1__loss_counters__descriptor;

static void test_every_counter_is_a_proto_field(void **state)
{
	size_t i;

	assert_true(stats_n_counters > 0);
	for (i = 0; i < stats_n_counters; i++) {
		const struct stats_counter *sc = &stats_counters[i];
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(lost_desc, sc->field);

		if (!f)
			fail_msg("counter %s has no LossCounters field of that name", sc->field);
		assert_int_equal(f->type, PROTOBUF_C_TYPE_UINT64);
		assert_int_equal(f->label, PROTOBUF_C_LABEL_NONE);
		assert_int_equal(f->offset, sc->lost_off);
	}
}

static void test_every_proto_field_has_one_counter(void **state)
{
	unsigned int i;
	size_t j;

	for (i = 0; i < lost_desc->n_fields; i++) {
		const char *name = lost_desc->fields[i].name;
		int n = 0;

		for (j = 0; j < stats_n_counters; j++)
			n += !strcmp(stats_counters[j].field, name);
		if (n != 1)
			fail_msg("LossCounters.%s is filled by %d counters (want 1)", name, n);
	}
	assert_int_equal(stats_n_counters, lost_desc->n_fields);
}

static void test_kernel_slots(void **state)
{
	unsigned char used[AT_CNT_MAX] = {};
	size_t i, kernel = 0;

	for (i = 0; i < stats_n_counters; i++) {
		int slot = stats_counters[i].slot;

		if (slot < 0)
			continue;
		kernel++;
		assert_true(slot < AT_CNT_MAX);
		if (used[slot]++)
			fail_msg("kernel slot %d is used twice", slot);
	}
#define COUNT(name, slot, field) +1
	assert_int_equal(kernel, 0 AT_COUNTERS(COUNT));
#undef COUNT
	/* slots are numbered once: the ones a kernel and a reader already agree on stay put */
	assert_int_equal(AT_CNT_RB_CORE_FULL, 0);
	assert_int_equal(AT_CNT_DNS_TCP_UNPARSED, 11);
}

/* The agent's own counters reach the event under their names; without a kernel, zeros. */
static void test_fill(void **state)
{
	Aitrail__V1__AgentStats st = AITRAIL__V1__AGENT_STATS__INIT;
	Aitrail__V1__LossCounters lost = AITRAIL__V1__LOSS_COUNTERS__INIT;
	static struct agent_config cfg;
	struct agent a = { .cfg = &cfg };

	a.decode_errors = 3;
	a.spool_dropped = 4;
	a.unclean_stops = 5;
	a.events_emitted = 9;
	lost.rb_core_full = 77;
	stats_fill(&a, &st, &lost);
	assert_ptr_equal(st.lost, &lost);
	assert_int_equal(lost.decode_errors, 3);
	assert_int_equal(lost.spool_dropped, 4);
	assert_int_equal(lost.unclean_stops, 5);
	assert_int_equal(lost.rb_core_full, 0);
	assert_int_equal(st.events_emitted, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_counter_is_a_proto_field),
		cmocka_unit_test(test_every_proto_field_has_one_counter),
		cmocka_unit_test(test_kernel_slots),
		cmocka_unit_test(test_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
