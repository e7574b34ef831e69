/* pinshim-view serve [--listen HOST:PORT]: the web page.
 *
 * libmicrohttpd answers on a small pool of threads; each request opens the
 * database read-only (store_open STORE_READ: WAL, so it reads while the
 * collector writes, and never blocks it), renders one page into memory and
 * closes it.  Only GET and HEAD; the query string is checked before any
 * page runs (params.c); every response carries a Content-Security-Policy
 * that forbids script, so even a stored string that escaped escaping could
 * not run.  SIGINT / SIGTERM stop the daemon: requests in flight finish.
 */
#include "listen.h"
#include "web.h"
#include "viewer.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVE_DEFAULT_LISTEN "127.0.0.1:7411"
#define SERVE_THREADS 4
#define RETRY_AFTER_S "2"

static const char usage[] =
	"usage: pinshim-view [--db FILE] serve [--listen HOST:PORT]\n"
	"                    [--max-connections N] [--per-address N]\n"
	"                    [--header-timeout SEC] [--reports N] [--queue SEC]\n"
	"  --listen HOST:PORT  address of the web page (default "
	SERVE_DEFAULT_LISTEN "; port 0: any free port)\n"
	"                      stdout: \"listening on http://HOST:PORT/\"\n"
	"  --max-connections N connections at once (default 1024), of them\n"
	"  --per-address N     from one address (default 256)\n"
	"  --header-timeout SEC  time a client has for its request line and\n"
	"                      headers, however slowly it sends them (5)\n"
	"  --reports N         reports computed at once (default 2); a request\n"
	"  --queue SEC         waits this long for one (2), then gets 503 and\n"
	"                      Retry-After\n";

struct serve_opts {
	const char *db, *listen;
	unsigned max_conns, per_address, reports;
	int header_ms, queue_ms;
};

static const char csp[] =
	"default-src 'self'; script-src 'none'; object-src 'none'; "
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/* ---- routes ------------------------------------------------------------ */

static int static_css(struct web_req *r)
{
	r->type = "text/css; charset=utf-8";
	buf_put(&r->out, web_style_css, web_style_css_len);
	return 200;
}

static const struct route {
	const char *path;
	bool prefix;            /* path + a host name (r->arg) */
	bool json;              /* errors as JSON */
	web_handler fn;
} routes[] = {
	{ "/", false, false, page_overview },
	{ "/host/", true, false, page_host },
	{ "/diagnose", false, false, page_diagnose },
	{ "/matrix", false, false, page_matrix },
	{ "/rollout", false, false, page_rollout },
	{ "/chain/", true, false, page_chain },
	{ "/style.css", false, false, static_css },
	{ "/api/summary", false, true, api_summary },
	{ "/api/failures", false, true, api_failures },
	{ "/api/diagnose", false, true, api_diagnose },
	{ "/api/rollout", false, true, api_rollout },
	{ "/api/matrix", false, true, api_matrix },
	{ "/api/timeline", false, true, api_timeline },
	{ "/api/chain/", true, true, api_chain },
};

/* The route of url (libmicrohttpd has percent-decoded it), NULL for none;
 * a prefix route takes the rest of the path, whatever bytes, as its
 * host (a host name never holds '/', a hostile one can: it is still one
 * argument, and unknown, so a 404). */
static const struct route *route_of(const char *url, const char **arg)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];
		size_t n = strlen(rt->path);

		if (!rt->prefix && strcmp(url, rt->path) == 0)
			return rt;
		if (rt->prefix && strncmp(url, rt->path, n) == 0 &&
		    url[n] != '\0') {
			*arg = url + n;
			return rt;
		}
	}
	return NULL;
}

static bool is_api(const char *url)
{
	return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0;
}

/* ---- one request ------------------------------------------------------- */

