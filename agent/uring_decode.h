/* SPDX-License-Identifier: Apache-2.0 */
/* io_uring and io_uring_setup events from bpf/uring.h records. */
#ifndef AITRAIL_URING_DECODE_H
#define AITRAIL_URING_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/agent.h"
#include "bpf/uring.h"

/* Fills u (strings from ar) from a raw AT_REC_URING_OP record; -EINVAL for a malformed one. */
int uring_op_fill(const struct at_uring_op *r, size_t len, Aitrail__V1__UringOp *u,
		  struct arena *ar);

/* Ring-buffer handlers for AT_REC_URING_OP and AT_REC_URING_SETUP (agent/dispatch.c). */
int uring_decode_op(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		    at_event *ev, struct arena *ar);
int uring_decode_setup(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar);

struct bpf_object;
/* Before load: turns the io_uring programs off on a kernel built without io_uring. */
void uring_autoload(struct bpf_object *obj);

/* Adds the timer that reports requests held past their time without a completion. */
int uring_start(struct agent *a);
/* Reports held requests: those past their time, or all of them (all: the agent's shutdown). */
void uring_sweep(struct agent *a, bool all);

#endif
