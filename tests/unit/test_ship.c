// SPDX-License-Identifier: Apache-2.0
/*
 * agent/ship.c against an in-process fake collector (libmicrohttpd on loopback): enrollment
 * and the saved key, ordered delivery with a verified hash chain, outages (5xx and a stopped
 * server) with backoff and drain, a revoked key with re-enrollment, restart with the spool.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "common/log.h"
#include "agent/ship.h"
#include "common/util.h"

#define MAX_SEQ 20000

struct fake {
	struct MHD_Daemon *d;
	uint16_t port;
	pthread_mutex_t lock;
	int fail_status;        /* reply this to everything when set */
	int lose_reply;         /* store the next batch, then answer 502 as if the reply was lost */
	char key[64];           /* the valid agent key */
	int key_gen;
	uint8_t seen[MAX_SEQ + 1];
	uint64_t events, dups, batches, batch_dups, heartbeats, enrolls, bad_hash, gaps;
	uint64_t last_batch_seq;
	uint64_t largest_batch;
	uint8_t last_hash[WIRE_HASH_LEN];
	int have_hash;
	char last_agent_id[64];
};

static struct fake fk;
static char dir[128];

struct body {
	uint8_t *data;
	size_t len;
};

static enum MHD_Result send_pb(struct MHD_Connection *c, unsigned int status,
			       const ProtobufCMessage *m)
{
	uint8_t *buf;
	size_t len;
	struct MHD_Response *r;
	enum MHD_Result ret;

	assert_int_equal(wire_pack(m, 0, &buf, &len), 0);
	r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/x-protobuf");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_err(struct MHD_Connection *c, unsigned int status, const char *msg)
{
	Aitrail__V1__ErrorReply e = AITRAIL__V1__ERROR_REPLY__INIT;

	e.code = status;
	e.message = (char *)msg;
	return send_pb(c, status, &e.base);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct body *b = *con_cls;
	ProtobufCMessage *m;
	const char *auth;
	enum MHD_Result ret;
	char err[128];

	if (!b) {
		*con_cls = calloc(1, sizeof(*b));
		return MHD_YES;
	}
	if (*upload_size) {
		b->data = realloc(b->data, b->len + *upload_size);
		memcpy(b->data + b->len, upload, *upload_size);
		b->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	*con_cls = NULL;
	pthread_mutex_lock(&fk.lock);
	if (fk.fail_status) {
		ret = send_err(c, fk.fail_status, "injected failure");
		goto out;
	}
	if (!strcmp(url, "/v1/enroll")) {
		Aitrail__V1__EnrollReply rep = AITRAIL__V1__ENROLL_REPLY__INIT;
		Aitrail__V1__EnrollRequest *req;

		assert_int_equal(wire_unpack(&aitrail__v1__enroll_request__descriptor, b->data,
					     b->len, 1, NULL, &m, err, sizeof(err)), 0);
		req = (Aitrail__V1__EnrollRequest *)m;
		if (strcmp(req->token, "tok")) {
			wire_free(m);
			ret = send_err(c, 401, "wrong enroll token");
			goto out;
		}
		assert_true(req->agent->hostname[0]);
		wire_free(m);
		fk.enrolls++;
		/* batches are numbered and chained per agent: a new one starts afresh */
		fk.last_batch_seq = 0;
		fk.have_hash = 0;
		snprintf(fk.key, sizeof(fk.key), "key-%d", ++fk.key_gen);
		snprintf(fk.last_agent_id, sizeof(fk.last_agent_id), "ag-%d", fk.key_gen);
		rep.agent_id = fk.last_agent_id;
		rep.agent_key = fk.key;
		ret = send_pb(c, 200, &rep.base);
		goto out;
	}
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!auth || strncmp(auth, "Bearer ", 7) || strcmp(auth + 7, fk.key)) {
		ret = send_err(c, 401, "unknown agent key");
		goto out;
	}
	if (!strcmp(url, "/v1/heartbeat")) {
		assert_int_equal(wire_unpack(&aitrail__v1__heartbeat__descriptor, b->data, b->len, 1,
					     NULL, &m, err, sizeof(err)), 0);
		wire_free(m);
		fk.heartbeats++;
		ret = send_pb(c, 200, &((Aitrail__V1__BatchAck)AITRAIL__V1__BATCH_ACK__INIT).base);
		goto out;
	}
	if (!strcmp(url, "/v1/events")) {
		Aitrail__V1__BatchAck ack = AITRAIL__V1__BATCH_ACK__INIT;
		Aitrail__V1__Batch *bt;
		uint8_t h[WIRE_HASH_LEN];

		assert_string_equal(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								"Content-Encoding"), "deflate");
		assert_int_equal(wire_unpack(&aitrail__v1__batch__descriptor, b->data, b->len, 1,
					     NULL, &m, err, sizeof(err)), 0);
		bt = (Aitrail__V1__Batch *)m;
		if (bt->agent->agent_id[0] && strcmp(bt->agent->agent_id, fk.last_agent_id)) {
			wire_free(m);
			ret = send_err(c, 403, "key used for another agent");
			goto out;
		}
		ack.seq = bt->seq;
		if (bt->seq <= fk.last_batch_seq) {
			fk.batch_dups++;
			ack.status = (char *)"duplicate";
		} else {
			assert_int_equal(bt->seq, fk.last_batch_seq + 1);
			assert_int_equal(wire_batch_hash(bt, h), 0);
			if (memcmp(h, bt->hash.data, WIRE_HASH_LEN) ||
			    (bt->seq == 1 && bt->prev_hash.len) ||
			    (fk.have_hash && (bt->prev_hash.len != WIRE_HASH_LEN ||
					      memcmp(bt->prev_hash.data, fk.last_hash, WIRE_HASH_LEN))))
				fk.bad_hash++;
			memcpy(fk.last_hash, bt->hash.data, WIRE_HASH_LEN);
			fk.have_hash = 1;
			fk.last_batch_seq = bt->seq;
			fk.batches++;
			if (bt->n_events > fk.largest_batch)
				fk.largest_batch = bt->n_events;
			for (size_t i = 0; i < bt->n_events; i++) {
				uint64_t s = bt->events[i]->seq;

				assert_true(s <= MAX_SEQ);
				if (fk.seen[s])
					fk.dups++;
				fk.seen[s] = 1;
				fk.events++;
			}
			for (size_t i = 0; i < bt->n_gaps; i++)
				fk.gaps += bt->gaps[i]->events;
			ack.status = (char *)"stored";
			ack.stored = bt->n_events;
		}
		wire_free(m);
		if (fk.lose_reply && !strcmp(ack.status, "stored")) {
			fk.lose_reply = 0;
			ret = send_err(c, 502, "reply lost on the way");
			goto out;
		}
		ret = send_pb(c, 200, &ack.base);
		goto out;
	}
	ret = send_err(c, 404, "no such endpoint");
out:
	pthread_mutex_unlock(&fk.lock);
	free(b->data);
	free(b);
	return ret;
}

