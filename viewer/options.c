/* The options the report commands share (--db, --json, the filters), the
 * database opened with the filter checked, and error lines made safe for a
 * terminal. */
#include "viewer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

void view_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "pinshim-view: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	text_fputs(msg, stderr);
	fputc('\n', stderr);
}

int view_parse(const char *cmd, const char *usage, unsigned allowed,
	       int argc, char **argv, struct view_opts *o)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "network", required_argument, NULL, 'n' },
		{ "version", required_argument, NULL, 'v' },
		{ "kind", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *since = NULL, *until = NULL;
	char err[512];
	int opt, idx = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		unsigned bit = opt == 'H' ? OPT_HOST : opt == 's' ? OPT_SINCE :
			opt == 'u' ? OPT_UNTIL : opt == 'n' ? OPT_NETWORK :
			opt == 'v' ? OPT_VERSION : opt == 'k' ? OPT_KIND : 0;

		if (bit != 0 && !(allowed & bit)) {
			fprintf(stderr, "pinshim-view: %s does not take --%s\n%s",
				cmd, opts[idx].name, usage);
			return 2;
		}
		switch (opt) {
		case 'H': o->f.host = optarg; break;
		case 's': since = optarg; break;
		case 'u': until = optarg; break;
		case 'n': o->f.network = optarg; break;
		case 'v': o->f.version = optarg; break;
		case 'k': o->f.kind = optarg; break;
		case 'j': o->json = true; break;
		case 'd': o->db = optarg; break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "pinshim-view: %s: unknown option '%s'\n%s",
				cmd, argv[optind - 1], usage);
			return 2;
		}
	}
	for (; optind < argc && o->nargs < (allowed & OPT_ARG ? 1 : 0);
	     optind++)
		o->args[o->nargs++] = argv[optind];
	if (optind < argc) {
		fprintf(stderr, "pinshim-view: %s: unexpected argument '%s'\n%s",
			cmd, argv[optind], usage);
		return 2;
	}
	if (report_filter_parse(&o->f, since, until, view_now_us(), err,
				sizeof(err)) < 0) {
		view_error(NULL, err);
		return 2;
	}
	return -1;
}

int64_t view_now_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

struct store *view_open(const char *cmd, struct view_opts *o)
{
	char err[512];
	struct store *s = store_open(o->db, STORE_READ, STORE_SYNC_NORMAL, err,
				     sizeof(err));

	if (s == NULL) {
		view_error(NULL, err);
		return NULL;
	}
	if (report_check(s, &o->f, err, sizeof(err)) < 0) {
		view_error(cmd, err);
		store_close(s);
		return NULL;
	}
	return s;
}
