// SPDX-License-Identifier: Apache-2.0
/*
 * The fileio module: file_write and file_read events (bpf/fileio.h).
 *
 * The kernel sends the open of an fd with write access (path, how it was opened) and, later,
 * its close with the bytes written. At the close the agent hashes the file under that path,
 * provided it is still the inode that was written. When it is not (the writer renamed it right
 * after closing: the atomic save), the write waits for the rename record, which comes later in
 * the same ring, and is reported under the final name. A write whose file disappears without a
 * rename is reported after FIO_PENDING_MS as not hashed ("gone"), never dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/fileio_match.h"
#include "agent/loop.h"
#include "agent/module.h"
#include "agent/proctable.h"
#include "bpf/aitrail.skel.h"
#include "bpf/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define FIO_BUCKETS 1024
#define FIO_RECENT 128       /* closed writes remembered for a following rename */
#define FIO_RECENT_MS 10000  /* how long a closed write can still be carried by a rename */
#define FIO_PENDING_MS 2000  /* a write whose file is gone waits this long for its rename */

/* An fd opened with write access, by (pid, fd). */
struct fio_fd {
	struct fio_fd *next;
	uint32_t pid;
	int32_t fd;
	uint32_t oflags;
	char *path;
};

/* A closed write, kept for the rename that may follow. */
struct fio_recent {
	bool used;
	bool pending;          /* not reported yet: its file was gone at close */
	uint64_t at_ms;        /* monotonic, when the close was decoded */
	struct at_hdr hdr;     /* of the close record */
	char *path;
	uint32_t oflags;
	uint64_t bytes;
	uint32_t writes;
	bool at_exit;
	int32_t fd;
};

static struct fio_fd *fds[FIO_BUCKETS];
static struct fio_recent recent[FIO_RECENT];
static unsigned int recent_next;
static struct arena fio_arena;
static bool fio_arena_ready;
static uint64_t fio_reads_dropped; /* kernel candidates the patterns did not match */

static unsigned int fd_bucket(uint32_t pid, int32_t fd)
{
	return (pid * 2654435761u ^ (uint32_t)fd * 40503u) % FIO_BUCKETS;
}

static struct fio_fd **fd_find(uint32_t pid, int32_t fd)
{
	struct fio_fd **pp = &fds[fd_bucket(pid, fd)];

	while (*pp && !((*pp)->pid == pid && (*pp)->fd == fd))
		pp = &(*pp)->next;
	return pp;
}

static const char *rec_path(const char *p, size_t maxlen, uint16_t n)
{
	if (n == 0 || n > maxlen || p[n - 1] != '\0')
		return NULL;
	return p;
}

static int decode_wopen(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			at_event *ev, struct arena *ar)
{
	const struct at_fio_open *r = rec;
	const char *path;
	struct fio_fd **pp, *f;

	if (len < offsetof(struct at_fio_open, path) ||
	    r->path_len > len - offsetof(struct at_fio_open, path))
		return -EINVAL;
	path = rec_path(r->path, AT_FIO_PATH_MAX, r->path_len);
	if (!path)
		return -EINVAL;
	if (r->oflags & AT_FIO_O_UNTRACKED) {
		log_debug("write to %s by pid %u not followed: the kernel's fd map is full", path,
			  h->pid);
		return 1;
	}
	pp = fd_find(h->pid, r->fd);
	if (*pp) {
		/* the close of the previous owner of this fd number was lost: replace it */
		f = *pp;
		free(f->path);
	} else {
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		f->pid = h->pid;
		f->fd = r->fd;
		*pp = f;
	}
	f->oflags = r->oflags;
	f->path = strdup(path);
	return f->path ? 1 : -ENOMEM;
}

