/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_REPORT_H
#define AITRAIL_REPORT_H

#include <stdint.h>

#include <json-c/json.h>

#include "collector/store.h"

/*
 * What AI sessions did in [since, until] (0 = open), for a compliance report: sessions by tool,
 * user and host; destinations with connections and bytes; sensitive reads by pattern; files
 * written; policy decisions. 0 and *out, or -EIO / -ENOMEM.
 */
int report_build(struct store *st, uint64_t since_ns, uint64_t until_ns, json_object **out);

#endif