struct args {
	struct web_query *q;
	int64_t now_us;
	int count;
	char *err;
	size_t errlen;
	bool bad;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind,
				const char *key, const char *value)
{
	struct args *a = cls;

	if (++a->count > 16) {
		snprintf(a->err, a->errlen, "more than 16 query parameters");
		a->bad = true;
	} else if (params_add(a->q, key, value, a->now_us, a->err,
			      a->errlen) < 0) {
		a->bad = true;
	}
	return a->bad ? MHD_NO : MHD_YES;
}

static int read_query(struct MHD_Connection *c, struct web_req *r)
{
	struct timespec now;
	struct args a = { .q = &r->q, .err = r->err, .errlen = sizeof(r->err) };

	clock_gettime(CLOCK_REALTIME, &now);
	a.now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, each_arg, &a);
	if (a.bad || params_check(&r->q, r->err, sizeof(r->err)) < 0)
		return 400;
	return 200;
}

/* Runs the page; the status, r->out holding the body (or the error). */
static int dispatch(struct MHD_Connection *c, const char *url,
		    struct web_req *r, bool *json)
{
	const struct route *rt = route_of(url, &r->arg);
	int status;

	*json = rt != NULL ? rt->json : is_api(url);
	if (rt == NULL)
		return web_fail(r, 404, "no page at this address");
	status = read_query(c, r);
	if (status != 200)
		return status;
	if (r->arg != NULL)
		r->q.f.host = r->arg;   /* the path names the host */
	if (rt->fn == static_css)
		return rt->fn(r);
	if (!guard_busy_enter())
		return web_fail(r, 503, "busy: every report slot is taken");
	status = rt->fn(r);
	if (r->stream_fd < 0)
		guard_busy_leave();
	return status;
}

static void add_headers(struct MHD_Response *resp, const char *type)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
}

static enum MHD_Result respond(struct MHD_Connection *c, int status,
			       struct web_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->out.oom) {
		status = 500;
		buf_free(&r->out);
		r->type = "text/plain; charset=utf-8";
		buf_puts(&r->out, "the page is too large or the server is out "
			 "of memory\n");
	}
	/* MHD frees the body with free() once sent, closes a pipe */
	if (r->stream_fd >= 0 && status == 200)
		resp = MHD_create_response_from_pipe(r->stream_fd);
	else
		resp = MHD_create_response_from_buffer(r->out.len, r->out.p ?
			r->out.p : (char *)"", r->out.p ? MHD_RESPMEM_MUST_FREE
			: MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		buf_free(&r->out);
		return MHD_NO;
	}
	r->out = (struct web_buf){ 0 };
	add_headers(resp, r->type);
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					"GET, HEAD");
	if (status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
					RETRY_AFTER_S);
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	static int seen, bad;
	struct web_req r = { .db = cls, .type = "text/html; charset=utf-8",
			     .stream_fd = -1 };
	bool json = false;
	int status;

	if (*state == NULL) {           /* the headers: wait for the body */
		*state = guard_request(c) ? &seen : &bad;
		return MHD_YES;
	}
	if (*upload_size != 0) {        /* a body: not for us, drop it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*state == &bad) {
		status = web_fail(&r, 400, "a NUL byte in the address");
		json = is_api(url);
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = web_fail(&r, 405, "only GET and HEAD");
		json = is_api(url);
	} else {
		status = dispatch(c, url, &r, &json);
	}
	if (status != 200)
		web_error(&r, status, json);
	return respond(c, status, &r);
}

/* ---- listening --------------------------------------------------------- */

static struct MHD_Daemon *start(const struct serve_opts *o, int fd)
{
	return MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
				MHD_USE_ERROR_LOG, 0, NULL, NULL,
				on_request, (void *)o->db,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_THREAD_POOL_SIZE,
				(unsigned)SERVE_THREADS,
				MHD_OPTION_CONNECTION_LIMIT, o->max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				o->per_address,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_NOTIFY_CONNECTION, guard_notify, NULL,
				MHD_OPTION_UNESCAPE_CALLBACK, guard_unescape,
				NULL,
				/* request line and headers: bounds the URL */
				MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)(32 * 1024),
				MHD_OPTION_END);
}

/* Refuses to start on a database the pages could not read (missing,
 * another program's, another schema version). */
