/* pinshim-view's pieces:
 *   main.c      the command line: global options, then a subcommand
 *   failures.c  `failures`: every stored failure, a line or a JSON object
 *   timefmt.c   RFC 3339 out, RFC 3339 or "15m" / "2h" / "7d" in
 *   text.c      making stored strings (hostile: any bytes a sender chose)
 *               safe for a terminal and valid UTF-8 for JSON
 */
#ifndef PINSHIM_VIEWER_H
#define PINSHIM_VIEWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIEW_DEFAULT_DB "pinshim.db"

/* Subcommands: argv[0] is the subcommand's name; exit status. */
int cmd_failures(const char *db, int argc, char **argv);

/* "2026-11-23T10:00:00.123Z" (buf of at least 32 bytes). */
void time_rfc3339_ms(int64_t us, char *buf, size_t len);
/* "2026-11-23T10:00:00Z", for certificate validity. */
void time_rfc3339_s(int64_t s, char *buf, size_t len);
/* --since: RFC 3339 ("2026-11-23T10:00:00Z", fractions and offsets
 * allowed) or a span back from now_us ("90s", "15m", "2h", "7d").
 * 0, or -1 when malformed. */
int time_parse_since(const char *s, int64_t now_us, int64_t *out_us);

/* A copy of s with every invalid UTF-8 sequence replaced by U+FFFD;
 * NULL when out of memory. */
char *text_utf8(const char *s);
/* Writes s for a terminal: control characters and invalid UTF-8 as "?",
 * "-" when empty. */
void text_print(const char *s);

#endif