/* Fills a file_write body; hashes path when hash_path is set. */
static void fill_write(struct agent *a, at_event *ev, struct arena *ar, const char *path,
		       const struct fio_recent *w, const char *renamed_from)
{
	Aitrail__V1__FileWrite *fw = arena_alloc(ar, sizeof(*fw));
	const char *why = NULL;
	char hex[65] = "";
	uint64_t size = 0;
	struct stat st;
	int fd;

	if (!fw)
		return;
	aitrail__v1__file_write__init(fw);
	fw->path = arena_strndup(ar, path, AT_FIO_PATH_MAX);
	fw->bytes_written = w->bytes;
	fw->writes = w->writes;
	fw->created = !!(w->oflags & AT_FIO_O_CREATED);
	fw->truncated_on_open = !!(w->oflags & AT_FIO_O_TRUNC);
	fw->appended = !!(w->oflags & AT_FIO_O_APPEND);
	fw->via_io_uring = !!(w->oflags & AT_FIO_O_URING);
	fw->at_exit = w->at_exit;
	fw->fd = (uint32_t)w->fd;
	fw->size = -1;
	if (renamed_from)
		fw->renamed_from = arena_strndup(ar, renamed_from, AT_FIO_PATH_MAX);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		why = errno == ENOENT ? "gone" : arena_printf(ar, "open_error: %s", strerror(errno));
	} else if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		why = "not_regular";
	} else {
		fw->size = st.st_size;
		if ((uint64_t)st.st_size > a->cfg->hash_max_bytes) {
			why = "too_large";
		} else if (!fio_sha256_file(fd, a->cfg->hash_max_bytes, hex, &size, &why)) {
			fw->sha256 = arena_strndup(ar, hex, sizeof(hex));
			fw->size = (int64_t)size;
		}
	}
	if (fd >= 0)
		close(fd);
	if (why)
		fw->not_hashed = (char *)why;
	ev->type = "file_write";
	ev->body_case = AITRAIL__V1__EVENT__BODY_FILE_WRITE;
	ev->file_write = fw;
}

/* Is path still the inode the kernel reported at close? */
static bool same_file(const char *path, const struct at_fio_close *r)
{
	struct stat st;

	if (stat(path, &st))
		return false;
	if (!r->ino)
		return true;
	return st.st_ino == r->ino && major(st.st_dev) == (r->dev >> 20) &&
	       minor(st.st_dev) == (r->dev & 0xfffff);
}

static void recent_free(struct fio_recent *w)
{
	free(w->path);
	memset(w, 0, sizeof(*w));
}

static void emit_recent(struct agent *a, struct fio_recent *w, const char *path,
			const char *renamed_from, at_event *ev, struct arena *ar)
{
	at_event own = AITRAIL__V1__EVENT__INIT;

	if (!ev) {
		if (!fio_arena_ready) {
			arena_init(&fio_arena, 0);
			fio_arena_ready = true;
		}
		ar = &fio_arena;
		ev = &own;
		agent_fill_event(a, ev, &w->hdr, ar);
	}
	fill_write(a, ev, ar, path, w, renamed_from);
	if (ev == &own) {
		agent_emit(a, ev);
		arena_reset(ar);
	}
}

/* Reports pending writes older than max_age_ms (0: all) as not hashed. */
static void flush_pending(struct agent *a, uint64_t max_age_ms)
{
	uint64_t now = now_mono_ns() / 1000000;

	for (unsigned int i = 0; i < FIO_RECENT; i++) {
		struct fio_recent *w = &recent[i];

		if (!w->used)
			continue;
		if (w->pending && now - w->at_ms >= max_age_ms) {
			emit_recent(a, w, w->path, NULL, NULL, NULL);
			recent_free(w);
		} else if (!w->pending && now - w->at_ms > FIO_RECENT_MS) {
			recent_free(w);
		}
	}
}

static struct fio_recent *recent_slot(struct agent *a)
{
	struct fio_recent *w = &recent[recent_next++ % FIO_RECENT];

	if (w->used && w->pending)
		emit_recent(a, w, w->path, NULL, NULL, NULL); /* evicted: report, do not drop */
	recent_free(w);
	return w;
}

static int decode_close(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			at_event *ev, struct arena *ar)
{
	const struct at_fio_close *r = rec;
	struct fio_fd **pp = fd_find(h->pid, r->fd), *f = *pp;
	struct fio_recent *w;
	bool here;

	if (!f) {
		log_debug("close of fd %d by pid %u: its open was not seen", r->fd, h->pid);
		return 1;
	}
	*pp = f->next;
	w = recent_slot(a);
	w->used = true;
	w->at_ms = now_mono_ns() / 1000000;
	w->hdr = *h;
	w->path = f->path;
	w->oflags = f->oflags;
	w->bytes = r->bytes;
	w->writes = r->writes;
	w->fd = r->fd;
	w->at_exit = h->type == AT_REC_FIO_EXIT;
	free(f);
	here = r->size < 0 ? access(w->path, F_OK) == 0 : same_file(w->path, r);
	if (!here) {
		w->pending = true; /* renamed already, most likely: wait for the rename record */
		return 1;
	}
	fill_write(a, ev, ar, w->path, w, NULL);
	return 0;
}

