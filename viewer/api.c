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

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		status = web_report_failed(s);
	else
		status = emit(r, report_summary_json(&sum));
	report_summary_free(&sum);
	store_close(s);
	return status;
}

/* /api/failures is written as the store yields it, by a thread of its own
 * into a pipe that libmicrohttpd sends from: a long list never sits whole
 * in memory (10,000 failures once did not fit, a 500).  The thread holds
 * the request's report slot (guard.c) until it is done, and gives up on a
 * client that stops reading. */
#define STREAM_STALL_MS 30000

struct stream {
	char *db, *host, *network, *version, *kind;
	struct report_filter f;
	size_t offset, limit, n;
	int fd;
	bool broken;
};

/* All of s, or broken when the client stalls or leaves. */
static void put(struct stream *st, const char *s)
{
	size_t len = strlen(s);

	while (len > 0 && !st->broken) {
		struct pollfd p = { .fd = st->fd, .events = POLLOUT };
		ssize_t n;

		if (poll(&p, 1, STREAM_STALL_MS) <= 0) {
			st->broken = true;
			break;
		}
		n = write(st->fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			st->broken = true;
			break;
		}
		s += n;
		len -= (size_t)n;
	}
}

static int failure_each(void *arg, const struct store_failure *f)
{
	struct stream *st = arg;
	json_object *j = report_failure_json(f);

	if (j == NULL)
		return 1;
	put(st, st->n++ > 0 ? ",\n  " : "\n  ");
	put(st, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return st->broken ? 1 : 0;
}

static void stream_free(struct stream *st)
{
	if (st->fd >= 0)
		close(st->fd);
	free(st->db);
	free(st->host);
	free(st->network);
	free(st->version);
	free(st->kind);
	free(st);
}

static void *stream_main(void *arg)
{
	struct stream *st = arg;
	char err[512];
	struct store *s = store_open(st->db, STORE_READ, STORE_SYNC_NORMAL, err,
				     sizeof(err));
	int rc = -1;

	put(st, "{\"failures\": [");
	if (s != NULL)
		rc = report_failures(s, &st->f, st->offset, st->limit,
				     failure_each, st, err, sizeof(err));
	/* the status went out already: a failure half-way is said in the
	 * object itself (the detail is for the server's log) */
	put(st, st->n > 0 ? "\n]" : "]");
	put(st, rc < 0 ? ", \"error\": \"the list could not be read to its "
	    "end\"}\n" : "}\n");
	if (rc < 0)
		fprintf(stderr, "pinshim-view: serve: /api/failures: %s\n", err);
	store_close(s);
	stream_free(st);
	guard_busy_leave();
	return NULL;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s != NULL ? strdup(s) : NULL;

	*oom |= s != NULL && d == NULL;
	return d;
}

/* A copy of what the thread needs: the request's strings go with it. */
static struct stream *stream_new(const struct web_req *r)
{
	struct stream *st = calloc(1, sizeof(*st));
	bool oom = st == NULL;

	if (oom)
		return NULL;
	st->fd = -1;
	st->f = r->q.f;
	st->db = dup_or_null(r->db, &oom);
	st->f.host = st->host = dup_or_null(r->q.f.host, &oom);
	st->f.network = st->network = dup_or_null(r->q.f.network, &oom);
	st->f.version = st->version = dup_or_null(r->q.f.version, &oom);
	st->f.kind = st->kind = dup_or_null(r->q.f.kind, &oom);
	st->offset = r->q.offset;
	st->limit = r->q.limit ? r->q.limit : DEFAULT_LIMIT;
	if (oom) {
		stream_free(st);
		return NULL;
	}
	return st;
}

int api_failures(struct web_req *r)
{
	int status, fds[2];
	bool empty;   /* an empty database: an empty list, 200 */
	struct store *s = web_open(r, &status, &empty);
	struct stream *st;
	pthread_t t;

	if (s == NULL)
		return status;
	store_close(s);
	st = stream_new(r);
	if (st == NULL || pipe2(fds, O_CLOEXEC) < 0) {
		free(st);
		return web_fail(r, 500, "out of memory");
	}
	st->fd = fds[1];
	if (pthread_create(&t, NULL, stream_main, st) != 0) {
		close(fds[0]);
		stream_free(st);
		return web_fail(r, 500, "cannot start a thread");
	}
	pthread_detach(t);
	r->type = "application/json";
	r->stream_fd = fds[0];      /* the thread gives the slot back */
	return 200;
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
		status = web_report_failed(s);
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
		status = web_report_failed(s);
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
		status = web_report_failed(s);
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
		status = web_report_failed(s);
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
		status = web_report_failed(s);
	else
		status = emit(r, report_chain_history_json(&h));
	report_chain_history_free(&h);
	store_close(s);
	return status;
}
