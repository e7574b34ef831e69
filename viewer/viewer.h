/* pinshim-view's pieces:
 *   main.c      the command line: global options, then a subcommand
 *   options.c   the options the commands share, opening the database
 *   failures.c  `failures`: every stored failure, a line or a JSON object
 *   summary.c, diagnose.c, rollout.c, chain.c
 *               the reports as text, or --json (report_*_json)
 *   report.h    the reports themselves (report_*.c), shared with the web
 *               page (serve.c and web.h)
 *   timefmt.c   RFC 3339 out, RFC 3339 or "15m" / "2h" / "7d" in
 *   text.c      making stored strings (hostile: any bytes a sender chose)
 *               safe for a terminal and valid UTF-8 for JSON
 */
#ifndef PINSHIM_VIEWER_H
#define PINSHIM_VIEWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

#define VIEW_DEFAULT_DB "pinshim.db"

/* Subcommands: argv[0] is the subcommand's name; exit status (0, 1 for a
 * database or query error, 2 for a usage error). */
int cmd_failures(const char *db, int argc, char **argv);
int cmd_summary(const char *db, int argc, char **argv);
int cmd_diagnose(const char *db, int argc, char **argv);
int cmd_rollout(const char *db, int argc, char **argv);
int cmd_chain(const char *db, int argc, char **argv);
int cmd_serve(const char *db, int argc, char **argv);

/* ---- options.c --------------------------------------------------------- */

/* Which filter options a command takes. */
enum {
	OPT_HOST = 1, OPT_SINCE = 2, OPT_UNTIL = 4, OPT_NETWORK = 8,
	OPT_VERSION = 16, OPT_KIND = 32,
	OPT_RANGE = OPT_SINCE | OPT_UNTIL,
	OPT_ALL = 63,
	OPT_ARG = 64,       /* one positional argument (chain HOST) */
};

#define VIEW_MAX_ARGS 1

struct view_opts {
	struct report_filter f;
	const char *db;
	bool json;
	const char *args[VIEW_MAX_ARGS];   /* positional arguments */
	int nargs;
};

/* Parses a command's options (argv[0] is the command): -1 to go on, else
 * the exit status (0 after --help, 2 for a usage error, printed). */
int view_parse(const char *cmd, const char *usage, unsigned allowed,
	       int argc, char **argv, struct view_opts *o);
/* Opens o->db read-only and checks the filter against it (the host is
 * known, the database has data); NULL after printing why. */
struct store *view_open(const char *cmd, struct view_opts *o);
/* "pinshim-view: CMD: MSG" on stderr, MSG made safe for a terminal. */
void view_error(const char *cmd, const char *msg);
int64_t view_now_us(void);
/* A chain and its certificates as diagnose and chain print them. */
void view_print_chain(const struct report_chain *c);

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
/* The length of the character at p (valid UTF-8) that must not reach a
 * terminal or a page as it is: C0 controls (but tab and newline when
 * keep_space), DEL, C1 controls, and the bidirectional controls (U+061C,
 * U+200E/F, U+202A..E, U+2066..9), which reorder what follows them; 0 for
 * any other character. */
size_t text_control_len(const unsigned char *p, bool keep_space);
/* Writes s for a terminal: control characters and invalid UTF-8 as "?",
 * "-" when empty. */
void text_print(const char *s);
/* The same on f, and "" stays empty. */
void text_fputs(const char *s, FILE *f);
/* Columns s takes on a terminal (its UTF-8 characters). */
size_t text_width(const char *s);
/* "9,870" (buf of 32 bytes). */
const char *fmt_count_text(uint64_t n, char *buf);

#endif
