/* pinshim status [--json]: what is in force on this machine, for this user:
 * whether the shim is enabled and how, the library, the policy (version,
 * hosts by mode, lint), the collector and whether it accepts connections,
 * this user's spool and its last delivery.  Exit status 0, or 1 when
 * something is wrong (listed under "problems"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "spool_dir.h"
#include "policy.h"

#define LINT_MAX 20             /* findings listed; all are counted */
#define PROBE_TIMEOUT_MS 2000

struct status {
	json_object *j;
	json_object *problems;
	json_object *lint;
	int errors, warnings;
};

static json_object *jstr(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

__attribute__((format(printf, 2, 3)))
static void problem(struct status *st, const char *fmt, ...)
{
	va_list ap;
	char msg[PATH_MAX + 200];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_array_add(st->problems, json_object_new_string(msg));
}

/* ---- enabled, and the library ---- */

/* The libpinshim.so entry of an LD_PRELOAD value into out, or NULL. */
static const char *env_entry(const char *v, char *out, size_t len)
{
	struct preload p = { 0 };
	char *line = v != NULL ? strdup(v) : NULL;
	const char *r = NULL;

	if (line != NULL) {
		p.lines = &line;
		p.n = 1;
		r = preload_find(&p, out, len);
	}
	free(line);
	return r;
}

static void library_status(struct status *st, const char *lib)
{
	json_object *l = json_object_new_object();
	char core[PATH_MAX];

	library_core(lib, core);
	json_object_object_add(l, "path", jstr(lib));
	json_object_object_add(l, "exists",
			       json_object_new_boolean(access(lib, R_OK) == 0));
	json_object_object_add(l, "core", jstr(core));
	json_object_object_add(l, "core_exists",
			       json_object_new_boolean(access(core, R_OK) == 0));
	json_object_object_add(l, "version", jstr(PINSHIM_VERSION));
	json_object_object_add(st->j, "library", l);
	if (access(lib, R_OK) != 0)
		problem(st, "the library %s is missing", lib);
	else if (access(core, R_OK) != 0)
		problem(st, "the core %s is missing: processes run unpinned",
			core);
}

static void enabled_status(struct status *st)
{
	struct preload p;
	char entry[PATH_MAX], env[PATH_MAX], lib[PATH_MAX];
	const char *in_file = NULL, *in_env;

	if (preload_read(PRELOAD_PATH, &p) == 0) {
		in_file = preload_find(&p, entry, sizeof(entry));
		preload_free(&p);
	}
	in_env = env_entry(getenv("LD_PRELOAD"), env, sizeof(env));
	json_object_object_add(st->j, "enabled",
			       json_object_new_boolean(in_file != NULL));
	json_object_object_add(st->j, "preload_file", jstr(PRELOAD_PATH));
	json_object_object_add(st->j, "preload_entry", jstr(in_file));
	json_object_object_add(st->j, "ld_preload", jstr(in_env));
	if (in_file != NULL)
		library_status(st, in_file);
	else if (in_env != NULL)
		library_status(st, in_env);
	else if (library_find(lib) == 0)
		library_status(st, lib);
}

/* ---- the policy ---- */

static void on_finding(void *arg, enum policy_severity sev, int line,
		       const char *msg)
{
	struct status *st = arg;
	char text[700];

	if (sev == POLICY_ERROR)
		st->errors++;
	else
		st->warnings++;
	if (st->errors + st->warnings > LINT_MAX)
		return;
	snprintf(text, sizeof(text), "%d: %s: %s", line,
		 sev == POLICY_ERROR ? "error" : "warning", msg);
	json_object_array_add(st->lint, json_object_new_string(text));
}

static json_object *hosts_by_mode(const struct policy *p)
{
	json_object *h = json_object_new_object();
	int n[2] = { 0, 0 }, refused = 0;

	for (size_t i = 0; i < p->nhosts; i++) {
		if (p->hosts[i].disabled)
			refused++;
		else
			n[policy_host_mode(p, &p->hosts[i])]++;
	}
	json_object_object_add(h, "enforce", json_object_new_int(n[POLICY_ENFORCE]));
	json_object_object_add(h, "observe", json_object_new_int(n[POLICY_OBSERVE]));
	json_object_object_add(h, "refused", json_object_new_int(refused));
	return h;
}

/* The policy, and what it says about delivery (into *collector, *spool:
 * malloc'd or NULL). */
static void policy_status(struct status *st, char **collector, char **spool)
{
	const char *path = getenv("PINSHIM_POLICY");
	json_object *o = json_object_new_object();
	struct policy *p;
	char err[600];

	if (path == NULL || path[0] == '\0')
		path = POLICY_MACHINE_PATH;
	st->lint = json_object_new_array();
	p = policy_load(path, on_finding, st, err, sizeof(err));
	json_object_object_add(o, "path", jstr(path));
	json_object_object_add(o, "loaded", json_object_new_boolean(p != NULL));
	json_object_object_add(o, "version", p ? jstr(p->version) : NULL);
	json_object_object_add(o, "error", p ? NULL : jstr(err));
	json_object_object_add(o, "hosts", p ? hosts_by_mode(p) : NULL);
	json_object_object_add(o, "errors", json_object_new_int(st->errors));
	json_object_object_add(o, "warnings", json_object_new_int(st->warnings));
	json_object_object_add(o, "lint", st->lint);
	json_object_object_add(st->j, "policy", o);
	if (p == NULL)
		problem(st, "the policy is not loaded: %s", err);
	for (size_t i = 0; p != NULL && i < p->nproblems; i++)
		problem(st, "%s", p->problems[i]);
	*collector = p && p->collector ? strdup(p->collector) : NULL;
	*spool = p && p->spool_dir ? strdup(p->spool_dir) : NULL;
	policy_free(p);
}

/* ---- the collector ---- */

/* "accepts connections", or why not. */
static const char *probe(const char *hostport, char *why, size_t len)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct pollfd pfd = { .events = POLLOUT };
	int e = 0, rc;
	socklen_t el = sizeof(e);

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		return "not host:port";
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0)
		return gai_strerror(rc);
	pfd.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pfd.fd >= 0 && connect(pfd.fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
	    errno == EINPROGRESS && poll(&pfd, 1, PROBE_TIMEOUT_MS) == 0)
		e = ETIMEDOUT;
	else if (pfd.fd >= 0)
		getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &e, &el);
	else
		e = errno;
	if (pfd.fd >= 0)
		close(pfd.fd);
	freeaddrinfo(ai);
	if (e == 0)
		return NULL;
	snprintf(why, len, "%s", strerror(e));
	return why;
}

