// SPDX-License-Identifier: Apache-2.0
/*
 * common/wire.c: message round trips, caps, zip bomb, spool frames, the batch hash chain, Batch
 * bodies written from packed events and read back into the same bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "common/wire.h"

static Aitrail__V1__Event *mk_event(uint64_t seq, const char *type)
{
	Aitrail__V1__Event *ev = calloc(1, sizeof(*ev));

	aitrail__v1__event__init(ev);
	ev->type = (char *)type;
	ev->seq = seq;
	ev->ts = 1700000000000000000ULL + seq;
	ev->host = (char *)"host1";
	return ev;
}

/* A batch reporting one gap of lost events from..to. */
static void set_gap(Aitrail__V1__Batch *b, Aitrail__V1__Gap **slot, uint64_t from, uint64_t to,
		    const char *reason)
{
	slot[0]->from_seq = from;
	slot[0]->to_seq = to;
	slot[0]->events = to - from + 1;
	slot[0]->reason = (char *)reason;
	b->n_gaps = 1;
	b->gaps = slot;
}

static void test_batch_round_trip(void **state)
{
	Aitrail__V1__Batch b = AITRAIL__V1__BATCH__INIT, *got;
	Aitrail__V1__AgentInfo ai = AITRAIL__V1__AGENT_INFO__INIT;
	Aitrail__V1__Gap gap = AITRAIL__V1__GAP__INIT, *gaps[1] = { &gap };
	Aitrail__V1__Event *evs[3];
	ProtobufCMessage *m;
	uint8_t *buf, h[WIRE_HASH_LEN];
	size_t len, i;
	char err[128];

	for (i = 0; i < 3; i++)
		evs[i] = mk_event(10 + i, "exec");
	ai.agent_id = (char *)"agent-1";
	ai.hostname = (char *)"host1";
	b.version = WIRE_VERSION;
	b.agent = &ai;
	b.seq = 7;
	b.n_events = 3;
	b.events = evs;
	set_gap(&b, gaps, 3, 9, "spool_full_drop_oldest");
	assert_int_equal(wire_batch_hash(&b, h), 0);
	b.hash.data = h;
	b.hash.len = sizeof(h);

	assert_int_equal(wire_pack(&b.base, 1, &buf, &len), 0);
	assert_int_equal(wire_unpack(&aitrail__v1__batch__descriptor, buf, len, 1, NULL, &m, err,
				     sizeof(err)), 0);
	got = (Aitrail__V1__Batch *)m;
	assert_int_equal(got->seq, 7);
	assert_string_equal(got->agent->agent_id, "agent-1");
	assert_int_equal(got->n_events, 3);
	assert_int_equal(got->events[2]->seq, 12);
	assert_string_equal(got->events[0]->type, "exec");
	assert_int_equal(got->n_gaps, 1);
	assert_int_equal(got->gaps[0]->events, 7);
	assert_string_equal(got->gaps[0]->reason, "spool_full_drop_oldest");
	/* the receiver recomputes the same chain hash */
	assert_int_equal(wire_batch_hash(got, h), 0);
	assert_memory_equal(h, got->hash.data, WIRE_HASH_LEN);
	wire_free(m);
	free(buf);
	for (i = 0; i < 3; i++)
		free(evs[i]);
}

/* Packs msg (deflated or not) and unpacks it again as its own type. */
static ProtobufCMessage *round_trip(const ProtobufCMessage *msg, int deflate)
{
	ProtobufCMessage *m;
	uint8_t *buf;
	size_t len;

	assert_int_equal(wire_pack(msg, deflate, &buf, &len), 0);
	assert_int_equal(wire_unpack(msg->descriptor, buf, len, deflate, NULL, &m, NULL, 0), 0);
	free(buf);
	return m;
}