/* The write goes on through a dup of the closed fd: the pending write moves to that fd. */
static int decode_handover(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			   at_event *ev, struct arena *ar)
{
	const struct at_fio_handover *r = rec;
	struct fio_fd **pp = fd_find(h->pid, r->from_fd), *f = *pp, **to;

	if (!f) {
		log_debug("handover of fd %d by pid %u: its open was not seen", r->from_fd, h->pid);
		return 1;
	}
	*pp = f->next;
	to = fd_find(h->pid, r->to_fd);
	if (*to) {
		/* the dup's number already had a write of its own whose end was lost */
		free((*to)->path);
		(*to)->path = f->path;
		(*to)->oflags = f->oflags;
		free(f);
		return 1;
	}
	f->fd = r->to_fd;
	f->next = NULL;
	*to = f;
	return 1;
}

static int decode_rename(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
			 at_event *ev, struct arena *ar)
{
	const struct at_fio_rename *r = rec;
	char from[AT_FIO_PATH_MAX], to[AT_FIO_PATH_MAX];
	struct fio_recent *w = NULL;

	if (!r->rel1_len || !r->rel2_len || r->rel1_len > AT_FIO_PATH_MAX ||
	    r->rel2_len > AT_FIO_PATH_MAX || r->base1_len > AT_FIO_PATH_MAX ||
	    r->base2_len > AT_FIO_PATH_MAX)
		return 1; /* names not read: counted by the kernel (read_user_fail) */
	if (fio_join_path(r->base1, r->rel1, from, sizeof(from)) ||
	    fio_join_path(r->base2, r->rel2, to, sizeof(to)))
		return 1;
	for (unsigned int i = 0; i < FIO_RECENT; i++) {
		struct fio_recent *c = &recent[i];

		if (c->used && c->hdr.root_pid == h->root_pid &&
		    c->hdr.root_start == h->root_start && !strcmp(c->path, from) &&
		    (!w || c->at_ms >= w->at_ms))
			w = c;
	}
	if (!w)
		return 1;
	w->hdr = *h; /* the final file is the renaming process's doing */
	fill_write(a, ev, ar, to, w, from);
	recent_free(w);
	return 0;
}

static int decode_read(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar)
{
	const struct at_fio_open *r = rec;
	const struct agent_config *c = a->cfg;
	const char *path, *pat = NULL;
	Aitrail__V1__FileRead *fr;
	int i;

	if (len < offsetof(struct at_fio_open, path) ||
	    r->path_len > len - offsetof(struct at_fio_open, path))
		return -EINVAL;
	path = rec_path(r->path, AT_FIO_PATH_MAX, r->path_len);
	if (!path)
		return -EINVAL;
	for (i = 0; !pat && c->sensitive_defaults && i < (int)fio_n_default_patterns; i++)
		if (fio_pattern_match(fio_default_patterns[i], path))
			pat = fio_default_patterns[i];
	for (i = 0; !pat && i < c->n_sensitive; i++)
		if (fio_pattern_match(c->sensitive[i], path))
			pat = c->sensitive[i];
	if (!pat) {
		fio_reads_dropped++;
		return 1;
	}
	fr = arena_alloc(ar, sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	aitrail__v1__file_read__init(fr);
	fr->path = arena_strndup(ar, path, AT_FIO_PATH_MAX);
	fr->pattern = (char *)pat;
	fr->flags = arena_alloc(ar, sizeof(char *));
	if (fr->flags) {
		static const char *const acc[4] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };

		fr->flags[0] = (char *)acc[r->open_flags & 3];
		fr->n_flags = 1;
	}
	if (h->flags & AT_F_TRUNC_PATH) {
		ev->truncated = arena_alloc(ar, sizeof(char *));
		if (ev->truncated) {
			ev->truncated[0] = "path";
			ev->n_truncated = 1;
		}
	}
	ev->type = "file_read";
	ev->body_case = AITRAIL__V1__EVENT__BODY_FILE_READ;
	ev->file_read = fr;
	return 0;
}

/* ---- start: the kernel's prefilter */

static int put_key(struct agent *a, const struct fio_kkey *k, uint32_t *prefix_lens)
{
	struct bpf_map *map;
	struct at_fio_key key;
	uint8_t one = 1;

	switch (k->kind) {
	case 'd': map = a->skel->maps.fio_dirs; break;
	case 'n': map = a->skel->maps.fio_names; break;
	case 'e': map = a->skel->maps.fio_exts; break;
	case 'p':
		map = a->skel->maps.fio_prefixes;
		*prefix_lens |= 1u << strlen(k->name);
		break;
	default:
		return -EINVAL;
	}
	memset(&key, 0, sizeof(key));
	memcpy(key.name, k->name, sizeof(key.name));
	if (bpf_map__update_elem(map, &key, sizeof(key), &one, sizeof(one), BPF_ANY))
		return -errno;
	return 0;
}