static void collector_status(struct status *st, const char *policy_collector)
{
	const char *c = getenv("PINSHIM_COLLECTOR");
	json_object *o;
	char why[128];
	const char *bad;

	if (c == NULL || c[0] == '\0')
		c = policy_collector;
	if (c == NULL) {
		json_object_object_add(st->j, "collector", NULL);
		return;
	}
	bad = probe(c, why, sizeof(why));
	o = json_object_new_object();
	json_object_object_add(o, "address", jstr(c));
	json_object_object_add(o, "answers", json_object_new_boolean(bad == NULL));
	json_object_object_add(o, "error", jstr(bad));
	json_object_object_add(st->j, "collector", o);
	if (bad != NULL)
		problem(st, "the collector does not accept connections: %s", bad);
}

/* ---- the spool ---- */

static bool ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

static long long last_delivery(const char *dir)
{
	char path[PATH_MAX + 32], buf[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/last-delivery", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return atoll(buf);
}

static void spool_status(struct status *st, const char *policy_spool)
{
	const char *dir = getenv("PINSHIM_SPOOL");
	char def[4096], when[32] = "", squatted[4200];
	json_object *o = json_object_new_object();
	long long batches = 0, bytes = 0, torn = 0, last;
	struct dirent *e;
	struct stat sb;
	DIR *d;

	if (dir == NULL || dir[0] == '\0')
		dir = policy_spool;
	if (dir == NULL) {
		spool_dir_default(def, sizeof(def), false, squatted,
				  sizeof(squatted));
		if (squatted[0] != '\0')
			problem(st, "spool directory %s refused: this user's "
				"spool is %s", squatted, def);
		dir = def;
	}
	d = opendir(dir);
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (ends_with(e->d_name, ".torn"))
			torn++;
		else if (strstr(e->d_name, ".batch") == NULL ||
			 fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		else {
			batches++;
			bytes += (long long)sb.st_size;
		}
	}
	if (d != NULL)
		closedir(d);
	last = d != NULL ? last_delivery(dir) : 0;
	if (last > 0)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime(&(time_t){ (time_t)last }));
	json_object_object_add(o, "path", jstr(dir));
	json_object_object_add(o, "exists", json_object_new_boolean(d != NULL));
	json_object_object_add(o, "batches", json_object_new_int64(batches));
	json_object_object_add(o, "bytes", json_object_new_int64(bytes));
	json_object_object_add(o, "torn", json_object_new_int64(torn));
	json_object_object_add(st->j, "spool", o);
	json_object_object_add(st->j, "last_delivery", last > 0 ? jstr(when) : NULL);
}