static int check_db(const char *db)
{
	char err[512];
	struct store *s = store_open(db, STORE_READ, STORE_SYNC_NORMAL, err,
				     sizeof(err));

	if (s == NULL) {
		fprintf(stderr, "pinshim-view: serve: %s\n", err);
		return -1;
	}
	store_close(s);
	return 0;
}

/* A count 1..100000, or seconds (decimals) as milliseconds up to a day;
 * -1 when malformed. */
static long number_arg(const char *s, bool seconds)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v > 0) ||
	    v > (seconds ? 86400 : 100000) || (!seconds && v != (long)v))
		return -1;
	return seconds ? (long)(v * 1000) : (long)v;
}

static int set_number(long *out, const char *name, const char *arg,
		      bool seconds)
{
	*out = number_arg(arg, seconds);
	if (*out > 0)
		return -1;
	fprintf(stderr, "pinshim-view: serve: %s: expected %s, not '%s'\n%s",
		name, seconds ? "seconds" : "a count 1..100000", arg, usage);
	return 2;
}

enum { OPT_CONNS = 256, OPT_PER, OPT_HEADER, OPT_REPORTS, OPT_QUEUE };

static int parse(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "max-connections", required_argument, NULL, OPT_CONNS },
		{ "per-address", required_argument, NULL, OPT_PER },
		{ "header-timeout", required_argument, NULL, OPT_HEADER },
		{ "reports", required_argument, NULL, OPT_REPORTS },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc = -1;
	long v;

	optind = 1;
	while (rc < 0 && (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': o->listen = optarg; break;
		case 'd': o->db = optarg; break;
		case OPT_CONNS:
			if ((rc = set_number(&v, "--max-connections", optarg,
					     false)) < 0)
				o->max_conns = (unsigned)v;
			break;
		case OPT_PER:
			if ((rc = set_number(&v, "--per-address", optarg,
					     false)) < 0)
				o->per_address = (unsigned)v;
			break;
		case OPT_REPORTS:
			if ((rc = set_number(&v, "--reports", optarg, false)) < 0)
				o->reports = (unsigned)v;
			break;
		case OPT_HEADER:
			if ((rc = set_number(&v, "--header-timeout", optarg,
					     true)) < 0)
				o->header_ms = (int)v;
			break;
		case OPT_QUEUE:
			if ((rc = set_number(&v, "--queue", optarg, true)) < 0)
				o->queue_ms = (int)v;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (rc < 0 && optind < argc) {
		fprintf(stderr, "pinshim-view: serve: unexpected argument "
			"'%s'\n%s", argv[optind], usage);
		return 2;
	}
	return rc;
}

int cmd_serve(const char *db, int argc, char **argv)
{
	struct serve_opts o = {
		.db = db, .listen = SERVE_DEFAULT_LISTEN, .max_conns = 1024,
		.per_address = 256, .reports = 2, .header_ms = 5000,
		.queue_ms = 2000,
	};
	struct MHD_Daemon *d;
	char bound[80], err[256];
	sigset_t set;
	int rc = parse(argc, argv, &o), fd, sig;

	if (rc >= 0)
		return rc;
	if (check_db(o.db) < 0)
		return 1;
	/* the daemon's threads inherit the mask: the signals come to
	 * sigwait below, nowhere else */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	fd = listen_open(o.listen, 1024, bound, sizeof(bound), err,
			 sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "pinshim-view: serve: %s\n", err);
		return 1;
	}
	d = guard_start(o.header_ms, o.reports, o.queue_ms) == 0
	    ? start(&o, fd) : NULL;
	if (d == NULL || causes_start(o.db) < 0) {
		fprintf(stderr, "pinshim-view: serve: cannot start the HTTP "
			"server on %s\n", bound);
		if (d != NULL)
			MHD_stop_daemon(d);
		else
			close(fd);
		guard_stop();
		return 1;
	}
	printf("listening on http://%s/\n", bound);
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);     /* finishes requests, closes fd */
	causes_stop();
	guard_stop();
	return 0;
}
