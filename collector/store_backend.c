// SPDX-License-Identifier: Apache-2.0
/*
 * What the store backends share (store_backend.h): the encodings of stored JSON columns, the JSON
 * of stored events, and small helpers of collector/store.h that any backend may call. This file
 * calls no backend and not the dispatcher (store.c), so backends only ever call down into it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/store.h"
#include "collector/store_backend.h"
#include "common/util.h"

/* Appends at most n bytes of s to buf (size len, at *pos), always terminated. */
static void put(char *buf, size_t len, size_t *pos, const char *s, size_t n)
{
	while (n-- && *s && *pos + 1 < len)
		buf[(*pos)++] = *s++;
	buf[*pos] = '\0';
}

void store_spec_redact(const char *spec, char *buf, size_t len)
{
	const char *p = strstr(spec, "://"), *auth_end, *at = NULL, *colon;
	size_t pos = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (!p) {
		put(buf, len, &pos, spec, strlen(spec));
		return;
	}
	p += 3;
	put(buf, len, &pos, spec, (size_t)(p - spec));
	auth_end = p + strcspn(p, "/?");
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon) {
		put(buf, len, &pos, p, (size_t)(colon - p));
		put(buf, len, &pos, ":***", 4);
		p = at;
	}
	/* parameters: password=... anywhere in the query string */
	while (*p) {
		size_t n = strcspn(p, "?&");

		put(buf, len, &pos, p, n);
		p += n;
		if (!*p)
			break;
		put(buf, len, &pos, p, 1);
		p++;
		if (!strncmp(p, "password=", 9)) {
			put(buf, len, &pos, "password=***", 12);
			p += strcspn(p, "&");
		}
	}
}

void store_policy_release(struct store_policy *p)
{
	free(p->yaml);
	free(p->etag);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

/* Loss counters and the rest of AgentStats as a flat JSON object, field names from the proto. */
char *store_stats_json(const Aitrail__V1__AgentStats *stats)
{
	const ProtobufCMessageDescriptor *d = stats->base.descriptor;
	json_object *o = json_object_new_object();
	char *s;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = (const char *)stats + f->offset;

		if (f->type == PROTOBUF_C_TYPE_UINT64)
			json_object_object_add(o, f->name, json_object_new_uint64(*(uint64_t *)p));
		else if (f->type == PROTOBUF_C_TYPE_BOOL)
			json_object_object_add(o, f->name, json_object_new_boolean(*(int *)p));
	}
	if (stats->lost) {
		const ProtobufCMessageDescriptor *ld = stats->lost->base.descriptor;
		json_object *l = json_object_new_object();

		for (unsigned i = 0; i < ld->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &ld->fields[i];

			if (f->type != PROTOBUF_C_TYPE_UINT64)
				continue;
			json_object_object_add(l, f->name, json_object_new_uint64(
				*(uint64_t *)((const char *)stats->lost + f->offset)));
		}
		json_object_object_add(o, "lost", l);
	}
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

char *store_argv_json(size_t n, char **argv)
{
	json_object *a = json_object_new_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(argv[i]));
	s = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return s;
}

json_object *store_event_json(const void *pb, size_t len, struct pbjson_buf *b)
{
	Aitrail__V1__Event *ev;
	json_object *o = NULL;

	ev = aitrail__v1__event__unpack(NULL, len, pb);
	if (!ev)
		return NULL;
	pbjson_buf_reset(b);
	if (!pbjson_append(b, &ev->base) && b->data)
		o = json_tokener_parse(b->data);
	aitrail__v1__event__free_unpacked(ev, NULL);
	return o;
}

json_object *store_seq_range(uint64_t from, uint64_t to)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "from_seq", json_object_new_int64((int64_t)from));
	json_object_object_add(r, "to_seq", json_object_new_int64((int64_t)to));
	return r;
}

void store_json_ts(json_object *o, const char *k, bool has, uint64_t ns)
{
	char key[64], buf[40];

	if (!has) {
		json_object_object_add(o, k, NULL);
		return;
	}
	format_rfc3339_ns(ns, buf, sizeof(buf));
	json_object_object_add(o, k, json_object_new_string(buf));
	snprintf(key, sizeof(key), "%s_ns", k);
	json_object_object_add(o, key, json_object_new_int64((int64_t)ns));
}

void store_agent_liveness(json_object *o, int64_t interval_s, uint64_t seen_ns, bool revoked,
			  const struct store_liveness *l)
{
	uint64_t silent_ns;

	if (interval_s <= 0)
		interval_s = l->default_interval_s;
	silent_ns = (uint64_t)interval_s * l->silent_after * 1000000000ULL;
	json_object_object_add(o, "heartbeat_interval_s", json_object_new_int64(interval_s));
	json_object_object_add(o, "silent", json_object_new_boolean(
		!revoked && (!seen_ns || l->now_ns > seen_ns + silent_ns)));
}

json_object *store_batches_pending(int64_t last_cut, int64_t max_received)
{
	return last_cut > max_received ? store_seq_range(max_received + 1, last_cut) : NULL;
}
