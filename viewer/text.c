/* Stored strings came from senders: any bytes.  JSON output needs valid
 * UTF-8; a terminal must not receive escape sequences. */
#include "viewer.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (NUL-terminated), or 0 when
 * invalid. */
static size_t utf8_len(const unsigned char *p)
{
	return wire_utf8_char(p, 4);
}

size_t text_control_len(const unsigned char *p, bool keep_space)
{
	if (*p == 0x7f || (*p < 0x20 && !(keep_space && (*p == '\t' ||
							 *p == '\n'))))
		return 1;
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)
		return 2;                       /* C1 */
	if ((p[0] == 0xd8 && p[1] == 0x9c) ||   /* U+061C */
	    (p[0] == 0xe2 && p[1] == 0x80 &&
	     (p[2] == 0x8e || p[2] == 0x8f ||   /* U+200E, U+200F */
	      (p[2] >= 0xaa && p[2] <= 0xae))) ||       /* U+202A..E */
	    (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))
		return p[0] == 0xd8 ? 2 : 3;    /* bidirectional controls */
	return 0;
}

char *text_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	char *out = malloc(len * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
			continue;
		}
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	return out;
}

void text_fputs(const char *s, FILE *f)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p), ctl = n ? text_control_len(p, false) : 0;

		if (n == 0 || ctl > 0) {
			/* escapes, C1, reordering: a terminal takes them all */
			fputc('?', f);
			p += n ? n : 1;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
}

void text_print(const char *s)
{
	if (*s == '\0') {
		putchar('-');
		return;
	}
	text_fputs(s, stdout);
}

size_t text_width(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

const char *fmt_count_text(uint64_t n, char *buf)
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%llu",
			   (unsigned long long)n);
	char *o = buf;

	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			*o++ = ',';
		*o++ = digits[i];
	}
	*o = '\0';
	return buf;
}
