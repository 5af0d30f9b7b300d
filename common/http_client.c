// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"

static size_t on_reply(char *data, size_t size, size_t n, void *userp)
{
	struct http_client *c = userp;
	size_t len = size * n;

	if (c->o.max_reply && c->reply_len + len > c->o.max_reply) {
		c->reply_over = true;
		return 0; /* aborts the transfer: no answer of the collector's is this large */
	}
	if (grow_array(&c->reply, &c->reply_cap, c->reply_len + len + 1, 1))
		return 0;
	memcpy(c->reply + c->reply_len, data, len);
	c->reply_len += len;
	c->reply[c->reply_len] = '\0';
	return len;
}

int http_init(struct http_client *c, const struct http_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->o = *o;
	/* reference counted by libcurl: every client pairs it with http_cleanup */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("failed to initialize libcurl");
		return -EIO;
	}
	c->easy = curl_easy_init();
	if (!c->easy) {
		curl_global_cleanup();
		log_error("failed to create an HTTP client: out of memory");
		return -ENOMEM;
	}
	return 0;
}

void http_cleanup(struct http_client *c)
{
	if (!c->easy)
		return;
	if (c->multi)
		curl_multi_remove_handle(c->multi, c->easy);
	curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->reply);
	memset(c, 0, sizeof(*c));
	curl_global_cleanup();
}

static int add_header(struct http_client *c, const char *fmt, const char *val)
{
	char line[1024];
	struct curl_slist *h;

	snprintf(line, sizeof(line), fmt, val);
	h = curl_slist_append(c->headers, line);
	if (!h)
		return -ENOMEM;
	c->headers = h;
	return 0;
}

/* Sets the easy handle up for r: everything a request to the collector needs, in one place. */
static int prepare(struct http_client *c, const struct http_request *r)
{
	const struct http_opts *o = &c->o;
	size_t len = strlen(o->base_url) + strlen(r->path) + 1;
	char *url = malloc(len);
	int err = 0;

	if (!url)
		return -ENOMEM;
	snprintf(url, len, "%s%s", o->base_url, r->path);
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	if (r->bearer)
		err = add_header(c, "Authorization: Bearer %s", r->bearer);
	if (!err && r->content_type)
		err = add_header(c, "Content-Type: %s", r->content_type);
	if (!err && r->deflate)
		err = add_header(c, "Content-Encoding: %s", "deflate");
	if (!err && r->if_none_match)
		err = add_header(c, "If-None-Match: %s", r->if_none_match);
	/* no "Expect: 100-continue" round trip before a body: the collector reads it anyway */
	if (!err && r->body)
		err = add_header(c, "Expect:%s", "");
	if (err) {
		free(url);
		return err;
	}
	curl_easy_reset(c->easy);
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	free(url); /* libcurl keeps its own copy */
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	if (r->body) {
		curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	if (r->method)
		curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->deflate)
		curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "deflate");
	curl_easy_setopt(c->easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms ? r->timeout_ms : o->timeout_ms);
	if (o->user_agent)
		curl_easy_setopt(c->easy, CURLOPT_USERAGENT, o->user_agent);
	if (o->ca_file && o->ca_file[0])
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file && o->cert_file[0]) {
		curl_easy_setopt(c->easy, CURLOPT_SSLCERT, o->cert_file);
		curl_easy_setopt(c->easy, CURLOPT_SSLKEY, o->key_file);
	}
	c->errbuf[0] = '\0';
	c->code = CURLE_OK;
	c->reply_len = 0;
	c->reply_over = false;
	if (c->reply)
		c->reply[0] = '\0';
	return 0;
}

static long status(struct http_client *c)
{
	long code = 0;

	if (c->code != CURLE_OK)
		return 0;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

long http_perform(struct http_client *c, const struct http_request *r)
{
	int err = prepare(c, r);

	if (err) {
		c->code = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	c->code = curl_easy_perform(c->easy);
	return status(c);
}

int http_start(struct http_client *c, CURLM *multi, const struct http_request *r)
{
	CURLMcode mc;
	int err = prepare(c, r);

	if (err)
		return err;
	mc = curl_multi_add_handle(multi, c->easy);
	if (mc != CURLM_OK) {
		log_error("failed to start a request to %s%s: %s", c->o.base_url, r->path,
			  curl_multi_strerror(mc));
		return -EIO;
	}
	c->multi = multi;
	return 0;
}

long http_finish(struct http_client *c, CURLcode result)
{
	if (c->multi)
		curl_multi_remove_handle(c->multi, c->easy);
	c->multi = NULL;
	c->code = result;
	return status(c);
}

const char *http_reason(const struct http_client *c)
{
	static __thread char buf[64];

	if (c->reply_over) {
		snprintf(buf, sizeof(buf), "reply larger than %zu bytes", c->o.max_reply);
		return buf;
	}
	return c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->code);
}

bool http_cert_refused(const struct http_client *c)
{
	return c->code == CURLE_PEER_FAILED_VERIFICATION;
}

const char *http_header(struct http_client *c, const char *name)
{
	struct curl_header *h;

	if (curl_easy_header(c->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return h->value;
}

char *http_escape(const char *s)
{
	/* the handle argument is ignored since libcurl 7.82 */
	return curl_easy_escape(NULL, s, 0);
}
