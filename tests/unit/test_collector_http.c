// SPDX-License-Identifier: Apache-2.0
/*
 * The collector's HTTP server in process on an ephemeral loopback port, driven with libcurl
 * like an agent and an operator would: enroll, batches, duplicates, every kind of bad body,
 * wrong and revoked keys, and the query API. After each abuse it must still serve.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <zlib.h>

#include "coll_batch.h"
#include "common/log.h"
#include "collector/server.h"
#include "collector/store.h"

#define SEC 1000000000ULL

struct fx {
	char dir[64], path[128], base[64];
	struct store *st;
	struct server *srv;
	struct tb t;
	char key[128], agent_id[64];
};

struct resp {
	long status;
	char *body;
	size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

/* One request; body NULL = GET. extra is one more header or NULL. */
static struct resp req(struct fx *f, const char *path, const char *bearer, const void *body,
		       size_t len, const char *extra)
{
	struct resp r = { 0 };
	struct curl_slist *h = NULL;
	char url[256], auth[300];
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s%s", f->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (bearer) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		h = curl_slist_append(h, auth);
	}
	if (extra)
		h = curl_slist_append(h, extra);
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/x-protobuf");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

/* A deflated protobuf POST, as the agent sends them. */
static struct resp post_pb(struct fx *f, const char *path, const char *bearer,
			   const ProtobufCMessage *m)
{
	uint8_t *buf;
	size_t len;
	struct resp r;

	assert_int_equal(wire_pack(m, 1, &buf, &len), 0);
	r = req(f, path, bearer, buf, len, "Content-Encoding: deflate");
	free(buf);
	return r;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct collector_opts o;
	Aitrail__V1__EnrollRequest er = AITRAIL__V1__ENROLL_REQUEST__INIT;
	Aitrail__V1__AgentInfo ai = AITRAIL__V1__AGENT_INFO__INIT;
	Aitrail__V1__EnrollReply *rep;
	struct resp r;

	log_init("test", LOG_LVL_ERROR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aitrail-http-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/c.db", f->dir);
	assert_int_equal(store_open(f->path, &f->st), 0);
	collector_opts_defaults(&o);
	snprintf(o.listen, sizeof(o.listen), "127.0.0.1:0");
	snprintf(o.enroll_token, sizeof(o.enroll_token), "enroll-secret");
	snprintf(o.admin_token, sizeof(o.admin_token), "admin-secret");
	o.max_body_bytes = 64 << 10;
	o.max_inflated_bytes = 1 << 20;
	assert_int_equal(server_start(f->st, &o, &f->srv), 0);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", server_port(f->srv));

	ai.hostname = (char *)"devbox1";
	ai.boot_id = (char *)"boot-a";
	er.agent = &ai;
	er.token = (char *)"enroll-secret";
	r = post_pb(f, "/v1/enroll", NULL, &er.base);
	assert_int_equal(r.status, 200);
	rep = aitrail__v1__enroll_reply__unpack(NULL, r.len, (uint8_t *)r.body);
	assert_non_null(rep);
	snprintf(f->key, sizeof(f->key), "%s", rep->agent_key);
	snprintf(f->agent_id, sizeof(f->agent_id), "%s", rep->agent_id);
	assert_true(strlen(f->key) >= 32);
	aitrail__v1__enroll_reply__free_unpacked(rep, NULL);
	free(r.body);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];

	server_stop(f->srv);
	store_close(f->st);
	tb_free(&f->t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static Aitrail__V1__Batch *batch(struct fx *f, uint64_t seq, const uint8_t *prev, size_t n)
{
	Aitrail__V1__Event **ev = tb_alloc(&f->t, (n + 1) * sizeof(*ev));

	for (size_t i = 0; i < n; i++) {
		ev[i] = tb_event(&f->t, "file_write", 1764300000000000000ULL + i * SEC, "s-http",
				 "claude", 100, 1, "claude", (seq - 1) * n + i + 1);
		tb_file(&f->t, ev[i], "/home/alice/proj/file.txt");
	}
	return tb_batch(&f->t, f->agent_id, "boot-a", seq, prev, ev, n);
}

static Aitrail__V1__BatchAck *ack_of(struct resp *r)
{
	Aitrail__V1__BatchAck *a = aitrail__v1__batch_ack__unpack(NULL, r->len, (uint8_t *)r->body);

	assert_non_null(a);
	return a;
}

/* The message of an ErrorReply body, checked to carry the status it came with. */
static void assert_error(struct resp *r, long status, const char *needle)
{
	Aitrail__V1__ErrorReply *e;

	assert_int_equal(r->status, status);
	e = aitrail__v1__error_reply__unpack(NULL, r->len, (uint8_t *)r->body);
	assert_non_null(e);
	assert_int_equal(e->code, status);
	if (!strstr(e->message, needle))
		fail_msg("error '%s' does not mention '%s'", e->message, needle);
	aitrail__v1__error_reply__free_unpacked(e, NULL);
	free(r->body);
}

static void assert_serving(struct fx *f)
{
	struct resp r = req(f, "/healthz", NULL, NULL, 0, NULL);

	assert_int_equal(r.status, 200);
	free(r.body);
}

static uint64_t rejects(struct fx *f, enum reject_reason why)
{
	struct server_counters c;

	server_counters(f->srv, &c);
	return c.rejects[why];
}

static json_object *api(struct fx *f, const char *path, long want)
{
	struct resp r = req(f, path, "admin-secret", NULL, 0, NULL);
	json_object *o;

	assert_int_equal(r.status, want);
	o = json_tokener_parse(r.body);
	assert_non_null(o);
	free(r.body);
	return o;
}

static void test_batch_and_duplicate(void **state)
{
	struct fx *f = *state;
	Aitrail__V1__Batch *b = batch(f, 1, NULL, 50);
	Aitrail__V1__BatchAck *a;
	struct server_counters c;
	struct resp r;
	json_object *o;

	r = post_pb(f, "/v1/events", f->key, &b->base);
	assert_int_equal(r.status, 200);
	a = ack_of(&r);
	assert_int_equal(a->seq, 1);
	assert_string_equal(a->status, "stored");
	assert_int_equal(a->stored, 50);
	aitrail__v1__batch_ack__free_unpacked(a, NULL);
	free(r.body);

	r = post_pb(f, "/v1/events", f->key, &b->base);
	assert_int_equal(r.status, 200);
	a = ack_of(&r);
	assert_string_equal(a->status, "duplicate");
	assert_int_equal(a->stored, 0);
	aitrail__v1__batch_ack__free_unpacked(a, NULL);
	free(r.body);

	o = api(f, "/v1/sessions/s-http/events", 200);
	assert_int_equal(json_object_array_length(json_object_object_get(o, "events")), 50);
	json_object_put(o);
	server_counters(f->srv, &c);
	assert_int_equal(c.batches_stored, 1);
	assert_int_equal(c.batches_duplicate, 1);
	assert_int_equal(c.events_stored, 50);
}

static void test_bad_bodies(void **state)
{
	struct fx *f = *state;
	Aitrail__V1__Batch *b = batch(f, 1, NULL, 20);
	uint8_t *buf, junk[300];
	size_t len;
	struct resp r;
	char *zeros;

	/* deflate is fine, the protobuf inside is not */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(0xff - i);
	assert_int_equal(wire_deflate(junk, sizeof(junk), &buf, &len), 0);
	r = req(f, "/v1/events", f->key, buf, len, "Content-Encoding: deflate");
	free(buf);
	assert_error(&r, 400, "not a Batch");
	assert_int_equal(rejects(f, REJ_MALFORMED), 1);
	assert_serving(f);

	/* a body cut short in transit */
	assert_int_equal(wire_pack(&b->base, 1, &buf, &len), 0);
	r = req(f, "/v1/events", f->key, buf, len / 2, "Content-Encoding: deflate");
	free(buf);
	assert_error(&r, 400, "truncated");
	assert_int_equal(rejects(f, REJ_BAD_ENCODING), 1);
	assert_serving(f);

	/* larger than the 64 KiB body cap before any inflating */
	buf = calloc(1, 100 << 10);
	r = req(f, "/v1/events", f->key, buf, 100 << 10, "Content-Encoding: deflate");
	free(buf);
	assert_int_equal(r.status, 413);
	free(r.body);
	assert_int_equal(rejects(f, REJ_TOO_LARGE), 1);
	assert_serving(f);

	/* a zip bomb: 30 MiB of zeros in about 30 KiB, stopped at the 1 MiB cap */
	zeros = calloc(1, 30 << 20);
	len = compressBound(30 << 20);
	buf = malloc(len);
	assert_int_equal(compress2(buf, (uLongf *)&len, (uint8_t *)zeros, 30 << 20, 9), Z_OK);
	free(zeros);
	assert_true(len < (64 << 10));
	r = req(f, "/v1/events", f->key, buf, len, "Content-Encoding: deflate");
	free(buf);
	assert_error(&r, 413, "cap");
	assert_int_equal(rejects(f, REJ_INFLATE_TOO_LARGE), 1);
	assert_serving(f);

	/* a valid Batch with an invalid version */
	b->version = 7;
	r = post_pb(f, "/v1/events", f->key, &b->base);
	assert_error(&r, 400, "wire version 7");
	assert_int_equal(rejects(f, REJ_INVALID), 1);
	b->version = 1;

	/* nothing of it was stored, and the good batch still goes in */
	r = post_pb(f, "/v1/events", f->key, &b->base);
	assert_int_equal(r.status, 200);
	free(r.body);
	assert_serving(f);
}

static void test_auth(void **state)
{
	struct fx *f = *state;
	Aitrail__V1__EnrollRequest er = AITRAIL__V1__ENROLL_REQUEST__INIT;
	Aitrail__V1__Heartbeat hb = AITRAIL__V1__HEARTBEAT__INIT;
	Aitrail__V1__Batch *b = batch(f, 1, NULL, 5);
	char path[128];
	struct resp r;
	json_object *o;

	er.token = (char *)"guess";
	r = post_pb(f, "/v1/enroll", NULL, &er.base);
	assert_error(&r, 401, "wrong enroll token");
	r = post_pb(f, "/v1/events", NULL, &b->base);
	assert_error(&r, 401, "missing Authorization");
	r = post_pb(f, "/v1/events", "0123456789abcdef0123456789abcdef", &b->base);
	assert_error(&r, 401, "unknown agent key");
	assert_int_equal(rejects(f, REJ_UNAUTHORIZED), 3);

	hb.interval_s = 15;
	r = post_pb(f, "/v1/heartbeat", f->key, &hb.base);
	assert_int_equal(r.status, 200);
	free(r.body);

	/* the query API wants the admin token, not an agent key */
	r = req(f, "/v1/agents", f->key, NULL, 0, NULL);
	assert_int_equal(r.status, 401);
	free(r.body);
	o = api(f, "/v1/agents", 200);
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(json_object_object_get(o, "agents"), 0), "id")),
		f->agent_id);
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_array_get_idx(json_object_object_get(o, "agents"), 0),
		"heartbeat_interval_s")), 15);
	json_object_put(o);

	snprintf(path, sizeof(path), "/v1/agents/%s/revoke", f->agent_id);
	r = req(f, path, "admin-secret", "", 0, NULL);
	assert_int_equal(r.status, 200);
	free(r.body);
	r = post_pb(f, "/v1/events", f->key, &b->base);
	assert_error(&r, 401, "revoked");
	r = post_pb(f, "/v1/heartbeat", f->key, &hb.base);
	assert_error(&r, 401, "revoked");
	assert_int_equal(rejects(f, REJ_REVOKED), 2);
	r = req(f, "/v1/agents/ag-nope/revoke", "admin-secret", "", 0, NULL);
	assert_int_equal(r.status, 404);
	free(r.body);
	assert_serving(f);
}