/* ---- output ---- */

static const char *s_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v != NULL
		? json_object_get_string(v) : NULL;
}

static json_object *o_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void print_text(const struct status *st)
{
	json_object *j = st->j, *lib = o_of(j, "library"), *pol = o_of(j, "policy");
	json_object *col = o_of(j, "collector"), *sp = o_of(j, "spool");
	json_object *hosts = o_of(pol, "hosts");

	printf("enabled:        %s\n", s_of(j, "preload_entry")
	       ? "yes (" PRELOAD_PATH ")" : "no");
	if (s_of(j, "ld_preload"))
		printf("this process:   LD_PRELOAD=%s\n", s_of(j, "ld_preload"));
	if (lib != NULL)
		printf("library:        %s (%s), core %s, version %s\n",
		       s_of(lib, "path"), s_of(lib, "exists")[0] == 't'
		       ? "present" : "missing", s_of(lib, "core"),
		       s_of(lib, "version"));
	printf("policy:         %s, %s", s_of(pol, "path"),
	       s_of(pol, "version") ? "version " : "not loaded: ");
	printf("%s\n", s_of(pol, "version") ? s_of(pol, "version")
					    : s_of(pol, "error"));
	if (hosts != NULL)
		printf("hosts:          %s enforce, %s observe, %s refused\n",
		       s_of(hosts, "enforce"), s_of(hosts, "observe"),
		       s_of(hosts, "refused"));
	printf("lint:           %d error(s), %d warning(s)\n", st->errors,
	       st->warnings);
	for (size_t i = 0; i < json_object_array_length(st->lint); i++)
		printf("  %s:%s\n", s_of(pol, "path"), json_object_get_string(
			json_object_array_get_idx(st->lint, i)));
	if (col != NULL)
		printf("collector:      %s, %s%s\n", s_of(col, "address"),
		       s_of(col, "error") ? "not answering: " : "answers",
		       s_of(col, "error") ? s_of(col, "error") : "");
	else
		printf("collector:      none configured\n");
	printf("spool:          %s, %s batch(es), %s bytes, %s torn\n",
	       s_of(sp, "path"), s_of(sp, "batches"), s_of(sp, "bytes"),
	       s_of(sp, "torn"));
	printf("last delivery:  %s\n", s_of(j, "last_delivery")
	       ? s_of(j, "last_delivery") : "none recorded in the spool");
	for (size_t i = 0; i < json_object_array_length(st->problems); i++)
		printf("problem:        %s\n", json_object_get_string(
			json_object_array_get_idx(st->problems, i)));
}

int cmd_status(int argc, char **argv)
{
	struct status st = { .j = json_object_new_object(),
			     .problems = json_object_new_array() };
	char *collector = NULL, *spool = NULL;
	bool json = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0) {
			json_object_put(st.j);
			json_object_put(st.problems);
			return usage_error("status", "unexpected argument: ",
					   argv[i]);
		}
		json = true;
	}
	enabled_status(&st);
	policy_status(&st, &collector, &spool);
	collector_status(&st, collector);
	spool_status(&st, spool);
	json_object_object_add(st.j, "problems", st.problems);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(st.j,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_text(&st);
	rc = json_object_array_length(st.problems) > 0 ? 1 : 0;
	json_object_put(st.j);
	free(collector);
	free(spool);
	return rc;
}
