/* pinshim-view summary: hosts, handshakes, failure rate, failures by kind
 * and decision over a time range (report_summary). */
#include "viewer.h"

#include <stdio.h>

static const char usage[] =
	"usage: pinshim-view [--db FILE] summary [--since TIME] [--until TIME]"
	" [--host HOST]\n"
	"         [--network LABEL] [--version APP_VERSION] [--kind KIND]"
	" [--json]\n"
	"  hosts, handshakes, failure rate, failure events by kind and"
	" decision\n"
	"  (--kind narrows the events; handshake counts have no kind)\n";

static void pct(uint64_t failed, uint64_t total)
{
	if (total == 0)
		printf("%6s", "-");
	else
		printf("%5.1f%%", 100.0 * (double)failed / (double)total);
}

static void counts(const struct report_count *c, size_t n)
{
	char b[32];

	for (size_t i = 0; i < n; i++) {
		printf("%s", i ? ", " : "");
		text_print(c[i].name);
		printf(" %s", fmt_count_text(c[i].n, b));
	}
	if (n == 0)
		printf("-");
}

static void text(const struct report_summary *r)
{
	char a[32], b[32], c[32], t1[48], t2[48];

	if (r->nhosts == 0) {
		printf("no handshakes in range\n");
		return;
	}
	time_rfc3339_s(r->first_hour, t1, sizeof(t1));
	time_rfc3339_s(r->last_hour + 3600, t2, sizeof(t2));
	printf("%s .. %s: %s handshakes, %s failed (%.1f%%), %s failure "
	       "events", t1, t2, fmt_count_text(r->successes + r->failures, a),
	       fmt_count_text(r->failures, b), r->successes + r->failures ?
	       100.0 * (double)r->failures / (double)(r->successes +
						      r->failures) : 0.0,
	       fmt_count_text(r->events, c));
	if (r->resumed > 0)
		printf("; %s resumed (%s of failed sessions)",
		       fmt_count_text(r->resumed, a),
		       fmt_count_text(r->resumed_failed, b));
	putchar('\n');
	printf("  by kind: ");
	counts(r->kinds, r->nkinds);
	printf("\n  by decision: ");
	counts(r->decisions, r->ndecisions);
	printf("\n\n%-32s %12s %10s %6s %10s %10s  %-8s %s\n", "HOST",
	       "HANDSHAKES", "FAILED", "RATE", "RESUMED", "EVENTS", "MODE",
	       "KINDS");
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct report_host *h = &r->hosts[i];

		text_print(h->host);
		printf("%*s %12s %10s ", h->host[0] && text_width(h->host) < 32
		       ? 32 - (int)text_width(h->host) : 1, "",
		       fmt_count_text(h->successes + h->failures, a),
		       fmt_count_text(h->failures, b));
		pct(h->failures, h->successes + h->failures);
		printf(" %10s", fmt_count_text(h->resumed, a));
		printf(" %10s  %-8s ", fmt_count_text(h->events, c),
		       h->mode[0] ? h->mode : "-");
		counts(h->kinds, h->nkinds);
		putchar('\n');
		if (h->one_sender) {
			/* counters are a sender's word: one that outweighs all
			 * others is worth seeing before trusting the rate */
			printf("  note: %.0f%% of these handshakes were counted "
			       "by one of %u senders: ", 100.0 *
			       (double)h->top_handshakes /
			       (double)h->sender_handshakes, h->senders);
			text_print(h->top_sender);
			putchar('\n');
		}
	}
}

int cmd_summary(const char *db, int argc, char **argv)
{
	struct view_opts v = { .db = db };
	struct report_summary r;
	struct store *s;
	char err[512];
	int rc = view_parse("summary", usage, OPT_ALL, argc, argv, &v);

	if (rc >= 0)
		return rc;
	s = view_open("summary", &v);
	if (s == NULL)
		return 1;
	rc = report_summary(s, &v.f, &r, err, sizeof(err));
	store_close(s);
	if (rc == 0) {
		if (v.json)
			rc = report_print_json(report_summary_json(&r));
		else
			text(&r);
		if (rc < 0)
			snprintf(err, sizeof(err), "out of memory");
	}
	report_summary_free(&r);
	if (rc < 0) {
		view_error("summary", err);
		return 1;
	}
	return 0;
}
