/* PINSHIM_LOG: off | error (default) | info | debug, else the policy's
 * "log" (log_set_default); a privileged process reads no PINSHIM_LOG.  The
 * shim lives inside other people's programs, so it says nothing unless
 * asked, and what it says is one line, written with one write(2) so lines
 * from threads never mix. */
#include "shim.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int level = LOG_ERROR;
static bool level_from_env;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

static void emit(const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	memcpy(line, "pinshim: ", 9);
	n = vsnprintf(line + 9, sizeof(line) - 10, fmt, ap);
	if (n < 0)
		return;
	n += 9;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Nothing to do about a failed write to stderr; never retry-loop. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

static void emit_direct(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

static void level_read(void)
{
	static const char *const names[] = { "off", "error", "info", "debug" };
	const char *v = secure_getenv("PINSHIM_LOG");

	if (v == NULL || *v == '\0')
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0) {
			level = (int)i;
			level_from_env = true;
			return;
		}
	}
	/* An unknown level is itself worth one line; keep the default. */
	emit_direct("PINSHIM_LOG=%.32s is not off|error|info|debug, using error",
		    v);
}

bool log_enabled(enum log_level l)
{
	pthread_once(&level_once, level_read);
	return l != LOG_OFF && (int)l <= level;
}

void log_set_default(enum log_level l)
{
	pthread_once(&level_once, level_read);
	if (!level_from_env)
		level = (int)l;
}

void shim_log(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(l))
		return;
	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}
