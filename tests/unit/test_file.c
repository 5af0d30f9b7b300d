// SPDX-License-Identifier: Apache-2.0
/* Decoding of canned file records, as bpf/file.bpf.c writes them, and the "."/".." collapse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/file_decode.h"
#include "agent/dispatch.h"
#include "agent/module.h"

/* The modules' handlers, reached through their rows as agent/dispatch.c reaches them. */
#define file_decode(...) dispatch_find(AT_REC_FILE_OP)->decode(__VA_ARGS__)

static union {
	struct at_file f;
	char bytes[sizeof(struct at_file) + AT_FILE_DATA_MAX];
} rec;
static struct file_op_text t;

/* Builds a record; a NULL piece is absent. Returns its length. */
static size_t mk(uint8_t op, uint8_t sys, int32_t result, const char *b1, const char *r1,
		 const char *b2, const char *r2)
{
	const char *pieces[4] = { b1, r1, b2, r2 };
	uint16_t *lens[4] = { &rec.f.base1_len, &rec.f.rel1_len, &rec.f.base2_len,
			      &rec.f.rel2_len };
	size_t off = 0;
	int i;

	memset(&rec, 0, sizeof(rec));
	rec.f.hdr.type = op == AT_FILE_OPEN ? AT_REC_FILE_OPEN : AT_REC_FILE_OP;
	rec.f.op = op;
	rec.f.sys = sys;
	rec.f.result = result;
	for (i = 0; i < 4; i++) {
		if (!pieces[i])
			continue;
		*lens[i] = strlen(pieces[i]) + 1;
		memcpy(rec.f.data + off, pieces[i], *lens[i]);
		off += *lens[i];
	}
	rec.f.hdr.size = (sizeof(rec.f) + off + 7) & ~7u;
	return rec.f.hdr.size;
}

static void check_collapse(const char *in, const char *want)
{
	char buf[256];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", in);
	n = file_path_collapse(buf);
	if (strcmp(buf, want))
		fail_msg("collapse(\"%s\") = \"%s\", want \"%s\"", in, buf, want);
	assert_int_equal(n, strlen(want));
}

static void test_collapse(void **state)
{
	check_collapse("/", "/");
	check_collapse("/a/b/c", "/a/b/c");
	check_collapse("/a/./b/", "/a/b");
	check_collapse("//a//b//", "/a/b");
	check_collapse("/a/b/../c", "/a/c");
	check_collapse("/a/b/../../..", "/");
	check_collapse("/..", "/");
	check_collapse("/../../x", "/x");
	check_collapse("/a/..", "/");
	check_collapse("/a/b/.", "/a/b");
	check_collapse("/a/...", "/a/...");
	check_collapse("/a/..b/.c", "/a/..b/.c");
	check_collapse("a/../..", "..");
	check_collapse("../../a/./b/..", "../../a");
	check_collapse("./", ".");
	check_collapse("a/..", ".");
}

static void test_open_success(void **state)
{
	size_t len = mk(AT_FILE_OPEN, AT_FSYS_OPENAT, 3, "/tmp/w/a.txt", NULL, NULL, NULL);

	rec.f.open_flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
	rec.f.mode = 0100644;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.type, "file_open");
	assert_string_equal(t.path, "/tmp/w/a.txt");
	assert_string_equal(t.new_path, "");
	assert_int_equal(t.result, 0);
	assert_int_equal(t.n_flags, 4);
	assert_string_equal(t.flags[0], "O_WRONLY");
	assert_string_equal(t.flags[1], "O_CREAT");
	assert_string_equal(t.flags[2], "O_TRUNC");
	assert_string_equal(t.flags[3], "O_CLOEXEC");
	assert_true(t.has_mode);
	assert_int_equal(t.mode, 0644);
	assert_false(t.path_trunc);
}

static void test_open_flags_named(void **state)
{
	size_t len = mk(AT_FILE_OPEN, AT_FSYS_OPEN, 4, "/x", NULL, NULL, NULL);

	rec.f.open_flags = O_RDWR | O_APPEND | O_SYNC | O_TMPFILE | 0x80000000u;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_int_equal(t.n_flags, 5);
	assert_string_equal(t.flags[0], "O_RDWR");
	assert_string_equal(t.flags[1], "O_APPEND");
	assert_string_equal(t.flags[2], "O_SYNC");
	assert_string_equal(t.flags[3], "O_TMPFILE");
	assert_string_equal(t.flags[4], "0x80000000");
	assert_true(t.has_mode);

	/* no O_CREAT: mode means nothing */
	rec.f.open_flags = O_WRONLY | O_APPEND;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_false(t.has_mode);
	assert_int_equal(t.n_flags, 2);
}

