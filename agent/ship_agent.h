/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_SHIP_AGENT_H
#define AITRAIL_SHIP_AGENT_H

struct agent;

/*
 * With collector.url set: opens the spool (setting the agent's next event seq), adds the spool
 * sink and the shipper's fd to the loop. Call after the other sinks, before any event. 0 when
 * shipping is off.
 */
int agent_ship_start(struct agent *a);
/* At shutdown, after the final events: ships what it can within a few seconds, closes. */
void agent_ship_stop(struct agent *a);

#endif
