/* SPDX-License-Identifier: Apache-2.0 */
/* Handlers of the process records (bpf/session.h), registered in agent/dispatch.c. */
#ifndef AITRAIL_SESSION_DECODE_H
#define AITRAIL_SESSION_DECODE_H

#include "agent/agent.h"

int process_on_exec(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		    at_event *ev, struct arena *ar);
int process_on_session_start(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			     at_event *ev, struct arena *ar);
int process_on_fork(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		    at_event *ev, struct arena *ar);
int process_on_exit(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		    at_event *ev, struct arena *ar);

#endif
