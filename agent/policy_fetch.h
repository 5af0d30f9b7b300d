/* SPDX-License-Identifier: Apache-2.0 */
/* Polling the collector for the fleet policy (agent/policy_fetch.c). */
#ifndef AITRAIL_POLICY_FETCH_H
#define AITRAIL_POLICY_FETCH_H

#include <stdint.h>

struct pol_fetch;

struct pol_fetch_opts {
	const char *collector_url; /* without the trailing slash */
	const char *state_dir;     /* where the shipper keeps agent.key */
	const char *dest;          /* the policy file the agent watches */
	const char *ca_file, *cert_file, *key_file;
	uint32_t interval_s;
	const char *host_group;    /* "" or NULL: the fleet policy */
};

/* -ENOENT when there is no collector or no interval: nothing to fetch. */
int pol_fetch_new(const struct pol_fetch_opts *o, struct pol_fetch **out);
/* Starts a fetch when one is due and advances the one in flight; never waits. */
void pol_fetch_tick(struct pol_fetch *f, uint64_t now_ms);
void pol_fetch_free(struct pol_fetch *f);

#endif
