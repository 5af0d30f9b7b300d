// SPDX-License-Identifier: Apache-2.0
/*
 * Layout of DIR/spool:
 *   NNNNNNNNNNNNNNNNNNNN.seg  frames of packed Events; the name is the first event seq in it
 *   state                     text, replaced atomically (temp + rename): sequence numbers,
 *                             hash chain, acknowledged position, pending gaps, in-flight batch
 *   batch                     the in-flight batch body, so a restart resends it byte for byte
 *                             and the collector can recognize it as a duplicate
 * Segment writes are plain write(2): they survive the agent being killed (page cache); fsync
 * runs from spool_sync() on the agent's timer and whenever a batch is cut or acknowledged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "agent/spool.h"
#include "common/util.h"

#define MAX_GAPS 64
#define SEG_MIN (4u << 10)
#define SEG_MAX (8u << 20)
#define READ_CHUNK (256u << 10)
#define WBUF_MAX (256u << 10)

struct segment {
	uint64_t first_seq;
	uint64_t last_seq;  /* 0 while empty */
	uint64_t events;
	uint64_t bytes;
};

struct gap {
	uint64_t from, to, events;
	char reason[32];
};

struct spool {
	char dir[PATH_MAX];
	uint64_t max_bytes;
	uint64_t seg_max;
	enum cfg_spool_policy policy;

	struct segment *segs;
	size_t n_segs, cap_segs;
	int wfd;              /* last segment, open for append; -1 = open on next append */
	int lockfd;           /* flock: one agent per spool */
	uint64_t total_bytes;

	/* read cursor: the first event not yet in a batch */
	size_t rd_seg;
	uint64_t rd_off;

	uint64_t next_seq;
	uint64_t next_batch_seq;
	uint8_t last_hash[WIRE_HASH_LEN];
	int have_hash;
	uint64_t sent_seq;    /* last event seq cut into a batch */
	uint64_t acked_seq;
	struct gap gaps[MAX_GAPS];
	int n_gaps;

	int inflight;
	struct spool_batch batch;

	uint64_t pending_events, pending_bytes, pending_since;
	uint64_t unacked_events;
	uint64_t dropped, corrupt_bytes;
	int state_dirty, data_dirty, opened;
	/* "running 1" stays in the state while an agent has the spool open: finding it at open
	 * means the last one was killed or crashed, losing what it had read but not spooled */
	int running;
	uint64_t unclean_stops;
	/* appends not yet written, all for the last segment (spool_buffer_appends) */
	int buffering;
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint64_t w_first, w_last, w_prev_last, w_events;
	uint8_t *rbuf;          /* read-ahead of one segment file */
	size_t rbuf_cap, rb_len;
	uint64_t rb_off;
};

static void seg_path(const struct spool *s, uint64_t first, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%020" PRIu64 ".seg", s->dir, first);
}

