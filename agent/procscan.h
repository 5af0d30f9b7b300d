/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_PROCSCAN_H
#define AITRAIL_PROCSCAN_H

struct agent;

/*
 * The /proc scan (agent/procscan.c): seeds the kernel's `tracked` map and the session table
 * with sessions already running when the agent starts.
 */
int procscan_run(struct agent *a);

#endif
