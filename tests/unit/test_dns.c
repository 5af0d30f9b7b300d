// SPDX-License-Identifier: Apache-2.0
/* DNS message parsing, the per-session name cache and the dns_query/dns_answer records. */
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

#include "agent/dns_decode.h"
#include "agent/dispatch.h"
#include "agent/module.h"
#include "agent/net_decode.h"

/* The modules' handlers, reached through their rows as agent/dispatch.c reaches them. */
#define dns_decode_msg(...) dispatch_find(AT_REC_DNS_MSG)->decode(__VA_ARGS__)
#define net_decode_connect(...) dispatch_find(AT_REC_NET_CONNECT)->decode(__VA_ARGS__)

struct msgbuf {
	uint8_t b[512];
	size_t n;
};

static void put(struct msgbuf *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct msgbuf *m, unsigned int v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(m, b, 2);
}

static void put_name(struct msgbuf *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		uint8_t lb = l;

		put(m, &lb, 1);
		put(m, name, l);
		name += l + (dot ? 1 : 0);
	}
	put(m, "", 1);
}

static void header(struct msgbuf *m, unsigned int id, unsigned int flags, unsigned int an)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}

static void rr(struct msgbuf *m, unsigned int type, const void *rdata, unsigned int rdlen)
{
	put16(m, 0xc00c); /* owner: the question's name */
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 60);
	put16(m, rdlen);
	put(m, rdata, rdlen);
}

/* An answer for api.example.com: CNAME edge.example.net, then its A and AAAA. */
static void build_answer(struct msgbuf *m, unsigned int rcode)
{
	struct msgbuf cname = { .n = 0 };
	uint8_t v4[4], v6[16];

	header(m, 0xbeef, 0x8180 | rcode, 3);
	put_name(m, "api.example.com");
	put16(m, 1);
	put16(m, 1);
	put_name(&cname, "edge.example.net");
	rr(m, 5, cname.b, cname.n);
	inet_pton(AF_INET, "10.1.2.3", v4);
	rr(m, 1, v4, 4);
	inet_pton(AF_INET6, "2001:db8::7", v6);
	rr(m, 28, v6, 16);
}

static void test_query(void **state)
{
	struct dns_parsed *d = malloc(sizeof(*d));
	struct msgbuf m;

	header(&m, 0x1234, 0x0100, 0);
	put_name(&m, "api.anthropic.com");
	put16(&m, 28);
	put16(&m, 1);
	assert_int_equal(dns_parse(m.b, m.n, d), 0);
	assert_false(d->response);
	assert_int_equal(d->id, 0x1234);
	assert_string_equal(d->qname, "api.anthropic.com");
	assert_int_equal(d->qtype, 28);
	assert_int_equal(d->n_answers, 0);
	assert_false(d->incomplete);
	free(d);
}

static void test_answer(void **state)
{
	struct dns_parsed *d = malloc(sizeof(*d));
	struct msgbuf m;
	char buf[16];

	build_answer(&m, 0);
	assert_int_equal(dns_parse(m.b, m.n, d), 0);
	assert_true(d->response);
	assert_string_equal(dns_rcode_name(d->rcode, buf, sizeof(buf)), "NOERROR");
	assert_int_equal(d->n_answers, 3);
	assert_string_equal(d->answers[0], "api.example.com CNAME edge.example.net");
	assert_string_equal(d->answers[1], "api.example.com A 10.1.2.3");
	assert_string_equal(d->answers[2], "api.example.com AAAA 2001:db8::7");
	assert_int_equal(d->n_addrs, 2);
	assert_int_equal(d->addrs[0].family, AF_INET);
	assert_int_equal(d->addrs[1].family, AF_INET6);
	free(d);
}

