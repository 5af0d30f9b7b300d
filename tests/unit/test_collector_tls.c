// SPDX-License-Identifier: Apache-2.0
/*
 * The collector over HTTPS, and with mutual TLS: certificates are made for the test with the
 * openssl command (a CA, the server on 127.0.0.1, a client signed by the CA and one signed by
 * a stranger). Agent endpoints then insist on a trusted client certificate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "coll_batch.h"
#include "common/log.h"
#include "collector/server.h"
#include "collector/store.h"

static char dir[64];

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* key + certificate NAME signed by CA (or self-signed when ca is NULL) */
static int make_cert(const char *name, const char *ca, const char *cn, const char *san)
{
	int rc;

	rc = sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout %s.key -out %s.csr -subj /CN=%s 2>/dev/null", dir, name, name, cn);
	if (rc)
		return rc;
	if (!ca)
		return sh("cd %s && printf 'basicConstraints=critical,CA:true\\n"
			  "keyUsage=keyCertSign,cRLSign\\n' > %s.ext && openssl x509 -req -in %s.csr "
			  "-signkey %s.key -out %s.crt -days 2 -extfile %s.ext 2>/dev/null", dir,
			  name, name, name, name, name);
	return sh("cd %s && printf '%s\\n' > %s.ext && openssl x509 -req -in %s.csr -CA %s.crt "
		  "-CAkey %s.key -CAcreateserial -out %s.crt -days 2 -extfile %s.ext 2>/dev/null",
		  dir, san, name, name, ca, ca, name, name);
}

static int setup(void **state)
{
	log_init("test", LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/aitrail-tls-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	if (make_cert("ca", NULL, "aitrail-test-ca", NULL) ||
	    make_cert("srv", "ca", "127.0.0.1", "subjectAltName=IP:127.0.0.1") ||
	    make_cert("agent", "ca", "agent1", "extendedKeyUsage=clientAuth") ||
	    make_cert("evil", NULL, "evil-ca", NULL) ||
	    make_cert("intruder", "evil", "agent1", "extendedKeyUsage=clientAuth")) {
		fprintf(stderr, "failed to make test certificates with openssl\n");
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	curl_global_cleanup();
	return sh("rm -rf %s", dir) ? -1 : 0;
}

static struct server *start(struct store **st, bool mtls)
{
	struct collector_opts o;
	struct server *srv;
	char db[128];

	snprintf(db, sizeof(db), "%s/c-%d.db", dir, mtls);
	assert_int_equal(store_open(db, st), 0);
	collector_opts_defaults(&o);
	snprintf(o.listen, sizeof(o.listen), "127.0.0.1:0");
	snprintf(o.enroll_token, sizeof(o.enroll_token), "tok");
	snprintf(o.admin_token, sizeof(o.admin_token), "adm");
	snprintf(o.tls_cert, sizeof(o.tls_cert), "%s/srv.crt", dir);
	snprintf(o.tls_key, sizeof(o.tls_key), "%s/srv.key", dir);
	if (mtls)
		snprintf(o.tls_client_ca, sizeof(o.tls_client_ca), "%s/ca.crt", dir);
	assert_int_equal(server_start(*st, &o, &srv), 0);
	return srv;
}

/* POSTs an EnrollRequest over https with client certificate NAME (NULL = none); HTTP status. */
static long enroll(struct server *srv, const char *client, CURLcode *cc)
{
	Aitrail__V1__EnrollRequest er = AITRAIL__V1__ENROLL_REQUEST__INIT;
	struct curl_slist *h = NULL;
	char url[128], path[160];
	uint8_t *body;
	size_t len;
	long status = 0;
	CURL *c = curl_easy_init();

	er.token = (char *)"tok";
	assert_int_equal(wire_pack(&er.base, 1, &body, &len), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/enroll", server_port(srv));
	curl_easy_setopt(c, CURLOPT_URL, url);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	curl_easy_setopt(c, CURLOPT_CAINFO, path);
	if (client) {
		snprintf(path, sizeof(path), "%s/%s.crt", dir, client);
		curl_easy_setopt(c, CURLOPT_SSLCERT, path);
		snprintf(path, sizeof(path), "%s/%s.key", dir, client);
		curl_easy_setopt(c, CURLOPT_SSLKEY, path);
	}
	h = curl_slist_append(h, "Content-Type: application/x-protobuf");
	h = curl_slist_append(h, "Content-Encoding: deflate");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, fopen("/dev/null", "w"));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	*cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(body);
	return status;
}

static void test_https(void **state)
{
	struct store *st;
	struct server *srv = start(&st, false);
	CURLcode cc;

	assert_int_equal(enroll(srv, NULL, &cc), 200);
	assert_int_equal(cc, CURLE_OK);
	server_stop(srv);
	store_close(st);
}

static void test_mtls(void **state)
{
	struct store *st;
	struct server *srv = start(&st, true);
	struct server_counters c;
	CURLcode cc;

	assert_int_equal(enroll(srv, "agent", &cc), 200);
	/* no certificate, or one from another CA: the agent endpoint refuses */
	assert_int_equal(enroll(srv, NULL, &cc), 401);
	assert_int_equal(cc, CURLE_OK);
	assert_int_equal(enroll(srv, "intruder", &cc), 401);
	server_counters(srv, &c);
	assert_int_equal(c.rejects[REJ_UNAUTHORIZED], 2);
	assert_int_equal(c.enrolled, 1);
	server_stop(srv);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_https),
		cmocka_unit_test(test_mtls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
