/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of file records (bpf/file.h) into FileOp bodies (agent/file_decode.c: the file
 * module). file_op_text is the pure part, kept apart from the arena so it can be tested on
 * canned records.
 *
 * Where each path comes from:
 *  - a successful open, ftruncate, fchmod: the kernel's struct file (exact, canonical);
 *  - everything else: the kernel's canonical path of the dirfd or cwd, joined here with the
 *    name the process passed, "." and ".." collapsed. A name that goes through directories
 *    ("sub/x", "/home/u/x") may cross a symlink, which BPF cannot see; such a parent directory
 *    is resolved with realpath() on this host when the process shares the agent's mount
 *    namespace and root, and kept lexical otherwise (or when it no longer exists);
 *  - truncate and chmod by name follow a symlink in the last component, as the kernel does, so
 *    the whole path is resolved the same way when it still exists.
 */
#ifndef AITRAIL_FILE_DECODE_H
#define AITRAIL_FILE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/emit.h"
#include "bpf/file.h"

/* base + '/' + name, or a deleted file's path + " (deleted)" */
#define FILE_TEXT_MAX (2 * AT_FILE_PATH_MAX + 16)
#define FILE_FLAGS_MAX 32

struct file_op_text {
	const char *type;      /* file_open, file_rename, ... */
	char path[FILE_TEXT_MAX];
	char new_path[FILE_TEXT_MAX];
	const char *flags[FILE_FLAGS_MAX];
	size_t n_flags;
	char unknown_flags[24]; /* "0x..." for bits without a name */
	bool path_trunc;        /* path cut short or unreadable */
	bool new_path_trunc;
	bool has_mode;
	uint32_t mode;
	bool has_size;
	int64_t size;
	int32_t result;         /* 0 or -errno */
};

/*
 * Collapses "//", "." and ".." of an absolute path in place ("/.." is "/"); a relative path
 * keeps leading "..". Returns the new length.
 */
size_t file_path_collapse(char *path);

/*
 * Mount namespace inode the agent resolves host paths in, read from /proc/self/ns/mnt on the
 * first record; 0 turns host resolution off, leaving every path lexical.
 */
void file_set_host_mntns(uint32_t ino);

/* Appends the names of open(2) flags v to t->flags (O_RDONLY... then the rest). */
void file_open_flags(uint32_t v, struct file_op_text *t);

/* Validates a raw record and renders its fields. -EINVAL for a malformed record. */
int file_op_text(const struct at_file *r, size_t len, struct file_op_text *t);

#endif
