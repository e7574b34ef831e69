/* One line per problem on stderr, prefixed "pinshim-collector:", written
 * with one write(2) so lines of different threads never mix.  What senders
 * can cause goes through log_limited: a token bucket (LOG_BURST lines, then
 * LOG_RATE a second), so a flood of bad connections cannot flood the log;
 * what it holds back is counted and said once lines are allowed again. */
#include "collector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "pinshim-collector: "

static void vlog_line(const char *fmt, va_list ap)
{
	char line[1024];
	size_t p = sizeof(PREFIX) - 1;
	int n;

	memcpy(line, PREFIX, p);
	n = vsnprintf(line + p, sizeof(line) - p - 1, fmt, ap);
	if (n < 0)
		return;
	p += (size_t)n < sizeof(line) - p - 1 ? (size_t)n : sizeof(line) - p - 2;
	line[p++] = '\n';
	if (write(STDERR_FILENO, line, p) < 0)
		return;
}

void log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_line(fmt, ap);
	va_end(ap);
}

static struct {
	pthread_mutex_t lock;
	double tokens;
	long long last_ms;
	unsigned long held_back;
} bucket = { PTHREAD_MUTEX_INITIALIZER, LOG_BURST, 0, 0 };

/* Whether a line may go out now; *held the lines held back before it
 * (to be said first). */
static bool take_token(unsigned long *held)
{
	long long now = wire_now_ms();
	bool ok;

	pthread_mutex_lock(&bucket.lock);
	if (bucket.last_ms != 0)
		bucket.tokens += (double)(now - bucket.last_ms) * LOG_RATE / 1000;
	if (bucket.tokens > LOG_BURST)
		bucket.tokens = LOG_BURST;
	bucket.last_ms = now;
	ok = bucket.tokens >= 1;
	*held = 0;
	if (ok) {
		bucket.tokens -= 1;
		*held = bucket.held_back;
		bucket.held_back = 0;
	} else {
		bucket.held_back++;
	}
	pthread_mutex_unlock(&bucket.lock);
	return ok;
}

void log_limited(const char *fmt, ...)
{
	unsigned long held;
	va_list ap;

	if (!take_token(&held))
		return;
	if (held > 0)
		log_line("(%lu lines about senders held back: more than %d a "
			 "second)", held, LOG_RATE);
	va_start(ap, fmt);
	vlog_line(fmt, ap);
	va_end(ap);
}

void log_printable(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}