static void test_open_failure_lexical(void **state)
{
	size_t len = mk(AT_FILE_OPEN, AT_FSYS_OPENAT, -ENOENT, "/tmp/w", "sub/../nope/./f",
			NULL, NULL);

	file_set_host_mntns(0);
	rec.f.open_flags = O_WRONLY;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.path, "/tmp/w/nope/f");
	assert_int_equal(t.result, -ENOENT);
	assert_false(t.has_mode);
}

static void test_absolute_name_ignores_base(void **state)
{
	size_t len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINK, 0, NULL, "/a/b/../c", NULL, NULL);

	file_set_host_mntns(0);
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.type, "file_unlink");
	assert_string_equal(t.path, "/a/c");
}

static void test_rename(void **state)
{
	size_t len = mk(AT_FILE_RENAME, AT_FSYS_RENAMEAT2, 0, "/w", ".tmp.1", "/w/d", "../f");

	file_set_host_mntns(0);
	rec.f.at_flags = 1; /* RENAME_NOREPLACE */
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.type, "file_rename");
	assert_string_equal(t.path, "/w/.tmp.1");
	assert_string_equal(t.new_path, "/w/f");
	assert_int_equal(t.n_flags, 1);
	assert_string_equal(t.flags[0], "RENAME_NOREPLACE");
}

static void test_symlink_target_is_text(void **state)
{
	size_t len = mk(AT_FILE_SYMLINK, AT_FSYS_SYMLINKAT, 0, "/w", "ln", NULL, "../t/./x");

	rec.f.fflags = AT_FILE_F_RAW2;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.type, "file_symlink");
	assert_string_equal(t.path, "/w/ln");
	assert_string_equal(t.new_path, "../t/./x");
}

static void test_truncate_and_chmod(void **state)
{
	size_t len = mk(AT_FILE_TRUNCATE, AT_FSYS_FTRUNCATE, 0, "/w/f", NULL, NULL, NULL);

	rec.f.size = 12345;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.type, "file_truncate");
	assert_true(t.has_size);
	assert_int_equal(t.size, 12345);

	len = mk(AT_FILE_CHMOD, AT_FSYS_FCHMOD, -EPERM, "/w/f", NULL, NULL, NULL);
	rec.f.mode = 0755;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.type, "file_chmod");
	assert_int_equal(t.mode, 0755);
	assert_int_equal(t.result, -EPERM);
}

static void test_deleted_and_unreadable(void **state)
{
	size_t len = mk(AT_FILE_TRUNCATE, AT_FSYS_FTRUNCATE, 0, "/w/gone", NULL, NULL, NULL);

	rec.f.fflags = AT_FILE_F_DELETED1;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.path, "/w/gone (deleted)");

	/* the name could not be read: only its directory is known, so no path is claimed */
	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINKAT, -EFAULT, "/w", NULL, NULL, NULL);
	rec.f.fflags = AT_FILE_F_REL_FAULT1;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.path, "");
	assert_true(t.path_trunc);

	/* a pipe opened through /proc/self/fd: named as /proc shows it */
	len = mk(AT_FILE_OPEN, AT_FSYS_OPENAT, 5, "pipefs:[4242]", NULL, NULL, NULL);
	rec.f.fflags = AT_FILE_F_PSEUDO1;
	rec.f.open_flags = O_WRONLY;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.path, "pipe:[4242]");
	len = mk(AT_FILE_OPEN, AT_FSYS_OPENAT, 5, "memfd:x", NULL, NULL, NULL);
	rec.f.fflags = AT_FILE_F_PSEUDO1;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_string_equal(t.path, "memfd:x");

	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINK, 0, "ep/deep", "x", NULL, NULL);
	rec.f.fflags = AT_FILE_F_TRUNC1;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	assert_true(t.path_trunc);
}

static void test_malformed(void **state)
{
	size_t len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINK, 0, "/a", NULL, NULL, NULL);

	rec.f.data[2] = 'x'; /* overwrite the NUL */
	assert_int_equal(file_op_text(&rec.f, len, &t), -EINVAL);

	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINK, 0, "/a", NULL, NULL, NULL);
	rec.f.base1_len = 200; /* beyond the record */
	assert_int_equal(file_op_text(&rec.f, len, &t), -EINVAL);

	len = mk(AT_FILE_OP_MAX, AT_FSYS_UNLINK, 0, "/a", NULL, NULL, NULL);
	assert_int_equal(file_op_text(&rec.f, len, &t), -EINVAL);

	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINK, 0, "/a", NULL, NULL, NULL);
	rec.f.hdr.type = AT_REC_FILE_OPEN; /* an unlink is not an open record */
	assert_int_equal(file_op_text(&rec.f, len, &t), -EINVAL);

	assert_int_equal(file_op_text(&rec.f, sizeof(rec.f) - 1, &t), -EINVAL);
}

