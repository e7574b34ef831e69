/* tlsclient: an ordinary OpenSSL 3 client that reaches the handshake through
 * every entry point a program might use, so that tests can run it with and
 * without libpinshim.so preloaded.  It knows nothing about the shim.
 *
 * tlsclient --host NAME --port N [--connect-ip IP] [--ca FILE]
 *           [--tls 1.2|1.3] --mode MODE [--threads T] [--count C]
 *           [--verify-none] [--message TEXT] [--prefork]
 *           [--sess-in FILE] [--sess-out FILE] [--resume-host NAME]
 *           [--resumes N]
 *
 * Every connection connects to IP:N (default 127.0.0.1), sends SNI NAME,
 * checks the certificate against NAME (SSL_set1_host) unless verification
 * is off, completes the handshake the way MODE says, writes "ping\n" and
 * reads the reply until the server closes.  One line per connection:
 *
 *   ok reused=0|1 version=TLSv1.3 verify_mode=N verify_result=N reply=pong
 *   fail: <stage>: <first error> (verify_result=N: <text>)
 *     err: <every line of the OpenSSL error queue, with its data>
 *
 * --sess-in offers the PEM session in FILE on the first connection (of each
 * thread); --sess-out writes the session of the last successful connection
 * to FILE (PEM), as programs that keep sessions across runs do.
 * --resume-host: in mode resume, the second connection is to NAME (SNI
 * and hostname check), offering the first connection's session.
 * --resumes N: in mode resume, N connections after the first offer its
 * session (default 1); then a "stats" line gives the context's session
 * cache statistics (SSL_CTX_sess_*).  Every "ok" line shows the session id.
 *
 * Modes (see usage()).  Exit status: 0 when every connection succeeded, 1
 * when one failed, 2 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#define IO_TIMEOUT_MS 10000

enum mode {
	M_CONNECT, M_NONBLOCK, M_DO_HANDSHAKE, M_IMPLICIT, M_IMPLICIT_EX,
	M_IMPLICIT_READ, M_IMPLICIT_READ_EX, M_IMPLICIT_PEEK,
	M_IMPLICIT_PEEK_EX, M_BIO, M_VERIFY_NONE, M_REJECT_CB, M_ACCEPT_CB,
	M_CERT_CB, M_THREADS, M_FORK, M_RESUME,
};

static const char *const mode_names[] = {
	"connect", "nonblock", "do_handshake", "implicit", "implicit_ex",
	"implicit_read", "implicit_read_ex", "implicit_peek",
	"implicit_peek_ex", "bio", "verify_none", "reject_cb", "accept_cb",
	"cert_cb", "threads", "fork", "resume",
};

struct opts {
	const char *host;
	int port;
	const char *ip;
	const char *ca;
	int tls;                /* 0: any, else TLS1_2_VERSION / TLS1_3_VERSION */
	enum mode mode;
	int threads;
	int count;
	bool verify_none;
	bool prefork;
	const char *message;
	const char *sess_in;
	const char *sess_out;
	const char *resume_host;
	int resumes;
};

