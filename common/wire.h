/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one module that owns protobuf framing and zlib, for the agent and the collector alike:
 *  - HTTP bodies: a packed wire.proto message, deflate-compressed (zlib format, as HTTP's
 *    "Content-Encoding: deflate"), unpacked under explicit caps so a zip bomb stops early;
 *  - spool records: u32 length + u32 crc32 (both little endian) + the bytes;
 *  - the batch hash chain: Batch.hash = SHA-256(prev_hash || each packed Event, in order);
 *  - Batch bodies: written from spooled events as they were packed (wire_batch_writer) and
 *    read back into those same bytes (wire_batch_events), the bytes the hash covers.
 * Every function returns 0 or -errno; decoders also fill a message for the peer or the log.
 */
#ifndef AITRAIL_WIRE_H
#define AITRAIL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "proto/wire.pb-c.h"

#define WIRE_VERSION 1
#define WIRE_HASH_LEN 32

/* Defaults for struct wire_caps: a batch is at most a few MiB, these leave ample room. */
#define WIRE_MAX_BODY (16u << 20)    /* bytes on the wire (compressed) */
#define WIRE_MAX_MESSAGE (64u << 20) /* bytes after inflating */

struct wire_caps {
	size_t max_body;
	size_t max_message;
};

/* zlib-format deflate of len bytes into a malloc'd buffer. */
int wire_deflate(const void *in, size_t len, uint8_t **out, size_t *out_len);
/*
 * Inflates into a malloc'd buffer of at most max_out bytes. -EMSGSIZE when the output would
 * exceed max_out (stops there, whatever the claimed size), -EBADMSG when the data is corrupt
 * or truncated. err (may be NULL) gets the reason.
 */
int wire_inflate(const void *in, size_t len, size_t max_out, uint8_t **out, size_t *out_len,
		 char *err, size_t errlen);

/* Packs msg, deflated when deflate != 0, into a malloc'd buffer. */
int wire_pack(const ProtobufCMessage *msg, int deflate, uint8_t **out, size_t *out_len);
/*
 * Unpacks a body of type desc (inflating first when deflated != 0) under caps (NULL = the
 * defaults). *msg is freed with wire_free(). -EMSGSIZE over a cap, -EBADMSG malformed.
 */
int wire_unpack(const ProtobufCMessageDescriptor *desc, const void *body, size_t len, int deflated,
		const struct wire_caps *caps, ProtobufCMessage **msg, char *err, size_t errlen);
void wire_free(ProtobufCMessage *msg);

/* Spool frames. */
#define WIRE_FRAME_HDR 8
#define WIRE_FRAME_MAX (16u << 20) /* one packed event is far smaller; a larger length is damage */

struct wire_frame {
	const uint8_t *payload;
	uint32_t len;
	size_t total; /* header + payload: where the next frame starts */
};

/* Writes the header and payload to dst, which holds WIRE_FRAME_HDR + len bytes. */
void wire_frame_put(uint8_t *dst, const void *payload, uint32_t len);
/*
 * Parses the frame at buf. -EAGAIN: fewer than a whole frame's bytes are available (a torn
 * tail after a crash); -EMSGSIZE: length above max_len; -EBADMSG: crc mismatch.
 */
int wire_frame_get(const void *buf, size_t avail, uint32_t max_len, struct wire_frame *f);

/* The batch hash chain, incrementally: init with the previous hash, feed packed events. */
struct wire_hash {
	void *md; /* EVP_MD_CTX */
};

int wire_hash_init(struct wire_hash *h, const uint8_t *prev, size_t prev_len);
int wire_hash_update(struct wire_hash *h, const void *packed_event, size_t len);
int wire_hash_final(struct wire_hash *h, uint8_t out[WIRE_HASH_LEN]);
/* Frees the context without a result (error paths). */
void wire_hash_abort(struct wire_hash *h);
/* Hash of a whole batch as received: prev_hash and each event re-packed, in order. */
int wire_batch_hash(const Aitrail__V1__Batch *b, uint8_t out[WIRE_HASH_LEN]);

/* An Event's seq, read from its packed bytes without unpacking the rest. -EBADMSG, -ENOENT. */
int wire_event_seq(const void *packed_event, size_t len, uint64_t *seq);

/*
 * A Batch body built from packed events: each is added as it was spooled and hashed as it is
 * added; wire_batch_finish packs the header, appends the events, deflates.
 */
struct wire_batch_writer {
	uint8_t *events;           /* Batch.events records, ready to append to the header */
	size_t len, cap;
	uint32_t n;
	struct wire_hash h;
	const uint8_t *prev;       /* the caller's, until finish */
	size_t prev_len;
};

/*
 * prev: the previous batch's hash (NULL, 0 for the first), kept until finish; cap: expected
 * bytes of events.
 */
int wire_batch_begin(struct wire_batch_writer *w, const uint8_t *prev, size_t prev_len,
		     size_t cap);
int wire_batch_add(struct wire_batch_writer *w, const void *packed_event, size_t len);
/*
 * hdr holds everything but the events and hashes (version, agent, seq, gaps): prev_hash is
 * begin's, the new hash goes into hash and hdr, the deflated body into a malloc'd *body. The
 * writer is done with either way.
 */
int wire_batch_finish(struct wire_batch_writer *w, Aitrail__V1__Batch *hdr,
		      uint8_t hash[WIRE_HASH_LEN], uint8_t **body, size_t *len);
void wire_batch_abort(struct wire_batch_writer *w);
/*
 * The n events of an inflated Batch body exactly as the agent packed them (ptr[i], plen[i]
 * point into body): the bytes it hashed. A collector re-packing decoded events would move
 * fields it does not know (a newer agent's) and break the hash. -EBADMSG unless body holds
 * exactly n events.
 */
int wire_batch_events(const void *body, size_t len, size_t n, const uint8_t **ptr, size_t *plen);

#endif