static void test_query_api_errors(void **state)
{
	struct fx *f = *state;
	json_object *o;

	o = api(f, "/v1/sessions?since=yesterday", 400);
	assert_non_null(strstr(json_object_get_string(json_object_object_get(o, "error")),
			       "since=yesterday"));
	json_object_put(o);
	o = api(f, "/v1/sessions?limit=0", 400);
	json_object_put(o);
	o = api(f, "/v1/nothing", 404);
	json_object_put(o);
	o = api(f, "/v1/sessions?since=2h&tool=claude", 200);
	assert_int_equal(json_object_array_length(json_object_object_get(o, "sessions")), 0);
	json_object_put(o);
	o = api(f, "/v1/stats", 200);
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_object_get(o, "rejects"), "bad_request")), 2);
	json_object_put(o);
}

/* Damaged bodies, seeded: every answer is 200 or a 4xx, never a crash or a 5xx. */
static void test_mutated_bodies(void **state)
{
	struct fx *f = *state;
	Aitrail__V1__Batch *b = batch(f, 1, NULL, 30);
	uint8_t *packed, *deflated, *m;
	size_t plen, dlen;
	unsigned seed = 12345;
	int ok = 0, rejected = 0;

	assert_int_equal(wire_pack(&b->base, 0, &packed, &plen), 0);
	assert_int_equal(wire_pack(&b->base, 1, &deflated, &dlen), 0);
	for (int i = 0; i < 400; i++) {
		bool raw = i % 2;
		size_t len = raw ? plen : dlen;
		struct resp r;

		m = malloc(len);
		memcpy(m, raw ? packed : deflated, len);
		for (int k = 0; k < 1 + i % 4; k++)
			m[rand_r(&seed) % len] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		if (i % 7 == 0)
			len = rand_r(&seed) % len; /* and cut short */
		r = req(f, "/v1/events", f->key, m, len, raw ? NULL : "Content-Encoding: deflate");
		free(m);
		if (r.status == 200)
			ok++;
		else if (r.status >= 400 && r.status < 500)
			rejected++;
		else
			fail_msg("mutated body %d: HTTP %ld", i, r.status);
		free(r.body);
	}
	free(packed);
	free(deflated);
	assert_int_equal(ok + rejected, 400);
	assert_true(rejected > 100);
	assert_serving(f);
}

