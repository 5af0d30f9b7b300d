/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's segment files (DIR/spool/NNNNNNNNNNNNNNNNNNNN.seg, named for the first event seq
 * in them): frames of packed Events (common/wire.h), appended by the spool and read back in
 * chunks when a batch is cut or the spool is opened.
 */
#ifndef AITRAIL_SPOOL_SEGMENT_H
#define AITRAIL_SPOOL_SEGMENT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

struct spool_segment {
	uint64_t first_seq;
	uint64_t last_seq;  /* 0 while empty */
	uint64_t events;
	uint64_t bytes;
};

struct spool_segments {
	char dir[PATH_MAX];
	struct spool_segment *v; /* oldest first */
	size_t n, cap;
	uint64_t total_bytes;
	uint8_t *rbuf;           /* read-ahead of one segment file */
	size_t rbuf_cap, rb_len;
	uint64_t rb_off;
};

void spool_seg_path(const struct spool_segments *g, uint64_t first, char *buf, size_t len);
/* Appends an empty segment starting at event seq first (its file is created on write). */
int spool_seg_add(struct spool_segments *g, uint64_t first);
/* Adds every segment file of the directory, in seq order, not yet scanned. */
int spool_seg_list(struct spool_segments *g);
/* Opens segment i's file (flags O_RDONLY or O_RDWR) for reading frames: fd or -errno, logged. */
int spool_seg_open(struct spool_segments *g, size_t i, int flags);
/*
 * The frame at off of an open segment, with its event's seq: 0 with *f pointing into the
 * read-ahead, -ENODATA at the end of the file, -EBADMSG for a damaged or torn frame.
 */
int spool_seg_frame(struct spool_segments *g, int fd, uint64_t off, struct wire_frame *f,
		    uint64_t *seq);
/* Deletes segment i's file and forgets it. */
void spool_seg_remove(struct spool_segments *g, size_t i);

/* What spool_seg_scan found in a segment, against the spool's sent and acked positions. */
struct spool_seg_scan {
	bool found_unsent;       /* a frame after sent_seq: the first is at unsent_off */
	uint64_t unsent_off;
	uint64_t pending_events, pending_bytes;
	uint64_t unacked_events;
	uint64_t cut_bytes;      /* with repair: bytes after the last good frame, cut off */
	bool damaged;            /* ...and not a torn tail: a later segment follows */
};

/*
 * Reads segment i frame by frame. With repair (at open): to the end of the file, setting the
 * segment's counts and cutting a damaged or torn tail; else up to the bytes already counted.
 */
int spool_seg_scan(struct spool_segments *g, size_t i, uint64_t sent_seq, uint64_t acked_seq,
		   bool repair, struct spool_seg_scan *r);
void spool_segments_free(struct spool_segments *g);

#endif
