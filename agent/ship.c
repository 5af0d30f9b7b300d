// SPDX-License-Identifier: Apache-2.0
/*
 * One request at a time, in this order of need: enroll when there is no key, a heartbeat when
 * one is due, else the next batch when the spool has one ready (full by count or bytes, old
 * enough, carrying a gap, or already in flight). Acknowledged batches are followed at once by
 * the next, so a backlog drains back to back; failures back off exponentially up to 30 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/http_client.h"
#include "common/log.h"
#include "agent/ship.h"
#include "common/util.h"
#include "common/wire.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define REPLY_MAX (1u << 20)
#define SYNC_INTERVAL_NS 1000000000ULL

enum req_kind { REQ_NONE, REQ_ENROLL, REQ_EVENTS, REQ_HEARTBEAT };

static const char *const req_names[] = {
	[REQ_NONE] = "none",
	[REQ_ENROLL] = "enroll",
	[REQ_EVENTS] = "events",
	[REQ_HEARTBEAT] = "heartbeat",
};

struct shipper {
	const struct agent_config *cfg;
	struct spool *spool;
	int epfd, tfd;
	CURLM *multi;
	struct http_client http;
	uint64_t curl_deadline;     /* monotonic ns, 0 = none */

	Aitrail__V1__AgentInfo ai;
	char agent_id[64];
	char agent_key[160];
	char hostname[256];
	char boot_id[64];
	char host_id[64];
	char version[32];

	enum req_kind busy;
	uint64_t busy_batch;        /* batch seq of the request in flight */
	uint32_t busy_events;
	uint8_t *req_body;          /* enroll / heartbeat bodies (batches are the spool's) */

	uint64_t retry_at;
	uint32_t backoff_ms;
	uint64_t heartbeat_at;
	uint64_t sync_at;
	int reissued;               /* the in-flight batch was re-stamped after a 403 */
	int revoked;                /* the collector said this agent's key was revoked */
	int flushing;
	int warned_no_key;
	uint64_t down_since_fail;   /* failures when the collector went away */

	ship_stats_fn stats_fn;
	void *stats_arg;
	struct ship_stats st;
};

static void read_line_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\r\n")] = '\0';
	fclose(f);
}

static void key_path(const struct shipper *sh, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", sh->cfg->state_dir, name);
}

