// SPDX-License-Identifier: Apache-2.0
/*
 * aitrail provenance PATH... | --git REPO: which files hold content an AI session wrote.
 *
 * Each file is hashed here (SHA-256 of its bytes) and the digests are looked up in the
 * collector's provenance ledger (GET /v1/provenance). A file matches when its current content is
 * exactly what a session left in some file (any path: copies and moves match too).
 *
 * Exit status, for pipelines that keep AI output out of a corpus:
 *   0  no file holds AI-written content
 *   1  at least one does (listed)
 *   2  could not tell: bad usage, an unreadable file, the collector not reachable
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "common/util.h"

#define PROV_BATCH 50 /* digests per request: keeps the URL short */

struct pfile {
	char *name;   /* as shown: the argument, or the path inside the repository */
	char *path;   /* what is opened */
	char sha[65];
	json_object *matches;
};

struct plist {
	struct pfile *v;
	size_t n, cap;
};

static int plist_add(struct plist *l, const char *name, const char *path)
{
	if (grow_array(&l->v, &l->cap, l->n + 1, sizeof(l->v[0])))
		return -ENOMEM;
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	l->v[l->n].name = strdup(name);
	l->v[l->n].path = strdup(path);
	if (!l->v[l->n].name || !l->v[l->n].path)
		return -ENOMEM;
	l->n++;
	return 0;
}

static int hash_file(const char *path, char hex[65])
{
	static unsigned char buf[1 << 16];
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		err = -ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return err;
}

/* Runs argv (no shell) and returns its stdout; NULL after a message on failure. */
static char *run_capture(char *const argv[], size_t *len)
{
	char *out = NULL;
	size_t cap = 0;
	int pfd[2], st;
	pid_t pid;
	ssize_t n;

	*len = 0;
	if (pipe(pfd))
		return NULL;
	pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "aitrail provenance: failed to run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		/* room for a full read and the final NUL */
		if (grow_array(&out, &cap, *len + 65536 + 1, 1))
			break;
		n = read(pfd[0], out + *len, cap - *len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !out) {
		free(out);
		return NULL;
	}
	out[*len] = '\0';
	return out;
}

/* The tracked files of a repository's work tree (git ls-files). */
static int git_files(const char *repo, struct plist *l)
{
	char *argv[] = { "git", "-C", (char *)repo, "ls-files", "-z", "--cached", NULL };
	char path[8192];
	size_t len, off;
	char *out = run_capture(argv, &len);

	if (!out) {
		fprintf(stderr, "aitrail provenance: failed to list the files of %s: is it a git "
			"work tree? (git -C %s ls-files)\n", repo, repo);
		return -EINVAL;
	}
	for (off = 0; off < len; off += strlen(out + off) + 1) {
		struct stat st;

		if (!out[off])
			continue;
		snprintf(path, sizeof(path), "%s/%s", repo, out + off);
		/* symlinks and submodules have no content of their own here */
		if (lstat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (plist_add(l, out + off, path)) {
			free(out);
			return -ENOMEM;
		}
	}
	free(out);
	return 0;
}

static void progress(size_t done, size_t total, const char *what)
{
	if (isatty(2) && total >= 200 && (done % 200 == 0 || done == total))
		fprintf(stderr, "\raitrail provenance: %s %zu/%zu files%s", what, done, total,
			done == total ? "\n" : "");
}

static int lookup(struct cli *c, struct plist *l)
{
	char q[PROV_BATCH * 65 + 64];
	size_t i = 0;

	while (i < l->n) {
		size_t start = i, k;
		json_object *o, *res;

		snprintf(q, sizeof(q), "/v1/provenance?sha256=");
		for (k = 0; i < l->n && k < PROV_BATCH; i++) {
			if (!l->v[i].sha[0])
				continue;
			snprintf(q + strlen(q), sizeof(q) - strlen(q), "%s%s", k ? "," : "",
				 l->v[i].sha);
			k++;
		}
		if (!k)
			break;
		o = cli_get(c, q);
		if (!o)
			return -EIO;
		res = json_object_object_get(o, "results");
		for (size_t j = start; j < i; j++) {
			for (size_t r = 0; res && r < json_object_array_length(res); r++) {
				json_object *e = json_object_array_get_idx(res, r);
				json_object *m = json_object_object_get(e, "matches");

				if (l->v[j].sha[0] &&
				    !strcmp(json_object_get_string(json_object_object_get(e, "sha256")),
					    l->v[j].sha) &&
				    m && json_object_array_length(m)) {
					l->v[j].matches = json_object_get(m);
					break;
				}
			}
		}
		json_object_put(o);
		progress(i, l->n, "looked up");
	}
	return 0;
}

static void usage_prov(FILE *f)
{
	fprintf(f, "Usage: aitrail provenance [--json] PATH...\n"
		   "       aitrail provenance [--json] --git REPO\n"
		   "Exit status: 0 no AI-written content, 1 some found, 2 could not tell.\n");
}

static const char *field(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);

	return v ? json_object_get_string(v) : "-";
}