/*
 * The memory budget for bodies of all connections: a slow client holding most of it makes the
 * next request wait for a 503 (the agent retries), and once it is gone requests go through.
 */
static void test_busy(void **state)
{
	struct fx *f = *state, g = { 0 };
	struct collector_opts o;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char hdr[256], path[160], *chunk;
	int fd;
	struct resp r;

	snprintf(path, sizeof(path), "%s/busy.db", f->dir);
	assert_int_equal(store_open(path, &g.st), 0);
	collector_opts_defaults(&o);
	snprintf(o.listen, sizeof(o.listen), "127.0.0.1:0");
	o.max_body_bytes = 64 << 10;
	o.max_buffered_bytes = 64 << 10;
	assert_int_equal(server_start(g.st, &o, &g.srv), 0);
	snprintf(g.base, sizeof(g.base), "http://127.0.0.1:%u", server_port(g.srv));

	/* a client that announces 60 KiB and sends 40 KiB of it, then stalls */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons(server_port(g.srv));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(hdr, sizeof(hdr), "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
		 "application/x-protobuf\r\nContent-Length: %d\r\n\r\n", 60 << 10);
	assert_int_equal(write(fd, hdr, strlen(hdr)), (ssize_t)strlen(hdr));
	chunk = calloc(1, 40 << 10);
	assert_int_equal(write(fd, chunk, 40 << 10), 40 << 10);
	usleep(300 * 1000);

	r = req(&g, "/v1/events", "k", chunk, 30 << 10, NULL);
	assert_error(&r, 503, "busy");
	close(fd);
	usleep(300 * 1000);
	r = req(&g, "/v1/events", "k", chunk, 30 << 10, NULL);
	assert_error(&r, 401, "unknown agent key"); /* through the budget, on to authentication */
	assert_int_equal(rejects(&g, REJ_BUSY), 1);
	free(chunk);
	server_stop(g.srv);
	store_close(g.st);
}

