// SPDX-License-Identifier: Apache-2.0
/*
 * libmicrohttpd plumbing: listening socket, TLS, request bodies with a size cap, routing. Endpoint
 * logic is in ingest.c (agents), api.c (queries), policy_dist.c and policy_test.c (policies); the
 * replies, rejects and counters they share are http.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "collector/api.h"
#include "collector/http.h"
#include "collector/ingest.h"
#include "collector/policy_dist.h"
#include "collector/policy_test.h"
#include "common/log.h"
#include "common/util.h"

void collector_opts_defaults(struct collector_opts *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->listen, sizeof(o->listen), "127.0.0.1:8443");
	snprintf(o->db, sizeof(o->db), "/var/lib/aitrail/collector.db");
	o->heartbeat_s = 30;
	o->silent_after = 3;
	o->max_body_bytes = 8 << 20;
	o->max_inflated_bytes = 64 << 20;
	o->max_batch_events = 100000;
	o->max_buffered_bytes = 256 << 20;
}


/*
 * With --tls-client-ca the TLS layer asks every client for a certificate but does not refuse
 * the handshake without one (the CLI has none); agent endpoints insist on a valid one here.
 */
static bool client_cert_ok(struct server *srv, struct MHD_Connection *con, const char *url,
			   enum MHD_Result *ret)
{
	const union MHD_ConnectionInfo *ci;
	unsigned int status = 0;
	int rc;

	if (!srv->tls_ca_pem)
		return true;
	ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session) {
		rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
	} else {
		rc = gnutls_certificate_verify_peers2((gnutls_session_t)ci->tls_session, &status);
		if (!rc && status)
			rc = GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (!rc)
		return true;
	*ret = reject(srv, con, false, MHD_HTTP_UNAUTHORIZED, REJ_UNAUTHORIZED,
		      "%s needs a client certificate signed by the collector's client CA: %s", url,
		      rc == GNUTLS_E_NO_CERTIFICATE_FOUND ? "none presented" :
		      rc == GNUTLS_E_CERTIFICATE_ERROR ? "certificate not trusted" :
		      gnutls_strerror(rc));
	return false;
}

static bool is_post(const char *method)
{
	return !strcmp(method, MHD_HTTP_METHOD_POST);
}

static enum MHD_Result route(struct server *srv, struct MHD_Connection *con, const char *url,
			     const char *method, struct request *r)
{
	static const struct {
		const char *path;
		enum MHD_Result (*fn)(struct server *, struct MHD_Connection *, struct request *);
	} agent_routes[] = {
		{ "/v1/enroll", handle_enroll },
		{ "/v1/events", handle_events },
		{ "/v1/heartbeat", handle_heartbeat },
	};

	for (size_t i = 0; i < sizeof(agent_routes) / sizeof(agent_routes[0]); i++) {
		if (strcmp(url, agent_routes[i].path))
			continue;
		enum MHD_Result ret;

		if (srv->role == SRV_ADMIN)
			return reject(srv, con, false, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
				      "%s is served on the agents' listener, not the admin one", url);
		if (!is_post(method))
			return reject(srv, con, false, MHD_HTTP_METHOD_NOT_ALLOWED, REJ_METHOD,
				      "%s takes POST, not %s", url, method);
		if (!client_cert_ok(srv, con, url, &ret))
			return ret;
		if (r->busy)
			return reject(srv, con, false, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_BUSY,
				      "collector busy: %llu bytes of request bodies in memory; retry",
				      (unsigned long long)srv->opts.max_buffered_bytes);
		if (r->too_large)
			return reject(srv, con, false, 413, REJ_TOO_LARGE,
				      "body larger than %llu bytes",
				      (unsigned long long)srv->opts.max_body_bytes);
		return agent_routes[i].fn(srv, con, r);
	}
	if (!strcmp(url, "/healthz")) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "status", json_object_new_string("ok"));
		return reply_json(con, MHD_HTTP_OK, o);
	}
	if (!strncmp(url, "/v1/", 4)) {
		if (r->busy)
			return reject(srv, con, true, MHD_HTTP_SERVICE_UNAVAILABLE, REJ_BUSY,
				      "collector busy; retry");
		if (r->too_large)
			return reject(srv, con, true, 413, REJ_TOO_LARGE,
				      "body too large");
		if (!strcmp(url, "/v1/policy/test"))
			return handle_policy_test(srv, con, method, r);
		if (!strcmp(url, "/v1/policy"))
			return handle_policy(srv, con, method, r);
		if (srv->role == SRV_AGENTS)
			return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND,
				      "the query API listens on %s (--admin-listen)",
				      srv->opts.admin_listen);
		return handle_api(srv, con, method, url);
	}
	return reject(srv, con, true, MHD_HTTP_NOT_FOUND, REJ_NOT_FOUND, "no such endpoint: %s",
		      url);
}

