// SPDX-License-Identifier: Apache-2.0
/* Decoding of canned net_connect records, as bpf/net.bpf.c writes them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/net_decode.h"
#include "agent/dispatch.h"
#include "agent/module.h"
#include "common/util.h"

/* The modules' handlers, reached through their rows as agent/dispatch.c reaches them. */
#define net_decode_connect(...) dispatch_find(AT_REC_NET_CONNECT)->decode(__VA_ARGS__)

static void rec_init(struct at_net_connect *r, int family, int type, int proto, int sys)
{
	memset(r, 0, sizeof(*r));
	r->hdr.type = AT_REC_NET_CONNECT;
	r->hdr.size = sizeof(*r);
	r->family = family;
	r->sock_type = type;
	r->protocol = proto;
	r->syscall = sys;
}

static void test_tcp4(void **state)
{
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_INET, SOCK_STREAM, IPPROTO_TCP, AT_NET_SYS_CONNECT);
	inet_pton(AF_INET, "127.0.0.1", r.daddr);
	inet_pton(AF_INET, "127.0.0.1", r.saddr);
	r.dport = 8080;
	r.sport = 40001;
	r.result = -ECONNREFUSED;
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.family, "inet");
	assert_string_equal(t.proto, "tcp");
	assert_string_equal(t.syscall, "connect");
	assert_string_equal(t.daddr, "127.0.0.1");
	assert_string_equal(t.saddr, "127.0.0.1");
}

static void test_udp6_sendto(void **state)
{
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_INET6, SOCK_DGRAM, IPPROTO_UDP, AT_NET_SYS_SENDTO);
	inet_pton(AF_INET6, "2001:db8::53", r.daddr);
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.family, "inet6");
	assert_string_equal(t.proto, "udp");
	assert_string_equal(t.syscall, "sendto");
	assert_string_equal(t.daddr, "2001:db8::53");
	assert_string_equal(t.saddr, "::");
}

static void test_unix_path(void **state)
{
	static const char path[] = "/run/user/1000/bus";
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_UNIX, SOCK_STREAM, 0, AT_NET_SYS_CONNECT);
	memcpy(r.path, path, sizeof(path)); /* callers often count the terminator in addrlen */
	r.path_len = sizeof(path);
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.family, "unix");
	assert_string_equal(t.proto, "unix-stream");
	assert_string_equal(t.daddr, "/run/user/1000/bus");
	assert_string_equal(t.saddr, "");
}

static void test_unix_abstract(void **state)
{
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_UNIX, SOCK_DGRAM, 0, AT_NET_SYS_SENDMSG);
	memcpy(r.path, "\0agent\0x", 8);
	r.path_len = 8;
	r.nflags = AT_NET_F_ABSTRACT;
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.proto, "unix-dgram");
	assert_string_equal(t.syscall, "sendmsg");
	assert_string_equal(t.daddr, "@agent@x");
}

static void test_unix_full_length(void **state)
{
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_UNIX, SOCK_SEQPACKET, 0, AT_NET_SYS_CONNECT);
	memset(r.path, 'a', AT_UNIX_PATH_MAX);
	r.path_len = AT_UNIX_PATH_MAX; /* no terminator at all */
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.proto, "unix-seqpacket");
	assert_int_equal(strlen(t.daddr), AT_UNIX_PATH_MAX);
}

static void test_other_protocols(void **state)
{
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_INET, SOCK_STREAM, IPPROTO_SCTP, AT_NET_SYS_CONNECT);
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.proto, "sctp");
	r.protocol = 200;
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.proto, "ip-proto-200");
	r.nflags = AT_NET_F_NO_SOCK;
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), 0);
	assert_string_equal(t.proto, "");
}

static void test_malformed(void **state)
{
	struct at_net_connect r;
	struct net_connect_text t;

	rec_init(&r, AF_INET, SOCK_STREAM, IPPROTO_TCP, AT_NET_SYS_CONNECT);
	assert_int_equal(net_connect_text(&r, sizeof(r) - 8, &t), -EINVAL);
	r.family = AF_PACKET;
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), -EINVAL);
	rec_init(&r, AF_INET, SOCK_STREAM, IPPROTO_TCP, 99);
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), -EINVAL);
	rec_init(&r, AF_UNIX, SOCK_STREAM, 0, AT_NET_SYS_CONNECT);
	r.path_len = AT_UNIX_PATH_MAX + 1;
	assert_int_equal(net_connect_text(&r, sizeof(r), &t), -EINVAL);
}

static void test_decode_event(void **state)
{
	struct at_net_connect r;
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct arena ar;
	Aitrail__V1__NetConnect *nc;

	arena_init(&ar, 0);
	rec_init(&r, AF_INET6, SOCK_STREAM, IPPROTO_TCP, AT_NET_SYS_CONNECT);
	inet_pton(AF_INET6, "::1", r.daddr);
	inet_pton(AF_INET6, "::1", r.saddr);
	r.dport = 443;
	r.sport = 51000;
	r.result = 0;
	r.nflags = AT_NET_F_NONBLOCK;
	assert_int_equal(net_decode_connect(NULL, &r.hdr, &r, sizeof(r), &ev, &ar), 0);
	assert_int_equal(ev.body_case, AITRAIL__V1__EVENT__BODY_NET_CONNECT);
	nc = ev.net_connect;
	assert_string_equal(nc->family, "inet6");
	assert_string_equal(nc->proto, "tcp");
	assert_string_equal(nc->daddr, "::1");
	assert_string_equal(nc->saddr, "::1");
	assert_int_equal(nc->dport, 443);
	assert_int_equal(nc->sport, 51000);
	assert_int_equal(nc->result, 0);
	assert_true(nc->nonblocking);
	assert_string_equal(nc->syscall, "connect");
	arena_free(&ar);
}

/* What the JSON writer prints for the results these records carry. */
static void test_errno_names(void **state)
{
	char buf[16];

	assert_string_equal(errno_name(-ECONNREFUSED, buf, sizeof(buf)), "ECONNREFUSED");
	assert_string_equal(errno_name(-EINPROGRESS, buf, sizeof(buf)), "EINPROGRESS");
	assert_string_equal(errno_name(-ETIMEDOUT, buf, sizeof(buf)), "ETIMEDOUT");
	assert_string_equal(errno_name(-ENOENT, buf, sizeof(buf)), "ENOENT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_udp6_sendto),
		cmocka_unit_test(test_unix_path),
		cmocka_unit_test(test_unix_abstract),
		cmocka_unit_test(test_unix_full_length),
		cmocka_unit_test(test_other_protocols),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_decode_event),
		cmocka_unit_test(test_errno_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
