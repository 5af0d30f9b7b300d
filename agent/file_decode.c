// SPDX-License-Identifier: Apache-2.0
/* The file module: file_* events from the file-change records of bpf/file.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent/partsoff.h"
#include "agent/file_decode.h"
#include "agent/module.h"
#include "common/log.h"
#include "common/util.h"

_Static_assert(sizeof(struct at_file) % 8 == 0, "ring buffer records are 8-byte aligned");
_Static_assert(AT_FILE_DATA_MAX == 4 * AT_FILE_PATH_MAX, "four pieces");

/* glibc defines O_LARGEFILE as 0 on 64-bit; the kernel bit is what the record carries. */
#if defined(__x86_64__) || defined(__i386__)
#define K_O_LARGEFILE 0100000
#else
#define K_O_LARGEFILE 0
#endif

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#define RENAME_WHITEOUT (1 << 2)
#endif

static uint32_t host_mntns;
static bool host_mntns_known;

void file_set_host_mntns(uint32_t ino)
{
	host_mntns = ino;
	host_mntns_known = true;
}

/* The agent's own mount namespace, read on the first record. */
static int file_decode_init(void)
{
	struct stat st;

	if (stat("/proc/self/ns/mnt", &st)) {
		int err = -errno;

		log_warn("failed to stat /proc/self/ns/mnt: %s; file paths through symlinked "
			 "directories stay unresolved", strerror(errno));
		return err;
	}
	file_set_host_mntns((uint32_t)st.st_ino);
	return 0;
}

/*
 * Before load: turns off the file programs whose syscall tracepoint this kernel lacks
 * (fchmodat2 before Linux 6.6), with a warning, so the rest still attaches.
 */
static void file_skip_missing_syscalls(struct bpf_object *obj)
{
	static const char *const roots[] = { "/sys/kernel/tracing/events",
					     "/sys/kernel/debug/tracing/events" };
	const char *root = NULL;
	struct bpf_program *prog;
	char path[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(roots) && !root; i++)
		if (!access(roots[i], F_OK))
			root = roots[i];
	if (!root)
		return; /* no tracefs: attach will say so */
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *tp;

		if (strncmp(bpf_program__name(prog), "file_", 5) ||
		    strncmp(sec, "tracepoint/", 11))
			continue;
		tp = sec + 11;
		snprintf(path, sizeof(path), "%s/%s", root, tp);
		if (access(path, F_OK) == 0)
			continue;
		bpf_program__set_autoload(prog, false);
		log_warn("this kernel has no tracepoint %s: %s is off, those calls are not reported",
			 tp, bpf_program__name(prog));
		snprintf(path, sizeof(path), "no tracepoint %s", tp);
		part_off(bpf_program__name(prog), path);
	}
}

static const char *const op_names[AT_FILE_OP_MAX] = {
	[AT_FILE_OPEN] = "file_open",       [AT_FILE_RENAME] = "file_rename",
	[AT_FILE_UNLINK] = "file_unlink",   [AT_FILE_RMDIR] = "file_rmdir",
	[AT_FILE_MKDIR] = "file_mkdir",     [AT_FILE_TRUNCATE] = "file_truncate",
	[AT_FILE_CHMOD] = "file_chmod",     [AT_FILE_LINK] = "file_link",
	[AT_FILE_SYMLINK] = "file_symlink",
};

size_t file_path_collapse(char *path)
{
	bool abs = path[0] == '/';
	char *out = path, *p = path;
	size_t keep = 0; /* leading ".." of a relative path that cannot be collapsed */
	size_t o = 0;

	if (abs)
		out[o++] = '/';
	while (*p) {
		char *seg;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 1 && seg[0] == '.')
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			size_t floor = abs ? 1 : keep;

			if (o > floor) {
				/* drop the last component and its separator */
				while (o > floor && out[o - 1] != '/')
					o--;
				if (o > floor || (!abs && o > 0))
					o--;
				if (abs && o == 0)
					o = 1;
				continue;
			}
			if (abs)
				continue; /* "/.." is "/" */
			if (o)
				out[o++] = '/';
			memcpy(out + o, "..", 2);
			o += 2;
			keep = o;
			continue;
		}
		if (o && out[o - 1] != '/')
			out[o++] = '/';
		memmove(out + o, seg, n);
		o += n;
	}
	if (!abs && o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return o;
}