static void on_pending_timer(struct agent *a, void *arg)
{
	flush_pending(a, FIO_PENDING_MS);
}

static int fileio_rdir_start(struct agent *a);
static void fileio_rdir_stop(struct agent *a);

/* After attach: fills the kernel's sensitive-name maps, starts the pending timer. */
static int fileio_start(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	uint32_t flags = 0, lens = 0, slot;
	struct fio_kkey k;
	int i, n = 0, err;

	if (c->sensitive_defaults || c->n_sensitive)
		flags |= 1u << 0; /* FIO_CFG_F_READS */
	for (i = 0; i < (int)fio_n_default_patterns + c->n_sensitive; i++) {
		const char *pat;

		if (i < (int)fio_n_default_patterns) {
			if (!c->sensitive_defaults)
				continue;
			pat = fio_default_patterns[i];
		} else {
			pat = c->sensitive[i - fio_n_default_patterns];
		}
		fio_pattern_kernel_key(pat, &k);
		if (!k.kind) {
			log_warn("sensitive path pattern '%s' names no directory, file name, extension "
				 "or prefix the kernel can look for: every read of a session is sent to "
				 "the agent to be matched", pat);
			flags |= 1u << 1; /* FIO_CFG_F_ALL_READS */
			continue;
		}
		err = put_key(a, &k, &lens);
		if (err) {
			log_error("failed to add sensitive path pattern '%s' to the kernel filter: %s",
				  pat, strerror(-err));
			return err;
		}
		n++;
	}
	slot = 0;
	if (bpf_map__update_elem(a->skel->maps.fio_cfg, &slot, sizeof(slot), &flags, sizeof(flags),
				 BPF_ANY))
		goto fail;
	slot = 1;
	if (bpf_map__update_elem(a->skel->maps.fio_cfg, &slot, sizeof(slot), &lens, sizeof(lens),
				 BPF_ANY))
		goto fail;
	log_debug("file reads: %d kernel filter keys, writes hashed up to %llu bytes", n,
		  (unsigned long long)c->hash_max_bytes);
	if (loop_add_timer(a, 500, on_pending_timer, NULL) < 0)
		return -EIO;
	return fileio_rdir_start(a);
fail:
	err = -errno;
	log_error("failed to configure the file write/read filter: %s", strerror(-err));
	return err;
}

/* Emits what still waits for a rename, and the last read counts (shutdown). */
static void fileio_stop(struct agent *a)
{
	fileio_rdir_stop(a);
	flush_pending(a, 0);
	for (unsigned int i = 0; i < FIO_RECENT; i++)
		recent_free(&recent[i]);
	for (unsigned int b = 0; b < FIO_BUCKETS; b++) {
		while (fds[b]) {
			struct fio_fd *f = fds[b];

			fds[b] = f->next;
			free(f->path);
			free(f);
		}
	}
	if (fio_reads_dropped)
		log_debug("file reads: %llu kernel candidates matched no pattern",
			  (unsigned long long)fio_reads_dropped);
	if (fio_arena_ready)
		arena_free(&fio_arena);
	fio_arena_ready = false;
}

/* ---- read-only opens per directory (AT_REC_FIO_RDIR + the fio_rdirs counters) */

#define FIO_RDIR_REPORT_MS 10000

struct fio_rdir {
	struct fio_rdir *next;
	struct at_fio_rdir_key key;
	struct at_hdr hdr;      /* of the first read in the directory */
	char *path;
	uint64_t reported;
	bool grouped;           /* scratch: already put in this round's event */
};

static struct fio_rdir *rdirs;

static int decode_rdir(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar)
{
	const struct at_fio_open *r = rec;
	struct fio_rdir *d;
	const char *path;

	if (r->path_len > len - offsetof(struct at_fio_open, path))
		return -EINVAL;
	path = rec_path(r->path, AT_FIO_PATH_MAX, r->path_len);
	if (!path)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->key.root_pid = h->root_pid;
	d->key.dir = r->ino;
	d->hdr = *h;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return -ENOMEM;
	}
	d->next = rdirs;
	rdirs = d;
	return 1;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* One file_read_dirs event for the session of first, from every directory of that session. */
