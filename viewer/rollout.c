/* pinshim-view rollout: for hosts in observe mode, what enforcing would
 * block, by network and app version, and a verdict (report_rollout). */
#include "viewer.h"

#include <stdio.h>

static const char usage[] =
	"usage: pinshim-view [--db FILE] rollout [--host HOST] [--since TIME]"
	" [--until TIME]\n"
	"         [--network LABEL] [--version APP_VERSION] [--json]\n"
	"  for hosts in observe mode: what enforcing would block, and whether"
	" it is\n  ready (no handshake of the range's last 24 hours would be"
	" blocked)\n";

static void text(const struct report_rollout_host *h)
{
	char a[32], b[32];

	text_print(h->host);
	printf(": ");
	text_print(h->verdict);
	printf("\n  %s would-block events of %s handshakes in range\n",
	       fmt_count_text(h->would_block, a),
	       fmt_count_text(h->handshakes, b));
	for (size_t i = 0; i < h->ncells; i++) {
		const struct report_cell *c = &h->cells[i];

		printf("  network ");
		text_print(c->row);
		printf(", app ");
		text_print(c->col);
		printf(": %s would block of %s\n", fmt_count_text(c->failed, a),
		       fmt_count_text(c->total, b));
	}
	putchar('\n');
}

int cmd_rollout(const char *db, int argc, char **argv)
{
	struct view_opts v = { .db = db };
	struct report_rollout r;
	struct store *s;
	char err[512];
	int rc = view_parse("rollout", usage, OPT_ALL & ~OPT_KIND, argc, argv,
			    &v);

	if (rc >= 0)
		return rc;
	s = view_open("rollout", &v);
	if (s == NULL)
		return 1;
	rc = report_rollout(s, &v.f, &r, err, sizeof(err));
	store_close(s);
	if (rc == 0 && v.json) {
		rc = report_print_json(report_rollout_json(&r));
		if (rc < 0)
			snprintf(err, sizeof(err), "out of memory");
	} else if (rc == 0) {
		if (r.n == 0)
			printf("no host in observe mode had failures in range\n");
		for (size_t i = 0; i < r.n; i++)
			text(&r.hosts[i]);
	}
	report_rollout_free(&r);
	if (rc < 0) {
		view_error("rollout", err);
		return 1;
	}
	return 0;
}