static void test_small_messages(void **state)
{
	Aitrail__V1__EnrollRequest er = AITRAIL__V1__ENROLL_REQUEST__INIT;
	Aitrail__V1__EnrollReply rep = AITRAIL__V1__ENROLL_REPLY__INIT;
	Aitrail__V1__BatchAck ack = AITRAIL__V1__BATCH_ACK__INIT;
	Aitrail__V1__ErrorReply e = AITRAIL__V1__ERROR_REPLY__INIT;
	Aitrail__V1__Heartbeat hb = AITRAIL__V1__HEARTBEAT__INIT;
	ProtobufCMessage *m;

	er.token = (char *)"tok";
	m = round_trip(&er.base, 1);
	assert_string_equal(((Aitrail__V1__EnrollRequest *)m)->token, "tok");
	wire_free(m);

	rep.agent_id = (char *)"id";
	rep.agent_key = (char *)"key";
	m = round_trip(&rep.base, 0);
	assert_string_equal(((Aitrail__V1__EnrollReply *)m)->agent_key, "key");
	wire_free(m);

	ack.seq = 42;
	ack.status = (char *)"duplicate";
	m = round_trip(&ack.base, 1);
	assert_int_equal(((Aitrail__V1__BatchAck *)m)->seq, 42);
	assert_string_equal(((Aitrail__V1__BatchAck *)m)->status, "duplicate");
	wire_free(m);

	e.code = 401;
	e.message = (char *)"unknown agent key";
	m = round_trip(&e.base, 1);
	assert_int_equal(((Aitrail__V1__ErrorReply *)m)->code, 401);
	wire_free(m);

	hb.spool_bytes = 1234;
	hb.interval_s = 30;
	m = round_trip(&hb.base, 1);
	assert_int_equal(((Aitrail__V1__Heartbeat *)m)->spool_bytes, 1234);
	wire_free(m);
}

static void test_corrupt_bodies(void **state)
{
	Aitrail__V1__BatchAck ack = AITRAIL__V1__BATCH_ACK__INIT;
	ProtobufCMessage *m = NULL;
	uint8_t *buf, junk[64];
	size_t len;
	char err[128] = "";

	ack.seq = 1;
	ack.status = (char *)"stored-and-some-padding-to-make-it-longer";
	assert_int_equal(wire_pack(&ack.base, 1, &buf, &len), 0);
	/* truncated compressed stream */
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, buf, len - 3, 1, NULL,
				     &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));
	/* flipped byte in the middle: zlib's adler32 or the stream itself catches it */
	buf[len / 2] ^= 0x55;
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, buf, len, 1, NULL, &m,
				     err, sizeof(err)), -EBADMSG);
	free(buf);
	/* not zlib at all */
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, junk, sizeof(junk), 1,
				     NULL, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt"));
	/* not a valid message: a field tag with wire type 7 */
	junk[0] = 0x0f;
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, junk, sizeof(junk), 0,
				     NULL, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a valid aitrail.v1.BatchAck"));
	/* empty input for a compressed body */
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, junk, 0, 1, NULL, &m,
				     err, sizeof(err)), -EBADMSG);
	assert_null(m);
}

static void test_caps(void **state)
{
	struct wire_caps caps = { .max_body = 100, .max_message = 1000 };
	uint8_t plain[2000], *z, *out;
	size_t zlen, olen;
	ProtobufCMessage *m;
	char err[128];

	memset(plain, 'a', sizeof(plain));
	assert_int_equal(wire_deflate(plain, sizeof(plain), &z, &zlen), 0);
	assert_true(zlen < 100);
	/* inflates to 2000 > 1000 */
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, z, zlen, 1, &caps, &m,
				     err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "cap of 1000"));
	/* exactly at the cap is fine */
	assert_int_equal(wire_inflate(z, zlen, 2000, &out, &olen, err, sizeof(err)), 0);
	assert_int_equal(olen, 2000);
	assert_memory_equal(out, plain, 2000);
	free(out);
	assert_int_equal(wire_inflate(z, zlen, 1999, &out, &olen, err, sizeof(err)), -EMSGSIZE);
	/* body cap applies before anything is inflated */
	caps.max_body = zlen - 1;
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, z, zlen, 1, &caps, &m,
				     err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "body of"));
	/* an uncompressed body is held to the message cap too */
	caps.max_body = 5000;
	assert_int_equal(wire_unpack(&aitrail__v1__batch_ack__descriptor, plain, sizeof(plain), 0,
				     &caps, &m, err, sizeof(err)), -EMSGSIZE);
	free(z);
}

static void test_zip_bomb(void **state)
{
	/* 1 GiB of zeros compresses to ~1 MiB; decoding must stop at the 64 MiB cap */
	const size_t chunk = 1 << 20, total = 1ULL << 30;
	uint8_t *zero = calloc(1, chunk), *z, *out = NULL;
	z_stream zs = {};
	size_t zcap = 2 << 20, olen, i;
	char err[128];

	z = malloc(zcap);
	assert_int_equal(deflateInit(&zs, 9), Z_OK);
	zs.next_out = z;
	zs.avail_out = zcap;
	for (i = 0; i < total / chunk; i++) {
		zs.next_in = zero;
		zs.avail_in = chunk;
		assert_int_equal(deflate(&zs, i + 1 == total / chunk ? Z_FINISH : Z_NO_FLUSH) >= 0,
				 1);
	}
	assert_true(zs.total_out < WIRE_MAX_BODY);
	assert_int_equal(wire_inflate(z, zs.total_out, WIRE_MAX_MESSAGE, &out, &olen, err,
				      sizeof(err)), -EMSGSIZE);
	assert_null(out);
	assert_non_null(strstr(err, "exceeds the cap"));
	deflateEnd(&zs);
	free(z);
	free(zero);
}

