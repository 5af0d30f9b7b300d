/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One logging module for every aitrail binary. The level is checked before anything is
 * formatted, so debug calls on hot paths cost one comparison when debug is off.
 */
#ifndef AITRAIL_LOG_H
#define AITRAIL_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO = 1,
	LOG_LVL_WARN = 2,
	LOG_LVL_ERROR = 3,
};

extern int log_min_level;

/* prog is the name printed before each line; level is the lowest level that is printed. */
void log_init(const char *prog, enum log_level level);
void log_msg(enum log_level level, const char *func, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vmsg(enum log_level level, const char *func, int line, const char *fmt, va_list ap);

#define log_at(lvl, ...)                                                                           \
	do {                                                                                       \
		if ((lvl) >= log_min_level)                                                        \
			log_msg((lvl), __func__, __LINE__, __VA_ARGS__);                           \
	} while (0)

#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)

#endif
