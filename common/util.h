/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_UTIL_H
#define AITRAIL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Grows the array *pp of *cap elements of elem bytes to hold need of them, doubling (appends
 * stay cheap). 0, or -ENOMEM with the array as it was.
 */
int grow_array(void *pp, size_t *cap, size_t need, size_t elem);

/* Parses a whole decimal string into [min, max]. Returns 0, -EINVAL or -ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "ECONNREFUSED" for 111; "E<number>" when the C library has no name for it. */
const char *errno_name(int err, char *buf, size_t len);

/* RFC 3339 UTC with nanoseconds: 2026-11-28T14:03:07.123456789Z. buf needs 32 bytes. */
void format_rfc3339_ns(uint64_t unix_ns, char *buf, size_t len);

/* Current CLOCK_REALTIME and CLOCK_BOOTTIME in ns. */
uint64_t now_realtime_ns(void);
uint64_t now_boottime_ns(void);
/* CLOCK_MONOTONIC in ns: deadlines and intervals inside one process (timerfds use it too). */
uint64_t now_mono_ns(void);

#endif