static void test_frames(void **state)
{
	const char *a = "first event", *b = "second, longer event payload";
	uint8_t buf[256];
	struct wire_frame f;
	size_t la = strlen(a), lb = strlen(b), off;

	wire_frame_put(buf, a, la);
	wire_frame_put(buf + WIRE_FRAME_HDR + la, b, lb);
	off = 0;
	assert_int_equal(wire_frame_get(buf, sizeof(buf), 1024, &f), 0);
	assert_int_equal(f.len, la);
	assert_memory_equal(f.payload, a, la);
	off += f.total;
	assert_int_equal(wire_frame_get(buf + off, 2 * WIRE_FRAME_HDR + la + lb - off, 1024, &f),
			 0);
	assert_memory_equal(f.payload, b, lb);
	/* every truncation of the second frame is "incomplete", never garbage */
	for (size_t n = 0; n < WIRE_FRAME_HDR + lb; n++)
		assert_int_equal(wire_frame_get(buf + off, n, 1024, &f), -EAGAIN);
	/* length above the limit */
	assert_int_equal(wire_frame_get(buf + off, sizeof(buf) - off, 10, &f), -EMSGSIZE);
	/* bad crc */
	buf[off + WIRE_FRAME_HDR + 3] ^= 1;
	assert_int_equal(wire_frame_get(buf + off, WIRE_FRAME_HDR + lb, 1024, &f), -EBADMSG);
	/* empty payload is a valid frame */
	wire_frame_put(buf, "", 0);
	assert_int_equal(wire_frame_get(buf, WIRE_FRAME_HDR, 1024, &f), 0);
	assert_int_equal(f.total, WIRE_FRAME_HDR);
}

static void test_hash_chain(void **state)
{
	Aitrail__V1__Event *e1 = mk_event(1, "exec"), *e2 = mk_event(2, "exit");
	Aitrail__V1__Event *evs[2] = { e1, e2 };
	Aitrail__V1__Batch b = AITRAIL__V1__BATCH__INIT;
	uint8_t prev[WIRE_HASH_LEN], h1[WIRE_HASH_LEN], h2[WIRE_HASH_LEN], manual[WIRE_HASH_LEN];
	uint8_t p1[256], p2[256], cat[WIRE_HASH_LEN + 512];
	size_t n1, n2;
	unsigned int mlen;
	struct wire_hash h;

	memset(prev, 0x11, sizeof(prev));
	b.prev_hash.data = prev;
	b.prev_hash.len = sizeof(prev);
	b.events = evs;
	b.n_events = 2;
	assert_int_equal(wire_batch_hash(&b, h1), 0);

	/* the definition: SHA-256(prev || packed e1 || packed e2) */
	n1 = aitrail__v1__event__pack(e1, p1);
	n2 = aitrail__v1__event__pack(e2, p2);
	memcpy(cat, prev, sizeof(prev));
	memcpy(cat + sizeof(prev), p1, n1);
	memcpy(cat + sizeof(prev) + n1, p2, n2);
	assert_int_equal(EVP_Digest(cat, sizeof(prev) + n1 + n2, manual, &mlen, EVP_sha256(), NULL),
			 1);
	assert_memory_equal(h1, manual, WIRE_HASH_LEN);

	/* incremental API gives the same */
	assert_int_equal(wire_hash_init(&h, prev, sizeof(prev)), 0);
	assert_int_equal(wire_hash_update(&h, p1, n1), 0);
	assert_int_equal(wire_hash_update(&h, p2, n2), 0);
	assert_int_equal(wire_hash_final(&h, h2), 0);
	assert_memory_equal(h1, h2, WIRE_HASH_LEN);

	/* order, content and prev all matter */
	evs[0] = e2;
	evs[1] = e1;
	assert_int_equal(wire_batch_hash(&b, h2), 0);
	assert_memory_not_equal(h1, h2, WIRE_HASH_LEN);
	evs[0] = e1;
	evs[1] = e2;
	prev[0] ^= 1;
	assert_int_equal(wire_batch_hash(&b, h2), 0);
	assert_memory_not_equal(h1, h2, WIRE_HASH_LEN);
	/* first batch: empty prev */
	b.prev_hash.len = 0;
	assert_int_equal(wire_batch_hash(&b, h2), 0);
	free(e1);
	free(e2);
}

