/* pinshim-view chain HOST: the chains HOST served over time, with the pins
 * its clients expected and who saw each (report_chain_history). */
#include "viewer.h"

#include <stdio.h>

static const char usage[] =
	"usage: pinshim-view [--db FILE] chain HOST [--since TIME]"
	" [--until TIME]\n"
	"         [--network LABEL] [--version APP_VERSION] [--json]\n"
	"  the chains HOST served, first seen first, marked against the pins"
	" and\n  against the chain before (what changed)\n";

static void who(const char *what, const struct report_count *c, size_t n)
{
	char b[32];

	printf("      %s:", what);
	for (size_t i = 0; i < n; i++) {
		putchar(' ');
		text_print(c[i].name);
		printf(" %s%s", fmt_count_text(c[i].n, b), i + 1 < n ? "," : "");
	}
	putchar('\n');
}

static void text(const struct report_chain_history *r)
{
	char t1[48], t2[48];

	printf("chains served by ");
	text_print(r->host);
	printf("\n  pins expected:");
	for (size_t i = 0; i < r->npins; i++) {
		putchar(' ');
		text_print(r->pins[i]);
	}
	printf("%s\n", r->npins ? "" : " none reported (no failure carried"
	       " them)");
	for (size_t i = 0; i < r->n; i++) {
		const struct report_chain *c = &r->chains[i];

		time_rfc3339_s(c->first_hour, t1, sizeof(t1));
		time_rfc3339_s(c->last_hour + 3600, t2, sizeof(t2));
		printf("  %s .. %s\n", t1, t2);
		view_print_chain(c);
		who("networks", c->networks, c->nnetworks);
		who("peers", c->peers, c->npeers);
		who("versions", c->versions, c->nversions);
	}
}

int cmd_chain(const char *db, int argc, char **argv)
{
	struct view_opts v = { .db = db };
	struct report_chain_history r;
	struct store *s;
	char err[512];
	int rc = view_parse("chain", usage, OPT_RANGE | OPT_NETWORK |
			    OPT_VERSION | OPT_ARG, argc, argv, &v);

	if (rc >= 0)
		return rc;
	if (v.nargs != 1) {
		fprintf(stderr, "pinshim-view: chain: which host? (chain HOST)"
			"\n%s", usage);
		return 2;
	}
	v.f.host = v.args[0];
	s = view_open("chain", &v);
	if (s == NULL)
		return 1;
	rc = report_chain_history(s, &v.f, &r, err, sizeof(err));
	store_close(s);
	if (rc == 0 && v.json) {
		rc = report_print_json(report_chain_history_json(&r));
		if (rc < 0)
			snprintf(err, sizeof(err), "out of memory");
	} else if (rc == 0) {
		text(&r);
	}
	report_chain_history_free(&r);
	if (rc < 0) {
		view_error("chain", err);
		return 1;
	}
	return 0;
}
