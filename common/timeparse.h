/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time arguments as people type them: RFC 3339 ("2026-11-28T14:03:00Z", "...+02:00", with or
 * without fractional seconds), shorter UTC forms ("2026-11-28", "2026-11-28 14:03", "14:03"
 * for the last time the clock read that), a relative age before now ("90s", "15m", "2h", "7d",
 * "1w"), or Unix nanoseconds. Shared by the CLI and the collector's query API.
 */
#ifndef AITRAIL_TIMEPARSE_H
#define AITRAIL_TIMEPARSE_H

#include <stdint.h>

/* Parses s into Unix ns; relative forms count back from now_ns. Returns 0 or -EINVAL. */
int parse_time_arg(const char *s, uint64_t now_ns, uint64_t *out);

/* Parses a strict RFC 3339 timestamp into Unix ns. Returns 0 or -EINVAL. */
int parse_rfc3339(const char *s, uint64_t *out);

#endif
