/* Times in and out: the viewer prints UTC RFC 3339 with milliseconds and
 * reads --since as RFC 3339 or a span back from now. */
#include "viewer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fmt(int64_t secs, char *buf, size_t len, const char *suffix)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "invalid");
		return;
	}
	strncat(buf, suffix, len - strlen(buf) - 1);
}

void time_rfc3339_ms(int64_t us, char *buf, size_t len)
{
	int64_t secs = us / 1000000, ms = (us % 1000000) / 1000;
	char frac[8];

	if (ms < 0) {            /* before 1970: floor, not truncate */
		secs--;
		ms += 1000;
	}
	snprintf(frac, sizeof(frac), ".%03dZ", (int)ms);
	fmt(secs, buf, len, frac);
}

void time_rfc3339_s(int64_t s, char *buf, size_t len)
{
	fmt(s, buf, len, "Z");
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*out = *out * 10 + (**p - '0');
	}
	return 0;
}

static int relative(const char *s, int64_t now_us, int64_t *out)
{
	static const struct { char unit; int64_t us; } units[] = {
		{ 's', 1000000LL }, { 'm', 60000000LL }, { 'h', 3600000000LL },
		{ 'd', 86400000000LL },
	};
	char *end;
	long long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	n = strtoll(s, &end, 10);
	if (end[0] == '\0' || end[1] != '\0' || n > 36500LL * 86400)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (*end == units[i].unit) {
			*out = now_us - n * units[i].us;
			return 0;
		}
	return -1;
}

/* "Z" or "+HH:MM" / "-HH:MM" as seconds east of UTC. */
static int offset(const char *p, long *secs)
{
	int h, m, sign;

	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*secs = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &m) < 0 ||
	    *p != '\0' || h > 23 || m > 59)
		return -1;
	*secs = sign * (h * 3600L + m * 60L);
	return 0;
}

static int rfc3339(const char *p, int64_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, s;
	long frac_us = 0, off;

	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || digits(&p, 2, &d) < 0 ||
	    (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
	    digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 ||
	    *p++ != ':' || digits(&p, 2, &s) < 0)
		return -1;
	if (*p == '.') {
		long scale = 100000;

		if (!isdigit((unsigned char)*++p))
			return -1;
		for (; isdigit((unsigned char)*p); p++, scale /= 10)
			frac_us += (*p - '0') * scale;
	}
	if (offset(p, &off) < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || s > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*out = ((int64_t)timegm(&tm) - off) * 1000000 + frac_us;
	return 0;
}

int time_parse_since(const char *s, int64_t now_us, int64_t *out_us)
{
	if (relative(s, now_us, out_us) == 0)
		return 0;
	return rfc3339(s, out_us);
}