/* --admin-listen: agents and the query API on separate listeners over one database. */
static void test_admin_listener(void **state)
{
	struct fx *f = *state, g = { 0 }, adm = { 0 };
	Aitrail__V1__EnrollRequest er = AITRAIL__V1__ENROLL_REQUEST__INIT;
	struct collector_opts o;
	struct store *st2;
	char path[160];
	json_object *j;
	struct resp r;

	snprintf(path, sizeof(path), "%s/split.db", f->dir);
	assert_int_equal(store_open(path, &g.st), 0);
	assert_int_equal(store_open(path, &st2), 0);
	collector_opts_defaults(&o);
	snprintf(o.listen, sizeof(o.listen), "127.0.0.1:0");
	snprintf(o.admin_listen, sizeof(o.admin_listen), "127.0.0.1:0");
	snprintf(o.enroll_token, sizeof(o.enroll_token), "enroll-secret");
	snprintf(o.admin_token, sizeof(o.admin_token), "admin-secret");
	assert_int_equal(server_start(g.st, &o, &g.srv), 0);
	assert_int_equal(server_start_admin(st2, &o, g.srv, &adm.srv), 0);
	snprintf(g.base, sizeof(g.base), "http://127.0.0.1:%u", server_port(g.srv));
	snprintf(adm.base, sizeof(adm.base), "http://127.0.0.1:%u", server_port(adm.srv));
	assert_int_not_equal(server_port(g.srv), server_port(adm.srv));

	er.token = (char *)"enroll-secret";
	r = post_pb(&g, "/v1/enroll", NULL, &er.base);
	assert_int_equal(r.status, 200);
	free(r.body);
	r = post_pb(&adm, "/v1/enroll", NULL, &er.base);
	assert_error(&r, 404, "agents' listener");
	r = req(&g, "/v1/agents", "admin-secret", NULL, 0, NULL);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "admin-listen"));
	free(r.body);

	/* the agent enrolled on one listener is seen through the other */
	j = api(&adm, "/v1/agents", 200);
	assert_int_equal(json_object_array_length(json_object_object_get(j, "agents")), 1);
	json_object_put(j);
	j = api(&adm, "/v1/stats", 200);
	assert_int_equal(json_object_get_int(json_object_object_get(j, "enrolled")), 1);
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_object_get(j, "api"), "queries")), 1);
	json_object_put(j);
	server_stop(adm.srv);
	server_stop(g.srv);
	store_close(st2);
	store_close(g.st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_api_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutated_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_listener, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