static struct opts opt = {
	.ip = "127.0.0.1", .threads = 1, .count = 1, .resumes = 1,
	.message = "ping",
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int cert_cb_calls;
static SSL_SESSION *in_session;      /* --sess-in */
static pthread_mutex_t cert_cb_lock = PTHREAD_MUTEX_INITIALIZER;

/* The result of one connection, printed by report(). */
struct conn {
	const char *tag;        /* "" or "child " / "parent " */
	SSL *ssl;               /* may be NULL after a failure before SSL_new */
	bool ok;
	char stage[64];         /* where it failed */
	char reply[128];
};

static void usage(void)
{
	fprintf(stderr,
	    "usage: tlsclient --host NAME --port N [--connect-ip IP] [--ca FILE]\n"
	    "                 [--tls 1.2|1.3] --mode MODE [--threads T] [--count C]\n"
	    "                 [--verify-none] [--message TEXT] [--prefork]\n"
	    "                 [--sess-in FILE] [--sess-out FILE] [--resume-host NAME]\n"
	    "                 [--resumes N]\n"
	    "modes: connect nonblock do_handshake implicit implicit_ex\n"
	    "       implicit_read implicit_read_ex implicit_peek implicit_peek_ex\n"
	    "       bio verify_none reject_cb accept_cb cert_cb threads fork resume\n");
}

/* -- output ------------------------------------------------------------ */

/* Appends the error queue, one "  err: " line each, to buf; returns the
 * first error as text in first (empty when the queue was empty). */
static void drain_errors(char *buf, size_t len, char *first, size_t flen)
{
	const char *file, *func, *data;
	int line, flags;
	unsigned long e;
	size_t used = strlen(buf);

	first[0] = '\0';
	while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags))) {
		char text[256];

		ERR_error_string_n(e, text, sizeof(text));
		if (first[0] == '\0')
			snprintf(first, flen, "%s%s%s", text,
			    (flags & ERR_TXT_STRING) && data && *data ? ":" : "",
			    (flags & ERR_TXT_STRING) && data ? data : "");
		if (used < len)
			used += snprintf(buf + used, len - used, "  err: %s%s%s\n",
			    text, (flags & ERR_TXT_STRING) && data && *data ? ":" : "",
			    (flags & ERR_TXT_STRING) && data ? data : "");
	}
}

