/* pinshim-view diagnose: one diagnosis per (host, cause) with failures in
 * range (report_diagnose): the cause, its confidence, the dimension that
 * separates failing from succeeding handshakes with both counts, first and
 * last seen, the evidence, the chains against the pins, and the fix. */
#include "viewer.h"

#include <stdio.h>

static const char usage[] =
	"usage: pinshim-view [--db FILE] diagnose [--host HOST] [--since TIME]"
	" [--until TIME]\n"
	"         [--network LABEL] [--version APP_VERSION] [--kind KIND]"
	" [--json]\n"
	"  names the likely cause of each host's failures, with its evidence"
	" and fix\n"
	"  --json  {\"diagnoses\": [...]}, schema in the README\n";

/* One certificate: position, key, marks, subject, validity. */
static void cert(const struct report_cert *c)
{
	char t1[48], t2[48];

	printf("      #%d%s%s%s%s ", c->position, c->pinned ? " [pinned]" : "",
	       c->changed ? " [changed]" : "",
	       c->verified ? "" : " [unverified: no DER]",
	       c->conflict ? " [conflicting claims]" : "");
	text_print(c->pin);
	printf("\n         ");
	text_print(c->subject);
	printf("  (issuer ");
	text_print(c->issuer);
	time_rfc3339_s(c->not_before, t1, sizeof(t1));
	time_rfc3339_s(c->not_after, t2, sizeof(t2));
	printf("; valid %s .. %s)\n", t1, t2);
}

void view_print_chain(const struct report_chain *c)
{
	char a[32], b[32];

	printf("    %s ", c->role);
	text_print(c->fingerprint);
	printf(": %s succeeded, %s failed", fmt_count_text(c->successes, a),
	       fmt_count_text(c->failures, b));
	if (c->changed_position >= 0)
		printf(", changed at position %d", c->changed_position);
	if (c->ncerts == 0)
		printf(" (certificates not reported)");
	putchar('\n');
	for (size_t i = 0; i < c->ncerts; i++)
		cert(&c->certs[i]);
}

static void text(const struct report_diagnosis *d)
{
	char t1[48], t2[48];

	text_print(d->host);
	printf(": %s (confidence %.2f)%s\n", report_cause_name(d->cause),
	       d->confidence, d->contrast ? "" : " [no successes to compare]");
	time_rfc3339_s(d->first_seen_us / 1000000, t1, sizeof(t1));
	time_rfc3339_s(d->last_seen_us / 1000000, t2, sizeof(t2));
	printf("  first seen %s, last seen %s\n", t1, t2);
	for (size_t i = 0; i < d->nevidence; i++) {
		printf("  - ");
		text_print(d->evidence[i]);
		putchar('\n');
	}
	printf("  pins expected:");
	for (size_t i = 0; i < d->npins; i++) {
		putchar(' ');
		text_print(d->pins[i]);
	}
	printf("%s\n  chains:\n", d->npins ? "" : " none");
	for (size_t i = 0; i < d->nchains; i++)
		view_print_chain(&d->chains[i]);
	printf("  fix: ");
	text_print(d->fix);
	printf("\n\n");
}

int cmd_diagnose(const char *db, int argc, char **argv)
{
	struct view_opts v = { .db = db };
	struct report_diagnoses r;
	struct store *s;
	char err[512];
	int rc = view_parse("diagnose", usage, OPT_ALL, argc, argv, &v);

	if (rc >= 0)
		return rc;
	s = view_open("diagnose", &v);
	if (s == NULL)
		return 1;
	rc = report_diagnose(s, &v.f, &r, err, sizeof(err));
	store_close(s);
	if (rc == 0 && v.json) {
		rc = report_print_json(report_diagnoses_json(&r));
		if (rc < 0)
			snprintf(err, sizeof(err), "out of memory");
	} else if (rc == 0) {
		if (r.n == 0)
			printf("no failures in range: nothing to diagnose\n");
		for (size_t i = 0; i < r.n; i++)
			text(&r.d[i]);
	}
	report_diagnoses_free(&r);
	if (rc < 0) {
		view_error("diagnose", err);
		return 1;
	}
	return 0;
}
