// SPDX-License-Identifier: Apache-2.0
/*
 * Layout of DIR/spool:
 *   NNNNNNNNNNNNNNNNNNNN.seg  frames of packed Events; the name is the first event seq in it
 *                             (agent/spool_segment.c)
 *   state                     text, replaced atomically (temp + rename): sequence numbers,
 *                             hash chain, acknowledged position, pending gaps, in-flight batch
 *                             (agent/spool_state.c)
 *   batch                     the in-flight batch body, so a restart resends it byte for byte
 *                             and the collector can recognize it as a duplicate
 * This file appends events, cuts batches from them (common/wire.c encodes the Batch) and
 * forgets what the collector acknowledged. Segment writes are plain write(2): they survive the
 * agent being killed (page cache); fsync runs from spool_sync() on the agent's timer and
 * whenever a batch is cut or acknowledged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/spool.h"
#include "agent/spool_segment.h"
#include "agent/spool_state.h"
#include "common/log.h"
#include "common/util.h"

#define SEG_MIN (4u << 10)
#define SEG_MAX (8u << 20)
#define WBUF_MAX (256u << 10)

struct spool {
	char dir[PATH_MAX];
	uint64_t max_bytes;
	uint64_t seg_max;
	enum cfg_spool_policy policy;

	struct spool_segments segs;
	int wfd;              /* last segment, open for append; -1 = open on next append */
	int lockfd;           /* flock: one agent per spool */

	/* read cursor: the first event not yet in a batch */
	size_t rd_seg;
	uint64_t rd_off;

	struct spool_state st;
	int inflight;
	struct spool_batch batch;

	uint64_t pending_events, pending_bytes, pending_since;
	uint64_t unacked_events;
	uint64_t dropped, corrupt_bytes;
	int state_dirty, data_dirty, opened;
	/* appends not yet written, all for the last segment (spool_buffer_appends) */
	int buffering;
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint64_t w_first, w_last, w_prev_last, w_events;
};

static int state_write(struct spool *s)
{
	int err = spool_state_write(s->dir, &s->st, s->inflight ? &s->batch : NULL);

	if (!err)
		s->state_dirty = 0;
	return err;
}

static void add_gap(struct spool *s, uint64_t from, uint64_t to, uint64_t events,
		    const char *reason)
{
	spool_gap_add(&s->st, from, to, events, reason);
	s->state_dirty = 1;
}

static struct spool_segment *last_seg(struct spool *s)
{
	return s->segs.n ? &s->segs.v[s->segs.n - 1] : NULL;
}

/* --- open --------------------------------------------------------------------------------- */

/* Counts a scanned segment's unsent events; the first segment holding one gets the cursor. */
static void count_unsent(struct spool *s, size_t i, const struct spool_seg_scan *r, bool *found)
{
	if (!*found && r->found_unsent) {
		s->rd_seg = i;
		s->rd_off = r->unsent_off;
		*found = true;
	}
	s->pending_events += r->pending_events;
	s->pending_bytes += r->pending_bytes;
}

/* Scans every segment at open: counts, the read cursor, torn tails cut, damage as a gap. */
static int load_segments(struct spool *s)
{
	struct spool_seg_scan r;
	bool found = false;
	size_t i;
	int err;

	err = spool_seg_list(&s->segs);
	if (err)
		return err;
	if (s->segs.n)
		log_info("spool: reading %zu segments in %s", s->segs.n, s->dir);
	for (i = 0; i < s->segs.n; i++) {
		struct spool_segment *sg = &s->segs.v[i];

		err = spool_seg_scan(&s->segs, i, s->st.sent_seq, s->st.acked_seq, true, &r);
		if (err)
			return err;
		count_unsent(s, i, &r, &found);
		s->unacked_events += r.unacked_events;
		s->corrupt_bytes += r.cut_bytes;
		if (r.damaged)
			add_gap(s, sg->last_seq ? sg->last_seq + 1 : sg->first_seq,
				s->segs.v[i + 1].first_seq - 1, 0, "spool_damaged");
	}
	if (!found) {
		s->rd_seg = s->segs.n;
		s->rd_off = 0;
	}
	return 0;
}

static int load_inflight(struct spool *s)
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
	struct spool_segment *last;
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
	s->st.next_seq = 1;
	s->st.next_batch_seq = 1;
	snprintf(s->dir, sizeof(s->dir), "%s/spool", dir);
	snprintf(s->segs.dir, sizeof(s->segs.dir), "%s", s->dir);
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
	err = spool_state_read(s->dir, &s->st, &s->batch);
	if (err)
		goto fail;
	err = load_segments(s);
	if (err)
		goto fail;
	last = last_seg(s);
	if (last && last->last_seq >= s->st.next_seq)
		s->st.next_seq = last->last_seq + 1;
	if (s->batch.seq) {
		err = load_inflight(s);
		if (err)
			goto fail;
	}
	if (s->pending_events)
		s->pending_since = now_mono_ns();
	if (s->segs.n || s->st.n_gaps || s->inflight)
		log_info("spool: %" PRIu64 " bytes, %" PRIu64 " unacknowledged events, %d gaps"
			 "%s; next event seq %" PRIu64 ", next batch %" PRIu64,
			 s->segs.total_bytes, s->unacked_events, s->st.n_gaps,
			 s->inflight ? ", one batch in flight" : "", s->st.next_seq,
			 s->st.next_batch_seq);
	if (s->st.running) {
		s->st.unclean_stops++;
		log_warn("spool: the previous agent did not stop cleanly (killed, crashed or power "
			 "lost): the events it had read but not yet spooled, and the records still in "
			 "the kernel buffers, are lost, their number unknown (unclean stop %" PRIu64
			 " of this agent)", s->st.unclean_stops);
	}
	s->st.running = 1;
	err = state_write(s);
	if (err)
		goto fail;
	*next_event_seq = s->st.next_seq;
	s->opened = 1;
	*sp = s;
	return 0;
