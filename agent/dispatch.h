/* SPDX-License-Identifier: Apache-2.0 */
/* Ring-buffer record -> the module row that decodes its type (agent/dispatch.c). */
#ifndef AITRAIL_DISPATCH_H
#define AITRAIL_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct agent_rec;

/* The row of the module that decodes record type `type`, or NULL. */
const struct agent_rec *dispatch_find(uint32_t type);
/* Decodes and emits one record read from a ring buffer; returns 0 (a bad record is counted). */
int dispatch_record(struct agent *a, const void *data, size_t size);

#endif
