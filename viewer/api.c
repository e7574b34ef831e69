/* /api/...: each report's JSON, exactly as `pinshim-view REPORT --json`
 * prints it (report.h's emitters, the schema the README documents), with
 * the same filters as the pages' query strings.
 *
 *   /api/summary          summary --json
 *   /api/failures         failures --json ({"failures": [...]}), at most
 *                         `limit` (default 1000, ≤ 10000) from `offset`
 *   /api/diagnose         diagnose --json
 *   /api/rollout          rollout --json
 *   /api/matrix           the network x app version table
 *   /api/timeline         the hourly timeline (of ?host=, or every host)
 *   /api/chain/NAME       chain NAME --json
 *
 * An unknown host is a 404 with {"error": {...}}; an empty database
 * answers the empty report. */
#include "web.h"

#include <json-c/json.h>

#define DEFAULT_LIMIT 1000

/* Puts j into the body (and j away): 200, or 500 when j is NULL. */
static int emit(struct web_req *r, json_object *j)
{
	if (j == NULL)
		return web_fail(r, 500, "out of memory");
	r->type = "application/json";
	buf_puts(&r->out, json_object_to_json_string_ext(j,
		 JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_puts(&r->out, "\n");
	json_object_put(j);
	return 200;
}

int api_summary(struct web_req *r)
{
	struct report_summary sum = { 0 };
	int status;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	if (report_summary(s, &r->q.f, &sum, r->err, sizeof(r->err)) < 0)
		status = 500;
	else
		status = emit(r, report_summary_json(&sum));
	report_summary_free(&sum);
	store_close(s);
	return status;
}

struct failures_out {
	struct web_buf *b;
	size_t n;
	bool oom;
};

static int failure_each(void *arg, const struct store_failure *f)
{
	struct failures_out *o = arg;
	json_object *j = report_failure_json(f);

	if (j == NULL) {
		o->oom = true;
		return 1;
	}
	buf_puts(o->b, o->n++ > 0 ? ",\n  " : "\n  ");
	buf_puts(o->b, json_object_to_json_string_ext(j,
		 JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return o->b->oom ? 1 : 0;
}

/* Streamed object by object, as the CLI does: the list can be long. */
int api_failures(struct web_req *r)
{
	struct failures_out o = { .b = &r->out };
	int status, rc;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	r->type = "application/json";
	buf_puts(&r->out, "{\"failures\": [");
	rc = report_failures(s, &r->q.f, r->q.offset, r->q.limit ? r->q.limit
			     : DEFAULT_LIMIT, failure_each, &o, r->err,
			     sizeof(r->err));
	buf_puts(&r->out, o.n > 0 ? "\n]}\n" : "]}\n");
	store_close(s);
	if (o.oom)
		return web_fail(r, 500, "out of memory");
	return rc < 0 ? 500 : 200;
}

int api_diagnose(struct web_req *r)
{
	struct report_diagnoses dg = { 0 };
	int status;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	if (report_diagnose(s, &r->q.f, &dg, r->err, sizeof(r->err)) < 0)
		status = 500;
	else
		status = emit(r, report_diagnoses_json(&dg));
	report_diagnoses_free(&dg);
	store_close(s);
	return status;
}

int api_rollout(struct web_req *r)
{
	struct report_rollout ro = { 0 };
	int status;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	if (report_rollout(s, &r->q.f, &ro, r->err, sizeof(r->err)) < 0)
		status = 500;
	else
		status = emit(r, report_rollout_json(&ro));
	report_rollout_free(&ro);
	store_close(s);
	return status;
}

int api_matrix(struct web_req *r)
{
	struct report_matrix m = { 0 };
	int status;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	if (report_matrix(s, &r->q.f, DIM_NETWORK, DIM_APP_VERSION, &m, r->err,
			  sizeof(r->err)) < 0)
		status = 500;
	else
		status = emit(r, report_matrix_json(&m));
	report_matrix_free(&m);
	store_close(s);
	return status;
}

int api_timeline(struct web_req *r)
{
	struct report_timeline tl = { 0 };
	int status;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	if (report_timeline(s, &r->q.f, &tl, r->err, sizeof(r->err)) < 0)
		status = 500;
	else
		status = emit(r, report_timeline_json(&tl));
	report_timeline_free(&tl);
	store_close(s);
	return status;
}

int api_chain(struct web_req *r)
{
	struct report_chain_history h = { 0 };
	int status;
	bool empty;   /* an empty database: empty reports, 200 */
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	if (report_chain_history(s, &r->q.f, &h, r->err, sizeof(r->err)) < 0)
		status = 500;
	else
		status = emit(r, report_chain_history_json(&h));
	report_chain_history_free(&h);
	store_close(s);
	return status;
}
