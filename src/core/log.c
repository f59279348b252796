/*
 * log.c -- levelled logging to stderr in CoreDNS's "[LEVEL] text" format.
 */
#include "globaldns/log.h"

#include <stdio.h>
#include <string.h>

static enum log_level min_level = LOGL_INFO;

static const char *const level_names[] = {
	"[FATAL]", "[ERROR]", "[WARNING]", "[INFO]", "[DEBUG]"
};

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if (level > min_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* One write per line, so that lines from a reload never interleave. */
	fprintf(stderr, "%s %s\n", level_names[level], line);
	fflush(stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
