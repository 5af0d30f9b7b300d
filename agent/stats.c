// SPDX-License-Identifier: Apache-2.0
/* agent_stats: what the agent did and every place an event could have been lost. */
#include <stddef.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/loader.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "agent/stats.h"
#include "common/log.h"
#include "common/util.h"

#define KERNEL_COUNTER(name, slot, field) \
	{ #field, offsetof(Aitrail__V1__LossCounters, field), AT_CNT_##name, 0 },
#define AGENT_COUNTER(field) \
	{ #field, offsetof(Aitrail__V1__LossCounters, field), -1, offsetof(struct agent, field) },

const struct stats_counter stats_counters[] = {
	AT_COUNTERS(KERNEL_COUNTER)
	AGENT_LOSS_COUNTERS(AGENT_COUNTER)
};
const size_t stats_n_counters = ARRAY_SIZE(stats_counters);

#define AGENT_COUNTER_IS_U64(field) \
	_Static_assert(sizeof(((struct agent *)0)->field) == sizeof(uint64_t), #field " is a count");
AGENT_LOSS_COUNTERS(AGENT_COUNTER_IS_U64)

void stats_fill(struct agent *a, Aitrail__V1__AgentStats *st, Aitrail__V1__LossCounters *lost)
{
	uint64_t c[AT_CNT_MAX];
	size_t i;
	int err;

	memset(c, 0, sizeof(c));
	err = loader_read_counters(a, c);
	if (err)
		log_warn("failed to read the kernel loss counters: %s", strerror(-err));
	for (i = 0; i < stats_n_counters; i++) {
		const struct stats_counter *sc = &stats_counters[i];
		uint64_t v;

		if (sc->slot >= 0)
			v = c[sc->slot];
		else
			memcpy(&v, (const char *)a + sc->agent_off, sizeof(v));
		memcpy((char *)lost + sc->lost_off, &v, sizeof(v));
	}

	st->events_emitted = a->events_emitted;
	st->records_read = a->records_read;
	st->sessions_active = sessions_active(a);
	st->processes_tracked = proctable_count(a);
	st->lost = lost;
}

int stats_emit(struct agent *a, bool final)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__AgentStats st = AITRAIL__V1__AGENT_STATS__INIT;
	Aitrail__V1__LossCounters lost = AITRAIL__V1__LOSS_COUNTERS__INIT;

	stats_fill(a, &st, &lost);
	st.final = final;

	ev.type = "agent_stats";
	ev.ts = now_realtime_ns();
	ev.host = a->hostname;
	ev.body_case = AITRAIL__V1__EVENT__BODY_AGENT_STATS;
	ev.agent_stats = &st;
	if (final || lost.rb_core_full || lost.rb_file_full || lost.rb_fileio_full ||
	    lost.decode_errors)
		log_info("stats: %llu events, %llu records, %llu sessions active, lost: core ring %llu, "
			 "file ring %llu (+%llu write/read tracking), decode %llu, "
			 "tracked-map full %llu",
			 (unsigned long long)st.events_emitted, (unsigned long long)st.records_read,
			 (unsigned long long)st.sessions_active,
			 (unsigned long long)lost.rb_core_full, (unsigned long long)lost.rb_file_full,
			 (unsigned long long)lost.rb_fileio_full, (unsigned long long)lost.decode_errors,
			 (unsigned long long)lost.tracked_full);
	return agent_emit(a, &ev);
}