/* The session id as hex, what a program could log or compare. */
static void session_hex(SSL *ssl, char *out, size_t len)
{
	SSL_SESSION *sess = SSL_get_session(ssl);
	unsigned int n = 0;
	const unsigned char *id = sess ? SSL_SESSION_get_id(sess, &n) : NULL;
	size_t o = 0;

	out[0] = '\0';
	for (unsigned int i = 0; id != NULL && i < n && o + 3 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", id[i]);
}

static void report(struct conn *c)
{
	char queue[4096] = "";
	char first[512], sid[80];
	long vr = c->ssl ? SSL_get_verify_result(c->ssl) : 0;

	drain_errors(queue, sizeof(queue), first, sizeof(first));
	pthread_mutex_lock(&out_lock);
	if (c->ok) {
		session_hex(c->ssl, sid, sizeof(sid));
		printf("%sok reused=%d version=%s verify_mode=%d verify_result=%ld "
		    "session=%s reply=%s\n", c->tag, SSL_session_reused(c->ssl),
		    SSL_get_version(c->ssl), SSL_get_verify_mode(c->ssl), vr,
		    sid[0] ? sid : "-", c->reply);
	} else {
		printf("%sfail: %s: %s (verify_result=%ld: %s)\n", c->tag,
		    c->stage, first[0] ? first : "no OpenSSL error", vr,
		    X509_verify_cert_error_string(vr));
		fputs(queue, stdout);
	}
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static bool fail(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->stage, sizeof(c->stage), fmt, ap);
	va_end(ap);
	c->ok = false;
	return false;
}

/* -- sockets ------------------------------------------------------------- */

/* A connected TCP socket to opt.ip:opt.port, or -1. */
static int tcp_connect(struct conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { IO_TIMEOUT_MS / 1000, 0 };
	int one = 1;
	int fd;

	sa.sin_port = htons((unsigned short)opt.port);
	if (inet_pton(AF_INET, opt.ip, &sa.sin_addr) != 1) {
		fail(c, "connect: bad address %s", opt.ip);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(c, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fail(c, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Waits for what SSL_get_error() asked for.  1 when ready, 0 when the error
 * is not a retry, -1 on timeout. */
static int wait_io(SSL *ssl, int ret)
{
	struct pollfd p = { .fd = SSL_get_fd(ssl) };

	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		p.events = POLLIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		p.events = POLLOUT;
		break;
	default:
		return 0;
	}
	return poll(&p, 1, IO_TIMEOUT_MS) > 0 ? 1 : -1;
}

/* -- verification ---------------------------------------------------------- */

static int reject_all(int preverify_ok, X509_STORE_CTX *x)
{
	(void)preverify_ok;
	(void)x;
	return 0;
}

static int accept_all(int preverify_ok, X509_STORE_CTX *x)
{
	(void)preverify_ok;
	(void)x;
	return 1;
}

static int counting_cert_verify(X509_STORE_CTX *x, void *arg)
{
	int *calls = arg;
	int r;

	pthread_mutex_lock(&cert_cb_lock);
	(*calls)++;
	pthread_mutex_unlock(&cert_cb_lock);
	r = X509_verify_cert(x);
	return r > 0 ? 1 : 0;
}

static SSL_CTX *make_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	if (opt.tls && (!SSL_CTX_set_min_proto_version(ctx, opt.tls) ||
	    !SSL_CTX_set_max_proto_version(ctx, opt.tls)))
		goto err;
	if (opt.ca && !SSL_CTX_load_verify_locations(ctx, opt.ca, NULL))
		goto err;
	switch (opt.mode) {
	case M_VERIFY_NONE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	case M_ACCEPT_CB:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_all);
		break;
	case M_CERT_CB:
		SSL_CTX_set_cert_verify_callback(ctx, counting_cert_verify,
		    &cert_cb_calls);
		/* FALLTHROUGH */
	default:
		SSL_CTX_set_verify(ctx, opt.verify_none ? SSL_VERIFY_NONE :
		    SSL_VERIFY_PEER, NULL);
	}
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

static bool verifying(void)
{
	return !opt.verify_none && opt.mode != M_VERIFY_NONE;
}

/* SNI, hostname check and per-SSL verify setup on a fresh SSL. */
static bool setup_ssl(struct conn *c, SSL *ssl)
{
	if (!SSL_set_tlsext_host_name(ssl, opt.host))
		return fail(c, "SSL_set_tlsext_host_name");
	if (verifying() && !SSL_set1_host(ssl, opt.host))
		return fail(c, "SSL_set1_host");
	if (opt.mode == M_REJECT_CB)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, reject_all);
	return true;
}

/* -- the conversation after the handshake ---------------------------------- */

/* Writes the message unless already written, reads until the server closes.
 * Blocking or not, depending on the socket (or BIO). */
static bool converse(struct conn *c, bool written, bool nonblock)
{
	char msg[256];
	size_t len, got = 0;
	int r;

	len = (size_t)snprintf(msg, sizeof(msg), "%s\n", opt.message);
	while (!written) {
		r = SSL_write(c->ssl, msg, (int)len);
		if (r > 0)
			break;
		if (!nonblock || wait_io(c->ssl, r) <= 0)
			return fail(c, "SSL_write");
	}
	for (;;) {
		char buf[256];

		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0) {
			size_t n = (size_t)r;

			if (got + n >= sizeof(c->reply))
				n = sizeof(c->reply) - 1 - got;
			memcpy(c->reply + got, buf, n);
			got += n;
			continue;
		}
		if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
			break;
		if (nonblock && wait_io(c->ssl, r) > 0)
			continue;
		if (got > 0) {
			/* The server closed without close_notify after
			 * answering: good enough for a test. */
			ERR_clear_error();
			break;
		}
		return fail(c, "SSL_read");
	}
	c->reply[got] = '\0';
	c->reply[strcspn(c->reply, "\r\n")] = '\0';
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	return c->ok = true;
}

/* -- one connection, by mode ---------------------------------------------- */

/* Loops an SSL call on a non-blocking socket until it completes. */
#define NB_LOOP(c, ssl, call, name)                                            \
	do {                                                                   \
		int r_;                                                        \
		while ((r_ = (call)) <= 0) {                                   \
			if (wait_io(ssl, r_) <= 0)                             \
				return fail(c, name);                          \
		}                                                              \
	} while (0)

/* Drives the handshake with a reading call on a non-blocking socket: the
 * server says nothing before our request, so the read wants more input once
 * the handshake is done.  true when the handshake finished. */
static bool handshake_by_reading(struct conn *c, const char *name)
{
	SSL *ssl = c->ssl;
	char buf[16];
	size_t n;
	int r;

	for (;;) {
		switch (opt.mode) {
		case M_IMPLICIT_READ:
			r = SSL_read(ssl, buf, sizeof(buf));
			break;
		case M_IMPLICIT_READ_EX:
			r = SSL_read_ex(ssl, buf, sizeof(buf), &n);
			break;
		case M_IMPLICIT_PEEK:
			r = SSL_peek(ssl, buf, sizeof(buf));
			break;
		default:
			r = SSL_peek_ex(ssl, buf, sizeof(buf), &n);
			break;
		}
		if (r > 0)
			return fail(c, "%s: unexpected data before request",
			    name);
		if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ &&
		    SSL_is_init_finished(ssl))
			return true;
		if (wait_io(ssl, r) <= 0)
			return fail(c, "%s", name);
	}
}