/* A piece of the record's data; NULL when absent or not NUL-terminated where it says. */
static const char *piece(const struct at_file *r, size_t *off, uint16_t n, size_t avail)
{
	const char *s = r->data + *off;

	if (!n)
		return NULL;
	if (n > AT_FILE_PATH_MAX || *off + n > avail || s[n - 1] != '\0')
		return (const char *)-1;
	*off += n;
	return s;
}

/* Whether a name goes through a directory that is not "." or "..": a possible symlink. */
static bool through_named_dir(const char *rel)
{
	const char *p = rel, *seg;

	for (;;) {
		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		if (!*p)
			return false; /* last component */
		if (!((p - seg == 1 && seg[0] == '.') ||
		      (p - seg == 2 && seg[0] == '.' && seg[1] == '.')))
			return true;
	}
}

/*
 * On this host, the canonical form of a joined, not yet collapsed path whose directories may
 * hold symlinks ("a/link/../b" is resolved physically, as the kernel did): the whole path when
 * follow_last and it exists, else its parent directory plus the last name. Returns false, out
 * untouched, when neither exists any more.
 */
static bool host_resolve(char *joined, bool follow_last, char *out, size_t outlen)
{
	char buf[PATH_MAX];
	const char *last, *dir;
	char *slash;
	size_t n = strlen(joined);

	while (n > 1 && joined[n - 1] == '/')
		joined[--n] = '\0';
	slash = strrchr(joined, '/');
	if (!slash)
		return false;
	last = slash + 1;
	if (follow_last || !strcmp(last, ".") || !strcmp(last, "..")) {
		if (!realpath(joined, buf) || strlen(buf) >= outlen)
			return false;
		strcpy(out, buf);
		return true;
	}
	*slash = '\0';
	dir = slash == joined ? "/" : joined;
	if (!realpath(dir, buf)) {
		*slash = '/';
		return false;
	}
	*slash = '/';
	return (size_t)snprintf(out, outlen, "%s%s%s", buf, strcmp(buf, "/") ? "/" : "", last) <
	       outlen;
}

/* A pipe or socket as /proc/PID/fd shows it: "pipefs:[12]" from the kernel is "pipe:[12]". */
static void pseudo_name(const char *name, char *out)
{
	static const struct {
		const char *fs, *shown;
	} names[] = { { "pipefs:[", "pipe:[" }, { "sockfs:[", "socket:[" } };
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		n = strlen(names[i].fs);
		if (!strncmp(name, names[i].fs, n)) {
			snprintf(out, FILE_TEXT_MAX, "%s%s", names[i].shown, name + n);
			return;
		}
	}
	snprintf(out, FILE_TEXT_MAX, "%s", name);
}

/*
 * Renders one path from its base and rel pieces into out. trunc is set when the kernel cut it
 * short or could not read it. shift picks the AT_FILE_F_* bits of path 1 (0) or 2 (4).
 */
static void render_path(const struct at_file *r, const char *base, const char *rel, int shift,
			bool follow_last, char *out, bool *trunc)
{
	unsigned int f = r->fflags >> shift;
	char joined[FILE_TEXT_MAX];

	*trunc = (f & (AT_FILE_F_TRUNC1 | AT_FILE_F_NOFILE1)) ||
		 (r->fflags & (shift ? AT_FILE_F_REL_FAULT2 | AT_FILE_F_REL_TRUNC2
				     : AT_FILE_F_REL_FAULT1 | AT_FILE_F_REL_TRUNC1));
	out[0] = '\0';
	if (!rel) {
		/*
		 * Complete from the kernel; when the name itself was unreadable the base is only
		 * its directory, not the path, so nothing is shown.
		 */
		if (!base || (f & AT_FILE_F_NOFILE1) ||
		    (r->fflags & (shift ? AT_FILE_F_REL_FAULT2 : AT_FILE_F_REL_FAULT1)))
			return;
		if (!shift && (r->fflags & AT_FILE_F_PSEUDO1))
			pseudo_name(base, out);
		else
			snprintf(out, FILE_TEXT_MAX, "%s%s", base,
				 (f & AT_FILE_F_DELETED1) ? " (deleted)" : "");
		return;
	}
	if (rel[0] == '/' || !base || !base[0])
		snprintf(joined, sizeof(joined), "%s", rel);
	else if (!rel[0])
		snprintf(joined, sizeof(joined), "%s", base); /* AT_EMPTY_PATH */
	else
		snprintf(joined, sizeof(joined), "%s/%s", base, rel);

	if (host_mntns && r->mnt_ns == host_mntns && !(r->fflags & AT_FILE_F_FOREIGN_ROOT) &&
	    joined[0] == '/' && !*trunc && (follow_last || through_named_dir(rel)) &&
	    host_resolve(joined, follow_last, out, FILE_TEXT_MAX))
		return;
	file_path_collapse(joined);
	strcpy(out, joined);
}

