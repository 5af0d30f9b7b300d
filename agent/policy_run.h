/* SPDX-License-Identifier: Apache-2.0 */
/* Policy enforcement in aitrail-agent (agent/policy_run.c): the calls main and the loop make. */
#ifndef AITRAIL_POLICY_RUN_H
#define AITRAIL_POLICY_RUN_H

#include "agent/agent.h"

/* After loader_start: loads policy.file, attaches the cgroup hooks, adds its fds and timer. */
int policy_start(struct agent *a);
/* SIGHUP: reload the policy file (a refused file keeps the policy in force). */
void policy_on_sighup(struct agent *a);
/* Emits the decisions still queued and detaches. */
void policy_stop(struct agent *a);
/* dispatch.c row for AT_REC_POLICY_DECISION */
int policy_decode_record(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			 at_event *ev, struct arena *ar);

#endif
