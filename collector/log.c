/* One line per problem on stderr, prefixed "pinshim-collector:", written
 * with one write(2) so lines from connection threads never mix. */
#include "collector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "pinshim-collector: "

void log_line(const char *fmt, ...)
{
	char line[1024];
	size_t p = sizeof(PREFIX) - 1;
	va_list ap;
	int n;

	memcpy(line, PREFIX, p);
	va_start(ap, fmt);
	n = vsnprintf(line + p, sizeof(line) - p - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	p += (size_t)n < sizeof(line) - p - 1 ? (size_t)n : sizeof(line) - p - 2;
	line[p++] = '\n';
	if (write(STDERR_FILENO, line, p) < 0)
		return;
}