static void rdir_report_session(struct agent *a, struct fio_rdir *first, int map_fd)
{
	at_event ev = AITRAIL__V1__EVENT__INIT;
	Aitrail__V1__FileReadDirs *fr;
	struct proc_info *root = proctable_get(a, first->hdr.root_pid);
	const char *cwd = root && root->cwd ? root->cwd : "";
	struct at_hdr h = first->hdr;
	size_t n = 0, cap = 0;
	uint64_t inside = 0;
	struct fio_rdir *d;

	if (!fio_arena_ready) {
		arena_init(&fio_arena, 0);
		fio_arena_ready = true;
	}
	for (d = first; d; d = d->next)
		if (d->key.root_pid == first->key.root_pid && d->hdr.root_start == h.root_start)
			cap++;
	fr = arena_alloc(&fio_arena, sizeof(*fr));
	if (!fr)
		return;
	aitrail__v1__file_read_dirs__init(fr);
	fr->cwd = (char *)cwd;
	fr->dirs = arena_alloc(&fio_arena, cap * sizeof(*fr->dirs));
	for (d = first; d && fr->dirs; d = d->next) {
		struct at_fio_rdir_val v;
		Aitrail__V1__DirReads *dr;

		if (d->grouped || d->key.root_pid != first->key.root_pid ||
		    d->hdr.root_start != h.root_start)
			continue;
		d->grouped = true;
		if (bpf_map_lookup_elem(map_fd, &d->key, &v) || v.count <= d->reported)
			continue;
		if (cwd[0] && under(d->path, cwd)) {
			inside += v.count - d->reported;
		} else {
			dr = arena_alloc(&fio_arena, sizeof(*dr));
			if (!dr)
				continue;
			aitrail__v1__dir_reads__init(dr);
			dr->dir = d->path;
			dr->reads = v.count - d->reported;
			fr->dirs[n++] = dr;
		}
		d->reported = v.count;
	}
	if (n || inside) {
		fr->n_dirs = n;
		fr->inside_cwd = inside;
		h.ts = now_boottime_ns();
		h.pid = h.root_pid;
		agent_fill_event(a, &ev, &h, &fio_arena);
		ev.type = "file_read_dirs";
		ev.body_case = AITRAIL__V1__EVENT__BODY_FILE_READ_DIRS;
		ev.file_read_dirs = fr;
		agent_emit(a, &ev);
	}
	arena_reset(&fio_arena);
}

/* Reports new counts; drops the directories of sessions whose root is gone (after reporting). */
static void rdir_report(struct agent *a)
{
	int map_fd = a->skel ? bpf_map__fd(a->skel->maps.fio_rdirs) : -1;
	struct fio_rdir **pp, *d;

	if (map_fd < 0)
		return;
	for (d = rdirs; d; d = d->next)
		d->grouped = false;
	for (d = rdirs; d; d = d->next)
		if (!d->grouped)
			rdir_report_session(a, d, map_fd);
	for (pp = &rdirs; (d = *pp);) {
		struct proc_info *root = proctable_get(a, d->hdr.root_pid);

		if (!root || root->exited_ns) {
			bpf_map_delete_elem(map_fd, &d->key);
			*pp = d->next;
			free(d->path);
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

static void on_rdir_timer(struct agent *a, void *arg)
{
	rdir_report(a);
}

static int fileio_rdir_start(struct agent *a)
{
	return loop_add_timer(a, FIO_RDIR_REPORT_MS, on_rdir_timer, NULL) < 0 ? -EIO : 0;
}

static void fileio_rdir_stop(struct agent *a)
{
	rdir_report(a);
	while (rdirs) {
		struct fio_rdir *d = rdirs;

		rdirs = d->next;
		free(d->path);
		free(d);
	}
}

const struct agent_module fileio_module = {
	.name = "fileio",
	.progs = (const char *const[]){ "fio_", NULL },
	.recs = (const struct agent_rec[]){
		{ AT_REC_FIO_WOPEN, offsetof(struct at_fio_open, path), NULL, decode_wopen },
		{ AT_REC_FIO_CLOSE, sizeof(struct at_fio_close), NULL, decode_close },
		{ AT_REC_FIO_EXIT, sizeof(struct at_fio_close), NULL, decode_close },
		{ AT_REC_FIO_READ, offsetof(struct at_fio_open, path), "file_read", decode_read },
		{ AT_REC_FIO_RENAME, sizeof(struct at_fio_rename), NULL, decode_rename },
		{ AT_REC_FIO_HANDOVER, sizeof(struct at_fio_handover), NULL, decode_handover },
		{ AT_REC_FIO_RDIR, offsetof(struct at_fio_open, path), NULL, decode_rdir },
		{ 0 },
	},
	.start = fileio_start,
	.sweep = fileio_stop, /* writes still waiting for a rename: reported, not dropped */
};
