// SPDX-License-Identifier: Apache-2.0
/*
 * The parts of the agent this kernel can't run, each with its reason, collected while the
 * programs are chosen and loaded (agent/partsoff.h).
 */
#include <stdio.h>
#include <string.h>

#include "agent/partsoff.h"

#define MAX_PARTS 32

static char parts[MAX_PARTS][200];
static int n_parts;

void part_off(const char *part, const char *why)
{
	size_t n = strlen(part);
	int i;

	for (i = 0; i < n_parts; i++)
		if (!strncmp(parts[i], part, n) && parts[i][n] == ' ')
			return;
	if (n_parts < MAX_PARTS)
		snprintf(parts[n_parts++], sizeof(parts[0]), "%s (%s)", part, why);
}

void parts_off_format(char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n_parts && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%s", i ? "; " : "; off: ", parts[i]);
}