struct flag_name {
	uint32_t bits;
	const char *name;
};

static const struct flag_name open_flag_names[] = {
	{ O_CREAT, "O_CREAT" },
	{ O_EXCL, "O_EXCL" },
	{ O_NOCTTY, "O_NOCTTY" },
	{ O_TRUNC, "O_TRUNC" },
	{ O_APPEND, "O_APPEND" },
	{ O_NONBLOCK, "O_NONBLOCK" },
	{ O_SYNC, "O_SYNC" }, /* before O_DSYNC: O_SYNC includes its bit */
	{ O_DSYNC, "O_DSYNC" },
	{ O_ASYNC, "O_ASYNC" },
	{ O_DIRECT, "O_DIRECT" },
	{ K_O_LARGEFILE, "O_LARGEFILE" },
	{ O_TMPFILE, "O_TMPFILE" }, /* before O_DIRECTORY: O_TMPFILE includes its bit */
	{ O_DIRECTORY, "O_DIRECTORY" },
	{ O_NOFOLLOW, "O_NOFOLLOW" },
	{ O_NOATIME, "O_NOATIME" },
	{ O_CLOEXEC, "O_CLOEXEC" },
	{ O_PATH, "O_PATH" },
};

static const struct flag_name rename_flag_names[] = {
	{ RENAME_NOREPLACE, "RENAME_NOREPLACE" },
	{ RENAME_EXCHANGE, "RENAME_EXCHANGE" },
	{ RENAME_WHITEOUT, "RENAME_WHITEOUT" },
};

