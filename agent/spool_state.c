// SPDX-License-Identifier: Apache-2.0
/*
 * DIR/spool/state, for example:
 *   # aitrail agent spool state; replaced atomically, do not edit
 *   next_seq 1201
 *   next_batch_seq 3
 *   last_hash 9f86d081884c7d65...
 *   sent_seq 1200
 *   acked_seq 1000
 *   running 1
 *   unclean_stops 0
 *   inflight 2 1200 200 0
 *   gap 1150 1160 11 spool_full_drop_oldest
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/spool_state.h"
#include "common/log.h"

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

int spool_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	const uint8_t *p = data;
	int fd, err = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		log_error("failed to create %s: %s", tmp, strerror(-err));
		return err;
	}
	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_error("failed to write %s: %s", tmp, strerror(-err));
			break;
		}
		p += n;
		len -= n;
	}
	if (!err && fsync(fd)) {
		err = -errno;
		log_error("failed to sync %s: %s", tmp, strerror(-err));
	}
	close(fd);
	if (!err && rename(tmp, path)) {
		err = -errno;
		log_error("failed to rename %s: %s", tmp, strerror(-err));
	}
	if (err) {
		unlink(tmp);
		return err;
	}
	fsync_dir(dir);
	return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *b, size_t n)
{
	unsigned int v;

	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		b[i] = v;
	}
	return 0;
}

int spool_state_write(const char *dir, const struct spool_state *st,
		      const struct spool_batch *inflight)
{
	char buf[8192], hx[2 * WIRE_HASH_LEN + 1] = "";
	int n, i;

	if (st->have_hash)
		hex(st->last_hash, WIRE_HASH_LEN, hx);
	n = snprintf(buf, sizeof(buf),
		     "# aitrail agent spool state; replaced atomically, do not edit\n"
		     "next_seq %" PRIu64 "\nnext_batch_seq %" PRIu64 "\nlast_hash %s\n"
		     "sent_seq %" PRIu64 "\nacked_seq %" PRIu64 "\nrunning %d\n"
		     "unclean_stops %" PRIu64 "\n",
		     st->next_seq, st->next_batch_seq, st->have_hash ? hx : "-", st->sent_seq,
		     st->acked_seq, st->running, st->unclean_stops);
	if (inflight)
		n += snprintf(buf + n, sizeof(buf) - n, "inflight %" PRIu64 " %" PRIu64 " %u %u\n",
			      inflight->seq, inflight->to_seq, inflight->n_events,
			      inflight->n_gaps);
	for (i = 0; i < st->n_gaps; i++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      "gap %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", st->gaps[i].from,
			      st->gaps[i].to, st->gaps[i].events, st->gaps[i].reason);
	return spool_write_atomic(dir, "state", buf, n);
}

int spool_state_read(const char *dir, struct spool_state *st, struct spool_batch *inflight)
{
	char path[PATH_MAX + 16], line[256], key[32], a[80], reason[32];
	unsigned long long x, y, z;
	unsigned int ne, ng;
	int lineno = 0, err = 0;
	FILE *f;

	inflight->seq = 0;
	snprintf(path, sizeof(path), "%s/state", dir);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		log_error("failed to open %s: %s", path, strerror(-err));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%31s", key) != 1)
			goto bad;
		if (!strcmp(key, "gap")) {
			if (sscanf(line, "gap %llu %llu %llu %31s", &x, &y, &z, reason) != 4 ||
			    st->n_gaps >= SPOOL_MAX_GAPS)
				goto bad;
			st->gaps[st->n_gaps] = (struct spool_gap){ .from = x, .to = y, .events = z };
			snprintf(st->gaps[st->n_gaps++].reason, sizeof(st->gaps[0].reason), "%s",
				 reason);
		} else if (!strcmp(key, "inflight")) {
			if (sscanf(line, "inflight %llu %llu %u %u", &x, &y, &ne, &ng) != 4)
				goto bad;
			inflight->n_events = ne;
			inflight->n_gaps = ng;
			inflight->seq = x;
			inflight->to_seq = y;
		} else if (!strcmp(key, "last_hash")) {
			if (sscanf(line, "last_hash %79s", a) != 1)
				goto bad;
			if (strcmp(a, "-")) {
				if (unhex(a, st->last_hash, WIRE_HASH_LEN))
					goto bad;
				st->have_hash = 1;
			}
		} else {
			if (sscanf(line, "%*s %llu", &x) != 1)
				goto bad;
			if (!strcmp(key, "next_seq"))
				st->next_seq = x;
			else if (!strcmp(key, "next_batch_seq"))
				st->next_batch_seq = x;
			else if (!strcmp(key, "sent_seq"))
				st->sent_seq = x;
			else if (!strcmp(key, "acked_seq"))
				st->acked_seq = x;
			else if (!strcmp(key, "running"))
				st->running = !!x;
			else if (!strcmp(key, "unclean_stops"))
				st->unclean_stops = x;
			else
				goto bad;
		}
	}
	fclose(f);
	return 0;
bad:
	/* refusing to start beats silently renumbering events the collector already has */
	log_error("%s:%d: damaged spool state line; fix or remove the spool directory", path,
		  lineno);
	fclose(f);
	return -EINVAL;
}

void spool_gap_add(struct spool_state *st, uint64_t from, uint64_t to, uint64_t events,
		   const char *reason)
{
	struct spool_gap *g = st->n_gaps ? &st->gaps[st->n_gaps - 1] : NULL;

	/* consecutive drops of one kind become one gap; the table never overflows silently */
	if (g && !strcmp(g->reason, reason) && from <= g->to + 1 && from >= g->from) {
		if (to > g->to)
			g->to = to;
		g->events += events;
		return;
	}
	if (st->n_gaps == SPOOL_MAX_GAPS) {
		g = &st->gaps[SPOOL_MAX_GAPS - 1];
		if (to > g->to)
			g->to = to;
		if (from < g->from)
			g->from = from;
		g->events += events;
		snprintf(g->reason, sizeof(g->reason), "spool_full");
		return;
	}
	g = &st->gaps[st->n_gaps++];
	*g = (struct spool_gap){ .from = from, .to = to, .events = events };
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
}
