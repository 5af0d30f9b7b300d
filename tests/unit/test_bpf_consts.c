// SPDX-License-Identifier: Apache-2.0
/*
 * bpf/consts.bpf.h, the kernel constants the BPF programs write by hand: every UAPI value must
 * equal the one in this system's kernel headers, and every name must be listed here, so a new
 * constant is either checked or marked kernel-internal on purpose. The header is read as text:
 * it cannot be compiled next to the headers it is checked against.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/fcntl.h>
#include <linux/if_ether.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define CONSTS_PATH "bpf/consts.bpf.h"

struct known {
	const char *name;
	long value;
	bool internal; /* not in a UAPI header: only its presence in this list is checked */
};

#define UAPI(n) { #n, (long)(n), false }
#define INTERNAL(n) { #n, 0, true }

static const struct known known[] = {
	UAPI(AF_UNIX),
	UAPI(AF_INET),
	UAPI(AF_INET6),
	UAPI(ETH_P_IP),
	UAPI(ETH_P_IPV6),
	UAPI(O_WRONLY),
	UAPI(O_RDWR),
	UAPI(O_CREAT),
	UAPI(O_TRUNC),
	UAPI(O_APPEND),
	UAPI(__O_TMPFILE),
	UAPI(F_DUPFD),
	UAPI(F_DUPFD_CLOEXEC),
	UAPI(AT_FDCWD),
	UAPI(AT_REMOVEDIR),
	UAPI(S_IFMT),
	UAPI(S_IFREG),
	UAPI(EINTR),
	UAPI(EALREADY),
	UAPI(EINPROGRESS),
	UAPI(SIGKILL),
	INTERNAL(ERESTARTSYS),
	INTERNAL(ERESTART_RESTARTBLOCK),
	INTERNAL(FMODE_READ),
	INTERNAL(FMODE_WRITE),
	INTERNAL(FMODE_CREATED),
	INTERNAL(SIGNAL_GROUP_EXIT),
};

static const struct known *find_known(const char *name)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(known[i].name, name))
			return &known[i];
	return NULL;
}

/* "#define NAME VALUE [comment]" with an integer VALUE; false for anything else. */
static bool parse_define(const char *line, char *name, size_t name_size, long *value)
{
	char n[64], v[64], *end;

	if (sscanf(line, "#define %63s %63s", n, v) != 2 || strlen(n) >= name_size)
		return false;
	*value = strtol(v, &end, 0);
	if (end == v || *end != '\0')
		return false;
	strcpy(name, n);
	return true;
}

static void test_values_match_uapi(void **state)
{
	FILE *f = fopen(CONSTS_PATH, "r");
	char line[512], name[64];
	int n_defines = 0, n_checked = 0, lineno = 0, bad = 0;
	long value;

	if (!f)
		fail_msg("failed to open %s (run from the repository root): %s", CONSTS_PATH,
			 strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		const struct known *k;

		lineno++;
		if (strncmp(line, "#define ", 8))
			continue;
		if (!parse_define(line, name, sizeof(name), &value)) {
			/* the include guard is the one define without a value */
			if (strstr(line, "AITRAIL_CONSTS_BPF_H"))
				continue;
			print_error("%s:%d: not \"#define NAME INTEGER\": %s", CONSTS_PATH, lineno,
				    line);
			bad++;
			continue;
		}
		n_defines++;
		k = find_known(name);
		if (!k) {
			print_error("%s:%d: %s is not listed in %s\n", CONSTS_PATH, lineno, name,
				    __FILE__);
			bad++;
		} else if (!k->internal) {
			n_checked++;
			if (k->value != value) {
				print_error("%s:%d: %s is %ld here, %ld in the kernel's headers\n",
					    CONSTS_PATH, lineno, name, value, k->value);
				bad++;
			}
		}
	}
	fclose(f);
	assert_int_equal(bad, 0);
	/* every listed name was found: none was dropped from the header unnoticed */
	assert_int_equal(n_defines, (int)(sizeof(known) / sizeof(known[0])));
	assert_true(n_checked > 0);
}

static void test_parse_define(void **state)
{
	char name[64];
	long v;

	assert_true(parse_define("#define O_CREAT 0100\n", name, sizeof(name), &v));
	assert_string_equal(name, "O_CREAT");
	assert_int_equal(v, 64);
	assert_true(parse_define("#define AT_FDCWD -100\n", name, sizeof(name), &v));
	assert_int_equal(v, -100);
	assert_true(parse_define("#define ETH_P_IPV6 0x86DD /* x */\n", name, sizeof(name), &v));
	assert_int_equal(v, 0x86dd);
	assert_false(parse_define("#define X (1u << 2)\n", name, sizeof(name), &v));
	assert_false(parse_define("#define AITRAIL_CONSTS_BPF_H\n", name, sizeof(name), &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_define),
		cmocka_unit_test(test_values_match_uapi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
