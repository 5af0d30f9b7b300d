// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pbjson.h"
#include "common/util.h"

static int buf_reserve(struct pbjson_buf *b, size_t more)
{
	return grow_array(&b->data, &b->cap, b->len + more + 1, 1);
}

static int buf_put(struct pbjson_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int buf_puts(struct pbjson_buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

static int buf_printf(struct pbjson_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int buf_printf(struct pbjson_buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(tmp))
		return -ENOMEM;
	return buf_put(b, tmp, n);
}

void pbjson_buf_reset(struct pbjson_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void pbjson_buf_free(struct pbjson_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when the bytes are not valid UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

int pbjson_append_string(struct pbjson_buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	if (buf_put(b, "\"", 1))
		return -ENOMEM;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;

		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			if (buf_put(b, esc, 2))
				return -ENOMEM;
			i++;
			continue;
		}
		if (c == '\n' || c == '\t' || c == '\r') {
			if (buf_puts(b, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r"))
				return -ENOMEM;
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			if (buf_printf(b, "\\u%04x", c))
				return -ENOMEM;
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i);
		if (n == 0) {
			/* not UTF-8: keep the byte's value rather than drop or replace it */
			if (buf_printf(b, "\\u%04x", c))
				return -ENOMEM;
			i++;
			continue;
		}
		if (buf_put(b, (const char *)s + i, n))
			return -ENOMEM;
		i += n;
	}
	return buf_put(b, "\"", 1);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int append_bytes(struct pbjson_buf *b, const ProtobufCBinaryData *d)
{
	size_t i;

	if (buf_put(b, "\"", 1))
		return -ENOMEM;
	for (i = 0; i < d->len; i += 3) {
		uint32_t v = (uint32_t)d->data[i] << 16;
		char out[4];

		if (i + 1 < d->len)
			v |= (uint32_t)d->data[i + 1] << 8;
		if (i + 2 < d->len)
			v |= d->data[i + 2];
		out[0] = b64[(v >> 18) & 63];
		out[1] = b64[(v >> 12) & 63];
		out[2] = i + 1 < d->len ? b64[(v >> 6) & 63] : '=';
		out[3] = i + 2 < d->len ? b64[v & 63] : '=';
		if (buf_put(b, out, 4))
			return -ENOMEM;
	}
	return buf_put(b, "\"", 1);
}

static int append_object_fields(struct pbjson_buf *b, const ProtobufCMessage *msg, bool *first);

/* Writes one value of field f found at p. */
static int append_value(struct pbjson_buf *b, const ProtobufCFieldDescriptor *f, const void *p)
{
	char tmp[48];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t v = *(const int32_t *)p;

		if (!strcmp(f->name, "result") && v != 0)
			return pbjson_append_string(b, errno_name(v, tmp, sizeof(tmp)),
						    strlen(errno_name(v, tmp, sizeof(tmp))));
		return buf_printf(b, "%" PRId32, v);
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return buf_printf(b, "%" PRId64, *(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return buf_printf(b, "%" PRIu32, *(const uint32_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = *(const uint64_t *)p;

		if (!strcmp(f->name, "ts")) {
			format_rfc3339_ns(v, tmp, sizeof(tmp));
			return pbjson_append_string(b, tmp, strlen(tmp));
		}
		return buf_printf(b, "%" PRIu64, v);
	}
	case PROTOBUF_C_TYPE_FLOAT:
		return buf_printf(b, "%.9g", (double)*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return buf_printf(b, "%.17g", *(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return buf_puts(b, *(const protobuf_c_boolean *)p ? "true" : "false");
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);

		if (ev)
			return pbjson_append_string(b, ev->name, strlen(ev->name));
		return buf_printf(b, "%d", *(const int *)p);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return pbjson_append_string(b, s ? s : "", s ? strlen(s) : 0);
	}
	case PROTOBUF_C_TYPE_BYTES:
		return append_bytes(b, p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		bool first = true;

		if (!m)
			return buf_puts(b, "null");
		if (buf_put(b, "{", 1) || append_object_fields(b, m, &first))
			return -ENOMEM;
		return buf_put(b, "}", 1);
	}
	}
	return buf_puts(b, "null");
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

static int append_key(struct pbjson_buf *b, const char *name, bool *first)
{
	if (!*first && buf_put(b, ",", 1))
		return -ENOMEM;
	*first = false;
	if (pbjson_append_string(b, name, strlen(name)))
		return -ENOMEM;
	return buf_put(b, ":", 1);
}

static int append_object_fields(struct pbjson_buf *b, const ProtobufCMessage *msg, bool *first)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	unsigned i;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)p;
			size_t k;

			if (n == 0)
				continue;
			if (append_key(b, f->name, first) || buf_put(b, "[", 1))
				return -ENOMEM;
			for (k = 0; k < n; k++) {
				if (k && buf_put(b, ",", 1))
					return -ENOMEM;
				if (append_value(b, f, arr + k * value_size(f)))
					return -ENOMEM;
			}
			if (buf_put(b, "]", 1))
				return -ENOMEM;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);

			if (which != f->id)
				continue;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;

				/* the body's fields become the event's own */
				if (m && append_object_fields(b, m, first))
					return -ENOMEM;
				continue;
			}
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
			   f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
			if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
				continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)p)
			continue;
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			const char *s = *(char *const *)p;

			if (!s || !*s)
				continue;
		}
		if (f->type == PROTOBUF_C_TYPE_BYTES && ((const ProtobufCBinaryData *)p)->len == 0)
			continue;
		if (append_key(b, f->name, first) || append_value(b, f, p))
			return -ENOMEM;
	}
	return 0;
}

int pbjson_append(struct pbjson_buf *b, const ProtobufCMessage *msg)
{
	bool first = true;

	if (buf_put(b, "{", 1) || append_object_fields(b, msg, &first))
		return -ENOMEM;
	return buf_put(b, "}", 1);
}

int pbjson_write_line(FILE *f, const ProtobufCMessage *msg)
{
	static __thread struct pbjson_buf b;
	int err;

	pbjson_buf_reset(&b);
	err = pbjson_append(&b, msg);
	if (err)
		return err;
	if (buf_put(&b, "\n", 1))
		return -ENOMEM;
	if (fwrite(b.data, 1, b.len, f) != b.len)
		return -EIO;
	return 0;
}
