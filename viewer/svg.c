/* The timeline chart, drawn on the server as inline SVG (the page runs no
 * script): one column per time bucket, successes as bars up from the
 * middle line, failures as bars down from it stacked by cause, each half
 * on its own scale (failures are usually a sliver of the handshakes and
 * would vanish on a shared one).  Every bar has a <title>, the browser's
 * tooltip.  Colours are attributes, so the chart reads without the style
 * sheet. */
#include "web.h"

#include <stdio.h>
#include <string.h>

#define W 960           /* viewBox */
#define H 280
#define LEFT 64         /* room for the scale labels */
#define RIGHT 8
#define MID 120         /* the zero line */
#define HALF 96         /* bar height at the scale's maximum */

static uint64_t max_of(const struct svg_series *s, size_t n, size_t i,
		       bool up)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < n; k++)
		if ((k == 0) == up)
			sum += s[k].values[i];
	return sum;
}

static void axis(struct web_buf *b, uint64_t up_max, uint64_t down_max)
{
	buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		   "stroke=\"#5f6b76\" stroke-width=\"1\"/>\n", LEFT, MID,
		   W - RIGHT, MID);
	buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
		   "font-size=\"11\" fill=\"#5f6b76\">", LEFT - 6,
		   MID - HALF + 4);
	html_count(b, up_max);
	buf_printf(b, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
		   "font-size=\"11\" fill=\"#5f6b76\">", LEFT - 6,
		   MID + HALF + 4);
	html_count(b, down_max);
	buf_printf(b, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
		   "font-size=\"11\" fill=\"#5f6b76\">0</text>\n", LEFT - 6,
		   MID + 4);
}

/* The tooltip of one bar: "2026-11-23T10:00:00Z: 412 rollover". */
static void bar(struct web_buf *b, double x, double w, double y, double h,
		const struct svg_series *s, int64_t t, uint64_t v)
{
	buf_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
		   "width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, y,
		   w, h < 0.8 ? 0.8 : h, s->color);
	html_time_s(b, t);
	buf_puts(b, ": ");
	html_count(b, v);
	buf_puts(b, " ");
	html_text(b, s->name);
	buf_puts(b, "</title></rect>\n");
}

static void column(struct web_buf *b, const struct svg_series *s, size_t n,
		   size_t i, double x, double w, int64_t t, uint64_t up_max,
		   uint64_t down_max)
{
	double y = MID;

	if (s[0].values[i] > 0) {
		double h = HALF * (double)s[0].values[i] / (double)up_max;

		bar(b, x, w, MID - h, h, &s[0], t, s[0].values[i]);
	}
	for (size_t k = 1; k < n; k++) {
		double h;

		if (s[k].values[i] == 0)
			continue;
		h = HALF * (double)s[k].values[i] / (double)down_max;
		bar(b, x, w, y, h, &s[k], t, s[k].values[i]);
		y += h;
	}
}

/* Swatches and names under the chart, in rows of what fits. */
static void legend(struct web_buf *b, const struct svg_series *s, size_t n)
{
	int x = LEFT, y = MID + HALF + 32;

	for (size_t k = 0; k < n; k++) {
		int width = 24 + 7 * (int)strlen(s[k].name);

		if (x > LEFT && x + width > W - RIGHT) {
			x = LEFT;
			y += 16;
		}
		buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" "
			   "height=\"10\" fill=\"%s\"/>\n", x, y - 9,
			   s[k].color);
		buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" "
			   "fill=\"#1d2329\">", x + 14, y);
		html_text(b, s[k].name);
		buf_puts(b, "</text>\n");
		x += width;
	}
}

/* Series 0 is the successes (up), the others failures (down, stacked in
 * order).  bucket: seconds per column. */
void svg_timeline(struct web_buf *b, int64_t first, int64_t bucket,
		  size_t n, const struct svg_series *s, size_t nseries,
		  const char *title)
{
	uint64_t up_max = 1, down_max = 1;
	double w = n > 0 ? (double)(W - LEFT - RIGHT) / (double)n : 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t up = max_of(s, nseries, i, true);
		uint64_t down = max_of(s, nseries, i, false);

		up_max = up > up_max ? up : up_max;
		down_max = down > down_max ? down : down_max;
	}
	buf_printf(b, "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/"
		   "svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
		   "role=\"img\"><title>", W, H, W, H);
	html_text(b, title);
	buf_puts(b, "</title>\n");
	buf_printf(b, "<text x=\"%d\" y=\"14\" font-size=\"12\" "
		   "fill=\"#5f6b76\">successes \xe2\x86\x91  failures "
		   "\xe2\x86\x93 (each on its own scale)</text>\n", LEFT);
	axis(b, up_max, down_max);
	for (size_t i = 0; i < n; i++)
		column(b, s, nseries, i, LEFT + w * (double)i + w * 0.1,
		       w * 0.8 > 0.5 ? w * 0.8 : 0.5,
		       first + (int64_t)i * bucket, up_max, down_max);
	legend(b, s, nseries);
	buf_puts(b, "<text x=\"");
	buf_printf(b, "%d\" y=\"%d\" font-size=\"11\" fill=\"#5f6b76\">",
		   LEFT, MID + HALF + 18);
	html_time_s(b, first);
	buf_printf(b, "</text>\n<text x=\"%d\" y=\"%d\" font-size=\"11\" "
		   "text-anchor=\"end\" fill=\"#5f6b76\">", W - RIGHT,
		   MID + HALF + 18);
	html_time_s(b, first + (int64_t)n * bucket);
	buf_puts(b, "</text>\n</svg>\n");
}
