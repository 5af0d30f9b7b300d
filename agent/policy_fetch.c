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

#include "common/http_client.h"
#include "common/log.h"
#include "common/policy_rules.h"
#include "agent/policy_fetch.h"
#include "common/util.h"

#define POLICY_MAX (4u << 20) /* larger than any policy the parser takes */

struct pol_fetch {
	char path[160];
	char base[600];
	char key_path[4200];
	char dest[4096];
	char ca[4096], cert[4096], key[4096];
	uint32_t interval_ms;
	uint64_t next_ms;
	CURLM *multi;
	struct http_client http;
	bool busy;
	char etag[128];
	uint64_t fetched, unchanged, refused, failures;
};

int pol_fetch_new(const struct pol_fetch_opts *o, struct pol_fetch **out)
{
	struct pol_fetch *f;
	int err;

	*out = NULL;
	if (!o->collector_url[0] || !o->interval_s)
		return -ENOENT;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	/* the collector answers with the group's policy, or the fleet's when the group has none */
	if (o->host_group && o->host_group[0])
		snprintf(f->path, sizeof(f->path), "/v1/policy?group=%s", o->host_group);
	else
		snprintf(f->path, sizeof(f->path), "/v1/policy");
	snprintf(f->base, sizeof(f->base), "%s", o->collector_url);
	snprintf(f->key_path, sizeof(f->key_path), "%s/agent.key", o->state_dir);
	snprintf(f->dest, sizeof(f->dest), "%s", o->dest);
	snprintf(f->ca, sizeof(f->ca), "%s", o->ca_file ? o->ca_file : "");
	snprintf(f->cert, sizeof(f->cert), "%s", o->cert_file ? o->cert_file : "");
	snprintf(f->key, sizeof(f->key), "%s", o->key_file ? o->key_file : "");
	f->interval_ms = o->interval_s * 1000;
	err = http_init(&f->http, &(struct http_opts){
		.base_url = f->base,
		.user_agent = "aitrail-agent",
		.ca_file = f->ca,
		.cert_file = f->cert,
		.key_file = f->key,
		.connect_timeout_ms = 10000,
		.timeout_ms = 30000,
		.max_reply = POLICY_MAX,
	});
	if (err) {
		free(f);
		return err;
	}
	f->multi = curl_multi_init();
	if (!f->multi) {
		http_cleanup(&f->http);
		free(f);
		return -ENOMEM;
	}
	log_info("policy: fetching %s%s every %us into %s", f->base, f->path, o->interval_s,
		 f->dest);
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
	char key[200];
	struct http_request r = { .path = f->path, .bearer = key,
				  .if_none_match = f->etag[0] ? f->etag : NULL };

	if (read_key(f->key_path, key, sizeof(key))) {
		log_debug("policy fetch: no agent key yet (%s): not enrolled", f->key_path);
		return;
	}
	f->busy = !http_start(&f->http, f->multi, &r);
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
	else if (write(fd, f->http.reply, f->http.reply_len) != (ssize_t)f->http.reply_len ||
		 fsync(fd))
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
	long status = http_finish(&f->http, rc);
	const char *etag = http_header(&f->http, "ETag");
	char new_etag[sizeof(f->etag)];
	struct pol_errors perr;
	struct policy *p;

	f->busy = false;
	snprintf(new_etag, sizeof(new_etag), "%s", etag ? etag : "");
	if (!status) {
		f->failures++;
		log_warn("policy fetch from %s%s failed: %s", f->base, f->path,
			 http_reason(&f->http));
	} else if (status == 304) {
		f->unchanged++;
	} else if (status == 404) {
		log_debug("policy fetch: the collector has no policy yet");
	} else if (status != 200) {
		f->failures++;
		log_warn("policy fetch from %s%s: HTTP %ld", f->base, f->path, status);
	} else if (policy_parse("fetched policy", f->http.reply ? f->http.reply : "",
				f->http.reply_len, &p, &perr)) {
		/* the collector validates pushes; an older agent may still not read a newer one */
		f->refused++;
		log_error("fetched policy (etag %s) refused by this agent; keeping the policy in "
			  "force:\n%s", new_etag, perr.buf);
		snprintf(f->etag, sizeof(f->etag), "%s", new_etag);
	} else {
		policy_free(p);
		if (!install(f)) {
			f->fetched++;
			log_info("policy fetched (etag %s): installed into %s", new_etag, f->dest);
			snprintf(f->etag, sizeof(f->etag), "%s", new_etag);
		}
	}
}

void pol_fetch_tick(struct pol_fetch *f, uint64_t now_ms)
{
	CURLMsg *m;
	int running, left;

	if (!f)
		return;
	if (!f->busy) {
		if (now_ms < f->next_ms)
			return;
		f->next_ms = now_ms + f->interval_ms;
		start(f);
		if (!f->busy)
			return;
	}
	curl_multi_perform(f->multi, &running);
	while ((m = curl_multi_info_read(f->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == f->http.easy)
			finish(f, m->data.result);
}

void pol_fetch_free(struct pol_fetch *f)
{
	if (!f)
		return;
	http_cleanup(&f->http);
	curl_multi_cleanup(f->multi);
	free(f);
}
