/* pinshim-view failures [--host H] [--since T] [--until T] [--network N]
 *                        [--version V] [--kind K] [--json]
 *
 * Every stored failure, oldest first: one line each, or with --json
 * {"failures": [...]}, one object per stored event (repeats folded into
 * their original's count; report_failure_json).  The JSON is streamed
 * object by object, so a large database does not have to fit in memory.
 * An unknown host or a database with no handshakes at all is refused
 * with the names it does know (report_check), as every report does: an
 * empty list there would read as "no failures".  A host that never
 * failed lists nothing. */
#include "viewer.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
	"usage: pinshim-view [--db FILE] failures [--host HOST] [--since TIME]"
	" [--until TIME]\n"
	"         [--network LABEL] [--version APP_VERSION] [--kind KIND]"
	" [--json]\n"
	"  --host HOST   only failures of this host (as the shim saw it)\n"
	"  --since TIME  only failures at or after TIME: RFC 3339\n"
	"                (2026-11-23T10:00:00Z) or a span back from now (15m, 2h,"
	" 7d)\n"
	"  --until TIME  only failures before TIME\n"
	"  --network L   only failures on the network labelled L\n"
	"  --version V   only failures of app version V\n"
	"  --kind K      only failures of kind K (pin_mismatch, expired, ...)\n"
	"  --json        {\"failures\": [...]}, one object per stored event\n";

struct out {
	bool json;
	size_t n;
	bool oom;
};

/* ---- one line --------------------------------------------------------- */

static void line(const struct store_failure *f)
{
	char t[48];

	time_rfc3339_ms(f->time_us, t, sizeof(t));
	printf("%s ", t);
	text_print(f->kind);
	putchar(' ');
	text_print(f->decision);
	putchar(' ');
	text_print(f->host);
	printf(":%d peer=", f->port);
	text_print(f->peer);
	printf(" count=%llu network=", (unsigned long long)f->count);
	text_print(f->network.label);
	printf(" app=");
	text_print(f->process.app_version);
	putchar('\n');
}

static int each(void *arg, const struct store_failure *f)
{
	struct out *o = arg;

	if (!o->json) {
		line(f);
	} else {
		json_object *j = report_failure_json(f);

		if (j == NULL) {
			o->oom = true;
			return 1;
		}
		printf("%s\n  %s", o->n > 0 ? "," : "",
		       json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	}
	o->n++;
	return o->oom ? 1 : 0;
}

/* ---- the command ------------------------------------------------------ */

int cmd_failures(const char *db, int argc, char **argv)
{
	struct view_opts v = { .db = db };
	struct out o = { 0 };
	struct store *s;
	char err[512];
	int rc = view_parse("failures", usage, OPT_ALL, argc, argv, &v);

	if (rc >= 0)
		return rc;
	o.json = v.json;
	s = view_open("failures", &v);
	if (s == NULL)
		return 1;
	if (o.json)
		printf("{\"failures\": [");
	rc = report_failures(s, &v.f, 0, 0, each, &o, err, sizeof(err));
	if (o.json)
		printf("%s]}\n", o.n > 0 ? "\n" : "");
	store_close(s);
	if (rc < 0 || o.oom) {
		view_error(NULL, o.oom ? "out of memory" : err);
		return 1;
	}
	return 0;
}
