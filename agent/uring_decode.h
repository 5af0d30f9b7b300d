/* SPDX-License-Identifier: Apache-2.0 */
/* io_uring and io_uring_setup events from bpf/uring.h records (agent/uring_decode.c). */
#ifndef AITRAIL_URING_DECODE_H
#define AITRAIL_URING_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/arena.h"
#include "proto/event.pb-c.h"
#include "bpf/uring.h"

/* Fills u (strings from ar) from a raw AT_REC_URING_OP record; -EINVAL for a malformed one. */
int uring_op_fill(const struct at_uring_op *r, size_t len, Aitrail__V1__UringOp *u,
		  struct arena *ar);

#endif