static int write_secret(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void load_key(struct shipper *sh)
{
	char path[PATH_MAX + 16];
	struct stat st;

	key_path(sh, "agent.key", path, sizeof(path));
	read_line_file(path, sh->agent_key, sizeof(sh->agent_key));
	if (sh->agent_key[0] && stat(path, &st) == 0 && (st.st_mode & 077))
		log_warn("%s is readable by others (mode %03o); it should be 0600", path,
			 st.st_mode & 0777);
	key_path(sh, "agent.id", path, sizeof(path));
	read_line_file(path, sh->agent_id, sizeof(sh->agent_id));
}

static void forget_key(struct shipper *sh)
{
	char path[PATH_MAX + 16];

	sh->agent_key[0] = '\0';
	sh->agent_id[0] = '\0';
	key_path(sh, "agent.key", path, sizeof(path));
	unlink(path);
	key_path(sh, "agent.id", path, sizeof(path));
	unlink(path);
}

/* --- timers ------------------------------------------------------------------------------- */

static uint64_t batch_due(struct shipper *sh)
{
	struct spool_stats ss;
	uint64_t since;

	if (spool_inflight(sh->spool))
		return 1;
	spool_get_stats(sh->spool, &ss);
	if (ss.pending_gaps || ss.pending_events >= sh->cfg->batch_max_events ||
	    ss.pending_bytes >= sh->cfg->batch_max_bytes || (sh->flushing && ss.pending_events))
		return 1;
	since = spool_pending_since(sh->spool);
	return since ? since + (uint64_t)sh->cfg->batch_max_ms * 1000000ULL : 0;
}

static void arm_timer(struct shipper *sh)
{
	uint64_t next = sh->sync_at, t;
	struct itimerspec its = {};

	if (sh->curl_deadline && sh->curl_deadline < next)
		next = sh->curl_deadline;
	if (!sh->busy) {
		t = sh->agent_key[0] ? sh->heartbeat_at : sh->retry_at;
		if (t < next)
			next = t;
		t = batch_due(sh);
		if (t && sh->agent_key[0]) {
			if (t < sh->retry_at)
				t = sh->retry_at;
			if (t < next)
				next = t;
		}
	}
	if (!next)
		next = 1;
	its.it_value.tv_sec = next / 1000000000ULL;
	its.it_value.tv_nsec = next % 1000000000ULL;
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(sh->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		log_error("failed to arm the shipper timer: %s", strerror(errno));
}

/* --- curl plumbing ------------------------------------------------------------------------ */

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct shipper *sh = userp;
	struct epoll_event ev = { .data.fd = fd };

	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(sh->epfd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(sh->epfd, EPOLL_CTL_MOD, fd, &ev) && errno == ENOENT &&
	    epoll_ctl(sh->epfd, EPOLL_CTL_ADD, fd, &ev))
		log_error("failed to watch the collector connection: %s", strerror(errno));
	return 0;
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct shipper *sh = userp;

	sh->curl_deadline = timeout_ms < 0 ? 0 : now_mono_ns() + (uint64_t)timeout_ms * 1000000ULL;
	return 0;
}

static int start_request(struct shipper *sh, enum req_kind kind, const char *path,
			 const uint8_t *body, size_t len)
{
	struct http_request r = {
		.path = path,
		.bearer = kind == REQ_ENROLL ? NULL : sh->agent_key,
		.content_type = "application/x-protobuf",
		.deflate = true,
		.body = body,
		.body_len = len,
	};
	int err = http_start(&sh->http, sh->multi, &r);

	if (!err)
		sh->busy = kind;
	return err;
}

/* --- requests ----------------------------------------------------------------------------- */

static void refresh_agent_info(struct shipper *sh)
{
	sh->ai.agent_id = sh->agent_id;
	sh->ai.hostname = sh->hostname;
	sh->ai.boot_id = sh->boot_id;
	sh->ai.agent_version = sh->version;
	sh->ai.host_id = sh->host_id;
}

/* Sends msg, packed and deflated into the shipper's body buffer (kept until the next one). */
static int start_message(struct shipper *sh, enum req_kind kind, const char *path,
			 const ProtobufCMessage *msg)
{
	size_t len;
	int err;

	free(sh->req_body);
	sh->req_body = NULL;
	err = wire_pack(msg, 1, &sh->req_body, &len);
	return err ? err : start_request(sh, kind, path, sh->req_body, len);
}

static int start_enroll(struct shipper *sh)
{
	Aitrail__V1__EnrollRequest req = AITRAIL__V1__ENROLL_REQUEST__INIT;

	refresh_agent_info(sh);
	req.token = (char *)sh->cfg->enroll_token;
	req.agent = &sh->ai;
	return start_message(sh, REQ_ENROLL, "/v1/enroll", &req.base);
}

static int start_heartbeat(struct shipper *sh)
{
	Aitrail__V1__Heartbeat hb = AITRAIL__V1__HEARTBEAT__INIT;
	Aitrail__V1__AgentStats as = AITRAIL__V1__AGENT_STATS__INIT;
	Aitrail__V1__LossCounters lost = AITRAIL__V1__LOSS_COUNTERS__INIT;
	struct spool_stats ss;

	spool_get_stats(sh->spool, &ss);
	as.lost = &lost;
	if (sh->stats_fn)
		sh->stats_fn(sh->stats_arg, &as);
	lost.spool_dropped = ss.dropped;
	lost.unclean_stops = ss.unclean_stops;
	hb.agent = &sh->ai;
	hb.stats = &as;
	hb.spool_bytes = ss.bytes;
	hb.spool_events = ss.events;
	hb.last_batch_seq = ss.next_batch_seq - 1;
	hb.interval_s = sh->cfg->stats_interval_s ? sh->cfg->stats_interval_s : 30;
	return start_message(sh, REQ_HEARTBEAT, "/v1/heartbeat", &hb.base);
}

/*
 * max_events and max_bytes say when a batch is due; what piled up while the previous one was in
 * flight goes out whole, up to the drain limits. One batch in flight costs a round trip and a few
 * fsyncs on each side whatever its size, so a backlog drains in few large batches.
 */
static int start_batch(struct shipper *sh)
{
	const struct agent_config *c = sh->cfg;
	uint32_t max_events = c->batch_max_events, max_bytes = c->batch_max_bytes;
	const struct spool_batch *b;
	int err;

	if (c->batch_drain_max_events > max_events)
		max_events = c->batch_drain_max_events;
	if (c->batch_drain_max_bytes > max_bytes)
		max_bytes = c->batch_drain_max_bytes;
	refresh_agent_info(sh);
	err = spool_next_batch(sh->spool, &sh->ai, max_events, max_bytes, &b);
	if (err)
		return err;
	sh->busy_batch = b->seq;
	sh->busy_events = b->n_events;
	log_debug("sending batch %" PRIu64 ": %u events, %u gaps, %zu bytes", b->seq, b->n_events,
		  b->n_gaps, b->body_len);
	return start_request(sh, REQ_EVENTS, "/v1/events", b->body, b->body_len);
}

static void schedule(struct shipper *sh)
{
	uint64_t now = now_mono_ns(), due;
	int err = 0;

	if (sh->busy || now < sh->retry_at)
		return;
	if (!sh->agent_key[0]) {
		if (!sh->cfg->enroll_token[0]) {
			if (!sh->warned_no_key++)
				log_error("no agent key in %s/agent.key and no collector.enroll_token "
					  "configured: cannot ship, events stay in the spool",
					  sh->cfg->state_dir);
			load_key(sh); /* an operator may install one */
			sh->retry_at = now + BACKOFF_MAX_MS * 1000000ULL;
			return;
		}
		err = start_enroll(sh);
	} else if (now >= sh->heartbeat_at) {
		sh->heartbeat_at = now + (uint64_t)(sh->cfg->stats_interval_s ?
						    sh->cfg->stats_interval_s : 30) * 1000000000ULL;
		err = start_heartbeat(sh);
	} else {
		due = batch_due(sh);
		if (!due || due > now)
			return;
		err = start_batch(sh);
		if (err == -ENODATA)
			return;
	}
	if (err) {
		log_error("failed to prepare a request to the collector: %s", strerror(-err));
		sh->retry_at = now + BACKOFF_MAX_MS * 1000000ULL;
	}
}

static void backoff(struct shipper *sh, uint32_t at_least_ms)
{
	sh->backoff_ms = sh->backoff_ms ? sh->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (sh->backoff_ms < at_least_ms)
		sh->backoff_ms = at_least_ms;
	if (sh->backoff_ms > BACKOFF_MAX_MS)
		sh->backoff_ms = BACKOFF_MAX_MS;
	sh->retry_at = now_mono_ns() + (uint64_t)sh->backoff_ms * 1000000ULL;
}

/* The collector's ErrorReply message, or a short excerpt of whatever it sent. */
/* The collector's message into buf; returns whether its reason says this agent was revoked. */
static bool reply_reason(struct shipper *sh, char *buf, size_t len)
{
	ProtobufCMessage *m;
	bool revoked = false;

	buf[0] = '\0';
	if (!sh->http.reply_len)
		return false;
	if (!wire_unpack(&aitrail__v1__error_reply__descriptor, sh->http.reply, sh->http.reply_len,
			 0, NULL, &m, NULL, 0)) {
		snprintf(buf, len, "%s", ((Aitrail__V1__ErrorReply *)m)->message);
		revoked = !strcmp(((Aitrail__V1__ErrorReply *)m)->reason, "revoked");
		wire_free(m);
	}
	if (!buf[0])
		snprintf(buf, len, "%.*s", (int)(sh->http.reply_len < 120 ? sh->http.reply_len : 120),
			 sh->http.reply);
	return revoked;
}

static void on_enrolled(struct shipper *sh)
{
	Aitrail__V1__EnrollReply *rep;
	ProtobufCMessage *m;
	char path[PATH_MAX + 16], why[160];
	int err;

	err = wire_unpack(&aitrail__v1__enroll_reply__descriptor, sh->http.reply,
			  sh->http.reply_len, 0, NULL, &m, why, sizeof(why));
	if (err) {
		log_error("failed to read the collector's enrollment reply: %s", why);
		backoff(sh, BACKOFF_MAX_MS);
		return;
	}
	rep = (Aitrail__V1__EnrollReply *)m;
	if (!rep->agent_key[0] || strlen(rep->agent_key) >= sizeof(sh->agent_key) ||
	    strlen(rep->agent_id) >= sizeof(sh->agent_id)) {
		log_error("failed to enroll: the collector's reply has no usable agent key");
		wire_free(m);
		backoff(sh, BACKOFF_MAX_MS);
		return;
	}
	snprintf(sh->agent_key, sizeof(sh->agent_key), "%s", rep->agent_key);
	snprintf(sh->agent_id, sizeof(sh->agent_id), "%s", rep->agent_id);
	wire_free(m);
	key_path(sh, "agent.key", path, sizeof(path));
	err = write_secret(path, sh->agent_key);
	if (!err) {
		key_path(sh, "agent.id", path, sizeof(path));
		err = write_secret(path, sh->agent_id);
	}
	if (err)
		log_error("failed to save the agent key in %s: %s (it is used for this run only)",
			  sh->cfg->state_dir, strerror(-err));
	sh->st.enrollments++;
	log_info("enrolled with the collector as agent %s", sh->agent_id);
	refresh_agent_info(sh);
	/* the collector numbers and chains batches per agent: a new identity starts at 1 */
	if (spool_new_chain(sh->spool))
		log_error("failed to restart the batch chain; the collector may report a break");
	sh->heartbeat_at = 0;
}

static void on_batch_acked(struct shipper *sh)
{
	Aitrail__V1__BatchAck *ack;
	ProtobufCMessage *m;
	char why[160];

	if (wire_unpack(&aitrail__v1__batch_ack__descriptor, sh->http.reply, sh->http.reply_len, 0,
			NULL, &m, why, sizeof(why))) {
		log_error("failed to read the collector's acknowledgement of batch %" PRIu64 ": %s",
			  sh->busy_batch, why);
		sh->st.failures++;
		backoff(sh, 0);
		return;
	}
	ack = (Aitrail__V1__BatchAck *)m;
	if (ack->seq != sh->busy_batch) {
		log_error("collector acknowledged batch %" PRIu64 " for batch %" PRIu64
			  "; resending", (uint64_t)ack->seq, sh->busy_batch);
		wire_free(m);
		backoff(sh, 0);
		return;
	}
	if (!strcmp(ack->status, "duplicate"))
		log_info("collector already had batch %" PRIu64 " (resent after a restart or a "
			 "lost reply)", sh->busy_batch);
	wire_free(m);
	if (!spool_ack(sh->spool, sh->busy_batch)) {
		sh->st.batches_sent++;
		sh->st.events_sent += sh->busy_events;
	}
	sh->reissued = 0;
	sh->backoff_ms = 0;
	sh->retry_at = 0;
}

static void on_done(struct shipper *sh, CURLcode cc)
{
	enum req_kind kind = sh->busy;
	long code = http_finish(&sh->http, cc);
	char why[200];
	bool revoked;

	sh->busy = REQ_NONE;
	if (code >= 500 || code == 0) {
		sh->st.failures++;
		if (sh->st.connected || !sh->down_since_fail) {
			if (!code)
				log_warn("collector %s unreachable (%s): events stay in the spool, "
					 "retrying", sh->cfg->collector_url, http_reason(&sh->http));
			else {
				reply_reason(sh, why, sizeof(why));
				log_warn("collector error %ld on %s: %s; retrying", code,
					 req_names[kind], why);
			}
			sh->down_since_fail = sh->st.failures;
		}
		sh->st.connected = 0;
		backoff(sh, 0);
		return;
	}
	if (!sh->st.connected && sh->down_since_fail)
		log_info("collector reachable again after %" PRIu64 " failed attempts",
			 sh->st.failures - sh->down_since_fail + 1);
	sh->st.connected = 1;
	sh->down_since_fail = 0;
	if (code == 200) {
		if (kind == REQ_ENROLL)
			on_enrolled(sh);
		else if (kind == REQ_EVENTS)
			on_batch_acked(sh);
		else {
			sh->st.heartbeats++;
			sh->backoff_ms = 0;
		}
		return;
	}
	revoked = reply_reason(sh, why, sizeof(why));
	if (code == 401 && kind != REQ_ENROLL) {
		if (revoked) {
			/*
			 * A revoked host (a lost laptop) must not let itself back in with the
			 * enroll token it holds; readmitting it is an operator's decision.
			 */
			if (!sh->revoked)
				log_error("the collector revoked this agent (%s): not enrolling again; "
					  "events stay in the spool. To readmit this host, delete "
					  "%s/agent.key and restart the agent", why,
					  sh->cfg->state_dir);
			sh->revoked = 1;
			backoff(sh, BACKOFF_MAX_MS);
		} else if (sh->cfg->enroll_token[0]) {
			log_warn("collector refused agent key of %s (%s): enrolling again",
				 sh->agent_id, why);
			forget_key(sh);
			sh->retry_at = 0;
		} else {
			log_error("collector refused the agent key (%s) and no enroll_token is "
				  "configured: events stay in the spool", why);
			backoff(sh, BACKOFF_MAX_MS);
		}
		return;
	}
	if (kind == REQ_ENROLL) {
		log_error("failed to enroll with the collector: %ld %s", code, why);
		backoff(sh, BACKOFF_MAX_MS);
		return;
	}
	if (kind == REQ_EVENTS && code == 403 && !sh->reissued) {
		/* the batch may carry the identity of an earlier enrollment */
		log_warn("collector refused batch %" PRIu64 " (%s): re-stamping it as agent %s",
			 sh->busy_batch, why, sh->agent_id);
		refresh_agent_info(sh);
		spool_reissue(sh->spool, &sh->ai);
		sh->reissued = 1;
		return;
	}
	if (kind == REQ_EVENTS) {
		sh->st.batches_rejected++;
		log_error("collector rejected batch %" PRIu64 " (%u events): %ld %s; it stays in the "
			  "spool and is retried", sh->busy_batch, sh->busy_events, code, why);
	} else {
		log_warn("collector rejected the %s: %ld %s", req_names[kind], code, why);
	}
	backoff(sh, BACKOFF_MAX_MS);
}

void ship_dispatch(struct shipper *sh)
{
	struct epoll_event evs[16];
	int n, i, running;
	uint64_t exp, now;
	CURLMsg *msg;

	n = epoll_wait(sh->epfd, evs, ARRAY_SIZE(evs), 0);
	for (i = 0; i < n; i++) {
		if (evs[i].data.fd == sh->tfd) {
			if (read(sh->tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
				log_debug("timerfd read: %s", strerror(errno));
			continue;
		}
		curl_multi_socket_action(sh->multi, evs[i].data.fd,
					 (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
					 (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
					 (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0),
					 &running);
	}
	now = now_mono_ns();
	if (sh->curl_deadline && now >= sh->curl_deadline) {
		sh->curl_deadline = 0;
		curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(sh->multi, &i)))
		if (msg->msg == CURLMSG_DONE)
			on_done(sh, msg->data.result);
	if (now >= sh->sync_at) {
		spool_sync(sh->spool);
		sh->sync_at = now + SYNC_INTERVAL_NS;
	}
	schedule(sh);
	/* a request that started may already have a curl timeout of 0 */
	if (sh->curl_deadline && sh->curl_deadline <= now_mono_ns()) {
		sh->curl_deadline = 0;
		curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		while ((msg = curl_multi_info_read(sh->multi, &i)))
			if (msg->msg == CURLMSG_DONE)
				on_done(sh, msg->data.result);
	}
	arm_timer(sh);
}

int ship_append(struct shipper *sh, const at_event *ev)
{
	struct spool_stats ss;
	int err = spool_append(sh->spool, ev);

	/* wake the loop only when a batch fills up; the timer covers the rest */
	if (!sh->busy) {
		spool_get_stats(sh->spool, &ss);
		if (ss.pending_events == sh->cfg->batch_max_events ||
		    ss.pending_events == 1)
			arm_timer(sh);
	}
	return err;
}

void ship_buffer_appends(struct shipper *sh)
{
	spool_buffer_appends(sh->spool);
}

void ship_flush_appends(struct shipper *sh)
{
	spool_flush_appends(sh->spool);
}

int ship_flush(struct shipper *sh, int timeout_ms)
{
	uint64_t end = now_mono_ns() + (uint64_t)timeout_ms * 1000000ULL, failures = sh->st.failures;
	struct spool_stats ss;
	struct epoll_event ev;

	sh->flushing = 1;
	sh->retry_at = 0;
	sh->backoff_ms = 0;
	spool_sync(sh->spool);
	for (;;) {
		spool_get_stats(sh->spool, &ss);
		if (!sh->busy && !ss.events && !ss.pending_gaps && !spool_inflight(sh->spool))
			break;
		if (now_mono_ns() >= end || (!sh->agent_key[0] && !sh->cfg->enroll_token[0]))
			break;
		ship_dispatch(sh);
		epoll_wait(sh->epfd, &ev, 1, 50);
		/* at shutdown a collector that fails once is down: the spool keeps the rest */
		if (sh->st.failures > failures || sh->retry_at > end)
			break;
	}
	sh->flushing = 0;
	spool_get_stats(sh->spool, &ss);
	if (ss.events || ss.pending_gaps)
		log_info("%" PRIu64 " events not yet delivered stay in the spool (%s/spool)",
			 ss.events, sh->cfg->state_dir);
	return ss.events || ss.pending_gaps ? -EAGAIN : 0;
}

void ship_set_stats_cb(struct shipper *sh, ship_stats_fn fn, void *arg)
{
	sh->stats_fn = fn;
	sh->stats_arg = arg;
}

int ship_fd(struct shipper *sh)
{
	return sh->epfd;
}

void ship_get_stats(struct shipper *sh, struct ship_stats *st)
{
	*st = sh->st;
	spool_get_stats(sh->spool, &st->spool);
}

int ship_open(struct shipper **sp, const struct agent_config *cfg, const char *version,
	      uint64_t *next_event_seq)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct shipper *sh;
	int err;

	if (!cfg->collector_url[0])
		return -EINVAL;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->cfg = cfg;
	sh->epfd = sh->tfd = -1;
	aitrail__v1__agent_info__init(&sh->ai);
	snprintf(sh->version, sizeof(sh->version), "%s", version);
	if (gethostname(sh->hostname, sizeof(sh->hostname)))
		snprintf(sh->hostname, sizeof(sh->hostname), "unknown");
	read_line_file("/proc/sys/kernel/random/boot_id", sh->boot_id, sizeof(sh->boot_id));
	read_line_file("/etc/machine-id", sh->host_id, sizeof(sh->host_id));

	err = spool_open(&sh->spool, cfg->state_dir, cfg->spool_max_bytes, cfg->spool_full_policy,
			 next_event_seq);
	if (err)
		goto fail;
	load_key(sh);
	refresh_agent_info(sh);

	sh->epfd = epoll_create1(EPOLL_CLOEXEC);
	sh->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sh->epfd < 0 || sh->tfd < 0) {
		err = -errno;
		log_error("failed to create the shipper's event fds: %s", strerror(-err));
		goto fail;
	}
	ev.data.fd = sh->tfd;
	if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->tfd, &ev)) {
		err = -errno;
		goto fail;
	}
	err = http_init(&sh->http, &(struct http_opts){
		.base_url = cfg->collector_url,
		.user_agent = "aitrail-agent",
		.ca_file = cfg->ca_file,
		.cert_file = cfg->cert_file,
		.key_file = cfg->key_file,
		.connect_timeout_ms = 5000,
		.timeout_ms = 60000,
		.max_reply = REPLY_MAX,
	});
	if (err)
		goto fail;
	sh->multi = curl_multi_init();
	if (!sh->multi) {
		err = -ENOMEM;
		goto fail;
	}
	curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
	curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
	sh->sync_at = now_mono_ns() + SYNC_INTERVAL_NS;
	/* first heartbeat right away: the collector learns the agent is up */
	sh->heartbeat_at = 0;
	log_info("shipping to %s%s", cfg->collector_url,
		 sh->agent_key[0] ? "" : " (will enroll first)");
	arm_timer(sh);
	*sp = sh;
	return 0;
fail:
	ship_close(sh);
	return err;
}

void ship_close(struct shipper *sh)
{
	if (!sh)
		return;
	http_cleanup(&sh->http);
	if (sh->multi)
		curl_multi_cleanup(sh->multi);
	if (sh->spool) {
		spool_sync(sh->spool);
		spool_close(sh->spool);
	}
	if (sh->tfd >= 0)
		close(sh->tfd);
	if (sh->epfd >= 0)
		close(sh->epfd);
	free(sh->req_body);
	free(sh);
}
