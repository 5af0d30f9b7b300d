// SPDX-License-Identifier: Apache-2.0
/* agent_stats: what the agent did and every place an event could have been lost. */
#include <string.h>

#include "agent/core.h"
#include "common/log.h"
#include "common/util.h"

void stats_fill(struct agent *a, Aitrail__V1__AgentStats *st, Aitrail__V1__LossCounters *lost)
{
	uint64_t c[AT_CNT_MAX];
	int err;

	memset(c, 0, sizeof(c));
	err = loader_read_counters(a, c);
	if (err)
		log_warn("failed to read the kernel loss counters: %s", strerror(-err));
	lost->rb_core_full = c[AT_CNT_RB_CORE_FULL];
	lost->rb_file_full = c[AT_CNT_RB_FILE_FULL];
	lost->read_user_fail = c[AT_CNT_READ_USER_FAIL];
	lost->path_trunc = c[AT_CNT_PATH_TRUNC];
	lost->argv_trunc = c[AT_CNT_ARGV_TRUNC];
	lost->tracked_full = c[AT_CNT_TRACKED_FULL];
	lost->env_scan_trunc = c[AT_CNT_ENV_SCAN_TRUNC];
	lost->read_kern_fail = c[AT_CNT_READ_KERN_FAIL];
	lost->pending_full = c[AT_CNT_PENDING_FULL];
	lost->netclose_full = c[AT_CNT_NETCLOSE_FULL];
	lost->rb_fileio_full = c[AT_CNT_RB_FILEIO_FULL];
	lost->dns_tcp_unparsed = c[AT_CNT_DNS_TCP_UNPARSED];
	lost->decode_errors = a->decode_errors;
	lost->spool_dropped = a->spool_dropped;
	lost->unclean_stops = a->unclean_stops;

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