fail:
	spool_close(s);
	return err;
}

/* --- append ------------------------------------------------------------------------------- */

static void seg_delete(struct spool *s, size_t i)
{
	/* buffered appends belong to the last segment: they go with it, already counted by the
	 * caller (acknowledged, or dropped as a gap) */
	if (i == s->segs.n - 1)
		s->wlen = s->w_events = 0;
	if (i == s->segs.n - 1 && s->wfd >= 0) {
		close(s->wfd);
		s->wfd = -1;
	}
	spool_seg_remove(&s->segs, i);
	if (s->rd_seg > i)
		s->rd_seg--;
	else if (s->rd_seg == i)
		s->rd_off = 0;
}

/* drop_oldest: frees the oldest segment that holds no event of a cut batch. */
static int drop_oldest(struct spool *s)
{
	struct spool_segment *sg;
	size_t i;

	for (i = 0; i < s->segs.n; i++) {
		sg = &s->segs.v[i];
		if (sg->events && sg->first_seq > s->st.sent_seq)
			break;
	}
	if (i == s->segs.n)
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
	struct spool_segment *last = last_seg(s);
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
		err = spool_seg_add(&s->segs, seq);
		if (err)
			return err;
		last = last_seg(s);
	}
	spool_seg_path(&s->segs, last->first_seq, path, sizeof(path));
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
	struct spool_segment *sg;
	size_t off = 0;
	ssize_t w;
	int err = 0;

	if (!s->wlen)
		return 0;
	sg = last_seg(s);
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
		s->segs.total_bytes -= s->wlen;
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
	struct spool_segment *sg;
	uint8_t stack[4096], *buf, *payload;
	ssize_t w;
	int err;

	if (ev->seq >= s->st.next_seq)
		s->st.next_seq = ev->seq + 1;
	while (s->segs.total_bytes + total > s->max_bytes) {
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
		sg = last_seg(s);
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
		sg = last_seg(s);
		if (w > 0 && ftruncate(s->wfd, sg->bytes))
			log_error("failed to repair the spool segment: %s", strerror(errno));
		goto lost;
	}
stored:
	sg = last_seg(s);
	sg->last_seq = ev->seq;
	sg->events++;
	sg->bytes += total;
	s->segs.total_bytes += total;
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

/* --- batches and acknowledgements --------------------------------------------------------- */

/*
 * Cuts the next batch from the read cursor: at most max_events events and about max_bytes,
 * with every pending gap. The events go into the body as their spool frames hold them, the
 * same bytes the hash covers.
 */
