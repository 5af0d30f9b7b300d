/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_NETSWEEP_H
#define AITRAIL_NETSWEEP_H

#include <stdbool.h>

struct agent;

/* Adds the loop timer that emits connect records the kernel held too long. */
int net_start(struct agent *a);
/* Emits held connect records: old ones, or (all) every one, before the agent stops. */
void net_sweep(struct agent *a, bool all);

#endif