/* One connection over a socket with SSL_* calls.  session: to resume, or
 * NULL; *saved receives the session after the conversation when not NULL. */
static bool run_socket(struct conn *c, SSL_CTX *ctx, SSL_SESSION *session,
    SSL_SESSION **saved)
{
	bool nonblock = false, written = false;
	char msg[256];
	size_t len, n;
	int fd;

	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL)
		return fail(c, "SSL_new");
	if (!setup_ssl(c, c->ssl))
		return false;
	if (session && !SSL_set_session(c->ssl, session))
		return fail(c, "SSL_set_session");
	fd = tcp_connect(c);
	if (fd < 0)
		return false;
	if (!SSL_set_fd(c->ssl, fd)) {
		close(fd);
		return fail(c, "SSL_set_fd");
	}
	len = (size_t)snprintf(msg, sizeof(msg), "%s\n", opt.message);

	switch (opt.mode) {
	case M_NONBLOCK:
		nonblock = true;
		set_nonblocking(fd);
		NB_LOOP(c, c->ssl, SSL_connect(c->ssl), "SSL_connect");
		break;
	case M_DO_HANDSHAKE:
		SSL_set_connect_state(c->ssl);
		if (SSL_do_handshake(c->ssl) != 1)
			return fail(c, "SSL_do_handshake");
		break;
	case M_IMPLICIT:
		SSL_set_connect_state(c->ssl);
		if (SSL_write(c->ssl, msg, (int)len) <= 0)
			return fail(c, "SSL_write (implicit handshake)");
		written = true;
		break;
	case M_IMPLICIT_EX:
		SSL_set_connect_state(c->ssl);
		if (!SSL_write_ex(c->ssl, msg, len, &n))
			return fail(c, "SSL_write_ex (implicit handshake)");
		written = true;
		break;
	case M_IMPLICIT_READ:
	case M_IMPLICIT_READ_EX:
	case M_IMPLICIT_PEEK:
	case M_IMPLICIT_PEEK_EX:
		nonblock = true;
		set_nonblocking(fd);
		SSL_set_connect_state(c->ssl);
		if (!handshake_by_reading(c, mode_names[opt.mode]))
			return false;
		break;
	default:
		if (SSL_connect(c->ssl) != 1)
			return fail(c, "SSL_connect");
		break;
	}
	if (!converse(c, written, nonblock))
		return false;
	if (saved)
		*saved = SSL_get1_session(c->ssl);
	return true;
}

/* One connection through BIO_new_ssl_connect. */
static bool run_bio(struct conn *c, SSL_CTX *ctx, BIO **biop)
{
	char target[128], msg[256], buf[256];
	size_t got = 0;
	BIO *bio;
	int r;

	bio = *biop = BIO_new_ssl_connect(ctx);
	if (bio == NULL)
		return fail(c, "BIO_new_ssl_connect");
	BIO_get_ssl(bio, &c->ssl);
	if (c->ssl == NULL)
		return fail(c, "BIO_get_ssl");
	if (!setup_ssl(c, c->ssl))
		return false;
	snprintf(target, sizeof(target), "%s:%d", opt.ip, opt.port);
	BIO_set_conn_hostname(bio, target);
	if (BIO_do_handshake(bio) <= 0)
		return fail(c, "BIO_do_handshake");
	r = snprintf(msg, sizeof(msg), "%s\n", opt.message);
	if (BIO_write(bio, msg, r) != r)
		return fail(c, "BIO_write");
	while ((r = BIO_read(bio, buf, sizeof(buf))) > 0) {
		size_t k = (size_t)r;

		if (got + k >= sizeof(c->reply))
			k = sizeof(c->reply) - 1 - got;
		memcpy(c->reply + got, buf, k);
		got += k;
	}
	if (got == 0)
		return fail(c, "BIO_read");
	ERR_clear_error();
	c->reply[got] = '\0';
	c->reply[strcspn(c->reply, "\r\n")] = '\0';
	return c->ok = true;
}