static int cut_batch(struct spool *s, const Aitrail__V1__AgentInfo *agent, uint32_t max_events,
		     uint32_t max_bytes)
{
	Aitrail__V1__Batch b = AITRAIL__V1__BATCH__INIT;
	Aitrail__V1__Gap gmsg[SPOOL_MAX_GAPS], *gptr[SPOOL_MAX_GAPS];
	uint8_t hash[WIRE_HASH_LEN], *body = NULL;
	size_t body_len, seg = s->rd_seg;
	uint64_t off = s->rd_off, last = s->st.sent_seq, seq, bytes = 0;
	struct wire_batch_writer w;
	struct wire_frame f;
	uint32_t n = 0;
	int fd = -1, err, i;

	spool_flush_appends(s);
	err = wire_batch_begin(&w, s->st.have_hash ? s->st.last_hash : NULL,
			       s->st.have_hash ? WIRE_HASH_LEN : 0, 64 + (size_t)max_bytes);
	if (err)
		goto out;
	while (n < max_events && seg < s->segs.n) {
		if (fd < 0) {
			fd = spool_seg_open(&s->segs, seg, O_RDONLY);
			if (fd < 0) {
				err = fd;
				goto out;
			}
		}
		err = off < s->segs.v[seg].bytes ? spool_seg_frame(&s->segs, fd, off, &f, &seq)
						 : -ENODATA;
		if (err == -ENODATA) {
			close(fd);
			fd = -1;
			if (seg + 1 >= s->segs.n)
				break;
			seg++;
			off = 0;
			continue;
		}
		if (err) {
			char path[PATH_MAX + 32];

			spool_seg_path(&s->segs, s->segs.v[seg].first_seq, path, sizeof(path));
			log_error("failed to read spool segment %s at %" PRIu64 ": %s", path, off,
				  strerror(-err));
			goto out;
		}
		if (n && bytes + f.len + 16 > max_bytes)
			break;
		err = wire_batch_add(&w, f.payload, f.len);
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
	if (!n && !s->st.n_gaps) {
		err = -ENODATA;
		goto out;
	}
	b.version = WIRE_VERSION;
	b.agent = (Aitrail__V1__AgentInfo *)agent;
	b.seq = s->st.next_batch_seq;
	for (i = 0; i < s->st.n_gaps; i++) {
		aitrail__v1__gap__init(&gmsg[i]);
		gmsg[i].from_seq = s->st.gaps[i].from;
		gmsg[i].to_seq = s->st.gaps[i].to;
		gmsg[i].events = s->st.gaps[i].events;
		gmsg[i].reason = s->st.gaps[i].reason;
		gptr[i] = &gmsg[i];
	}
	b.n_gaps = s->st.n_gaps;
	b.gaps = gptr;
	err = wire_batch_finish(&w, &b, hash, &body, &body_len);
	if (err)
		goto out;
	err = spool_write_atomic(s->dir, "batch", body, body_len);
	if (err)
		goto out;
	free(s->batch.body);
	s->batch.body = body;
	s->batch.body_len = body_len;
	body = NULL;
	s->batch.seq = s->st.next_batch_seq;
	s->batch.to_seq = last;
	s->batch.n_events = n;
	s->batch.n_gaps = s->st.n_gaps;
	s->inflight = 1;
	s->st.next_batch_seq++;
	memcpy(s->st.last_hash, hash, WIRE_HASH_LEN);
	s->st.have_hash = 1;
	s->st.sent_seq = last;
	s->st.n_gaps = 0;
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
	wire_batch_abort(&w);
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
	struct spool_seg_scan r;
	bool found = false;

	spool_flush_appends(s);
	s->pending_events = s->pending_bytes = 0;
	s->rd_seg = s->segs.n;
	s->rd_off = 0;
	for (size_t i = 0; i < s->segs.n; i++) {
		/* a segment that cannot be read was logged; the rest still counts */
		spool_seg_scan(&s->segs, i, s->st.sent_seq, s->st.acked_seq, false, &r);
		count_unsent(s, i, &r, &found);
	}
	s->pending_since = s->pending_events ? now_mono_ns() : 0;
}

int spool_new_chain(struct spool *s)
{
	struct spool_gap newer[SPOOL_MAX_GAPS];
	char path[PATH_MAX + 16];
	ProtobufCMessage *m;
	int n_newer, i;

	if (s->inflight) {
		/* the unacknowledged batch is cut again: its gaps go back before the newer ones */
		n_newer = s->st.n_gaps;
		memcpy(newer, s->st.gaps, sizeof(newer));
		s->st.n_gaps = 0;
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
	s->st.sent_seq = s->st.acked_seq;
	reposition(s);
	s->st.next_batch_seq = 1;
	s->st.have_hash = 0;
	memset(s->st.last_hash, 0, sizeof(s->st.last_hash));
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
	err = spool_write_atomic(s->dir, "batch", out, len);
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
	if (s->batch.to_seq > s->st.acked_seq) {
		s->unacked_events -= s->batch.n_events <= s->unacked_events ? s->batch.n_events
									    : s->unacked_events;
		s->st.acked_seq = s->batch.to_seq;
	}
	s->inflight = 0;
	free(s->batch.body);
	memset(&s->batch, 0, sizeof(s->batch));
	/* a segment goes once all of it is acknowledged and the reader is past it */
	while (s->segs.n && s->segs.v[0].last_seq <= s->st.acked_seq &&
	       (s->rd_seg > 0 || s->rd_off >= s->segs.v[0].bytes))
		seg_delete(s, 0);
	snprintf(path, sizeof(path), "%s/batch", s->dir);
	unlink(path);
	return state_write(s);
}

/* --- the rest ----------------------------------------------------------------------------- */

void spool_get_stats(struct spool *s, struct spool_stats *st)
{
	st->bytes = s->segs.total_bytes;
	st->events = s->unacked_events;
	st->pending_events = s->pending_events;
	st->pending_bytes = s->pending_bytes;
	st->dropped = s->dropped;
	st->corrupt_bytes = s->corrupt_bytes;
	st->next_seq = s->st.next_seq;
	st->next_batch_seq = s->st.next_batch_seq;
	st->acked_seq = s->st.acked_seq;
	st->pending_gaps = s->st.n_gaps;
	st->unclean_stops = s->st.unclean_stops;
}

int spool_inflight(struct spool *s)
{
	return s->inflight;
}

uint64_t spool_pending_since(struct spool *s)
{
	return s->pending_events || s->st.n_gaps ? s->pending_since : 0;
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
		s->st.running = 0;
		state_write(s);
	}
	spool_segments_free(&s->segs);
	free(s->batch.body);
	free(s->wbuf);
	free(s);
}