/* Names through a symlinked directory resolve on the host when the namespaces match. */
static void test_host_resolution(void **state)
{
	char tmpl[] = "/tmp/aitrail-test-file-XXXXXX", real[PATH_MAX], buf[PATH_MAX * 2];
	char want[PATH_MAX * 2], *dir = mkdtemp(tmpl);
	struct stat st;
	size_t len;
	int fd;

	assert_non_null(dir);
	assert_non_null(realpath(dir, real));
	snprintf(buf, sizeof(buf), "%s/real", real);
	assert_int_equal(mkdir(buf, 0755), 0);
	snprintf(want, sizeof(want), "%s/real", real);
	snprintf(buf, sizeof(buf), "%s/link", real);
	assert_int_equal(symlink(want, buf), 0);
	snprintf(buf, sizeof(buf), "%s/real/f", real);
	fd = open(buf, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(buf, sizeof(buf), "%s/flink", real);
	snprintf(want, sizeof(want), "%s/real/f", real);
	assert_int_equal(symlink(want, buf), 0);
	assert_int_equal(stat("/proc/self/ns/mnt", &st), 0);

	file_set_host_mntns((uint32_t)st.st_ino);
	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINKAT, 0, real, "link/gone", NULL, NULL);
	rec.f.mnt_ns = (uint32_t)st.st_ino;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	snprintf(want, sizeof(want), "%s/real/gone", real);
	assert_string_equal(t.path, want);

	/* ".." after a symlinked directory is its target's parent, as the kernel walks it */
	snprintf(buf, sizeof(buf), "%s/real/deep", real);
	assert_int_equal(mkdir(buf, 0755), 0);
	snprintf(want, sizeof(want), "%s/deeplink", real);
	assert_int_equal(symlink(buf, want), 0);
	len = mk(AT_FILE_MKDIR, AT_FSYS_MKDIRAT, 0, real, "deeplink/../new", NULL, NULL);
	rec.f.mnt_ns = (uint32_t)st.st_ino;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	snprintf(want, sizeof(want), "%s/real/new", real);
	assert_string_equal(t.path, want);
	snprintf(buf, sizeof(buf), "%s/deeplink", real);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/real/deep", real);
	rmdir(buf);
	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINKAT, 0, real, "link/gone", NULL, NULL);

	/* another mount namespace: stays lexical */
	rec.f.mnt_ns = (uint32_t)st.st_ino + 1;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	snprintf(want, sizeof(want), "%s/link/gone", real);
	assert_string_equal(t.path, want);

	/* chmod follows the last component; unlink does not */
	len = mk(AT_FILE_CHMOD, AT_FSYS_CHMOD, 0, real, "flink", NULL, NULL);
	rec.f.mnt_ns = (uint32_t)st.st_ino;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	snprintf(want, sizeof(want), "%s/real/f", real);
	assert_string_equal(t.path, want);
	len = mk(AT_FILE_UNLINK, AT_FSYS_UNLINK, 0, real, "flink", NULL, NULL);
	rec.f.mnt_ns = (uint32_t)st.st_ino;
	assert_int_equal(file_op_text(&rec.f, len, &t), 0);
	snprintf(want, sizeof(want), "%s/flink", real);
	assert_string_equal(t.path, want);

	file_set_host_mntns(0);
	snprintf(buf, sizeof(buf), "%s/flink", real);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/real/f", real);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/link", real);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/real", real);
	rmdir(buf);
	rmdir(real);
}

static void test_decode_event(void **state)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	size_t len = mk(AT_FILE_OPEN, AT_FSYS_OPENAT, -EACCES, "/w", "f", NULL, NULL);
	struct arena ar;

	arena_init(&ar, 0);
	file_set_host_mntns(0);
	rec.f.open_flags = O_WRONLY | 0x40000000u;
	rec.f.fflags = AT_FILE_F_REL_TRUNC1;
	assert_int_equal(file_decode(NULL, &rec.f.hdr, &rec, len, &ev, &ar), 0);
	assert_string_equal(ev.type, "file_open");
	assert_int_equal(ev.body_case, AITRAIL__V1__EVENT__BODY_FILE);
	assert_string_equal(ev.file->path, "/w/f");
	assert_int_equal(ev.file->result, -EACCES);
	assert_int_equal(ev.file->n_flags, 2);
	assert_string_equal(ev.file->flags[0], "O_WRONLY");
	assert_string_equal(ev.file->flags[1], "0x40000000");
	assert_int_equal(ev.n_truncated, 1);
	assert_string_equal(ev.truncated[0], "path");
	arena_free(&ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collapse),
		cmocka_unit_test(test_open_success),
		cmocka_unit_test(test_open_flags_named),
		cmocka_unit_test(test_open_failure_lexical),
		cmocka_unit_test(test_absolute_name_ignores_base),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_symlink_target_is_text),
		cmocka_unit_test(test_truncate_and_chmod),
		cmocka_unit_test(test_deleted_and_unreadable),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_host_resolution),
		cmocka_unit_test(test_decode_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
