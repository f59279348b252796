/*
 * log.h -- levelled logging to stderr in CoreDNS's format.
 *
 * Lines look like "[INFO] plugin/serviceentries: loaded 3 entries", so that
 * operators grepping `kubectl logs` for CoreDNS lines find ours too.
 * Logging is for state changes; the query path logs only when the `log`
 * directive asks for it.
 */
#ifndef GLOBALDNS_LOG_H
#define GLOBALDNS_LOG_H

#include <stdarg.h>

enum log_level {
	LOGL_FATAL = 0,                 /* always printed ("[FATAL]", as CoreDNS's log.Fatal) */
	LOGL_ERROR = 1,
	LOGL_WARNING = 2,
	LOGL_INFO = 3,
	LOGL_DEBUG = 4
};

/* Lowest level that is printed (default LOGL_INFO). */
void log_set_level(enum log_level level);

/* Print one line "[LEVEL] message\n" to stderr. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_fatal(...) log_msg(LOGL_FATAL, __VA_ARGS__)
#define log_error(...) log_msg(LOGL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOGL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