static void test_cut_answer(void **state)
{
	struct dns_parsed *d = malloc(sizeof(*d));
	struct msgbuf m;

	build_answer(&m, 0);
	/* the AAAA record loses its last bytes: the two before it still count */
	assert_int_equal(dns_parse(m.b, m.n - 5, d), 0);
	assert_true(d->incomplete);
	assert_int_equal(d->n_answers, 2);
	/* not even a whole question */
	assert_int_equal(dns_parse(m.b, 20, d), -EBADMSG);
	assert_int_equal(dns_parse(m.b, 5, d), -EBADMSG);
	free(d);
}

static void test_pointer_loop(void **state)
{
	struct dns_parsed *d = malloc(sizeof(*d));
	struct msgbuf m;

	header(&m, 1, 0x0100, 0);
	put16(&m, 0xc00c); /* the question's name points at itself */
	put16(&m, 1);
	put16(&m, 1);
	assert_int_equal(dns_parse(m.b, m.n, d), -EBADMSG);
	free(d);
}

static void test_odd_names(void **state)
{
	struct dns_parsed *d = malloc(sizeof(*d));
	struct msgbuf m;
	char buf[16];

	header(&m, 1, 0x0100, 0);
	put(&m, "\x03" "a.b" "\x02" "c\n" "\0", 8);
	put16(&m, 65);
	put16(&m, 1);
	assert_int_equal(dns_parse(m.b, m.n, d), 0);
	assert_string_equal(d->qname, "a\\046b.c\\010");
	assert_string_equal(dns_type_name(d->qtype, buf, sizeof(buf)), "HTTPS");
	assert_string_equal(dns_type_name(999, buf, sizeof(buf)), "TYPE999");
	assert_string_equal(dns_rcode_name(3, buf, sizeof(buf)), "NXDOMAIN");
	assert_string_equal(dns_rcode_name(9, buf, sizeof(buf)), "RCODE9");
	/* the root */
	header(&m, 1, 0x0100, 0);
	put(&m, "", 1);
	put16(&m, 2);
	put16(&m, 1);
	assert_int_equal(dns_parse(m.b, m.n, d), 0);
	assert_string_equal(d->qname, ".");
	free(d);
}

static void test_names_per_session(void **state)
{
	struct dns_addr a = { .family = AF_INET };

	inet_pton(AF_INET, "10.9.9.9", a.addr);
	dns_names_learn(100, 5000, &a, "one.example");
	assert_string_equal(dns_names_lookup(100, 5000, AF_INET, a.addr), "one.example");
	/* another session (or the same pid after a restart) did not resolve it */
	assert_null(dns_names_lookup(101, 5000, AF_INET, a.addr));
	assert_null(dns_names_lookup(100, 5001, AF_INET, a.addr));
	assert_null(dns_names_lookup(100, 5000, AF_INET6, a.addr));
	/* a later answer wins */
	dns_names_learn(100, 5000, &a, "two.example");
	assert_string_equal(dns_names_lookup(100, 5000, AF_INET, a.addr), "two.example");
	/* a CDN address answers for several names: each one stays known as answered */
	assert_true(dns_names_answered(100, 5000, AF_INET, a.addr, "One.Example"));
	assert_true(dns_names_answered(100, 5000, AF_INET, a.addr, "two.example"));
	assert_false(dns_names_answered(100, 5000, AF_INET, a.addr, "three.example"));
	assert_false(dns_names_answered(101, 5000, AF_INET, a.addr, "one.example"));
	dns_names_free();
	assert_false(dns_names_answered(100, 5000, AF_INET, a.addr, "one.example"));
	assert_null(dns_names_lookup(100, 5000, AF_INET, a.addr));
}

static struct at_dns_msg *record(const struct msgbuf *m, unsigned int dir, size_t *len)
{
	struct at_dns_msg *r = calloc(1, sizeof(*r));

	r->hdr.type = AT_REC_DNS_MSG;
	r->hdr.root_pid = 200;
	r->hdr.root_start = 7000;
	r->family = AF_INET;
	r->port = 53;
	r->dir = dir;
	inet_pton(AF_INET, "127.0.0.53", r->server);
	r->len = r->cap_len = m->n;
	memcpy(r->data, m->b, m->n);
	*len = (offsetof(struct at_dns_msg, data) + m->n + 7) & ~7u;
	r->hdr.size = *len;
	return r;
}

