// SPDX-License-Identifier: Apache-2.0
/* file_write / file_read: the sensitive-path matcher, its kernel keys, rename joins, decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/agent.h"
#include "agent/dispatch.h"
#include "agent/module.h"
#include "agent/fileio_match.h"

/* The modules' handlers, reached through their rows as agent/dispatch.c reaches them. */
#define fileio_decode_wopen(...) dispatch_find(AT_REC_FIO_WOPEN)->decode(__VA_ARGS__)
#define fileio_decode_close(...) dispatch_find(AT_REC_FIO_CLOSE)->decode(__VA_ARGS__)
#define fileio_decode_rename(...) dispatch_find(AT_REC_FIO_RENAME)->decode(__VA_ARGS__)
#define fileio_decode_read(...) dispatch_find(AT_REC_FIO_READ)->decode(__VA_ARGS__)

static bool match_any_default(const char *path)
{
	for (size_t i = 0; i < fio_n_default_patterns; i++)
		if (fio_pattern_match(fio_default_patterns[i], path))
			return true;
	return false;
}

static void test_defaults(void **state)
{
	static const char *const yes[] = {
		"/home/u/.ssh/id_ed25519", "/root/.aws/credentials", "/tmp/x/home/.aws/config",
		"/home/u/.config/gcloud/application_default_credentials.json",
		"/home/u/.azure/msal_token_cache.json", "/home/u/.kube/config",
		"/home/u/.docker/config.json", "/home/u/.netrc", "/home/u/.git-credentials",
		"/src/app/.env", "/src/app/.env.local", "/etc/ssl/private/server.key",
		"/home/u/certs/ca.pem", "/home/u/.password-store/bank.gpg",
		"/home/u/.gnupg/private-keys-v1.d/A.key",
		"/home/u/.mozilla/firefox/x.default/logins.json",
		"/home/u/.config/google-chrome/Default/Cookies",
		"/home/u/.config/chromium/Default/Login Data",
	};
	static const char *const no[] = {
		"/src/app/main.c", "/src/app/node_modules/a/index.js", "/home/u/.kube/cache/x",
		"/home/u/.config/other/config.json", "/src/app/env", "/src/app/my.env",
		"/home/u/.sshx/id", "/home/u/keys.txt", "/usr/lib/node_modules/npm/package.json",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!match_any_default(yes[i]))
			fail_msg("%s should be sensitive", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (match_any_default(no[i]))
			fail_msg("%s should not be sensitive", no[i]);
}

static void test_patterns(void **state)
{
	assert_true(fio_pattern_match("/etc/shadow", "/etc/shadow"));
	assert_false(fio_pattern_match("/etc/shadow", "/x/etc/shadow"));
	assert_true(fio_pattern_match("/srv/**/secret*", "/srv/a/b/secret.txt"));
	assert_true(fio_pattern_match("/srv/**/secret*", "/srv/secret"));
	assert_true(fio_pattern_match("~/.myorg/token", "/home/me/.myorg/token"));
	assert_false(fio_pattern_match("~/.myorg/token", "/home/me/.myorg/token/x"));
	assert_true(fio_pattern_match("*.p12", "/a/b/cert.p12"));
	assert_non_null(fio_pattern_invalid(""));
	assert_non_null(fio_pattern_invalid("~"));
	assert_non_null(fio_pattern_invalid("~x/y"));
	assert_non_null(fio_pattern_invalid("/etc/"));
	assert_null(fio_pattern_invalid("~/.ssh/**"));
}

static void test_kernel_keys(void **state)
{
	struct fio_kkey k;

	fio_pattern_kernel_key("~/.kube/config", &k);
	assert_int_equal(k.kind, 'd');
	assert_string_equal(k.name, ".kube");
	fio_pattern_kernel_key("~/.config/gcloud/**", &k);
	assert_int_equal(k.kind, 'd');
	assert_string_equal(k.name, "gcloud");
	fio_pattern_kernel_key("~/.netrc", &k);
	assert_int_equal(k.kind, 'n');
	assert_string_equal(k.name, ".netrc");
	fio_pattern_kernel_key("*.pem", &k);
	assert_int_equal(k.kind, 'e');
	assert_string_equal(k.name, ".pem");
	fio_pattern_kernel_key(".env.*", &k);
	assert_int_equal(k.kind, 'p');
	assert_string_equal(k.name, ".env.");
	fio_pattern_kernel_key("*secret*", &k);
	assert_int_equal(k.kind, 0); /* nothing the kernel can look for: every read goes up */
	/* every default has a kernel key, so defaults never flood user space */
	for (size_t i = 0; i < fio_n_default_patterns; i++) {
		fio_pattern_kernel_key(fio_default_patterns[i], &k);
		if (!k.kind)
			fail_msg("default %s has no kernel key", fio_default_patterns[i]);
	}
}

static void test_join(void **state)
{
	char out[256];

	assert_int_equal(fio_join_path("/a/b", "c.txt", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b/c.txt");
	assert_int_equal(fio_join_path("/a/b", "../c/./d", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/c/d");
	assert_int_equal(fio_join_path("", "/x//y/", out, sizeof(out)), 0);
	assert_string_equal(out, "/x/y");
	assert_int_equal(fio_join_path("/", "../..", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(fio_join_path("", "rel", out, sizeof(out)), -EINVAL);
	assert_int_equal(fio_join_path("/a", "bcdefgh", out, 5), -ENAMETOOLONG);
}

/* ---- decoding, with files in a temp dir */

static struct agent_config cfg;
static struct agent ag;
static struct arena ar;
static char dir[64];

static int setup(void **state)
{
	config_defaults(&cfg);
	ag.cfg = &cfg;
	arena_init(&ar, 0);
	snprintf(dir, sizeof(dir), "/tmp/test_fileio.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	arena_free(&ar);
	return system(cmd) ? -1 : 0;
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static struct at_fio_open *wopen(uint32_t pid, int fd, const char *path, uint32_t oflags)
{
	static struct at_fio_open r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = AT_REC_FIO_WOPEN;
	r.hdr.pid = pid;
	r.hdr.root_pid = pid;
	r.hdr.root_start = 7;
	r.fd = fd;
	r.oflags = oflags;
	r.path_len = strlen(path) + 1;
	memcpy(r.path, path, r.path_len);
	return &r;
}

static int do_close(uint32_t pid, int fd, const char *path, at_event *ev)
{
	struct at_fio_close c = { 0 };
	struct stat st;

	c.hdr.type = AT_REC_FIO_CLOSE;
	c.hdr.pid = pid;
	c.hdr.root_pid = pid;
	c.hdr.root_start = 7;
	c.fd = fd;
	c.bytes = 5;
	c.writes = 1;
	c.size = 5;
	if (!stat(path, &st)) {
		c.ino = st.st_ino;
		c.dev = (major(st.st_dev) << 20) | minor(st.st_dev); /* the kernel's encoding */
	} else
		c.ino = 1; /* the inode that was written is gone */
	return fileio_decode_close(&ag, &c.hdr, &c, sizeof(c), ev, &ar);
}

static void test_write_inplace(void **state)
{
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct at_fio_open *r;
	char path[128];

	snprintf(path, sizeof(path), "%s/main.c", dir);
	r = wopen(100, 3, path, AT_FIO_O_CREATED | AT_FIO_O_TRUNC);
	assert_int_equal(fileio_decode_wopen(&ag, &r->hdr, r, sizeof(*r), &ev, &ar), 1);
	put_file(path, "hello");
	assert_int_equal(do_close(100, 3, path, &ev), 0);
	assert_string_equal(ev.type, "file_write");
	assert_string_equal(ev.file_write->path, path);
	/* sha256("hello") */
	assert_string_equal(ev.file_write->sha256,
			    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	assert_true(ev.file_write->created);
	assert_true(ev.file_write->truncated_on_open);
	assert_int_equal(ev.file_write->size, 5);
	/* a close without a seen open is ignored, not an error */
	assert_int_equal(do_close(100, 3, path, &ev), 1);
	arena_reset(&ar);
}

static void test_too_large(void **state)
{
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct at_fio_open *r;
	char path[128];

	cfg.hash_max_bytes = 4;
	snprintf(path, sizeof(path), "%s/big.bin", dir);
	r = wopen(101, 4, path, 0);
	fileio_decode_wopen(&ag, &r->hdr, r, sizeof(*r), &ev, &ar);
	put_file(path, "hello");
	assert_int_equal(do_close(101, 4, path, &ev), 0);
	assert_null(ev.file_write->sha256[0] ? ev.file_write->sha256 : NULL);
	assert_string_equal(ev.file_write->not_hashed, "too_large");
	cfg.hash_max_bytes = 64 << 20;
	arena_reset(&ar);
}

static void test_atomic_save(void **state)
{
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct at_fio_rename *rn = calloc(1, sizeof(*rn));
	struct at_fio_open *r;
	char tmp[128], final[128];

	snprintf(tmp, sizeof(tmp), "%s/app.py.tmp.1", dir);
	snprintf(final, sizeof(final), "%s/app.py", dir);
	r = wopen(102, 5, tmp, AT_FIO_O_CREATED);
	fileio_decode_wopen(&ag, &r->hdr, r, sizeof(*r), &ev, &ar);
	put_file(final, "hello"); /* already renamed when the close is decoded */
	assert_int_equal(do_close(102, 5, tmp, &ev), 1); /* waits for the rename */

	rn->hdr.type = AT_REC_FIO_RENAME;
	rn->hdr.pid = 102;
	rn->hdr.root_pid = 102;
	rn->hdr.root_start = 7;
	snprintf(rn->base1, sizeof(rn->base1), "%s", dir);
	snprintf(rn->rel1, sizeof(rn->rel1), "app.py.tmp.1");
	snprintf(rn->base2, sizeof(rn->base2), "%s", dir);
	snprintf(rn->rel2, sizeof(rn->rel2), "./app.py");
	rn->base1_len = strlen(rn->base1) + 1;
	rn->rel1_len = strlen(rn->rel1) + 1;
	rn->base2_len = strlen(rn->base2) + 1;
	rn->rel2_len = strlen(rn->rel2) + 1;
	assert_int_equal(fileio_decode_rename(&ag, &rn->hdr, rn, sizeof(*rn), &ev, &ar), 0);
	assert_string_equal(ev.file_write->path, final);
	assert_string_equal(ev.file_write->renamed_from, tmp);
	assert_string_equal(ev.file_write->sha256,
			    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	/* the same rename again carries nothing: the write was reported once */
	assert_int_equal(fileio_decode_rename(&ag, &rn->hdr, rn, sizeof(*rn), &ev, &ar), 1);
	free(rn);
	arena_reset(&ar);
}

static void test_read(void **state)
{
	at_event ev = AITRAIL__V1__EVENT__INIT;
	struct at_fio_open *r;

	r = wopen(103, 6, "/home/u/.aws/credentials", 0);
	r->hdr.type = AT_REC_FIO_READ;
	assert_int_equal(fileio_decode_read(&ag, &r->hdr, r, sizeof(*r), &ev, &ar), 0);
	assert_string_equal(ev.type, "file_read");
	assert_string_equal(ev.file_read->pattern, "~/.aws/**");
	assert_string_equal(ev.file_read->flags[0], "O_RDONLY");
	/* a kernel candidate ("config" is not a key, but say a custom one) that matches nothing */
	r = wopen(103, 6, "/home/u/project/config.json", 0);
	assert_int_equal(fileio_decode_read(&ag, &r->hdr, r, sizeof(*r), &ev, &ar), 1);
	/* configured patterns extend the defaults; with defaults off only they count */
	cfg.sensitive_defaults = 0;
	snprintf(cfg.sensitive[0], CFG_SENSITIVE_LEN, "/home/u/project/*.json");
	cfg.n_sensitive = 1;
	assert_int_equal(fileio_decode_read(&ag, &r->hdr, r, sizeof(*r), &ev, &ar), 0);
	r = wopen(103, 6, "/home/u/.aws/credentials", 0);
	assert_int_equal(fileio_decode_read(&ag, &r->hdr, r, sizeof(*r), &ev, &ar), 1);
	/* a path without its NUL is malformed */
	r->path_len = 3;
	cfg.sensitive_defaults = 1;
	assert_int_equal(fileio_decode_read(&ag, &r->hdr, r, sizeof(*r), &ev, &ar), -EINVAL);
	cfg.n_sensitive = 0;
	arena_reset(&ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_kernel_keys),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_write_inplace),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_atomic_save),
		cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