/* Runs, reports and frees one connection.  true on success. */
static bool one(SSL_CTX *ctx, const char *tag, SSL_SESSION *session,
    SSL_SESSION **saved)
{
	struct conn c = { .tag = tag };
	BIO *bio = NULL;
	bool ok;

	if (opt.mode == M_BIO)
		ok = run_bio(&c, ctx, &bio);
	else
		ok = run_socket(&c, ctx, session, saved);
	report(&c);
	if (bio) {
		BIO_free_all(bio);          /* frees c.ssl */
	} else if (c.ssl) {
		int fd = SSL_get_fd(c.ssl);

		SSL_free(c.ssl);
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

/* -- modes over several connections ---------------------------------------- */

struct worker {
	pthread_t tid;
	SSL_CTX *ctx;
	int ok, failed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < opt.count; i++) {
		if (one(w->ctx, "", i == 0 ? in_session : NULL, NULL))
			w->ok++;
		else
			w->failed++;
	}
	return NULL;
}

static int run_threads(SSL_CTX *ctx)
{
	struct worker *w = calloc((size_t)opt.threads, sizeof(*w));
	int ok = 0, failed = 0, started = 0;

	if (w == NULL)
		return 1;
	for (int i = 0; i < opt.threads; i++) {
		w[i].ctx = ctx;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "tlsclient: pthread_create failed\n");
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		ok += w[i].ok;
		failed += w[i].failed;
	}
	failed += (opt.threads - started) * opt.count;
	printf("threads ok=%d failed=%d\n", ok, failed);
	free(w);
	return failed == 0 ? 0 : 1;
}

static int run_fork(SSL_CTX *ctx)
{
	bool ok = true;
	int status;
	pid_t pid;

	if (opt.prefork)
		ok = one(ctx, "prefork ", NULL, NULL) && ok;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("tlsclient: fork");
		return 1;
	}
	if (pid == 0) {
		int r = one(ctx, "child ", NULL, NULL) ? 0 : 1;

		fflush(stdout);
		SSL_CTX_free(ctx);
		exit(r);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		if (!WIFEXITED(status))
			printf("child died: status %d\n", status);
		ok = false;
	}
	ok = one(ctx, "parent ", NULL, NULL) && ok;
	return ok ? 0 : 1;
}

static int run_resume(SSL_CTX *ctx)
{
	SSL_SESSION *s = NULL;
	bool ok;

	ok = one(ctx, "", in_session, &s);
	if (ok && s == NULL) {
		printf("fail: no session to resume\n");
		ok = false;
	}
	if (ok && opt.resume_host)
		opt.host = opt.resume_host;     /* no thread runs: safe */
	for (int i = 0; ok && i < opt.resumes; i++)
		ok = one(ctx, "", s, NULL);
	SSL_SESSION_free(s);
	/* What the program's own session cache saw, shim or not. */
	printf("stats connect=%ld connect_good=%ld hits=%ld misses=%ld "
	    "timeouts=%ld number=%ld\n", SSL_CTX_sess_connect(ctx),
	    SSL_CTX_sess_connect_good(ctx), SSL_CTX_sess_hits(ctx),
	    SSL_CTX_sess_misses(ctx), SSL_CTX_sess_timeouts(ctx),
	    SSL_CTX_sess_number(ctx));
	return ok ? 0 : 1;
}

/* -- sessions kept across runs -------------------------------------------- */

