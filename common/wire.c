// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "common/util.h"
#include "common/wire.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int wire_deflate(const void *in, size_t len, uint8_t **out, size_t *out_len)
{
	uLongf n = compressBound(len);
	uint8_t *buf;
	int rc;

	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	/* level 1: events compress well already at the fastest level, the CPU is the agent's */
	rc = compress2(buf, &n, in, len, 1);
	if (rc != Z_OK) {
		free(buf);
		return rc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

int wire_inflate(const void *in, size_t len, size_t max_out, uint8_t **out, size_t *out_len,
		 char *err, size_t errlen)
{
	z_stream zs = {};
	uint8_t *buf = NULL, *nb;
	size_t cap = 0;
	int rc, ret;

	if (len > UINT32_MAX) {
		set_err(err, errlen, "compressed body too large (%zu bytes)", len);
		return -EMSGSIZE;
	}
	if (inflateInit(&zs) != Z_OK) {
		set_err(err, errlen, "failed to initialize zlib");
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	for (;;) {
		if (zs.total_out == cap) {
			/* grow geometrically, never past the cap + 1: one byte over proves the excess */
			size_t ncap = cap ? cap * 2 : (len * 4 > 4096 ? len * 4 : 4096);

			if (cap > max_out) {
				set_err(err, errlen, "inflated body exceeds the cap of %zu bytes",
					max_out);
				ret = -EMSGSIZE;
				goto fail;
			}
			if (ncap > max_out + 1)
				ncap = max_out + 1;
			nb = realloc(buf, ncap);
			if (!nb) {
				ret = -ENOMEM;
				set_err(err, errlen, "out of memory");
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out = cap - zs.total_out;
		rc = inflate(&zs, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			break;
		if (zs.total_out > max_out) {
			set_err(err, errlen, "inflated body exceeds the cap of %zu bytes", max_out);
			ret = -EMSGSIZE;
			goto fail;
		}
		if (rc == Z_OK)
			continue;
		if (rc == Z_BUF_ERROR && zs.avail_out)
			set_err(err, errlen, "compressed body is truncated");
		else if (rc == Z_BUF_ERROR)
			continue;
		else
			set_err(err, errlen, "compressed body is corrupt: %s",
				zs.msg ? zs.msg : "bad data");
		ret = rc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
		goto fail;
	}
	if (zs.total_out > max_out) {
		set_err(err, errlen, "inflated body exceeds the cap of %zu bytes", max_out);
		ret = -EMSGSIZE;
		goto fail;
	}
	if (zs.avail_in) {
		set_err(err, errlen, "%u bytes of trailing data after the compressed body",
			zs.avail_in);
		ret = -EBADMSG;
		goto fail;
	}
	*out_len = zs.total_out;
	*out = buf;
	inflateEnd(&zs);
	return 0;
fail:
	free(buf);
	inflateEnd(&zs);
	return ret;
}

int wire_pack(const ProtobufCMessage *msg, int deflate, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;
	int err;

	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(msg, buf);
	if (!deflate) {
		*out = buf;
		*out_len = n;
		return 0;
	}
	err = wire_deflate(buf, n, out, out_len);
	free(buf);
	return err;
}

int wire_unpack(const ProtobufCMessageDescriptor *desc, const void *body, size_t len, int deflated,
		const struct wire_caps *caps, ProtobufCMessage **msg, char *err, size_t errlen)
{
	size_t max_body = caps ? caps->max_body : WIRE_MAX_BODY;
	size_t max_msg = caps ? caps->max_message : WIRE_MAX_MESSAGE;
	uint8_t *plain = NULL;
	size_t plain_len = len;
	const void *p = body;
	ProtobufCMessage *m;
	int ret;

	if (len > max_body) {
		set_err(err, errlen, "body of %zu bytes exceeds the cap of %zu bytes", len, max_body);
		return -EMSGSIZE;
	}
	if (deflated) {
		ret = wire_inflate(body, len, max_msg, &plain, &plain_len, err, errlen);
		if (ret)
			return ret;
		p = plain;
	} else if (len > max_msg) {
		set_err(err, errlen, "message of %zu bytes exceeds the cap of %zu bytes", len,
			max_msg);
		return -EMSGSIZE;
	}
	m = protobuf_c_message_unpack(desc, NULL, plain_len, p);
	free(plain);
	if (!m) {
		set_err(err, errlen, "body is not a valid %s message", desc->name);
		return -EBADMSG;
	}
	*msg = m;
	return 0;
}

void wire_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void wire_frame_put(uint8_t *dst, const void *payload, uint32_t len)
{
	put_le32(dst, len);
	put_le32(dst + 4, crc32(0L, payload, len));
	memcpy(dst + WIRE_FRAME_HDR, payload, len);
}

int wire_frame_get(const void *buf, size_t avail, uint32_t max_len, struct wire_frame *f)
{
	const uint8_t *p = buf;
	uint32_t len;

	if (avail < WIRE_FRAME_HDR)
		return -EAGAIN;
	len = get_le32(p);
	if (len > max_len)
		return -EMSGSIZE;
	if (avail - WIRE_FRAME_HDR < len)
		return -EAGAIN;
	if (crc32(0L, p + WIRE_FRAME_HDR, len) != get_le32(p + 4))
		return -EBADMSG;
	f->payload = p + WIRE_FRAME_HDR;
	f->len = len;
	f->total = WIRE_FRAME_HDR + (size_t)len;
	return 0;
}

int wire_hash_init(struct wire_hash *h, const uint8_t *prev, size_t prev_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	h->md = NULL;
	if (!md)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    (prev_len && !EVP_DigestUpdate(md, prev, prev_len))) {
		EVP_MD_CTX_free(md);
		return -EIO;
	}
	h->md = md;
	return 0;
}

int wire_hash_update(struct wire_hash *h, const void *packed_event, size_t len)
{
	if (!h->md)
		return -EINVAL;
	return EVP_DigestUpdate(h->md, packed_event, len) ? 0 : -EIO;
}

int wire_hash_final(struct wire_hash *h, uint8_t out[WIRE_HASH_LEN])
{
	unsigned int n = 0;
	int ok;

	if (!h->md)
		return -EINVAL;
	ok = EVP_DigestFinal_ex(h->md, out, &n);
	wire_hash_abort(h);
	return ok && n == WIRE_HASH_LEN ? 0 : -EIO;
}

void wire_hash_abort(struct wire_hash *h)
{
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

int wire_batch_hash(const Aitrail__V1__Batch *b, uint8_t out[WIRE_HASH_LEN])
{
	struct wire_hash h;
	uint8_t stack[4096], *buf;
	size_t i, n;
	int err;

	err = wire_hash_init(&h, b->prev_hash.data, b->prev_hash.len);
	if (err)
		return err;
	for (i = 0; i < b->n_events; i++) {
		n = aitrail__v1__event__get_packed_size(b->events[i]);
		buf = n <= sizeof(stack) ? stack : malloc(n);
		if (!buf) {
			wire_hash_abort(&h);
			return -ENOMEM;
		}
		aitrail__v1__event__pack(b->events[i], buf);
		err = wire_hash_update(&h, buf, n);
		if (buf != stack)
			free(buf);
		if (err) {
			wire_hash_abort(&h);
			return err;
		}
	}
	return wire_hash_final(&h, out);
}

/* --- Batch bodies ------------------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* The field numbers the raw readers and the writer need, from the generated descriptors. */
static uint32_t field_number(const ProtobufCMessageDescriptor *d, const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);

	return f ? f->id : 0;
}

static uint32_t batch_events_field(void)
{
	return field_number(&aitrail__v1__batch__descriptor, "events");
}

static uint32_t event_seq_field(void)
{
	return field_number(&aitrail__v1__event__descriptor, "seq");
}

static int get_varint(const uint8_t *d, size_t len, size_t *off, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*off >= len)
			return -EBADMSG;
		*v |= (uint64_t)(d[*off] & 0x7f) << shift;
		if (!(d[(*off)++] & 0x80))
			return 0;
	}
	return -EBADMSG;
}

static void put_varint(uint8_t **p, uint64_t v)
{
	while (v >= 0x80) {
		*(*p)++ = (uint8_t)v | 0x80;
		v >>= 7;
	}
	*(*p)++ = (uint8_t)v;
}

/* One field of a packed message at *off: its number, wire type and value or bytes. */
struct field {
	uint32_t num;
	int type;
	uint64_t varint;
	const uint8_t *data;
	size_t len;
};

static int next_field(const uint8_t *d, size_t len, size_t *off, struct field *f)
{
	uint64_t key;
	size_t skip;

	if (get_varint(d, len, off, &key))
		return -EBADMSG;
	f->num = key >> 3;
	f->type = key & 7;
	switch (f->type) {
	case WT_VARINT:
		return get_varint(d, len, off, &f->varint);
	case WT_I64:
	case WT_I32:
		skip = f->type == WT_I64 ? 8 : 4;
		break;
	case WT_LEN:
		if (get_varint(d, len, off, &f->varint) || f->varint > len - *off)
			return -EBADMSG;
		skip = f->varint;
		break;
	default:
		return -EBADMSG;
	}
	if (skip > len - *off)
		return -EBADMSG;
	f->data = d + *off;
	f->len = skip;
	*off += skip;
	return 0;
}

int wire_event_seq(const void *packed_event, size_t len, uint64_t *seq)
{
	uint32_t num = event_seq_field();
	size_t off = 0;
	struct field f;

	while (off < len) {
		if (next_field(packed_event, len, &off, &f))
			return -EBADMSG;
		if (f.num == num && f.type == WT_VARINT) {
			*seq = f.varint;
			return 0;
		}
	}
	return -ENOENT;
}

int wire_batch_events(const void *body, size_t len, size_t n, const uint8_t **ptr, size_t *plen)
{
	uint32_t num = batch_events_field();
	size_t off = 0, k = 0;
	struct field f;

	while (off < len) {
		if (next_field(body, len, &off, &f))
			return -EBADMSG;
		if (f.num != num || f.type != WT_LEN)
			continue;
		if (k == n)
			return -EBADMSG;
		ptr[k] = f.data;
		plen[k++] = f.len;
	}
	return k == n ? 0 : -EBADMSG;
}

int wire_batch_begin(struct wire_batch_writer *w, const uint8_t *prev, size_t prev_len,
		     size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->prev = prev;
	w->prev_len = prev_len;
	if (grow_array(&w->events, &w->cap, cap ? cap : 4096, 1))
		return -ENOMEM;
	return wire_hash_init(&w->h, prev, prev_len);
}

int wire_batch_add(struct wire_batch_writer *w, const void *packed_event, size_t len)
{
	/* the record: key, length (at most 10 bytes each), the event */
	uint8_t *p;

	if (grow_array(&w->events, &w->cap, w->len + len + 16, 1))
		return -ENOMEM;
	p = w->events + w->len;
	put_varint(&p, (uint64_t)batch_events_field() << 3 | WT_LEN);
	put_varint(&p, len);
	memcpy(p, packed_event, len);
	w->len = p + len - w->events;
	w->n++;
	return wire_hash_update(&w->h, packed_event, len);
}

int wire_batch_finish(struct wire_batch_writer *w, Aitrail__V1__Batch *hdr,
		      uint8_t hash[WIRE_HASH_LEN], uint8_t **body, size_t *len)
{
	uint8_t *full = NULL;
	size_t hdr_len;
	int err;

	err = wire_hash_final(&w->h, hash);
	if (err)
		goto out;
	hdr->prev_hash.data = (uint8_t *)w->prev;
	hdr->prev_hash.len = w->prev_len;
	hdr->hash.data = hash;
	hdr->hash.len = WIRE_HASH_LEN;
	hdr->n_events = 0;
	/* protobuf-c packs the header; the events follow as they were spooled (repeated fields
	 * may come in any order on the wire, and an unpacker appends them in the order read) */
	hdr_len = aitrail__v1__batch__get_packed_size(hdr);
	full = malloc(hdr_len + w->len);
	if (!full) {
		err = -ENOMEM;
		goto out;
	}
	aitrail__v1__batch__pack(hdr, full);
	memcpy(full + hdr_len, w->events, w->len);
	err = wire_deflate(full, hdr_len + w->len, body, len);
out:
	free(full);
	wire_batch_abort(w);
	return err;
}

void wire_batch_abort(struct wire_batch_writer *w)
{
	wire_hash_abort(&w->h);
	free(w->events);
	w->events = NULL;
	w->len = w->cap = w->n = 0;
}

