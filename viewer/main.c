/* pinshim-view: reads the collector's database (read-only, also while the
 * collector writes) and reports.  main parses the global options and hands
 * the rest to the subcommand. */
#include "viewer.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: pinshim-view [--db FILE] COMMAND [OPTIONS]\n"
	"\n"
	"  --db FILE   the collector's database (default ./" VIEW_DEFAULT_DB ")\n"
	"\n"
	"commands (each takes --json; see COMMAND --help):\n"
	"  summary     hosts, handshakes, failure rate, failures by kind and"
	" decision\n"
	"  failures    every stored failure, one line each\n"
	"  diagnose    the likely cause of each host's failures, evidence and"
	" fix\n"
	"  rollout     for hosts in observe mode: what enforcing would block\n"
	"  chain HOST  the chains HOST served over time, against the pins\n"
	"  serve       the web page (--listen ADDR)\n"
	"\n"
	"filters: --host HOST --since TIME --until TIME --network LABEL\n"
	"         --version APP_VERSION --kind KIND\n"
	"TIME: RFC 3339 (2026-11-23T10:00:00Z) or a span back from now (15m, 2h,"
	" 7d)\n";

static const struct {
	const char *name;
	int (*run)(const char *db, int argc, char **argv);
} commands[] = {
	{ "summary", cmd_summary },
	{ "failures", cmd_failures },
	{ "diagnose", cmd_diagnose },
	{ "rollout", cmd_rollout },
	{ "chain", cmd_chain },
	{ "serve", cmd_serve },
};

int main(int argc, char **argv)
{
	const char *db = VIEW_DEFAULT_DB;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			db = argv[++i];
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			db = argv[i] + 5;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "pinshim-view: unknown option '%s'\n%s",
				argv[i], usage);
			return 2;
		}
	}
	if (i == argc) {
		fputs(usage, stderr);
		return 2;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].run(db, argc - i, argv + i);
	fprintf(stderr, "pinshim-view: unknown command '%s'\n%s", argv[i], usage);
	return 2;
}