static const struct flag_name at_flag_names[] = {
	{ AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW" },
	{ AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW" },
	{ AT_EMPTY_PATH, "AT_EMPTY_PATH" },
};

static void name_flags(uint32_t v, const struct flag_name *names, size_t n,
		       struct file_op_text *t)
{
	size_t i;

	for (i = 0; i < n && t->n_flags < FILE_FLAGS_MAX - 1; i++) {
		if (names[i].bits && (v & names[i].bits) == names[i].bits) {
			t->flags[t->n_flags++] = names[i].name;
			v &= ~names[i].bits;
		}
	}
	if (v) {
		snprintf(t->unknown_flags, sizeof(t->unknown_flags), "0x%x", v);
		t->flags[t->n_flags++] = t->unknown_flags;
	}
}

void file_open_flags(uint32_t v, struct file_op_text *t)
{
	static const char *const acc[4] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };

	t->flags[t->n_flags++] = acc[v & O_ACCMODE];
	name_flags(v & ~(uint32_t)O_ACCMODE, open_flag_names, ARRAY_SIZE(open_flag_names), t);
}

int file_op_text(const struct at_file *r, size_t len, struct file_op_text *t)
{
	const char *base1, *rel1, *base2, *rel2;
	size_t off = 0, avail;
	bool follow;

	if (len < sizeof(*r) || r->op == 0 || r->op >= AT_FILE_OP_MAX || r->sys == 0 ||
	    r->sys >= AT_FSYS_MAX || (r->op == AT_FILE_OPEN) != (r->hdr.type == AT_REC_FILE_OPEN))
		return -EINVAL;
	avail = len - sizeof(*r);
	base1 = piece(r, &off, r->base1_len, avail);
	rel1 = piece(r, &off, r->rel1_len, avail);
	base2 = piece(r, &off, r->base2_len, avail);
	rel2 = piece(r, &off, r->rel2_len, avail);
	if (base1 == (const char *)-1 || rel1 == (const char *)-1 ||
	    base2 == (const char *)-1 || rel2 == (const char *)-1)
		return -EINVAL;

	t->n_flags = 0;
	t->unknown_flags[0] = '\0';
	t->path_trunc = t->new_path_trunc = t->has_mode = t->has_size = false;
	t->mode = 0;
	t->size = 0;
	t->new_path[0] = '\0';
	t->type = op_names[r->op];
	/* an open returns its fd: that is success, not a result to show */
	t->result = r->result > 0 ? 0 : r->result;

	/* truncate and chmod by name act on a symlink's target, as the kernel resolves it */
	follow = (r->sys == AT_FSYS_TRUNCATE || r->sys == AT_FSYS_CHMOD ||
		  r->sys == AT_FSYS_FCHMODAT ||
		  (r->sys == AT_FSYS_FCHMODAT2 && !(r->at_flags & AT_SYMLINK_NOFOLLOW))) &&
		 r->result == 0;
	render_path(r, base1, rel1, 0, follow, t->path, &t->path_trunc);

	if (r->fflags & AT_FILE_F_RAW2) {
		t->new_path_trunc = !!(r->fflags & (AT_FILE_F_REL_FAULT2 | AT_FILE_F_REL_TRUNC2));
		snprintf(t->new_path, sizeof(t->new_path), "%s", rel2 ? rel2 : "");
	} else if (base2 || rel2 || (r->fflags & AT_FILE_F_REL_FAULT2)) {
		render_path(r, base2, rel2, 4, false, t->new_path, &t->new_path_trunc);
	}

	switch (r->op) {
	case AT_FILE_OPEN:
		file_open_flags(r->open_flags, t);
		if ((r->open_flags & O_CREAT) || (r->open_flags & O_TMPFILE) == O_TMPFILE) {
			t->has_mode = true;
			t->mode = r->mode & 07777;
		}
		break;
	case AT_FILE_RENAME:
		name_flags(r->at_flags, rename_flag_names, ARRAY_SIZE(rename_flag_names), t);
		break;
	case AT_FILE_LINK:
	case AT_FILE_CHMOD:
		name_flags(r->at_flags, at_flag_names, ARRAY_SIZE(at_flag_names), t);
		break;
	default:
		break;
	}
	if (r->op == AT_FILE_MKDIR || r->op == AT_FILE_CHMOD) {
		t->has_mode = true;
		t->mode = r->mode & 07777;
	}
	if (r->op == AT_FILE_TRUNCATE) {
		t->has_size = true;
		t->size = r->size;
	}
	return 0;
}

static int file_decode(struct agent *a, const struct at_hdr *h, const void *rec, size_t len,
		       at_event *ev, struct arena *ar)
{
	static struct file_op_text t; /* 16 KiB: the loop is single-threaded */
	Aitrail__V1__FileOp *fo;
	size_t i;
	int err;

	if (!host_mntns_known && file_decode_init())
		file_set_host_mntns(0); /* warned once: paths stay lexical */
	err = file_op_text(rec, len, &t);
	if (err) {
		log_debug("failed to decode file record: %zu bytes", len);
		return err;
	}
	fo = arena_alloc(ar, sizeof(*fo));
	if (!fo)
		return -ENOMEM;
	aitrail__v1__file_op__init(fo);
	fo->path = arena_strndup(ar, t.path, sizeof(t.path));
	fo->new_path = arena_strndup(ar, t.new_path, sizeof(t.new_path));
	if (!fo->path || !fo->new_path)
		return -ENOMEM;
	if (t.n_flags) {
		fo->flags = arena_alloc(ar, t.n_flags * sizeof(char *));
		if (!fo->flags)
			return -ENOMEM;
		for (i = 0; i < t.n_flags; i++) {
			/* names are static; only the hex remainder lives in t */
			fo->flags[i] = t.flags[i] == t.unknown_flags
					       ? arena_strndup(ar, t.unknown_flags,
							       sizeof(t.unknown_flags))
					       : (char *)t.flags[i];
			if (!fo->flags[i])
				return -ENOMEM;
		}
		fo->n_flags = t.n_flags;
	}
	fo->mode = t.has_mode ? t.mode : 0;
	fo->result = t.result;
	fo->size = t.has_size ? t.size : 0;
	ev->type = (char *)t.type;
	ev->body_case = AITRAIL__V1__EVENT__BODY_FILE;
	ev->file = fo;
	if ((t.path_trunc && ev_add_truncated(ev, ar, "path")) ||
	    (t.new_path_trunc && ev_add_truncated(ev, ar, "new_path")))
		return -ENOMEM;
	return 0;
}

const struct agent_module file_module = {
	.name = "file",
	.progs = (const char *const[]){ "file_", NULL },
	.recs = (const struct agent_rec[]){
		{ AT_REC_FILE_OPEN, sizeof(struct at_file), NULL, file_decode },
		{ AT_REC_FILE_OP, sizeof(struct at_file), NULL, file_decode },
		{ 0 },
	},
	.autoload = file_skip_missing_syscalls,
};
