/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one HTTP client of the collector's API (libcurl), for the agent (shipping, policy fetch)
 * and the aitrail CLI. The base URL, TLS files, bearer token, timeouts, reply capture and the
 * reason a request failed are handled here once. A request runs blocking (http_perform: the
 * CLI) or on the caller's curl multi handle (http_start, then http_finish when curl reports it
 * done: the agent's loop never waits on the network).
 */
#ifndef AITRAIL_HTTP_CLIENT_H
#define AITRAIL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>

struct http_opts {
	const char *base_url;      /* "https://collector:8443", no trailing slash */
	const char *user_agent;    /* NULL: libcurl's */
	const char *ca_file;       /* CA of an https collector; NULL or "": the system's */
	const char *cert_file;     /* client certificate and key (mutual TLS); NULL or "": none */
	const char *key_file;
	long connect_timeout_ms;
	long timeout_ms;           /* the whole request; a request may ask for another */
	size_t max_reply;          /* a larger reply fails the request; 0: no limit */
};

struct http_request {
	const char *method;        /* NULL: GET, or POST when there is a body */
	const char *path;          /* after the base URL: "/v1/events", "/v1/policy?group=ci" */
	const char *bearer;        /* "Authorization: Bearer <bearer>"; NULL: none */
	const char *content_type;  /* of the body */
	bool deflate;              /* the body is zlib deflate, and deflate replies are welcome */
	const char *if_none_match; /* an ETag: 304 when the resource did not change */
	const void *body;          /* stays valid until the request is finished */
	size_t body_len;
	long timeout_ms;           /* 0: the client's */
};

struct http_client {
	struct http_opts o;        /* strings are the caller's and must outlive the client */
	CURL *easy;
	CURLM *multi;              /* while a request runs on a multi handle */
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode code;
	char *reply;               /* the last reply's body, NUL-terminated; reply_len bytes */
	size_t reply_len, reply_cap;
	bool reply_over;           /* it was larger than max_reply */
};

int http_init(struct http_client *c, const struct http_opts *o);
void http_cleanup(struct http_client *c);
/* Runs r to its end. The HTTP status, or 0 when there was no answer (see http_reason). */
long http_perform(struct http_client *c, const struct http_request *r);
/* Adds r to multi; 0 or -errno after a message. */
int http_start(struct http_client *c, CURLM *multi, const struct http_request *r);
/* Takes the finished request off multi: the HTTP status, or 0 when there was no answer. */
long http_finish(struct http_client *c, CURLcode result);
/* Why the last request got no answer: curl's detailed message, else its code's text. */
const char *http_reason(const struct http_client *c);
/* The collector's certificate was refused: the caller says how to pass its CA. */
bool http_cert_refused(const struct http_client *c);
/* A header of the last reply, or NULL. */
const char *http_header(struct http_client *c, const char *name);
/* s escaped for a URL path or query (free with curl_free), NULL when out of memory. */
char *http_escape(const char *s);

#endif
