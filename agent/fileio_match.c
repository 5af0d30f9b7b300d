// SPDX-License-Identifier: Apache-2.0
/* The sensitive-path matcher, its kernel prefilter keys, path joining and file hashing. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/fileio_match.h"

const char *const fio_default_patterns[] = {
	"~/.ssh/**",
	"~/.aws/**",
	"~/.config/gcloud/**",
	"~/.azure/**",
	"~/.kube/config",
	"~/.docker/config.json",
	"~/.netrc",
	"~/.git-credentials",
	".env",
	".env.*",
	"*.pem",
	"*.key",
	"~/.password-store/**",
	"~/.gnupg/**",
	"~/.mozilla/**",
	"~/.config/google-chrome/**",
	"~/.config/chromium/**",
};
const size_t fio_n_default_patterns =
	sizeof(fio_default_patterns) / sizeof(fio_default_patterns[0]);

#define MAX_COMPONENTS 128

/* Splits s (modified) on '/', skipping empty components. */
static int split(char *s, char **out, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (n >= max)
			return -E2BIG;
		out[n++] = t;
	}
	return n;
}

static bool match_components(char **pat, int np, char **path, int nq)
{
	if (np == 0)
		return nq == 0;
	if (!strcmp(pat[0], "**")) {
		for (int skip = 0; skip <= nq; skip++)
			if (match_components(pat + 1, np - 1, path + skip, nq - skip))
				return true;
		return false;
	}
	if (nq == 0 || fnmatch(pat[0], path[0], 0))
		return false;
	return match_components(pat + 1, np - 1, path + 1, nq - 1);
}

const char *fio_pattern_invalid(const char *pat)
{
	if (!pat[0])
		return "empty pattern";
	if (strlen(pat) >= 256)
		return "longer than 255 bytes";
	if (!strcmp(pat, "~") || !strcmp(pat, "~/") || !strcmp(pat, "/"))
		return "matches a whole tree: name something in it";
	if (pat[0] == '~' && pat[1] != '/')
		return "~ must be followed by / (~/.ssh/**)";
	if (pat[strlen(pat) - 1] == '/')
		return "ends with /: add ** to match what is inside";
	return NULL;
}

bool fio_pattern_match(const char *pat, const char *path)
{
	char pbuf[256], qbuf[4096], *pc[MAX_COMPONENTS], *qc[MAX_COMPONENTS];
	const char *base;
	int np, nq;

	if (fio_pattern_invalid(pat) || strlen(path) >= sizeof(qbuf))
		return false;
	if (!strchr(pat, '/')) {
		base = strrchr(path, '/');
		return !fnmatch(pat, base ? base + 1 : path, 0);
	}
	if (pat[0] == '~')
		snprintf(pbuf, sizeof(pbuf), "**%s", pat + 1);
	else if (pat[0] == '/')
		snprintf(pbuf, sizeof(pbuf), "%s", pat);
	else
		snprintf(pbuf, sizeof(pbuf), "**/%s", pat); /* relative: at any depth too */
	snprintf(qbuf, sizeof(qbuf), "%s", path);
	np = split(pbuf, pc, MAX_COMPONENTS);
	nq = split(qbuf, qc, MAX_COMPONENTS);
	if (np < 0 || nq < 0)
		return false;
	return match_components(pc, np, qc, nq);
}

static bool has_glob(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strchr("*?[\\", s[i]))
			return true;
	return false;
}

static void kkey_set(struct fio_kkey *k, char kind, const char *s, size_t n)
{
	if (n == 0 || n >= AT_FIO_KEY_LEN)
		return;
	k->kind = kind;
	memcpy(k->name, s, n);
	k->name[n] = '\0';
}

void fio_pattern_kernel_key(const char *pat, struct fio_kkey *k)
{
	char buf[256], *c[MAX_COMPONENTS];
	const char *last;
	int n, i;

	memset(k, 0, sizeof(*k));
	if (fio_pattern_invalid(pat))
		return;
	snprintf(buf, sizeof(buf), "%s", pat);
	n = split(buf, c, MAX_COMPONENTS);
	if (n <= 0)
		return;
	/* the deepest literal directory: ".kube" for ~/.kube/config, not the common "config" */
	for (i = n - 2; i >= 0; i--) {
		if (strcmp(c[i], "~") && !has_glob(c[i], strlen(c[i]))) {
			kkey_set(k, 'd', c[i], strlen(c[i]));
			if (k->kind)
				return;
		}
	}
	last = c[n - 1];
	if (!has_glob(last, strlen(last))) {
		kkey_set(k, 'n', last, strlen(last));
	} else if (last[0] == '*' && last[1] == '.' && !has_glob(last + 1, strlen(last + 1))) {
		kkey_set(k, 'e', last + 1, strlen(last + 1));
	} else {
		size_t lit = strcspn(last, "*?[\\");

		if (last[lit] == '*' && last[lit + 1] == '\0')
			kkey_set(k, 'p', last, lit);
	}
}

int fio_join_path(const char *base, const char *rel, char *out, size_t len)
{
	char tmp[8192], *c[2048], *res[2048];
	int n, m = 0, i;
	size_t o = 0;

	if (rel[0] == '/')
		snprintf(tmp, sizeof(tmp), "%s", rel);
	else if (base[0] == '/')
		snprintf(tmp, sizeof(tmp), "%s/%s", base, rel);
	else
		return -EINVAL;
	n = split(tmp, c, 2048);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (!strcmp(c[i], "."))
			continue;
		if (!strcmp(c[i], "..")) {
			if (m)
				m--;
			continue;
		}
		res[m++] = c[i];
	}
	if (m == 0) {
		if (len < 2)
			return -ENAMETOOLONG;
		strcpy(out, "/");
		return 0;
	}
	for (i = 0; i < m; i++) {
		size_t l = strlen(res[i]);

		if (o + l + 2 > len)
			return -ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, res[i], l);
		o += l;
	}
	out[o] = '\0';
	return 0;
}

int fio_sha256_file(int fd, uint64_t max_bytes, char hex[65], uint64_t *size, const char **why)
{
	/*
	 * One context and one fetched digest for the agent's life: a file_write per created file
	 * made the per-call allocation and the provider lookup a visible share of the agent's CPU.
	 */
	static const char digits[] = "0123456789abcdef";
	static char buf[1 << 16];
	static EVP_MD_CTX *ctx;
	static EVP_MD *sha256;
	unsigned char md[32];
	unsigned int mdlen = 0;
	uint64_t total = 0;
	ssize_t n;

	hex[0] = '\0';
	if (!sha256)
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!ctx)
		ctx = EVP_MD_CTX_new();
	if (!ctx || !sha256 || !EVP_DigestInit_ex(ctx, sha256, NULL)) {
		*why = "read_error: no sha256 context";
		return -ENOMEM;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*why = "read_error";
			return -errno;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > max_bytes) {
			*why = "too_large";
			return -EFBIG;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen && i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
		hex[2 * i + 2] = '\0';
	}
	*size = total;
	return 0;
}
