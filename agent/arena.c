// SPDX-License-Identifier: Apache-2.0
/*
 * One event's strings and arrays come from a chain of chunks that is reset after the event is
 * written, so decoding costs no malloc/free per field.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/arena.h"

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	max_align_t data[];
};

void arena_init(struct arena *ar, size_t chunk_size)
{
	ar->head = NULL;
	ar->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

/* Keeps the first (oldest) chunk for reuse, frees the rest. */
void arena_reset(struct arena *ar)
{
	struct arena_chunk *c = ar->head, *keep = NULL;

	while (c) {
		struct arena_chunk *next = c->next;

		if (!next) {
			keep = c;
			keep->used = 0;
		} else {
			free(c);
		}
		c = next;
	}
	ar->head = keep;
}

void arena_free(struct arena *ar)
{
	struct arena_chunk *c = ar->head;

	while (c) {
		struct arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	ar->head = NULL;
}

void *arena_alloc(struct arena *ar, size_t size)
{
	struct arena_chunk *c = ar->head;
	size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	void *p;

	if (!c || c->size - c->used < need) {
		size_t csize = need > ar->chunk_size ? need : ar->chunk_size;

		c = malloc(sizeof(*c) + csize);
		if (!c)
			return NULL;
		c->size = csize;
		c->used = 0;
		c->next = ar->head;
		ar->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *ar, const char *s, size_t maxlen)
{
	size_t n = strnlen(s, maxlen);
	char *p = arena_alloc(ar, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_printf(struct arena *ar, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = arena_alloc(ar, n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, n + 1, fmt, ap);
	va_end(ap);
	return p;
}
