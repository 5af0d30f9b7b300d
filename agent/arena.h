/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator for one event's strings and arrays (agent/arena.c). */
#ifndef AITRAIL_ARENA_H
#define AITRAIL_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t chunk_size;
};

/* chunk_size 0: 64 KiB chunks */
void arena_init(struct arena *ar, size_t chunk_size);
/* Frees every allocation at once, keeping one chunk for the next event. */
void arena_reset(struct arena *ar);
void arena_free(struct arena *ar);

/* Zeroed, max_align_t aligned; NULL when out of memory. */
void *arena_alloc(struct arena *ar, size_t size);
char *arena_strndup(struct arena *ar, const char *s, size_t maxlen);
char *arena_printf(struct arena *ar, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