/* On loopback only: the fake collector is nobody else's business. */
static void fake_start(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const union MHD_DaemonInfo *di;

	fk.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL,
				NULL, handle, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
				MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	assert_non_null(fk.d);
	di = MHD_get_daemon_info(fk.d, MHD_DAEMON_INFO_BIND_PORT);
	fk.port = di->port;
}

static void fake_stop(void)
{
	MHD_stop_daemon(fk.d);
	fk.d = NULL;
}

/* Sets a knob of the fake collector while its thread may be reading it. */
static void fk_set(int *field, int v)
{
	pthread_mutex_lock(&fk.lock);
	*field = v;
	pthread_mutex_unlock(&fk.lock);
}

static uint64_t fk_get(uint64_t *field)
{
	uint64_t v;

	pthread_mutex_lock(&fk.lock);
	v = *field;
	pthread_mutex_unlock(&fk.lock);
	return v;
}

/* Runs the shipper's part of the loop until *field reaches want or ms pass. */
static int pump_until(struct shipper *sh, uint64_t *field, uint64_t want, int ms)
{
	uint64_t end = now_mono_ns() / 1000000 + ms;
	struct pollfd p = { .fd = ship_fd(sh), .events = POLLIN };

	while (now_mono_ns() / 1000000 < end) {
		if (field && fk_get(field) >= want)
			return 0;
		poll(&p, 1, 20);
		ship_dispatch(sh);
	}
	return field && fk_get(field) >= want ? 0 : -ETIMEDOUT;
}

