// SPDX-License-Identifier: Apache-2.0
/*
 * common/http_client.c against a loopback server (libmicrohttpd): what a request sends (method,
 * path, token, content headers, body), what a reply gives back (status, body, headers), the
 * reply cap, and the reason when nobody answers. Blocking and multi-handle use alike.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "common/http_client.h"
#include "common/log.h"

static struct MHD_Daemon *srv;
static char base[64];

/* What the server saw of the last request. */
static struct {
	char method[16], url[256], auth[128], ctype[64], cenc[32], inm[64], expect[32];
	char body[256];
	size_t body_len;
} seen;

static void copy_hdr(struct MHD_Connection *con, const char *name, char *dst, size_t len)
{
	const char *v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);

	snprintf(dst, len, "%s", v ? v : "");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static int started;
	const char *q = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "g");
	struct MHD_Response *r;
	enum MHD_Result ret;
	char out[128];
	size_t len;

	if (!*con_cls) {
		*con_cls = &started;
		memset(&seen, 0, sizeof(seen));
		return MHD_YES;
	}
	if (*upload_size) {
		len = *upload_size;
		if (seen.body_len + len < sizeof(seen.body))
			memcpy(seen.body + seen.body_len, upload, len);
		seen.body_len += len;
		*upload_size = 0;
		return MHD_YES;
	}
	snprintf(seen.method, sizeof(seen.method), "%s", method);
	snprintf(seen.url, sizeof(seen.url), "%s%s%s", url, q ? "?g=" : "", q ? q : "");
	copy_hdr(con, "Authorization", seen.auth, sizeof(seen.auth));
	copy_hdr(con, "Content-Type", seen.ctype, sizeof(seen.ctype));
	copy_hdr(con, "Content-Encoding", seen.cenc, sizeof(seen.cenc));
	copy_hdr(con, "If-None-Match", seen.inm, sizeof(seen.inm));
	copy_hdr(con, "Expect", seen.expect, sizeof(seen.expect));
	if (!strcmp(url, "/big")) {
		memset(out, 'x', sizeof(out));
		len = sizeof(out);
	} else {
		len = snprintf(out, sizeof(out), "hello %s", method);
	}
	r = MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "ETag", "\"v7\"");
	ret = MHD_queue_response(con, seen.inm[0] ? 304 : 200, r);
	MHD_destroy_response(r);
	return ret;
}

static int setup(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const union MHD_DaemonInfo *di;

	log_init("test_http_client", (enum log_level)(LOG_LVL_ERROR + 1));
	srv = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, NULL,
			       MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	if (!srv)
		return -1;
	di = MHD_get_daemon_info(srv, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", di->port);
	return 0;
}

static int teardown(void **state)
{
	MHD_stop_daemon(srv);
	return 0;
}

static void init(struct http_client *c, const char *url, size_t max_reply)
{
	assert_int_equal(http_init(c, &(struct http_opts){ .base_url = url, .user_agent = "t",
							   .connect_timeout_ms = 2000,
							   .timeout_ms = 5000,
							   .max_reply = max_reply }), 0);
}

static char big[2 << 20];

static void test_get_and_post(void **state)
{
	struct http_client c;
	struct http_request r = { .path = "/v1/x?g=ci", .bearer = "tok" };

	init(&c, base, 0);
	assert_int_equal(http_perform(&c, &r), 200);
	assert_string_equal(seen.method, "GET");
	assert_string_equal(seen.url, "/v1/x?g=ci");
	assert_string_equal(seen.auth, "Bearer tok");
	assert_string_equal(seen.ctype, "");
	assert_string_equal(c.reply, "hello GET");
	assert_int_equal(c.reply_len, 9);
	assert_string_equal(http_header(&c, "ETag"), "\"v7\"");

	r = (struct http_request){ .path = "/v1/events", .content_type = "application/x-protobuf",
				   .deflate = true, .body = "abc", .body_len = 3 };
	assert_int_equal(http_perform(&c, &r), 200);
	assert_string_equal(seen.method, "POST");
	assert_string_equal(seen.auth, ""); /* no token asked for, none sent */
	assert_string_equal(seen.ctype, "application/x-protobuf");
	assert_string_equal(seen.cenc, "deflate");
	assert_int_equal(seen.body_len, 3);
	assert_memory_equal(seen.body, "abc", 3);
	assert_string_equal(c.reply, "hello POST");

	/* a large body goes at once, without an Expect: 100-continue round trip */
	r.body = big;
	r.body_len = sizeof(big);
	assert_int_equal(http_perform(&c, &r), 200);
	assert_string_equal(seen.expect, "");
	assert_int_equal(seen.body_len, sizeof(big));

	r = (struct http_request){ .method = "DELETE", .path = "/v1/policy" };
	assert_int_equal(http_perform(&c, &r), 200);
	assert_string_equal(seen.method, "DELETE");

	r = (struct http_request){ .path = "/v1/policy", .if_none_match = "\"v7\"" };
	assert_int_equal(http_perform(&c, &r), 304);
	assert_string_equal(seen.inm, "\"v7\"");
	assert_int_equal(c.reply_len, 0);
	http_cleanup(&c);
}

static void test_reply_cap(void **state)
{
	struct http_client c;
	struct http_request r = { .path = "/big" };

	init(&c, base, 100);
	assert_int_equal(http_perform(&c, &r), 0);
	assert_true(c.reply_over);
	assert_string_equal(http_reason(&c), "reply larger than 100 bytes");
	r.path = "/small";
	assert_int_equal(http_perform(&c, &r), 200);
	assert_false(c.reply_over);
	http_cleanup(&c);
}

static void test_unreachable(void **state)
{
	struct http_client c;
	struct http_request r = { .path = "/v1/x" };

	/* port 1 on loopback: nobody listens */
	init(&c, "http://127.0.0.1:1", 0);
	assert_int_equal(http_perform(&c, &r), 0);
	assert_non_null(strstr(http_reason(&c), "127.0.0.1"));
	assert_false(http_cert_refused(&c));
	http_cleanup(&c);
	init(&c, "file:///etc", 0); /* only http and https, ever */
	r.path = "/passwd";
	assert_int_equal(http_perform(&c, &r), 0);
	http_cleanup(&c);
}

static void test_multi(void **state)
{
	struct http_client c;
	struct http_request r = { .path = "/m", .bearer = "k" };
	CURLM *m = curl_multi_init();
	CURLMsg *msg;
	long status = -1;
	int running = 1, left;

	init(&c, base, 0);
	assert_int_equal(http_start(&c, m, &r), 0);
	while (status < 0) {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE)
				status = http_finish(&c, msg->data.result);
		if (status < 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	assert_int_equal(status, 200);
	assert_string_equal(seen.auth, "Bearer k");
	assert_string_equal(c.reply, "hello GET");
	assert_null(c.multi);
	http_cleanup(&c);
	curl_multi_cleanup(m);
}

static void test_escape(void **state)
{
	char *e = http_escape("a b/c&d");

	assert_string_equal(e, "a%20b%2Fc%26d");
	curl_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_and_post),
		cmocka_unit_test(test_reply_cap),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_multi),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
