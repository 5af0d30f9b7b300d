/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parts of the agent this kernel can't run, each with its reason (agent/partsoff.c), for
 * the start line: an investigator reading it knows what is missing on this host and why.
 */
#ifndef AITRAIL_PARTSOFF_H
#define AITRAIL_PARTSOFF_H

#include <stddef.h>

/* Records that part is off on this kernel because of why; once per part. */
void part_off(const char *part, const char *why);
/* "; off: PART (why); PART (why)" into buf, or "" when everything runs. */
void parts_off_format(char *buf, size_t len);

#endif