/* What the agent's spool writes, the collector reads: same events, same bytes, same hash. */
static void test_batch_writer(void **state)
{
	Aitrail__V1__Batch hdr = AITRAIL__V1__BATCH__INIT, *got;
	Aitrail__V1__AgentInfo ai = AITRAIL__V1__AGENT_INFO__INIT;
	Aitrail__V1__Gap gap = AITRAIL__V1__GAP__INIT, *gaps[1] = { &gap };
	uint8_t prev[WIRE_HASH_LEN], hash[WIRE_HASH_LEN], h2[WIRE_HASH_LEN], *body, *plain;
	uint8_t packed[3][256];
	size_t plen[3], body_len, plain_len, got_len[3];
	const uint8_t *got_ptr[3];
	struct wire_batch_writer w;
	ProtobufCMessage *m;
	uint64_t seq;
	size_t i;

	memset(prev, 0xab, sizeof(prev));
	/* a tiny initial capacity: adding must grow the buffer */
	assert_int_equal(wire_batch_begin(&w, prev, sizeof(prev), 8), 0);
	for (i = 0; i < 3; i++) {
		Aitrail__V1__Event *ev = mk_event(40 + i, i == 1 ? "net_connect" : "exec");

		plen[i] = aitrail__v1__event__pack(ev, packed[i]);
		assert_int_equal(wire_event_seq(packed[i], plen[i], &seq), 0);
		assert_int_equal(seq, 40 + i);
		assert_int_equal(wire_batch_add(&w, packed[i], plen[i]), 0);
		free(ev);
	}
	ai.agent_id = (char *)"agent-9";
	hdr.version = WIRE_VERSION;
	hdr.agent = &ai;
	hdr.seq = 5;
	set_gap(&hdr, gaps, 30, 39, "spool_full_drop_newest");
	assert_int_equal(wire_batch_finish(&w, &hdr, hash, &body, &body_len), 0);

	assert_int_equal(wire_unpack(&aitrail__v1__batch__descriptor, body, body_len, 1, NULL, &m,
				     NULL, 0), 0);
	got = (Aitrail__V1__Batch *)m;
	assert_int_equal(got->seq, 5);
	assert_string_equal(got->agent->agent_id, "agent-9");
	assert_int_equal(got->n_gaps, 1);
	assert_int_equal(got->gaps[0]->to_seq, 39);
	assert_int_equal(got->n_events, 3);
	assert_string_equal(got->events[1]->type, "net_connect");
	assert_int_equal(got->events[2]->seq, 42);
	assert_memory_equal(got->prev_hash.data, prev, WIRE_HASH_LEN);
	assert_memory_equal(got->hash.data, hash, WIRE_HASH_LEN);
	/* the hash is the chain hash a receiver recomputes */
	assert_int_equal(wire_batch_hash(got, h2), 0);
	assert_memory_equal(h2, hash, WIRE_HASH_LEN);

	/* the raw reader finds each event's very bytes */
	assert_int_equal(wire_inflate(body, body_len, WIRE_MAX_MESSAGE, &plain, &plain_len, NULL,
				      0), 0);
	assert_int_equal(wire_batch_events(plain, plain_len, 3, got_ptr, got_len), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(got_len[i], plen[i]);
		assert_memory_equal(got_ptr[i], packed[i], plen[i]);
	}
	/* a count that does not match, or a body cut short, is refused */
	assert_int_equal(wire_batch_events(plain, plain_len, 2, got_ptr, got_len), -EBADMSG);
	assert_int_equal(wire_batch_events(plain, plain_len - 1, 3, got_ptr, got_len), -EBADMSG);
	assert_int_equal(wire_event_seq(packed[0], 1, &seq), -EBADMSG);
	assert_int_equal(wire_event_seq("", 0, &seq), -ENOENT);
	free(plain);
	free(body);
	wire_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_round_trip),
		cmocka_unit_test(test_small_messages),
		cmocka_unit_test(test_corrupt_bodies),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_zip_bomb),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_hash_chain),
		cmocka_unit_test(test_batch_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