static void drop_body(struct server *srv, struct request *r)
{
	srv->buffered -= r->cap;
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct server *srv = cls;
	struct request *r = *con_cls;

	if (!r) {
		const char *cl;
		uint64_t n;

		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		/* refuse a declared oversized body before reading any of it */
		cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && (n = strtoull(cl, NULL, 10)) > srv->opts.max_body_bytes) {
			r->too_large = true;
			return reject(srv, con, false, 413, REJ_TOO_LARGE,
				      "body of %llu bytes is larger than %llu", (unsigned long long)n,
				      (unsigned long long)srv->opts.max_body_bytes);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->too_large || r->busy || r->len + n > srv->opts.max_body_bytes) {
			/* chunked bodies have no length up front: drop the rest, answer 413 */
			if (!r->busy)
				r->too_large = true;
			drop_body(srv, r);
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			char *nb;

			while (cap < r->len + n)
				cap *= 2;
			if (cap > srv->opts.max_body_bytes)
				cap = srv->opts.max_body_bytes;
			/* all connections together: beyond the budget, answer 503 and let it retry */
			if (srv->buffered + (cap - r->cap) > srv->opts.max_buffered_bytes) {
				r->busy = true;
				drop_body(srv, r);
				return MHD_YES;
			}
			srv->buffered += cap - r->cap;
			nb = realloc(r->body, cap);
			if (!nb)
				return MHD_NO;
			r->body = nb;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	return route(srv, con, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;

	if (r) {
		drop_body(cls, r);
		free(r);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	log_vmsg(LOG_LVL_WARN, __func__, __LINE__, fmt, ap);
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	uint64_t port;
	size_t hl;

	if (!colon || parse_u64(colon + 1, 0, 65535, &port))
		return -EINVAL;
	hl = colon - spec;
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*sl = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		if (!host[0] || !strcmp(host, "*"))
			snprintf(host, sizeof(host), "0.0.0.0");
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*sl = sizeof(*a4);
	}
	return 0;
}

static int listen_on(const char *spec, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, err;

	if (parse_listen(spec, &ss, &sl)) {
		log_error("failed to parse listen address '%s': expected ADDR:PORT, [ADDR6]:PORT "
			  "or :PORT", spec);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 128)) {
		err = -errno;
		log_error("failed to listen on %s: %s", spec, strerror(-err));
		close(fd);
		return err;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static int read_pem(const char *path, const char *what, char **out)
{
	struct stat sb;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) || sb.st_size > (1 << 20)) {
		int err = fd < 0 ? errno : EFBIG;

		log_error("failed to read %s %s: %s", what, path, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	buf = calloc(1, sb.st_size + 1);
	n = buf ? read(fd, buf, sb.st_size) : -1;
	close(fd);
	if (n != sb.st_size) {
		log_error("failed to read %s %s: short read", what, path);
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

static int start(struct store *st, const struct collector_opts *o, int role,
		 struct server *peer, struct server **out)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	const char *listen = role == SRV_ADMIN ? o->admin_listen : o->listen;
	struct MHD_OptionItem opts[8];
	struct server *srv;
	int n = 0, err;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->lfd = -1;
	srv->st = st;
	srv->opts = *o;
	srv->role = role;
	srv->peer = peer;
	/* client certificates are for agents; the admin listener has its token */
	if (role == SRV_ADMIN)
		srv->opts.tls_client_ca[0] = '\0';
	o = &srv->opts;
	srv->lfd = listen_on(listen, &srv->port);
	if (srv->lfd < 0) {
		err = srv->lfd;
		goto fail;
	}
	if (o->tls_cert[0] || o->tls_key[0]) {
		if (!o->tls_cert[0] || !o->tls_key[0]) {
			log_error("failed to set up TLS: --tls-cert and --tls-key go together");
			err = -EINVAL;
			goto fail;
		}
		if ((err = read_pem(o->tls_cert, "TLS certificate", &srv->tls_cert_pem)) ||
		    (err = read_pem(o->tls_key, "TLS key", &srv->tls_key_pem)))
			goto fail;
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						     srv->tls_cert_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						     srv->tls_key_pem };
		if (o->tls_client_ca[0]) {
			if ((err = read_pem(o->tls_client_ca, "client CA", &srv->tls_ca_pem)))
				goto fail;
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							     srv->tls_ca_pem };
		}
	} else if (o->tls_client_ca[0]) {
		log_error("failed to set up mTLS: --tls-client-ca needs --tls-cert and --tls-key");
		err = -EINVAL;
		goto fail;
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, 1000, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
				    MHD_OPTION_LISTEN_SOCKET, srv->lfd,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!srv->mhd) {
		log_error("failed to start HTTP server on %s", listen);
		err = -EIO;
		goto fail;
	}
	srv->lfd = -1; /* MHD owns it now */
	log_info("listening on %s (port %u)%s%s", listen, srv->port,
		 o->tls_cert[0] ? (o->tls_client_ca[0] ? ", TLS with client certificates" : ", TLS")
				: ", plain HTTP",
		 role == SRV_ADMIN ? ", query API" : role == SRV_AGENTS ? ", agents" : "");
	*out = srv;
	return 0;
fail:
	server_stop(srv);
	return err;
}

int server_start(struct store *st, const struct collector_opts *o, struct server **out)
{
	return start(st, o, o->admin_listen[0] ? SRV_AGENTS : SRV_ALL, NULL, out);
}

int server_start_admin(struct store *st, const struct collector_opts *o, struct server *ingest,
		       struct server **out)
{
	return start(st, o, SRV_ADMIN, ingest, out);
}

uint16_t server_port(const struct server *srv)
{
	return srv->port;
}


void server_stop(struct server *srv)
{
	if (!srv)
		return;
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	if (srv->lfd >= 0)
		close(srv->lfd);
	free(srv->tls_cert_pem);
	free(srv->tls_key_pem);
	free(srv->tls_ca_pem);
	free(srv);
}