/* An answer makes a dns_answer event and names the session's later connect to its address. */
static void test_records_name_connects(void **state)
{
	at_event ev = AITRAIL__V1__EVENT__INIT, cev = AITRAIL__V1__EVENT__INIT;
	struct at_net_connect c;
	struct at_dns_msg *r;
	struct msgbuf m;
	struct arena ar;
	size_t len;

	arena_init(&ar, 0);
	build_answer(&m, 0);
	r = record(&m, AT_DNS_RECEIVED, &len);
	assert_int_equal(dns_decode_msg(NULL, &r->hdr, r, len, &ev, &ar), 0);
	assert_string_equal(ev.type, "dns_answer");
	assert_int_equal(ev.body_case, AITRAIL__V1__EVENT__BODY_DNS);
	assert_string_equal(ev.dns->qname, "api.example.com");
	assert_string_equal(ev.dns->qtype, "A");
	assert_string_equal(ev.dns->server, "127.0.0.53");
	assert_int_equal(ev.dns->server_port, 53);
	assert_string_equal(ev.dns->rcode, "NOERROR");
	assert_int_equal(ev.dns->n_answers, 3);
	assert_false(ev.dns->truncated);

	memset(&c, 0, sizeof(c));
	c.hdr = r->hdr;
	c.hdr.type = AT_REC_NET_CONNECT;
	c.family = AF_INET;
	c.sock_type = SOCK_STREAM;
	c.protocol = 6;
	c.syscall = AT_NET_SYS_CONNECT;
	c.dport = 443;
	inet_pton(AF_INET, "10.1.2.3", c.daddr);
	assert_int_equal(net_decode_connect(NULL, &c.hdr, &c, sizeof(c), &cev, &ar), 0);
	assert_string_equal(cev.net_connect->dst_name, "api.example.com");
	assert_string_equal(cev.net_connect->name_source, "dns");
	/* another session connecting to the same address learned nothing from this answer */
	c.hdr.root_pid = 201;
	memset(&cev, 0, sizeof(cev));
	assert_int_equal(net_decode_connect(NULL, &c.hdr, &c, sizeof(c), &cev, &ar), 0);
	assert_string_equal(cev.net_connect->dst_name, "");
	free(r);

	/* the query is a dns_query; a record cut short by the kernel is marked truncated */
	header(&m, 9, 0x0100, 0);
	put_name(&m, "pypi.org");
	put16(&m, 1);
	put16(&m, 1);
	r = record(&m, AT_DNS_SENT, &len);
	r->len = 600;
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(dns_decode_msg(NULL, &r->hdr, r, len, &ev, &ar), 0);
	assert_string_equal(ev.type, "dns_query");
	assert_string_equal(ev.dns->qname, "pypi.org");
	assert_true(ev.dns->truncated);
	/* malformed records */
	r->cap_len = AT_DNS_MAX + 1;
	assert_int_equal(dns_decode_msg(NULL, &r->hdr, r, len, &ev, &ar), -EINVAL);
	r->cap_len = m.n;
	r->family = AF_UNIX;
	assert_int_equal(dns_decode_msg(NULL, &r->hdr, r, len, &ev, &ar), -EINVAL);
	r->family = AF_INET;
	r->cap_len = 4; /* not DNS */
	assert_int_equal(dns_decode_msg(NULL, &r->hdr, r, len, &ev, &ar), -EBADMSG);
	free(r);
	dns_names_free();
	arena_free(&ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_cut_answer),
		cmocka_unit_test(test_pointer_loop),
		cmocka_unit_test(test_odd_names),
		cmocka_unit_test(test_names_per_session),
		cmocka_unit_test(test_records_name_connects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
