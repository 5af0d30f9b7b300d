// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

int log_min_level = LOG_LVL_INFO;
static const char *log_prog = "aitrail";

static const char *const level_names[] = {
	[LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_WARN] = "warning",
	[LOG_LVL_ERROR] = "error",
};

void log_init(const char *prog, enum log_level level)
{
	if (prog)
		log_prog = prog;
	log_min_level = level;
}

void log_vmsg(enum log_level level, const char *func, int line, const char *fmt, va_list ap)
{
	char buf[2048];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, log_prog, level_names[level]);
	/* Debug lines say where they come from; users read the others, so keep them clean. */
	if (level == LOG_LVL_DEBUG && n < (int)sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, "%s:%d: ", func, line);
	if (n < (int)sizeof(buf))
		n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	/* libbpf hands us lines that already end in a newline */
	if (n > 0 && buf[n - 1] != '\n')
		buf[n++] = '\n';
	buf[n] = '\0';
	/* one write(2) per line so lines from several threads never interleave */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}

void log_msg(enum log_level level, const char *func, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, func, line, fmt, ap);
	va_end(ap);
}
