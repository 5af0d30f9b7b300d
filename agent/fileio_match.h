/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sensitive-path matcher of file_read, its kernel prefilter keys, path joining and file
 * hashing (agent/fileio_match.c), for the fileio module (agent/fileio.c) and the config check.
 *
 * Sensitive-path patterns, matched against the canonical path:
 *   NAME        no slash: a glob on the file's name (".env", "*.pem", ".env.*")
 *   ~/A/B       A/B at any depth: ~ stands for any directory, as a session's credentials are
 *               not always under its user's home (HOME overrides, containers)
 *   /A/B        anchored at the root
 * Components are fnmatch(3) globs; "**" matches any number of components (zero included).
 */
#ifndef AITRAIL_FILEIO_MATCH_H
#define AITRAIL_FILEIO_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/fileio.h"

extern const char *const fio_default_patterns[];
extern const size_t fio_n_default_patterns;

/* NULL when pat is usable, else why not. */
const char *fio_pattern_invalid(const char *pat);
bool fio_pattern_match(const char *pat, const char *path);

/*
 * The kernel's prefilter for a pattern: a name the opened file or one of its ancestors must
 * have. kind: 'd' directory name, 'n' file name, 'e' extension (".pem"), 'p' name prefix;
 * 0 when the pattern has no such name (the kernel must then send every read).
 */
struct fio_kkey {
	char kind;
	char name[AT_FIO_KEY_LEN];
};
void fio_pattern_kernel_key(const char *pat, struct fio_kkey *k);

/* Joins a rename's base directory and name, folding "." and ".." (lexically). */
int fio_join_path(const char *base, const char *rel, char *out, size_t len);

int fio_sha256_file(int fd, uint64_t max_bytes, char hex[65], uint64_t *size, const char **why);

#endif