static void emit(struct shipper *sh, uint64_t *seq, int n)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;

	for (int i = 0; i < n; i++) {
		ev.type = (char *)"file_open";
		ev.seq = (*seq)++;
		ev.host = (char *)"testhost";
		assert_int_equal(ship_append(sh, &ev), 0);
	}
}

/* Opens a shipper with c and gets its first n events delivered. */
static struct shipper *open_sent(struct agent_config *c, uint64_t *seq, uint64_t n)
{
	struct shipper *sh;

	assert_int_equal(ship_open(&sh, c, "test", seq), 0);
	emit(sh, seq, n);
	assert_int_equal(pump_until(sh, &fk.events, n, 5000), 0);
	return sh;
}

static void config(struct agent_config *c)
{
	config_defaults(c);
	snprintf(c->collector_url, sizeof(c->collector_url), "http://127.0.0.1:%u", fk.port);
	snprintf(c->enroll_token, sizeof(c->enroll_token), "tok");
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", dir);
	c->batch_max_ms = 50;
	c->stats_interval_s = 1;
}

static int setup(void **state)
{
	char cmd[200];

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	snprintf(dir, sizeof(dir), "/tmp/aitrail-test-ship-%d", getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	fake_start(0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	if (fk.d)
		fake_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void assert_all_once(uint64_t n)
{
	pthread_mutex_lock(&fk.lock);
	for (uint64_t s = 1; s <= n; s++)
		if (!fk.seen[s])
			fail_msg("event %llu never arrived", (unsigned long long)s);
	assert_int_equal(fk.dups, 0);
	assert_int_equal(fk.bad_hash, 0);
	pthread_mutex_unlock(&fk.lock);
}

static void test_enroll_and_deliver(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	struct ship_stats st;
	uint64_t seq;
	char path[200], key[64] = "";
	struct stat sb;
	FILE *f;

	config(&c);
	c.batch_drain_max_events = 0; /* max_events alone bounds a batch */
	assert_int_equal(ship_open(&sh, &c, "test", &seq), 0);
	assert_int_equal(seq, 1);
	emit(sh, &seq, 2500);
	assert_int_equal(pump_until(sh, &fk.events, 2500, 10000), 0);
	assert_all_once(2500);
	assert_true(fk_get(&fk.batches) >= 3); /* at most 1000 per batch */
	assert_true(fk_get(&fk.largest_batch) <= 1000);
	assert_int_equal(fk_get(&fk.enrolls), 1);
	assert_int_equal(pump_until(sh, &fk.heartbeats, 1, 3000), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.events_sent, 2500);
	assert_int_equal(st.spool.events, 0);

	snprintf(path, sizeof(path), "%s/agent.key", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	f = fopen(path, "r");
	assert_non_null(fgets(key, sizeof(key), f));
	fclose(f);
	assert_string_equal(key, "key-1\n");
	ship_close(sh);

	/* a restart reuses the key and continues the numbering */
	assert_int_equal(ship_open(&sh, &c, "test", &seq), 0);
	assert_int_equal(seq, 2501);
	emit(sh, &seq, 10);
	assert_int_equal(pump_until(sh, &fk.events, 2510, 5000), 0);
	assert_int_equal(fk_get(&fk.enrolls), 1);
	assert_all_once(2510);
	ship_close(sh);
}

/* A backlog goes out in batches up to the drain limit, in order, each acknowledged once. */
static void test_drain_backlog(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	uint64_t seq;

	config(&c);
	c.batch_drain_max_events = 2000;
	assert_int_equal(ship_open(&sh, &c, "test", &seq), 0);
	/* all of it waits while the agent enrolls */
	emit(sh, &seq, 4500);
	assert_int_equal(pump_until(sh, &fk.events, 4500, 10000), 0);
	assert_all_once(4500);
	assert_int_equal(fk_get(&fk.largest_batch), 2000);
	assert_int_equal(fk_get(&fk.batches), 3);
	assert_int_equal(fk_get(&fk.bad_hash), 0);
	ship_close(sh);
}

static void test_outage_and_drain(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	struct ship_stats st;
	uint64_t seq;

	config(&c);
	sh = open_sent(&c, &seq, 100);

	/* 503s: nothing is lost, the spool holds it */
	fk_set(&fk.fail_status, 503);
	emit(sh, &seq, 1500);
	pump_until(sh, NULL, 0, 1200);
	ship_get_stats(sh, &st);
	assert_true(st.failures >= 1);
	assert_int_equal(st.spool.events, 1500);
	fk_set(&fk.fail_status, 0);
	assert_int_equal(pump_until(sh, &fk.events, 1600, 10000), 0);

	/* the collector process is gone: connection refused, then it comes back on its port */
	fake_stop();
	emit(sh, &seq, 3000);
	pump_until(sh, NULL, 0, 1500);
	ship_get_stats(sh, &st);
	assert_int_equal(st.connected, 0);
	assert_int_equal(st.spool.events, 3000);
	fake_start(fk.port);
	assert_int_equal(pump_until(sh, &fk.events, 4600, 40000), 0);
	assert_all_once(4600);
	assert_int_equal(fk_get(&fk.batch_dups), 0);
	ship_close(sh);
}

/* The collector stored a batch but its reply was lost: the resend is acknowledged as a duplicate. */
static void test_lost_reply(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	struct ship_stats st;
	uint64_t seq;

	config(&c);
	sh = open_sent(&c, &seq, 10);
	fk_set(&fk.lose_reply, 1);
	emit(sh, &seq, 10);
	assert_int_equal(pump_until(sh, &fk.batch_dups, 1, 5000), 0);
	emit(sh, &seq, 10);
	assert_int_equal(pump_until(sh, &fk.events, 30, 5000), 0);
	assert_all_once(30);
	ship_get_stats(sh, &st);
	assert_int_equal(st.spool.events, 0);
	ship_close(sh);
}

static void test_revoked_key(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	uint64_t seq;

	config(&c);
	sh = open_sent(&c, &seq, 10);
	/* the collector forgets the key: the agent enrolls again and carries on */
	pthread_mutex_lock(&fk.lock);
	snprintf(fk.key, sizeof(fk.key), "revoked");
	pthread_mutex_unlock(&fk.lock);
	emit(sh, &seq, 10);
	assert_int_equal(pump_until(sh, &fk.events, 20, 10000), 0);
	assert_int_equal(fk_get(&fk.enrolls), 2);
	assert_all_once(20);
	ship_close(sh);
}

static void test_no_token(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	struct ship_stats st;
	uint64_t seq;

	config(&c);
	c.enroll_token[0] = '\0';
	assert_int_equal(ship_open(&sh, &c, "test", &seq), 0);
	emit(sh, &seq, 10);
	pump_until(sh, NULL, 0, 300);
	ship_get_stats(sh, &st);
	assert_int_equal(st.spool.events, 10);
	assert_int_equal(fk_get(&fk.events), 0);
	assert_int_equal(ship_flush(sh, 200), -EAGAIN);
	ship_close(sh);
}

static void test_flush(void **state)
{
	struct agent_config c;
	struct shipper *sh;
	struct ship_stats st;
	uint64_t seq, t0;

	config(&c);
	c.batch_max_ms = 60000; /* only the flush sends the tail */
	assert_int_equal(ship_open(&sh, &c, "test", &seq), 0);
	emit(sh, &seq, 7);
	assert_int_equal(ship_flush(sh, 5000), 0);
	assert_int_equal(fk_get(&fk.events), 7);
	/* collector gone: shutdown does not hang on it, the spool keeps the events */
	fake_stop();
	emit(sh, &seq, 5);
	t0 = now_mono_ns() / 1000000;
	assert_int_equal(ship_flush(sh, 5000), -EAGAIN);
	assert_true(now_mono_ns() / 1000000 - t0 < 2000);
	ship_get_stats(sh, &st);
	assert_int_equal(st.spool.events, 5);
	ship_close(sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enroll_and_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage_and_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
	};

	log_init("test", getenv("TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERROR + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
