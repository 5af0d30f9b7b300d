// SPDX-License-Identifier: Apache-2.0
/* Names from a connection's first bytes: TLS SNI, HTTP CONNECT, HTTP Host; and their records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/net_decode.h"
#include "agent/dispatch.h"
#include "agent/module.h"
#include "agent/netname.h"

/* The modules' handlers, reached through their rows as agent/dispatch.c reaches them. */
#define net_decode_connect_data(...) dispatch_find(AT_REC_NET_CONNECT_DATA)->decode(__VA_ARGS__)

/* A ClientHello as a TLS 1.3 client sends it: an extension before server_name, one after. */
static size_t client_hello(uint8_t *b, const char *host)
{
	size_t hl = strlen(host), o = 0, hs, ext, rec;

	b[o++] = 0x16, b[o++] = 0x03, b[o++] = 0x01;
	rec = o, o += 2;
	b[o++] = 0x01;
	hs = o, o += 3;
	b[o++] = 0x03, b[o++] = 0x03;
	memset(b + o, 0xab, 32), o += 32;
	b[o++] = 32, memset(b + o, 0xcd, 32), o += 32;         /* session id */
	b[o++] = 0, b[o++] = 4, b[o++] = 0x13, b[o++] = 0x01, b[o++] = 0x13, b[o++] = 0x02;
	b[o++] = 1, b[o++] = 0;                                /* compression: null */
	ext = o, o += 2;
	b[o++] = 0x00, b[o++] = 0x17, b[o++] = 0, b[o++] = 0;  /* extended_master_secret */
	b[o++] = 0x00, b[o++] = 0x00;                          /* server_name */
	b[o++] = 0, b[o++] = hl + 5;
	b[o++] = 0, b[o++] = hl + 3;
	b[o++] = 0, b[o++] = 0, b[o++] = hl;
	memcpy(b + o, host, hl), o += hl;
	b[o++] = 0x00, b[o++] = 0x2b, b[o++] = 0, b[o++] = 3;  /* supported_versions */
	b[o++] = 2, b[o++] = 0x03, b[o++] = 0x04;
	b[ext] = (o - ext - 2) >> 8, b[ext + 1] = (o - ext - 2) & 0xff;
	b[hs] = 0, b[hs + 1] = (o - hs - 3) >> 8, b[hs + 2] = (o - hs - 3) & 0xff;
	b[rec] = (o - rec - 2) >> 8, b[rec + 1] = (o - rec - 2) & 0xff;
	return o;
}

static void test_sni(void **state)
{
	uint8_t b[512];
	char out[256];
	size_t n = client_hello(b, "api.anthropic.com");

	assert_string_equal(netname_from_data(b, n, out, sizeof(out)), "tls_sni");
	assert_string_equal(out, "api.anthropic.com");
	/* cut inside the name: no name rather than half of one */
	assert_null(netname_from_data(b, n - 12, out, sizeof(out)));
	/* a ServerHello (type 2) is not asked about */
	b[5] = 0x02;
	assert_null(netname_from_data(b, n, out, sizeof(out)));
}

static void test_http(void **state)
{
	static const char c1[] = "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n";
	static const char c2[] = "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n";
	static const char g1[] = "GET /simple/ HTTP/1.1\r\nUser-Agent: pip\r\nhost: pypi.org\r\n\r\n";
	static const char g2[] = "POST /v1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
	static const char g3[] = "GET / HTTP/1.1\r\nHost: cut.exam";
	static const char bin[] = "\x00\x01\x02SSH-2.0-OpenSSH";
	char out[256];

	assert_string_equal(netname_from_data((const uint8_t *)c1, strlen(c1), out, sizeof(out)),
			    "http_connect");
	assert_string_equal(out, "api.openai.com");
	assert_string_equal(netname_from_data((const uint8_t *)c2, strlen(c2), out, sizeof(out)),
			    "http_connect");
	assert_string_equal(out, "2001:db8::1");
	assert_string_equal(netname_from_data((const uint8_t *)g1, strlen(g1), out, sizeof(out)),
			    "http_host");
	assert_string_equal(out, "pypi.org");
	assert_string_equal(netname_from_data((const uint8_t *)g2, strlen(g2), out, sizeof(out)),
			    "http_host");
	assert_string_equal(out, "127.0.0.1");
	assert_null(netname_from_data((const uint8_t *)g3, strlen(g3), out, sizeof(out)));
	assert_null(netname_from_data((const uint8_t *)bin, sizeof(bin) - 1, out, sizeof(out)));
	assert_null(netname_from_data((const uint8_t *)"", 0, out, sizeof(out)));
}

static void test_record(void **state)
{
	struct at_net_connect_data *d = calloc(1, sizeof(*d));
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct arena ar;
	size_t len;

	arena_init(&ar, 0);
	d->c.hdr.type = AT_REC_NET_CONNECT_DATA;
	d->c.family = AF_INET;
	d->c.sock_type = SOCK_STREAM;
	d->c.protocol = 6;
	d->c.syscall = AT_NET_SYS_CONNECT;
	d->c.dport = 443;
	inet_pton(AF_INET, "10.0.0.9", d->c.daddr);
	d->data_len = client_hello(d->data, "github.com");
	d->write_len = d->data_len;
	len = offsetof(struct at_net_connect_data, data) + d->data_len;
	assert_int_equal(net_decode_connect_data(NULL, &d->c.hdr, d, len, &ev, &ar), 0);
	assert_string_equal(ev.net_connect->daddr, "10.0.0.9");
	assert_string_equal(ev.net_connect->dst_name, "github.com");
	assert_string_equal(ev.net_connect->name_source, "tls_sni");
	/* lengths that do not add up are a decode error, not a guess */
	d->data_len = AT_NET_DATA_MAX + 1;
	assert_int_equal(net_decode_connect_data(NULL, &d->c.hdr, d, len, &ev, &ar), -EINVAL);
	d->data_len = 200;
	assert_int_equal(net_decode_connect_data(NULL, &d->c.hdr, d, len - 200, &ev, &ar),
			 -EINVAL);
	free(d);
	arena_free(&ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