static bool read_session(void)
{
	FILE *f = fopen(opt.sess_in, "r");

	if (f != NULL) {
		in_session = PEM_read_SSL_SESSION(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (in_session == NULL)
		printf("fail: cannot read a session from %s\n", opt.sess_in);
	return in_session != NULL;
}

static bool write_session(SSL_SESSION *s)
{
	FILE *f;
	bool ok;

	if (s == NULL) {
		printf("fail: no session to write to %s\n", opt.sess_out);
		return false;
	}
	f = fopen(opt.sess_out, "w");
	ok = f != NULL && PEM_write_SSL_SESSION(f, s);
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (!ok)
		printf("fail: cannot write the session to %s\n", opt.sess_out);
	return ok;
}

/* -- main ------------------------------------------------------------------- */

static int parse_args(int argc, char **argv)
{
	bool have_mode = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--verify-none") == 0) {
			opt.verify_none = true;
			continue;
		}
		if (strcmp(a, "--prefork") == 0) {
			opt.prefork = true;
			continue;
		}
		if (v == NULL)
			return -1;
		i++;
		if (strcmp(a, "--host") == 0)
			opt.host = v;
		else if (strcmp(a, "--port") == 0)
			opt.port = atoi(v);
		else if (strcmp(a, "--connect-ip") == 0)
			opt.ip = v;
		else if (strcmp(a, "--ca") == 0)
			opt.ca = v;
		else if (strcmp(a, "--message") == 0)
			opt.message = v;
		else if (strcmp(a, "--sess-in") == 0)
			opt.sess_in = v;
		else if (strcmp(a, "--sess-out") == 0)
			opt.sess_out = v;
		else if (strcmp(a, "--resume-host") == 0)
			opt.resume_host = v;
		else if (strcmp(a, "--resumes") == 0)
			opt.resumes = atoi(v);
		else if (strcmp(a, "--threads") == 0)
			opt.threads = atoi(v);
		else if (strcmp(a, "--count") == 0)
			opt.count = atoi(v);
		else if (strcmp(a, "--tls") == 0) {
			if (strcmp(v, "1.2") == 0)
				opt.tls = TLS1_2_VERSION;
			else if (strcmp(v, "1.3") == 0)
				opt.tls = TLS1_3_VERSION;
			else
				return -1;
		} else if (strcmp(a, "--mode") == 0) {
			size_t k;

			for (k = 0; k < sizeof(mode_names) / sizeof(*mode_names); k++)
				if (strcmp(v, mode_names[k]) == 0)
					break;
			if (k == sizeof(mode_names) / sizeof(*mode_names))
				return -1;
			opt.mode = (enum mode)k;
			have_mode = true;
		} else
			return -1;
	}
	if (!have_mode || opt.host == NULL || opt.port <= 0 || opt.port > 65535 ||
	    opt.threads < 1 || opt.count < 1 || opt.resumes < 1)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	SSL_SESSION *saved = NULL;
	SSL_CTX *ctx;
	int status = 0;

	if (parse_args(argc, argv) < 0) {
		usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (opt.sess_in && !read_session())
		return 1;
	ctx = make_ctx();
	if (ctx == NULL) {
		char queue[4096] = "", first[512];

		drain_errors(queue, sizeof(queue), first, sizeof(first));
		printf("fail: context: %s\n%s", first, queue);
		return 1;
	}
	switch (opt.mode) {
	case M_THREADS:
		status = run_threads(ctx);
		break;
	case M_FORK:
		status = run_fork(ctx);
		break;
	case M_RESUME:
		status = run_resume(ctx);
		break;
	default:
		for (int i = 0; i < opt.count; i++) {
			SSL_SESSION *s = NULL;

			if (!one(ctx, "", i == 0 ? in_session : NULL,
			    opt.sess_out ? &s : NULL))
				status = 1;
			if (s != NULL) {
				SSL_SESSION_free(saved);
				saved = s;
			}
		}
		break;
	}
	if (opt.sess_out && !write_session(saved))
		status = 1;
	SSL_SESSION_free(saved);
	SSL_SESSION_free(in_session);
	if (opt.mode == M_CERT_CB)
		printf("cert_cb calls=%d\n", cert_cb_calls);
	SSL_CTX_free(ctx);
	return status;
}
