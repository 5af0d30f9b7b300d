// SPDX-License-Identifier: Apache-2.0
/* net_close records: payload bytes out of the kernel's sequence-space counters, text fields. */
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

#include "agent/arena.h"
#include "agent/netclass.h"
#include "agent/netclose_decode.h"
#include "bpf/net.h"

static struct arena ar;

static void rec_v4(struct at_net_close *r)
{
	memset(r, 0, sizeof(*r));
	r->hdr.type = AT_REC_NET_CLOSE;
	r->hdr.size = sizeof(*r);
	r->hdr.ts = 5000000000ULL;
	r->start_ts = 2000000000ULL;
	r->family = AF_INET;
	r->dport = 443;
	r->sport = 40000;
	inet_pton(AF_INET, "10.1.2.3", r->daddr);
	inet_pton(AF_INET, "10.0.0.9", r->saddr);
}

static void test_closed(void **state)
{
	Aitrail__V1__NetClose nc = AITRAIL__V1__NET_CLOSE__INIT;
	struct at_net_close r;

	rec_v4(&r);
	/* 1000 bytes out + SYN + our acked FIN; 70 in + the peer's FIN */
	r.bytes_acked = 1002;
	r.bytes_received = 71;
	r.bytes_sent = 1400; /* a retransmission */
	r.total_retrans = 1;
	r.cflags = AT_NC_F_FINAL | AT_NC_F_FIN_OUT | AT_NC_F_FIN_IN;
	assert_int_equal(netclose_fill(&r, sizeof(r), &nc, &ar), 0);
	assert_string_equal(nc.family, "inet");
	assert_string_equal(nc.proto, "tcp");
	assert_string_equal(nc.daddr, "10.1.2.3");
	assert_string_equal(nc.saddr, "10.0.0.9");
	assert_int_equal(nc.dport, 443);
	assert_int_equal(nc.sport, 40000);
	assert_int_equal(nc.bytes_sent, 1000);
	assert_int_equal(nc.bytes_received, 70);
	assert_int_equal(nc.bytes_sent_total, 1400);
	assert_int_equal(nc.segs_retrans, 1);
	assert_int_equal(nc.duration_ns, 3000000000ULL);
	assert_true(nc.final);
}

static void test_open_and_reset(void **state)
{
	Aitrail__V1__NetClose nc = AITRAIL__V1__NET_CLOSE__INIT;
	struct at_net_close r;

	/* still open: only the SYN is in bytes_acked */
	rec_v4(&r);
	r.bytes_acked = 11;
	r.bytes_received = 20;
	assert_int_equal(netclose_fill(&r, sizeof(r), &nc, &ar), 0);
	assert_int_equal(nc.bytes_sent, 10);
	assert_int_equal(nc.bytes_received, 20);
	assert_false(nc.final);

	/* reset before anything was acked: nothing goes negative */
	rec_v4(&r);
	r.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", r.daddr);
	r.cflags = AT_NC_F_FINAL | AT_NC_F_FIN_OUT | AT_NC_F_FIN_IN;
	r.hdr.ts = r.start_ts - 1; /* clocks never go back, but a bad record must not wrap */
	assert_int_equal(netclose_fill(&r, sizeof(r), &nc, &ar), 0);
	assert_string_equal(nc.family, "inet6");
	assert_string_equal(nc.daddr, "2001:db8::1");
	assert_int_equal(nc.bytes_sent, 0);
	assert_int_equal(nc.bytes_received, 0);
	assert_int_equal(nc.duration_ns, 0);
}

/* A named connect classifies and leaves its name for the close of the same connection only. */
static void test_join(void **state)
{
	Aitrail__V1__NetConnect nc = AITRAIL__V1__NET_CONNECT__INIT;
	struct at_net_connect c = { 0 };
	struct at_net_close r;
	const char *src = NULL, *name;

	rec_v4(&r);
	r.hdr.root_pid = 77;
	c.hdr.root_pid = 77;
	c.family = AF_INET;
	c.dport = r.dport;
	c.sport = r.sport;
	memcpy(c.daddr, r.daddr, 16);
	nc.dst_name = "api.anthropic.com";
	nc.name_source = "tls_sni";
	netclass_on_connect(&c.hdr, &c, &nc);
	assert_string_equal(nc.dst_class, "model_vendor");
	assert_string_equal(nc.vendor, "anthropic");
	name = netclass_name(77, AF_INET, r.dport, r.sport, r.daddr, &src);
	assert_non_null(name);
	assert_string_equal(name, "api.anthropic.com");
	assert_string_equal(src, "tls_sni");
	/* another session, or another local port, is another connection */
	assert_null(netclass_name(78, AF_INET, r.dport, r.sport, r.daddr, &src));
	assert_null(netclass_name(77, AF_INET, r.dport, r.sport + 1, r.daddr, &src));

	/* an unnamed connect gets no class */
	nc = (Aitrail__V1__NetConnect)AITRAIL__V1__NET_CONNECT__INIT;
	netclass_on_connect(&c.hdr, &c, &nc);
	assert_string_equal(nc.dst_class, "");
	assert_string_equal(nc.vendor, "");
}

static void test_bad(void **state)
{
	Aitrail__V1__NetClose nc = AITRAIL__V1__NET_CLOSE__INIT;
	struct at_net_close r;

	rec_v4(&r);
	assert_int_equal(netclose_fill(&r, sizeof(r) - 8, &nc, &ar), -EINVAL);
	r.family = AF_UNIX;
	assert_int_equal(netclose_fill(&r, sizeof(r), &nc, &ar), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed),
		cmocka_unit_test(test_open_and_reset),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_bad),
	};

	int ret;

	arena_init(&ar, 4096);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	arena_free(&ar);
	return ret;
}
