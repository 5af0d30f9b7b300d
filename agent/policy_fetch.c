// SPDX-License-Identifier: Apache-2.0
/*
 * Fetching the fleet policy from the collector (GET /v1/policy with the agent key and the last
 * ETag). A fetched policy that this agent's parser accepts replaces the local policy file by
 * rename; the file watcher (pol_agent_watch) then reloads it, so a pushed policy goes through
 * the same validation and the same reload path as an edited one. A policy the parser refuses is
 * logged with its FILE:LINE problems and never written: the policy in force stays.
 *
 * Never blocks the agent's loop: the transfer runs on a curl multi handle that pol_fetch_tick
 * advances without waiting (call it from a loop timer, e.g. every 200 ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "common/log.h"
#include "common/policy_rules.h"
#include "agent/policy_fetch.h"
#include "common/util.h"

struct pol_fetch {
	char url[600];
	char key_path[4200];
	char dest[4096];
	char ca[4096], cert[4096], key[4096];
	uint32_t interval_ms;
	uint64_t next_ms;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	size_t len;
	char etag[128];
	char new_etag[128];
	uint64_t fetched, unchanged, refused, failures;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct pol_fetch *f = ud;
	char *nb;

	if (f->len + sz * n > (4u << 20))
		return 0; /* larger than any policy the parser takes */
	nb = realloc(f->body, f->len + sz * n + 1);
	if (!nb)
		return 0;
	f->body = nb;
	memcpy(f->body + f->len, p, sz * n);
	f->len += sz * n;
	f->body[f->len] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct pol_fetch *f = ud;
	size_t len = sz * n;

	if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
		const char *v = p + 5;

		while (*v == ' ')
			v++;
		snprintf(f->new_etag, sizeof(f->new_etag), "%.*s", (int)strcspn(v, "\r\n"), v);
	}
	return len;
}

int pol_fetch_new(const struct pol_fetch_opts *o, struct pol_fetch **out)
{
	struct pol_fetch *f;

	*out = NULL;
	if (!o->collector_url[0] || !o->interval_s)
		return -ENOENT;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	/* the collector answers with the group's policy, or the fleet's when the group has none */
	if (o->host_group && o->host_group[0])
		snprintf(f->url, sizeof(f->url), "%s/v1/policy?group=%s", o->collector_url,
			 o->host_group);
	else
		snprintf(f->url, sizeof(f->url), "%s/v1/policy", o->collector_url);
	snprintf(f->key_path, sizeof(f->key_path), "%s/agent.key", o->state_dir);
	snprintf(f->dest, sizeof(f->dest), "%s", o->dest);
	snprintf(f->ca, sizeof(f->ca), "%s", o->ca_file ? o->ca_file : "");
	snprintf(f->cert, sizeof(f->cert), "%s", o->cert_file ? o->cert_file : "");
	snprintf(f->key, sizeof(f->key), "%s", o->key_file ? o->key_file : "");
	f->interval_ms = o->interval_s * 1000;
	f->multi = curl_multi_init();
	if (!f->multi) {
		free(f);
		return -ENOMEM;
	}
	log_info("policy: fetching %s every %us into %s", f->url, o->interval_s, f->dest);
	*out = f;
	return 0;
}

static int read_key(const char *path, char *buf, size_t len)
{
	FILE *k = fopen(path, "r");

	if (!k)
		return -errno;
	if (!fgets(buf, len, k))
		buf[0] = '\0';
	fclose(k);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : -ENOENT;
}

static void start(struct pol_fetch *f)
{
	char key[200], auth[260], inm[160];

	if (read_key(f->key_path, key, sizeof(key))) {
		log_debug("policy fetch: no agent key yet (%s): not enrolled", f->key_path);
		return;
	}
	f->easy = curl_easy_init();
	if (!f->easy)
		return;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	f->hdrs = curl_slist_append(NULL, auth);
	if (f->etag[0]) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", f->etag);
		f->hdrs = curl_slist_append(f->hdrs, inm);
	}
	f->len = 0;
	f->new_etag[0] = '\0';
	curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	if (f->ca[0])
		curl_easy_setopt(f->easy, CURLOPT_CAINFO, f->ca);
	if (f->cert[0]) {
		curl_easy_setopt(f->easy, CURLOPT_SSLCERT, f->cert);
		curl_easy_setopt(f->easy, CURLOPT_SSLKEY, f->key);
	}
	curl_multi_add_handle(f->multi, f->easy);
}

/* Writes the policy next to dest and renames it over dest: readers never see half a file. */
static int install(struct pol_fetch *f)
{
	char tmp[4200];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.fetched", f->dest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		err = -errno;
	else if (write(fd, f->body, f->len) != (ssize_t)f->len || fsync(fd))
		err = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	if (!err && rename(tmp, f->dest))
		err = -errno;
	if (err) {
		log_error("failed to install fetched policy into %s: %s", f->dest, strerror(-err));
		unlink(tmp);
	}
	return err;
}

static void finish(struct pol_fetch *f, CURLcode rc)
{
	struct pol_errors perr;
	struct policy *p;
	long status = 0;

	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		f->failures++;
		log_warn("policy fetch from %s failed: %s", f->url, curl_easy_strerror(rc));
	} else if (status == 304) {
		f->unchanged++;
	} else if (status == 404) {
		log_debug("policy fetch: the collector has no policy yet");
	} else if (status != 200) {
		f->failures++;
		log_warn("policy fetch from %s: HTTP %ld", f->url, status);
	} else if (policy_parse("fetched policy", f->body ? f->body : "", f->len, &p, &perr)) {
		/* the collector validates pushes; an older agent may still not read a newer one */
		f->refused++;
		log_error("fetched policy (etag %s) refused by this agent; keeping the policy in "
			  "force:\n%s", f->new_etag, perr.buf);
		snprintf(f->etag, sizeof(f->etag), "%s", f->new_etag);
	} else {
		policy_free(p);
		if (!install(f)) {
			f->fetched++;
			log_info("policy fetched (etag %s): installed into %s", f->new_etag, f->dest);
			snprintf(f->etag, sizeof(f->etag), "%s", f->new_etag);
		}
	}
	curl_multi_remove_handle(f->multi, f->easy);
	curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->hdrs);
	f->easy = NULL;
	f->hdrs = NULL;
}

void pol_fetch_tick(struct pol_fetch *f, uint64_t now_ms)
{
	CURLMsg *m;
	int running, left;

	if (!f)
		return;
	if (!f->easy) {
		if (now_ms < f->next_ms)
			return;
		f->next_ms = now_ms + f->interval_ms;
		start(f);
		if (!f->easy)
			return;
	}
	curl_multi_perform(f->multi, &running);
	while ((m = curl_multi_info_read(f->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == f->easy)
			finish(f, m->data.result);
}

void pol_fetch_free(struct pol_fetch *f)
{
	if (!f)
		return;
	if (f->easy) {
		curl_multi_remove_handle(f->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->hdrs);
	curl_multi_cleanup(f->multi);
	free(f->body);
	free(f);
}
