// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>

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
