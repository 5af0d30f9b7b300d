// SPDX-License-Identifier: Apache-2.0
/*
 * Segment files: listing, reading frames with a read-ahead (a batch is a thousand small
 * frames: one read, not two thousand), scanning at open, deleting. Writing is the spool's
 * (agent/spool.c): appends go to the last segment only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/spool_segment.h"
#include "common/log.h"
#include "common/util.h"

#define READ_CHUNK (256u << 10)

void spool_seg_path(const struct spool_segments *g, uint64_t first, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%020" PRIu64 ".seg", g->dir, first);
}

int spool_seg_add(struct spool_segments *g, uint64_t first)
{
	if (grow_array(&g->v, &g->cap, g->n + 1, sizeof(g->v[0])))
		return -ENOMEM;
	g->v[g->n++] = (struct spool_segment){ .first_seq = first };
	return 0;
}

int spool_seg_list(struct spool_segments *g)
{
	struct dirent **names = NULL;
	unsigned long long first;
	int n, i, err = 0;
	char tail[8];

	n = scandir(g->dir, &names, NULL, alphasort);
	if (n < 0) {
		err = -errno;
		log_error("failed to list %s: %s", g->dir, strerror(-err));
		return err;
	}
	for (i = 0; i < n; i++) {
		if (!err && sscanf(names[i]->d_name, "%20llu%7s", &first, tail) == 2 &&
		    !strcmp(tail, ".seg"))
			err = spool_seg_add(g, first);
		free(names[i]);
	}
	free(names);
	return err;
}

int spool_seg_open(struct spool_segments *g, size_t i, int flags)
{
	char path[PATH_MAX + 32];
	int fd, err;

	spool_seg_path(g, g->v[i].first_seq, path, sizeof(path));
	g->rb_len = 0; /* the read-ahead held another file */
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("failed to open spool segment %s: %s", path, strerror(-err));
		return err;
	}
	return fd;
}

/* Fills the read-ahead with the file's bytes from off: at least need of them when it has them. */
static int rbuf_fill(struct spool_segments *g, int fd, uint64_t off, size_t need)
{
	size_t want = need > READ_CHUNK ? need : READ_CHUNK, got = 0;
	ssize_t n;
	int err;

	err = grow_array(&g->rbuf, &g->rbuf_cap, want, 1);
	if (err)
		return err;
	g->rb_off = off;
	g->rb_len = 0;
	while (got < want) {
		n = pread(fd, g->rbuf + got, want - got, off + got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += n;
	}
	g->rb_len = got;
	return 0;
}

int spool_seg_frame(struct spool_segments *g, int fd, uint64_t off, struct wire_frame *f,
		    uint64_t *seq)
{
	const uint8_t *p;
	uint32_t len;
	int err;

	if (off < g->rb_off || off + WIRE_FRAME_HDR > g->rb_off + g->rb_len) {
		err = rbuf_fill(g, fd, off, WIRE_FRAME_HDR);
		if (err)
			return err;
		if (!g->rb_len)
			return -ENODATA;
		if (g->rb_len < WIRE_FRAME_HDR)
			return -EBADMSG;
	}
	p = g->rbuf + (off - g->rb_off);
	len = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
	if (len > WIRE_FRAME_MAX)
		return -EBADMSG;
	if (off + WIRE_FRAME_HDR + len > g->rb_off + g->rb_len) {
		err = rbuf_fill(g, fd, off, WIRE_FRAME_HDR + (size_t)len);
		if (err)
			return err;
		p = g->rbuf;
	}
	if (wire_frame_get(p, g->rb_off + g->rb_len - off, WIRE_FRAME_MAX, f) ||
	    wire_event_seq(f->payload, f->len, seq))
		return -EBADMSG;
	return 0;
}

void spool_seg_remove(struct spool_segments *g, size_t i)
{
	char path[PATH_MAX + 32];

	spool_seg_path(g, g->v[i].first_seq, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		log_warn("failed to delete spool segment %s: %s", path, strerror(errno));
	g->total_bytes -= g->v[i].bytes;
	memmove(&g->v[i], &g->v[i + 1], (g->n - i - 1) * sizeof(g->v[0]));
	g->n--;
}

/* With repair: cuts what follows the last good frame at off; a torn tail is the normal trace of
 * a crash mid-write, damage before a later segment is not. */
static void cut_tail(struct spool_segments *g, size_t i, int fd, uint64_t off, int err,
		     struct spool_seg_scan *r)
{
	char path[PATH_MAX + 32];
	struct stat st;

	spool_seg_path(g, g->v[i].first_seq, path, sizeof(path));
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > off) {
		r->cut_bytes = st.st_size - off;
		r->damaged = err == -EBADMSG && i + 1 < g->n;
		if (r->damaged)
			log_warn("spool segment %s damaged at offset %" PRIu64 ": %" PRIu64
				 " bytes discarded", path, off, r->cut_bytes);
		else
			log_info("spool segment %s: cut a torn tail of %" PRIu64 " bytes", path,
				 r->cut_bytes);
		if (ftruncate(fd, off))
			log_warn("failed to truncate %s: %s", path, strerror(errno));
	} else if (err && err != -ENODATA) {
		log_warn("failed to read spool segment %s: %s", path, strerror(-err));
	}
}

int spool_seg_scan(struct spool_segments *g, size_t i, uint64_t sent_seq, uint64_t acked_seq,
		   bool repair, struct spool_seg_scan *r)
{
	struct spool_segment *sg = &g->v[i];
	struct wire_frame f;
	uint64_t off = 0, seq;
	int fd, err = 0;

	memset(r, 0, sizeof(*r));
	fd = spool_seg_open(g, i, repair ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return fd;
	while (repair || off < sg->bytes) {
		err = spool_seg_frame(g, fd, off, &f, &seq);
		if (err)
			break;
		if (!r->found_unsent && seq > sent_seq) {
			r->found_unsent = true;
			r->unsent_off = off;
		}
		if (seq > acked_seq)
			r->unacked_events++;
		if (seq > sent_seq) {
			r->pending_events++;
			r->pending_bytes += f.total;
		}
		if (repair) {
			sg->last_seq = seq;
			sg->events++;
		}
		off += f.total;
	}
	if (repair) {
		cut_tail(g, i, fd, off, err, r);
		sg->bytes = off;
		g->total_bytes += off;
		err = 0;
	} else if (err) {
		char path[PATH_MAX + 32];

		spool_seg_path(g, sg->first_seq, path, sizeof(path));
		log_error("failed to read spool segment %s at %" PRIu64, path, off);
	}
	close(fd);
	return err;
}

void spool_segments_free(struct spool_segments *g)
{
	free(g->v);
	free(g->rbuf);
	g->v = NULL;
	g->rbuf = NULL;
	g->n = g->cap = g->rbuf_cap = g->rb_len = 0;
}
