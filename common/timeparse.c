// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timeparse.h"

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *set)
{
	if (!**p || !strchr(set, **p))
		return -EINVAL;
	(*p)++;
	return 0;
}

/*
 * Date and time, then optional seconds, fraction and zone. strict demands the full RFC 3339
 * form; otherwise "2026-11-28", "2026-11-28 14:03" and a missing zone (UTC) are accepted too.
 */
static int parse_datetime(const char *s, bool strict, uint64_t *out)
{
	int Y, M, D, h = 0, m = 0, sec = 0, oh = 0, om = 0, sign = 0;
	uint64_t frac = 0, scale = 1000000000ULL;
	const char *p = s;
	struct tm tm = { 0 };
	time_t t;

	if (digits(&p, 4, &Y) || expect(&p, "-") || digits(&p, 2, &M) || expect(&p, "-") ||
	    digits(&p, 2, &D))
		return -EINVAL;
	if (*p || strict) {
		if (expect(&p, "Tt ") || digits(&p, 2, &h) || expect(&p, ":") || digits(&p, 2, &m))
			return -EINVAL;
		if (*p == ':' || strict) {
			if (expect(&p, ":") || digits(&p, 2, &sec))
				return -EINVAL;
		}
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		/* keep nanoseconds; digits past the ninth are ignored */
		for (; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (digits(&p, 2, &oh) || expect(&p, ":") || digits(&p, 2, &om))
			return -EINVAL;
	} else if (strict || *p) {
		return -EINVAL;
	}
	if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || oh > 23 ||
	    om > 59 || Y < 1970)
		return -EINVAL;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	t -= sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -EINVAL;
	*out = (uint64_t)t * 1000000000ULL + frac;
	return 0;
}

int parse_rfc3339(const char *s, uint64_t *out)
{
	return parse_datetime(s, true, out);
}

/* "14:03" or "14:03:07": that time today (UTC); yesterday's if it is still ahead of now. */
static int parse_clock(const char *s, uint64_t now_ns, uint64_t *out)
{
	const char *p = s;
	int h, m, sec = 0;
	uint64_t day, t;

	if (digits(&p, 2, &h) || expect(&p, ":") || digits(&p, 2, &m))
		return -EINVAL;
	if (*p == ':' && (expect(&p, ":") || digits(&p, 2, &sec)))
		return -EINVAL;
	if (*p || h > 23 || m > 59 || sec > 59)
		return -EINVAL;
	day = now_ns / 1000000000ULL / 86400 * 86400;
	t = (day + h * 3600 + m * 60 + sec) * 1000000000ULL;
	if (t > now_ns)
		t -= 86400 * 1000000000ULL;
	*out = t;
	return 0;
}

int parse_time_arg(const char *s, uint64_t now_ns, uint64_t *out)
{
	unsigned long long n;
	uint64_t unit;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	if (strlen(s) >= 10 && s[4] == '-')
		return parse_datetime(s, false, out);
	if (strlen(s) >= 5 && s[2] == ':')
		return parse_clock(s, now_ns, out);
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (!*end) {
		/* a bare number is Unix nanoseconds, as the API returns them */
		*out = n;
		return 0;
	}
	if (end[1])
		return -EINVAL;
	switch (*end) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return -EINVAL;
	}
	if (n > now_ns / 1000000000ULL / unit)
		return -EINVAL;
	*out = now_ns - n * unit * 1000000000ULL;
	return 0;
}