static int fsync_path(const char *path, int dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* Writes path atomically: temp file, fsync, rename, fsync of the directory. */
static int write_atomic(const struct spool *s, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	const uint8_t *p = data;
	int fd, err = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
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
	fsync_path(s->dir, 1);
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

static int state_write(struct spool *s)
{
	char buf[8192], hx[2 * WIRE_HASH_LEN + 1] = "";
	int n, i, err;

	if (s->have_hash)
		hex(s->last_hash, WIRE_HASH_LEN, hx);
	n = snprintf(buf, sizeof(buf),
		     "# aitrail agent spool state; replaced atomically, do not edit\n"
		     "next_seq %" PRIu64 "\nnext_batch_seq %" PRIu64 "\nlast_hash %s\n"
		     "sent_seq %" PRIu64 "\nacked_seq %" PRIu64 "\nrunning %d\n"
		     "unclean_stops %" PRIu64 "\n",
		     s->next_seq, s->next_batch_seq, s->have_hash ? hx : "-", s->sent_seq,
		     s->acked_seq, s->running, s->unclean_stops);
	if (s->inflight)
		n += snprintf(buf + n, sizeof(buf) - n, "inflight %" PRIu64 " %" PRIu64 " %u %u\n",
			      s->batch.seq, s->batch.to_seq, s->batch.n_events, s->batch.n_gaps);
	for (i = 0; i < s->n_gaps; i++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      "gap %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", s->gaps[i].from,
			      s->gaps[i].to, s->gaps[i].events, s->gaps[i].reason);
	err = write_atomic(s, "state", buf, n);
	if (!err)
		s->state_dirty = 0;
	return err;
}

static int state_read(struct spool *s, uint64_t *inflight_seq, uint64_t *inflight_to)
{
	char path[PATH_MAX + 16], line[256], key[32], a[80], reason[32];
	unsigned long long x, y, z;
	unsigned int ne, ng;
	int lineno = 0, err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/state", s->dir);
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
			    s->n_gaps >= MAX_GAPS)
				goto bad;
			s->gaps[s->n_gaps] = (struct gap){ .from = x, .to = y, .events = z };
			snprintf(s->gaps[s->n_gaps++].reason, sizeof(s->gaps[0].reason), "%s",
				 reason);
		} else if (!strcmp(key, "inflight")) {
			if (sscanf(line, "inflight %llu %llu %u %u", &x, &y, &ne, &ng) != 4)
				goto bad;
			s->batch.n_events = ne;
			s->batch.n_gaps = ng;
			*inflight_seq = x;
			*inflight_to = y;
		} else if (!strcmp(key, "last_hash")) {
			if (sscanf(line, "last_hash %79s", a) != 1)
				goto bad;
			if (strcmp(a, "-")) {
				if (unhex(a, s->last_hash, WIRE_HASH_LEN))
					goto bad;
				s->have_hash = 1;
			}
		} else {
			if (sscanf(line, "%*s %llu", &x) != 1)
				goto bad;
			if (!strcmp(key, "next_seq"))
				s->next_seq = x;
			else if (!strcmp(key, "next_batch_seq"))
				s->next_batch_seq = x;
			else if (!strcmp(key, "sent_seq"))
				s->sent_seq = x;
			else if (!strcmp(key, "acked_seq"))
				s->acked_seq = x;
			else if (!strcmp(key, "running"))
				s->running = !!x;
			else if (!strcmp(key, "unclean_stops"))
				s->unclean_stops = x;
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

/* The seq field (6, varint) of a packed Event, without unpacking the rest. */
static int event_seq(const uint8_t *p, size_t n, uint64_t *seq)
{
	size_t i = 0;

	while (i < n) {
		uint64_t key = 0, v = 0;
		int shift = 0;

		do {
			if (i >= n || shift > 63)
				return -EBADMSG;
			key |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
		} while (p[i++] & 0x80);
		switch (key & 7) {
		case 0:
			shift = 0;
			do {
				if (i >= n || shift > 63)
					return -EBADMSG;
				v |= (uint64_t)(p[i] & 0x7f) << shift;
				shift += 7;
			} while (p[i++] & 0x80);
			if (key >> 3 == 6) {
				*seq = v;
				return 0;
			}
			break;
		case 1:
			i += 8;
			break;
		case 5:
			i += 4;
			break;
		case 2:
			shift = 0;
			do {
				if (i >= n || shift > 63)
					return -EBADMSG;
				v |= (uint64_t)(p[i] & 0x7f) << shift;
				shift += 7;
			} while (p[i++] & 0x80);
			if (v > n - i)
				return -EBADMSG;
			i += v;
			break;
		default:
			return -EBADMSG;
		}
	}
	return -ENOENT;
}

static int rbuf_reserve(struct spool *s, size_t n)
{
	uint8_t *nb;

	if (n <= s->rbuf_cap)
		return 0;
	nb = realloc(s->rbuf, n);
	if (!nb)
		return -ENOMEM;
	s->rbuf = nb;
	s->rbuf_cap = n;
	return 0;
}

/* Fills s->rbuf with the file's bytes from off: at least need of them when the file has them. */
static int rbuf_fill(struct spool *s, int fd, uint64_t off, size_t need)
{
	size_t want = need > READ_CHUNK ? need : READ_CHUNK, got = 0;
	ssize_t n;
	int err;

	err = rbuf_reserve(s, want);
	if (err)
		return err;
	s->rb_off = off;
	s->rb_len = 0;
	while (got < want) {
		n = pread(fd, s->rbuf + got, want - got, off + got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += n;
	}
	s->rb_len = got;
	return 0;
}

/*
 * The frame at off, read ahead in chunks (a batch is a thousand small frames: one read, not
 * two thousand). s->rb_len = 0 whenever another file is read. Returns 0 with *f pointing into
 * s->rbuf, -ENODATA at the end of the file, -EBADMSG for a damaged or torn frame.
 */
static int read_frame(struct spool *s, int fd, uint64_t off, struct wire_frame *f)
{
	const uint8_t *p;
	uint32_t len;
	int err;

	if (off < s->rb_off || off + WIRE_FRAME_HDR > s->rb_off + s->rb_len) {
		err = rbuf_fill(s, fd, off, WIRE_FRAME_HDR);
		if (err)
			return err;
		if (!s->rb_len)
			return -ENODATA;
		if (s->rb_len < WIRE_FRAME_HDR)
			return -EBADMSG;
	}
	p = s->rbuf + (off - s->rb_off);
	len = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
	if (len > WIRE_FRAME_MAX)
		return -EBADMSG;
	if (off + WIRE_FRAME_HDR + len > s->rb_off + s->rb_len) {
		err = rbuf_fill(s, fd, off, WIRE_FRAME_HDR + (size_t)len);
		if (err)
			return err;
		p = s->rbuf;
	}
	err = wire_frame_get(p, s->rb_off + s->rb_len - off, WIRE_FRAME_MAX, f);
	return err ? -EBADMSG : 0;
}

static int add_segment(struct spool *s, uint64_t first)
{
	struct segment *ns;

	if (s->n_segs == s->cap_segs) {
		size_t cap = s->cap_segs ? s->cap_segs * 2 : 16;

		ns = realloc(s->segs, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		s->segs = ns;
		s->cap_segs = cap;
	}
	s->segs[s->n_segs++] = (struct segment){ .first_seq = first };
	return 0;
}

static void add_gap(struct spool *s, uint64_t from, uint64_t to, uint64_t events,
		    const char *reason)
{
	struct gap *g = s->n_gaps ? &s->gaps[s->n_gaps - 1] : NULL;

	s->state_dirty = 1;
	/* consecutive drops of one kind become one gap; the table never overflows silently */
	if (g && !strcmp(g->reason, reason) && from <= g->to + 1 && from >= g->from) {
		if (to > g->to)
			g->to = to;
		g->events += events;
		return;
	}
	if (s->n_gaps == MAX_GAPS) {
		g = &s->gaps[MAX_GAPS - 1];
		if (to > g->to)
			g->to = to;
		if (from < g->from)
			g->from = from;
		g->events += events;
		snprintf(g->reason, sizeof(g->reason), "spool_full");
		return;
	}
	g = &s->gaps[s->n_gaps++];
	*g = (struct gap){ .from = from, .to = to, .events = events };
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
}

/* Scans one segment: counts frames, finds its seqs, cuts a torn or damaged tail. */
static int scan_segment(struct spool *s, size_t i, int *found_rd)
{
	struct segment *sg = &s->segs[i];
	char path[PATH_MAX + 32];
	struct wire_frame f;
	uint64_t off = 0, seq;
	struct stat st;
	int fd, err;

	seg_path(s, sg->first_seq, path, sizeof(path));
	s->rb_len = 0;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("failed to open spool segment %s: %s", path, strerror(-err));
		return err;
	}
	for (;;) {
		err = read_frame(s, fd, off, &f);
		if (err == -ENODATA)
			break;
		if (!err && event_seq(f.payload, f.len, &seq))
			err = -EBADMSG;
		if (err)
			break;
		if (!*found_rd && seq > s->sent_seq) {
			s->rd_seg = i;
			s->rd_off = off;
			*found_rd = 1;
		}
		if (seq > s->acked_seq)
			s->unacked_events++;
		if (seq > s->sent_seq) {
			s->pending_events++;
			s->pending_bytes += f.total;
		}
		sg->last_seq = seq;
		sg->events++;
		off += f.total;
	}
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > off) {
		uint64_t lost = st.st_size - off;

		/* a torn tail is the normal trace of a crash mid-write; damage inside is not */
		if (err == -EBADMSG && i + 1 < s->n_segs) {
			log_warn("spool segment %s damaged at offset %" PRIu64 ": %" PRIu64
				 " bytes discarded", path, off, lost);
			add_gap(s, sg->last_seq ? sg->last_seq + 1 : sg->first_seq,
				s->segs[i + 1].first_seq - 1, 0, "spool_damaged");
		} else {
			log_info("spool segment %s: cut a torn tail of %" PRIu64 " bytes", path,
				 lost);
		}
		s->corrupt_bytes += lost;
		if (ftruncate(fd, off))
			log_warn("failed to truncate %s: %s", path, strerror(errno));
	} else if (err && err != -ENODATA) {
		log_warn("failed to read spool segment %s: %s", path, strerror(-err));
	}
	close(fd);
	sg->bytes = off;
	s->total_bytes += off;
	return 0;
}

static int load_segments(struct spool *s)
{
	struct dirent **names = NULL;
	unsigned long long first;
	int n, i, err = 0, found_rd = 0;
	char tail[8];

	n = scandir(s->dir, &names, NULL, alphasort);
	if (n < 0) {
		err = -errno;
		log_error("failed to list %s: %s", s->dir, strerror(-err));
		return err;
	}
	for (i = 0; i < n; i++) {
		if (!err && sscanf(names[i]->d_name, "%20llu%7s", &first, tail) == 2 &&
		    !strcmp(tail, ".seg"))
			err = add_segment(s, first);
		free(names[i]);
	}
	free(names);
	if (err)
		return err;
	if (s->n_segs)
		log_info("spool: reading %zu segments in %s", s->n_segs, s->dir);
	for (i = 0; i < (int)s->n_segs && !err; i++)
		err = scan_segment(s, i, &found_rd);
	if (!found_rd) {
		s->rd_seg = s->n_segs;
		s->rd_off = 0;
	}
	return err;
}

static int load_inflight(struct spool *s, uint64_t seq, uint64_t to)
{
	char path[PATH_MAX + 16];
	struct stat st;
	int fd, err = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/batch", s->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		log_error("failed to open the in-flight batch %s: %s", path, strerror(-err));
		goto out;
	}
	s->batch.body = malloc(st.st_size ? st.st_size : 1);
	if (!s->batch.body) {
		err = -ENOMEM;
		goto out;
	}
	n = pread(fd, s->batch.body, st.st_size, 0);
	if (n != st.st_size) {
		err = n < 0 ? -errno : -EIO;
		log_error("failed to read %s: %s", path, strerror(-err));
		goto out;
	}
	s->batch.body_len = n;
	s->batch.seq = seq;
	s->batch.to_seq = to;
	s->inflight = 1;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static int lock_spool(struct spool *s)
{
	char path[PATH_MAX + 16];
	int err;

	snprintf(path, sizeof(path), "%s/lock", s->dir);
	s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		err = -errno;
		log_error("failed to open %s: %s", path, strerror(-err));
		return err;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			log_error("failed to lock the spool %s: another aitrail-agent uses it (give "
				  "each agent its own state_dir)", s->dir);
		else
			log_error("failed to lock %s: %s", path, strerror(-err));
		close(s->lockfd);
		s->lockfd = -1;
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	return 0;
}

int spool_open(struct spool **sp, const char *dir, uint64_t max_bytes,
	       enum cfg_spool_policy policy, uint64_t *next_event_seq)
{
	uint64_t inflight_seq = 0, inflight_to = 0;
	struct spool *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->wfd = -1;
	s->lockfd = -1;
	s->max_bytes = max_bytes;
	s->policy = policy;
	/* small segments under a small bound, so drop_oldest loses little at a time */
	s->seg_max = max_bytes / 16;
	if (s->seg_max < SEG_MIN)
		s->seg_max = SEG_MIN;
	if (s->seg_max > SEG_MAX)
		s->seg_max = SEG_MAX;
	s->next_seq = 1;
	s->next_batch_seq = 1;
	snprintf(s->dir, sizeof(s->dir), "%s/spool", dir);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("failed to create state directory %s: %s", dir, strerror(-err));
		goto fail;
	}
	if (mkdir(s->dir, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("failed to create spool directory %s: %s", s->dir, strerror(-err));
		goto fail;
	}
	err = lock_spool(s);
	if (err)
		goto fail;
	err = state_read(s, &inflight_seq, &inflight_to);
	if (err)
		goto fail;
	err = load_segments(s);
	if (err)
		goto fail;
	if (s->n_segs && s->segs[s->n_segs - 1].last_seq >= s->next_seq)
		s->next_seq = s->segs[s->n_segs - 1].last_seq + 1;
	if (inflight_seq) {
		err = load_inflight(s, inflight_seq, inflight_to);
		if (err)
			goto fail;
	}
	if (s->pending_events)
		s->pending_since = now_mono_ns();
	if (s->n_segs || s->n_gaps || s->inflight)
		log_info("spool: %" PRIu64 " bytes, %" PRIu64 " unacknowledged events, %d gaps"
			 "%s; next event seq %" PRIu64 ", next batch %" PRIu64,
			 s->total_bytes, s->unacked_events, s->n_gaps,
			 s->inflight ? ", one batch in flight" : "", s->next_seq, s->next_batch_seq);
	if (s->running) {
		s->unclean_stops++;
		log_warn("spool: the previous agent did not stop cleanly (killed, crashed or power "
			 "lost): the events it had read but not yet spooled, and the records still in "
			 "the kernel buffers, are lost, their number unknown (unclean stop %" PRIu64
			 " of this agent)", s->unclean_stops);
	}
	s->running = 1;
	err = state_write(s);
	if (err)
		goto fail;
	*next_event_seq = s->next_seq;
	s->opened = 1;
	*sp = s;
	return 0;
fail:
	spool_close(s);
	return err;
}

static void seg_delete(struct spool *s, size_t i)
{
	char path[PATH_MAX + 32];

	/* buffered appends belong to the last segment: they go with it, already counted by the
	 * caller (acknowledged, or dropped as a gap) */
	if (i == s->n_segs - 1)
		s->wlen = s->w_events = 0;
	if (i == s->n_segs - 1 && s->wfd >= 0) {
		close(s->wfd);
		s->wfd = -1;
	}
	seg_path(s, s->segs[i].first_seq, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		log_warn("failed to delete spool segment %s: %s", path, strerror(errno));
	s->total_bytes -= s->segs[i].bytes;
	memmove(&s->segs[i], &s->segs[i + 1], (s->n_segs - i - 1) * sizeof(s->segs[0]));
	s->n_segs--;
	if (s->rd_seg > i)
		s->rd_seg--;
	else if (s->rd_seg == i)
		s->rd_off = 0;
}

/* drop_oldest: frees the oldest segment that holds no event of a cut batch. */
static int drop_oldest(struct spool *s)
{
	struct segment *sg;
	size_t i;

	for (i = 0; i < s->n_segs; i++) {
		sg = &s->segs[i];
		if (sg->events && sg->first_seq > s->sent_seq)
			break;
	}
	if (i == s->n_segs)
		return -ENOSPC;
	/* the read cursor sits at a frame boundary before or at the start of this segment */
	add_gap(s, sg->first_seq, sg->last_seq, sg->events, "spool_full_drop_oldest");
	s->dropped += sg->events;
	s->pending_events -= sg->events;
	s->pending_bytes -= sg->bytes;
	s->unacked_events -= sg->events;
	log_warn("spool full (%" PRIu64 " bytes): dropped the oldest unsent events %" PRIu64
		 "-%" PRIu64 " (%" PRIu64 " events)", s->max_bytes, sg->first_seq, sg->last_seq,
		 sg->events);
	seg_delete(s, i);
	return 0;
}

static int open_write_segment(struct spool *s, uint64_t seq)
{
	char path[PATH_MAX + 32];
	struct segment *last = s->n_segs ? &s->segs[s->n_segs - 1] : NULL;
	int err;

	if (s->wfd >= 0 && last && last->bytes < s->seg_max)
		return 0;
	spool_flush_appends(s);
	if (s->wfd >= 0) {
		close(s->wfd);
		s->wfd = -1;
	}
	if (!last || last->bytes >= s->seg_max) {
		/* a read cursor past the end of everything now points at this new segment */
		err = add_segment(s, seq);
		if (err)
			return err;
		last = &s->segs[s->n_segs - 1];
	}
	seg_path(s, last->first_seq, path, sizeof(path));
	s->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->wfd < 0) {
		err = -errno;
		log_error("failed to open spool segment %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

void spool_buffer_appends(struct spool *s)
{
	s->buffering = 1;
}

int spool_flush_appends(struct spool *s)
{
	struct segment *sg;
	size_t off = 0;
	ssize_t w;
	int err = 0;

	if (!s->wlen)
		return 0;
	sg = &s->segs[s->n_segs - 1];
	while (off < s->wlen) {
		w = write(s->wfd, s->wbuf + off, s->wlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		off += w;
	}
	if (err) {
		log_error("failed to append %" PRIu64 " events to the spool: %s", s->w_events,
			  strerror(-err));
		/* a short write leaves torn frames: cut them so later frames stay readable */
		if (off && ftruncate(s->wfd, sg->bytes - s->wlen))
			log_error("failed to repair the spool segment: %s", strerror(errno));
		sg->bytes -= s->wlen;
		sg->events -= s->w_events;
		sg->last_seq = s->w_prev_last;
		s->total_bytes -= s->wlen;
		s->pending_events -= s->w_events;
		s->pending_bytes -= s->wlen;
		s->unacked_events -= s->w_events;
		add_gap(s, s->w_first, s->w_last, s->w_events, "spool_write_error");
		s->dropped += s->w_events;
	}
	s->wlen = 0;
	s->w_events = 0;
	return err;
}

/* Room for total more bytes in the append buffer; false when it cannot hold them. */
static bool wbuf_room(struct spool *s, size_t total)
{
	uint8_t *nb;
	size_t cap;

	if (s->wlen + total > WBUF_MAX)
		spool_flush_appends(s);
	if (total > WBUF_MAX)
		return false;
	if (s->wlen + total <= s->wcap)
		return true;
	cap = s->wcap ? s->wcap * 2 : 64u << 10;
	while (cap < s->wlen + total)
		cap *= 2;
	if (cap > WBUF_MAX)
		cap = WBUF_MAX;
	nb = realloc(s->wbuf, cap);
	if (!nb)
		return false;
	s->wbuf = nb;
	s->wcap = cap;
	return true;
}

int spool_append(struct spool *s, const at_event *ev)
{
	size_t n = aitrail__v1__event__get_packed_size(ev), total = WIRE_FRAME_HDR + n;
	struct segment *sg;
	uint8_t stack[4096], *buf, *payload;
	ssize_t w;
	int err;

	if (ev->seq >= s->next_seq)
		s->next_seq = ev->seq + 1;
	while (s->total_bytes + total > s->max_bytes) {
		if (s->policy == SPOOL_DROP_NEWEST || drop_oldest(s)) {
			add_gap(s, ev->seq, ev->seq, 1,
				s->policy == SPOOL_DROP_NEWEST ? "spool_full_drop_newest"
							       : "spool_full_drop_oldest");
			if (!s->dropped++ || !(s->dropped % 10000))
				log_warn("spool full (%" PRIu64 " bytes): refusing new events (%" PRIu64
					 " so far)", s->max_bytes, s->dropped);
			return 0;
		}
	}
	err = open_write_segment(s, ev->seq);
	if (err)
		goto lost;
	if (s->buffering && wbuf_room(s, total)) {
		sg = &s->segs[s->n_segs - 1];
		if (!s->wlen) {
			s->w_first = ev->seq;
			s->w_prev_last = sg->last_seq;
		}
		payload = s->wbuf + s->wlen + WIRE_FRAME_HDR;
		aitrail__v1__event__pack(ev, payload);
		wire_frame_put(s->wbuf + s->wlen, payload, n);
		s->wlen += total;
		s->w_last = ev->seq;
		s->w_events++;
		goto stored;
	}
	buf = total <= sizeof(stack) ? stack : malloc(total);
	if (!buf) {
		err = -ENOMEM;
		goto lost;
	}
	payload = buf + WIRE_FRAME_HDR;
	aitrail__v1__event__pack(ev, payload);
	wire_frame_put(buf, payload, n);
	w = write(s->wfd, buf, total);
	if (buf != stack)
		free(buf);
	if (w != (ssize_t)total) {
		err = w < 0 ? -errno : -EIO;
		log_error("failed to append to the spool: %s", strerror(-err));
		/* a short write leaves a torn frame: cut it so later frames stay readable */
		sg = &s->segs[s->n_segs - 1];
		if (w > 0 && ftruncate(s->wfd, sg->bytes))
			log_error("failed to repair the spool segment: %s", strerror(errno));
		goto lost;
	}
stored:
	sg = &s->segs[s->n_segs - 1];
	sg->last_seq = ev->seq;
	sg->events++;
	sg->bytes += total;
	s->total_bytes += total;
	if (!s->pending_events)
		s->pending_since = now_mono_ns();
	s->pending_events++;
	s->pending_bytes += total;
	s->unacked_events++;
	s->data_dirty = 1;
	return 0;
lost:
	add_gap(s, ev->seq, ev->seq, 1, "spool_write_error");
	s->dropped++;
	return err;
}

int spool_sync(struct spool *s)
{
	int err = spool_flush_appends(s);

	if (s->data_dirty && s->wfd >= 0) {
		if (fdatasync(s->wfd))
			err = -errno;
		s->data_dirty = 0;
	}
	if (s->state_dirty) {
		int e = state_write(s);

		if (e)
			err = e;
	}
	return err;
}

static void put_varint(uint8_t **p, uint64_t v)
{
	while (v >= 0x80) {
		*(*p)++ = (uint8_t)v | 0x80;
		v >>= 7;
	}
	*(*p)++ = (uint8_t)v;
}

/*
 * Builds the Batch body: protobuf-c packs the header fields and gaps, the events are appended
 * as field 6 straight from their spool frames, the same bytes the hash covers.
 */
static int cut_batch(struct spool *s, const Aitrail__V1__AgentInfo *agent, uint32_t max_events,
		     uint32_t max_bytes)
{
	Aitrail__V1__Batch b = AITRAIL__V1__BATCH__INIT;
	Aitrail__V1__Gap gmsg[MAX_GAPS], *gptr[MAX_GAPS];
	uint8_t hash[WIRE_HASH_LEN], *body = NULL, *p;
	size_t cap, hdr_len, seg = s->rd_seg;
	uint64_t off = s->rd_off, last = s->sent_seq, seq, bytes = 0;
	struct wire_hash h = {};
	struct wire_frame f;
	uint32_t n = 0;
	int fd = -1, err, i;
	char path[PATH_MAX + 32];

	spool_flush_appends(s);
	cap = 64 + (size_t)max_bytes + WIRE_FRAME_MAX / 64;
	body = malloc(cap);
	if (!body)
		return -ENOMEM;
	err = wire_hash_init(&h, s->have_hash ? s->last_hash : NULL,
			     s->have_hash ? WIRE_HASH_LEN : 0);
	if (err)
		goto out;
	/* events go at the end; leave room for the packed header, filled in afterwards */
	p = body;
	while (n < max_events && seg < s->n_segs) {
		if (fd < 0) {
			seg_path(s, s->segs[seg].first_seq, path, sizeof(path));
			s->rb_len = 0;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				err = -errno;
				log_error("failed to open spool segment %s: %s", path,
					  strerror(-err));
				goto out;
			}
		}
		err = off < s->segs[seg].bytes ? read_frame(s, fd, off, &f) : -ENODATA;
		if (err == -ENODATA) {
			close(fd);
			fd = -1;
			if (seg + 1 >= s->n_segs)
				break;
			seg++;
			off = 0;
			continue;
		}
		if (!err && event_seq(f.payload, f.len, &seq))
			err = -EBADMSG;
		if (err) {
			log_error("failed to read spool segment %s at %" PRIu64 ": %s", path, off,
				  strerror(-err));
			goto out;
		}
		if (n && bytes + f.len + 16 > max_bytes)
			break;
		if ((size_t)(p - body) + f.len + 16 > cap) {
			size_t ncap = cap * 2 + f.len;
			uint8_t *nb = realloc(body, ncap);

			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			p = nb + (p - body);
			body = nb;
			cap = ncap;
		}
		*p++ = (6 << 3) | 2;
		put_varint(&p, f.len);
		memcpy(p, f.payload, f.len);
		p += f.len;
		err = wire_hash_update(&h, f.payload, f.len);
		if (err)
			goto out;
		bytes += f.total;
		last = seq;
		off += f.total;
		n++;
	}
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (!n && !s->n_gaps) {
		err = -ENODATA;
		goto out;
	}
	err = wire_hash_final(&h, hash);
	if (err)
		goto out;

	b.version = WIRE_VERSION;
	b.agent = (Aitrail__V1__AgentInfo *)agent;
	b.seq = s->next_batch_seq;
	if (s->have_hash) {
		b.prev_hash.data = s->last_hash;
		b.prev_hash.len = WIRE_HASH_LEN;
	}
	b.hash.data = hash;
	b.hash.len = WIRE_HASH_LEN;
	for (i = 0; i < s->n_gaps; i++) {
		aitrail__v1__gap__init(&gmsg[i]);
		gmsg[i].from_seq = s->gaps[i].from;
		gmsg[i].to_seq = s->gaps[i].to;
		gmsg[i].events = s->gaps[i].events;
		gmsg[i].reason = s->gaps[i].reason;
		gptr[i] = &gmsg[i];
	}
	b.n_gaps = s->n_gaps;
	b.gaps = gptr;
	hdr_len = aitrail__v1__batch__get_packed_size(&b);
	{
		size_t ev_len = p - body;
		uint8_t *full = malloc(hdr_len + ev_len), *z;
		size_t zlen;

		if (!full) {
			err = -ENOMEM;
			goto out;
		}
		aitrail__v1__batch__pack(&b, full);
		memcpy(full + hdr_len, body, ev_len);
		err = wire_deflate(full, hdr_len + ev_len, &z, &zlen);
		free(full);
		if (err)
			goto out;
		free(body);
		body = z;
		s->batch.body_len = zlen;
	}
	err = write_atomic(s, "batch", body, s->batch.body_len);
	if (err)
		goto out;
	free(s->batch.body);
	s->batch.body = body;
	body = NULL;
	s->batch.seq = s->next_batch_seq;
	s->batch.to_seq = last;
	s->batch.n_events = n;
	s->batch.n_gaps = s->n_gaps;
	s->inflight = 1;
	s->next_batch_seq++;
	memcpy(s->last_hash, hash, WIRE_HASH_LEN);
	s->have_hash = 1;
	s->sent_seq = last;
	s->n_gaps = 0;
	s->rd_seg = seg;
	s->rd_off = off;
	s->pending_events -= n;
	s->pending_bytes -= bytes;
	s->pending_since = s->pending_events ? now_mono_ns() : 0;
	if (s->data_dirty && s->wfd >= 0 && !fdatasync(s->wfd))
		s->data_dirty = 0;
	err = state_write(s);
out:
	if (fd >= 0)
		close(fd);
	wire_hash_abort(&h);
	free(body);
	return err;
}

int spool_next_batch(struct spool *s, const Aitrail__V1__AgentInfo *agent, uint32_t max_events,
		     uint32_t max_bytes, const struct spool_batch **b)
{
	int err;

	if (!s->inflight) {
		err = cut_batch(s, agent, max_events, max_bytes);
		if (err)
			return err;
	}
	*b = &s->batch;
	return 0;
}

/* Recounts the unsent events and puts the read cursor on the first one (after sent_seq). */
static void reposition(struct spool *s)
{
	char path[PATH_MAX + 32];
	struct wire_frame f;
	uint64_t off, seq;
	int fd, found = 0;
	size_t i;

	spool_flush_appends(s);
	s->pending_events = s->pending_bytes = 0;
	s->rd_seg = s->n_segs;
	s->rd_off = 0;
	for (i = 0; i < s->n_segs; i++) {
		seg_path(s, s->segs[i].first_seq, path, sizeof(path));
		s->rb_len = 0;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_error("failed to open spool segment %s: %s", path, strerror(errno));
			continue;
		}
		for (off = 0; off < s->segs[i].bytes; off += f.total) {
			if (read_frame(s, fd, off, &f) || event_seq(f.payload, f.len, &seq)) {
				log_error("failed to read spool segment %s at %" PRIu64, path, off);
				break;
			}
			if (seq <= s->sent_seq)
				continue;
			if (!found++) {
				s->rd_seg = i;
				s->rd_off = off;
			}
			s->pending_events++;
			s->pending_bytes += f.total;
		}
		close(fd);
	}
	s->pending_since = s->pending_events ? now_mono_ns() : 0;
}

int spool_new_chain(struct spool *s)
{
	struct gap newer[MAX_GAPS];
	char path[PATH_MAX + 16];
	ProtobufCMessage *m;
	int n_newer, i;

	if (s->inflight) {
		/* the unacknowledged batch is cut again: its gaps go back before the newer ones */
		n_newer = s->n_gaps;
		memcpy(newer, s->gaps, sizeof(newer));
		s->n_gaps = 0;
		if (!wire_unpack(&aitrail__v1__batch__descriptor, s->batch.body, s->batch.body_len,
				 1, NULL, &m, NULL, 0)) {
			Aitrail__V1__Batch *b = (Aitrail__V1__Batch *)m;

			for (size_t j = 0; j < b->n_gaps; j++)
				add_gap(s, b->gaps[j]->from_seq, b->gaps[j]->to_seq,
					b->gaps[j]->events, b->gaps[j]->reason);
			wire_free(m);
		} else {
			log_error("failed to read the in-flight batch: its gap records are lost");
		}
		for (i = 0; i < n_newer; i++)
			add_gap(s, newer[i].from, newer[i].to, newer[i].events, newer[i].reason);
		free(s->batch.body);
		memset(&s->batch, 0, sizeof(s->batch));
		s->inflight = 0;
		snprintf(path, sizeof(path), "%s/batch", s->dir);
		unlink(path);
	}
	s->sent_seq = s->acked_seq;
	reposition(s);
	s->next_batch_seq = 1;
	s->have_hash = 0;
	memset(s->last_hash, 0, sizeof(s->last_hash));
	return state_write(s);
}

int spool_reissue(struct spool *s, const Aitrail__V1__AgentInfo *agent)
{
	Aitrail__V1__Batch *b;
	ProtobufCMessage *m;
	uint8_t *out;
	size_t len;
	char why[128];
	int err;

	if (!s->inflight)
		return 0;
	err = wire_unpack(&aitrail__v1__batch__descriptor, s->batch.body, s->batch.body_len, 1,
			  NULL, &m, why, sizeof(why));
	if (err) {
		log_error("failed to read the in-flight batch: %s", why);
		return err;
	}
	b = (Aitrail__V1__Batch *)m;
	b->agent = (Aitrail__V1__AgentInfo *)agent;
	err = wire_pack(&b->base, 1, &out, &len);
	b->agent = NULL; /* not ours to free */
	protobuf_c_message_free_unpacked(m, NULL);
	if (err)
		return err;
	err = write_atomic(s, "batch", out, len);
	if (err) {
		free(out);
		return err;
	}
	free(s->batch.body);
	s->batch.body = out;
	s->batch.body_len = len;
	return 0;
}

int spool_ack(struct spool *s, uint64_t batch_seq)
{
	char path[PATH_MAX + 16];

	if (!s->inflight || s->batch.seq != batch_seq) {
		log_warn("acknowledgement for batch %" PRIu64 " which is not in flight; ignored",
			 batch_seq);
		return -ESRCH;
	}
	if (s->batch.to_seq > s->acked_seq) {
		s->unacked_events -= s->batch.n_events <= s->unacked_events ? s->batch.n_events
									    : s->unacked_events;
		s->acked_seq = s->batch.to_seq;
	}
	s->inflight = 0;
	free(s->batch.body);
	memset(&s->batch, 0, sizeof(s->batch));
	/* a segment goes once all of it is acknowledged and the reader is past it */
	while (s->n_segs && s->segs[0].last_seq <= s->acked_seq &&
	       (s->rd_seg > 0 || s->rd_off >= s->segs[0].bytes))
		seg_delete(s, 0);
	snprintf(path, sizeof(path), "%s/batch", s->dir);
	unlink(path);
	return state_write(s);
}

void spool_get_stats(struct spool *s, struct spool_stats *st)
{
	st->bytes = s->total_bytes;
	st->events = s->unacked_events;
	st->pending_events = s->pending_events;
	st->pending_bytes = s->pending_bytes;
	st->dropped = s->dropped;
	st->corrupt_bytes = s->corrupt_bytes;
	st->next_seq = s->next_seq;
	st->next_batch_seq = s->next_batch_seq;
	st->acked_seq = s->acked_seq;
	st->pending_gaps = s->n_gaps;
	st->unclean_stops = s->unclean_stops;
}

int spool_inflight(struct spool *s)
{
	return s->inflight;
}

uint64_t spool_pending_since(struct spool *s)
{
	return s->pending_events || s->n_gaps ? s->pending_since : 0;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	spool_flush_appends(s);
	if (s->wfd >= 0) {
		fdatasync(s->wfd);
		close(s->wfd);
	}
	if (s->lockfd >= 0)
		close(s->lockfd);
	/* only a spool that opened cleanly may overwrite the state it read */
	if (s->opened) {
		s->running = 0;
		state_write(s);
	}
	free(s->segs);
	free(s->batch.body);
	free(s->rbuf);
	free(s->wbuf);
	free(s);
}