static void print_table(struct plist *l, size_t found, size_t unreadable)
{
	size_t w = 4;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].matches && strlen(l->v[i].name) > w)
			w = strlen(l->v[i].name);
	if (w > 60)
		w = 60;
	if (found)
		printf("%-*s  %-32s  %-8s  %-12s  %-8s  %s\n", (int)w, "FILE", "SESSION", "TOOL",
		       "HOST", "USER", "WRITTEN (UTC) AS");
	for (size_t i = 0; i < l->n; i++) {
		json_object *m = l->v[i].matches;

		for (size_t j = 0; m && j < json_object_array_length(m); j++) {
			json_object *e = json_object_array_get_idx(m, j);
			json_object *v;
			char when[32] = "-";
			time_t s;
			struct tm tm;

			v = json_object_object_get(e, "ts_ns");
			if (v) {
				s = (time_t)(json_object_get_int64(v) / 1000000000LL);
				gmtime_r(&s, &tm);
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			}
			printf("%-*s  %-32s  %-8s  %-12s  %-8s  %s %s\n", (int)w,
			       j ? "" : l->v[i].name, field(e, "session"), field(e, "tool"), field(e, "host"),
			       field(e, "user"), when, field(e, "path"));
		}
	}
	printf("%zu of %zu files hold content written by an AI session", found, l->n);
	if (unreadable)
		printf("; %zu could not be read", unreadable);
	printf("\n");
}

static json_object *as_json(struct plist *l, size_t found, size_t unreadable)
{
	json_object *o = json_object_new_object(), *files = json_object_new_array();
	json_object *bad = json_object_new_array();

	for (size_t i = 0; i < l->n; i++) {
		json_object *f;

		if (!l->v[i].sha[0]) {
			json_object_array_add(bad, json_object_new_string(l->v[i].name));
			continue;
		}
		if (!l->v[i].matches)
			continue;
		f = json_object_new_object();
		json_object_object_add(f, "file", json_object_new_string(l->v[i].name));
		json_object_object_add(f, "sha256", json_object_new_string(l->v[i].sha));
		json_object_object_add(f, "matches", json_object_get(l->v[i].matches));
		json_object_array_add(files, f);
	}
	json_object_object_add(o, "checked", json_object_new_int64((int64_t)l->n));
	json_object_object_add(o, "ai_written", json_object_new_int64((int64_t)found));
	json_object_object_add(o, "files", files);
	json_object_object_add(o, "unreadable", bad);
	(void)unreadable;
	return o;
}

int cmd_provenance(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "git", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct plist l = { 0 };
	const char *repo = NULL;
	size_t found = 0, unreadable = 0;
	int ch, rc = 2, err;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'g': repo = optarg; break;
		case 'j': c->json = true; break;
		case 'h': usage_prov(stdout); return 0;
		default: usage_prov(stderr); return 2;
		}
	}
	if ((repo && optind < argc) || (!repo && optind == argc)) {
		fprintf(stderr, "aitrail provenance: give either files or --git REPO\n");
		usage_prov(stderr);
		return 2;
	}
	if (repo) {
		if (git_files(repo, &l))
			goto out;
	} else {
		for (int i = optind; i < argc; i++) {
			struct stat st;

			if (!stat(argv[i], &st) && S_ISDIR(st.st_mode)) {
				fprintf(stderr, "aitrail provenance: %s is a directory: name files, or "
					"use --git for a repository\n", argv[i]);
				goto out;
			}
			if (plist_add(&l, argv[i], argv[i]))
				goto out;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		err = hash_file(l.v[i].path, l.v[i].sha);
		if (err) {
			fprintf(stderr, "aitrail provenance: failed to read %s: %s\n", l.v[i].path,
				strerror(-err));
			l.v[i].sha[0] = '\0';
			unreadable++;
		}
		progress(i + 1, l.n, "hashed");
	}
	if (lookup(c, &l))
		goto out;
	for (size_t i = 0; i < l.n; i++)
		found += l.v[i].matches != NULL;
	if (c->json) {
		json_object *o = as_json(&l, found, unreadable);

		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		print_table(&l, found, unreadable);
	}
	rc = found ? 1 : unreadable ? 2 : 0;
out:
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i].name);
		free(l.v[i].path);
		json_object_put(l.v[i].matches);
	}
	free(l.v);
	return rc;
}
